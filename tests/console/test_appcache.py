"""What a web process keeps of the apps signed calls name (console.appcache): no table read
while the configuration generation is unchanged, a copy of its own for each call, read again
after any change however it is made (a save, a queryset update, SQL)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from console import appcache
from console.models import VendorChannel
from console.security.models import ApiRateLimit
from tests.apiclient import enable_server_api
from tests.delivery.conftest import huawei_channel


@pytest.fixture
def kept(app):
    enable_server_api(app)
    appcache.forget()
    yield app
    appcache.forget()


def test_a_kept_app_costs_no_query_and_each_call_gets_its_own_copy(kept, django_assert_num_queries):
    first = appcache.signed_app(kept.app_key)
    with django_assert_num_queries(1):  # the generation row, no table of the app
        second = appcache.signed_app(kept.app_key)
    assert second is not first and second.keys is not first.keys
    assert second.keys.api_enabled and second.keys.customer_public_key == first.keys.customer_public_key
    assert second.app_secret == kept.app_secret and second.enabled_vendors == frozenset()
    second.name = "changed in one call"
    assert appcache.signed_app(kept.app_key).name == kept.name


@pytest.mark.parametrize("change", ["keys", "limit", "vendor", "secret"])
def test_any_save_of_the_configuration_is_read_at_the_next_call(kept, change, django_assert_num_queries):
    appcache.signed_app(kept.app_key)
    if change == "keys":
        kept.keys.api_enabled = False
        kept.keys.save()
    elif change == "limit":
        ApiRateLimit.objects.create(app=kept, per_minute=7)
    elif change == "vendor":
        huawei_channel(kept)
    else:
        kept.app_secret = "rotated-secret"
        kept.save()
    with django_assert_num_queries(3):  # the generation, the app with its keys and limit, its vendor channels
        app = appcache.signed_app(kept.app_key)
    assert {
        "keys": lambda: app.keys.api_enabled is False,
        "limit": lambda: app.api_rate_limit.per_minute == 7,
        "vendor": lambda: app.enabled_vendors == frozenset({"huawei"}),
        "secret": lambda: app.app_secret == "rotated-secret",
    }[change]()
    VendorChannel.objects.filter(app=kept).delete()
    assert appcache.signed_app(kept.app_key).enabled_vendors == frozenset()


def test_an_unknown_or_deleted_app_is_none(kept):
    assert appcache.signed_app("no-such-key") is None
    key = kept.app_key
    appcache.signed_app(key)
    kept.delete()
    assert appcache.signed_app(key) is None


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE console_keyconfig SET api_enabled = false",
        "UPDATE security_apiratelimit SET per_minute = 3",
        "UPDATE console_vendorchannel SET enabled = false",
    ],
)
def test_a_change_made_in_sql_is_read_at_the_next_call(kept, change):
    ApiRateLimit.objects.create(app=kept, per_minute=7)
    huawei_channel(kept)
    before = appcache.signed_app(kept.app_key)
    assert before.keys.api_enabled and before.api_rate_limit.per_minute == 7 and before.enabled_vendors
    with connection.cursor() as cursor:
        cursor.execute(change)
    after = appcache.signed_app(kept.app_key)
    assert (after.keys.api_enabled, after.api_rate_limit.per_minute, bool(after.enabled_vendors)) != (True, 7, True)


def test_a_credential_health_note_does_not_make_every_process_read_again(kept, django_assert_num_queries):
    channel = huawei_channel(kept)
    appcache.signed_app(kept.app_key)
    VendorChannel.objects.filter(pk=channel.pk).update(last_error="quota", last_error_at=timezone.now())
    with django_assert_num_queries(1):
        assert appcache.signed_app(kept.app_key).enabled_vendors == frozenset({"huawei"})


def test_on_another_database_nothing_is_kept(kept, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(appcache.connection, "vendor", "sqlite")
    for _ in range(2):
        with django_assert_num_queries(2):
            assert appcache.signed_app(kept.app_key).keys.api_enabled
