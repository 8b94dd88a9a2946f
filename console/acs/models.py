"""AccessKeys (a console user's credentials for the Alibaba Cloud compatible door) and door nonces."""

from __future__ import annotations

import secrets
import string

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.fields import EncryptedTextField

_ALNUM = string.ascii_letters + string.digits


def new_access_key_id() -> str:
    # Alibaba Cloud ids start with LTAI; ours say where they come from.
    return "PDAK" + "".join(secrets.choice(_ALNUM) for _ in range(20))


def new_access_key_secret() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(30))


class AccessKey(models.Model):
    """An AccessKey pair. It acts as its user, with that user's role in each app."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys")
    access_key_id = models.CharField(_("AccessKey ID"), max_length=64, unique=True, default=new_access_key_id)
    secret = EncryptedTextField(_("AccessKey secret"), default=new_access_key_secret)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.access_key_id


class DoorNonce(models.Model):
    """Signature nonces seen by the door, kept past the date window to refuse replays."""

    access_key_id = models.CharField(max_length=64)
    nonce = models.CharField(max_length=128)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["access_key_id", "nonce"], name="door_nonce_unique")]
