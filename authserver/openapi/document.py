"""The OpenAPI 3.1 description of every HTTP endpoint (``GET /openapi.json``), built from the code.

Each view declares what it answers right under its route, with :func:`operation`::

    @bp.delete("/<session_id>")
    @operation("delete", summary="End one of your sessions", tags=["sessions"], security=bearer(),
               responses={204: no_content("Ended, or had already ended."), 404: error_response("`not_found`")})
    @require_oauth()
    def end_session(session_id): ...

:func:`build_document` walks the app's URL map, so the paths, methods and path parameters are the
routes themselves and the document cannot list an endpoint that is gone; ``tests/openapi/test_document.py``
fails when a route has no declaration. Named JSON shapes (:func:`schema`) are declared beside the
views that answer them (e.g. a session next to ``session_json``), or, for the OAuth endpoints, in
``openapi/oauth.py``, so that protocol code holds no OpenAPI; the document's
``components/schemas`` are those its operations name, collected when it is built.

Every operation also gets the answers any request may get, whatever the view: 400 for a NUL
character in a parameter, 413 for a body over 64 KiB, 500 for an unexpected failure; JSON in the
one error shape of ``errors.py``, or an HTML page for the web pages. A view that touches the
database declares 503 itself (``UNAVAILABLE``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Blueprint
from flask import current_app
from flask import jsonify

from ..errors import WEB_BLUEPRINT
from ..http import paths
from ..http.caching import cacheable
from ..scopes import DESCRIPTIONS

OPENAPI_VERSION = "3.1.0"
ALWAYS_ROUTED = {"HEAD", "OPTIONS"}  # added by Flask to every route; not operations of their own

bp = Blueprint("openapi", __name__)


@dataclass(frozen=True, eq=False)
class Schema:
    """A named JSON Schema: ``components/schemas/<name>`` in the document, a ``$ref`` where it is used."""

    name: str
    definition: dict


def schema(name: str, definition: dict) -> Schema:
    """A named JSON Schema, to use in declarations wherever a schema goes."""
    return Schema(name, definition)


def with_references(value, components: dict[str, dict]):
    """``value`` with every :class:`Schema` in it replaced by its ``$ref``, and its definition (its
    own named schemas replaced too) added to ``components``."""
    if isinstance(value, Schema):
        definition = with_references(value.definition, components)
        if components.setdefault(value.name, definition) != definition:
            raise ValueError(f"two different schemas are named {value.name}")
        return {"$ref": f"#/components/schemas/{value.name}"}
    if isinstance(value, dict):
        return {key: with_references(item, components) for key, item in value.items()}
    if isinstance(value, list):
        return [with_references(item, components) for item in value]
    return value


ERROR = schema("Error", {
    "description": "Every error (RFC 6749 §5.2, RFC 6750 §3.1). `error_description` is printable ASCII "
                   "for people; programs act on `error`.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "examples": ["invalid_request", "invalid_grant", "invalid_token"]},
        "error_description": {"type": "string"},
    },
    "additionalProperties": False,
})


# -- declaring operations -----------------------------------------------------------------------
def operation(method: str, *, summary: str, tags: list[str], responses: dict, description: str | None = None,
              security: list | None = None, parameters: dict | None = None, query: dict | None = None,
              headers: dict | None = None, body: dict | None = None, other_methods_refused: bool = False):
    """Declare one method of the view below it.

    ``responses`` maps status codes to :func:`json_response`, :func:`error_response`,
    :func:`page_response`... (the common ones are added); ``parameters`` describes path parameters
    by name (the names come from the route); ``query`` and ``headers`` the optional query and
    header parameters; ``body`` a request body (:func:`form`). ``other_methods_refused``: the view
    is routed for every method and answers the others 405, which need no operation.
    """
    declared = {
        "summary": summary, "description": description, "tags": tags, "responses": responses,
        "security": security, "parameters": parameters or {}, "query": query or {}, "headers": headers or {},
        "body": body,
    }

    def decorate(view):
        operations = view.__dict__.setdefault("openapi_operations", {})
        if method.lower() in operations:
            raise ValueError(f"{view.__name__}: {method} is declared twice")
        operations[method.lower()] = declared
        if other_methods_refused:
            view.openapi_other_methods_refused = True
        return view

    return decorate


def json_response(description: str, body_schema: dict, headers: dict | None = None) -> dict:
    return _response(description, "application/json", body_schema, headers)


def error_response(description: str, headers: dict | None = None) -> dict:
    """An error in the one JSON shape; ``description`` names the `error` codes and when."""
    return _response(description, "application/json", ERROR, headers)


def page_response(description: str, headers: dict | None = None) -> dict:
    return _response(description, "text/html", {"type": "string"}, headers)


def redirect_response(description: str) -> dict:
    return {"description": description, "headers": {"Location": _header("Where to go.", required=True)}}


def no_content(description: str) -> dict:
    return {"description": description}


def _response(description, media_type, body_schema, headers):
    response = {"description": description, "content": {media_type: {"schema": body_schema}}}
    if headers:
        response["headers"] = headers
    return response


def _header(description: str, required: bool = False, header_schema: dict | None = None) -> dict:
    return {"description": description, "required": required, "schema": header_schema or {"type": "string"}}


RETRY_AFTER = {"Retry-After": _header("Seconds to wait before retrying.", True, {"type": "integer", "minimum": 0})}
BEARER_CHALLENGE = {"WWW-Authenticate": _header("`Bearer`, with `error` once a token was sent (RFC 6750 §3).", True)}
BASIC_CHALLENGE = {"WWW-Authenticate": _header("`Basic` (RFC 6749 §5.2).", True)}
NO_STORE = {"Cache-Control": _header("`no-store`.", True)}

UNAVAILABLE = error_response("`temporarily_unavailable`: the database cannot be used now; retry after `Retry-After`.",
                    RETRY_AFTER)
CONFLICT = error_response("`temporarily_unavailable`: a parallel request held the lock (e.g. the same refresh token "
                 "presented twice at once); retry after `Retry-After`.", RETRY_AFTER)

DATABASE_ERRORS = {409: CONFLICT, 503: UNAVAILABLE}
DATABASE_PAGES = {409: page_response("A parallel request held the lock; retry.", RETRY_AFTER),
                  503: page_response("The database cannot be used now; retry.", RETRY_AFTER)}


def form(body_schema: dict, description: str) -> dict:
    return {"required": True, "description": description,
            "content": {"application/x-www-form-urlencoded": {"schema": body_schema}}}


def json_body(body_schema, description: str) -> dict:
    return {"required": True, "description": description, "content": {"application/json": {"schema": body_schema}}}


# -- security -----------------------------------------------------------------------------------
CLIENT_BASIC = "clientBasic"
INITIAL_ACCESS_TOKEN = "initialAccessToken"
REGISTRATION_ACCESS_TOKEN = "registrationAccessToken"
OAUTH2 = "oauth2"
BROWSER = "browserSession"


def client_auth() -> list:
    """RFC 6749 §2.3: HTTP Basic (`client_secret_basic`), or `client_id` (and `client_secret`) in
    the form for `client_secret_post` and public clients: hence the empty alternative."""
    return [{CLIENT_BASIC: []}, {}]


def bearer(*scopes: str) -> list:
    return [{OAUTH2: list(scopes)}]


def browser_session() -> list:
    return [{BROWSER: []}]


def security_schemes(issuer: str, cookie_name: str) -> dict:
    token_url = issuer + paths.TOKEN
    scopes = dict(DESCRIPTIONS)
    return {
        CLIENT_BASIC: {
            "type": "http", "scheme": "basic",
            "description": "Client authentication `client_secret_basic` (RFC 6749 §2.3.1): the client id and "
                           "secret, each form-urlencoded, as Basic credentials. A client registered for "
                           "`client_secret_post` sends `client_id` and `client_secret` in the form instead, a "
                           "public client (`none`) only `client_id`. Each client uses the one method it was "
                           "registered with.",
        },
        OAUTH2: {
            "type": "oauth2",
            "description": "An access token from the token endpoint, sent as `Authorization: Bearer …` "
                           "(RFC 6750 §2.1): an RS256 JWT (RFC 9068). Scopes are those registered for each "
                           "client; the ones listed here mean something to this server. The device "
                           "authorization grant (RFC 8628, `device_authorization_endpoint` in the metadata) has "
                           "no OpenAPI flow; its tokens belong to restricted device sessions.",
            "flows": {
                "authorizationCode": {"authorizationUrl": issuer + paths.AUTHORIZATION, "tokenUrl": token_url,
                                      "refreshUrl": token_url, "scopes": scopes},
                "clientCredentials": {"tokenUrl": token_url, "scopes": scopes},
                "password": {"tokenUrl": token_url, "refreshUrl": token_url, "scopes": scopes},
            },
        },
        INITIAL_ACCESS_TOKEN: {
            "type": "http", "scheme": "bearer",
            "description": "An initial access token (RFC 7591 §3) from `authserver clients registration-token`, "
                           "needed to register while `AUTHSERVER_CLIENT_REGISTRATION=token` (not when `open`).",
        },
        REGISTRATION_ACCESS_TOKEN: {
            "type": "http", "scheme": "bearer",
            "description": "The `registration_access_token` a registration answered (RFC 7592 §1): it reads, "
                           "changes and deletes that one client.",
        },
        BROWSER: {
            "type": "apiKey", "in": "cookie", "name": cookie_name,
            "description": "The web pages' signed session cookie, set by signing in at `/signin`. Forms also "
                           "carry a CSRF token (`csrf_token`) from the page that shows them.",
        },
    }


# -- building the document ----------------------------------------------------------------------
def openapi_path(rule) -> str:
    """``/api/sessions/<session_id>`` → ``/api/sessions/{session_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def documented_rules(app):
    """(rule, view) of every route but the static files."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        yield rule, app.view_functions[rule.endpoint]


def undocumented_methods(rule, view) -> set[str]:
    """The methods a route answers that need an operation and have none."""
    if getattr(view, "openapi_other_methods_refused", False):
        return set()
    declared = {method.upper() for method in getattr(view, "openapi_operations", {})}
    return set(rule.methods) - ALWAYS_ROUTED - declared


def build_document(app) -> dict:
    settings = app.extensions["authserver"].settings
    items: dict[str, dict] = {}
    schemas: dict[str, dict] = {}  # the named schemas the operations use, collected as they are met
    for rule, view in sorted(documented_rules(app), key=lambda item: item[0].rule):
        for method, declared in getattr(view, "openapi_operations", {}).items():
            if method.upper() not in rule.methods:
                raise ValueError(f"{rule.endpoint}: {method.upper()} is declared but not routed")
            web = rule.endpoint.partition(".")[0] == WEB_BLUEPRINT
            items.setdefault(openapi_path(rule), {})[method] = with_references(
                _operation(rule, method, declared, web), schemas)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "authserver",
            "version": _version(),
            "description": "An OAuth 2.0 authorization server with device sessions and rotating refresh "
                           "tokens. Clients discover the OAuth endpoints from the RFC 8414 metadata at "
                           "`/.well-known/oauth-authorization-server`. Errors are JSON "
                           "`{\"error\", \"error_description\"}`, except on the web pages (HTML).",
        },
        "servers": [{"url": settings.issuer}],
        "tags": [{"name": name, "x-displayName": title, "description": description}
                 for name, title, description in TAGS],
        "paths": items,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": security_schemes(settings.issuer, app.config["SESSION_COOKIE_NAME"]),
        },
    }


# The tags of the operations, grouped by what a reader comes to do: (name, title, description), in the
# order /docs shows them, each group under its title (the tag's x-displayName).
TAGS = (
    ("oauth", "OAuth: signing a user in to an app",
     "The browser's part of OAuth 2.0 and OpenID Connect: the authorization endpoint and its consent page, and "
     "signing out (RP-Initiated Logout)."),
    ("token", "Token endpoint",
     "Every grant: authorization code, refresh (rotation), password, client credentials, device code."),
    ("tokens", "Checking and revoking tokens",
     "For resource servers and apps: the signing keys, introspection, revocation."),
    ("device", "Devices without a browser (RFC 8628)",
     "A TV or command line asks for a code; the user enters it on `/device`."),
    ("account", "Account API",
     "The token's user: who they are, their device sessions and connected apps (bearer token)."),
    ("admin", "Operator API", "Operators: any user's sessions (bearer token with `admin`)."),
    ("registration", "Clients that register themselves",
     "Dynamic client registration (RFC 7591) and each registered client's configuration (RFC 7592), while "
     "`AUTHSERVER_CLIENT_REGISTRATION` is not `off`."),
    ("events", "Security events to receivers",
     "Shared Signals Framework 1.0: the transmitter metadata and the stream management API (a client's own token "
     "with `ssf.manage`)."),
    ("web", "Pages for people", "Sign-in, My devices and the sessions console (HTML)."),
    ("discovery", "Discovery",
     "Where a client finds everything else: the metadata and this description of the API."),
    ("operations", "Operations", "Health checks and metrics for load balancers and monitoring."),
)


def _operation(rule, method: str, declared: dict, web: bool) -> dict:
    result = {
        "operationId": f"{rule.endpoint.replace('.', '_')}_{method}",
        "summary": declared["summary"],
        "tags": declared["tags"],
    }
    if declared["description"]:
        result["description"] = declared["description"]
    parameters = [
        {"name": name, "in": "path", "required": True,
         **declared["parameters"].get(name, {"schema": {"type": "string", "minLength": 1}})}
        for name in rule.arguments
    ]
    parameters += [{"name": name, "in": "query", "required": False, **spec} for name, spec in declared["query"].items()]
    parameters += [{"name": name, "in": "header", "required": False, **spec}
                   for name, spec in declared["headers"].items()]
    if parameters:
        result["parameters"] = parameters
    if declared["body"] is not None:
        result["requestBody"] = declared["body"]
    result["security"] = declared["security"] if declared["security"] is not None else []
    responses = dict(declared["responses"])
    for status, response in (_common_web() if web else _common_json()).items():
        responses.setdefault(status, response)
    result["responses"] = {str(status): responses[status] for status in sorted(responses)}
    return result


def _common_json() -> dict:
    return {
        400: error_response("`invalid_request`: a parameter holds a NUL character."),
        413: error_response("`invalid_request`: the body is over 64 KiB."),
        500: error_response("`server_error`: an unexpected failure (details only in the server log)."),
    }


def _common_web() -> dict:
    return {
        400: page_response("The request could not be understood (a NUL character, an expired form)."),
        413: page_response("The body is over 64 KiB."),
        500: page_response("An unexpected failure."),
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version("authserver")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0"


def api_document() -> dict:
    """The app's document, built once (routes and declarations do not change while it runs)."""
    cached = current_app.extensions.get("authserver.openapi")
    if cached is None:
        cached = current_app.extensions["authserver.openapi"] = build_document(current_app)
    return cached


@bp.get(paths.OPENAPI_DOCUMENT)
@operation("get", summary="This API description (OpenAPI 3.1)", tags=["discovery"],
           description="Built from the declarations beside the views; `/docs` renders it for people.",
           responses={200: json_response("The OpenAPI document.",
                                         {"type": "object", "required": ["openapi", "paths"]})})
def openapi_json():
    return cacheable(jsonify(api_document()))


def register_openapi(app) -> None:
    app.register_blueprint(bp)
