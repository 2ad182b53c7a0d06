"""The access-token deny list: the ``jti`` of each revoked access token (RFC 7009), kept until the
token would have expired anyway (``retention.py`` then deletes it). Every liveness check of an
access token consults it (``oauth/access_tokens.py``). Nothing here commits."""

from __future__ import annotations

import datetime as dt

from .database import begin_write
from .database import db
from .models import RevokedAccessToken


def deny_access_token(jti: str, expires_at: dt.datetime, now: dt.datetime) -> bool:
    """Put a token on the list; False if it already was."""
    begin_write()
    if db.session.get(RevokedAccessToken, jti) is not None:
        return False
    db.session.add(RevokedAccessToken(jti=jti, expires_at=expires_at, revoked_at=now))
    return True


def is_access_token_denied(jti: str) -> bool:
    return db.session.get(RevokedAccessToken, jti) is not None
