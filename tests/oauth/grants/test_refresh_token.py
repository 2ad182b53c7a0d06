"""Refresh tokens rotate on every use (RFC 6749 §6, RFC 9700 §4.14.2) with reuse detection,
a grace window for lost responses, session lifetimes, and atomic, race-free rotation."""

import threading

import pytest
import requests
from sqlalchemy import select
from sqlalchemy import text

from authserver.sessions.device_sessions import ENDED_BY_REUSE
from authserver.sessions.device_sessions import ENDED_IDLE
from authserver.sessions.device_sessions import ENDED_MAX_AGE
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import DeviceSession
from authserver.store.models import RefreshToken
from authserver.store.models import SecurityEvent
from authserver.store.models import sha256_hex
from tests.conftest import at_once
from tests.conftest import password_login
from tests.conftest import refresh
from tests.session_helpers import session_row
from tests.token_helpers import claims_of
from tests.token_helpers import introspect


def claims(token_response):
    return claims_of(token_response.json["access_token"])


@pytest.fixture
def login(client, registered):
    response = password_login(client, registered)
    assert response.status_code == 200
    return response


def test_every_refresh_returns_a_new_refresh_token_in_the_same_session(app, client, registered, login, clock):
    first = login.json["refresh_token"]
    second = refresh(client, registered, first)
    assert second.status_code == 200, second.json
    assert second.json["refresh_token"] != first
    assert second.headers["Cache-Control"] == "no-store"
    assert claims(second)["sid"] == claims(login)["sid"]
    assert claims(second)["jti"] != claims(login)["jti"]
    clock.advance(60)
    third = refresh(client, registered, second.json["refresh_token"])
    assert third.status_code == 200
    assert len({first, second.json["refresh_token"], third.json["refresh_token"]}) == 3
    with app.app_context():
        chain = db.session.scalars(select(RefreshToken).order_by(RefreshToken.generation)).all()
        assert [t.generation for t in chain] == [0, 1, 2]
        assert [t.parent_id for t in chain] == [None, chain[0].id, chain[1].id]
        assert [t.used_at is not None for t in chain] == [True, True, False]


def test_refresh_tokens_are_stored_only_as_sha256_digests(app, client, registered, login):
    token = login.json["refresh_token"]
    successor = refresh(client, registered, token).json["refresh_token"]
    with app.app_context():
        hashes = set(db.session.scalars(select(RefreshToken.token_hash)))
        assert hashes == {sha256_hex(token), sha256_hex(successor)}
        dump = "\n".join(str(row) for table in ("refresh_tokens", "device_sessions", "security_events")
                         for row in db.session.execute(text(f"SELECT * FROM {table}")))
    assert token not in dump and successor not in dump


def test_reuse_after_the_grace_window_ends_the_whole_session(app, client, registered, login, clock):
    old = login.json["refresh_token"]
    successor = refresh(client, registered, old).json["refresh_token"]
    clock.advance(11)  # past the 10-second grace window
    reused = refresh(client, registered, old, headers={"User-Agent": "attacker"})
    assert reused.status_code == 400
    assert reused.json["error"] == "invalid_grant"
    # Every token of the session is dead now, the legitimate successor included.
    assert refresh(client, registered, successor).json["error"] == "invalid_grant"
    sid = claims(login)["sid"]
    session = session_row(app, sid)
    assert session.ended_reason == ENDED_BY_REUSE
    with app.app_context():
        assert app.extensions["authserver"].sessions.live_session(sid) is None
        event = db.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == security_events.REFRESH_TOKEN_REUSED)).one()
        assert (event.session_id, event.client_id, event.ip) == (sid, registered.client_id, "127.0.0.1")
        assert event.created_at == clock.now()
        assert event.username == "alice"


def test_reuse_kills_the_sessions_access_tokens_too(app, factory, client, registered, login, clock):
    resource_server = factory.client(name="notes api", introspect=True)
    successor = refresh(client, registered, login.json["refresh_token"])
    access_tokens = [login.json["access_token"], successor.json["access_token"]]
    assert all(introspect(client, resource_server, token).json["active"] for token in access_tokens)
    clock.advance(11)
    assert refresh(client, registered, login.json["refresh_token"]).json["error"] == "invalid_grant"
    # The JWTs have not expired, but their session is gone: resource servers that ask are told so.
    assert [introspect(client, resource_server, token).json for token in access_tokens] == [{"active": False}] * 2


def test_a_replay_asking_for_more_scope_is_still_reuse(app, client, registered, login, clock):
    old = login.json["refresh_token"]
    refresh(client, registered, old)
    clock.advance(11)
    # The scope would be refused anyway; the replay must not dodge reuse detection by asking for it.
    reused = refresh(client, registered, old, scope="profile email admin")
    assert reused.status_code == 400 and reused.json["error"] == "invalid_grant"
    assert session_row(app, claims(login)["sid"]).ended_reason == ENDED_BY_REUSE


def test_grace_retry_of_the_immediate_predecessor_returns_the_same_successor(app, client, registered, login, clock):
    old = login.json["refresh_token"]
    first = refresh(client, registered, old)
    clock.advance(9)
    retry = refresh(client, registered, old)
    assert retry.status_code == 200, retry.json
    assert retry.json["refresh_token"] == first.json["refresh_token"]
    assert claims(retry)["jti"] != claims(first)["jti"]  # a fresh access token
    assert claims(retry)["sid"] == claims(first)["sid"]
    # The session lives on and the successor keeps working.
    assert session_row(app, claims(login)["sid"]).ended_at is None
    assert refresh(client, registered, first.json["refresh_token"]).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(RefreshToken)) == 3


def test_an_older_generation_is_reuse_even_inside_the_grace_window(app, client, registered, login):
    gen0 = login.json["refresh_token"]
    gen1 = refresh(client, registered, gen0).json["refresh_token"]
    gen2 = refresh(client, registered, gen1).json["refresh_token"]
    # gen0 was used a moment ago, but its successor gen1 has been used too: gen0 is two behind.
    assert refresh(client, registered, gen0).json["error"] == "invalid_grant"
    assert refresh(client, registered, gen2).json["error"] == "invalid_grant"
    assert session_row(app, claims(login)["sid"]).ended_reason == ENDED_BY_REUSE


@pytest.mark.parametrize("settings_overrides", [{"refresh_grace_seconds": 0}])
def test_grace_zero_makes_any_replay_reuse(app, client, registered, login):
    old = login.json["refresh_token"]
    refresh(client, registered, old)
    assert refresh(client, registered, old).json["error"] == "invalid_grant"
    assert session_row(app, claims(login)["sid"]).ended_reason == ENDED_BY_REUSE


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout_seconds": 100,
                                                  "session_max_age_seconds": 250}])
def test_idle_timeout_ends_the_session(app, client, registered, login, clock):
    token = refresh(client, registered, login.json["refresh_token"])
    clock.advance(99)
    token = refresh(client, registered, token.json["refresh_token"])
    assert token.status_code == 200  # each use restarts the idle clock
    clock.advance(100)
    late = refresh(client, registered, token.json["refresh_token"])
    assert late.status_code == 400 and late.json["error"] == "invalid_grant"
    assert session_row(app, claims(login)["sid"]).ended_reason == ENDED_IDLE


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout_seconds": 100,
                                                  "session_max_age_seconds": 250}])
def test_max_age_ends_the_session_however_active(app, client, registered, login, clock):
    token = login.json["refresh_token"]
    for _ in range(2):
        clock.advance(90)
        response = refresh(client, registered, token)
        assert response.status_code == 200
        token = response.json["refresh_token"]
    clock.advance(90)  # 270 s after sign-in, though only 90 s idle
    assert refresh(client, registered, token).json["error"] == "invalid_grant"
    assert session_row(app, claims(login)["sid"]).ended_reason == ENDED_MAX_AGE


@pytest.mark.parametrize("settings_overrides", [{"session_max_age_seconds": 3600}])  # idle: the 30-day default
def test_an_idle_timeout_longer_than_the_max_age_is_never_reached(app, client, registered, login, clock):
    clock.advance(3599)
    token = refresh(client, registered, login.json["refresh_token"])
    assert token.status_code == 200
    clock.advance(1)
    assert refresh(client, registered, token.json["refresh_token"]).json["error"] == "invalid_grant"
    assert session_row(app, claims(login)["sid"]).ended_reason == ENDED_MAX_AGE


def test_refresh_updates_last_active_ip_and_user_agent(app, client, registered, login, clock):
    clock.advance(500)
    response = refresh(client, registered, login.json["refresh_token"],
                       headers={"User-Agent": "NewApp/2.0", "X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200
    session = session_row(app, claims(login)["sid"])
    assert session.last_active_at == clock.now()
    assert session.user_agent == "NewApp/2.0"
    assert session.ip == "127.0.0.1"  # X-Forwarded-For is ignored unless AUTHSERVER_PROXY_HOPS says otherwise


@pytest.mark.parametrize("settings_overrides", [{"proxy_hops": 1}])
def test_behind_a_trusted_proxy_the_forwarded_ip_is_recorded(app, client, registered):
    response = password_login(client, registered, headers={"X-Forwarded-For": "203.0.113.9"})
    assert session_row(app, claims(response)["sid"]).ip == "203.0.113.9"


def test_scope_may_narrow_and_the_successor_keeps_the_original_scope(client, registered, login):
    assert login.json["scope"] == "profile email"
    narrowed = refresh(client, registered, login.json["refresh_token"], scope="profile")
    assert narrowed.status_code == 200
    assert narrowed.json["scope"] == "profile" and claims(narrowed)["scope"] == "profile"
    # RFC 6749 §6: the new refresh token carries the scope originally granted.
    again = refresh(client, registered, narrowed.json["refresh_token"])
    assert again.json["scope"] == "profile email"


def test_scope_may_not_widen_and_the_token_is_not_consumed(factory, client):
    factory.user("bob")
    registered = factory.client(name="narrow", scope="profile email")
    login = password_login(client, registered, username="bob", scope="profile")
    wider = refresh(client, registered, login.json["refresh_token"], scope="profile email")
    assert wider.status_code == 400 and wider.json["error"] == "invalid_scope"
    assert refresh(client, registered, login.json["refresh_token"]).status_code == 200


def test_another_client_cannot_use_the_token_and_does_no_harm(app, factory, client, registered, login, clock):
    other = factory.client(name="other")
    token = login.json["refresh_token"]
    assert refresh(client, other, token).json["error"] == "invalid_grant"
    successor = refresh(client, registered, token).json["refresh_token"]
    clock.advance(60)
    # Even replaying the rotated token from another client must not end the owner's session.
    assert refresh(client, other, token).json["error"] == "invalid_grant"
    assert refresh(client, registered, successor).status_code == 200
    assert session_row(app, claims(login)["sid"]).ended_at is None


def test_another_client_inside_the_grace_window_gets_nothing_and_does_no_harm(
        app, factory, client, registered, login, clock):
    other = factory.client(name="other")
    token = login.json["refresh_token"]
    successor = refresh(client, registered, token).json["refresh_token"]
    clock.advance(2)  # inside the window, where the owner's retry would get the successor
    assert refresh(client, other, token).json["error"] == "invalid_grant"
    assert refresh(client, registered, token).json["refresh_token"] == successor
    assert session_row(app, claims(login)["sid"]).ended_at is None


def test_a_disabled_users_refresh_fails(app, client, registered, login):
    from authserver.accounts import users

    with app.app_context():
        users.disable_user(app.extensions["authserver"], users.find_user("alice"), actor="test")
        db.session.commit()
    assert refresh(client, registered, login.json["refresh_token"]).json["error"] == "invalid_grant"


def test_a_disabled_user_cannot_refresh_even_a_session_left_open(app, client, registered, login):
    # Disabling ends the sessions too; this checks the refresh refuses the user on its own account,
    # e.g. for an account disabled directly in the database.
    from authserver.store.models import User

    with app.app_context():
        db.session.execute(db.update(User).values(disabled_at=app.extensions["authserver"].clock.now()))
        db.session.commit()
    assert session_row(app, claims(login)["sid"]).ended_at is None
    assert refresh(client, registered, login.json["refresh_token"]).json["error"] == "invalid_grant"


def test_a_long_user_agent_is_recorded_cut_and_never_refused(app, client, registered, clock):
    # Real devices send long User-Agents; the column holds 512 characters (PostgreSQL enforces it).
    long_agent = "Mozilla/5.0 " + "x" * 1000
    login = password_login(client, registered, headers={"User-Agent": long_agent})
    assert login.status_code == 200, login.json
    clock.advance(60)
    refreshed = refresh(client, registered, login.json["refresh_token"], headers={"User-Agent": long_agent + "y"})
    assert refreshed.status_code == 200, refreshed.json
    assert session_row(app, claims(login)["sid"]).user_agent == long_agent[:512]


def test_unknown_or_missing_refresh_token(client, registered):
    assert refresh(client, registered, "not-a-token").json["error"] == "invalid_grant"
    form, headers = registered.auth({"grant_type": "refresh_token"})
    assert client.post("/oauth/token", data=form, headers=headers).json["error"] == "invalid_request"


@pytest.mark.parametrize("where", ["signing", "commit"])
def test_database_fault_mid_rotation_rolls_back_and_the_old_token_still_works(
        app, client, registered, login, clock, monkeypatch, where):
    server = app.extensions["authserver.oauth"]
    if where == "signing":
        # The rotation rows are flushed, then the database fails before the response is ready.
        from authserver.tokens import access_tokens

        def failing(self, *args, **kwargs):
            db.session.execute(text("SELECT * FROM no_such_table"))

        monkeypatch.setattr(access_tokens.AccessTokenGenerator, "get_jwks", failing)
    else:
        def failing_commit(token, request):
            db.session.execute(text("SELECT * FROM no_such_table"))

        monkeypatch.setattr(server, "_save_token", failing_commit)
    token = login.json["refresh_token"]
    failed = refresh(client, registered, token)
    assert failed.status_code in (500, 503)
    assert failed.json["error"] in ("server_error", "temporarily_unavailable")
    assert (failed.headers["Cache-Control"], failed.headers["Pragma"]) == ("no-store", "no-cache")
    monkeypatch.undo()
    clock.advance(60)  # well past the grace window: a committed rotation would now count as reuse
    retried = refresh(client, registered, token)
    assert retried.status_code == 200, retried.json
    assert session_row(app, claims(login)["sid"]).ended_at is None
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(RefreshToken)) == 2


def while_signing(monkeypatch, action):
    """Run ``action`` once, as another request on another thread (its own app context, database
    session and connection), while the next refresh signs its access token: after the refresh
    has read its token and before it writes the rotation."""
    from authserver.tokens import access_tokens

    original = access_tokens.AccessTokenGenerator.get_jwks
    pending = [action]

    def get_jwks(self):
        while pending:
            other = threading.Thread(target=pending.pop())
            other.start()
            other.join()
        return original(self)

    monkeypatch.setattr(access_tokens.AccessTokenGenerator, "get_jwks", get_jwks)


def test_a_rotation_completed_while_another_signs_makes_that_one_a_grace_retry(
        app, client, registered, login, monkeypatch):
    token = login.json["refresh_token"]
    parallel = []
    while_signing(monkeypatch, lambda: parallel.append(refresh(app.test_client(), registered, token)))
    late = refresh(client, registered, token)
    assert parallel[0].status_code == 200 and late.status_code == 200, late.json
    # One successor: the late request found the token used and answered the grace-window retry.
    assert late.json["refresh_token"] == parallel[0].json["refresh_token"]
    with app.app_context():
        rows = db.session.scalars(select(RefreshToken).order_by(RefreshToken.generation)).all()
        assert [(t.generation, t.used_at is not None) for t in rows] == [(0, True), (1, False)]


def test_a_session_ended_while_its_refresh_signs_gets_no_successor(app, client, registered, login, monkeypatch):
    from tests.token_helpers import revoke

    token = login.json["refresh_token"]
    while_signing(monkeypatch, lambda: revoke(app.test_client(), registered, token, "refresh_token"))
    late = refresh(client, registered, token)
    assert late.status_code == 400 and late.json["error"] == "invalid_grant"
    assert session_row(app, claims(login)["sid"]).ended_at is not None
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(RefreshToken)) == 1


PARALLEL = 8


def test_parallel_refreshes_of_one_token_yield_one_successor(app, registered, login, live_server):
    token = login.json["refresh_token"]
    form, headers = registered.auth({"grant_type": "refresh_token", "refresh_token": token})
    results = at_once(PARALLEL, lambda: requests.post(live_server + "/oauth/token", data=form, headers=headers,
                                                      timeout=30))

    assert len(results) == PARALLEL
    for response in results:
        # Contention may be answered with a retryable status, never invalid_grant or a 500.
        assert response.status_code in (200, 409, 429), response.text
        if response.status_code != 200:
            assert response.headers["Retry-After"]
    successors = {r.json()["refresh_token"] for r in results if r.status_code == 200}
    assert len(successors) == 1
    with app.app_context():
        rows = db.session.scalars(select(RefreshToken).order_by(RefreshToken.generation)).all()
        assert [(t.generation, t.used_at is not None) for t in rows] == [(0, True), (1, False)]
        assert rows[1].token_hash == sha256_hex(successors.pop())
        assert db.session.get(DeviceSession, claims(login)["sid"]).ended_at is None
    # The chain is intact: the one successor rotates normally.
    successor = rows[1]
    form, headers = registered.auth({"grant_type": "refresh_token", "refresh_token": next(
        r.json()["refresh_token"] for r in results if r.status_code == 200)})
    assert requests.post(live_server + "/oauth/token", data=form, headers=headers, timeout=30).status_code == 200
    assert successor.generation == 1


@pytest.mark.parametrize("settings_overrides", [{"lock_timeout_seconds": 1}])
def test_unresolvable_lock_contention_is_a_retryable_409_not_invalid_grant(
        app, client, registered, login, backend, database_url, clock):
    import sqlalchemy

    sid = claims(login)["sid"]
    engine = sqlalchemy.create_engine(database_url)
    with engine.connect() as holder:
        # Another transaction holds the session's lock for longer than the lock timeout.
        if backend == "sqlite":
            holder.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            holder.execute(text("SELECT id FROM device_sessions WHERE id = :sid FOR UPDATE"), {"sid": sid})
        blocked = refresh(client, registered, login.json["refresh_token"])
        holder.rollback()
    engine.dispose()
    assert blocked.status_code == 409, blocked.json
    assert blocked.json["error"] == "temporarily_unavailable"
    assert blocked.headers["Retry-After"] == "1"
    assert (blocked.headers["Cache-Control"], blocked.headers["Pragma"]) == ("no-store", "no-cache")
    clock.advance(60)
    assert refresh(client, registered, login.json["refresh_token"]).status_code == 200
