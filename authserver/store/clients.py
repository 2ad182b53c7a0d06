"""OAuth clients' rows: the prebuilt read behind the per-process client cache (``accounts/clients.py``;
run on the driver's connection, :class:`.database.Prepared`), finding one in the request's session,
adding one; those that registered themselves (RFC 7591/7592, metadata documents): by registration
access token, saved, deleted. Nothing here commits."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import select

from .database import Prepared
from .database import begin_write
from .database import db
from .database import insert
from .database import release_reads
from .models import Client

_clients = Client.__table__
CLIENT_ROW = select(_clients).where(_clients.c.client_id == bindparam("client_id"))
_client_row = Prepared(CLIENT_ROW)


def read_client(client_id: str) -> Client | None:
    """The client as a transient object, attached to no database session (so that the cache may
    share it between threads), read with one prebuilt statement; None if there is none."""
    row = _client_row.first({"client_id": client_id})
    return None if row is None else Client(**row._asdict())


def find_client(client_id: str) -> Client | None:
    """The client in the request's database session (to change, or to relate rows to)."""
    return db.session.get(Client, client_id)


def add_client(client: Client) -> Client:
    return insert(client)


def backchannel_logout_uris(client_ids: set[str]) -> dict[str, str]:
    """{client id: back-channel logout URI} of those of ``client_ids`` that have one (one query)."""
    if not client_ids:
        return {}
    query = select(_clients.c.client_id, _clients.c.backchannel_logout_uri).where(
        _clients.c.client_id.in_(client_ids), _clients.c.backchannel_logout_uri.is_not(None))
    return dict(db.session.connection().execute(query).all())


# -- clients that registered themselves (oauth/registration/) --------------------------------
def find_by_registration_token(digest: str) -> Client | None:
    """The client whose registration access token (RFC 7592) has this digest, in the request's session."""
    return db.session.scalars(select(Client).where(Client.registration_token_digest == digest)).first()


def read_client_before_waiting(client_id: str) -> Client | None:
    """:func:`read_client`, then the request's reads end (if it has written nothing) so that it holds
    no lock and no snapshot while it waits on the network (fetching a metadata document)."""
    client = read_client(client_id)
    release_reads()
    return client


def save_client(client: Client) -> Client:
    """Write a client's changed or new row (an update at RFC 7592's endpoint, a metadata document
    fetched again): ``client`` may be transient (from the cache), so it is merged."""
    begin_write()
    client = db.session.merge(client)
    db.session.flush()
    return client


def delete_client(client_id: str) -> None:
    """RFC 7592 §2.3: the client is gone; its codes, consents and (already ended) sessions go with it."""
    begin_write()
    db.session.execute(delete(Client).where(Client.client_id == client_id))
