"""Fixtures of the Alibaba Cloud door tests: AccessKeys of each role, the delivery fakes."""

from __future__ import annotations

import pytest

from console.acs.models import AccessKey
from tests.delivery.conftest import gateways, pki  # noqa: F401 - fixtures shared with the delivery tests


@pytest.fixture
def marketer_key(marketer):
    return AccessKey.objects.create(user=marketer)


@pytest.fixture
def auditor_key(auditor):
    return AccessKey.objects.create(user=auditor)


@pytest.fixture
def outsider_key(outsider):
    return AccessKey.objects.create(user=outsider)
