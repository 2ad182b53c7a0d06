"""Token introspection (RFC 7662): live tokens are described, everything else is exactly
{"active": false}, and only clients registered with --introspect may ask."""

import datetime as dt
import time

import pytest

from authserver.accounts import users
from authserver.sessions.device_sessions import ENDED_BY_USER
from authserver.sessions.device_sessions import ENDED_IDLE
from authserver.sessions.device_sessions import ENDED_MAX_AGE
from authserver.store.database import db
from authserver.store.models import RefreshToken
from authserver.store.models import User
from authserver.store.models import sha256_hex
from tests.conftest import password_login
from tests.conftest import refresh
from tests.session_helpers import session_row
from tests.token_helpers import FORGERS
from tests.token_helpers import INTROSPECT
from tests.token_helpers import MALFORMED_REQUESTS
from tests.token_helpers import assert_oauth_error
from tests.token_helpers import claims_of
from tests.token_helpers import forger_id
from tests.token_helpers import introspect
from tests.token_helpers import is_active
from tests.token_helpers import malformed_id
from tests.token_helpers import mint
from tests.token_helpers import revoke
from tests.token_helpers import signing_key

INACTIVE = {"active": False}


@pytest.fixture
def user_id(factory):
    return factory.user()


@pytest.fixture
def registered(factory, user_id):
    return factory.client()


@pytest.fixture
def tokens(client, registered):
    response = password_login(client, registered, scope="profile")
    assert response.status_code == 200, response.json
    return response.json


def test_a_user_named_like_the_expiry_marker_is_still_live(client, factory, registered, introspector):
    factory.user("expired")
    tokens = password_login(client, registered, username="expired").json
    response = introspect(client, introspector, tokens["access_token"])
    assert response.json["active"] is True and response.json["username"] == "expired"


def assert_inactive(client, introspector, token, hint=None):
    response = introspect(client, introspector, token, hint=hint)
    assert response.status_code == 200, response.get_data(as_text=True)
    # RFC 7662 §2.2: nothing but "active" for a token that is not active.
    assert response.json == INACTIVE


# -- live tokens ----------------------------------------------------------------------------------
def live_description(registered, user_id, **members) -> dict:
    """The answer for a live token of alice's from ``registered`` with the `profile` scope (RFC 7662
    §2.2): what every such answer says, and the members given, which depend on the token."""
    return {"active": True, "scope": "profile", "client_id": registered.client_id, "username": "alice", "sub": user_id,
            **members}


def test_rfc7662_2_2_a_live_access_token_is_described(app, client, registered, introspector, tokens, user_id):
    claims = claims_of(tokens["access_token"])
    response = introspect(client, introspector, tokens["access_token"])
    assert response.status_code == 200
    issuer = app.extensions["authserver"].settings.issuer
    assert response.json == live_description(
        registered, user_id,
        token_type="Bearer",
        exp=claims["exp"],
        iat=claims["iat"],
        nbf=claims["iat"],
        aud=issuer,
        iss=issuer,
        jti=claims["jti"],
        sid=claims["sid"],
    )


def test_rfc7662_2_2_a_live_refresh_token_is_described(app, client, registered, introspector, tokens, user_id):
    sid = claims_of(tokens["access_token"])["sid"]
    session = session_row(app, sid)
    with app.app_context():
        row = db.session.query(RefreshToken).filter_by(token_hash=sha256_hex(tokens["refresh_token"])).one()
    response = introspect(client, introspector, tokens["refresh_token"])
    settings = app.extensions["authserver"].settings
    issuer = settings.issuer
    assert response.json == live_description(
        registered, user_id,
        token_type="refresh_token",
        exp=int(session.last_active_at.timestamp()) + settings.session_idle_timeout_seconds,
        iat=int(row.issued_at.timestamp()),
        nbf=int(row.issued_at.timestamp()),
        aud=issuer,
        iss=issuer,
        jti=str(row.id),
        sid=sid,
    )


def test_a_refresh_tokens_exp_is_its_sessions_max_age_once_that_comes_before_idle_expiry(
        app, client, clock, registered, introspector, tokens):
    settings = app.extensions["authserver"].settings
    current, elapsed = tokens, 0
    step = settings.session_idle_timeout_seconds // 2
    while elapsed <= settings.session_max_age_seconds - settings.session_idle_timeout_seconds:
        clock.advance(step)
        elapsed += step
        current = refresh(client, registered, current["refresh_token"]).json
    session = session_row(app, claims_of(current["access_token"])["sid"])
    assert session.expires_at < session.last_active_at + dt.timedelta(seconds=settings.session_idle_timeout_seconds)
    assert introspect(client, introspector, current["refresh_token"]).json["exp"] == int(
        session.expires_at.timestamp())


def test_any_introspecting_client_may_introspect_any_clients_tokens(client, factory, tokens):
    other_api = factory.client(name="billing-api", grant_types=(), scope="", introspect=True,
                               auth_method="client_secret_post")
    assert is_active(client, other_api, tokens["access_token"])
    assert is_active(client, other_api, tokens["refresh_token"])


# -- token_type_hint ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,hint", [
    ("access_token", "refresh_token"), ("refresh_token", "access_token"),  # wrong hint
    ("access_token", "id_token"), ("refresh_token", "magic"),  # a hint the server does not know
])
def test_rfc7662_2_1_the_hint_is_only_a_hint(client, introspector, tokens, kind, hint):
    response = introspect(client, introspector, tokens[kind], hint=hint)
    assert response.status_code == 200
    assert response.json["active"] is True
    assert response.json["token_type"] == {"access_token": "Bearer", "refresh_token": "refresh_token"}[kind]


# -- revoked, rotated, ended ----------------------------------------------------------------------
def test_a_revoked_access_token_is_inactive_while_the_jwt_is_unexpired(client, registered, introspector, tokens):
    assert revoke(client, registered, tokens["access_token"]).status_code == 200
    assert claims_of(tokens["access_token"])["exp"] > time.time()
    assert_inactive(client, introspector, tokens["access_token"])
    assert is_active(client, introspector, tokens["refresh_token"])  # the session lives on


def test_a_revoked_refresh_token_and_its_sessions_access_tokens_are_inactive(client, registered, introspector,
                                                                             tokens):
    renewed = refresh(client, registered, tokens["refresh_token"]).json
    assert revoke(client, registered, renewed["refresh_token"]).status_code == 200
    for token in (renewed["refresh_token"], renewed["access_token"], tokens["access_token"]):
        assert_inactive(client, introspector, token)


def test_a_rotated_refresh_token_is_inactive_and_its_successor_active(client, registered, introspector, tokens):
    renewed = refresh(client, registered, tokens["refresh_token"]).json
    # Still inside the grace window, where re-presenting it would return the same successor.
    assert_inactive(client, introspector, tokens["refresh_token"])
    assert is_active(client, introspector, renewed["refresh_token"])
    assert is_active(client, introspector, tokens["access_token"])  # access tokens live until exp


def test_tokens_of_a_session_the_user_ended_are_inactive(app, client, introspector, tokens):
    with app.app_context():
        app.extensions["authserver"].sessions.end_session(claims_of(tokens["access_token"])["sid"], ENDED_BY_USER,
                                                          actor="alice")
        db.session.commit()
    assert_inactive(client, introspector, tokens["access_token"])
    assert_inactive(client, introspector, tokens["refresh_token"])


def test_tokens_of_an_idle_expired_session_are_inactive(app, client, clock, introspector, tokens):
    clock.advance(app.extensions["authserver"].settings.session_idle_timeout_seconds - 1)
    assert is_active(client, introspector, tokens["refresh_token"])
    clock.advance(1)
    assert_inactive(client, introspector, tokens["access_token"])
    assert_inactive(client, introspector, tokens["refresh_token"])
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_reason == ENDED_IDLE


def test_tokens_of_a_session_past_its_max_age_are_inactive(app, client, clock, registered, introspector, tokens):
    settings = app.extensions["authserver"].settings
    step = settings.session_idle_timeout_seconds // 2
    current = tokens
    elapsed = 0
    while elapsed + step < settings.session_max_age_seconds:  # kept busy, never idle
        clock.advance(step)
        elapsed += step
        current = refresh(client, registered, current["refresh_token"]).json
    assert is_active(client, introspector, current["refresh_token"])
    clock.advance(settings.session_max_age_seconds - elapsed)
    assert_inactive(client, introspector, current["access_token"])
    assert_inactive(client, introspector, current["refresh_token"])
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_reason == ENDED_MAX_AGE


def test_tokens_of_a_disabled_user_are_inactive(app, client, introspector, tokens):
    with app.app_context():
        services = app.extensions["authserver"]
        users.disable_user(services, users.find_user("alice"), actor="admin")
        db.session.commit()
    assert_inactive(client, introspector, tokens["access_token"])
    assert_inactive(client, introspector, tokens["refresh_token"])


def test_a_disabled_user_is_inactive_even_if_the_session_row_was_not_ended(app, client, introspector, tokens):
    # Belt and braces: disabling ends the sessions, but the user check stands on its own.
    with app.app_context():
        db.session.query(User).update({"disabled_at": dt.datetime.now(dt.timezone.utc)})
        db.session.commit()
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_at is None
    assert_inactive(client, introspector, tokens["access_token"])
    assert_inactive(client, introspector, tokens["refresh_token"])


# -- JWTs that are not ours, or not any more ------------------------------------------------------
def test_a_token_minted_with_the_real_key_is_active(app, client, introspector, tokens):
    # The control for the cases below: the minting helper itself yields a live token.
    assert is_active(client, introspector, mint(signing_key(app), claims_of(tokens["access_token"])))


@pytest.mark.parametrize("forger", FORGERS, ids=forger_id)
def test_rfc7662_2_2_a_forged_or_expired_jwt_is_exactly_inactive(app, client, introspector, tokens, forger):
    forged = forger(app, tokens["access_token"])
    assert_inactive(client, introspector, forged)
    assert_inactive(client, introspector, forged, hint="access_token")


# -- who may introspect ---------------------------------------------------------------------------
def test_rfc7662_2_1_an_unauthenticated_caller_gets_401(client, tokens):
    response = client.post(INTROSPECT, data={"token": tokens["access_token"]})
    assert_oauth_error(response, 401, "invalid_client")


def test_rfc7662_2_1_a_wrong_secret_gets_401(client, introspector, tokens):
    introspector.client_secret = "wrong"
    response = introspect(client, introspector, tokens["access_token"])
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_rfc7662_2_1_a_client_not_registered_with_introspect_gets_401(client, registered, tokens):
    # The token's own client, authenticating correctly, is still not a resource server.
    response = introspect(client, registered, tokens["access_token"])
    assert_oauth_error(response, 401, "invalid_client")
    assert "active" not in response.json


def test_rfc7662_2_1_a_public_client_gets_401(client, factory, tokens):
    public = factory.client(name="cli", auth_method="none")
    assert_oauth_error(introspect(client, public, tokens["access_token"]), 401, "invalid_client")


def test_an_introspecting_client_must_use_its_registered_auth_method(client, introspector, tokens):
    response = client.post(INTROSPECT, data={"token": tokens["access_token"], "client_id": introspector.client_id,
                                             "client_secret": introspector.client_secret})
    assert_oauth_error(response, 401, "invalid_client")


# -- malformed requests ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", MALFORMED_REQUESTS, ids=malformed_id)
def test_rfc7662_2_1_a_malformed_request_is_refused(client, introspector, tokens, case):
    response = case.send(client, INTROSPECT, introspector, tokens["access_token"])
    assert_oauth_error(response, case.status, case.error)
    for name, value in case.headers:
        assert response.headers[name] == value
