"""The editor's live preview endpoint: placeholders, mocks, exact payloads, sample values and CSV rows."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.payloads import apns_payload
from console.models import AuditEntry
from templates_app.models import Template
from templates_app.preview import _push as preview_push
from tests.templates_app.helpers import image_bytes, upload

pytestmark = pytest.mark.django_db


def _preview(client, app, **data):
    base = {"display_type": "notification", "display_style": "default", "click_action": "open_app"}
    base.update(data)
    return client.post(reverse("templates_app:template-preview", args=[app.app_key]), base, HTTP_HX_REQUEST="true")


def _json_blocks(html, testid):
    import html as html_lib
    import re

    return [
        json.loads(html_lib.unescape(m))
        for m in re.findall(rf'<pre data-testid="{testid}"[^>]*>(.*?)</pre>', html, re.S)
    ]


def test_preview_lists_placeholders_and_renders_typed_sample_values(app, marketer, client_for):
    response = _preview(
        client_for(marketer), app, title="Hi #name#", body="#gift# inside", sample_values="name=Zoë\ngift=🎁"
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "#name#" in html and "#gift#" in html
    assert "Hi Zoë" in html and "🎁 inside" in html
    apns = _json_blocks(html, "apns-json")[0]
    assert apns["aps"]["alert"] == {"title": "Hi Zoë", "body": "🎁 inside"}
    fcm = _json_blocks(html, "fcm-json")[0]
    assert fcm["notification"] == {"title": "Hi Zoë", "body": "🎁 inside"}
    assert fcm["android"]["ttl"] in ("179s", "180s")  # the default valid period
    assert not Template.objects.exists()  # a preview saves nothing
    assert not AuditEntry.objects.filter(action__startswith="template").exists()


def test_preview_payload_is_what_the_builders_make(app, marketer, client_for):
    html = _preview(
        client_for(marketer),
        app,
        title="T",
        body="B",
        click_action="open_url",
        url="https://shop.test/p/#id#",
        image_url="https://cdn.test/big.png",
        sample_values="id=42",
    ).content.decode()
    apns = _json_blocks(html, "apns-json")[0]
    assert apns["url"] == "https://shop.test/p/42"
    assert apns["aps"]["category"] == "OPEN_URL" and apns["aps"]["mutable-content"] == 1
    assert apns["image"] == "https://cdn.test/big.png"
    assert set(apns) == set(
        apns_payload(
            preview_push(
                app=app,
                platform="ios",
                data={"click_action": "open_url", "image_url": "https://cdn.test/big.png"},
                title="T",
                body="B",
                url="https://shop.test/p/42",
            )
        )
    )


def test_missing_sample_values_are_all_named(app, marketer, client_for):
    html = _preview(client_for(marketer), app, title="#a# #b#", body="#c#", sample_values="b=1").content.decode()
    assert "No sample value for: a, c" in html
    assert "#a# 1" in html


def test_overflow_after_substitution_is_named_by_field_and_limit(app, marketer, client_for):
    html = _preview(
        client_for(marketer), app, title="#t#", body="Dear #n#", sample_values=f"n={'x' * 200}\nt={'y' * 60}"
    ).content.decode()
    assert "body is 205 characters after substitution; the limit is 200 characters." in html
    assert "Android title is 60 characters after substitution; the limit is 50 characters." in html


def test_payload_overflow_is_named_in_the_preview(app, marketer, client_for):
    # Each field is within its character limit; four-byte emoji push the payloads past their byte limits.
    values = "t=" + "😀" * 150 + "\nu=" + "😀" * 900
    html = _preview(
        client_for(marketer), app, title="#t#", body="b", url="https://x.test/#u#", sample_values=values
    ).content.decode()
    assert "iOS title is 600 bytes after substitution; the limit is 200 bytes." in html
    assert "APNs payload is" in html and "the limit is 4096 bytes." in html
    assert "FCM/vendor payload is" in html and "the limit is 4000 bytes." in html


def test_bad_sample_line_gets_a_message(app, marketer, client_for):
    html = _preview(client_for(marketer), app, title="#a#", body="b", sample_values="a=1\nnonsense").content.decode()
    assert "Line 2: write each sample value as key=value." in html


def test_csv_rows_are_previewed(app, marketer, client_for):
    csv_data = "user1,msg-1,name=Ann,code=11\nuser2,msg-2,name=Bo,code=22\n" + "".join(
        f"user{i},msg-{i},name=N{i},code={i}\n" for i in range(3, 10)
    )
    html = _preview(
        client_for(marketer),
        app,
        title="Hi #name#",
        body="Code #code#",
        sample_values="name=typed",
        sample_csv=SimpleUploadedFile("rows.csv", csv_data.encode()),
    ).content.decode()
    assert "Row 1: user1 · msg-1" in html and "Hi Ann" in html and "Code 22" in html
    assert "Row 5:" in html and "Row 6:" not in html
    assert "Hi typed" not in html  # the file wins over typed values


def test_bad_csv_lines_are_reported_with_line_numbers(app, marketer, client_for):
    csv_data = "user1,msg-1,name=Ann\nuser2\nuser3,msg-3,oops\n" + "u," + "x" * 260 + "\n"
    html = _preview(
        client_for(marketer),
        app,
        title="#name#",
        body="b",
        sample_csv=SimpleUploadedFile("rows.csv", csv_data.encode()),
    ).content.decode()
    assert "Line 2 needs targetId,customerMsgId first." in html
    assert "Line 3: “oops” is not key=value." in html
    assert "Line 4 is longer than 250 characters." in html
    latin = _preview(
        client_for(marketer), app, title="x", body="b", sample_csv=SimpleUploadedFile("r.csv", "é,1".encode("latin-1"))
    ).content.decode()
    assert "The file is not UTF-8 text." in latin


def test_image_rules_show_in_the_preview(app, marketer, client_for):
    html = _preview(
        client_for(marketer),
        app,
        title="t",
        body="b",
        icon=upload("i.png", image_bytes(64, 64)),
        image=upload("l.png", b"plain text"),
    ).content.decode()
    assert "it must be exactly 140x140 px" in html
    assert "not a JPG or PNG image" in html


def test_a_chosen_image_is_previewed_from_the_request_only_when_it_passes_the_rules(app, marketer, client_for):
    import base64

    good = image_bytes(140, 140)
    html = _preview(
        client_for(marketer),
        app,
        title="t",
        body="b",
        icon=upload("i.png", good),
        image=upload("l.png", image_bytes(64, 64)),
    ).content.decode()
    assert f'class="mock-icon" src="data:image/png;base64,{base64.b64encode(good).decode()}"' in html
    assert "mock-image" not in html  # the wrong-sized image is named, not shown
    assert "it must be exactly 876x324 px" in html


def test_preview_requires_the_edit_permission(app, auditor, client_for):
    assert _preview(client_for(auditor), app, title="t", body="b").status_code == 403


def test_editing_previews_kept_images_by_their_console_url(app, marketer, client_for):
    from tests.templates_app.helpers import make_template

    template = make_template(app, name="with_images", with_images=True)
    version = template.current_version
    url = reverse("templates_app:template-preview", args=[app.app_key]) + f"?template={template.pk}"
    html = client_for(marketer).post(url, {"title": "t", "body": "b"}).content.decode()
    apns = _json_blocks(html, "apns-json")[0]
    expected = f"http://testserver/apps/{app.app_key}/templates/{template.pk}/versions/{version.pk}/image"
    assert apns["image"] == expected
    fcm = _json_blocks(html, "fcm-json")[0]
    assert fcm["android"]["notification"]["icon"].endswith(f"/versions/{version.pk}/icon")
    # Another app's template id is not found.
    other = client_for(marketer).post(
        reverse("templates_app:template-preview", args=[app.app_key]) + "?template=999999", {"title": "t"}
    )
    assert other.status_code == 404


def test_silent_preview_says_it_is_not_shown(app, marketer, client_for):
    html = _preview(client_for(marketer), app, title="t", body="b", display_type="silent").content.decode()
    assert "not shown in the notification bar" in html
    fcm = _json_blocks(html, "fcm-json")[0]
    assert "notification" not in fcm and fcm["data"]["title"] == "t"


def test_default_style_warns_when_the_body_will_be_cut(app, marketer, client_for):
    c = client_for(marketer)
    html = _preview(c, app, title="t", body="#b#", sample_values="b=" + "x" * 150).content.decode()
    assert "This display style shows about 100 characters; the body has 150" in html
    big = _preview(c, app, title="t", body="#b#", display_style="big_text", sample_values="b=" + "x" * 150)
    assert "This display style shows about" not in big.content.decode()


@pytest.mark.parametrize("field", ["url", "icon_url", "image_url"])
def test_the_preview_refuses_a_link_that_is_not_http(app, marketer, client_for, field):
    html = _preview(
        client_for(marketer), app, title="t", body="b", **{field: "javascript:alert(document.cookie)"}
    ).content.decode()
    assert "Enter an http:// or https:// URL" in html
    assert "javascript:" not in html
    fine = _preview(client_for(marketer), app, title="t", body="b", **{field: "https://example.com/#id#.png"})
    assert "Enter an http:// or https:// URL" not in fine.content.decode()
