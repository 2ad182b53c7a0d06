"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a ``client_id`` that is an
``https`` URL with a path names a JSON document, served there, that describes the client. The server
fetches it and treats the client as a public one (``token_endpoint_auth_method`` ``none``) limited to
the document's ``redirect_uris``. On unless ``AUTHSERVER_CLIENT_ID_METADATA_DOCUMENTS=off``.

- **Fetched** with ``outbound/delivery.py``'s checked exchange: the same address checks (no loopback,
  private, link-local… unless ``AUTHSERVER_OUTBOUND_ALLOW_PRIVATE``), 5 s for the whole exchange, no
  redirect followed, at most :data:`MAX_DOCUMENT_BYTES` read.
- **On the request thread, when needed**: at the authorization endpoint, only when no fresh copy is
  stored. The authorization request cannot go on without the document (its redirect URIs decide where
  the browser may go), so the draft wants it fetched then; the 5 s timeout bounds the wait. The other
  endpoints (token, revocation…) use the stored copy and never fetch.
- **Cached in the database** (the client's row and ``document_expires_at``), so every worker and node
  shares it, for as long as its ``Cache-Control`` says (``max-age``), at most a day; without one (or
  with ``no-store``/``no-cache``) it is fetched again at the next authorization request.
- **Refused** (``invalid_client``, an error page at the authorization endpoint, never a redirect to its
  URIs): not fetched, not a 200, a redirect, over the size cap, not a JSON object, naming another
  ``client_id``, claiming a client secret, or metadata ``client_metadata.py`` refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from urllib.parse import urlsplit

from authlib.oauth2.base import OAuth2Error

from ...accounts.registration import document_client
from ...errors import MetadataDocumentRefused
from ...outbound.delivery import Refused
from ...outbound.delivery import Unreachable
from ...outbound.delivery import exchange
from ...services import current_services
from ...store.clients import find_client
from ...store.clients import read_client_before_waiting
from ...store.models import CLIENT_ID_LENGTH
from ...store.models import REGISTERED_BY_DOCUMENT
from .client_metadata import checked_metadata

MAX_DOCUMENT_BYTES = 5 * 1024
FETCH_TIMEOUT_SECONDS = 5
MAX_CACHE_SECONDS = 86_400
DOCUMENT_GRANT_TYPES = ["authorization_code", "refresh_token"]
SECRET_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")


def is_document_url(client_id: str) -> bool:
    """The draft's §3 rule for a client id that names a document: https, a host, a path (not just
    ``/``), no fragment, no user name or password, no dot segments."""
    if not client_id.startswith("https://") or len(client_id) > CLIENT_ID_LENGTH or not client_id.isprintable():
        return False
    try:
        parts = urlsplit(client_id)
    except ValueError:
        return False
    segments = parts.path.split("/")
    return bool(parts.hostname and parts.path not in ("", "/") and not parts.fragment and "#" not in client_id
                and parts.username is None and parts.password is None and " " not in client_id
                and "." not in segments and ".." not in segments and posixpath.normpath(parts.path) != "/")


def authorizing_client(client_id: str):
    """The client an authorization request names: ours by id, or a metadata document's (fetched when no
    fresh copy is stored); None for an unknown one."""
    if not is_document_url(client_id):
        return find_client(client_id)
    services = current_services()
    if not services.settings.client_id_metadata_documents:
        return None
    stored = read_client_before_waiting(client_id)
    now = services.clock.now()
    if stored is not None and (stored.registration != REGISTERED_BY_DOCUMENT
                               or (stored.document_expires_at is not None and stored.document_expires_at > now)):
        return stored
    document, fresh_seconds = fetch(client_id, services.settings)
    metadata = document_metadata(document, client_id, services.settings)
    return document_client(services, client_id, metadata, now + dt.timedelta(seconds=fresh_seconds), stored)


def fetch(url: str, settings) -> tuple[dict, int]:
    """The document at ``url`` and how many seconds it stays fresh, or :class:`MetadataDocumentRefused`."""
    try:
        answer = exchange("GET", url, timeout_seconds=FETCH_TIMEOUT_SECONDS,
                          allow_private=settings.outbound_allow_private, headers={"Accept": "application/json"},
                          max_body=MAX_DOCUMENT_BYTES + 1)
    except Refused as error:
        raise MetadataDocumentRefused(f"not fetched: {error}") from None
    except Unreachable as error:
        raise MetadataDocumentRefused(f"not fetched: {error}") from None
    if 300 <= answer.status < 400:
        raise MetadataDocumentRefused(f"it answers a redirect (HTTP {answer.status}), which is not followed")
    if answer.status != 200:
        raise MetadataDocumentRefused(f"it answers HTTP {answer.status}")
    if len(answer.body) > MAX_DOCUMENT_BYTES:
        raise MetadataDocumentRefused(f"it is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MetadataDocumentRefused("it is not JSON") from None
    if not isinstance(document, dict):
        raise MetadataDocumentRefused("it is not a JSON object")
    return document, fresh_for(answer.headers.get("Cache-Control"))


def fresh_for(cache_control: str | None) -> int:
    """Seconds a copy stays fresh by its ``Cache-Control`` (RFC 9111 §5.2.2), at most a day; 0 without
    ``max-age`` or with ``no-store`` / ``no-cache``."""
    directives = {}
    for part in (cache_control or "").lower().split(","):
        name, _, value = part.strip().partition("=")
        directives[name.strip()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0
    value = directives.get("max-age", "")
    return min(int(value), MAX_CACHE_SECONDS) if value.isdigit() else 0


def document_metadata(document: dict, client_id: str, settings):
    """The document's metadata, checked like a registration's, for a public client (draft §4.1)."""
    if document.get("client_id") != client_id:
        raise MetadataDocumentRefused("it names another client_id than its own URL")
    if "client_secret" in document or document.get("token_endpoint_auth_method", "none") in SECRET_METHODS:
        raise MetadataDocumentRefused("a metadata document's client has no shared secret")
    data = {**document, "token_endpoint_auth_method": "none",
            "grant_types": document.get("grant_types", DOCUMENT_GRANT_TYPES)}
    data.pop("client_id")
    try:
        return checked_metadata(data, settings)
    except OAuth2Error as error:
        raise MetadataDocumentRefused(f"{error.error}: {error.description}") from None
