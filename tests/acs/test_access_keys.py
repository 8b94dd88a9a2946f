"""AccessKeys on the profile: created with the secret shown once, encrypted at rest, disabled,
deleted, last use shown, every change audited; nobody touches another person's keys."""

from __future__ import annotations

import pytest
from django.db import connection

from console.acs.models import AccessKey
from console.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_create_shows_the_secret_once_and_stores_it_encrypted(client_for, marketer):
    c = client_for(marketer)
    created = c.post("/profile/access-keys/")
    assert created.status_code == 201
    key = AccessKey.objects.get(user=marketer)
    page = created.content.decode()
    assert key.access_key_id in page and key.secret in page
    assert created["Cache-Control"].startswith("max-age=0") or "no-store" in created["Cache-Control"]
    later = c.get("/profile/access-keys/").content.decode()
    assert key.access_key_id in later and key.secret not in later
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM acs_accesskey WHERE id = %s", [key.pk])
        stored = cursor.fetchone()[0]
    assert key.secret not in stored and len(stored) > 60
    entry = AuditEntry.objects.get(action="accesskey.create")
    assert (entry.actor, entry.target) == (marketer, key.access_key_id)
    assert key.secret not in str(entry.summary)


def test_disable_enable_delete_are_audited_and_last_use_is_shown(client_for, marketer):
    from django.utils import timezone

    key = AccessKey.objects.create(user=marketer)
    c = client_for(marketer)
    assert "Never" in c.get("/profile/access-keys/").content.decode()
    used = timezone.now()
    AccessKey.objects.filter(pk=key.pk).update(last_used_at=used)
    assert f"{timezone.localtime(used):%Y-%m-%d %H:%M:%S}" in c.get("/profile/access-keys/").content.decode()
    c.post(f"/profile/access-keys/{key.pk}/disable/")
    key.refresh_from_db()
    assert not key.enabled
    c.post(f"/profile/access-keys/{key.pk}/enable/")
    key.refresh_from_db()
    assert key.enabled
    c.post(f"/profile/access-keys/{key.pk}/delete/")
    assert not AccessKey.objects.filter(pk=key.pk).exists()
    actions = list(
        AuditEntry.objects.filter(target=key.access_key_id).order_by("at", "id").values_list("action", flat=True)
    )
    assert actions == ["accesskey.disable", "accesskey.enable", "accesskey.delete"]


def test_another_persons_key_is_not_found_and_unchanged(client_for, marketer, auditor):
    key = AccessKey.objects.create(user=marketer)
    c = client_for(auditor)
    for verb in ("disable", "delete"):
        assert c.post(f"/profile/access-keys/{key.pk}/{verb}/").status_code == 404
    key.refresh_from_db()
    assert key.enabled
    assert key.access_key_id not in c.get("/profile/access-keys/").content.decode()
    assert not AuditEntry.objects.filter(action__startswith="accesskey.").exists()


def test_at_most_five_keys(client_for, marketer):
    c = client_for(marketer)
    for _ in range(5):
        assert c.post("/profile/access-keys/").status_code == 201
    refused = c.post("/profile/access-keys/", follow=True)
    assert AccessKey.objects.filter(user=marketer).count() == 5
    assert "delete one first" in refused.content.decode()
