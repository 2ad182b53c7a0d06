"""The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636, S256 only) and the issuer
parameter (RFC 9207), driven over HTTP the way a browser and a third-party app drive it: the
authorization URL, sign-in, the consent page, the redirect back, the code exchange, refreshes; and
every way a bad request must be refused (an error page, or an error sent back to the app)."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from authserver.sessions.device_sessions import ENDED_BY_REUSE
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import AuthorizationCode
from authserver.store.models import Consent
from authserver.store.models import DeviceSession
from authserver.store.models import sha256_hex
from tests.code_flow_helpers import REDIRECT_URI
from tests.code_flow_helpers import approve
from tests.code_flow_helpers import assert_code_redirect
from tests.code_flow_helpers import assert_error_redirect
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import decide
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import sign_in_through
from tests.code_flow_helpers import signed_in
from tests.conftest import at_once
from tests.conftest import refresh
from tests.session_helpers import PHONE_UA
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import is_active
from tests.web.conftest import browser
from tests.web.conftest import csrf_token

OTHER_REDIRECT_URI = "https://app.example/oauth/other-callback"
GRACE_SECONDS = 10  # the default AUTHSERVER_REFRESH_GRACE_SECONDS


@pytest.fixture
def alice(factory):
    return factory.user("alice", email="alice@example.com")


@pytest.fixture
def zapier(factory, alice):
    """A confidential third-party app (client_secret_basic)."""
    return code_client(factory, name="Zapier")


@pytest.fixture
def notes(factory, alice):
    """A public native app (no secret): PKCE is required of it."""
    return code_client(factory, name="Notes", auth_method="none")


def error_of(response) -> str:
    assert response.status_code == 400, response.text
    return response.json["error"]


def codes_stored(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(AuthorizationCode)).all())


# -- the flow, end to end ---------------------------------------------------------------------
def test_rfc6749_4_1_a_signed_out_user_signs_in_allows_and_the_app_gets_a_session(app, notes, alice, clock):
    http = browser(app, user_agent=PHONE_UA)
    http.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    verifier = pkce()
    state = "a b&c=d/é"  # handed back exactly, however it is encoded

    response = http.get(authorize_url(notes.client_id, challenge=verifier, state=state))
    page = consent_page(sign_in_through(http, response))
    assert "Notes wants to:" in page.text
    assert "See your username" in page.text and "See your email address" in page.text
    assert "Signed in as alice" in page.text
    assert 'value="allow"' in page.html and 'value="deny"' in page.html
    assert "<script" not in page.html  # works without JavaScript

    clock.advance(5)
    code = assert_code_redirect(app, decide(http, page, "allow"), state=state)
    # The app's back end exchanges the code from elsewhere; the session's device is the browser.
    back_end = app.test_client()
    back_end.environ_base.update(REMOTE_ADDR="198.51.100.20", HTTP_USER_AGENT="python-requests/2.32")
    response = exchange(back_end, notes, code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.json
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    assert tokens["scope"] == "profile email" and tokens["refresh_token"]
    claims = claims_of(tokens["access_token"])
    assert (claims["sub"], claims["client_id"]) == (alice, notes.client_id)

    session = session_row(app, claims["sid"])
    assert session.client_id == notes.client_id and session.user_id == alice
    assert (session.user_agent, session.ip) == (PHONE_UA, "203.0.113.7")
    assert session.ended_at is None

    me = http.get("/api/me", headers=bearer(tokens["access_token"]))
    assert me.json == {"sub": alice, "username": "alice", "email": "alice@example.com"}
    clock.advance(60)
    renewed = refresh(http, notes, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert renewed.json["refresh_token"] != tokens["refresh_token"]
    assert claims_of(renewed.json["access_token"])["sid"] == claims["sid"]


def test_the_consent_page_keeps_the_security_headers_and_lets_the_form_post_back_to_the_app(app, zapier):
    http = signed_in(app)
    response = http.get(authorize_url(zapier.client_id))
    consent_page(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    # The Allow button's answer is a redirect to the app: form-action must allow its origin, and only it.
    assert "form-action 'self' https://app.example;" in csp
    assert "form-action 'self';" in http.get("/account/devices").headers["Content-Security-Policy"]


@pytest.mark.parametrize("with_pkce", [True, False], ids=["with PKCE", "without PKCE"])
def test_rfc7636_a_confidential_client_may_send_a_challenge_or_not(app, zapier, with_pkce):
    http = signed_in(app)
    verifier = pkce() if with_pkce else None
    code = approve(app, http, zapier, challenge=verifier)
    response = exchange(http, zapier, code, verifier)
    assert response.status_code == 200, response.text
    assert claims_of(response.json["access_token"])["client_id"] == zapier.client_id


def test_rfc6749_4_1_1_without_redirect_uri_the_only_registered_one_is_used(app, zapier):
    http = signed_in(app)
    verifier = pkce()
    page = consent_page(http.get(authorize_url(zapier.client_id, redirect_uri=None, challenge=verifier)))
    code = assert_code_redirect(app, decide(http, page, "allow"))
    assert exchange(http, zapier, code, verifier, redirect_uri=None).status_code == 200


def test_codes_are_stored_only_as_sha256_digests(app, zapier):
    http = signed_in(app)
    code = approve(app, http, zapier, challenge=pkce())
    with app.app_context():
        rows = db.session.scalars(select(AuthorizationCode)).all()
        assert [row.code_hash for row in rows] == [sha256_hex(code)]
        assert all(code not in str(value) for value in vars(rows[0]).values())


# -- the token endpoint: what is invalid_grant --------------------------------------------------
def test_rfc6749_4_1_2_a_code_used_twice_is_invalid_grant_and_ends_the_session_it_opened(
        app, client, zapier, introspector, clock):
    http = signed_in(app)
    verifier = pkce()
    code = approve(app, http, zapier, challenge=verifier)
    tokens = exchange(client, zapier, code, verifier).json
    sid = claims_of(tokens["access_token"])["sid"]
    assert is_active(client, introspector, tokens["access_token"])

    clock.advance(5)
    assert error_of(exchange(client, zapier, code, verifier)) == "invalid_grant"
    assert error_of(refresh(client, zapier, tokens["refresh_token"])) == "invalid_grant"
    assert not is_active(client, introspector, tokens["access_token"])
    assert client.get("/api/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert session_row(app, sid).ended_reason == ENDED_BY_REUSE
    reused = logged_events(app, security_events.AUTHORIZATION_CODE_REUSED)
    assert [(e["session_id"], e["client_id"], e["user_id"]) for e in reused] == [(sid, zapier.client_id,
                                                                                claims_of(tokens["access_token"])["sub"])]


def test_parallel_exchanges_of_one_code_yield_one_token_response(app, zapier, live_server):
    http = signed_in(app)
    verifier = pkce()
    code = approve(app, http, zapier, challenge=verifier)
    data, headers = zapier.auth({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                                 "code_verifier": verifier.verifier})
    answers = at_once(4, lambda: requests.post(live_server + "/oauth/token", data=data, headers=headers, timeout=30))
    succeeded = [answer for answer in answers if answer.status_code == 200]
    assert len(succeeded) == 1, [(a.status_code, a.text) for a in answers]
    assert {answer.json()["error"] for answer in answers if answer.status_code != 200} == {"invalid_grant"}
    # The losers presented a used code: the session the winner opened ended.
    sid = claims_of(succeeded[0].json()["access_token"])["sid"]
    assert session_row(app, sid).ended_reason == ENDED_BY_REUSE


@pytest.mark.parametrize("settings_overrides, ttl", [({}, 60), ({"authorization_code_ttl_seconds": 300}, 300)],
                         ids=["default 60 s", "setting 300 s"])
def test_rfc6749_4_1_2_a_code_past_its_lifetime_is_invalid_grant(app, zapier, clock, ttl):
    http = signed_in(app)
    in_time, too_late = pkce(), pkce()
    first = approve(app, http, zapier, challenge=in_time)
    second = approve(app, http, zapier, challenge=too_late)
    clock.advance(ttl - 1)
    assert exchange(http, zapier, first, in_time).status_code == 200
    clock.advance(1)
    assert error_of(exchange(http, zapier, second, too_late)) == "invalid_grant"


def test_rfc7636_4_6_a_wrong_verifier_is_invalid_grant(app, notes):
    http = signed_in(app)
    verifier = pkce()
    code = approve(app, http, notes, challenge=verifier)
    assert error_of(exchange(http, notes, code, pkce())) == "invalid_grant"
    assert error_of(exchange(http, notes, code, verifier.challenge)) == "invalid_grant"  # "plain" use of it


def test_rfc7636_a_code_issued_with_a_challenge_needs_the_verifier(app, zapier, notes):
    http = signed_in(app)
    for registered in (zapier, notes):
        code = approve(app, http, registered, challenge=pkce())
        assert error_of(exchange(http, registered, code, None)) == "invalid_request"


def test_rfc9700_4_8_a_verifier_for_a_code_issued_without_a_challenge_is_refused(app, zapier):
    # A PKCE downgrade: the attacker's request had no challenge, the victim's exchange has a verifier.
    http = signed_in(app)
    code = approve(app, http, zapier, challenge=None)
    assert error_of(exchange(http, zapier, code, pkce())) == "invalid_request"


def test_another_clients_code_is_invalid_grant_and_does_the_owner_no_harm(app, factory, zapier):
    other = code_client(factory, name="Other app")
    http = signed_in(app)
    verifier = pkce()
    code = approve(app, http, zapier, challenge=verifier)
    assert error_of(exchange(http, other, code, verifier)) == "invalid_grant"
    response = exchange(http, zapier, code, verifier)
    assert response.status_code == 200, response.text
    assert session_row(app, claims_of(response.json["access_token"])["sid"]).ended_at is None


def test_rfc6749_4_1_3_a_different_redirect_uri_is_invalid_grant(app, factory, alice):
    registered = code_client(factory, redirect_uris=(REDIRECT_URI, OTHER_REDIRECT_URI))
    http = signed_in(app)
    verifier = pkce()
    code = approve(app, http, registered, challenge=verifier)
    assert error_of(exchange(http, registered, code, verifier, redirect_uri=OTHER_REDIRECT_URI)) == "invalid_grant"
    assert error_of(exchange(http, registered, code, verifier, redirect_uri=None)) == "invalid_grant"
    assert error_of(exchange(http, registered, code, verifier, redirect_uri=REDIRECT_URI + "/")) == "invalid_grant"
    assert exchange(http, registered, code, verifier).status_code == 200


def test_a_disabled_users_code_is_invalid_grant(app, zapier):
    from authserver.accounts import users

    http = signed_in(app)
    verifier = pkce()
    code = approve(app, http, zapier, challenge=verifier)
    with app.app_context():
        users.disable_user(app.extensions["authserver"], users.find_user("alice"), actor="admin")
        db.session.commit()
    assert error_of(exchange(http, zapier, code, verifier)) == "invalid_grant"


def test_a_client_not_registered_for_the_code_grant_cannot_exchange_one(app, factory, zapier):
    password_app = factory.client(name="Password app", redirect_uris=(REDIRECT_URI,))
    http = signed_in(app)
    code = approve(app, http, zapier)
    assert error_of(exchange(http, password_app, code)) == "unauthorized_client"


def test_code_flow_sessions_rotate_with_the_grace_window_and_reuse_detection(app, zapier, clock):
    tokens = connect(app, zapier)
    http = app.test_client()
    first = tokens["refresh_token"]
    successor = refresh(http, zapier, first).json["refresh_token"]
    # An integrator's parallel job presenting the same predecessor inside the grace window...
    clock.advance(GRACE_SECONDS - 1)
    assert refresh(http, zapier, first).json["refresh_token"] == successor
    # ...but past it, the predecessor is reuse: the whole session ends.
    clock.advance(2)
    assert error_of(refresh(http, zapier, first)) == "invalid_grant"
    assert error_of(refresh(http, zapier, successor)) == "invalid_grant"
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_reason == ENDED_BY_REUSE


# -- the authorization endpoint: errors sent back to the app --------------------------------------
@pytest.mark.parametrize("challenge, method", [
    (None, None),
    ("plain", "plain"),
    ("plain", None),  # RFC 7636 §4.3: no method means plain
    ("S256", "s256"),
], ids=["no challenge", "plain", "challenge without method", "lower-case s256"])
def test_rfc7636_a_public_client_must_send_an_s256_challenge(app, notes, challenge, method):
    http = signed_in(app)
    verifier = pkce()
    value = {"plain": verifier.verifier, "S256": verifier.challenge, None: None}[challenge]
    url = authorize_url(notes.client_id, challenge=value, method=method)
    assert ("code_challenge_method" in url) == (method is not None)
    assert_error_redirect(app, http.get(url), "invalid_request")
    assert codes_stored(app) == 0


def test_rfc7636_plain_is_refused_from_a_confidential_client_too(app, zapier):
    http = signed_in(app)
    verifier = pkce()
    response = http.get(authorize_url(zapier.client_id, challenge=verifier.verifier, method="plain"))
    assert_error_redirect(app, response, "invalid_request")


@pytest.mark.parametrize("response_type", ["token", "code token", "id_token", ""])
def test_rfc6749_4_1_2_1_an_unknown_response_type_is_unsupported_response_type(app, zapier, response_type):
    http = signed_in(app)
    response = http.get(authorize_url(zapier.client_id, challenge=pkce(), response_type=response_type))
    assert_error_redirect(app, response, "unsupported_response_type")


@pytest.mark.parametrize("scope", ["profile payments", "admin", "profile admin"])
def test_rfc6749_4_1_2_1_a_scope_outside_the_clients_is_invalid_scope(app, factory, alice, scope):
    # The client may ask for `admin`, but alice is no administrator.
    registered = code_client(factory, scope="profile email admin")
    http = signed_in(app)
    assert_error_redirect(app, http.get(authorize_url(registered.client_id, scope=scope, challenge=pkce())),
                          "invalid_scope")
    assert codes_stored(app) == 0


def test_rfc6749_4_1_2_1_a_client_not_registered_for_the_code_grant_is_unauthorized_client(app, factory, alice):
    password_app = factory.client(name="Password app", redirect_uris=(REDIRECT_URI,))
    http = signed_in(app)
    assert_error_redirect(app, http.get(authorize_url(password_app.client_id, challenge=pkce())),
                          "unauthorized_client")


def test_errors_go_back_to_the_app_even_before_sign_in(app, notes):
    http = browser(app)
    response = http.get(authorize_url(notes.client_id, challenge=None))
    assert_error_redirect(app, response, "invalid_request")


def test_deny_sends_the_user_back_with_access_denied_and_remembers_nothing(app, zapier):
    http = signed_in(app)
    page = consent_page(http.get(authorize_url(zapier.client_id, challenge=pkce())))
    assert_error_redirect(app, decide(http, page, "deny"), "access_denied")
    assert codes_stored(app) == 0
    with app.app_context():
        assert db.session.scalars(select(Consent)).all() == []
        assert db.session.scalars(select(DeviceSession).where(DeviceSession.client_id == zapier.client_id)).all() == []
    consent_page(http.get(authorize_url(zapier.client_id, challenge=pkce())))  # asked again


# -- the authorization endpoint: an error page, never a redirect ---------------------------------
def bad_target_urls(zapier, notes):
    two_uris = notes.client_id  # registered below with two redirect URIs
    return {
        "unknown client": authorize_url("client_nobody", challenge=pkce()),
        "no client_id": authorize_url(None, challenge=pkce()),
        "unregistered redirect URI": authorize_url(zapier.client_id, redirect_uri="https://evil.example/cb"),
        "a trailing slash more": authorize_url(zapier.client_id, redirect_uri=REDIRECT_URI + "/"),
        "another path on the same host": authorize_url(zapier.client_id, redirect_uri="https://app.example/other"),
        "an added query": authorize_url(zapier.client_id, redirect_uri=REDIRECT_URI + "?next=https://evil.example"),
        "the scheme changed": authorize_url(zapier.client_id, redirect_uri=REDIRECT_URI.replace("https", "http")),
        "the host's case changed": authorize_url(zapier.client_id, redirect_uri=REDIRECT_URI.replace("app", "APP")),
        "no redirect_uri with two registered": authorize_url(two_uris, redirect_uri=None, challenge=pkce()),
        "unregistered redirect URI and a bad response_type": authorize_url(
            zapier.client_id, redirect_uri="https://evil.example/cb", response_type="token"),
    }


BAD_TARGETS = ["unknown client", "no client_id", "unregistered redirect URI", "a trailing slash more",
               "another path on the same host", "an added query", "the scheme changed", "the host's case changed",
               "no redirect_uri with two registered", "unregistered redirect URI and a bad response_type"]


@pytest.mark.parametrize("signed_in_first", [True, False], ids=["signed in", "signed out"])
@pytest.mark.parametrize("case", BAD_TARGETS)
def test_rfc6749_4_1_2_1_an_unknown_client_or_redirect_uri_gets_an_error_page_never_a_redirect(
        app, factory, alice, case, signed_in_first):
    zapier = code_client(factory, name="Zapier")
    notes = code_client(factory, name="Notes", auth_method="none", redirect_uris=(REDIRECT_URI, OTHER_REDIRECT_URI))
    http = signed_in(app) if signed_in_first else browser(app)
    response = http.get(bad_target_urls(zapier, notes)[case])
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert "This sign-in link is not valid" in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert codes_stored(app) == 0


# -- consent: remembered, asked again, skipped ----------------------------------------------------
def test_consent_is_remembered_and_the_same_request_goes_straight_back_with_a_code(app, zapier, clock):
    http = signed_in(app)
    approve(app, http, zapier)
    clock.advance(3600)
    verifier = pkce()
    code = assert_code_redirect(app, http.get(authorize_url(zapier.client_id, challenge=verifier)))
    assert exchange(http, zapier, code, verifier).status_code == 200
    # A subset of what was allowed needs no question either.
    assert_code_redirect(app, http.get(authorize_url(zapier.client_id, scope="profile", challenge=pkce())))


def test_a_broader_scope_asks_again_and_then_is_remembered(app, factory, alice):
    registered = code_client(factory, scope="profile email sessions")
    http = signed_in(app)
    approve(app, http, registered, scope="profile")
    page = consent_page(http.get(authorize_url(registered.client_id, scope="profile email", challenge=pkce())))
    assert "See your email address" in page.text
    assert_code_redirect(app, decide(http, page, "allow"))
    assert_code_redirect(app, http.get(authorize_url(registered.client_id, scope="email profile")))
    # No scope asked means all of the client's, which includes one never allowed.
    page = consent_page(http.get(authorize_url(registered.client_id, scope=None, challenge=pkce())))
    assert "See the devices you are signed in on, and sign them out" in page.text


def test_consent_is_per_user(app, factory, zapier):
    factory.user("bob")
    approve(app, signed_in(app), zapier)
    consent_page(signed_in(app, "bob").get(authorize_url(zapier.client_id, challenge=pkce())))


def test_a_first_party_client_skips_the_consent_page(app, factory, alice):
    own_app = code_client(factory, name="Our app", first_party=True)
    http = browser(app)
    verifier = pkce()
    response = sign_in_through(http, http.get(authorize_url(own_app.client_id, challenge=verifier)))
    code = assert_code_redirect(app, response)
    assert exchange(http, own_app, code, verifier).status_code == 200


def test_the_consent_form_needs_its_csrf_token(app, factory, zapier):
    factory.user("bob")
    http = signed_in(app)
    page = consent_page(http.get(authorize_url(zapier.client_id, challenge=pkce())))
    forged = http.post(page.action, data={"decision": "allow"})
    assert forged.status_code == 400 and "Location" not in forged.headers
    bobs = csrf_token(signed_in(app, "bob").get("/account/devices").text)
    foreign = http.post(page.action, data={"decision": "allow", "csrf_token": bobs})
    assert foreign.status_code == 400 and "Location" not in foreign.headers
    assert codes_stored(app) == 0
    consent_page(http.get(authorize_url(zapier.client_id, challenge=pkce())))  # nothing was remembered


# -- discovery ---------------------------------------------------------------------------------------
def test_rfc8414_metadata_advertises_the_code_flow(app, client):
    metadata = client.get("/.well-known/oauth-authorization-server").json
    issuer = app.extensions["authserver"].settings.issuer
    assert metadata["authorization_endpoint"] == issuer + "/oauth/authorize"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"authorization_code", "client_credentials", "refresh_token"} <= set(metadata["grant_types_supported"])
    # The endpoint the metadata names is the one that answers.
    assert client.get(metadata["authorization_endpoint"][len(issuer):] + "?client_id=nobody").status_code == 400
