"""Every URL of the console, walked as anonymous, outsider, wrong role and right role."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from console.models import ROLE_PERMS, AuditEntry, Role
from tests.url_kwargs import KWARG_FACTORIES, LOGIN_ONLY

WALKED_NAMESPACES = {"console", "templates_app", "campaigns"}


def _walk(patterns, namespace=None, keys=()):
    for entry in patterns:
        own = tuple(getattr(entry.pattern, "converters", {}))
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, entry.namespace or namespace, keys + own)
        elif isinstance(entry, URLPattern) and entry.name and namespace in WALKED_NAMESPACES:
            entry.all_keys = keys + own
            yield f"{namespace}:{entry.name}", entry


URLS = dict(_walk(get_resolver().url_patterns))


def _url(name, pattern, app):
    kwargs = {}
    for key in pattern.all_keys:
        if key == "app_key":
            kwargs[key] = app.app_key
        else:
            assert key in KWARG_FACTORIES, f"add a factory for <{key}> of {name} to tests/url_kwargs.py"
            kwargs[key] = KWARG_FACTORIES[key](app)
    return reverse(name, kwargs=kwargs)


def _perm(pattern):
    return getattr(pattern.callback, "required_perm", None)


def _is_superuser_only(pattern):
    return getattr(pattern.callback, "superuser_only", False)


def test_every_view_declares_who_may_use_it():
    for name, pattern in URLS.items():
        assert _perm(pattern) or _is_superuser_only(pattern) or name in LOGIN_ONLY, (
            f"{name} has no permission check: decorate it with app_permission or superuser_required"
        )


@pytest.fixture
def everyone(app, channel_admin, marketer, auditor, outsider, superuser):
    return {
        Role.CHANNEL_ADMIN: channel_admin,
        Role.MARKETER: marketer,
        Role.AUDITOR: auditor,
        "outsider": outsider,
        "superuser": superuser,
    }


@pytest.mark.parametrize("name", sorted(URLS))
def test_anonymous_is_sent_to_login(name, app, channel_admin, client):
    url = _url(name, URLS[name], app)
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code in (302, 401, 405), (name, method, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/"), (name, response["Location"])


@pytest.mark.parametrize("name", sorted(n for n in URLS if _perm(URLS[n])))
def test_outsider_learns_nothing(name, app, everyone, client_for):
    url = _url(name, URLS[name], app)
    c = client_for(everyone["outsider"])
    for method in ("get", "post"):
        assert getattr(c, method)(url).status_code == 404, (name, method)


@pytest.mark.parametrize("name", sorted(n for n in URLS if _perm(URLS[n])))
def test_roles_get_exactly_their_permissions(name, app, everyone, client_for):
    pattern = URLS[name]
    perm = _perm(pattern)
    url = _url(name, pattern, app)
    for role in (Role.CHANNEL_ADMIN, Role.MARKETER, Role.AUDITOR):
        c = client_for(everyone[role])
        allowed = perm in ROLE_PERMS[role]
        before = AuditEntry.objects.count()
        get = c.get(url)
        post = c.post(url, {})
        if allowed:
            assert get.status_code in (200, 405), (name, role, get.status_code)
            assert post.status_code not in (403, 404, 500), (name, role, post.status_code)
        else:
            assert get.status_code == 403, (name, role, "GET", get.status_code)
            assert post.status_code == 403, (name, role, "POST", post.status_code)
            assert AuditEntry.objects.count() == before, (name, role, "a refused request changed something")


@pytest.mark.parametrize("name", sorted(n for n in URLS if _is_superuser_only(URLS[n])))
def test_superuser_only_views(name, app, everyone, client_for):
    url = _url(name, URLS[name], app)
    for who in (Role.CHANNEL_ADMIN, Role.MARKETER, Role.AUDITOR, "outsider"):
        c = client_for(everyone[who])
        assert c.get(url).status_code in (403, 405), (name, who)
        assert c.post(url, {}).status_code == 403, (name, who)
    response = client_for(everyone["superuser"]).get(url)
    assert response.status_code in (200, 405)


def test_auditor_cannot_change_anything(app, everyone, client_for):
    """Every POST an auditor can reach is refused, except personal preferences."""
    c = client_for(everyone[Role.AUDITOR])
    for name, pattern in URLS.items():
        if name in LOGIN_ONLY:
            continue
        perm = _perm(pattern)
        if perm in ROLE_PERMS[Role.AUDITOR]:
            # Auditor-readable views must not accept writes.
            response = c.post(_url(name, pattern, app), {})
            assert response.status_code in (403, 405), (name, response.status_code)
