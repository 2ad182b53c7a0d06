"""What a self-registering client may say about itself (RFC 7591 §2), checked on Authlib's
``ClientMetadataClaims``: the same rules for a registration, an update (RFC 7592 §2.2) and a Client ID
Metadata Document.

- ``redirect_uris``: each one ``redirect_uris.registration_refusal`` accepts (https, loopback http,
  a reverse-domain private-use scheme; no fragment), else ``invalid_redirect_uri``;
- ``grant_types``: ``authorization_code``, ``refresh_token`` and the device code grant only: never
  ``password`` (only first-party apps, RFC 9700 §2.4) nor ``client_credentials`` (a client acting for
  itself is an operator's decision); ``response_types``: ``code``;
- ``token_endpoint_auth_method``: ``none``, ``client_secret_basic``, ``client_secret_post``;
- ``scope``: within ``AUTHSERVER_REGISTRATION_SCOPES`` (all of them when none is asked for);
- ``client_name`` (at most 200 printable characters), ``client_uri``, ``logo_uri``, ``software_id``,
  ``software_version``, ``post_logout_redirect_uris``, ``backchannel_logout_uri``.

Anything else wrong is ``invalid_client_metadata``; unknown members are ignored (RFC 7591 §2).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.rfc7591 import ClientMetadataClaims
from authlib.oauth2.rfc7591 import InvalidClientMetadataError
from authlib.oauth2.rfc7591 import InvalidRedirectURIError
from joserfc.errors import JoseError

from ...accounts.registration import ClientMetadata
from ...errors import printable
from ...redirect_uris import registration_refusal
from ...store.models import AUTH_METHODS

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("authorization_code", "refresh_token", DEVICE_CODE)
RESPONSE_TYPES = ("code",)
ECHOED = ("client_uri", "logo_uri", "software_id", "software_version")
MAX_TEXT = 200


def server_metadata(settings) -> dict:
    """What Authlib's claims are checked against (``ClientMetadataClaims.get_claims_options``)."""
    return {"scopes_supported": settings.registration_scopes.split(), "response_types_supported": list(RESPONSE_TYPES),
            "grant_types_supported": list(GRANT_TYPES), "token_endpoint_auth_methods_supported": list(AUTH_METHODS)}


class RegisteredClientClaims(ClientMetadataClaims):
    """Authlib's checks, our refusals, and the OpenID Connect logout members kept too."""

    REGISTERED_CLAIMS = [*ClientMetadataClaims.REGISTERED_CLAIMS, "post_logout_redirect_uris",
                         "backchannel_logout_uri"]

    def validate(self, now=None, leeway=0):
        # Types first: Authlib's option checks assume them (a number as scope would be a 500).
        for name in ("grant_types", "response_types", "redirect_uris", "post_logout_redirect_uris", "contacts"):
            self._strings(name)
        for name in ("scope", "token_endpoint_auth_method", "backchannel_logout_uri", "client_uri", "logo_uri",
                     "tos_uri", "policy_uri", "jwks_uri"):
            if self.get(name) is not None and not isinstance(self[name], str):
                raise InvalidClientMetadataError(f"{name} must be a string.")
        super().validate(now, leeway)

    def validate_redirect_uris(self):
        uris = self.get("redirect_uris")
        if uris is None:
            uris = []
        for uri in uris:
            refusal = registration_refusal(uri)
            if refusal:
                raise InvalidRedirectURIError(printable(f"{refusal}.")[:200])
        grant_types = self.get("grant_types") or ["authorization_code"]
        if "authorization_code" in grant_types and not uris:
            raise InvalidRedirectURIError("The authorization_code grant needs redirect_uris.")

    def validate_grant_types(self):
        refused = [grant for grant in self.get("grant_types") or [] if grant not in GRANT_TYPES]
        if refused:
            raise InvalidClientMetadataError(printable(f"grant_types may hold only {', '.join(GRANT_TYPES)}.")[:200])

    def validate_token_endpoint_auth_method(self):
        method = self.get("token_endpoint_auth_method", "client_secret_basic")
        if method not in AUTH_METHODS:
            raise InvalidClientMetadataError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}.")
        self["token_endpoint_auth_method"] = method

    def validate_client_name(self):
        name = self.get("client_name")
        if name is not None and (not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_TEXT
                                 or not name.isprintable()):
            raise InvalidClientMetadataError(f"client_name must be at most {MAX_TEXT} printable characters.")

    def validate_software_id(self):
        self._text("software_id")

    def validate_software_version(self):
        self._text("software_version")

    def _strings(self, name):
        value = self.get(name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(item, str) for item in value)):
            raise InvalidClientMetadataError(f"{name} must be an array of strings.")

    def _text(self, name):
        value = self.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT or not value.isprintable()):
            raise InvalidClientMetadataError(f"{name} must be at most {MAX_TEXT} printable characters.")

    def _validate_uri(self, key, uri=None):
        value = self.get(key) if uri is None else uri
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            raise InvalidClientMetadataError(f"{key} must be a URL.")
        super()._validate_uri(key, uri)


def checked_metadata(data, settings) -> ClientMetadata:
    """The checked metadata of a registration, an update or a metadata document (the module docstring);
    raises ``invalid_redirect_uri`` or ``invalid_client_metadata``."""
    if not isinstance(data, dict):
        raise InvalidClientMetadataError("The request body must be a JSON object of client metadata.")
    # A member sent as null is a member not sent (clients built on data classes send every field).
    data = {name: value for name, value in data.items() if value is not None}
    options = RegisteredClientClaims.get_claims_options(server_metadata(settings))
    claims = RegisteredClientClaims(data, {}, options, server_metadata(settings))
    try:
        claims.validate()
    except JoseError as error:
        raise InvalidClientMetadataError(printable(error.description or "Invalid client metadata.")[:200]) from error
    metadata = claims.get_registered_claims()
    redirect_uris = metadata.get("redirect_uris") or []
    post_logout = metadata.get("post_logout_redirect_uris") or []
    if not isinstance(post_logout, list) or any(registration_refusal(uri) for uri in post_logout):
        raise InvalidRedirectURIError("post_logout_redirect_uris must be redirect URIs.")
    backchannel = metadata.get("backchannel_logout_uri")
    if backchannel is not None and (not isinstance(backchannel, str) or registration_refusal(backchannel)
                                    or urlsplit(backchannel).scheme not in ("http", "https")):
        raise InvalidClientMetadataError("backchannel_logout_uri must be an https URL (or loopback http).")
    scope = " ".join(dict.fromkeys((metadata.get("scope") or settings.registration_scopes).split()))
    name = (metadata.get("client_name") or "").strip() or _name_from(redirect_uris)
    return ClientMetadata(
        name=name, redirect_uris=list(redirect_uris),
        grant_types=list(metadata.get("grant_types") or ["authorization_code"]),
        auth_method=metadata["token_endpoint_auth_method"], scope=scope,
        post_logout_redirect_uris=list(post_logout), backchannel_logout_uri=backchannel,
        echoed={name: metadata[name] for name in (*ECHOED, "response_types") if metadata.get(name) is not None})


def _name_from(redirect_uris: list[str]) -> str:
    """A client without a name is shown by where it sends the browser back (RFC 7591 §2 allows this)."""
    if redirect_uris:
        parts = urlsplit(redirect_uris[0])
        return (parts.hostname or parts.scheme)[:MAX_TEXT]
    return "Unnamed app"


def metadata_json(client, echoed: dict) -> dict:
    """A registered client's metadata as RFC 7591 §3.2.1 and RFC 7592 §3 echo it."""
    body = {
        "client_id": client.client_id,
        "client_name": client.name,
        "redirect_uris": client.redirect_uri_list,
        "grant_types": client.grant_type_list,
        "response_types": echoed.get("response_types", list(RESPONSE_TYPES)),
        "token_endpoint_auth_method": client.auth_method,
        "scope": client.scope,
        **{name: echoed[name] for name in ECHOED if name in echoed},
    }
    if client.post_logout_redirect_uris:
        body["post_logout_redirect_uris"] = client.post_logout_redirect_uris.split()
    if client.backchannel_logout_uri:
        body["backchannel_logout_uri"] = client.backchannel_logout_uri
    return body
