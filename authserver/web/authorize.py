"""The authorization endpoint (RFC 6749 §4.1.1) and its consent page, for third-party apps.

A signed-out browser signs in first (the ordinary sign-in page, which comes back here). A request
from an unknown client, or naming a redirect URI the client did not register, gets an error page:
it is never redirected (§4.1.2.1). Every other problem (response type, scope, PKCE) goes back to
the app as ``error`` with ``state``. A first-party client, or one the user already allowed these
scopes, gets its code at once; otherwise the user sees "App X wants to: ..." and allows or denies.
Every redirect to the app carries ``iss`` (RFC 9207). OpenID Connect's ``prompt`` and ``max_age``
decide whether the user signs in again and sees the consent page (``oauth/oidc/prompt.py``).

A client that registered itself (RFC 7591, or a Client ID Metadata Document, fetched here when no fresh
copy is stored: ``oauth/registration/metadata_documents.py``) always gets the consent page, which says so
(and names the document's host); a document that cannot be used is an error page, never a redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from flask import current_app
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from ..accounts import resources
from ..errors import OAuth2Error
from ..errors import TargetInvalid
from ..errors import UnknownClientError
from ..errors import oauth_error
from ..http import paths
from ..oauth.oidc.prompt import LOGIN
from ..oauth.oidc.prompt import Prompt
from ..oauth.registration.metadata_documents import authorizing_client
from ..openapi.document import DATABASE_PAGES
from ..openapi.document import browser_session
from ..openapi.document import operation
from ..openapi.document import page_response
from ..openapi.document import redirect_response
from ..scopes import describe
from ..scopes import granted_scope
from ..services import current_services
from ..store import consents
from ..store.models import REGISTERED_BY_DOCUMENT
from ..store.models import Client
from .blueprint import bp
from .blueprint import csrf_form
from .browser_sessions import send_to_signin
from .headers import SECURITY_HEADERS

ALLOW = "allow"

# For /openapi.json: the authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3), in the query of both methods.
TEXT = {"type": "string"}
AUTHORIZATION_REQUEST = {
    "response_type": {"required": True, "schema": {"const": "code"}},
    "client_id": {"required": True, "schema": TEXT},
    "redirect_uri": {"schema": TEXT, "description": "Exactly as registered; optional if the client has one."},
    "scope": {"schema": TEXT},
    "state": {"schema": TEXT, "description": "Returned unchanged to the client."},
    "code_challenge": {"schema": TEXT, "description": "PKCE (RFC 7636); required for public clients."},
    "code_challenge_method": {"schema": {"const": "S256"}},
    "nonce": {"schema": {"type": "string", "maxLength": 255},
              "description": "OpenID Connect: returned in the ID token."},
    "prompt": {"schema": TEXT, "description": "OpenID Connect: `none`, `login`, `consent` (space-separated)."},
    "max_age": {"schema": {"type": "string", "pattern": "^[0-9]+$"},
                "description": "OpenID Connect: seconds since the user signed in, beyond which they sign in again."},
    "resource": {"schema": {"type": "array", "items": TEXT}, "style": "form", "explode": True,
                 "description": "RFC 8707: a registered resource the token is for (`aud`); may be repeated. "
                                "Unregistered, relative or with a fragment: `error=invalid_target`."},
}
TO_CLIENT = redirect_response("To the client's redirect URI with `code` or `error`, `state` and `iss` (RFC 9207); or, "
                              "when the browser is not signed in (or must sign in again: `prompt=login`, "
                              "`max_age`), to `/signin` and back here after.")
NOT_A_CLIENT = page_response("An unknown client, or a redirect URI it did not register (never redirected, "
                             "RFC 6749 §4.1.2.1); an expired form.")
SIGNED_IN_OR_NOT = browser_session() + [{}]


@bp.route(paths.AUTHORIZATION, methods=["GET", "POST"])
@operation("get", summary="Authorization endpoint (RFC 6749 §4.1, PKCE)", tags=["web"], security=SIGNED_IN_OR_NOT,
           description="A first-party client, or one the user already allowed these scopes, gets its code at once; "
                       "otherwise the user sees the consent page.",
           query=AUTHORIZATION_REQUEST,
           responses={200: page_response("The consent page: the app and what it asks for, Allow and Deny."),
                      302: TO_CLIENT, 400: NOT_A_CLIENT, **DATABASE_PAGES})
@operation("post", summary="Allow or deny an app (the consent page's form)", tags=["web"],
           security=browser_session(), query=AUTHORIZATION_REQUEST,
           body=csrf_form("The decision.", decision={"enum": [ALLOW, "deny"]}),
           responses={302: TO_CLIENT, 400: NOT_A_CLIENT, **DATABASE_PAGES})
def authorize():
    client, redirect_uri = registered_client_and_redirect_uri()
    server = current_app.extensions["authserver.oauth"]
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        if not error.redirect_uri:
            raise
        return to_client(server.handle_response(*error()))
    try:
        prompt = Prompt.of(request.args)  # OpenID Connect's prompt and max_age
        if prompt.needs_sign_in(g.device_session, current_services().clock.now()):
            return sign_in_first(prompt)
        user = g.device_session.user
        targets = resources.registered(grant.request.payload.datalist.get("resource"))  # RFC 8707
        scope = granted_scope(client, user, grant.request.payload.scope,  # `admin` only for admins
                              resource_limits=[target.scope_limit for target in targets])
        # A client that registered itself is nobody's vouching: its user is asked every time.
        if request.method == "GET" and prompt.shows_consent(not client.is_self_registered and (
                client.first_party or consents.has_consent(user.id, client.client_id, scope))):
            return consent_page(client, scope, redirect_uri, targets)
    except (OAuth2Error, TargetInvalid) as error:
        error = oauth_error(error) if isinstance(error, TargetInvalid) else error
        error.redirect_uri, error.state = redirect_uri, grant.request.payload.state
        return to_client(server.handle_response(*error()))
    if request.method == "POST":
        if request.form.get("decision") != ALLOW:
            return to_client(server.create_authorization_response(grant=grant, grant_user=None))
        consents.remember_consent(user.id, client.client_id, scope, current_services().clock.now())
    return to_client(server.create_authorization_response(grant=grant, grant_user=user))


def sign_in_first(prompt: Prompt):
    """To the sign-in page, and back here after. A sign-in that ``prompt=login`` or ``max_age`` asks
    for shows the page even to a signed-in browser, and comes back without them (they are met)."""
    if not prompt.forces_sign_in:
        return send_to_signin()
    return redirect(url_for("web.signin", next=Prompt.after_sign_in(request.path, request.args), prompt=LOGIN))


def registered_client_and_redirect_uri() -> tuple[Client, str]:
    """The client and where to send the browser back; an error page if either is unknown."""
    client_id = request.args.get("client_id")
    client = authorizing_client(client_id) if client_id else None  # a metadata document's is fetched if need be
    if client is None:
        raise UnknownClientError("Unknown client_id.")
    redirect_uri = request.args.get("redirect_uri")
    if redirect_uri is None and len(client.redirect_uri_list) == 1:
        return client, client.redirect_uri_list[0]
    if redirect_uri is None or not client.check_redirect_uri(redirect_uri):
        # Exact match only (RFC 9700 §4.1.3); with several registered, the request must name one.
        raise UnknownClientError("The redirect_uri is not registered for this client.")
    return client, redirect_uri


def consent_page(client: Client, scope: str, redirect_uri: str, targets=()):
    # A metadata document's client is known by where its document is: the consent page names that host.
    document_host = urlsplit(client.client_id).hostname if client.registration == REGISTERED_BY_DOCUMENT else None
    page = render_template("consent.html", client=client, scopes=describe(scope), action=request.full_path,
                           document_host=document_host,
                           resources=[(target.name or target.uri, target.uri) for target in targets])
    response = current_app.make_response(page)
    # The form's POST is answered by a redirect to the app; Chromium applies form-action to it.
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = csp.replace("form-action 'self'",
                                                              f"form-action 'self' {origin_of(redirect_uri)}")
    return response


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"  # a native app's private-use scheme (RFC 8252 §7.1)


def to_client(response):
    """An authorization response (code or error, a redirect) with ``iss`` added (RFC 9207)."""
    if response.location:
        response.location = add_params_to_uri(response.location, [("iss", current_services().settings.issuer)])
    return response
