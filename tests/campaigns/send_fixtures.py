"""Shared pieces of the send tests: templates, devices and a signed API caller."""

from __future__ import annotations

import pytest

from campaigns.models import Device, UserBinding
from templates_app.models import Template, TemplateVersion
from tests.apiclient import SignedClient, enable_server_api


def make_template(
    app,
    name="promo",
    *,
    title="Hi #name#",
    body="Your code is #code#",
    url="",
    display_type="notification",
    click_action="open_app",
):
    template = Template.objects.create(app=app, name=name)
    version = TemplateVersion.objects.create(
        template=template,
        number=1,
        description="d",
        title=title,
        body=body,
        url=url,
        display_type=display_type,
        click_action=click_action,
    )
    template.current_version = version
    template.save(update_fields=["current_version"])
    return template


def make_device(app, device_id, platform="android", **kwargs):
    return Device.objects.create(app=app, device_id=device_id, platform=platform, **kwargs)


def bind(app, user_id, device):
    return UserBinding.objects.create(app=app, user_id=user_id, device=device)


@pytest.fixture
def template(app):
    return make_template(app)


@pytest.fixture
def api(app, client):
    return SignedClient(client, app, private_pem=enable_server_api(app))
