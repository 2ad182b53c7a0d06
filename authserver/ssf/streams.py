"""Security event streams (Shared Signals Framework 1.0 §8): the rules for creating, changing,
pausing and deleting them, and their JSON (the stream configuration, §8.1.1). No HTTP here: the
management API (``views.py``) and the command line (``commands.py``) both call these.

A stream is checked whole before anything is written, so a refused one stores nothing
(:class:`~authserver.errors.StreamRefused`, a 400 ``invalid_request``):

- **the endpoint** is where SETs are pushed (RFC 8935): an absolute http(s) URL without credentials
  or fragment; ``https`` when the issuer is ``https`` (a SET on plain HTTP would tell anyone on the
  path who signed out); and on a public address unless ``AUTHSERVER_OUTBOUND_ALLOW_PRIVATE``, checked
  here as ``outbound/delivery.py`` checks it again on every delivery, so that a stream cannot be
  aimed at the server's own network;
- **the events requested** are among :data:`~authserver.ssf.events.EVENTS_SUPPORTED`; none given is
  all of them; an unknown one is refused (SSF would silently leave it out; a receiver that misspelt
  an event type would then wait for ever);
- **the authorization header** is one line of printable text: a secret of the receiver's, sent with
  every SET and never logged, shown or returned.

Status (§8.1.2): ``enabled``; ``paused``, whose events are held in the outbox until it is enabled
again; ``disabled``, which gets none (what it was owed is dropped). Streams made through the API
belong to the client whose token made them; the command line's belong to the operator.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import StreamNotFound
from ..errors import StreamRefused
from ..http import paths
from ..http.security import is_https
from ..outbound.delivery import Refused
from ..outbound.delivery import Unreachable
from ..outbound.delivery import checked_addresses
from ..store import streams as store
from ..store.models import STREAM_DISABLED
from ..store.models import STREAM_ENABLED
from ..store.models import STREAM_PAUSED
from ..store.models import STREAM_STATUSES
from ..store.models import Stream
from .events import DELIVERY_METHOD
from .events import EVENTS_SUPPORTED

MAX_URL_LENGTH = 2000
MAX_HEADER_LENGTH = 1000
MAX_AUDIENCE_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 500
MAX_REASON_LENGTH = 300


# -- checks ----------------------------------------------------------------------------------
def check_endpoint(settings, url) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or not url.isprintable():
        raise StreamRefused("the endpoint must be an http or https URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StreamRefused(f"{url!r} is not an http or https URL")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise StreamRefused("the endpoint must not carry credentials or a fragment")
    if parts.scheme != "https" and is_https(settings.issuer):
        raise StreamRefused("the endpoint must be https: security events are not sent over plain HTTP")
    try:
        checked_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                          settings.outbound_allow_private)
    except (Refused, Unreachable) as error:
        raise StreamRefused(f"the endpoint is refused: {error}") from None
    return url


def check_events(requested) -> list[str]:
    if requested is None:
        return list(EVENTS_SUPPORTED)
    if not isinstance(requested, list) or not all(isinstance(event, str) for event in requested):
        raise StreamRefused("events_requested must be a list of event type URIs")
    unknown = [event for event in requested if event not in EVENTS_SUPPORTED]
    if unknown:
        raise StreamRefused(f"unknown event type {unknown[0][:200]!r}; supported: {' '.join(EVENTS_SUPPORTED)}")
    return list(dict.fromkeys(requested))


def check_text(name: str, value, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise StreamRefused(f"{name} must be at most {limit} printable characters on one line")
    return value


def default_audience(endpoint_url: str) -> str:
    """Without ``--audience``, a SET's ``aud`` is the receiver's origin (scheme, host and port)."""
    parts = urlsplit(endpoint_url)
    return f"{parts.scheme}://{parts.netloc}"


# -- create, find, change, delete --------------------------------------------------------------
def create_stream(services, *, endpoint_url, authorization_header=None, audience=None, events_requested=None,
                  description=None, client_id: str | None = None) -> Stream:
    endpoint_url = check_endpoint(services.settings, endpoint_url)
    events = check_events(events_requested)
    authorization_header = check_text("the authorization header", authorization_header, MAX_HEADER_LENGTH) or None
    description = check_text("the description", description, MAX_DESCRIPTION_LENGTH)
    audience = check_text("the audience", audience, MAX_AUDIENCE_LENGTH) or (
        client_id or default_audience(endpoint_url))
    now = services.clock.now()
    return store.add_stream(Stream(client_id=client_id, audience=audience, endpoint_url=endpoint_url,
                                   authorization_header=authorization_header, events_requested=" ".join(events),
                                   description=description, status=STREAM_ENABLED, created_at=now, updated_at=now))


def find_stream(stream_id, client_id: str | None, *, operator: bool = False) -> Stream:
    """The stream ``stream_id`` if ``client_id`` manages it (the operator manages them all)."""
    stream = store.find_stream(stream_id) if isinstance(stream_id, str) and stream_id else None
    if stream is None or not (operator or stream.client_id == client_id):
        raise StreamNotFound(stream_id)
    return stream


def list_streams(client_id: str | None, *, operator: bool = False) -> list[Stream]:
    """The streams ``client_id`` manages (the operator: every stream)."""
    return store.all_streams() if operator else store.streams_of(client_id)


def update_stream(services, stream: Stream, config: dict, *, replace: bool) -> Stream:
    """SSF 1.0 §8.1.1.3 (PATCH: what ``config`` names) and §8.1.1.4 (PUT: ``config`` is the whole
    receiver-supplied configuration). Transmitter-supplied members (``iss``, ``aud``…) are ignored."""
    delivery = config.get("delivery")
    if delivery is not None or replace:
        delivery = check_delivery(delivery)
    changes = {}
    if delivery is not None:
        changes["endpoint_url"] = check_endpoint(services.settings, delivery.get("endpoint_url"))
        if "authorization_header" in delivery or replace:
            changes["authorization_header"] = check_text("the authorization header",
                                                         delivery.get("authorization_header"), MAX_HEADER_LENGTH)
    if "events_requested" in config or replace:
        changes["events_requested"] = " ".join(check_events(config.get("events_requested")))
    if "description" in config or replace:
        changes["description"] = check_text("the description", config.get("description"), MAX_DESCRIPTION_LENGTH)
    stream = store.change_stream(stream, services.clock.now(), **changes)
    if delivery is not None:
        store.retarget_events(stream)  # what it is still owed goes to the new endpoint
    return stream


def check_delivery(delivery) -> dict:
    if not isinstance(delivery, dict):
        raise StreamRefused("delivery must be an object with method and endpoint_url")
    if delivery.get("method", DELIVERY_METHOD) != DELIVERY_METHOD:
        raise StreamRefused(f"the only delivery method is {DELIVERY_METHOD} (push)")
    return delivery


def set_status(services, stream: Stream, status, reason=None) -> Stream:
    """§8.1.2.2: pausing holds what is queued and what comes; enabling releases it, in order;
    disabling drops it and stops events."""
    if status not in STREAM_STATUSES:
        raise StreamRefused(f"status must be one of {', '.join(STREAM_STATUSES)}")
    reason = check_text("the reason", reason, MAX_REASON_LENGTH)
    now = services.clock.now()
    if status == STREAM_PAUSED:
        store.hold_events(stream)
    elif status == STREAM_DISABLED:
        store.drop_events(stream)
    else:
        store.release_events(stream, now)
    return store.change_stream(stream, now, status=status, status_reason=reason)


def request_verification(services, stream: Stream, state=None) -> None:
    """§8.1.4.2: a verification event, queued like any other (held while paused, none when disabled)."""
    state = check_text("state", state, MAX_DESCRIPTION_LENGTH)
    if stream.status != STREAM_DISABLED:
        services.shared_signals.verification(services.clock.now(), stream, state)


def delete_stream(stream: Stream) -> None:
    store.delete_stream(stream)


# -- JSON ------------------------------------------------------------------------------------
def stream_config(settings, stream: Stream) -> dict:
    """The stream configuration (§8.1.1); the authorization header is never shown again."""
    config = {
        "stream_id": stream.id,
        "iss": settings.issuer,
        "aud": stream.audience,
        "delivery": {"method": DELIVERY_METHOD, "endpoint_url": stream.endpoint_url},
        "events_supported": list(EVENTS_SUPPORTED),
        "events_requested": stream.events,
        "events_delivered": stream.events,
    }
    if stream.description is not None:
        config["description"] = stream.description
    return config


def stream_status(stream: Stream) -> dict:
    status = {"stream_id": stream.id, "status": stream.status}
    if stream.status_reason:
        status["reason"] = stream.status_reason
    return status


def ssf_configuration(settings) -> dict:
    """Transmitter configuration metadata (SSF 1.0 §7.1), served at ``/.well-known/ssf-configuration``."""
    issuer = settings.issuer
    return {
        "spec_version": "1_0",
        "issuer": issuer,
        "jwks_uri": issuer + paths.JWKS,
        "delivery_methods_supported": [DELIVERY_METHOD],
        "configuration_endpoint": issuer + paths.SSF_STREAMS,
        "status_endpoint": issuer + paths.SSF_STATUS,
        "verification_endpoint": issuer + paths.SSF_VERIFY,
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],  # OAuth 2.0: a token with ssf.manage
        "default_subjects": "ALL",  # every user's events go to every stream; no subjects to add or remove
    }
