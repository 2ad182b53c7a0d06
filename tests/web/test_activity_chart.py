"""The console's 24-hour chart (``web/activity_chart.py``), from real rows on SQLite and PostgreSQL:
each event lands in its hour, nothing older than 24 hours is drawn, each row is on its own scale (the
busiest hour is full height, a single event still shows), and sessions ended stack by cause in one
order."""

from __future__ import annotations

import datetime as dt

from authserver.store import security_events
from authserver.store.database import db
from authserver.web.activity_chart import HOURS
from authserver.web.activity_chart import TALL
from authserver.web.activity_chart import last_24_hours
from tests.conftest import in_unit_of_work
from tests.conftest import password_login
from tests.session_helpers import sign_in


def event(app, kind, at):
    in_unit_of_work(app, lambda services: security_events.record_event(kind, at, username="alice", ip="192.0.2.1"))


def series(chart, key):
    return next(row for row in chart.series if row.key == key)


def test_events_land_in_their_hour_and_older_ones_are_not_drawn(app, clock):
    now = clock.now()
    event(app, security_events.LOGIN_SUCCEEDED, now - dt.timedelta(hours=30))  # outside the window
    for _ in range(4):
        event(app, security_events.LOGIN_SUCCEEDED, now - dt.timedelta(hours=2))
    event(app, security_events.LOGIN_SUCCEEDED, now)
    event(app, security_events.LOGIN_FAILED, now)
    with app.app_context():
        chart = last_24_hours(now)
    assert len(chart.hours) == HOURS and chart.hours[-1] <= now < chart.hours[-1] + dt.timedelta(hours=1)
    signins = series(chart, "signins")
    assert [bar.total for bar in signins.bars][-3:] == [4, 0, 1]
    assert signins.total == 5 and signins.most == 4
    busiest, single = signins.bars[-3], signins.bars[-1]
    assert busiest.segments[0][3] == TALL  # the busiest hour is full height
    assert 1 <= single.segments[0][3] < TALL
    assert series(chart, "failures").total == 1 and series(chart, "reuse").total == 0


def test_sessions_ended_stack_by_cause_and_refreshes_are_counted(app, client, registered, clock):
    first, second = sign_in(client, registered), sign_in(client, registered)
    assert client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": second.refresh_token},
                       headers=registered.auth()[1]).status_code == 200
    with app.app_context():
        services = app.extensions["authserver"]
        services.sessions.end_user_sessions(first.claims["sub"], "admin", actor="root")
        db.session.commit()
    assert password_login(client, registered).status_code == 200
    with app.app_context():
        chart = last_24_hours(clock.now())
    ended = series(chart, "ended")
    assert ended.total == 2 and ended.parts == ["admin"]
    assert series(chart, "refreshes").total == 1
    assert series(chart, "signins").total == 3
