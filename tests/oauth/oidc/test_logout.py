"""RP-Initiated Logout 1.0 at the end-session endpoint: with a valid `id_token_hint` the app's device
session and the browser's sign-in end, and the browser goes back to the registered
`post_logout_redirect_uri` with `state`; without one the user is asked first and nothing ends
until they confirm; an unregistered `post_logout_redirect_uri` is an error page, never a redirect."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.code_flow_helpers import signed_in
from tests.conftest import refresh
from tests.oauth.oidc.helpers import SIGNED_OUT_URI
from tests.oauth.oidc.helpers import relying_party
from tests.oauth.oidc.helpers import sign_in_with_oidc
from tests.session_helpers import session_row
from tests.token_helpers import another_key
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import mint
from tests.token_helpers import signing_key
from tests.web.conftest import browser
from tests.web.conftest import csrf_token
from tests.web.conftest import web_sid

END_SESSION = "/oauth/logout"


@pytest.fixture
def signed_in_app(app, notes):
    """A browser signed in, and the app's tokens from the code flow through it."""
    http = signed_in(app)
    return http, sign_in_with_oidc(app, http, notes)


def logout_url(**params) -> str:
    return END_SESSION + "?" + urlencode(params)


def assert_app_signed_out(app, client, registered, tokens):
    assert session_row(app, claims_of(tokens["id_token"])["sid"]).is_ended
    assert refresh(client, registered, tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


def assert_nothing_ended(app, http, tokens):
    assert not session_row(app, claims_of(tokens["id_token"])["sid"]).is_ended
    assert not session_row(app, web_sid(app, http)).is_ended


def test_rp_logout_3_a_valid_hint_ends_the_session_signs_the_browser_out_and_redirects_with_state(
        app, client, notes, signed_in_app):
    http, tokens = signed_in_app
    browser_sid = web_sid(app, http)
    response = http.get(logout_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=SIGNED_OUT_URI,
                                   state="bye123"))
    assert response.status_code == 302
    assert response.headers["Location"] == SIGNED_OUT_URI + "?state=bye123"
    assert_app_signed_out(app, client, notes, tokens)
    row = session_row(app, browser_sid)
    assert row.is_ended and (row.ended_reason, row.ended_by) == ("user", "alice")
    assert http.get("/account/devices").headers["Location"].startswith("/signin")


def test_rp_logout_a_valid_hint_without_a_redirect_uri_shows_the_signed_out_page(app, client, notes, signed_in_app):
    http, tokens = signed_in_app
    page = http.get(logout_url(id_token_hint=tokens["id_token"]))
    assert page.status_code == 200 and "You have signed out" in page.text and "Notes" in page.text
    assert_app_signed_out(app, client, notes, tokens)


def test_rp_logout_2_an_expired_hint_of_ours_is_still_a_valid_hint(app, client, notes, signed_in_app, clock):
    http, tokens = signed_in_app
    clock.advance(3600)  # the ID token expired 45 minutes ago
    response = http.post(END_SESSION, data={"id_token_hint": tokens["id_token"], "client_id": notes.client_id,
                                            "post_logout_redirect_uri": SIGNED_OUT_URI})
    assert response.status_code == 302 and response.headers["Location"] == SIGNED_OUT_URI
    assert_app_signed_out(app, client, notes, tokens)


def test_an_apps_form_post_without_the_browsers_cookie_still_signs_its_sign_in_out(app, client, notes, signed_in_app):
    """A cross-site POST carries no SameSite=Lax cookie: the browser session is found through the app's."""
    http, tokens = signed_in_app
    browser_sid = web_sid(app, http)
    response = browser(app).post(END_SESSION, data={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200 and "You have signed out" in response.text
    assert_app_signed_out(app, client, notes, tokens)
    assert session_row(app, browser_sid).is_ended


def forged_hints(app, tokens):
    claims = claims_of(tokens["id_token"])
    return {
        "signed by another key": mint(another_key(), claims, typ="JWT", kid=signing_key(app).kid),
        "another issuer": mint(signing_key(app), {**claims, "iss": "https://evil.example"}, typ="JWT"),
        "the app's access token": tokens["access_token"],
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize("forgery", ["signed by another key", "another issuer", "the app's access token", "garbage"])
def test_rp_logout_6_a_hint_not_ours_asks_the_user_and_ends_nothing(app, notes, signed_in_app, forgery):
    http, tokens = signed_in_app
    hint = forged_hints(app, tokens)[forgery]
    page = http.get(logout_url(id_token_hint=hint, post_logout_redirect_uri=SIGNED_OUT_URI, state="s"))
    assert page.status_code == 200 and "Sign out?" in page.text and "Location" not in page.headers
    assert_nothing_ended(app, http, tokens)


def test_confirming_signs_the_browser_out_and_staying_does_not(app, notes, signed_in_app):
    http, tokens = signed_in_app
    page = http.get(logout_url(client_id=notes.client_id, post_logout_redirect_uri=SIGNED_OUT_URI, state="s"))
    assert "Notes asks you to sign out" in page.text
    stay = http.post(END_SESSION, data={"csrf_token": csrf_token(page.text), "decision": "stay",
                                        "client_id": notes.client_id})
    assert stay.status_code == 302 and stay.headers["Location"] == "/account/devices"
    assert_nothing_ended(app, http, tokens)
    browser_sid = web_sid(app, http)
    done = http.post(END_SESSION, data={"csrf_token": csrf_token(page.text), "decision": "signout",
                                        "client_id": notes.client_id, "post_logout_redirect_uri": SIGNED_OUT_URI,
                                        "state": "s"})
    # No valid hint: the browser is signed out, but not sent anywhere, and the app's own session lives.
    assert done.status_code == 200 and "You have signed out" in done.text
    assert session_row(app, browser_sid).is_ended
    assert not session_row(app, claims_of(tokens["id_token"])["sid"]).is_ended


def test_the_confirmation_needs_the_pages_csrf_token(app, notes, signed_in_app):
    http, tokens = signed_in_app
    refused = http.post(END_SESSION, data={"decision": "signout"})
    assert refused.status_code == 400
    assert_nothing_ended(app, http, tokens)


def test_a_signed_out_browser_without_a_hint_is_told_it_is_signed_out(app, notes):
    page = browser(app).get(logout_url(client_id=notes.client_id))
    assert page.status_code == 200 and "You have signed out" in page.text


@pytest.mark.parametrize("uri", ["https://evil.example/", SIGNED_OUT_URI + "/more"])
def test_rp_logout_3_an_unregistered_post_logout_redirect_uri_is_an_error_page_never_a_redirect(
        app, notes, signed_in_app, uri):
    http, tokens = signed_in_app
    page = http.get(logout_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=uri, state="s"))
    assert page.status_code == 400 and "Location" not in page.headers
    assert "This sign-out link is not valid" in page.text
    assert_nothing_ended(app, http, tokens)


def test_an_unregistered_post_logout_redirect_uri_of_a_named_client_is_an_error_page_without_a_hint_too(
        app, notes, signed_in_app):
    http, tokens = signed_in_app
    page = http.get(logout_url(client_id=notes.client_id, post_logout_redirect_uri="https://evil.example/"))
    assert page.status_code == 400 and "This sign-out link is not valid" in page.text
    assert_nothing_ended(app, http, tokens)


def test_rp_logout_2_a_client_id_that_is_not_the_hints_audience_is_an_error_page(app, factory, notes, signed_in_app):
    http, tokens = signed_in_app
    other = relying_party(factory, name="Other", post_logout_redirect_uris=(SIGNED_OUT_URI,))
    page = http.get(logout_url(id_token_hint=tokens["id_token"], client_id=other.client_id))
    assert page.status_code == 400 and "Location" not in page.headers
    assert_nothing_ended(app, http, tokens)


def test_a_hint_of_a_session_already_ended_still_goes_back_to_the_app(app, client, notes, signed_in_app):
    http, tokens = signed_in_app
    http.get(logout_url(id_token_hint=tokens["id_token"]))
    again = browser(app).get(logout_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=SIGNED_OUT_URI))
    assert again.status_code == 302 and again.headers["Location"] == SIGNED_OUT_URI
