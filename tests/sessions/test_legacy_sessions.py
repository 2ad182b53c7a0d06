"""Importing an older store's sessions (``sessions/legacy_sessions.py``), without HTTP: the report, a
re-run adding nothing, malformed lines reported by number without stopping, unknown users counted,
only digests stored, memory bounded however long the file, and ``status``. Both databases."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc

from sqlalchemy import select

from authserver.store.database import db
from authserver.store.models import Client
from authserver.store.models import LegacySession

LINE = {"token": "r:abc", "username": "alice", "device_name": "Alice's iPhone", "user_agent": "Parse-iOS/1.19",
        "ip": "198.51.100.4", "created_at": "2026-05-04T10:00:00Z"}


SMALL_BATCH = 50  # the memory test's batches: the default's (1000) would make it slow under tracemalloc


def line(**fields) -> bytes:
    return json.dumps({**LINE, **fields}).encode() + b"\n"


def run_import(app, lines, **options):
    with app.app_context():
        report = app.extensions["authserver"].legacy.import_lines(iter(lines), **options)
        db.session.commit()
        return report.as_json()


def test_import_keeps_digests_only_and_counts_each_outcome(app, factory):
    factory.user("alice")
    factory.user("bob")
    report = run_import(app, [line(token="r:1"), line(token="r:2", username="bob"), line(token="r:3", username="zoe"),
                              line(token="r:1")])
    assert report == {"imported": 2, "unknown_user": 1, "duplicate": 1, "malformed": 0, "malformed_lines": []}
    with app.app_context():
        rows = db.session.scalars(select(LegacySession)).all()
        assert len(rows) == 2
        assert all(len(row.token_digest) == 64 and "r:" not in row.token_digest for row in rows)
        assert {row.user.username for row in rows} == {"alice", "bob"}


def test_rerunning_an_import_adds_nothing(app, factory):
    factory.user("alice")
    lines = [line(token=f"r:{n}") for n in range(5)]
    assert run_import(app, lines)["imported"] == 5
    assert run_import(app, lines) == {"imported": 0, "unknown_user": 0, "duplicate": 5, "malformed": 0,
                                      "malformed_lines": []}
    with app.app_context():
        assert db.session.query(LegacySession).count() == 5


def test_malformed_lines_are_reported_by_number_and_the_rest_imported(app, factory):
    factory.user("alice")
    lines = [line(token="r:1"),
             b"{not json\n",
             line(token="r:2"),
             json.dumps({**LINE, "token": ""}).encode() + b"\n",
             json.dumps({key: value for key, value in LINE.items() if key != "username"}).encode() + b"\n",
             line(token="r:3", created_at="yesterday"),
             b"\xff\xfe not utf-8\n",
             b"[1, 2]\n",
             line(token="r:4", device_name=7),
             b"\n",
             line(token="r:5")]
    report = run_import(app, lines)
    assert report["malformed_lines"] == [2, 4, 5, 6, 7, 8, 9]
    assert (report["imported"], report["malformed"]) == (3, 7)


def test_import_memory_does_not_grow_with_the_file(app, factory):
    """Streaming in batches: the peak for four times the lines stays about the same."""
    factory.user("alice")

    def peak(count: int, offset: int) -> int:
        tracemalloc.start()
        try:
            run_import(app, (line(token=f"r:{offset + n}") for n in range(count)), batch_size=SMALL_BATCH)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(3 * SMALL_BATCH, 1000 * SMALL_BATCH)  # first use: statements compiled and cached, pools filled
    small = peak(3 * SMALL_BATCH, 0)
    large = peak(40 * SMALL_BATCH, 100 * SMALL_BATCH)
    assert large < small * 1.5, (small, large)


def test_status_counts_imported_exchanged_expired_remaining(app, factory, clock):
    factory.user("alice")
    app_client = factory.client(name="Notes")
    services = app.extensions["authserver"]
    old = clock.now() - dt.timedelta(seconds=services.settings.legacy_session_max_age_seconds)
    run_import(app, [line(token="r:1", created_at=clock.now().isoformat()),
                     line(token="r:2", created_at=clock.now().isoformat()),
                     line(token="r:old", created_at=old.isoformat())])
    with app.app_context():
        services.legacy.open_session(services.legacy.exchangeable("r:1"), db.session.get(Client, app_client.client_id),
                                     "profile")
        db.session.commit()
        assert services.legacy.status() == {"imported": 3, "exchanged": 1, "expired": 1, "remaining": 1,
                                            "migrated_share": 0.333333}
