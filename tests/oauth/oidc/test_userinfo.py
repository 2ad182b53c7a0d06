"""The UserInfo endpoint (OpenID Connect Core 1.0 §5.3): GET and POST with a bearer token holding
`openid`; `sub` and the claims the token's scopes allow, the same as the ID token's; 401 once the
token's device session has ended. The property runs scopes × users with and without an address
through the whole code flow; the expected claims come from an oracle of plain sets."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import given
from hypothesis import note
from hypothesis import settings
from hypothesis import strategies as st

from tests.code_flow_helpers import signed_in
from tests.conftest import token_request
from tests.oauth.oidc.helpers import relying_party
from tests.oauth.oidc.helpers import sign_in_with_oidc
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.web.conftest import browser
from tests.web.conftest import post_form

USERINFO = "/oauth/userinfo"
USER_CLAIMS = {"sub", "preferred_username", "email", "email_verified"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_answers_sub_and_the_claims_of_the_tokens_scopes(app, client, notes, alice, method):
    tokens = sign_in_with_oidc(app, browser(app), notes, scope="openid profile email")
    response = client.open(USERINFO, method=method, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    assert response.json == {"sub": alice, "preferred_username": "alice", "email": "alice@example.com",
                             "email_verified": False}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["sub"] == claims_of(tokens["id_token"])["sub"] == claims_of(tokens["access_token"])["sub"]


def test_userinfo_with_openid_alone_answers_sub_only(app, client, notes, alice):
    tokens = sign_in_with_oidc(app, browser(app), notes, scope="openid")
    assert client.get(USERINFO, headers=bearer(tokens["access_token"])).json == {"sub": alice}


def test_userinfo_refuses_a_token_without_openid_with_insufficient_scope(app, client, notes):
    tokens = sign_in_with_oidc(app, browser(app), notes, scope="profile email")
    response = client.get(USERINFO, headers=bearer(tokens["access_token"]))
    assert response.status_code == 403 and response.json["error"] == "insufficient_scope"
    assert 'scope="openid"' in response.headers["WWW-Authenticate"]


def test_userinfo_refuses_a_clients_own_token(app, client, factory):
    machine = factory.client(name="Back end", grant_types=("client_credentials",), scope="openid profile")
    token = token_request(client, machine, grant_type="client_credentials").json["access_token"]
    assert client.get(USERINFO, headers=bearer(token)).status_code == 403


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}], ids=["no token", "garbage"])
def test_userinfo_without_a_live_token_is_401(client, headers):
    response = client.get(USERINFO, headers=headers)
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_is_401_once_the_session_is_signed_out_on_my_devices(app, client, notes):
    http = signed_in(app)
    tokens = sign_in_with_oidc(app, http, notes)
    sid = claims_of(tokens["id_token"])["sid"]
    ended = post_form(http, "/account/devices", f"/account/devices/{sid}/signout")
    assert ended.status_code == 302
    response = client.get(USERINFO, headers=bearer(tokens["access_token"]))
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


def test_userinfo_is_401_once_the_session_is_ended_through_the_sessions_api(app, client, notes):
    tokens = sign_in_with_oidc(app, browser(app), notes, scope="openid profile sessions")
    sid = claims_of(tokens["access_token"])["sid"]
    assert client.delete(f"/api/sessions/{sid}", headers=bearer(tokens["access_token"])).status_code == 204
    response = client.post(USERINFO, headers=bearer(tokens["access_token"]))
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


# -- scopes × claims, through the whole code flow ------------------------------------------------

def expected_claims(scope: set[str], has_email: bool) -> set[str]:
    """The oracle: what a token of this scope may say about its user (Core 1.0 §5.4)."""
    claims = {"sub"}
    if "profile" in scope:
        claims.add("preferred_username")
    if "email" in scope and has_email:
        claims |= {"email", "email_verified"}
    return claims


class Users:
    def __init__(self, app, factory):
        self.app = app
        self.ids = {"alice": factory.user("alice", email="alice@example.com"), "bob": factory.user("bob")}
        self.notes = relying_party(factory)
        self.browsers = {}

    def browser(self, username):
        if username not in self.browsers:
            self.browsers[username] = signed_in(self.app, username)
        return self.browsers[username]


@pytest.fixture
def users(app, factory):
    return Users(app, factory)


@settings(max_examples=25, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(openid=st.booleans(), others=st.lists(st.sampled_from(("profile", "email", "sessions")), unique=True),
       username=st.sampled_from(("alice", "bob")))
def test_the_id_token_and_userinfo_say_exactly_what_the_scope_allows(users, client, openid, others, username):
    scope = (["openid"] if openid else []) + others
    assume(scope)  # no scope at all is the client's every scope (tests/test_scopes.py)
    note(f"scope={scope!r} username={username!r}")
    tokens = sign_in_with_oidc(users.app, users.browser(username), users.notes, scope=" ".join(scope),
                               username=username)
    answer = client.get(USERINFO, headers=bearer(tokens["access_token"]))
    if not openid:
        assert "id_token" not in tokens
        assert answer.status_code == 403
        return
    want = expected_claims(set(scope), has_email=username == "alice")
    id_token = claims_of(tokens["id_token"])
    assert answer.status_code == 200, answer.text
    assert set(answer.json) == want
    assert {name: id_token[name] for name in USER_CLAIMS if name in id_token} == answer.json
    assert answer.json["sub"] == users.ids[username]
