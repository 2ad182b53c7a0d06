"""The device names people read on "My devices" and in the console (``sessions/user_agents.py``):
browser and system from the User-Agent, and whether it is a phone, a tablet or a computer."""

from __future__ import annotations

import pytest

from authserver.sessions.user_agents import describe_user_agent

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.1 Mobile/15E148 Safari/604.1")
IPAD = ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
        "Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Mobile Safari/537.36")
WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36")
MAC_FIREFOX = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0"


@pytest.mark.parametrize(("user_agent", "label", "device_type"), [
    (IPHONE, "Mobile Safari 17 on iOS 17", "phone"),
    (ANDROID, "Chrome Mobile 120 on Android 14", "phone"),
    (IPAD, "Mobile Safari 16 on iOS 16", "tablet"),
    (WINDOWS, "Chrome 120 on Windows 10", "desktop"),
    (MAC_FIREFOX, "Firefox 121 on Mac OS X 10", "desktop"),
])
def test_a_browser_is_named_by_browser_system_and_kind(user_agent, label, device_type):
    description = describe_user_agent(user_agent)
    assert (description.label, description.device_type) == (label, device_type)


@pytest.mark.parametrize("user_agent", [None, "", "\x00\x01", "x" * 600])
def test_nothing_recognisable_is_an_unknown_device_not_an_error(user_agent):
    description = describe_user_agent(user_agent)
    assert (description.label, description.device_type) == ("Unknown device", "other")


def test_a_command_line_client_is_named_by_what_it_says_it_is():
    description = describe_user_agent("curl/8.5.0")
    assert (description.label, description.device_type) == ("curl 8", "other")
