"""What an ID token and UserInfo may say about a user (``oauth/oidc/claims.py``): `sub` always, and
only the claims the granted scopes allow (OpenID Connect Core 1.0 §5.4)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from authserver.oauth.oidc.claims import USER_CLAIMS
from authserver.oauth.oidc.claims import user_info


@dataclass
class Account:
    id: str = "user-1"
    username: str = "alice"
    email: str | None = "alice@example.com"


@pytest.mark.parametrize(("scope", "expected"), [
    ("openid", {"sub": "user-1"}),
    ("openid profile", {"sub": "user-1", "preferred_username": "alice"}),
    ("openid email", {"sub": "user-1", "email": "alice@example.com", "email_verified": False}),
    ("openid profile email read", {"sub": "user-1", "preferred_username": "alice", "email": "alice@example.com",
                                   "email_verified": False}),
])
def test_each_scope_gives_its_claims_and_nothing_more(scope, expected):
    assert dict(user_info(Account(), scope)) == expected


def test_a_user_without_an_address_has_no_email_claims_even_with_the_email_scope():
    assert dict(user_info(Account(email=None), "openid email")) == {"sub": "user-1"}


def test_every_claim_given_is_advertised():
    assert set(user_info(Account(), "openid profile email")) <= set(USER_CLAIMS)
