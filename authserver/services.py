"""The per-process objects every part of the server shares, built once by create_app()."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask.globals import _cv_app

from .accounts.clients import ClientCache
from .accounts.passwords import Passwords
from .ops.metrics import Metrics
from .sessions.device_sessions import DeviceSessions
from .sessions.legacy_sessions import LegacySessions
from .sessions.refresh_tokens import RefreshTokens
from .settings import Settings
from .tokens.dpop import DPoPProofs
from .tokens.keys import KeyRing


@dataclass
class Services:
    settings: Settings
    clock: object
    passwords: Passwords
    keyring: KeyRing
    sessions: DeviceSessions
    refresh_tokens: RefreshTokens
    metrics: Metrics
    clients: ClientCache
    legacy: LegacySessions  # sessions imported from an older store, exchanged once (RFC 8693)
    dpop: DPoPProofs
    # ssf/events.SharedSignals (ssf/ sits above this module): queues the security events a change owes
    # the streams. None queues nothing.
    shared_signals: object = None


def current_services() -> Services:
    # The app context's app read straight from Flask's context variable: a request asks several
    # times, and ``current_app`` is a proxy resolved anew on every attribute.
    context = _cv_app.get(None)
    if context is None:
        return current_app.extensions["authserver"]  # outside an app context: Flask's own error
    return context.app.extensions["authserver"]
