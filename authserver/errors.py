"""Every error a caller can see, and the one handler that renders them.

Errors are Authlib ``OAuth2Error`` classes, one per RFC 6749 / RFC 6750 code (re-exported here so
the rest of the server imports them from one place), plus the few this server adds: a 404, a 405
with ``Allow``, ``temporarily_unavailable`` with ``Retry-After`` for 409/429/503, and
``server_error``. Views and protocol code raise them; :func:`register_error_handlers` renders them
once for the whole app: JSON ``{"error", "error_description"}`` with ``Cache-Control: no-store``
for programs, an HTML page for requests of the ``web`` blueprint (browsers).

Code below HTTP (accounts, sessions, stores) knows no OAuth error: it raises a :class:`DomainError`
(``Throttled``, ``RefreshTokenInvalid``, ``CodeInvalid``, ``PollRefused``...), and
:func:`oauth_error` is the one place that says what the caller is told for each. Werkzeug's HTTP
errors, database failures (classified by the unit of work, ``store/database.py``) and unexpected
exceptions are turned into one of these first, so no caller ever sees a stack trace and the detail
goes to the log only. Nothing here touches the database: the unit of work hands in its rollback.
"""

from __future__ import annotations

import logging
from typing import Callable

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749.errors import AccessDeniedError
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError
from authlib.oauth2.rfc6749.errors import UnauthorizedClientError
from authlib.oauth2.rfc6749.errors import UnsupportedGrantTypeError
from authlib.oauth2.rfc6749.errors import UnsupportedResponseTypeError
from authlib.oauth2.rfc6749.errors import UnsupportedTokenTypeError
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError
from authlib.oauth2.rfc8628.errors import ExpiredTokenError
from authlib.oauth2.rfc8628.errors import SlowDownError
from flask import Response
from flask import json
from flask import render_template
from flask import request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

__all__ = [
    "OAuth2Error", "AccessDeniedError", "InvalidClientError", "InvalidGrantError", "InvalidRequestError",
    "InvalidScopeError", "MissingAuthorizationError", "UnauthorizedClientError", "UnsupportedGrantTypeError",
    "UnsupportedResponseTypeError", "UnsupportedTokenTypeError", "InvalidTokenError", "InsufficientScopeError",
    "MissingTokenError", "ScopeRequiredError", "NotFoundError", "MethodNotAllowedError", "TemporarilyUnavailable",
    "ServerError", "UnknownClientError", "UnregisteredLogoutRedirect", "DomainError", "AccountError", "Throttled",
    "UserNotFound", "RefreshTokenInvalid", "RefreshTokenUnknown", "RefreshTokenReused", "ScopeNotGranted", "CodeInvalid",
    "LegacySessionInvalid", "PollRefused", "StreamRefused", "StreamNotFound", "RegistrationTokenInvalid",
    "MetadataDocumentRefused", "ClientDocumentError", "TargetInvalid", "InvalidTargetError", "DatabaseBusy",
    "DatabaseUnavailable", "ValueNotStorable", "DPoPProofInvalid", "DPoPProofReplayed", "DPoPNonceRequired",
    "InvalidDPoPProofError", "UseDPoPNonceError", "DPoPTokenError", "oauth_error", "answer", "register_error_handlers",
]

log = logging.getLogger(__name__)

WEB_BLUEPRINT = "web"  # its pages answer HTML, errors included


# -- what the rules refuse, below HTTP (mapped by oauth_error) -----------------------------------
class DomainError(Exception):
    """A refusal or failure decided below HTTP; :func:`oauth_error` says what the caller is told.

    A refusal below 500 keeps what the request wrote before it (an ended session stays ended);
    one with ``keeps_writes`` False is answered with nothing of the request written."""

    keeps_writes = True


class AccountError(DomainError, ValueError):
    """A request to create or change an account that cannot be honoured (message is for people)."""


class UserNotFound(DomainError):
    """No user has the username asked for."""


class Throttled(DomainError):
    """A failure budget is spent (``accounts/throttle.py``): nothing is checked until ``retry_after``
    seconds have passed. ``what`` names the failures for people ("failed sign-ins")."""

    def __init__(self, what: str, retry_after: int):
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


class RefreshTokenInvalid(DomainError):
    """Unknown, foreign, expired or dead refresh token (the client sees invalid_grant)."""


class RefreshTokenUnknown(RefreshTokenInvalid):
    """No generation of any chain, or one issued to another client: to this client, not a token at all."""


class RefreshTokenReused(RefreshTokenInvalid):
    """A rotated token was presented again; its session has been ended."""


class ScopeNotGranted(DomainError):
    """A refresh asked for scope beyond what the session was granted."""


class LegacySessionInvalid(DomainError):
    """An imported legacy session that cannot be exchanged: unknown, already exchanged, too old, or of a
    disabled user (the client sees invalid_grant, RFC 8693 §2.2.2 / RFC 6749 §5.2)."""


class CodeInvalid(DomainError):
    """Unknown, expired, another client's, or already used authorization code (the client sees invalid_grant)."""


class PollRefused(DomainError):
    """A device's poll answered with something other than tokens: ``error`` is the RFC 8628 §3.5 /
    RFC 6749 code."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


class StreamRefused(DomainError, ValueError):
    """A security event stream that cannot be created or changed as asked (its endpoint, its events, its
    status): nothing is stored. The message is for people and names what is wrong."""


class StreamNotFound(DomainError):
    """No security event stream with that id, or one another client manages."""


class RegistrationTokenInvalid(DomainError):
    """An initial access token (RFC 7591 §3) or registration access token (RFC 7592) that is missing,
    unknown, spent, expired, or another client's (the caller sees 401 invalid_token)."""


class MetadataDocumentRefused(DomainError):
    """A Client ID Metadata Document that cannot be used: not fetched, not JSON, too large, a redirect,
    naming another client_id, on a private address. ``reason`` is for the log and the page."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TargetInvalid(DomainError):
    """A ``resource`` (RFC 8707) that is relative, has a fragment, is not registered, or (on a refresh,
    a code exchange, a device poll) is not one the grant was authorized for."""


class DPoPProofInvalid(DomainError):
    """A DPoP proof (RFC 9449 §4.3) that fails a check, a second DPoP header, or none where one is
    required; the message says which check, for the client (printable ASCII)."""


class DPoPProofReplayed(DPoPProofInvalid):
    """A proof whose ``jti`` some node has seen: found when the request writes, so what it wrote goes."""

    keeps_writes = False


class DPoPNonceRequired(DomainError):
    """The server demands a nonce (``AUTHSERVER_DPOP_NONCE``) and the proof has none, or a stale one:
    the client retries with ``nonce`` (RFC 9449 §8)."""

    def __init__(self, nonce: str):
        super().__init__("use the DPoP-Nonce")
        self.nonce = nonce


class DatabaseBusy(DomainError):
    """The lock was not had within the lock timeout: another request held it (e.g. a parallel refresh)."""


class DatabaseUnavailable(DomainError):
    """The database failed, or cannot be reached."""


class ValueNotStorable(DomainError):
    """A value the database refuses (e.g. too long for its column): bad input, retrying won't help.
    ``driver_error`` names the driver's error class, for the log."""

    def __init__(self, driver_error: str):
        super().__init__(driver_error)
        self.driver_error = driver_error


class NotFoundError(OAuth2Error):
    error = "not_found"
    status_code = 404


class MethodNotAllowedError(OAuth2Error):
    """RFC 9110 §15.5.6: a 405 names the methods that are allowed."""

    error = "invalid_request"
    status_code = 405

    def __init__(self, description="Use POST.", allowed=("POST",)):
        super().__init__(description)
        self.allowed = allowed

    def get_headers(self):
        return super().get_headers() + [("Allow", ", ".join(self.allowed))]


class TemporarilyUnavailable(OAuth2Error):
    """Retry later: 409 (a conflicting request held the lock), 429 (throttled) or 503."""

    error = "temporarily_unavailable"

    def __init__(self, description: str, status_code: int = 503, retry_after: int = 1):
        super().__init__(description, status_code=status_code)
        self.retry_after = retry_after

    def get_headers(self):
        return super().get_headers() + [("Retry-After", str(self.retry_after))]


class ServerError(OAuth2Error):
    error = "server_error"
    status_code = 500
    description = "The server encountered an unexpected condition."


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2 and RFC 8693 §2.2.2: the requested resource or audience is invalid, unknown, or not the grant's."""

    error = "invalid_target"


class MissingTokenError(InvalidTokenError):
    """No access token: the challenges carry no error code (RFC 6750 §3.1); the body still does.
    ``challenge`` names every scheme the resource takes (``Bearer, DPoP algs="…"``, RFC 9449 §7.1)."""

    description = "The request carries no access token."

    def __init__(self, challenge: str = "Bearer"):
        super().__init__()
        self.challenge = challenge

    def get_headers(self):
        return [*OAuth2Error.get_headers(self), ("WWW-Authenticate", self.challenge)]


class InvalidDPoPProofError(OAuth2Error):
    """``invalid_dpop_proof`` (RFC 9449 §12.2): 400 at the token endpoint; 401 with a DPoP challenge
    at a resource (§7.1), whose ``headers`` the protector gives."""

    error = "invalid_dpop_proof"
    status_code = 400

    def __init__(self, description: str, status_code: int = 400, headers=()):
        super().__init__(description, status_code=status_code)
        self.extra_headers = list(headers)

    def get_headers(self):
        return [*super().get_headers(), *self.extra_headers]


class UseDPoPNonceError(InvalidDPoPProofError):
    """``use_dpop_nonce`` (RFC 9449 §8): retry with the nonce in the ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"


class DPoPTokenError(InvalidTokenError):
    """401 ``invalid_token`` for a request that used the DPoP scheme: a DPoP challenge (RFC 9449 §7.1)."""

    def __init__(self, description: str, challenge: str):
        super().__init__(description)
        self.challenge = challenge

    def get_headers(self):
        return [*OAuth2Error.get_headers(self), ("WWW-Authenticate", self.challenge)]


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


# What a browser is told, by status; the JSON body keeps the RFC code and description.
PAGES = {
    400: ("This request could not be understood", "Go back, check what you typed and try again."),
    403: ("You don't have access to this page",
          "This page is for operators. Ask an administrator if you need access."),
    404: ("Not found", "There is nothing here, or it belongs to someone else."),
    405: ("This request could not be understood", "Go back, check what you typed and try again."),
    413: ("This request is too large", "Go back and try again with less."),
}
PAGE_OTHERWISE = ("Something went wrong", "The server could not complete the request. Please try again.")


class UnknownClientError(InvalidRequestError):
    """An authorization request from an unknown client, or to a redirect URI it did not register:
    shown to the user as a page, never redirected (RFC 6749 §4.1.2.1)."""

    page = ("This sign-in link is not valid", "The app that sent you here is not registered with this server, "
                                              "or asked to send you back somewhere it is not allowed to. "
                                              "Nothing was shared with it.")


class UnregisteredLogoutRedirect(InvalidRequestError):
    """An end-session request (OpenID Connect logout) naming a post_logout_redirect_uri its app did not
    register: a page, never a redirect, and nobody is signed out."""

    page = ("This sign-out link is not valid", "The app that sent you here asked to send you back somewhere it "
                                                "is not allowed to. You have not been signed out.")


class ClientDocumentError(InvalidClientError):
    """An authorization request whose client id is a metadata document's URL that cannot be used: a page
    with ``invalid_client``, never a redirect to the URIs the document names."""

    status_code = 400
    page = ("This sign-in link is not valid", "The app that sent you here describes itself in a document this "
                                              "server could not use. Nothing was shared with it.")


class FormExpiredError(InvalidRequestError):
    """A web form whose CSRF token is missing, expired or of another sign-in (Flask-WTF)."""

    page = ("This form has expired", "For your security, forms stop working after a while or when you sign "
                                     "in again. Go back, reload the page and try once more.")


def from_http_exception(error: HTTPException) -> OAuth2Error:
    """Werkzeug's HTTP errors (unknown URL, wrong method, body too large, abort(400)...) as ours."""
    description = printable(error.description or error.name)
    if isinstance(error, CSRFError):
        return FormExpiredError(description)
    if error.code == 404:
        return NotFoundError(description)
    if error.code == 405:
        return MethodNotAllowedError(description, tuple(getattr(error, "valid_methods", None) or ()))
    if error.code and error.code >= 500:
        return ServerError()
    return InvalidRequestError(description, status_code=error.code)


def printable(text: str) -> str:
    """RFC 6749 allows only printable ASCII without '"' and '\\' in error_description (Authlib refuses
    anything else), so text from the request goes through this before it is quoted in one."""
    bad = set(invalid_error_characters(text))
    return "".join(char for char in text if char not in bad)


def render(error: OAuth2Error) -> Response:
    status, body, headers = error()
    if request.blueprint == WEB_BLUEPRINT:
        title, message = getattr(error, "page", None) or PAGES.get(status, PAGE_OTHERWISE)
        page = render_template("error.html", code=status, title=title, message=message)
        extra = [(name, value) for name, value in headers if name in ("Allow", "Retry-After")]
        return Response(page, status=status, headers=extra, mimetype="text/html")
    response = Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


POLL_ERRORS = {
    "authorization_pending": AuthorizationPendingError,
    "slow_down": SlowDownError,
    "access_denied": AccessDeniedError,
    "expired_token": ExpiredTokenError,
    "invalid_grant": InvalidGrantError,
}


# What the caller is told for each refusal decided below HTTP: the one mapping, one line per domain
# error. A subclass without a line of its own gets its nearest ancestor's.
ANSWERS: dict[type, Callable[[DomainError], OAuth2Error]] = {
    Throttled: lambda error: TemporarilyUnavailable(f"Too many {error.what}; retry later.", 429, error.retry_after),
    RefreshTokenInvalid: lambda _: InvalidGrantError("The refresh token is invalid, expired or revoked."),
    ScopeNotGranted: lambda _: InvalidScopeError("The requested scope exceeds the scope originally granted."),
    TargetInvalid: lambda error: InvalidTargetError(printable(str(error))),
    CodeInvalid: lambda _: InvalidGrantError("The authorization code is invalid, expired or already used."),
    LegacySessionInvalid: lambda _: InvalidGrantError("The legacy session is unknown, already exchanged or expired."),
    PollRefused: lambda error: POLL_ERRORS[error.error](),
    StreamRefused: lambda error: InvalidRequestError(printable(str(error))),
    StreamNotFound: lambda _: NotFoundError("No such stream."),
    RegistrationTokenInvalid: lambda _: InvalidTokenError(
        "The registration token is invalid, expired, spent or another client's."),
    MetadataDocumentRefused: lambda error: ClientDocumentError(
        printable(f"The client metadata document cannot be used: {error.reason}")[:300]),
    UserNotFound: lambda _: NotFoundError("No such user."),
    AccountError: lambda error: InvalidRequestError(printable(str(error))),
    # Retryable, not a grant error: the old refresh token (say) still works.
    DatabaseBusy: lambda _: TemporarilyUnavailable("The request conflicted with another; retry.", 409),
    DatabaseUnavailable: lambda _: TemporarilyUnavailable("The server cannot complete the request now; retry.", 503),
    ValueNotStorable: lambda _: InvalidRequestError("A value in the request cannot be stored."),
    DPoPProofInvalid: lambda error: InvalidDPoPProofError(printable(str(error))),
    DPoPNonceRequired: lambda error: UseDPoPNonceError("Send the proof again with the server's nonce.",
                                                       headers=[("DPoP-Nonce", error.nonce)]),
}


def oauth_error(error: DomainError) -> OAuth2Error:
    """What the caller is told for a refusal decided below HTTP (:data:`ANSWERS`)."""
    for cls in type(error).__mro__:
        if cls in ANSWERS:
            return ANSWERS[cls](error)
    raise TypeError(f"no answer for {type(error).__name__}")  # a new DomainError needs its line in ANSWERS


def answer(error: DomainError) -> Response:
    """The response to a domain error (:func:`oauth_error`); a database failure is logged first, the
    detail in the log only."""
    if isinstance(error, DatabaseBusy):
        log.warning("lock contention on %s", request.path)
    elif isinstance(error, ValueNotStorable):
        log.warning("value refused by the database on %s: %s", request.path, error.driver_error)
    elif isinstance(error, DatabaseUnavailable):
        log.exception("database error on %s", request.path)
    return render(oauth_error(error))


def register_error_handlers(app, rollback: Callable[[], None]) -> None:
    """Render every error the app raises. ``rollback`` ends the request's transaction (the unit of
    work's, ``store/database.py``) before a 5xx is rendered: what a failed request wrote is not
    kept, and the error page can still read."""

    @app.errorhandler(OAuth2Error)
    def protocol_error(error):
        if error.status_code >= 500:
            rollback()
        return render(error)

    @app.errorhandler(DomainError)
    def domain_error(error):
        if oauth_error(error).status_code >= 500 or not error.keeps_writes:
            rollback()
        return answer(error)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return render(from_http_exception(error))

    @app.errorhandler(Exception)
    def unexpected_error(error):
        rollback()
        log.exception("unexpected error on %s", request.path)
        return render(ServerError())
