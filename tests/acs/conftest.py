"""Fixtures of the Alibaba Cloud door tests: the delivery fakes (AccessKeys per role are in tests/conftest.py)."""

from __future__ import annotations

from tests.delivery.conftest import gateways, pki  # noqa: F401 - fixtures shared with the delivery tests
