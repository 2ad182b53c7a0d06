"""Fixtures of the security event tests: a receiver on 127.0.0.1 the server may push to, and a stream to it."""

from __future__ import annotations

import pytest

from tests.outbound.receivers import RECEIVER_SETTINGS
from tests.ssf.helpers import create_stream


@pytest.fixture
def settings_overrides():
    return RECEIVER_SETTINGS


@pytest.fixture
def stream(app, receiver) -> dict:
    """An operator's stream pushing every event type to the receiver's /events, which acknowledges with 202."""
    receiver.behaviour.status = 202
    return create_stream(app, receiver.url + "/events")
