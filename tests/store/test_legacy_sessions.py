"""Imported legacy sessions' rows (``store/legacy_sessions.py``) on SQLite and PostgreSQL: a batch adds
only digests not stored yet (a re-run adds nothing), a claim is won once, and the counts say what is
imported, exchanged and too old to exchange."""

from __future__ import annotations

import datetime as dt

from authserver.store import legacy_sessions as store
from authserver.store.database import db


def rows(user_id, digests, created_at):
    return [{"token_digest": digest, "user_id": user_id, "device_name": "Phone", "user_agent": None, "ip": None,
             "created_at": created_at, "imported_at": created_at} for digest in digests]


def test_a_batch_adds_only_new_digests_and_a_claim_is_won_once(app, factory, clock):
    alice = factory.user("alice")
    now = clock.now()
    with app.app_context():
        assert store.insert_batch(rows(alice, ["d1", "d2"], now)) == 2
        db.session.commit()
    with app.app_context():
        assert store.insert_batch(rows(alice, ["d2", "d3"], now)) == 1  # d2 was there
        assert store.insert_batch([]) == 0
        db.session.commit()
    with app.app_context():
        assert store.claim("d1", now) is True
        assert store.claim("d1", now) is False
        assert store.claim("unknown", now) is False
        store.record_session("d1", "session-1")
        db.session.commit()
    with app.app_context():
        found = store.find("d1")
        assert found.session_id == "session-1" and found.exchanged_at is not None and found.user.username == "alice"
        assert store.find("d9") is None


def test_the_counts_split_imported_exchanged_and_too_old(app, factory, clock):
    alice = factory.user("alice")
    now = clock.now()
    old = now - dt.timedelta(days=400)
    with app.app_context():
        store.insert_batch(rows(alice, ["new1", "new2"], now) + rows(alice, ["old1", "old2"], old))
        store.claim("new1", now)
        store.claim("old2", now)
        db.session.commit()
    with app.app_context():
        assert store.counts(now - dt.timedelta(days=365)) == {"imported": 4, "exchanged": 2, "expired": 1}
