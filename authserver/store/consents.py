"""Consents: what a user let a third-party client do, remembered per user and client. No HTTP.

A consent holds the scopes granted so far; a request for scopes it covers needs no question, a
broader one asks again and, once allowed, widens it. Withdrawing a consent ("Connected apps")
forgets it and ends every session of that user with that client, so its refresh tokens die and
its access tokens introspect inactive at once. Nothing here commits.
"""

from __future__ import annotations

from sqlalchemy import select

from .database import begin_write
from .database import db
from .models import ENDED_BY_USER
from .models import Consent


def find_consent(user_id: str, client_id: str) -> Consent | None:
    return db.session.get(Consent, (user_id, client_id))


def has_consent(user_id: str, client_id: str, scope: str) -> bool:
    consent = find_consent(user_id, client_id)
    return consent is not None and consent.covers(scope)


def remember_consent(user_id: str, client_id: str, scope: str, now) -> Consent:
    begin_write()
    consent = find_consent(user_id, client_id)
    if consent is None:
        consent = Consent(user_id=user_id, client_id=client_id, scope="", granted_at=now)
        db.session.add(consent)
    granted = dict.fromkeys(consent.scope.split())
    granted.update(dict.fromkeys(scope.split()))
    consent.scope = " ".join(granted)
    consent.granted_at = now
    return consent


def list_consents(user_id: str) -> list[Consent]:
    query = select(Consent).where(Consent.user_id == user_id).order_by(Consent.granted_at.desc())
    return list(db.session.scalars(query).unique())


def withdraw_consent(services, user, client_id: str, ip: str | None = None) -> bool:
    """Forget the consent and end the user's sessions with the client. False if there was none."""
    begin_write()
    consent = find_consent(user.id, client_id)
    if consent is None:
        return False
    db.session.delete(consent)
    services.sessions.end_user_sessions(user.id, ENDED_BY_USER, actor=user.username, ip=ip, client_id=client_id)
    return True
