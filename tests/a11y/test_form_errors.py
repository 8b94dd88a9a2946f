"""Every form ties its errors and help texts to their fields (aria-describedby, aria-invalid)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

FIELD_TAGS = ("input", "select", "textarea")


class _Form(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: dict[str, str] = {}  # element id -> class
        self.fields: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids[a["id"]] = a.get("class") or ""
        if tag in FIELD_TAGS and a.get("type") not in ("hidden", "submit"):
            self.fields.append(a)


def problems_in(html: str) -> tuple[int, list[str]]:
    """(number of error messages, problems) of one page."""
    parsed = _Form()
    parsed.feed(html)
    described = {}
    for f in parsed.fields:
        for ref in (f.get("aria-describedby") or "").split():
            described[ref] = f
    found = []
    errors = [i for i, cls in parsed.ids.items() if "error" in cls.split() and i.endswith("_error")]
    for error_id in errors:
        field = described.get(error_id)
        if field is None:
            found.append(f"{error_id} is tied to no field")
        elif field.get("aria-invalid") != "true":
            found.append(f"{field.get('id')} has an error but no aria-invalid")
    for help_id in (i for i, cls in parsed.ids.items() if "help" in cls.split() and i.endswith("_helptext")):
        if help_id not in described:
            found.append(f"{help_id} is tied to no field")
    for f in parsed.fields:
        for ref in (f.get("aria-describedby") or "").split():
            if ref not in parsed.ids:
                found.append(f"{f.get('id')} points at missing #{ref}")
    return len(errors), found


def test_every_form_ties_errors_and_help_to_its_fields(app, channel_admin, superuser, client_for):
    from tests.test_url_permissions import URLS, _url

    c = client_for(superuser)
    error_pages = 0
    problems = {}
    for name, pattern in URLS.items():
        url = _url(name, pattern, app)
        page = c.get(url)
        if page.status_code != 200 or "text/html" not in page.get("Content-Type", ""):
            continue  # only pages: a POST to an action URL would act, not show a form
        for response in (page, c.post(url, {"name": "bad name!", "title": "", "body": "", "send_at": "x"})):
            if response.status_code not in (200, 400) or "text/html" not in response.get("Content-Type", ""):
                continue
            count, found = problems_in(response.content.decode())
            error_pages += bool(count)
            if found:
                problems[f"{name} {response.request['REQUEST_METHOD']}"] = found
    assert error_pages >= 10, "the walk should meet forms with errors"
    assert not problems, problems


def test_send_form_error_is_announced_on_its_field(app, marketer, client_for):
    url = reverse("campaigns:send-simple", kwargs={"app_key": app.app_key})
    response = client_for(marketer).post(url, {"title": "", "body": "b", "send_at": "not a time"})
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert 'id="id_title_error"' in html and 'aria-describedby="id_title_error"' in html
    count, found = problems_in(html)
    assert count >= 2 and not found
