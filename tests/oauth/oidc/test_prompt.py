"""`prompt` and `max_age` at the authorization endpoint (OpenID Connect Core 1.0 §3.1.2.1), with the
injected clock: `none` never shows a page, `login` and an exceeded `max_age` make the user sign in
again (and `auth_time` moves), `consent` shows the consent page again."""

from __future__ import annotations

import pytest

from tests.code_flow_helpers import assert_code_redirect
from tests.code_flow_helpers import assert_error_redirect
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import decide
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import sign_in_through
from tests.code_flow_helpers import signed_in
from tests.oauth.oidc.helpers import OIDC_SCOPE
from tests.oauth.oidc.helpers import relying_party
from tests.oauth.oidc.helpers import sign_in_with_oidc
from tests.session_helpers import session_row
from tests.token_helpers import claims_of
from tests.web.conftest import browser
from tests.web.conftest import web_sid


def ask(http, registered, verifier=None, **params):
    return http.get(authorize_url(registered.client_id, scope=OIDC_SCOPE, challenge=verifier or pkce(), **params))


def id_token_of(app, http, registered, response, verifier) -> dict:
    code = assert_code_redirect(app, response)
    tokens = exchange(http, registered, code, verifier)
    assert tokens.status_code == 200, tokens.text
    return claims_of(tokens.json["id_token"])


def test_prompt_none_signed_out_is_login_required_and_shows_no_page(app, notes):
    assert_error_redirect(app, ask(browser(app), notes, prompt="none"), "login_required")


def test_prompt_none_signed_in_and_allowed_before_gets_its_code_with_no_page(app, notes):
    http = signed_in(app)
    sign_in_with_oidc(app, http, notes)  # allowed once
    verifier = pkce()
    claims = id_token_of(app, http, notes, ask(http, notes, verifier, prompt="none"), verifier)
    assert claims["preferred_username"] == "alice"


def test_prompt_none_signed_in_but_never_allowed_is_consent_required(app, notes):
    assert_error_redirect(app, ask(signed_in(app), notes, prompt="none"), "consent_required")


def test_prompt_none_allowed_scopes_but_asking_for_more_is_consent_required(app, factory, alice):
    notes = relying_party(factory, scope="openid profile email")
    http = signed_in(app)
    sign_in_with_oidc(app, http, notes, scope="openid profile")
    assert_error_redirect(app, ask(http, notes, prompt="none"), "consent_required")


def test_prompt_none_for_a_first_party_app_needs_no_consent(app, factory, alice):
    ours = relying_party(factory, name="Our web app", first_party=True)
    verifier = pkce()
    http = signed_in(app)
    assert "sid" in id_token_of(app, http, ours, ask(http, ours, verifier, prompt="none"), verifier)


def test_prompt_login_makes_a_signed_in_browser_sign_in_again_and_auth_time_moves(app, notes, clock):
    http = signed_in(app)
    first_sign_in = web_sid(app, http)
    clock.advance(600)
    verifier = pkce()
    response = ask(http, notes, verifier, prompt="login")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin?next=")
    # The sign-in page itself, though this browser is signed in; back to the request without prompt=login.
    page = sign_in_through(http, response)
    assert session_row(app, first_sign_in).is_ended  # the new sign-in replaced the old one
    claims = id_token_of(app, http, notes, decide(http, consent_page(page), "allow"), verifier)
    assert claims["auth_time"] == int(clock.now().timestamp())


def test_prompt_login_keeps_the_other_prompt_values(app, notes):
    http = signed_in(app)
    sign_in_with_oidc(app, http, notes)
    page = sign_in_through(http, ask(http, notes, prompt="login consent"))
    consent_page(page)  # consent is still asked for, after the new sign-in


def test_max_age_not_exceeded_keeps_the_sign_in_and_its_auth_time(app, notes, clock):
    http = signed_in(app)
    signed_in_at = int(clock.now().timestamp())
    sign_in_with_oidc(app, http, notes)
    clock.advance(100)
    verifier = pkce()
    claims = id_token_of(app, http, notes, ask(http, notes, verifier, max_age="100"), verifier)
    assert claims["auth_time"] == signed_in_at


def test_max_age_exceeded_makes_the_user_sign_in_again(app, notes, clock):
    http = signed_in(app)
    sign_in_with_oidc(app, http, notes)
    clock.advance(101)
    verifier = pkce()
    response = ask(http, notes, verifier, max_age="100")
    assert response.headers["Location"].startswith("/signin?next=")
    claims = id_token_of(app, http, notes, sign_in_through(http, response), verifier)  # allowed before: no page
    assert claims["auth_time"] == int(clock.now().timestamp())


def test_max_age_zero_is_met_by_the_sign_in_it_asks_for(app, notes):
    verifier = pkce()
    http = browser(app)
    response = sign_in_through(http, ask(http, notes, verifier, max_age="0"))
    assert "sid" in id_token_of(app, http, notes, decide(http, consent_page(response), "allow"), verifier)


def test_prompt_none_with_max_age_exceeded_is_login_required(app, notes, clock):
    http = signed_in(app)
    sign_in_with_oidc(app, http, notes)
    clock.advance(61)
    assert_error_redirect(app, ask(http, notes, prompt="none", max_age="60"), "login_required")


def test_prompt_consent_shows_the_consent_page_again(app, notes):
    http = signed_in(app)
    sign_in_with_oidc(app, http, notes)
    verifier = pkce()
    page = consent_page(ask(http, notes, verifier, prompt="consent"))
    assert "Notes wants to:" in page.text
    assert "sid" in id_token_of(app, http, notes, decide(http, page, "allow"), verifier)


def test_select_account_asks_for_nothing_more(app, notes):
    http = signed_in(app)
    sign_in_with_oidc(app, http, notes)
    verifier = pkce()
    assert "sid" in id_token_of(app, http, notes, ask(http, notes, verifier, prompt="select_account"), verifier)


@pytest.mark.parametrize("params", [{"prompt": "none login"}, {"prompt": "none consent"}, {"prompt": "create"},
                                    {"max_age": "ten"}, {"max_age": "-1"}, {"max_age": "1.5"}],
                         ids=lambda params: " ".join(f"{k}={v}" for k, v in params.items()))
def test_prompt_and_max_age_not_understood_are_invalid_request(app, notes, params):
    assert_error_redirect(app, ask(signed_in(app), notes, **params), "invalid_request")


def test_a_huge_max_age_is_no_limit(app, notes, clock):
    http = signed_in(app)
    sign_in_with_oidc(app, http, notes)
    clock.advance(10**6)
    verifier = pkce()
    assert "sid" in id_token_of(app, http, notes, ask(http, notes, verifier, max_age="9" * 5000), verifier)
