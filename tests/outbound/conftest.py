"""Fixtures of the outbound tests: receivers on 127.0.0.1, and an app allowed to deliver to them."""

from __future__ import annotations

import pytest

from tests.outbound.receivers import RECEIVER_SETTINGS


@pytest.fixture
def settings_overrides():
    return RECEIVER_SETTINGS
