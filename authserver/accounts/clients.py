"""OAuth clients: the rules for registering them, and the per-process cache every token request looks
its client up in (their rows are ``store/clients.py``). Nothing here commits."""

from __future__ import annotations

import re
import secrets
import threading
import time
from urllib.parse import urlsplit

from ..errors import AccountError
from ..redirect_uris import operator_refusal
from ..store.clients import add_client
from ..store.clients import read_client
from ..store.models import AUTH_METHODS
from ..store.models import Client
from ..store.models import new_client_id
from ..store.models import sha256_hex

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), no quote, backslash or space.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")


def check_scope(scope: str) -> None:
    for token in scope.split():
        if not SCOPE_TOKEN.fullmatch(token):
            raise AccountError(f"{token!r} is not a scope: RFC 6749 scopes are printable ASCII without '\"' or '\\'")


def check_redirect_uri(uri: str) -> None:
    """An operator's redirect URI, by the rule in ``redirect_uris.py``."""
    refusal = operator_refusal(uri)
    if refusal is not None:
        raise AccountError(f"{uri!r} is not a redirect URI: {refusal}")


CLIENT_CACHE_SECONDS = 5.0


class ClientCache:
    """Clients by id, read from the database at most once every ``seconds`` per process.

    Every token, introspection and revocation request looks its client up; clients change
    rarely, and a cached one holds nothing to steal (secrets are digests). A client registered
    is found at once; one changed is seen within ``seconds``. Cached clients are transient objects,
    never attached to a database session, shared read-only by the process's threads."""

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float = CLIENT_CACHE_SECONDS, monotonic=time.monotonic):
        self.seconds = seconds
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, Client]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Client | None:
        now = self._monotonic()
        hit = self._entries.get(client_id)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        client = read_client(client_id)
        with self._lock:
            if client is None:
                self._entries.pop(client_id, None)
                return None
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[client_id] = (now, client)
        return client

    def forget(self, client_id: str) -> None:
        """Read this client again next time (changed or deleted in this process; others see it within ``seconds``)."""
        with self._lock:
            self._entries.pop(client_id, None)


def check_backchannel_logout_uri(uri: str) -> None:
    """Back-Channel Logout 1.0 §2.2: where the server POSTs logout tokens: a redirect URI's rules, and http(s)."""
    check_redirect_uri(uri)
    if urlsplit(uri).scheme.lower() not in ("http", "https"):
        raise AccountError(f"{uri!r} is not a back-channel logout URI: it must be an http or https URL")


def create_client(services, name: str, grant_types: list[str], scope: str, auth_method: str,
                  redirect_uris: list[str] = (), introspect: bool = False,
                  client_id: str | None = None, first_party: bool = False,
                  post_logout_redirect_uris: list[str] = (),
                  backchannel_logout_uri: str | None = None,
                  dpop_bound_access_tokens: bool = False) -> tuple[Client, str | None]:
    """Register a client; returns it with its secret (shown once, stored only as a digest).

    ``client_id`` is for the server's own first-party clients; registered clients get a random one.
    ``post_logout_redirect_uris`` and ``backchannel_logout_uri``: OpenID Connect logout (RP-Initiated
    Logout 1.0, Back-Channel Logout 1.0), checked like redirect URIs. ``dpop_bound_access_tokens``:
    every token request of the client must carry a DPoP proof (RFC 9449 §5.2)."""
    if auth_method not in AUTH_METHODS:
        raise AccountError(f"auth method must be one of {', '.join(AUTH_METHODS)}")
    if not name.strip():
        raise AccountError("the client needs a name")
    if len(name.strip()) > 200 or not name.isprintable():
        raise AccountError("a client name is at most 200 printable characters")
    check_scope(scope)
    for uri in (*redirect_uris, *post_logout_redirect_uris):
        check_redirect_uri(uri)
    if backchannel_logout_uri is not None:
        check_backchannel_logout_uri(backchannel_logout_uri)
    if introspect and auth_method == "none":
        raise AccountError("a public client (auth method none) cannot introspect tokens")
    if "authorization_code" in grant_types and not redirect_uris:
        raise AccountError("the authorization_code grant needs at least one --redirect-uri")
    secret = None if auth_method == "none" else secrets.token_urlsafe(32)
    client = add_client(Client(
        client_id=client_id or new_client_id(),
        name=name.strip(),
        secret_digest=sha256_hex(secret) if secret else None,
        auth_method=auth_method,
        grant_types=" ".join(dict.fromkeys(grant_types)),
        scope=" ".join(dict.fromkeys(scope.split())),
        redirect_uris=" ".join(redirect_uris),
        can_introspect=introspect,
        first_party=first_party,
        created_at=services.clock.now(),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
        backchannel_logout_uri=backchannel_logout_uri,
        dpop_bound_access_tokens=dpop_bound_access_tokens,
    ))
    return client, secret
