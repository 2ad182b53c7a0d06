"""The OpenID Connect tests' user and relying party."""

from __future__ import annotations

import pytest

from tests.oauth.oidc.helpers import SIGNED_OUT_URI
from tests.oauth.oidc.helpers import relying_party


@pytest.fixture
def alice(factory):
    """alice's id: a user with an email address."""
    return factory.user("alice", email="alice@example.com")


@pytest.fixture
def notes(factory, alice):
    """A third-party web app signing users in with OpenID Connect, and out (RP-Initiated Logout)."""
    return relying_party(factory, post_logout_redirect_uris=(SIGNED_OUT_URI,))
