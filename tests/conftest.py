"""Shared fixtures: personas for every role, a second app for outsiders, a browser."""

from __future__ import annotations

import os
import shutil

import pytest

from campaigns.delivery import ready
from console import appcache
from console.acs.models import AccessKey
from console.models import Role
from tests.factories import DEFAULT_PASSWORD, AppFactory, MembershipFactory, UserFactory

# Playwright's sync API runs an event loop in the test thread; the ORM calls the
# tests make between browser steps are still synchronous and safe there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session", autouse=True)
def _fresh_broker():
    """A run starts on an empty broker database, as it starts on a test database made anew.

    A run that was stopped halfway leaves queued tasks, slots and nonces in the test broker's
    Redis database; the next run's workers would take them up.
    """
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("redis"):
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def app(db):
    app = AppFactory(name="Main App")
    # A test database made anew restarts its ids: nonces a former run kept in Redis for the same
    # id would count as this app's.
    from console.security.counters import redis_client

    client = redis_client()
    if client is not None:
        for key in client.scan_iter(f"pushdeck:once:nonce:{app.pk}:*"):
            client.delete(key)
        # Nor may task ids a former run left in the ready list, or its drain marker (delivery.ready).
        client.delete(ready.READY_KEY, ready.MARK_KEY)
    appcache.forget()
    return app


@pytest.fixture
def other_app(db):
    return AppFactory(name="Other App")


def _member(app, role, username):
    return MembershipFactory(app=app, role=role, user=UserFactory(username=username)).user


@pytest.fixture
def channel_admin(app):
    return _member(app, Role.CHANNEL_ADMIN, "ada_admin")


@pytest.fixture
def marketer(app):
    return _member(app, Role.MARKETER, "mark_marketer")


@pytest.fixture
def auditor(app):
    return _member(app, Role.AUDITOR, "audrey_auditor")


@pytest.fixture
def outsider(other_app):
    """A channel admin of another app: must learn nothing about `app`."""
    return _member(other_app, Role.CHANNEL_ADMIN, "otto_outsider")


# AccessKeys of the Alibaba Cloud doors, one per role.
@pytest.fixture
def marketer_key(marketer):
    return AccessKey.objects.create(user=marketer)


@pytest.fixture
def auditor_key(auditor):
    return AccessKey.objects.create(user=auditor)


@pytest.fixture
def outsider_key(outsider):
    return AccessKey.objects.create(user=outsider)


@pytest.fixture
def superuser(db):
    return UserFactory(username="root_admin", is_superuser=True, is_staff=True)


@pytest.fixture
def password():
    return DEFAULT_PASSWORD


@pytest.fixture
def client_for(client):
    """client_for(user) -> a test client signed in as that user."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def login(page, password):
    def do_login(user):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        return page

    return do_login
