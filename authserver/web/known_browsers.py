"""The sign-in page's device cookie (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").

Anyone can spend a username's account-wide budget of failed sign-ins (``throttle.py``) and so lock
its owner out. A browser that signed in successfully gets a device cookie naming that username and
a random nonce, signed by the server; with a valid one for the username it signs in as, the browser
is exempt from the account budget and has a small budget of its own, per cookie
(``login_device_cookie_max_failures``), so a stolen cookie buys few guesses. A missing, tampered,
expired or other user's cookie is simply not one: the account budget applies.

The cookie holds ``[username, nonce, issued at]`` signed with HMAC-SHA256 under a key derived (by
itsdangerous, with a salt of its own) from the web cookie key ``keys/web-secret.key`` that every
node shares (``SECRET_KEY``), so a cookie set by one node is valid on all. It is ``HttpOnly``,
``SameSite=Strict``, sent only to the sign-in page (``Path=/signin``), ``Secure`` when
``AUTHSERVER_COOKIE_SECURE`` or an https issuer says so, and lives
``device_cookie_max_age_seconds``, checked by the server too. Each successful sign-in replaces it
with a fresh nonce; the browser keeps the one of the last user who signed in on it. Only the
SHA-256 of the nonce is ever stored (with a failed sign-in), never the cookie.
"""

from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from flask import request
from flask import url_for
from itsdangerous import BadData
from itsdangerous import URLSafeSerializer

from ..services import current_services
from ..store.models import sha256_hex

COOKIE_NAME = "authserver_device"
SALT = "authserver.device-cookie"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def known_device(username: str) -> str | None:
    """The id of this browser's device cookie (the SHA-256 of its nonce) if it is valid for
    ``username``: signed by us, for that username, younger than its lifetime. Otherwise None."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw or not username:
        return None
    try:
        payload = _serializer().loads(raw)
    except BadData:
        return None
    if not (isinstance(payload, list) and len(payload) == 3):
        return None
    login, nonce, issued = payload
    if not (isinstance(login, str) and isinstance(nonce, str) and nonce
            and isinstance(issued, int) and not isinstance(issued, bool)):
        return None
    services = current_services()
    age = services.clock.now().timestamp() - issued
    if login != username or age >= services.settings.device_cookie_max_age_seconds:
        return None
    return sha256_hex(nonce)


def issue(response, username: str):
    """Give the browser a new device cookie for ``username`` (on a successful sign-in)."""
    services = current_services()
    settings = services.settings
    value = _serializer().dumps([username, secrets.token_urlsafe(16), int(services.clock.now().timestamp())])
    response.set_cookie(COOKIE_NAME, value, max_age=settings.device_cookie_max_age_seconds,
                        path=url_for("web.signin"), httponly=True, samesite="Strict",
                        secure=settings.cookie_secure or settings.issuer.startswith("https:"))
    return response
