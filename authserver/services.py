"""The per-process objects every part of the server shares, built once by create_app()."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .keys import KeyRing
from .metrics import Metrics
from .passwords import Passwords
from .refresh_tokens import RefreshTokens
from .sessions import DeviceSessions
from .settings import Settings


@dataclass
class Services:
    settings: Settings
    clock: object
    passwords: Passwords
    keyring: KeyRing
    sessions: DeviceSessions
    refresh_tokens: RefreshTokens
    metrics: Metrics


def current_services() -> Services:
    return current_app.extensions["authserver"]
