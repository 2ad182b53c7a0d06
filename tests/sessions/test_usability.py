"""The one rule for "is this session usable" (``sessions/device_sessions.usability``): its whole input
space (ended, idle, max age, disabled user, another client or user) and its exact boundaries, as a
table and as a property against a model written out here. No database: the rule is over plain rows."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authserver.clock import ManualClock
from authserver.sessions.device_sessions import ENDED_IDLE
from authserver.sessions.device_sessions import ENDED_MAX_AGE
from authserver.sessions.device_sessions import EXPIRED
from authserver.sessions.device_sessions import FOREIGN
from authserver.sessions.device_sessions import OVER
from authserver.sessions.device_sessions import USABLE
from authserver.sessions.device_sessions import DeviceSessions
from authserver.sessions.device_sessions import SessionState
from authserver.sessions.device_sessions import deadline_reached
from authserver.sessions.device_sessions import ends_at
from authserver.sessions.device_sessions import usability
from authserver.settings import Settings

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
IDLE = dt.timedelta(seconds=1000)
MAX_AGE = dt.timedelta(seconds=3000)
TICK = dt.timedelta(microseconds=1)


def state(*, last_active=dt.timedelta(0), ended=False, disabled=False, client_id="app", user_id="alice"):
    """A session signed in at T0 (max age MAX_AGE), last used ``last_active`` after T0."""
    return SessionState(session_id="sid", user_id=user_id, client_id=client_id,
                        ended_at=T0 if ended else None, disabled_at=T0 if disabled else None,
                        expires_at=T0 + MAX_AGE, last_active_at=T0 + last_active)


def at(offset: dt.timedelta) -> dt.datetime:
    return T0 + offset


CASES = [
    # (session, now, who, verdict)
    ("fresh", state(), at(dt.timedelta(0)), {}, USABLE),
    ("one tick before the idle deadline", state(), at(IDLE - TICK), {}, USABLE),
    ("at the idle deadline", state(), at(IDLE), {}, EXPIRED[ENDED_IDLE]),
    ("used again: the idle clock restarts", state(last_active=IDLE), at(2 * IDLE - TICK), {}, USABLE),
    ("one tick before the max age, just used", state(last_active=MAX_AGE - TICK), at(MAX_AGE - TICK), {}, USABLE),
    ("at the max age however active", state(last_active=MAX_AGE - TICK), at(MAX_AGE), {}, EXPIRED[ENDED_MAX_AGE]),
    ("both deadlines at once: the max age", state(last_active=MAX_AGE - IDLE), at(MAX_AGE), {},
     EXPIRED[ENDED_MAX_AGE]),
    ("long past both, idle first", state(), at(10 * MAX_AGE), {}, EXPIRED[ENDED_IDLE]),
    ("long past both, max age first", state(last_active=MAX_AGE - TICK), at(10 * MAX_AGE), {},
     EXPIRED[ENDED_MAX_AGE]),
    ("ended", state(ended=True), at(dt.timedelta(0)), {}, OVER),
    ("ended and past a deadline: nothing left to end", state(ended=True), at(IDLE), {}, OVER),
    ("its user disabled", state(disabled=True), at(dt.timedelta(0)), {}, OVER),
    ("its user disabled, past a deadline", state(disabled=True), at(MAX_AGE), {}, OVER),
    ("the client it was issued to", state(), at(dt.timedelta(0)), {"client_id": "app", "user_id": "alice"}, USABLE),
    ("another client", state(), at(dt.timedelta(0)), {"client_id": "other"}, FOREIGN),
    ("another client, ended and expired: still only foreign", state(ended=True), at(MAX_AGE),
     {"client_id": "other"}, FOREIGN),
    ("another user", state(), at(dt.timedelta(0)), {"user_id": "bob"}, FOREIGN),
    ("another client, past a deadline: not ended by it", state(), at(IDLE), {"client_id": "other"}, FOREIGN),
]


@pytest.mark.parametrize(("session", "now", "who", "verdict"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_the_rule_at_each_case_and_boundary(session, now, who, verdict):
    assert usability(session, now, IDLE, **who) == verdict


def test_ends_at_is_the_first_deadline():
    assert ends_at(T0 + MAX_AGE, T0, IDLE) == T0 + IDLE
    assert ends_at(T0 + MAX_AGE, T0 + MAX_AGE - TICK, IDLE) == T0 + MAX_AGE


offsets = st.integers(min_value=-5, max_value=5000).map(lambda seconds: dt.timedelta(seconds=seconds))


@given(last_active=st.integers(min_value=0, max_value=3000).map(lambda s: dt.timedelta(seconds=s)), now=offsets,
       ended=st.booleans(), disabled=st.booleans(), client_id=st.sampled_from([None, "app", "other"]),
       user_id=st.sampled_from([None, "alice", "bob"]))
def test_the_rule_against_its_model(last_active, now, ended, disabled, client_id, user_id):
    session = state(last_active=last_active, ended=ended, disabled=disabled)
    verdict = usability(session, at(now), IDLE, client_id=client_id, user_id=user_id)

    idle_end, max_age_end = session.last_active_at + IDLE, session.expires_at
    if client_id not in (None, "app") or user_id not in (None, "alice"):
        assert verdict == FOREIGN
    elif ended or disabled:
        assert verdict == OVER
    elif at(now) < min(idle_end, max_age_end):
        assert verdict == USABLE
    else:
        assert verdict == EXPIRED[ENDED_MAX_AGE if max_age_end <= idle_end else ENDED_IDLE]
    # Usable exactly until the time ends_at announces (introspection's `exp`, the API's `expires_at`),
    # and a session to end is ended for the deadline the bulk ending (prune) would give it.
    if verdict not in (FOREIGN, OVER):
        assert verdict.usable == (at(now) < ends_at(max_age_end, session.last_active_at, IDLE))
        assert verdict.expired_for == deadline_reached(max_age_end, session.last_active_at, at(now), IDLE)


def test_the_servers_rule_reads_the_injected_clock_and_the_idle_setting():
    clock = ManualClock(T0)
    sessions = DeviceSessions(Settings(session_idle_timeout_seconds=1000, session_max_age_seconds=3000), clock)
    session = state()
    clock.advance(999)
    assert sessions.usability(session) == USABLE
    clock.advance(1)
    assert sessions.usability(session) == EXPIRED[ENDED_IDLE]
    assert sessions.usability(session, T0) == USABLE  # a caller's own `now` (a rotation's) wins
    assert sessions.ends_at(session) == T0 + IDLE


def test_rows_with_the_same_columns_are_judged_alike():
    # The store's hot-path rows are not SessionState objects; the rule reads their columns.
    from collections import namedtuple

    Row = namedtuple("Row", "session_id user_id client_id ended_at disabled_at expires_at last_active_at extra")
    session = state()
    row = Row(*(getattr(session, name) for name in Row._fields[:-1]), extra="ignored")
    for now in (at(IDLE - TICK), at(IDLE)):
        assert usability(row, now, IDLE, client_id="app") == usability(session, now, IDLE, client_id="app")
