"""Who may call the JSON APIs, and how a refusal looks (RFC 6750 §3).

A caller presents an access token of a live device session (``resource.require_oauth`` checks the
JWT, then the session, its user and the deny list). Tokens of a restricted session, one
provisioned for a device, may not manage sessions at all; the admin API also needs the `admin`
scope, held by a user who is still an administrator.

Refusals are answered here, not raised through Flask's error handlers, so they keep RFC 6750's
shape: 401 ``invalid_token`` with a ``WWW-Authenticate: Bearer`` challenge (bare when the request
carries no bearer token at all, §3.1), 403 ``insufficient_scope`` naming the scope needed.
"""

from __future__ import annotations

import functools
import json
import logging

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError
from authlib.oauth2.rfc6749.errors import UnsupportedTokenTypeError
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from flask import Response
from flask import request

from ..oauth.grants import ADMIN_SCOPE
from ..resource import current_token
from ..resource import require_oauth

__all__ = ["session_token_required", "current_token"]

log = logging.getLogger(__name__)


class MissingTokenError(InvalidTokenError):
    """No bearer token: the challenge carries no error code (RFC 6750 §3.1); the body still does."""

    description = "The request carries no bearer access token."

    def get_headers(self):
        return [*OAuth2Error.get_headers(self), ("WWW-Authenticate", "Bearer")]


class ScopeRequiredError(InsufficientScopeError):
    """403 with the challenge RFC 6750 §3 allows, naming the scope the endpoint needs."""

    def __init__(self, description: str, scope: str | None = None):
        super().__init__(description)
        self.scope = scope

    def get_headers(self):
        challenge = f'Bearer error="{self.error}", error_description="{self.get_error_description()}"'
        if self.scope:
            challenge += f', scope="{self.scope}"'
        return [*super().get_headers(), ("WWW-Authenticate", challenge)]


def check_caller(scope: str | None) -> None:
    """Raise the OAuth error that refuses the current request, if any."""
    token = require_oauth.acquire_token()
    session = token.device_session
    if session.restricted:
        raise ScopeRequiredError("Tokens of a restricted device session cannot manage sessions.")
    if scope:
        granted = (token.get("scope") or "").split()
        # The admin scope is only ever granted to administrators; checking the user as well means
        # an account that stops being one loses the API at once, not when its tokens expire.
        if scope not in granted or (scope == ADMIN_SCOPE and not session.user.is_admin):
            raise ScopeRequiredError(f"This endpoint needs the '{scope}' scope.", scope)


def session_token_required(scope: str | None = None):
    """Protect a view; inside it ``current_token.device_session`` is the caller's live session."""

    def decorator(view):
        @functools.wraps(view)
        def protected(*args, **kwargs):
            try:
                check_caller(scope)
            except (MissingAuthorizationError, UnsupportedTokenTypeError):
                return error_response(MissingTokenError())
            except OAuth2Error as error:
                log.info("refused %s %s: %s", request.method, request.path, error.error)
                return error_response(error)
            return view(*args, **kwargs)

        return protected

    return decorator


def error_response(error: OAuth2Error) -> Response:
    status, body, headers = error()
    return Response(json.dumps(body), status=status, headers=headers)
