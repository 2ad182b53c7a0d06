"""What revocation and introspection share (``oauth/endpoints/token_lookup.py``): the hint only orders
the two lookups; a string is "ours" if we ever issued it (an expired access token, a used refresh
token), and a string that is not ours counts against the caller's lookup budget."""

from __future__ import annotations

import pytest

from authserver.oauth.endpoints.token_lookup import find_token
from authserver.oauth.endpoints.token_lookup import is_ours
from tests.conftest import refresh
from tests.session_helpers import sign_in
from tests.token_helpers import another_key
from tests.token_helpers import mint
from tests.token_helpers import revoke


def lookups(found_by):
    calls = []

    def lookup(kind):
        def run():
            calls.append(kind)
            return kind if kind in found_by else None
        return run

    return calls, lookup("access"), lookup("refresh")


@pytest.mark.parametrize(("hint", "found_by", "answer", "order"), [
    (None, {"access", "refresh"}, "access", ["access"]),
    ("access_token", {"refresh"}, "refresh", ["access", "refresh"]),
    ("refresh_token", {"access", "refresh"}, "refresh", ["refresh"]),
    ("refresh_token", {"access"}, "access", ["refresh", "access"]),
    ("something_else", set(), None, ["access", "refresh"]),
])
def test_the_hint_orders_the_lookups_and_never_refuses(hint, found_by, answer, order):
    calls, access, refresh_ = lookups(found_by)
    assert find_token(hint, access, refresh_) == answer
    assert calls == order


def test_a_token_we_issued_stays_ours_once_expired_or_used(app, client, registered, clock):
    signed = sign_in(client, registered)
    successor = refresh(client, registered, signed.refresh_token).json["refresh_token"]
    clock.advance(app.extensions["authserver"].settings.access_token_ttl_seconds + 1)
    services = app.extensions["authserver"]
    with app.app_context():
        assert is_ours(services, signed.access_token)  # expired
        assert is_ours(services, signed.refresh_token)  # used
        assert is_ours(services, successor)
        assert not is_ours(services, "never-issued")
        assert not is_ours(services, mint(another_key(), signed.claims))


@pytest.fixture
def settings_overrides():
    return {"lookup_max_failures": 3}


def test_strings_not_ours_spend_the_callers_budget_and_ours_do_not(client, registered):
    signed = sign_in(client, registered)
    for _ in range(5):  # tokens of ours, dead or alive, are no scanning
        assert revoke(client, registered, signed.refresh_token).status_code == 200
    for _ in range(3):
        assert revoke(client, registered, "guess").status_code == 200
    refused = revoke(client, registered, "guess")
    assert refused.status_code == 429 and refused.headers["Retry-After"]
