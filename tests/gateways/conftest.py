"""Fixtures: throwaway PKI, fake gateway servers, settings pointing at them."""

from __future__ import annotations

import pytest

from tests.fakes.apns import FakeApns
from tests.fakes.pki import make_p8_key, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(autouse=True)
def _trust_test_ca(settings, pki):
    settings.GATEWAY_CA_BUNDLE = pki.ca_file
    settings.GATEWAY_TIMEOUT = 5.0


@pytest.fixture
def p8():
    private, public = make_p8_key()
    return {"key_pem": private, "public_pem": public, "key_id": "ABC123DEFG", "team_id": "TEAM123456"}


@pytest.fixture
def fake_apns(pki, p8, settings):
    fake = FakeApns(pki, token_keys={p8["key_id"]: (p8["team_id"], p8["public_pem"])}).start()
    settings.APNS_PRODUCTION_URL = fake.url
    settings.APNS_SANDBOX_URL = fake.url
    yield fake
    fake.stop()
