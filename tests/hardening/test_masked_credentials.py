"""Templates receive masked view objects of credentials, never model instances or decrypted secrets."""

from __future__ import annotations

import json

import pytest
from django.db import models

from console.credentials.masked import CredentialView
from console.models import ApnsTokenKey, FcmCredential
from tests.certs import p8_key

pytestmark = pytest.mark.django_db

SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "p1",
    "client_email": "a@p1.iam",
    "private_key": "PK-SECRET",
}


def _walk(value, depth=0):
    """Every object reachable from a template context value (lists, dicts, view objects)."""
    yield value
    if depth > 4:
        return
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v, depth + 1)
    elif isinstance(value, CredentialView):
        for v in value._values.values():
            yield from _walk(v, depth + 1)


@pytest.mark.parametrize("role", ["channel_admin", "marketer", "auditor"])
def test_the_push_configuration_page_gets_no_decrypted_credential(request, app, client_for, role):
    key_pem = p8_key()
    ApnsTokenKey.objects.create(
        app=app, key_pem=key_pem, key_id="ABC1234567", team_id="TEAM123456", topic="com.x", fingerprint="fp"
    )
    FcmCredential.objects.create(app=app, enabled=True, service_account=json.dumps(SERVICE_ACCOUNT), project_id="p1")
    user = request.getfixturevalue(role)
    response = client_for(user).get(f"/apps/{app.app_key}/push-config/")
    assert response.status_code == 200
    context = response.context
    for name in ("token", "fcm"):
        assert isinstance(context[name], CredentialView), name
    secrets = (key_pem, "PK-SECRET", json.dumps(SERVICE_ACCOUNT))
    for name in ("token", "fcm", "certificate", "history", "packages"):
        for value in _walk(context.get(name)):
            assert not isinstance(value, models.Model) or not hasattr(value, "secrets"), (name, value)
            assert not isinstance(value, ApnsTokenKey | FcmCredential), (name, value)
            if isinstance(value, str):
                assert not any(s in value for s in secrets), name
    page = response.content.decode()
    assert "PK-SECRET" not in page and "BEGIN PRIVATE KEY" not in page
    assert context["fcm"].project_id == "p1" and context["fcm"].service_account.startswith("•")
    with pytest.raises(AttributeError):
        context["fcm"].service_account = "x"
