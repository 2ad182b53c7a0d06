"""Initial access tokens' storage (store/registration_tokens.py): a use spent in one conditional
statement; a token without a limit is never counted down; an expired one is spent no more."""

from __future__ import annotations

from authserver.accounts.registration import issue_registration_token
from authserver.store import registration_tokens
from authserver.store.models import sha256_hex
from tests.conftest import in_unit_of_work


def spend(app, token):
    return in_unit_of_work(app, lambda services: registration_tokens.spend(sha256_hex(token), services.clock.now()))


def usable(app, token):
    return in_unit_of_work(app, lambda services: registration_tokens.is_usable(sha256_hex(token), services.clock.now()))


def test_a_limited_token_is_spent_use_by_use(app):
    token = in_unit_of_work(app, lambda services: issue_registration_token(services, uses=2))
    assert [spend(app, token) for _ in range(3)] == [True, True, False]
    assert not usable(app, token)


def test_a_token_without_a_limit_is_never_spent(app):
    token = in_unit_of_work(app, lambda services: issue_registration_token(services))
    assert all(spend(app, token) for _ in range(5)) and usable(app, token)


def test_an_expired_or_unknown_token_is_not_usable(app, clock):
    token = in_unit_of_work(app, lambda services: issue_registration_token(services, expires_in=60))
    assert usable(app, token)
    clock.advance(60)
    assert not usable(app, token) and not spend(app, token)
    assert not usable(app, "reg_unknown") and not spend(app, "reg_unknown")
