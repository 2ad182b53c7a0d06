"""Helpers for tests that sign users in with the password grant, keep their sessions alive, and read
what the database holds of them: the device_sessions row, the security events."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from authserver.store.database import db
from authserver.store.models import DeviceSession
from authserver.store.models import SecurityEvent
from tests.conftest import password_login
from tests.conftest import refresh
from tests.token_helpers import bearer
from tests.token_helpers import claims_of

PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
LAPTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Safari/537.36")


@dataclass
class SignedIn:
    access_token: str
    refresh_token: str
    scope: str

    @property
    def claims(self) -> dict:
        return claims_of(self.access_token)

    @property
    def sid(self) -> str:
        return self.claims["sid"]

    @property
    def headers(self) -> dict:
        return bearer(self.access_token)


def sign_in(http, registered, username="alice", user_agent=LAPTOP_UA, **form) -> SignedIn:
    """A password-grant sign-in that must succeed: one new device session."""
    response = password_login(http, registered, username=username, headers={"User-Agent": user_agent}, **form)
    assert response.status_code == 200, response.json
    body = response.json
    return SignedIn(body["access_token"], body["refresh_token"], body["scope"])


def keep_alive(http, registered, signed_in: SignedIn) -> None:
    """A refresh: the session counts as active now, and the device holds the new refresh token."""
    signed_in.refresh_token = refresh(http, registered, signed_in.refresh_token).json["refresh_token"]


def logged_events(app, kind=None) -> list[dict]:
    """Security events (oldest first) as plain dicts, detail decoded."""
    with app.app_context():
        query = select(SecurityEvent).order_by(SecurityEvent.id)
        if kind:
            query = query.where(SecurityEvent.kind == kind)
        return [
            {"kind": e.kind, "user_id": e.user_id, "username": e.username, "session_id": e.session_id,
             "client_id": e.client_id, "ip": e.ip, "actor": e.actor,
             "detail": json.loads(e.detail) if e.detail else {}}
            for e in db.session.scalars(query)
        ]


def session_row(app, session_id):
    """The device_sessions row, detached (None if pruned)."""
    with app.app_context():
        row = db.session.get(DeviceSession, session_id)
        if row is not None:
            db.session.expunge(row)
        return row
