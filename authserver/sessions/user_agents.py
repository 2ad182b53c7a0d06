"""Readable device descriptions from User-Agent strings (ua-parser): the default device name of a
session and the labels on "My devices" and the console."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ua_parser import parse

MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS"}
TABLET_HINTS = ("iPad", "Tablet", "Kindle", "Nexus 7", "Nexus 9", "SM-T")


@dataclass(frozen=True)
class DeviceDescription:
    browser: str | None
    os: str | None
    device_type: str  # "desktop", "phone", "tablet" or "other"

    @property
    def label(self) -> str:
        if self.browser and self.os:
            return f"{self.browser} on {self.os}"
        return self.browser or self.os or "Unknown device"


def _version(part) -> str:
    return f" {part.major}" if getattr(part, "major", None) else ""


@functools.lru_cache(maxsize=1024)
def describe_user_agent(user_agent: str | None) -> DeviceDescription:
    result = parse(user_agent or "")
    browser = f"{result.user_agent.family}{_version(result.user_agent)}" if result.user_agent else None
    os_name = f"{result.os.family}{_version(result.os)}" if result.os else None
    device_family = result.device.family if result.device else ""
    if any(hint in (device_family or "") or hint in (user_agent or "") for hint in TABLET_HINTS):
        device_type = "tablet"
    elif result.os and result.os.family in MOBILE_OS:
        device_type = "phone"
    elif result.os:
        device_type = "desktop"
    else:
        device_type = "other"
    return DeviceDescription(browser=browser, os=os_name, device_type=device_type)
