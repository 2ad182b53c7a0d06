"""ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.3, §12.2): the code flow with `openid profile email`
and a nonce through the real pages, the ID token checked as a relying party checks it (PyJWT against
the JWKS, `at_hash` computed here), a refresh's new ID token, and what the authorization endpoint
refuses (other response types, a long nonce)."""

from __future__ import annotations

import pytest

from tests.code_flow_helpers import STATE
from tests.code_flow_helpers import assert_code_redirect
from tests.code_flow_helpers import assert_error_redirect
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import decide
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import sign_in_through
from tests.code_flow_helpers import signed_in
from tests.conftest import password_login
from tests.conftest import refresh
from tests.oauth.oidc.helpers import ID_TOKEN_HEADER
from tests.oauth.oidc.helpers import OIDC_SCOPE
from tests.oauth.oidc.helpers import at_hash
from tests.oauth.oidc.helpers import new_nonce
from tests.oauth.oidc.helpers import relying_party
from tests.oauth.oidc.helpers import sign_in_with_oidc
from tests.oauth.oidc.helpers import verified_id_token
from tests.token_helpers import claims_of
from tests.web.conftest import browser
from tests.web.conftest import web_sid

TTL = 900  # the default AUTHSERVER_ACCESS_TOKEN_TTL_SECONDS


def test_core_3_1_the_code_flow_with_openid_profile_email_and_a_nonce_returns_a_verifiable_id_token(
        app, client, notes, alice, clock):
    http = browser(app)
    nonce, verifier = new_nonce(), pkce()
    response = http.get(authorize_url(notes.client_id, scope=OIDC_SCOPE, challenge=verifier, nonce=nonce))
    signed_in_at = int(clock.now().timestamp())
    page = consent_page(sign_in_through(http, response))
    assert "Sign you in with your account" in page.text  # `openid` in words, with `profile` and `email`
    assert "See your username" in page.text and "See your email address" in page.text
    clock.advance(5)  # the consent takes a moment: auth_time stays the sign-in's
    code = assert_code_redirect(app, decide(http, page, "allow"))
    clock.advance(3)
    tokens = exchange(client, notes, code, verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token"}

    header, claims = verified_id_token(app, client, body["id_token"], notes.client_id)
    access = claims_of(body["access_token"])
    now = int(clock.now().timestamp())
    assert set(header) == ID_TOKEN_HEADER and header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in client.get("/oauth/jwks").json["keys"]}
    assert claims == {
        "iss": app.extensions["authserver"].settings.issuer,
        "sub": alice, "aud": notes.client_id,
        "iat": now, "exp": now + TTL,
        "auth_time": signed_in_at,
        "sid": access["sid"],
        "at_hash": at_hash(body["access_token"]),
        "nonce": nonce,
        "preferred_username": "alice",
        "email": "alice@example.com", "email_verified": False,
    }
    assert claims["sub"] == access["sub"]


def test_core_12_2_a_refresh_returns_a_new_id_token_of_the_same_sign_in_and_session_without_nonce(
        app, client, notes, clock):
    http = browser(app)
    first = sign_in_with_oidc(app, http, notes, nonce=new_nonce())
    _, before = verified_id_token(app, client, first["id_token"], notes.client_id)
    clock.advance(60)
    response = refresh(client, notes, first["refresh_token"])
    assert response.status_code == 200, response.text
    _, after = verified_id_token(app, client, response.json["id_token"], notes.client_id)
    assert "nonce" not in after
    assert after["auth_time"] == before["auth_time"] and after["sid"] == before["sid"]
    assert after["iat"] == before["iat"] + 60
    assert after["at_hash"] == at_hash(response.json["access_token"]) != before["at_hash"]
    assert {k: v for k, v in after.items() if k not in ("iat", "exp", "at_hash")} == {
        k: v for k, v in before.items() if k not in ("iat", "exp", "at_hash", "nonce")}
    # A refresh asking for less than openid gets no ID token; the next full one does again.
    narrowed = refresh(client, notes, response.json["refresh_token"], scope="profile")
    assert narrowed.status_code == 200 and "id_token" not in narrowed.json
    assert "id_token" in refresh(client, notes, narrowed.json["refresh_token"]).json


def test_the_id_token_names_the_users_real_sign_in_not_the_codes_time(app, client, notes, clock):
    """auth_time is when the browser signed in, however long before the app asked."""
    http = signed_in(app)
    signed_in_at = int(clock.now().timestamp())
    clock.advance(3600)
    tokens = sign_in_with_oidc(app, http, notes)
    claims = claims_of(tokens["id_token"])
    assert claims["auth_time"] == signed_in_at
    assert "nonce" not in claims  # none was sent


def test_without_openid_there_is_no_id_token_on_the_code_nor_the_refresh_grant(app, client, notes):
    tokens = sign_in_with_oidc(app, browser(app), notes, scope="profile email", nonce=new_nonce())
    assert "id_token" not in tokens
    assert "id_token" not in refresh(client, notes, tokens["refresh_token"]).json


def test_the_password_grant_returns_no_id_token(app, client, factory, alice):
    first_party = factory.client(name="Our app", scope="openid profile")
    response = password_login(client, first_party, scope="openid profile")
    assert response.status_code == 200 and "id_token" not in response.json


def test_claims_without_an_email_address_leave_out_email_and_email_verified(app, client, factory):
    factory.user("bob")
    notes = relying_party(factory)
    tokens = sign_in_with_oidc(app, browser(app), notes, username="bob")
    claims = claims_of(tokens["id_token"])
    assert claims["preferred_username"] == "bob"
    assert "email" not in claims and "email_verified" not in claims


@pytest.mark.parametrize("response_type", ["id_token", "token", "code id_token", "code token", "id_token token",
                                           "code id_token token"])
def test_only_the_code_response_type_is_supported(app, notes, response_type):
    http = signed_in(app)
    response = http.get(authorize_url(notes.client_id, scope=OIDC_SCOPE, challenge=pkce(), nonce=new_nonce(),
                                      response_type=response_type))
    assert_error_redirect(app, response, "unsupported_response_type")


def test_a_nonce_longer_than_255_characters_is_invalid_request(app, notes):
    http = signed_in(app)
    response = http.get(authorize_url(notes.client_id, scope=OIDC_SCOPE, challenge=pkce(), nonce="n" * 256))
    params = assert_error_redirect(app, response, "invalid_request")
    assert "255" in params["error_description"]
    tokens = sign_in_with_oidc(app, http, notes, nonce="n" * 255)  # the longest there may be
    assert claims_of(tokens["id_token"])["nonce"] == "n" * 255


def test_a_nonce_the_client_sent_before_is_refused(app, notes):
    """Authlib's replay check: a code was issued with this nonce already."""
    http = signed_in(app)
    nonce = new_nonce()
    sign_in_with_oidc(app, http, notes, nonce=nonce)
    response = http.get(authorize_url(notes.client_id, scope=OIDC_SCOPE, challenge=pkce(), nonce=nonce))
    assert_error_redirect(app, response, "invalid_request", state=STATE)


def test_the_code_flow_session_records_the_browser_it_signed_in_through(app, notes):
    http = signed_in(app)
    tokens = sign_in_with_oidc(app, http, notes)
    with app.app_context():
        session = app.extensions["authserver"].sessions.find_user_session(claims_of(tokens["access_token"])["sid"])
        assert session.browser_session_id == web_sid(app, http)
