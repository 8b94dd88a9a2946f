"""AccessKey writes: create (secret shown once), enable / disable, delete. All audited."""

from __future__ import annotations

from django.db import transaction

from console.audit import audit_record

from .models import AccessKey

MAX_KEYS_PER_USER = 5


class TooManyKeys(Exception):
    pass


@transaction.atomic
def access_key_create(*, user, request=None) -> AccessKey:
    # Lock the user's keys so two concurrent creates cannot both pass the limit.
    existing = list(AccessKey.objects.select_for_update().filter(user=user).values_list("pk", flat=True))
    if len(existing) >= MAX_KEYS_PER_USER:
        raise TooManyKeys
    key = AccessKey.objects.create(user=user)
    audit_record(action="accesskey.create", actor=user, target=key.access_key_id, request=request)
    return key


@transaction.atomic
def access_key_set_enabled(*, key: AccessKey, enabled: bool, actor, request=None) -> AccessKey:
    AccessKey.objects.filter(pk=key.pk).update(enabled=enabled)
    key.enabled = enabled
    audit_record(
        action="accesskey.enable" if enabled else "accesskey.disable",
        actor=actor,
        target=key.access_key_id,
        request=request,
    )
    return key


@transaction.atomic
def access_key_delete(*, key: AccessKey, actor, request=None) -> None:
    key_id = key.access_key_id
    key.delete()
    audit_record(action="accesskey.delete", actor=actor, target=key_id, request=request)
