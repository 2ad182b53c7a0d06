"""store/budgets.py: one statement counts, for several budgets at once, the failures inside a window
that spend each (by event kind and what they share with the caller) and finds the oldest."""

from __future__ import annotations

import datetime as dt

from authserver.store import security_events
from authserver.store.budgets import FailureCounts
from authserver.store.budgets import record_failure
from authserver.store.budgets import signed_in_since
from authserver.store.database import db

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.timezone.utc)
AUTH = security_events.CLIENT_AUTH_FAILED
LOOKUP = security_events.TOKEN_LOOKUP_FAILED


def test_each_budget_counts_its_kinds_from_the_same_caller_inside_the_window(app):
    counts = FailureCounts([((AUTH, LOOKUP), ("ip",)), ((LOOKUP,), ("client_id",)), ((AUTH,), ("ip",))])
    with app.app_context():
        for minutes, kind, client_id, ip in [(0, AUTH, None, "192.0.2.1"), (1, LOOKUP, "c1", "192.0.2.1"),
                                             (2, LOOKUP, "c1", "192.0.2.9"), (3, LOOKUP, "c2", "192.0.2.1"),
                                             (4, AUTH, None, None), (-30, AUTH, None, "192.0.2.1")]:
            record_failure(kind, T0 + dt.timedelta(minutes=minutes), client_id, ip, "token")
        db.session.commit()
        since = T0 - dt.timedelta(minutes=10)
        assert counts.count(since, ip="192.0.2.1", client_id="c1") == [
            (3, T0), (2, T0 + dt.timedelta(minutes=1)), (1, T0)]
        # An unknown address counts with the other unknown ones; no client matches no row.
        assert counts.count(since, ip=None, client_id=None) == [(1, T0 + dt.timedelta(minutes=4)), (0, None),
                                                                (1, T0 + dt.timedelta(minutes=4))]


def test_a_sign_in_from_an_address_is_remembered_for_that_client_only(app):
    with app.app_context():
        security_events.record_event(security_events.LOGIN_SUCCEEDED, T0, username="alice", client_id="c1",
                                     ip="192.0.2.1")
        db.session.commit()
        assert signed_in_since("alice", "c1", "192.0.2.1", T0 - dt.timedelta(days=1))
        assert not signed_in_since("alice", "c2", "192.0.2.1", T0 - dt.timedelta(days=1))
        assert not signed_in_since("alice", "c1", "192.0.2.2", T0 - dt.timedelta(days=1))
        assert not signed_in_since("alice", "c1", "192.0.2.1", T0)
