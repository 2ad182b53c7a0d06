"""Clients that register themselves, below HTTP: initial access tokens (RFC 7591 §3), registering a client
with its checked metadata, reading, changing and deleting it with its registration access token
(RFC 7592), and the client a Client ID Metadata Document describes. The protocol (what a request may
hold, what is answered) is ``oauth/registration/``. Nothing here commits.

Such clients are third-party by construction: never first-party, never introspecting, and their
secrets (client secret, registration access token) are stored as digests like every other secret.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
from dataclasses import dataclass
from dataclasses import field

from ..errors import RegistrationTokenInvalid
from ..store import registration_tokens
from ..store import security_events
from ..store.clients import add_client
from ..store.clients import delete_client
from ..store.clients import find_by_registration_token
from ..store.clients import save_client
from ..store.models import ENDED_BY_REVOCATION
from ..store.models import REGISTERED_BY_DOCUMENT
from ..store.models import REGISTERED_DYNAMICALLY
from ..store.models import Client
from ..store.models import RegistrationToken
from ..store.models import new_client_id
from ..store.models import sha256_hex
from . import throttle


@dataclass(frozen=True)
class ClientMetadata:
    """A self-registering client's metadata, checked (``oauth/registration/client_metadata.py``)."""

    name: str
    redirect_uris: list[str]
    grant_types: list[str]
    auth_method: str
    scope: str
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    echoed: dict = field(default_factory=dict)  # client_uri, logo_uri, software_id…: kept to be read back


# -- initial access tokens ---------------------------------------------------------------------
def issue_registration_token(services, uses: int | None = None, expires_in: int | None = None) -> str:
    """A new initial access token (shown once, stored as a digest): ``uses`` registrations (None: any
    number), for ``expires_in`` seconds (None: until deleted)."""
    token = "reg_" + secrets.token_urlsafe(32)
    now = services.clock.now()
    registration_tokens.add_token(RegistrationToken(
        token_digest=sha256_hex(token), uses_left=uses, created_at=now,
        expires_at=now + dt.timedelta(seconds=expires_in) if expires_in is not None else None))
    return token


def check_initial_token(services, token: str | None) -> str:
    """The digest of a usable initial access token (not spent yet: :func:`register` spends it)."""
    digest = sha256_hex(token or "")
    if not token or not registration_tokens.is_usable(digest, services.clock.now()):
        raise RegistrationTokenInvalid()
    return digest


# -- registering, reading, changing, deleting ------------------------------------------------
def register(services, metadata: ClientMetadata, ip: str | None,
             initial_token_digest: str | None = None) -> tuple[Client, str | None, str]:
    """Register a client; returns it with its secret (None for a public client) and its registration
    access token, both shown once. An initial access token's use is spent first, in one conditional
    statement: of two registrations racing for its last use, exactly one registers."""
    if initial_token_digest is not None and not registration_tokens.spend(initial_token_digest, services.clock.now()):
        raise RegistrationTokenInvalid()
    secret = None if metadata.auth_method == "none" else secrets.token_urlsafe(32)
    access_token = secrets.token_urlsafe(32)
    client = Client(client_id=new_client_id(), created_at=services.clock.now(), registration=REGISTERED_DYNAMICALLY,
                    secret_digest=sha256_hex(secret) if secret else None,
                    registration_token_digest=sha256_hex(access_token), can_introspect=False, first_party=False)
    _apply(client, metadata)
    add_client(client)
    security_events.record_event(security_events.CLIENT_REGISTERED, services.clock.now(), client_id=client.client_id,
                                 ip=ip, client_name=client.name)
    return client, secret, access_token


def check_registrations(services, ip: str | None) -> None:
    """The registration budget (``throttle.py``): too many clients from this IP lately is refused."""
    throttle.check_registrations(services, ip)


def client_of_registration_token(token: str | None, client_id: str) -> Client:
    """RFC 7592 §2: the client this registration access token was issued to, if it is ``client_id``;
    any other token (another client's, unknown, none) is refused alike."""
    digest = sha256_hex(token or "")
    client = find_by_registration_token(digest) if token else None
    if client is None or not hmac.compare_digest(client.client_id, client_id):
        raise RegistrationTokenInvalid()
    return client


def update(services, client: Client, metadata: ClientMetadata) -> Client:
    """RFC 7592 §2.2: the client's metadata replaced by ``metadata`` (its id and secrets unchanged)."""
    _apply(client, metadata)
    client = save_client(client)
    services.clients.forget(client.client_id)
    return client


def deregister(services, client: Client, ip: str | None) -> None:
    """RFC 7592 §2.3: every session of the client ends (as a revocation), then the client is deleted."""
    services.sessions.end_client_sessions(client.client_id, ENDED_BY_REVOCATION, actor="client", ip=ip)
    delete_client(client.client_id)
    services.clients.forget(client.client_id)


def _apply(client: Client, metadata: ClientMetadata) -> None:
    client.name = metadata.name
    client.auth_method = metadata.auth_method
    client.grant_types = " ".join(dict.fromkeys(metadata.grant_types))
    client.scope = metadata.scope
    client.redirect_uris = " ".join(metadata.redirect_uris)
    client.post_logout_redirect_uris = " ".join(metadata.post_logout_redirect_uris)
    client.backchannel_logout_uri = metadata.backchannel_logout_uri
    client.registration_metadata = json.dumps(metadata.echoed, sort_keys=True) if metadata.echoed else None


def echoed_metadata(client: Client) -> dict:
    return json.loads(client.registration_metadata) if client.registration_metadata else {}


# -- Client ID Metadata Documents --------------------------------------------------------------
def document_client(services, client_id: str, metadata: ClientMetadata, fresh_until: dt.datetime,
                    existing: Client | None) -> Client:
    """The public client a metadata document at ``client_id`` describes, stored (new, or its last copy
    replaced) with the time its copy stops being fresh: the database is the cache every node shares."""
    client = existing or Client(client_id=client_id, created_at=services.clock.now(), can_introspect=False,
                                first_party=False, secret_digest=None)
    client.registration = REGISTERED_BY_DOCUMENT
    client.document_expires_at = fresh_until
    _apply(client, metadata)
    client = save_client(client)
    services.clients.forget(client_id)
    return client
