"""The EMAS (2016-08-01) actions on the Alibaba Cloud door (console.acs): registered when campaigns is ready."""

from __future__ import annotations

from console.acs import door

from .actions import ACTIONS, VERSION, Call, run
from .params import EmasError


def _handler(name: str):
    def handle(call: door.Call) -> dict:
        try:
            return run(
                name,
                Call(
                    user=call.user,
                    access_key_id=call.access_key.access_key_id,
                    params=call.params,
                    request=call.request,
                ),
            )
        except EmasError as error:
            raise door.DoorError(error.status, error.code, error.message) from None

    handle.__name__ = f"emas_{name}"
    return handle


for _name in ACTIONS:
    door.register(VERSION, _name, _handler(_name))
