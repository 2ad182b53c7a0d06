"""The DPoP replay table (RFC 9449 §11.1): every proof's ``jti`` (with its key) that some node has
accepted, kept until the proof is too old to pass anyway; ``retention.py`` then deletes it. The one
insert is prebuilt per dialect (``ON CONFLICT DO NOTHING RETURNING`` on both), so a second use of a
proof, on any node, is told by the row it returns or not, and the transaction it runs in goes on.
Nothing here commits."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from .database import UTCDateTime
from .database import begin_write
from .database import db
from .models import UsedDPoPProof

_proofs = UsedDPoPProof.__table__
_values = {"proof_hash": bindparam("proof_hash"), "expires_at": bindparam("expires_at", type_=UTCDateTime())}
# RETURNING tells an insert from a conflict (psycopg reports no row count for this statement).
REMEMBER = {
    "postgresql": postgresql.insert(_proofs).values(**_values).on_conflict_do_nothing().returning(_proofs.c.proof_hash),
    "sqlite": sqlite.insert(_proofs).values(**_values).on_conflict_do_nothing().returning(_proofs.c.proof_hash),
}


def proof_hash(jkt: str, jti: str) -> str:
    # jti is unique per key (§4.2); the digest keeps the column fixed-size whatever the client sends.
    return hashlib.sha256(f"{jkt}:{jti}".encode("utf-8", "replace")).hexdigest()


def remember_proof(jkt: str, jti: str, expires_at: dt.datetime) -> bool:
    """Record a proof's use; False if any node recorded it before."""
    begin_write()
    connection = db.session.connection()
    inserted = connection.execute(REMEMBER[connection.dialect.name],
                                  {"proof_hash": proof_hash(jkt, jti), "expires_at": expires_at})
    return inserted.first() is not None


def prune(now: dt.datetime) -> int:
    """Delete the proofs too old to be accepted again; how many."""
    begin_write()
    return db.session.execute(delete(UsedDPoPProof).where(UsedDPoPProof.expires_at <= now)).rowcount
