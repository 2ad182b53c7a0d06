"""oauth/oidc/logout.py, RP-Initiated Logout 1.0's checks and what a logout ends, at the end-session
endpoint: a valid `id_token_hint` (ours, expired or not) ends the app's device session and the browser's
sign-in it was opened through, and the browser goes back to the registered `post_logout_redirect_uri`
with `state`; a hint not ours counts as none (the user is asked, nothing ends); a `client_id` that is not
the hint's audience is refused. The pages (the question, the signed-out page, an unregistered
`post_logout_redirect_uri`) are tests/web/test_logout.py's."""

from __future__ import annotations

import pytest

from tests.oauth.oidc.helpers import END_SESSION
from tests.oauth.oidc.helpers import SIGNED_OUT_URI
from tests.oauth.oidc.helpers import assert_app_signed_out
from tests.oauth.oidc.helpers import assert_nothing_ended
from tests.oauth.oidc.helpers import logout_url
from tests.oauth.oidc.helpers import oidc_sign_in
from tests.oauth.oidc.helpers import relying_party
from tests.session_helpers import session_row
from tests.token_helpers import another_key
from tests.token_helpers import claims_of
from tests.token_helpers import mint
from tests.token_helpers import signing_key
from tests.web.conftest import browser
from tests.web.conftest import web_sid


@pytest.fixture
def signed_in_app(app, notes):
    """A browser signed in, and the app's tokens from the code flow through it."""
    return oidc_sign_in(app, notes)


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
