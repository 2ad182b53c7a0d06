"""Authorization codes (RFC 6749 §4.1.2): issue, look up, redeem once. No HTTP.

A code is high-entropy and stored only as its SHA-256 digest, bound to the client, the redirect
URI, the PKCE challenge (RFC 7636) and the approving browser, and lives
``authorization_code_ttl_seconds``. Redeeming is one conditional UPDATE, so of two parallel
exchanges exactly one wins. A code presented again is an attack or a bug: the exchange answers
``invalid_grant`` and the session the first use opened ends (§4.1.2 "SHOULD revoke"). Nothing
here commits.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy import update

from ..errors import CodeInvalid
from . import security_events
from .database import begin_write
from .database import db
from .models import ENDED_BY_REUSE
from .models import AuthorizationCode
from .models import DeviceContext
from .models import sha256_hex

CODE_BYTES = 32


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def save_code(settings, now, code: str, *, client, user, redirect_uri: str | None, scope: str,
              code_challenge: str | None, code_challenge_method: str | None, device: DeviceContext,
              browser_session=None, nonce: str | None = None, resources: str | None = None) -> None:
    """``browser_session``: the approving browser's web session, whose sign-in time becomes the ID
    token's ``auth_time``; ``nonce``: OpenID Connect's, returned in the ID token; ``resources``: those
    the user authorized (RFC 8707), space-separated."""
    begin_write()
    db.session.add(AuthorizationCode(
        code_hash=sha256_hex(code), client_id=client.client_id, user_id=user.id, redirect_uri=redirect_uri,
        scope=scope, code_challenge=code_challenge, code_challenge_method=code_challenge_method,
        user_agent=device.user_agent, ip=device.ip, created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.authorization_code_ttl_seconds), nonce=nonce,
        auth_time=browser_session.signed_in_at if browser_session else None,
        browser_session_id=browser_session.id if browser_session else None, resources=resources))


def nonce_was_used(client_id: str, nonce: str) -> bool:
    """Whether a code of this client (kept until ``sessions prune`` deletes it) was issued with this nonce."""
    query = select(AuthorizationCode.code_hash).where(AuthorizationCode.client_id == client_id,
                                                      AuthorizationCode.nonce == nonce).limit(1)
    return db.session.execute(query).first() is not None


def find_code(services, code: str, client_id: str) -> AuthorizationCode:
    """The unused, unexpired code of this client. A used one ends the session it opened first."""
    row = db.session.get(AuthorizationCode, sha256_hex(code))
    if row is None or row.client_id != client_id:
        raise CodeInvalid("unknown code")  # another client's code is not evidence of theft by its owner
    if row.is_used:
        end_session_of_reused(services, row)
        raise CodeInvalid("code reused")
    if services.clock.now() >= row.expires_at:
        raise CodeInvalid("code expired")
    return row


def redeem_code(services, row: AuthorizationCode) -> None:
    """Mark the code used; if a parallel exchange got there first, treat this one as reuse."""
    begin_write()
    used = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == row.code_hash, AuthorizationCode.used_at.is_(None))
        .values(used_at=services.clock.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not used:
        db.session.refresh(row)
        end_session_of_reused(services, row)
        raise CodeInvalid("code reused")


def end_session_of_reused(services, row: AuthorizationCode) -> None:
    security_events.record_event(security_events.AUTHORIZATION_CODE_REUSED, services.clock.now(), user_id=row.user_id,
                       session_id=row.session_id, client_id=row.client_id)
    if row.session_id:
        services.sessions.end_session(row.session_id, ENDED_BY_REUSE, actor=None)
