"""web/logout.py, the end-session endpoint's pages (RP-Initiated Logout 1.0): after a logout with a
valid hint, the signed-out page naming the app; without one, a signed-in user is asked first, and the
question carries the app's request (never a hint that was not valid) and needs the page's CSRF token;
staying goes to My devices, signing out ends the browser's sign-in only; a `post_logout_redirect_uri`
the app did not register is an error page, never a redirect. What a hint is and what a logout ends are
tests/oauth/oidc/test_logout.py's."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.oauth.oidc.helpers import END_SESSION
from tests.oauth.oidc.helpers import SIGNED_OUT_URI
from tests.oauth.oidc.helpers import assert_app_signed_out
from tests.oauth.oidc.helpers import assert_nothing_ended
from tests.oauth.oidc.helpers import logout_url
from tests.oauth.oidc.helpers import oidc_sign_in
from tests.oauth.oidc.helpers import relying_party
from tests.session_helpers import session_row
from tests.token_helpers import claims_of
from tests.web.conftest import browser
from tests.web.conftest import csrf_token
from tests.web.conftest import web_sid


@pytest.fixture
def notes(factory):
    """alice, and a third-party web app she signs in to with OpenID Connect, and out."""
    factory.user("alice")
    return relying_party(factory, post_logout_redirect_uris=(SIGNED_OUT_URI,))


@pytest.fixture
def signed_in_app(app, notes):
    """A browser signed in, and the app's tokens from the code flow through it."""
    return oidc_sign_in(app, notes)


def hidden_fields(html: str) -> dict:
    """What a page's form posts back besides its buttons."""
    return {name: unescape(value) for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                                                 html)}


def test_rp_logout_a_valid_hint_without_a_redirect_uri_shows_the_signed_out_page(app, client, notes, signed_in_app):
    http, tokens = signed_in_app
    page = http.get(logout_url(id_token_hint=tokens["id_token"]))
    assert page.status_code == 200 and "You have signed out" in page.text and "Notes" in page.text
    assert_app_signed_out(app, client, notes, tokens)


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


def test_the_question_carries_the_apps_request_back_but_not_a_hint_that_was_not_valid(app, notes, signed_in_app):
    http, tokens = signed_in_app
    page = http.get(logout_url(id_token_hint="not.a.token", client_id=notes.client_id,
                               post_logout_redirect_uri=SIGNED_OUT_URI, state="a&b"))
    assert "Notes asks you to sign out" in page.text
    carried = hidden_fields(page.text)
    assert carried == {"csrf_token": csrf_token(page.text), "client_id": notes.client_id,
                       "post_logout_redirect_uri": SIGNED_OUT_URI, "state": "a&b"}
    browser_sid = web_sid(app, http)
    done = http.post(END_SESSION, data={**carried, "decision": "signout"})  # the form as the page posts it
    assert done.status_code == 200 and "You have signed out" in done.text and "Location" not in done.headers
    assert session_row(app, browser_sid).is_ended
    assert not session_row(app, claims_of(tokens["id_token"])["sid"]).is_ended


def test_a_post_logout_redirect_uri_without_an_app_to_check_it_against_is_never_followed(app, signed_in_app):
    http, tokens = signed_in_app
    page = http.get(logout_url(post_logout_redirect_uri="https://evil.example/", state="s"))
    assert page.status_code == 200 and "An app asks you to sign out" in page.text
    done = http.post(END_SESSION, data={**hidden_fields(page.text), "decision": "signout"})
    assert done.status_code == 200 and "You have signed out" in done.text and "Location" not in done.headers
