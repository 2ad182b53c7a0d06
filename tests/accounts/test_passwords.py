"""New passwords as NIST SP 800-63B says: 8 to 128 characters, not a common one, no composition rules;
existing passwords are never checked again."""

import pytest

from authserver.accounts.passwords import check_new_password
from authserver.errors import AccountError
from authserver.store.database import db
from authserver.store.models import User
from authserver.store.users import add_user
from authserver.store.users import find_user
from tests.conftest import password_login

TOO_SHORT = "the password is too short: use at least 8 characters"
COMMON = "the password is one of the most common passwords"


@pytest.mark.parametrize("password, message", [
    ("x", TOO_SHORT),
    ("1234567", TOO_SHORT),
    ("a" * 129, "the password is too long: use at most 128 characters"),
    ("password", COMMON),
    ("12345678", COMMON),
    ("Password1", COMMON),  # compared without case: a capital letter does not make it rarer
    ("iloveyou", COMMON),
    ("qwertyuiop", COMMON),
])
def test_a_new_password_is_refused_with_the_reason(password, message):
    with pytest.raises(AccountError, match=message):
        check_new_password(password)


@pytest.mark.parametrize("password", [
    "abcdefgh",  # 8 characters, lower case only: no composition rules
    "correct horse battery staple",  # a passphrase, however "weak" a strength meter would call it
    "a" * 128,
    "pâte à crêpes maison",
])
def test_long_enough_uncommon_passwords_are_accepted_whatever_their_characters(password):
    check_new_password(password)


def test_users_create_refuses_a_common_password_and_creates_nobody(app, runner):
    result = runner.invoke(args=["users", "create", "carol", "--password-stdin"], input="letmein1\n")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"authserver: {COMMON}")
    assert len(result.stderr.splitlines()) == 1
    with app.app_context():
        assert find_user("carol") is None


def test_a_user_created_before_the_rule_still_signs_in_with_a_short_password(app, factory):
    registered = factory.client()
    services = app.extensions["authserver"]
    with app.app_context():
        add_user(User(username="alice", password_hash=services.passwords.hash("pw"), created_at=services.clock.now()))
        db.session.commit()
    assert password_login(app.test_client(), registered, password="pw").status_code == 200
