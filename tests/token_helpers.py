"""Helpers for the revocation, introspection and resource-protector tests: calling the two
endpoints, and minting JWTs (genuine, expired, forged) to present to them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
from authlib.oauth2 import OAuth2Error
from flask import Response
from flask import jsonify
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from authserver.database import db
from authserver.models import DeviceSession
from authserver.models import SecurityEvent
from authserver.resource import current_token
from authserver.resource import require_oauth

REVOKE = "/oauth/revoke"
INTROSPECT = "/oauth/introspect"
PROTECTED = "/test/protected"


def revoke(http, registered, token, hint=None, **extra):
    form = {"token": token, **extra}
    if hint is not None:
        form["token_type_hint"] = hint
    data, headers = registered.auth(form)
    return http.post(REVOKE, data=data, headers=headers)


def introspect(http, registered, token, hint=None, **extra):
    form = {"token": token, **extra}
    if hint is not None:
        form["token_type_hint"] = hint
    data, headers = registered.auth(form)
    return http.post(INTROSPECT, data=data, headers=headers)


def is_active(http, introspector, token) -> bool:
    response = introspect(http, introspector, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    if response.json == {"active": False}:
        return False
    assert response.json["active"] is True, response.json
    return True


def claims_of(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict:
    return pyjwt.get_unverified_header(token)


# -- minting ----------------------------------------------------------------------------------
def signing_key(app) -> RSAKey:
    """The server's real, active private signing key."""
    return app.extensions["authserver"].keyring.signing_key_set().keys[0]


def mint(key: RSAKey, claims: dict, **header) -> str:
    """An RS256 JWT with exactly this header (``typ``/``kid`` default to the real ones)."""
    full_header = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid, **header}
    full_header = {name: value for name, value in full_header.items() if value is not None}
    return jose_jwt.encode(full_header, claims, key, algorithms=[full_header["alg"]], default_type=None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict, **header) -> str:
    """`alg` none: no signature at all."""
    head = {"alg": "none", "typ": "at+jwt", **header}
    return f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}."


def hmac_signed(secret: bytes, claims: dict, **header) -> str:
    """HS256 with the given secret (the classic attack uses the server's public key PEM)."""
    head = {"alg": "HS256", "typ": "at+jwt", **header}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def expired_copy(claims: dict) -> dict:
    now = int(time.time())
    return {**claims, "iat": now - 1000, "exp": now - 100}


# -- a route behind the in-process resource protector ----------------------------------------
def add_protected_route(app) -> None:
    """GET /test/protected, needing the `profile` scope (call before the app's first request).

    It calls ``require_oauth`` the way the sessions API does (``acquire_token``, errors rendered
    by the view): raised from the decorator, Flask's error handlers would reshape them."""

    @app.get(PROTECTED, endpoint="test_protected")
    def protected():
        try:
            token = require_oauth.acquire_token(["profile"])
        except OAuth2Error as error:
            status, body, headers = error()
            return Response(json.dumps(body), status=status, headers=headers)
        assert token is current_token._get_current_object()
        return jsonify(sub=token["sub"], sid=token.device_session.id, username=token.device_session.user.username)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# -- reading the database -----------------------------------------------------------------------
def session_row(app, session_id):
    """The device_sessions row, detached."""
    with app.app_context():
        row = db.session.get(DeviceSession, session_id)
        db.session.expunge(row)
        return row


def events(app, kind) -> list[dict]:
    """Security events of one kind, oldest first, detail decoded."""
    with app.app_context():
        query = select(SecurityEvent).where(SecurityEvent.kind == kind).order_by(SecurityEvent.id)
        return [{"user_id": e.user_id, "session_id": e.session_id, "client_id": e.client_id, "actor": e.actor,
                 "detail": json.loads(e.detail) if e.detail else {}} for e in db.session.scalars(query)]
