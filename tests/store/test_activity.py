"""store/activity.py: the console's hourly counts, from the rows the server keeps anyway: sign-ins,
failures and reuse detections (security events), refreshes (refresh tokens after a chain's first),
sessions ended by cause (device sessions); each in the UTC hour it happened, only since the start
of the window, on both databases."""

from __future__ import annotations

import datetime as dt

from authserver.store import activity
from authserver.store import security_events
from tests.conftest import password_login
from tests.conftest import refresh

HOUR = dt.timedelta(hours=1)
KINDS = (security_events.LOGIN_SUCCEEDED, security_events.LOGIN_FAILED, security_events.REFRESH_TOKEN_REUSED)


def hour_of(instant: dt.datetime) -> dt.datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


def test_each_kind_is_counted_in_the_hour_it_happened(app, factory, client, clock):
    factory.user()
    registered = factory.client()
    start = hour_of(clock.now())
    first = password_login(client, registered).json
    password_login(client, registered, password="wrong")
    password_login(client, registered, password="wrong")
    clock.advance(3600)
    assert refresh(client, registered, first["refresh_token"]).status_code == 200
    clock.advance(3600)  # far outside the grace window: the old token again is reuse, which ends the session
    assert refresh(client, registered, first["refresh_token"]).json["error"] == "invalid_grant"

    with app.app_context():
        events = sorted(activity.events_by_hour(start, KINDS))
        refreshes = activity.refreshes_by_hour(start)
        endings = activity.endings_by_hour(start)
        later = activity.events_by_hour(start + HOUR, KINDS)
    assert events == [(start, security_events.LOGIN_FAILED, 2), (start, security_events.LOGIN_SUCCEEDED, 1),
                      (start + 2 * HOUR, security_events.REFRESH_TOKEN_REUSED, 1)]
    assert refreshes == [(start + HOUR, 1)]  # the sign-in's own first token is no refresh
    assert endings == [(start + 2 * HOUR, "refresh_token_reuse", 1)]
    assert later == [(start + 2 * HOUR, security_events.REFRESH_TOKEN_REUSED, 1)]  # nothing before the window


def test_sessions_ended_are_counted_by_cause(app, factory, client, clock):
    factory.user()
    registered = factory.client()
    start = hour_of(clock.now())
    tokens = [password_login(client, registered).json for _ in range(3)]
    for token in tokens[:2]:
        assert client.post("/oauth/revoke", data={"token": token["refresh_token"]},
                           headers=registered.auth({})[1]).status_code == 200
    with app.app_context():
        assert activity.endings_by_hour(start) == [(start, "revocation", 2)]
        assert activity.events_by_hour(start, [security_events.LOGIN_SUCCEEDED]) == [
            (start, security_events.LOGIN_SUCCEEDED, 3)]
