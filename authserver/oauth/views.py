"""HTTP endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662), device
authorization (RFC 8628), JWKS (RFC 7517), server metadata (RFC 8414), and OpenID Connect's
discovery and UserInfo (``oidc/``; its end-session endpoint has pages: ``web/logout.py``). Each view checks the
request (``request_checks.py``), then lets Authlib answer; errors are raised and rendered by the
app's one handler (``errors.py``)."""

from __future__ import annotations

import hashlib

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request

from ..api.protector import REFUSED
from ..api.protector import current_token
from ..api.protector import require_oauth
from ..http import paths
from ..http.caching import cacheable
from ..openapi.document import BASIC_CHALLENGE
from ..openapi.document import DATABASE_ERRORS
from ..openapi.document import NO_STORE
from ..openapi.document import RETRY_AFTER
from ..openapi.document import bearer
from ..openapi.document import client_auth
from ..openapi.document import error_response
from ..openapi.document import form
from ..openapi.document import json_response
from ..openapi.document import no_content
from ..openapi.document import operation
from ..openapi.document import schema
from ..openapi.oauth import DEVICE_AUTHORIZATION_FORM
from ..openapi.oauth import DEVICE_AUTHORIZATION_RESPONSE
from ..openapi.oauth import DPOP_PROOF
from ..openapi.oauth import GRANT_FORMS
from ..openapi.oauth import INTROSPECTION_RESPONSE
from ..openapi.oauth import JWKS
from ..openapi.oauth import TOKEN_FORM
from ..openapi.oauth import TOKEN_RESPONSE
from ..openapi.oidc import USER_INFO
from ..openapi.oidc import openid_provider_metadata_schema
from ..scopes import OPENID_SCOPE
from ..services import current_services
from ..tokens.dpop import NONCE_HEADER
from ..tokens.dpop import use_proof
from .endpoints.device_authorization import DeviceAuthorizationEndpoint
from .endpoints.introspection import IntrospectionEndpoint
from .endpoints.metadata import metadata_schema
from .endpoints.metadata import server_metadata
from .endpoints.revocation import RevocationEndpoint
from .oidc.claims import user_info
from .oidc.discovery import openid_configuration
from .request_checks import REPEATABLE
from .request_checks import check_token_request
from .server import GRANTS

bp = Blueprint("oauth", __name__)
oidc_bp = Blueprint("oidc", __name__)  # OpenID Connect's endpoints (their own operation ids in /openapi.json)

# Every method is routed so that a wrong one gets an OAuth error (405 with Allow: POST), not HTML;
# OPTIONS too, instead of Flask's automatic answer (these endpoints are not for browsers' CORS).
ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def authorization_server():
    return current_app.extensions["authserver.oauth"]


# What the token, revocation and introspection endpoints may answer besides their own results.
THROTTLED = error_response("`temporarily_unavailable`: this address failed client authentication or presented "
                           "tokens that are not ours too often, or this client presented too many tokens not ours "
                           "(the lookup budgets).", RETRY_AFTER)
INVALID_CLIENT = error_response("`invalid_client`: client authentication failed (unknown client, wrong secret, "
                                "another method than the registered one).", BASIC_CHALLENGE)
BAD_FORM = ("`invalid_request`: not a UTF-8 form body, a repeated parameter (but `resource`), a missing one, or client "
            "credentials in both Basic and the body")
METADATA = schema("AuthorizationServerMetadata", metadata_schema())
OPENID_PROVIDER_METADATA = openid_provider_metadata_schema(METADATA)
# One form per enabled grant (server.GRANTS), told apart by ``grant_type``.
TOKEN_REQUEST = form({"oneOf": [GRANT_FORMS[grant.GRANT_TYPE] for grant, _extensions in GRANTS]},
                     "The grant's parameters, and the client's credentials unless sent with Basic.")


def refused(bad_request: str) -> dict:
    """What the revocation, introspection and device authorization endpoints answer but their result."""
    return {400: error_response(bad_request), 401: INVALID_CLIENT, 429: THROTTLED, **DATABASE_ERRORS}


def token_parameter(description: str) -> dict:
    """The form of revocation and introspection: the ``token`` (and the client's credentials)."""
    return form({"type": "object", "required": ["token"], "properties": TOKEN_FORM}, description)


def endpoint_response(endpoint, repeatable=frozenset()):
    check_token_request(request, repeatable=repeatable)
    return authorization_server().create_endpoint_response(endpoint.ENDPOINT_NAME)


@bp.route(paths.TOKEN, methods=ANY_METHOD, provide_automatic_options=False)
@operation("post", summary="Issue tokens (RFC 6749 §3.2)", tags=["token"], security=client_auth(),
           description="Every other method is answered 405 with `Allow: POST`.",
           body=TOKEN_REQUEST, other_methods_refused=True, headers=DPOP_PROOF, responses={
               200: json_response("Tokens.", TOKEN_RESPONSE, NO_STORE),
               400: error_response(f"{BAD_FORM}; `unsupported_grant_type`; `invalid_grant` (wrong password, "
                                   "dead refresh token, spent or unknown code); `invalid_scope`; `invalid_target` "
                                   "(RFC 8707: a `resource` not registered, malformed, or not the grant's); "
                                   "`unauthorized_client` (the client is not registered for the grant); while "
                                   "polling with a device code, `authorization_pending`, `slow_down`, "
                                   "`access_denied`, `expired_token` (RFC 8628 §3.5); in a token exchange, "
                                   "`invalid_target` (an audience or resource not registered, RFC 8693 §2.2.2); "
                                   "`invalid_dpop_proof` (a DPoP proof that fails a check of RFC 9449 §4.3, a second "
                                   "DPoP header, none from a client registered with `--dpop`); `use_dpop_nonce` with "
                                   "`DPoP-Nonce` (nonces on)."),
               401: INVALID_CLIENT,
               **DATABASE_ERRORS,
               429: error_response("`temporarily_unavailable`: a failure budget is spent: the lookup budgets "
                                   "(failed client authentications, tokens not ours) or, for the password grant, "
                                   "the sign-in budgets (wrong passwords per username and address, per address, per "
                                   "username).", RETRY_AFTER),
           })
def token():
    check_token_request(request, token_endpoint=True, repeatable=REPEATABLE)
    services = current_services()
    # RFC 9449 §5: a proof is checked before anything else; the grants and the token generator read it.
    use_proof(services.dpop.check(request.headers, "POST", services.settings.issuer + paths.TOKEN))
    response = authorization_server().create_token_response()
    return with_fresh_nonce(services, response)


def with_fresh_nonce(services, response):
    """RFC 9449 §8.2: with nonces on, every answer hands out the current one."""
    nonce = services.dpop.fresh_nonce()
    if nonce is not None:
        response.headers[NONCE_HEADER] = nonce
    return response


@bp.route(paths.REVOCATION, methods=ANY_METHOD, provide_automatic_options=False)
@operation("post", summary="Revoke a token (RFC 7009)", tags=["tokens"], security=client_auth(),
           description="A refresh token ends its device session (log out); an access token is denied until it "
                       "expires. An unknown token, or another client's, is answered 200 and left alone.",
           body=token_parameter("The token to revoke."), other_methods_refused=True, responses={
               200: json_response("Revoked, or nothing to revoke.", {"type": "object", "maxProperties": 0}),
               **refused(f"{BAD_FORM}."),
           })
def revoke():
    return endpoint_response(RevocationEndpoint)


@bp.route(paths.INTROSPECTION, methods=ANY_METHOD, provide_automatic_options=False)
@operation("post", summary="Introspect a token (RFC 7662)", tags=["tokens"], security=client_auth(),
           description="For clients registered with `--introspect` (never public clients).",
           body=token_parameter("The token to look at."), other_methods_refused=True, responses={
               200: json_response("What is known of the token.", INTROSPECTION_RESPONSE, NO_STORE),
               **refused(f"{BAD_FORM}."),
           })
def introspect():
    return endpoint_response(IntrospectionEndpoint)


@bp.route(paths.DEVICE_AUTHORIZATION, methods=ANY_METHOD, provide_automatic_options=False)
@operation("post", summary="Start a device authorization (RFC 8628)", tags=["device"], security=client_auth(),
           description="For clients registered with the device code grant (TVs, CLIs, sensors). The approval "
                       "opens a restricted device session.",
           body=form(DEVICE_AUTHORIZATION_FORM, "What the device asks for, and the client's credentials unless "
                                                "sent with Basic."),
           other_methods_refused=True, responses={
               200: json_response("The codes to show and to poll with.", DEVICE_AUTHORIZATION_RESPONSE, NO_STORE),
               **refused(f"{BAD_FORM}; `invalid_scope`; `invalid_target` (RFC 8707); `unauthorized_client` (the "
                         "client is not registered for the device code grant)."),
           })
def device_authorization():
    return endpoint_response(DeviceAuthorizationEndpoint, REPEATABLE)


@bp.route(paths.JWKS)
@operation("get", summary="The signing keys (RFC 7517)", tags=["tokens"],
           headers={"If-None-Match": {"schema": {"type": "string"}, "description": "The `ETag` of a cached copy."}},
           responses={200: json_response("The public keys, cacheable for `AUTHSERVER_JWKS_MAX_AGE_SECONDS`, with a "
                                         "strong `ETag`.", JWKS),
                      304: no_content("The cached copy named by `If-None-Match` is current.")})
def jwks():
    """The public keys, with ``Cache-Control`` and a strong ``ETag`` (the digest of the body, the same
    on every node holding the same keys): a resource server revalidating its copy with
    ``If-None-Match`` gets ``304 Not Modified`` until a key is added or retired."""
    services = current_services()
    response = cacheable(jsonify(services.keyring.jwks()), services.settings.jwks_max_age_seconds)
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest())
    return response.make_conditional(request)


@bp.route(paths.METADATA)
@operation("get", summary="Authorization server metadata (RFC 8414)", tags=["discovery"],
           responses={200: json_response("Where every endpoint is and what it supports.", METADATA)})
def metadata():
    return cacheable(jsonify(server_metadata(current_services().settings)))


@oidc_bp.route(paths.OPENID_CONFIGURATION)
@operation("get", summary="OpenID Provider metadata (OpenID Connect Discovery 1.0)", tags=["discovery"],
           responses={200: json_response("The RFC 8414 metadata, and what OpenID Connect relying parties need "
                                         "besides.", OPENID_PROVIDER_METADATA)})
def openid_provider_metadata():
    return cacheable(jsonify(openid_configuration(current_services().settings)))


USER_INFO_ANSWERS = {200: json_response("The token's user, as its scopes allow.", USER_INFO, NO_STORE), **REFUSED}
USER_INFO_TOKEN = "A live access token with the `openid` scope, issued to a user."


@oidc_bp.route(paths.USERINFO, methods=["GET", "POST"])
@operation("get", summary="UserInfo (OpenID Connect Core 1.0 §5.3)", tags=["account"], security=bearer("openid"),
           description=USER_INFO_TOKEN, responses=USER_INFO_ANSWERS)
@operation("post", summary="UserInfo (OpenID Connect Core 1.0 §5.3)", tags=["account"], security=bearer("openid"),
           description=USER_INFO_TOKEN, responses=USER_INFO_ANSWERS)
@require_oauth(OPENID_SCOPE)
def userinfo():
    """``sub`` and the claims the access token's scopes allow (``oidc/claims.py``), for a live token
    holding ``openid``. The token is checked by the APIs' one validator (``api/protector.py``): a token
    of an ended device session, revoked or expired, gets 401 ``invalid_token``; one without ``openid``,
    or a client's own, 403 ``insufficient_scope``."""
    response = jsonify(user_info(current_token.device_session.user, current_token.get("scope") or ""))
    response.headers["Cache-Control"] = "no-store"
    return response
