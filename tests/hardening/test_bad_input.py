"""The bad-input matrix: every console form and every signed API endpoint, fed every kind of bad input.

Generic on purpose: forms are found by walking every console URL (as in
tests/test_url_permissions.py) and parsing the page's HTML, and API endpoints by
walking /api/v1/, so views added later are covered without touching this file.

Each answer must be a page with errors, a redirect or a 4xx (never a 5xx); when the
input is refused, no row of any table changes; when it is accepted, what it saved is
shown escaped.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from campaigns.codes import ApiCode
from console.models import ROLE_PERMS, Role
from tests.apiclient import SignedClient, enable_server_api
from tests.test_url_permissions import URLS, _is_superuser_only, _perm, _url
from tests.url_kwargs import KWARG_FACTORIES

HTML_PROBE = '<script>alert("pd")</script><img src=x onerror=alert(1)>'
PAYLOADS = {
    "oversized": "A" * 100_000,
    "sql": "' OR 1=1; DROP TABLE console_app; --",
    "html": HTML_PROBE,
    "traversal": "../../../../etc/passwd",
    "nul_byte": "abc\x00def",
    "unicode": "\u202e\ufeff𝕏" * 50,
    "empty": "",
}
WRONG_TYPES = {
    "number": "not-a-number",
    "date": "2020-13-45",
    "datetime-local": "yesterday",
    "email": "not-an-email",
    "url": "javascript:alert(1)",
    "select": "not-a-choice",
    "checkbox": "maybe",
}
# Tables that change on any request (sessions, sign-in throttling bookkeeping).
VOLATILE_TABLES = {"django_session", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog"}
# API bookkeeping that a refused call may write: its nonce, rate window, the refusal audit and the
# per-minute count of refusals before authentication.
API_BOOKKEEPING = {"console_apinonce", "security_apiratewindow", "console_auditentry", "security_apirefusalwindow"}


def snapshot(exclude: set[str] = frozenset()) -> dict[str, str]:
    """A digest of every row of every table, to prove that nothing changed."""
    digests = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table in VOLATILE_TABLES or table in exclude:
                continue
            q = connection.ops.quote_name(table)
            cursor.execute(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {q} t")
            digests[table] = cursor.fetchone()[0]
    return digests


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(t for t in before if before[t] != after.get(t))


class _FormParser(HTMLParser):
    """Collects <form method=post> with their fields: (name, kind, options)."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._form = None
        self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            method = (a.get("method") or "get").lower()
            action = a.get("action") or a.get("hx-post") or ""
            self._form = {"method": method, "action": action, "fields": []} if method == "post" else None
            if self._form is not None:
                self.forms.append(self._form)
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind not in ("submit", "button", "reset", "image"):
                self._form["fields"].append({"name": a["name"], "kind": kind, "value": a.get("value", "")})
        elif tag == "textarea":
            self._form["fields"].append({"name": a["name"], "kind": "textarea", "value": ""})
        elif tag == "select":
            self._select = {"name": a["name"], "kind": "select", "options": [], "value": ""}
            self._form["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def forms_of(html: str, page_path: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        form["action"] = urlsplit(form["action"]).path or page_path
    return parser.forms


TEXT_KINDS = {"text", "textarea", "search", "password", "hidden", "tel", "email", "url", "number", "date"}


def bad_data(form: dict, payload_name: str) -> list[dict]:
    """Request bodies for one form: the payload in every text field, and wrong types everywhere."""
    fields = [f for f in form["fields"] if f["name"] != "csrfmiddlewaretoken"]
    bodies = []
    payload = PAYLOADS[payload_name]
    body = {}
    for f in fields:
        if f["kind"] == "file":
            body[f["name"]] = SimpleUploadedFile(payload_name_for_file(payload_name), b"<html>x</html>")
        elif f["kind"] in TEXT_KINDS:
            body[f["name"]] = payload
        elif f["kind"] == "select":
            body[f["name"]] = next((o for o in f["options"] if o), "")
        elif f["kind"] in ("checkbox", "radio"):
            body[f["name"]] = f["value"] or "on"
    bodies.append(body)
    if payload_name == "html":
        # Wrong types in one go: every field gets the kind of value it cannot take.
        wrong = {}
        for f in fields:
            wrong[f["name"]] = WRONG_TYPES.get(f["kind"], ["two", "values"])
        bodies.append(wrong)
    return bodies


def payload_name_for_file(payload_name: str) -> str:
    return "../../../etc/passwd.html" if payload_name == "traversal" else "upload.html"


ERROR_MARKERS = (b'class="error"', b'class="errors"', b"has-error")


def refused(response) -> bool:
    """A 4xx, or the page again with errors (a 200 without errors is an accepted action)."""
    if 400 <= response.status_code < 500:
        return True
    return response.status_code == 200 and any(m in response.content for m in ERROR_MARKERS)


def _user_for(name, everyone):
    pattern = URLS[name]
    if _is_superuser_only(pattern):
        return everyone["superuser"]
    perm = _perm(pattern)
    if perm is None or perm in ROLE_PERMS[Role.CHANNEL_ADMIN]:
        return everyone[Role.CHANNEL_ADMIN]
    return everyone["superuser"]


@pytest.fixture
def everyone(app, other_app, channel_admin, marketer, auditor, outsider, superuser):
    return {
        Role.CHANNEL_ADMIN: channel_admin,
        Role.MARKETER: marketer,
        Role.AUDITOR: auditor,
        "outsider": outsider,
        "superuser": superuser,
    }


def _forms_posting_to(client, path: str, app) -> list[dict]:
    """Forms of the page itself, or (for POST-only URLs) of any page of the console that posts here."""
    page = client.get(path)
    found = []
    if page.status_code == 200 and page["Content-Type"].startswith("text/html"):
        found = [f for f in forms_of(page.content.decode(), path) if f["action"] == path]
    if found:
        return found
    if page.status_code != 405:
        return [_JUNK_FORM | {"action": path}]
    for other_name, other_pattern in URLS.items():
        other = client.get(_url(other_name, other_pattern, app))
        if other.status_code == 200 and other["Content-Type"].startswith("text/html"):
            found += [f for f in forms_of(other.content.decode(), other.request["PATH_INFO"]) if f["action"] == path]
        if found:
            return found[:1]
    # A POST-only URL no page posts to (an htmx button without fields): still try junk.
    return [_JUNK_FORM | {"action": path}]


_JUNK_FORM = {"method": "post", "fields": [{"name": "junk", "kind": "text", "value": ""}]}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(URLS))
def test_every_form_refuses_bad_input_cleanly(name, app, everyone, client_for):
    client = client_for(_user_for(name, everyone))
    path = _url(name, URLS[name], app)
    forms = _forms_posting_to(client, path, app)
    for form in forms:
        for payload_name in PAYLOADS:
            for body in bad_data(form, payload_name):
                before = snapshot()
                response = client.post(path, body)
                where = (name, payload_name, response.status_code)
                assert response.status_code < 500, where
                assert HTML_PROBE.encode() not in response.content, where
                if refused(response):
                    assert changed(before, snapshot()) == [], where
                elif response.status_code in (301, 302, 303):
                    follow = client.get(response["Location"])
                    assert follow.status_code < 500, where
                    assert HTML_PROBE.encode() not in follow.content, where
                # An accepted change must not break the next round: the user may have lost rights.
                client = client_for(_user_for(name, everyone))


def _with_kwargs(name, app, **overrides):
    from django.urls import reverse

    kwargs = {}
    for key in URLS[name].all_keys:
        kwargs[key] = overrides.get(key) or (app.app_key if key == "app_key" else KWARG_FACTORIES[key](app))
    return reverse(name, kwargs=kwargs)


APP_SCOPED = sorted(n for n in URLS if "app_key" in URLS[n].all_keys)


@pytest.mark.parametrize("name", APP_SCOPED)
def test_unknown_app_keys_and_other_apps_ids_are_not_found(name, app, other_app, everyone, client_for):
    from console.models import Membership

    client = client_for(everyone["superuser"] if _is_superuser_only(URLS[name]) else everyone[Role.CHANNEL_ADMIN])
    Membership.objects.get_or_create(user=everyone["outsider"], app=other_app, defaults={"role": "channel_admin"})
    for bad_key in ("NoSuchAppKey000000000000", "..%2F..%2Fetc", "' OR 1=1 --", other_app.app_key):
        try:
            url = _with_kwargs(name, app, app_key=bad_key)
        except Exception:  # noqa: BLE001 - a key the URL pattern cannot even hold never reaches a view
            continue
        before = snapshot()
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 404, (name, bad_key, method, response.status_code)
        assert changed(before, snapshot()) == [], (name, bad_key)
    other_ids = {k: KWARG_FACTORIES[k](other_app) for k in URLS[name].all_keys if k != "app_key"}
    if other_ids and not _is_superuser_only(URLS[name]):
        url = _with_kwargs(name, app, **other_ids)
        before = snapshot()
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (404, 405), (name, other_ids, method, response.status_code)
        assert changed(before, snapshot()) == [], (name, other_ids)


def _api_endpoints():
    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and getattr(entry.callback, "signed_api", None):
                yield "/" + route, entry.callback.signed_api

    return dict(walk(get_resolver().url_patterns, ""))


API = _api_endpoints()
SPEC_FIELDS = [
    "taskName", "appId", "deliveryType", "targetMsgkey", "expiredSeconds", "templateName", "templateKeyValue",
    "extendedParams", "pushAction", "uri", "silent", "pushStatus", "unBindPeriod", "msgkey", "targetId",
    "deviceId", "userId", "token", "alias", "tag", "account", "messageId",
]  # fmt: skip
API_BODIES = {
    "not_json": b"{this is not json",
    "not_utf8": b'{"taskName": "\xff\xfe"}',
    "json_array": b"[1, 2, 3]",
    "json_scalar": b"42",
    "nested_deep": b'{"a":' * 500 + b"1" + b"}" * 500,
    **{
        f"fields_{kind}": json.dumps({f: value for f in SPEC_FIELDS}).encode()
        for kind, value in {
            "sql": PAYLOADS["sql"],
            "html": PAYLOADS["html"],
            "traversal": PAYLOADS["traversal"],
            "numbers_as_strings": "12e999",
            "wrong_types": [{"x": None}],
            "nulls": None,
            "huge_ints": 10**40,
            "negative": -1,
        }.items()
    },
}


def test_the_api_walk_finds_the_endpoints():
    assert "/api/v1/ping" in API


@pytest.mark.parametrize("path", sorted(API))
@pytest.mark.parametrize("body_name", sorted(API_BODIES))
def test_every_api_endpoint_answers_bad_bodies_with_a_clear_code(path, body_name, app, client, settings):
    resolve(path)
    kind = API[path]
    signer = SignedClient(client, app, kind=kind, private_pem=enable_server_api(app) if kind == "server" else None)
    before = snapshot(exclude=API_BOOKKEEPING)
    response = signer.post(path, raw=API_BODIES[body_name])
    assert response.status_code < 500, (path, body_name, response.content[:300])
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["resultCode"] in {c.value for c in ApiCode}, body
    if response.status_code >= 400:
        assert body["resultMsg"] == ApiCode(body["resultCode"]).name and body.get("detail"), body
        assert changed(before, snapshot(exclude=API_BOOKKEEPING)) == [], (path, body_name)


@pytest.mark.parametrize("path", sorted(API))
def test_every_api_endpoint_refuses_an_oversized_body(path, app, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    kind = API[path]
    signer = SignedClient(client, app, kind=kind, private_pem=enable_server_api(app) if kind == "server" else None)
    before = snapshot(exclude=API_BOOKKEEPING)
    response = signer.post(path, raw=json.dumps({"taskName": "x" * 20_000}).encode())
    assert response.status_code == 413 and response.json()["resultCode"] == ApiCode.INVALID_PARAM
    assert changed(before, snapshot(exclude=API_BOOKKEEPING)) == []


def test_unknown_paths_under_the_api_are_not_found(client, db):
    # Anything under /api/v1/ that names no endpoint is a JSON 404, never another view or a page.
    for path in ("/api/v1/../../etc/passwd", "/api/v1/no-such-call"):
        response = client.post(path, b"{}", content_type="application/json")
        assert response.status_code == 404 and response["Content-Type"] == "application/json", path
