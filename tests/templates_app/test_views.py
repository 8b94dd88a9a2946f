"""Template pages: list, create, edit (versions), delete rules, images, roles and audit."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from campaigns.models import PushTask, TaskStatus
from campaigns.sends.services import SendSpec
from console.models import AuditEntry
from templates_app.images import PUBLIC_IMAGE_SALT
from templates_app.models import Template, TemplateVersion
from tests.templates_app.helpers import image_bytes, make_template, pixel_bomb_png, upload

pytestmark = pytest.mark.django_db


def _url(name, app, *args):
    return reverse(f"templates_app:{name}", args=[app.app_key, *args])


def _form(**overrides):
    data = {
        "name": "spring_sale",
        "description": "Spring sale",
        "display_type": "notification",
        "display_style": "default",
        "title": "Hi #name#",
        "body": "Save #pct#% today",
        "click_action": "open_app",
        "url": "",
        "activity": "",
        "image_profile": "default",
        "icon_url": "",
        "image_url": "",
    }
    data.update(overrides)
    return data


def _task(template, status, name="campaign"):
    return PushTask.objects.create(
        app=template.app,
        name=name,
        push_type="TEMPLATE",
        source="console",
        template_version=template.current_version,
        status=status,
    )


def test_list_is_newest_first_and_searchable(app, auditor, client_for):
    old = make_template(app, name="old_one", body="About shoes")
    Template.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    make_template(app, name="new_one", body="About hats")
    c = client_for(auditor)
    html = c.get(_url("template-list", app)).content.decode()
    assert html.index("new_one") < html.index("old_one")
    found = c.get(_url("template-list", app), {"q": "shoes"}, HTTP_HX_REQUEST="true")
    text = found.content.decode()
    assert "old_one" in text and "new_one" not in text and "<html" not in text
    assert "No template matches" in c.get(_url("template-list", app), {"q": "zzz"}).content.decode()


def test_marketer_creates_version_one_with_uploaded_images_and_it_is_audited(app, marketer, client_for):
    c = client_for(marketer)
    data = _form(
        icon=upload("whatever.bin", image_bytes(140, 140)), image=upload("x.jpg", image_bytes(876, 324, "JPEG"))
    )
    response = c.post(_url("template-create", app), data)
    assert response.status_code == 302
    template = Template.objects.get(app=app, name="spring_sale")
    version = template.current_version
    assert (version.number, version.title, version.body, version.created_by) == (
        1,
        "Hi #name#",
        "Save #pct#% today",
        marketer,
    )
    assert version.icon.name.endswith(".png") and version.image.name.endswith(".jpg")
    assert "whatever" not in version.icon.name
    entry = AuditEntry.objects.get(action="template.create")
    assert entry.actor == marketer and entry.app == app and entry.summary["version"] == 1
    icon = c.get(_url("version-icon", app, template.pk, version.pk))
    assert icon["Content-Type"] == "image/png" and icon["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in icon["Content-Security-Policy"]
    assert b"".join(icon.streaming_content) == image_bytes(140, 140)
    assert c.get(_url("version-image", app, template.pk, version.pk))["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "bad name!"}, "name", "Use 1 to 200 letters, digits or underscores."),
        ({"description": ""}, "description", "This field is required."),
        ({"title": "x" * 201}, "title", "at most 200 characters"),
        ({"body": "x" * 201}, "body", "at most 200 characters"),
        ({"click_action": "open_url", "url": ""}, "url", "needs the URL"),
        ({"click_action": "open_url", "url": "javascript:alert(1)"}, "url", "Enter an http:// or https:// URL"),
        ({"icon_url": "not a url"}, "icon_url", "Enter a valid URL."),
    ],
)
def test_bad_input_gets_a_clear_message_and_saves_nothing(app, marketer, client_for, overrides, field, message):
    response = client_for(marketer).post(_url("template-create", app), _form(**overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Template.objects.exists() and not AuditEntry.objects.filter(action__startswith="template").exists()


@pytest.mark.parametrize(
    "files,field,message",
    [
        ({"icon": upload("icon.png", b"just text, named .png")}, "icon", "not a JPG or PNG image"),
        ({"icon": upload("icon.png", image_bytes(100, 100))}, "icon", "it must be exactly 140x140 px"),
        ({"image": upload("big.png", pixel_bomb_png())}, "image", "decompression bomb"),
        (
            {"icon": upload("i.png", image_bytes(140, 140)), "icon_url": "https://cdn.test/i.png"},
            "icon_url",
            "not both",
        ),
    ],
)
def test_bad_images_are_refused_with_the_rule(app, marketer, client_for, files, field, message):
    response = client_for(marketer).post(_url("template-create", app), _form(**files))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Template.objects.exists()


def test_xiaomi_profile_checks_icons_at_120(app, marketer, client_for):
    c = client_for(marketer)
    bad = c.post(
        _url("template-create", app), _form(image_profile="xiaomi", icon=upload("i.png", image_bytes(140, 140)))
    )
    assert "exactly 120x120 px" in " ".join(bad.context["form"].errors["icon"])
    ok = c.post(
        _url("template-create", app), _form(image_profile="xiaomi", icon=upload("i.png", image_bytes(120, 120)))
    )
    assert ok.status_code == 302
    assert Template.objects.get().current_version.image_profile == "xiaomi"


def test_names_are_unique_per_app_only(app, other_app, marketer, client_for):
    make_template(app, name="spring_sale")
    response = client_for(marketer).post(_url("template-create", app), _form())
    assert "already exists" in " ".join(response.context["form"].errors["name"])
    make_template(other_app, name="spring_sale")
    assert Template.objects.filter(name="spring_sale").count() == 2


def test_edit_makes_version_two_and_keeps_version_one(app, channel_admin, marketer, client_for):
    template = make_template(app, name="spring_sale", actor=marketer, with_images=True)
    v1 = template.current_version
    c = client_for(channel_admin)
    response = c.post(_url("template-edit", app, template.pk), _form(title="Hello #name#!"))
    assert response.status_code == 302
    template.refresh_from_db()
    v2 = template.current_version
    assert (v2.number, v2.title, v2.created_by) == (2, "Hello #name#!", channel_admin)
    v1.refresh_from_db()
    assert (v1.number, v1.title) == (1, "Hi #name#")
    assert v2.icon.name == v1.icon.name and v2.image.name == v1.image.name  # images kept when not replaced
    assert AuditEntry.objects.get(action="template.edit").summary["version"] == 2
    page = c.get(_url("template-edit", app, template.pk)).content.decode()
    assert 'value="Hello #name#!"' in page


def test_invalid_edit_leaves_the_template_as_it_was(app, marketer, client_for):
    template = make_template(app, name="spring_sale")
    response = client_for(marketer).post(_url("template-edit", app, template.pk), _form(title=""))
    assert response.status_code == 200
    assert TemplateVersion.objects.filter(template=template).count() == 1
    template.refresh_from_db()
    assert template.current_version.number == 1


@pytest.mark.parametrize(
    "status", [TaskStatus.SCHEDULED, TaskStatus.RUNNING, TaskStatus.QUEUED, TaskStatus.AWAITING_APPROVAL]
)
def test_delete_is_refused_while_a_pending_send_uses_any_version(app, marketer, client_for, status):
    template = make_template(app, name="spring_sale")
    _task(template, status, name="Console 2026-11-23")
    c = client_for(marketer)
    c.post(_url("template-edit", app, template.pk), _form(title="v2 #name#"))  # the send uses v1, not current
    response = c.post(_url("template-delete", app, template.pk), follow=True)
    text = response.content.decode()
    assert "was not deleted" in text and "Console 2026-11-23" in text
    template.refresh_from_db()
    assert template.deleted_at is None
    assert not AuditEntry.objects.filter(action="template.delete").exists()


def test_delete_is_soft_and_keeps_versions(app, marketer, client_for):
    template = make_template(app, name="spring_sale")
    done = _task(template, TaskStatus.FINISHED)
    c = client_for(marketer)
    response = c.post(_url("template-delete", app, template.pk))
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.deleted_at is not None
    assert AuditEntry.objects.get(action="template.delete").actor == marketer
    done.refresh_from_db()
    assert done.template_version.title == "Hi #name#"
    assert c.get(_url("template-detail", app, template.pk)).status_code == 404
    assert "spring_sale" not in c.get(_url("template-list", app)).content.decode()
    # The name is free again.
    assert c.post(_url("template-create", app), _form()).status_code == 302


def test_auditor_reads_but_cannot_write(app, auditor, client_for):
    template = make_template(app, name="spring_sale")
    c = client_for(auditor)
    for name in ("template-detail", "template-history"):
        assert c.get(_url(name, app, template.pk)).status_code == 200
    detail = c.get(_url("template-detail", app, template.pk)).content.decode()
    assert "Delete template" not in detail and "/edit/" not in detail
    assert c.get(_url("template-create", app)).status_code == 403
    assert c.post(_url("template-create", app), _form(name="x")).status_code == 403
    assert c.post(_url("template-edit", app, template.pk), _form(title="nope")).status_code == 403
    assert c.post(_url("template-delete", app, template.pk)).status_code == 403
    assert c.post(_url("template-preview", app), {"title": "x"}).status_code == 403
    template.refresh_from_db()
    assert template.deleted_at is None and template.versions.count() == 1


def test_other_apps_templates_are_invisible(app, other_app, outsider, marketer, client_for):
    theirs = make_template(other_app, name="theirs", with_images=True)
    c = client_for(marketer)
    # A member of `app` asking for another app's template through their own app: 404.
    assert c.get(_url("template-detail", app, theirs.pk)).status_code == 404
    assert c.get(_url("version-icon", app, theirs.pk, theirs.current_version_id)).status_code == 404
    assert c.post(_url("template-delete", app, theirs.pk)).status_code == 404
    assert client_for(outsider).get(_url("template-list", app)).status_code == 404


def test_history_shows_who_when_diff_and_the_sends_of_each_version(app, marketer, channel_admin, client_for):
    from campaigns.models import Message

    template = make_template(app, name="spring_sale", actor=marketer)
    task = _task(template, TaskStatus.FINISHED, name="Console old send")
    Message.objects.create(
        app=app,
        task=task,
        customer_msg_id="m-1",
        push_type="TEMPLATE",
        target_type="user",
        target_id="u1",
        title="Hi Ann",
        body="Save 20% today",
        expires_at=timezone.now() + timedelta(minutes=3),
    )
    client_for(channel_admin).post(_url("template-edit", app, template.pk), _form(title="Hello #name#!"))
    html = client_for(marketer).get(_url("template-history", app, template.pk)).content.decode()
    assert html.index("Version 2") < html.index("Version 1")
    assert "Saved by ada_admin" in html and "Saved by mark_marketer" in html
    assert "-title: Hi #name#" in html and "+title: Hello #name#!" in html
    v1_section = html[html.index('id="version-1"') :]
    assert "Console old send" in v1_section and "Hi Ann" in v1_section
    v2_section = html[html.index('id="version-2"') : html.index('id="version-1"')]
    assert "No sends used this version." in v2_section


def test_service_refuses_a_taken_name_even_without_the_form(app):
    from campaigns.codes import ApiCode, PushError

    make_template(app, name="dup")
    with pytest.raises(PushError) as caught:
        make_template(app, name="dup")
    assert caught.value.code == ApiCode.TEMPLATE_ALREADY_EXIST
    assert Template.objects.filter(app=app).count() == 1
    assert AuditEntry.objects.filter(action="template.create").count() == 1


def test_an_uploaded_image_can_be_removed_or_replaced_by_a_url_in_a_new_version(app, marketer, client_for):
    template = make_template(app, name="pics", with_images=True)
    v1 = template.current_version
    c = client_for(marketer)
    assert 'name="remove_icon"' in c.get(_url("template-edit", app, template.pk)).content.decode()
    c.post(
        _url("template-edit", app, template.pk),
        _form(name="pics", remove_icon="on", image_url="https://cdn.test/l.png"),
    )
    template.refresh_from_db()
    v2 = template.current_version
    assert (v2.icon.name, v2.image.name, v2.image_url) == ("", "", "https://cdn.test/l.png")
    v1.refresh_from_db()
    assert v1.icon.name and v1.image.name  # the old version keeps its files
    assert c.get(_url("version-icon", app, template.pk, v1.pk)).status_code == 200
    assert c.get(_url("version-icon", app, template.pk, v2.pk)).status_code == 404
    assert 'name="remove_icon"' not in c.get(_url("template-edit", app, template.pk)).content.decode()


def test_uploaded_images_are_sent_as_public_signed_urls(app, marketer, client, settings):
    settings.SITE_URL = "https://push.example.com/"
    version = make_template(app, actor=marketer, with_images=True).current_version
    spec = SendSpec(push_type="TEMPLATE", target_type="user", template_version=version)
    spec.content_from_template()
    assert spec.icon_url.startswith("https://push.example.com/images/")
    assert spec.payload(url="")["image_url"].startswith("https://push.example.com/images/")
    icon = client.get(urlparse(spec.icon_url).path)  # no login: gateways and phones fetch it
    assert icon.status_code == 200 and icon["Content-Type"] == "image/png"
    assert b"".join(icon.streaming_content) == image_bytes(140, 140)
    assert "immutable" in icon["Cache-Control"] and icon["X-Content-Type-Options"] == "nosniff"
    image = client.get(urlparse(spec.image_url).path)
    assert image.status_code == 200 and b"".join(image.streaming_content) == image_bytes(876, 324)

    path = urlparse(spec.icon_url).path
    assert client.get(path[:-3] + "AAA").status_code == 404  # tampered signature
    assert client.get(f"/images/{signing.dumps([version.pk, 'icon'], salt='elsewhere')}").status_code == 404
    assert client.get(f"/images/{signing.dumps([version.pk, 'body'], salt=PUBLIC_IMAGE_SALT)}").status_code == 404

    plain = make_template(app, name="plain", actor=marketer).current_version
    spec = SendSpec(push_type="TEMPLATE", target_type="user", template_version=plain)
    spec.content_from_template()
    assert spec.icon_url == "" and spec.image_url == ""
    spec = SendSpec(
        push_type="TEMPLATE", target_type="user", template_version=version, icon_url="https://cdn.example.com/i.png"
    )
    spec.content_from_template()
    assert spec.icon_url == "https://cdn.example.com/i.png"  # a URL given with the send wins


def test_an_unbalanced_placeholder_is_saved_with_a_warning(app, marketer, client_for):
    response = client_for(marketer).post(
        _url("template-create", app), _form(title="Hi #name", body="Save #pct#%"), follow=True
    )
    html = response.content.decode()
    assert Template.objects.filter(app=app, name="spring_sale").exists()
    assert "The title has a # without its closing #; it is sent as written." in html
    assert "The body has" not in html
