"""Fixtures the grant and endpoint tests share."""

from __future__ import annotations

import pytest

from tests.device_helpers import device_client


@pytest.fixture
def tv(factory):
    """alice, and a public TV app registered for the device authorization grant."""
    factory.user("alice")
    return device_client(factory)
