"""accounts/users.py: the rules for creating users, checking their passwords (argon2, with no
transaction open meanwhile: store/users.py) and disabling them."""

from __future__ import annotations

import sqlite3

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from authserver.accounts import users
from authserver.errors import AccountError
from authserver.errors import UserNotFound
from authserver.sessions.device_sessions import ENDED_USER_DISABLED
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.database import sqlite_path
from authserver.store.models import SecurityEvent
from authserver.store.models import User
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.session_helpers import logged_events
from tests.session_helpers import sign_in
from tests.web.conftest import sign_in as web_sign_in


@pytest.fixture
def services(app):
    return app.extensions["authserver"]


@pytest.mark.parametrize(("username", "email", "password", "message"), [
    ("", None, PASSWORD, "usernames are 1 to 150 printable characters without spaces"),
    ("al ice", None, PASSWORD, "usernames are 1 to 150 printable characters without spaces"),
    ("a" * 151, None, PASSWORD, "usernames are 1 to 150 printable characters without spaces"),
    ("al\x00ice", None, PASSWORD, "usernames are 1 to 150 printable characters without spaces"),
    ("alice", "not-an-address", PASSWORD, "'not-an-address' is not an email address"),
    ("alice", "a b@example.com", PASSWORD, "is not an email address"),
    ("alice", None, "", "the password is too short: use at least 8 characters"),
])
def test_create_user_refuses_what_cannot_be_an_account(app, services, username, email, password, message):
    with app.app_context(), pytest.raises(AccountError, match=message.replace("'", ".")):
        users.create_user(services, username, password, email=email)


def test_create_user_stores_an_argon2id_hash_never_the_password_and_refuses_a_second_alice(app, services):
    with app.app_context():
        created = users.create_user(services, "  alice  ", PASSWORD, email="alice@example.com")
        db.session.commit()
        assert created.username == "alice"
        stored = db.session.scalar(select(User.password_hash).where(User.username == "alice"))
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        with pytest.raises(AccountError, match="user 'alice' already exists"):
            users.create_user(services, "alice", "another password")


def test_require_user_finds_the_user_or_says_there_is_none(app, factory):
    factory.user()
    with app.app_context():
        assert users.require_user("alice").username == "alice"
        with pytest.raises(UserNotFound):
            users.require_user("bob")


def test_the_right_password_signs_in_and_records_no_failure(app, factory, services):
    factory.user()
    with app.test_request_context():
        assert users.authenticate_user(services, "alice", PASSWORD, ip="192.0.2.7").username == "alice"
        db.session.commit()
    assert logged_events(app, security_events.LOGIN_FAILED) == []


@pytest.mark.parametrize(("username", "password", "disable", "reason"), [
    ("alice", "wrong password", False, users.FAILED_BAD_CREDENTIALS),
    ("nobody", PASSWORD, False, users.FAILED_BAD_CREDENTIALS),
    ("alice", PASSWORD, True, users.FAILED_DISABLED),
])
def test_each_failure_is_refused_alike_and_recorded_with_its_reason(app, factory, services, username, password,
                                                                    disable, reason):
    user_id = factory.user()
    if disable:
        with app.app_context():
            users.disable_user(services, users.find_user("alice"), actor="test")
            db.session.commit()
    with app.test_request_context():
        assert users.authenticate_user(services, username, password, ip="192.0.2.7", device_cookie="c00k1e") is None
        db.session.commit()
    [failure] = logged_events(app, security_events.LOGIN_FAILED)
    assert failure["username"] == username and failure["ip"] == "192.0.2.7"
    assert failure["user_id"] == (user_id if username == "alice" else None)
    assert failure["detail"] == {"reason": reason}
    with app.app_context():
        cookie = select(SecurityEvent.device_cookie).where(SecurityEvent.kind == security_events.LOGIN_FAILED)
        assert db.session.scalar(cookie) == "c00k1e"


def test_an_outdated_hash_is_replaced_when_the_password_is_right(app, factory, services):
    factory.user()
    weaker = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with app.app_context():
        users.find_user("alice").password_hash = weaker
        db.session.commit()
    with app.test_request_context():
        users.authenticate_user(services, "alice", PASSWORD)
        db.session.commit()
    with app.app_context():
        rehashed = users.find_user("alice").password_hash
    assert rehashed != weaker and not services.passwords.needs_rehash(rehashed)


@pytest.mark.parametrize("where", ["token endpoint (reads first)", "sign-in page"])
def test_the_argon2_check_holds_no_transaction_and_no_write_lock(app, factory, client, services, backend, monkeypatch,
                                                                 where):
    """A check is tens of milliseconds: a transaction held through it (on SQLite the database-wide write
    lock) would queue every other writer behind it."""
    registered = factory.client(grant_types=("password",))
    factory.user()
    seen = []
    verify = services.passwords.verify

    def checking_verify(password_hash, password):
        seen.append(db.session().in_transaction())
        if backend == "sqlite":
            # Another writer can take the write lock meanwhile.
            other = sqlite3.connect(sqlite_path(app.config["SQLALCHEMY_DATABASE_URI"]), timeout=0,
                                    isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
            finally:
                other.close()
        return verify(password_hash, password)

    monkeypatch.setattr(services.passwords, "verify", checking_verify)
    if where == "sign-in page":
        assert web_sign_in(client).status_code == 302
    else:
        assert password_login(client, registered).status_code == 200
    assert seen == [False]


def test_disabling_a_user_ends_every_session_once_and_records_it_once(app, factory, client, services):
    registered = factory.client()
    factory.user()
    for _ in range(2):
        sign_in(client, registered)
    with app.app_context():
        alice = users.find_user("alice")
        assert users.disable_user(services, alice, actor="root", ip="192.0.2.9") == 2
        assert users.disable_user(services, alice, actor="root") == 0
        db.session.commit()
    [disabled] = logged_events(app, security_events.USER_DISABLED)
    assert (disabled["username"], disabled["actor"], disabled["ip"]) == ("alice", "root", "192.0.2.9")
    ended = logged_events(app, security_events.SESSION_ENDED)
    assert [event["detail"]["reason"] for event in ended] == [ENDED_USER_DISABLED] * 2


@pytest.mark.parametrize("password", ["short", "password1", "x" * 129])
def test_a_password_change_follows_the_new_password_rule_and_keeps_the_old_one_on_refusal(app, factory, password):
    factory.user("alice")
    with app.app_context():
        services = app.extensions["authserver"]
        user = users.find_user("alice")
        before = user.password_hash
        with pytest.raises(AccountError):
            users.set_password(services, user, password, actor="cli")
        assert user.password_hash == before
