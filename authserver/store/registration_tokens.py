"""Initial access tokens (RFC 7591 §3) as digests: add one, check one, spend one use atomically.
Nothing here commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from .database import begin_write
from .database import db
from .database import insert
from .models import RegistrationToken

_tokens = RegistrationToken.__table__
_now = bindparam("now", type_=_tokens.c.expires_at.type)
_usable = (or_(_tokens.c.uses_left.is_(None), _tokens.c.uses_left > 0),
           or_(_tokens.c.expires_at.is_(None), _tokens.c.expires_at > _now))
USABLE = select(_tokens.c.token_digest).where(_tokens.c.token_digest == bindparam("digest"), *_usable)
# One conditional statement: of two registrations racing for the last use, exactly one changes the row.
SPEND = (update(_tokens).where(_tokens.c.token_digest == bindparam("digest"), *_usable)
         .values(uses_left=_tokens.c.uses_left - 1))


def add_token(token: RegistrationToken) -> RegistrationToken:
    return insert(token)


def is_usable(digest: str, now: dt.datetime) -> bool:
    """Whether a token with this digest exists, has a use left and has not expired (a read only)."""
    return db.session.connection().execute(USABLE, {"digest": digest, "now": now}).first() is not None


def spend(digest: str, now: dt.datetime) -> bool:
    """Spend one use of the token (a token without a limit is not counted down); False if it had
    none left, expired or is unknown, checked and changed in the one statement."""
    begin_write()
    return db.session.connection().execute(SPEND, {"digest": digest, "now": now}).rowcount == 1
