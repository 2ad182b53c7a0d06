"""Users' rows (``store/users.py``) on SQLite and PostgreSQL: lookup by exact name, the console's
search (a fragment, any case, its wildcards taken literally), and the password check's read."""

from __future__ import annotations

import pytest

from authserver.store.users import check_password
from authserver.store.users import find_user
from authserver.store.users import search_users


@pytest.fixture
def people(factory):
    for name in ("alice", "Alicia", "a_b", "axb", "100%", "1000", "bob"):
        factory.user(name)


def names(found) -> list[str]:
    return [user.username for user in found]


def test_a_user_is_found_by_the_exact_name_only(app, people):
    with app.app_context():
        assert find_user("alice").username == "alice"
        assert find_user("ALICE") is None
        assert find_user("ali") is None


def test_search_finds_a_fragment_in_any_case_in_name_order(app, people):
    with app.app_context():
        assert sorted(names(search_users("ali")), key=str.lower) == ["alice", "Alicia"]
        assert names(search_users("BOB")) == ["bob"]
        assert names(search_users("nobody")) == []


@pytest.mark.parametrize(("fragment", "expected"), [("a_b", ["a_b"]), ("0%", ["100%"]), ("\\", [])])
def test_search_takes_wildcard_characters_literally(app, people, fragment, expected):
    with app.app_context():
        assert names(search_users(fragment)) == expected


def test_search_returns_at_most_the_limit(app, people):
    with app.app_context():
        assert len(search_users("", limit=3)) == 3


def test_the_password_check_sees_the_users_hash_or_none_for_an_unknown_name(app, people):
    seen = []

    def verify(password_hash):
        seen.append(password_hash)
        return password_hash is not None

    with app.app_context():
        user, verified = check_password("alice", verify)
        assert (user.username, verified) == ("alice", True)
        assert seen[-1].startswith("$argon2id$")
        assert check_password("nobody", verify) == (None, False)
        assert seen[-1] is None
