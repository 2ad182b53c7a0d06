"""`sessions prune` (authserver/store/retention.py): it ends sessions past their idle timeout or
maximum age with their reasons, and deletes what is past ``retention_seconds``: ended sessions with
their refresh tokens (a live session keeps its used ones, so a replay is still caught), security events
(kept as long as the longest throttle window), deny-list entries once their token would have expired,
and authorization codes and device authorizations (kept past their expiry, so a reused code is still
recognised)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func
from sqlalchemy import select

from authserver.sessions.device_sessions import ENDED_BY_REUSE
from authserver.sessions.device_sessions import ENDED_BY_USER
from authserver.sessions.device_sessions import ENDED_IDLE
from authserver.sessions.device_sessions import ENDED_MAX_AGE
from authserver.store import denylist
from authserver.store import retention
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import AuthorizationCode
from authserver.store.models import DeviceAuthorization
from authserver.store.models import RefreshToken
from authserver.store.models import RevokedAccessToken
from authserver.store.models import SecurityEvent
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.conftest import in_unit_of_work
from tests.conftest import password_login
from tests.conftest import refresh
from tests.device_helpers import device_client
from tests.device_helpers import started
from tests.session_helpers import PHONE_UA
from tests.session_helpers import keep_alive
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.session_helpers import sign_in

RETENTION = 500
IDLE = 1000
MAX_AGE = 3000


@pytest.fixture
def settings_overrides():
    # Sessions end after IDLE or MAX_AGE seconds, before their access tokens do.
    return {"retention_seconds": RETENTION, "session_idle_timeout_seconds": IDLE, "session_max_age_seconds": MAX_AGE,
            "access_token_ttl_seconds": 2 * MAX_AGE, "authorization_code_ttl_seconds": 60,
            "device_code_ttl_seconds": 600}


def rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def prune(app) -> dict:
    return in_unit_of_work(app, retention.prune)


def test_prune_ends_expired_sessions_with_their_reasons(app, client, factory, registered, clock):
    factory.user("bob")
    idle = sign_in(client, registered)
    aged = sign_in(client, registered, user_agent=PHONE_UA)
    clock.advance(900)
    keep_alive(client, registered, aged)
    live = sign_in(client, registered, username="bob")
    for _ in range(2):
        clock.advance(900)
        keep_alive(client, registered, aged)
        keep_alive(client, registered, live)
    clock.advance(300)  # aged reached MAX_AGE; live was used 300 s ago

    assert prune(app)["ended"] == 2
    assert session_row(app, idle.sid).ended_reason == ENDED_IDLE
    assert session_row(app, aged.sid).ended_reason == ENDED_MAX_AGE
    assert session_row(app, live.sid).ended_at is None
    assert sorted((e["session_id"], e["detail"]["reason"]) for e in logged_events(app, security_events.SESSION_ENDED)) \
        == sorted([(idle.sid, ENDED_IDLE), (aged.sid, ENDED_MAX_AGE)])


def test_prune_deletes_ended_sessions_only_after_the_retention(app, client, registered, clock):
    ended = sign_in(client, registered)
    keep_alive(client, registered, ended)
    live = sign_in(client, registered, user_agent=PHONE_UA)
    first_of_live = live.refresh_token
    keep_alive(client, registered, live)  # leaves a used tombstone in a live session
    in_unit_of_work(app, lambda services: services.sessions.end_session(ended.sid, ENDED_BY_USER, actor="alice"))
    events_before = rows(app, SecurityEvent)

    clock.advance(499)
    assert prune(app)["deleted_sessions"] == 0
    clock.advance(1)
    counts = prune(app)
    assert (counts["deleted_sessions"], counts["deleted_refresh_tokens"]) == (1, 2)
    assert session_row(app, ended.sid) is None
    # The live session keeps its used tokens, so a replay of one is still caught as reuse.
    assert rows(app, RefreshToken) == 2
    assert rows(app, SecurityEvent) == events_before  # kept as long as the longest throttle window (900 s)
    assert refresh(client, registered, first_of_live).json["error"] == "invalid_grant"
    assert session_row(app, live.sid).ended_reason == ENDED_BY_REUSE


def test_prune_deletes_security_events_past_the_retention_or_the_throttle_windows(app, client, registered, clock):
    # Retention is 500 s here, the sign-in throttle's window 900 s: the failures it counts stay that long.
    sign_in(client, registered)
    assert password_login(client, registered, password="wrong").status_code == 400
    clock.advance(899)
    assert prune(app)["deleted_security_events"] == 0
    clock.advance(1)
    assert prune(app)["deleted_security_events"] == 2
    assert rows(app, SecurityEvent) == 0


def test_prune_drops_deny_list_entries_once_the_token_would_have_expired(app, clock):
    expires_at = clock.now() + dt.timedelta(seconds=900)
    in_unit_of_work(app, lambda services: denylist.deny_access_token("jti-1", expires_at, clock.now()))
    clock.advance(899)
    assert prune(app)["deleted_denied_access_tokens"] == 0
    assert in_unit_of_work(app, lambda services: denylist.is_access_token_denied("jti-1"))
    clock.advance(1)
    assert prune(app)["deleted_denied_access_tokens"] == 1
    assert rows(app, RevokedAccessToken) == 0


def test_prune_deletes_codes_only_once_they_have_been_expired_for_the_retention(app, client, factory, clock):
    factory.user("alice")
    connect(app, code_client(factory))
    started(client, device_client(factory))
    assert (rows(app, AuthorizationCode), rows(app, DeviceAuthorization)) == (1, 1)

    clock.advance(600 + RETENTION - 1)  # the code expired long ago, the device authorization too, not yet past retention
    assert prune(app)["deleted_codes"] == 1
    assert (rows(app, AuthorizationCode), rows(app, DeviceAuthorization)) == (0, 1)
    clock.advance(1)
    assert prune(app)["deleted_codes"] == 1
    assert rows(app, DeviceAuthorization) == 0

