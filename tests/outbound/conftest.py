"""Fixtures of the outbound tests: receivers on 127.0.0.1, and an app allowed to deliver to them."""

from __future__ import annotations

import pytest

from tests.outbound.receivers import Receiver


@pytest.fixture
def receiver():
    served = Receiver()
    yield served
    served.close()


@pytest.fixture
def second_receiver():
    served = Receiver()
    yield served
    served.close()


@pytest.fixture
def settings_overrides():
    # The receivers are on loopback; a short timeout keeps the hanging-receiver tests short.
    return {"outbound_allow_private": True, "outbound_timeout_seconds": 1}
