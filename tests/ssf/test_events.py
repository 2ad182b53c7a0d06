"""Security Event Tokens pushed to streams (SSF 1.0, CAEP 1.0, RISC 1.0, RFC 8417, RFC 8935): each event
for each cause, in order per stream, held while paused, none while disabled, through a receiver that
goes down and comes back, a restart, and two nodes' workers racing. The receivers are real
(127.0.0.1); the clock is moved past backoffs instead of sleeping."""

from __future__ import annotations

import pytest

from authserver import create_app
from authserver.accounts import users
from authserver.outbound.worker import RETRY_BASE_SECONDS
from authserver.outbound.worker import OutboxWorker
from authserver.settings import Settings
from authserver.store import outbox
from authserver.store.database import db
from authserver.store.models import Client
from authserver.store.models import DeviceContext
from authserver.store.models import User
from tests.conftest import PASSWORD
from tests.conftest import at_once
from tests.conftest import in_unit_of_work
from tests.oauth.oidc.helpers import ENDING_CAUSES
from tests.oauth.oidc.helpers import end_by_admin_api
from tests.oauth.oidc.helpers import end_by_consent_withdrawn
from tests.oauth.oidc.helpers import end_by_expiry
from tests.oauth.oidc.helpers import end_by_reuse_detection
from tests.oauth.oidc.helpers import end_by_revocation
from tests.oauth.oidc.helpers import end_by_rp_initiated_logout
from tests.oauth.oidc.helpers import end_by_sessions_api
from tests.oauth.oidc.helpers import end_by_user_disabled
from tests.oauth.oidc.helpers import oidc_sign_in
from tests.oauth.oidc.helpers import relying_party
from tests.outbound.receivers import Receiver
from tests.outbound.receivers import nothing_listening_port
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.ssf.helpers import ACCOUNT_DISABLED
from tests.ssf.helpers import CREDENTIAL_CHANGE
from tests.ssf.helpers import SESSION_REVOKED
from tests.ssf.helpers import create_stream
from tests.ssf.helpers import deliver_all
from tests.ssf.helpers import event_of
from tests.ssf.helpers import pushed_sets
from tests.ssf.helpers import stream_command
from tests.ssf.helpers import waiting_count
from tests.token_helpers import claims_of

# CAEP 1.0 §2 initiating_entity for each cause.
INITIATED_BY = {end_by_sessions_api: "user", end_by_admin_api: "admin", end_by_reuse_detection: "system",
                end_by_consent_withdrawn: "user", end_by_user_disabled: "admin", end_by_rp_initiated_logout: "user",
                end_by_revocation: "user", end_by_expiry: "policy"}


@pytest.fixture
def alice(factory):
    return factory.user("alice", email="alice@example.com")


@pytest.fixture
def notes(factory, alice):
    return relying_party(factory)


def revoked_sessions(sets: list[dict]) -> list[str]:
    return [claims["sub_id"]["session"]["id"] for claims in sets if event_of(claims)[0] == SESSION_REVOKED]


def open_sessions(app, count: int) -> list[str]:
    """``count`` device sessions of alice with the Notes app, opened directly (no argon2 per sign-in)."""
    def one(services):
        user = db.session.query(User).filter_by(username="alice").one()
        client = db.session.query(Client).filter_by(name="Notes").one()
        return services.sessions.open_session(user, client, "", DeviceContext(device_name="test")).id

    return [in_unit_of_work(app, one) for _ in range(count)]


def end_sessions(app, session_ids: list[str]) -> None:
    """End each session in a transaction of its own, in this order."""
    for session_id in session_ids:
        assert in_unit_of_work(app, lambda services: services.sessions.end_session(session_id, "user", actor="alice"))


# -- each event, each cause ------------------------------------------------------------------------
@pytest.mark.parametrize("end", ENDING_CAUSES)
def test_caep_session_revoked_is_pushed_for_every_cause_a_session_ends_for(app, client, factory, clock, notes,
                                                                           receiver, stream, worker, end):
    http, tokens = oidc_sign_in(app, notes)
    sid = claims_of(tokens["id_token"])["sid"]
    assert worker.step() == 0  # nothing is owed while the session lives
    end(app, client, factory, notes, http, tokens, clock)
    assert session_row(app, sid).is_ended
    deliver_all(worker)
    sets = pushed_sets(app, receiver, stream)
    [revoked] = [claims for claims in sets if claims["sub_id"].get("session", {}).get("id") == sid]
    user = {"format": "iss_sub", "iss": revoked["iss"], "sub": claims_of(tokens["id_token"])["sub"]}
    assert revoked["sub_id"] == {"format": "complex", "user": user, "session": {"format": "opaque", "id": sid}}
    event_type, event = event_of(revoked)
    assert event_type == SESSION_REVOKED
    assert event["initiating_entity"] == INITIATED_BY[end]
    assert event["reason_admin"]["en"]
    assert waiting_count(app) == 0  # every SET acknowledged (202): gone from the outbox


def test_risc_account_disabled_comes_before_the_users_sessions_revoked(app, client, notes, receiver, stream, worker):
    _http, tokens = oidc_sign_in(app, notes)
    result = app.test_cli_runner().invoke(args=["users", "disable", "alice"])
    assert result.exit_code == 0, result.output
    deliver_all(worker)
    sets = pushed_sets(app, receiver, stream)
    assert event_of(sets[0]) == (ACCOUNT_DISABLED, {})
    assert sets[0]["sub_id"] == {"format": "complex", "user": {"format": "iss_sub", "iss": sets[0]["iss"],
                                                               "sub": claims_of(tokens["id_token"])["sub"]}}
    assert claims_of(tokens["id_token"])["sid"] in revoked_sessions(sets[1:])
    assert all(event_of(claims)[0] == SESSION_REVOKED for claims in sets[1:])


def test_caep_credential_change_is_pushed_when_a_password_is_set(app, alice, receiver, stream, worker):
    result = app.test_cli_runner().invoke(args=["users", "set-password", "alice", "--password-stdin"],
                                          input="another horse battery staple\n")
    assert result.exit_code == 0, result.output
    deliver_all(worker)
    [claims] = pushed_sets(app, receiver, stream)
    event_type, event = event_of(claims)
    assert event_type == CREDENTIAL_CHANGE
    assert event["credential_type"] == "password" and event["change_type"] == "update"
    assert event["initiating_entity"] == "admin"
    assert claims["sub_id"]["user"]["sub"] == alice and "session" not in claims["sub_id"]


def test_a_stream_gets_only_the_event_types_it_requested(app, alice, receiver, worker):
    stream = create_stream(app, receiver.url + "/events", "--event", CREDENTIAL_CHANGE)
    receiver.behaviour.status = 202
    assert app.test_cli_runner().invoke(args=["users", "disable", "alice"]).exit_code == 0
    assert app.test_cli_runner().invoke(args=["users", "set-password", "alice", "--password-stdin"],
                                        input=PASSWORD + "!\n").exit_code == 0
    deliver_all(worker)
    assert [event_of(claims)[0] for claims in pushed_sets(app, receiver, stream)] == [CREDENTIAL_CHANGE]


def test_a_rolled_back_password_change_pushes_nothing(app, alice, stream, worker):
    with app.app_context():
        services = app.extensions["authserver"]
        users.set_password(services, users.find_user("alice"), "another horse battery staple", actor="cli")
        assert len(outbox.waiting()) == 1  # in the change's transaction...
        db.session.rollback()
    assert waiting_count(app) == 0  # ...and gone with it
    assert worker.step() == 0


# -- delivery ----------------------------------------------------------------------------------------
def test_a_receiver_that_is_down_gets_every_set_in_order_once_it_is_up(app, clock, notes, worker):
    port = nothing_listening_port()
    stream = create_stream(app, f"http://127.0.0.1:{port}/events")
    sessions = open_sessions(app, 3)
    end_sessions(app, sessions)
    assert worker.step() == 1  # the first only: the others wait behind it
    assert worker.step() == 0  # not due before the backoff
    receiver = Receiver(port=port)
    receiver.behaviour.status = 202
    try:
        clock.advance(RETRY_BASE_SECONDS + 1)
        assert deliver_all(worker) == 3
        assert revoked_sessions(pushed_sets(app, receiver, stream)) == sessions
    finally:
        receiver.close()
    assert waiting_count(app) == 0


def test_a_set_refused_with_a_4xx_is_given_up_and_the_next_one_goes(app, notes, receiver, stream, worker):
    sessions = open_sessions(app, 2)
    end_sessions(app, sessions)
    receiver.behaviour.status = 400
    assert worker.step() == 1
    receiver.behaviour.status = 202
    assert deliver_all(worker) == 1  # the refused one is not tried again
    assert revoked_sessions(pushed_sets(app, receiver, stream)) == sessions  # both got there once
    assert len(receiver.received) == 2
    [given_up] = logged_events(app, "outbound_given_up")
    assert given_up["detail"]["reason"].startswith("rejected: HTTP 400")


def test_a_restarted_server_delivers_what_was_queued(app, clock, database_url, keys_dir, settings_overrides, notes,
                                                     receiver, stream):
    sessions = open_sessions(app, 2)
    end_sessions(app, sessions)
    restarted = create_app(Settings(database_url=database_url, keys_dir=keys_dir, **settings_overrides), clock=clock)
    worker = OutboxWorker(restarted)
    try:
        assert deliver_all(worker) == 2
    finally:
        worker.close()
        with restarted.app_context():
            db.session.remove()
            db.engine.dispose()
    assert revoked_sessions(pushed_sets(app, receiver, stream)) == sessions


def test_two_nodes_deliver_every_set_at_least_once_and_in_order_per_stream(app, clock, database_url, keys_dir,
                                                                            settings_overrides, notes, receiver):
    receiver.behaviour.status = 202
    receiver.behaviour.handle_seconds = 0.01
    streams = [create_stream(app, f"{receiver.url}/events/{n}") for n in range(3)]
    sessions = open_sessions(app, 8)
    end_sessions(app, sessions)
    other = create_app(Settings(database_url=database_url, keys_dir=keys_dir, **settings_overrides), clock=clock)
    workers = [OutboxWorker(app), OutboxWorker(other)]
    try:
        each = iter(workers)
        at_once(len(workers), lambda: deliver_all(next(each)))  # one node's worker per thread, released together
    finally:
        for worker in workers:
            worker.close()
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    for n, stream in enumerate(streams):
        sets = pushed_sets(app, receiver, stream, path=f"/events/{n}")
        first_seen = list({claims["jti"]: claims for claims in sets}.values())  # the receiver dedupes by jti
        assert revoked_sessions(first_seen) == sessions  # every one, in the order they ended
    assert waiting_count(app) == 0
    assert receiver.most_in_flight > 1  # the streams were delivered side by side


# -- status ------------------------------------------------------------------------------------------
def test_a_paused_stream_holds_its_sets_until_it_is_enabled_then_gets_them_in_order(app, notes, receiver, stream,
                                                                                      worker):
    first, second = open_sessions(app, 2)
    end_sessions(app, [first])
    stream_command(app, "status", stream["stream_id"], "paused")  # what was queued is held too
    end_sessions(app, [second])
    assert worker.step() == 0
    assert waiting_count(app) == 2  # held, not lost
    stream_command(app, "status", stream["stream_id"], "enabled")
    assert deliver_all(worker) == 2
    assert revoked_sessions(pushed_sets(app, receiver, stream)) == [first, second]


def test_a_disabled_stream_gets_nothing_and_what_it_was_owed_is_dropped(app, notes, receiver, stream, worker):
    first, second = open_sessions(app, 2)
    end_sessions(app, [first])
    stream_command(app, "status", stream["stream_id"], "disabled")
    end_sessions(app, [second])
    assert waiting_count(app) == 0
    stream_command(app, "status", stream["stream_id"], "enabled")
    assert deliver_all(worker) == 0
    assert receiver.received == []


def test_metrics_show_each_streams_lag(app, clock, notes, receiver, stream, worker):
    stream_command(app, "status", stream["stream_id"], "paused")
    end_sessions(app, open_sessions(app, 2))
    clock.advance(42)
    worker.refresh_gauges()
    registry = app.extensions["authserver"].metrics.registry
    labels = {"stream": stream["stream_id"]}
    assert registry.get_sample_value("authserver_stream_queued_events", labels) == 2
    assert registry.get_sample_value("authserver_stream_oldest_event_age_seconds", labels) == 42
    stream_command(app, "status", stream["stream_id"], "enabled")
    deliver_all(worker)
    assert registry.get_sample_value("authserver_stream_queued_events", labels) == 0
    assert registry.get_sample_value("authserver_stream_oldest_event_age_seconds", labels) == 0
