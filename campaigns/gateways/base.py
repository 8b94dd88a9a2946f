"""The one interface every delivery channel implements (like healthchecks transports)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True)
class OutgoingPush:
    """Everything a gateway needs to send one message to one device. No ORM objects."""

    delivery_id: int
    push_id: str  # lowercase UUID: apns-id and collapse id, stable across re-sends
    token: str  # the device's token on this channel
    platform: str  # "android" | "ios"
    title: str
    body: str
    expires_at: datetime
    silent: bool = False
    display_style: str = "default"  # default | big_text | rich
    click_action: str = "open_app"  # open_app | open_url
    url: str = ""
    activity: str = ""
    icon_url: str = ""
    image_url: str = ""
    package_name: str = ""
    topic: str = ""  # iOS topic; empty: the APNs credential's own topic
    apns_environment: str = ""  # the device's APNs environment, when its build reported one
    extras: dict[str, str] = field(default_factory=dict)  # extension parameters


@dataclass(frozen=True)
class GatewayResult:
    """The gateway's answer for one push, kept exactly as the gateway reported it."""

    accepted: bool
    code: int | None = None  # the SPEC's number for the gateway's code (e.g. 2011 Unregistered)
    reason: str = ""  # the gateway's own reason / code text
    http_status: int | None = None
    gateway_message_id: str = ""
    token_dead: bool = False  # invalid token: deactivate the device token
    permanent: bool = True  # False: transient, retry with backoff
    retry_after: float | None = None
    config_error: bool = False  # the credential is wrong: alert ops

    def __post_init__(self) -> None:
        # PostgreSQL text cannot hold NUL: a gateway text carrying one keeps U+FFFD in its place,
        # or recording the chunk's results would fail on every retry.
        for name in ("reason", "gateway_message_id"):
            value = getattr(self, name)
            if "\x00" in value:
                object.__setattr__(self, name, value.replace("\x00", "\ufffd"))

    @classmethod
    def from_error(cls, error: GatewayError) -> GatewayResult:
        """The result for a push whose whole call failed with `error`."""
        return cls(
            accepted=False,
            code=error.code,
            reason=error.reason or str(error),
            http_status=error.status,
            permanent=error.permanent,
            retry_after=error.retry_after,
            config_error=error.config_error,
        )


class GatewayError(Exception):
    """A failure of the whole call (auth, connection, 5xx). `permanent` says whether to retry."""

    def __init__(
        self,
        status: int | None,
        permanent: bool,
        reason: str = "",
        *,
        code: int | None = None,
        retry_after: float | None = None,
        config_error: bool = False,
    ):
        self.status = status
        self.permanent = permanent
        self.reason = reason
        self.code = code
        self.retry_after = retry_after
        self.config_error = config_error
        super().__init__(f"{status} {reason}".strip())


class Gateway(ABC):
    """Base class. Subclasses set `code` and implement `send_batch`."""

    code: ClassVar[str]

    def __init__(self, credential: Any, *, environment: str = ""):
        self.credential = credential
        self.environment = environment

    def send(self, push: OutgoingPush) -> GatewayResult:
        return self.send_batch([push])[0]

    @abstractmethod
    def send_batch(self, pushes: Sequence[OutgoingPush]) -> list[GatewayResult]:
        """One result per push, in order. Raise GatewayError when the whole call failed."""

    def close(self) -> None:  # noqa: B027 - optional hook: most gateways keep no connection
        """Release connections kept between batches."""
