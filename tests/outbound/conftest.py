"""Fixtures of the outbound tests: receivers on 127.0.0.1, and an app allowed to deliver to them."""

from __future__ import annotations

import pytest

from tests.outbound.receivers import RECEIVER_SETTINGS
from tests.outbound.receivers import Receiver


@pytest.fixture
def second_receiver():
    served = Receiver()
    yield served
    served.close()


@pytest.fixture
def settings_overrides():
    return RECEIVER_SETTINGS
