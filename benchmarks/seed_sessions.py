"""Seed live device sessions in bulk, straight into the tables (not through the API), for the
scale runs of benchmarks/compare.py: ``users`` users, each with its share of ``count`` live
sessions of one client, each session with its current (unused) refresh token. The refresh tokens'
plain values are never kept: nobody presents them, they only fill the tables and the indexes.

    python benchmarks/seed_sessions.py DATABASE_URL CLIENT_ID COUNT [--users N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid

from sqlalchemy import create_engine
from sqlalchemy import insert
from sqlalchemy import text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

BATCH = 20_000


def seed(url: str, client_id: str, count: int, users: int | None = None, log=print) -> dict:
    """Add ``count`` live sessions (and their users, and a refresh token each). Returns timings."""
    from authserver.store.models import DeviceSession
    from authserver.store.models import RefreshToken
    from authserver.store.models import User

    users = users or max(1, count // 100)
    started = time.monotonic()
    engine = create_engine(url.replace("sqlite:///", "sqlite:///", 1))
    now = dt.datetime.now(dt.timezone.utc)
    expires = now + dt.timedelta(days=30)
    tag = uuid.uuid4().hex[:8]
    # One argon2 hash for all: nobody signs in as these users.
    password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVk$KmtxcHcvsR0lx3Pjz3bJmWHJPE5d8CiD1Bh2lYFeJ0I"
    user_ids = [str(uuid.uuid4()) for _ in range(users)]
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        for start in range(0, users, BATCH):
            conn.execute(insert(User.__table__), [
                {"id": user_id, "username": f"seed-{tag}-{start + i}", "password_hash": password_hash,
                 "is_admin": False, "created_at": now}
                for i, user_id in enumerate(user_ids[start:start + BATCH])])
        next_id = conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1 FROM refresh_tokens")).scalar()
        for start in range(0, count, BATCH):
            n = min(BATCH, count - start)
            session_ids = [str(uuid.uuid4()) for _ in range(n)]
            conn.execute(insert(DeviceSession.__table__), [
                {"id": sid, "user_id": user_ids[(start + i) % users], "client_id": client_id, "scope": "profile",
                 "device_name": "seeded", "user_agent": "seed/1.0", "ip": "127.0.0.1", "restricted": False,
                 "created_at": now, "last_active_at": now, "expires_at": expires}
                for i, sid in enumerate(session_ids)])
            conn.execute(insert(RefreshToken.__table__), [
                {"id": next_id + start + i, "session_id": sid, "token_hash": os.urandom(32).hex(), "generation": 0,
                 "client_id": client_id, "issued_at": now}
                for i, sid in enumerate(session_ids)])
            if log and (start // BATCH) % 10 == 9:
                log(f"    seeded {start + n:,} sessions ({time.monotonic() - started:.0f} s)")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('refresh_tokens', 'id'), "
                                 "(SELECT MAX(id) FROM refresh_tokens))")
    inserted = time.monotonic() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    engine.dispose()
    return {"sessions": count, "users": users, "insert_seconds": inserted, "total_seconds": time.monotonic() - started}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("client_id")
    parser.add_argument("count", type=int)
    parser.add_argument("--users", type=int)
    args = parser.parse_args(argv)
    print(seed(args.url, args.client_id, args.count, args.users))
    return 0


if __name__ == "__main__":
    sys.exit(main())
