"""Token revocation (RFC 7009): refresh tokens end their device session, access tokens go on the
deny list, and nothing a client sends can end someone else's session."""

import datetime as dt
import logging
import time

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from authserver.sessions.device_sessions import ENDED_BY_REVOCATION
from authserver.store import retention
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import RevokedAccessToken
from tests.conftest import password_login
from tests.conftest import refresh
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.token_helpers import INTROSPECT
from tests.token_helpers import MALFORMED_REQUESTS
from tests.token_helpers import OFFLINE_FORGERS
from tests.token_helpers import PROTECTED
from tests.token_helpers import REVOKE
from tests.token_helpers import add_protected_route
from tests.token_helpers import assert_oauth_error
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import forger_id
from tests.token_helpers import is_active
from tests.token_helpers import malformed_id
from tests.token_helpers import revoke


@pytest.fixture
def app(app):
    add_protected_route(app)
    return app


@pytest.fixture
def tokens(client, registered):
    response = password_login(client, registered)
    assert response.status_code == 200, response.json
    return response.json


def assert_revocation_ok(response):
    # RFC 7009 §2.2: 200 whether revoked now, before, or never valid; the body is ignored.
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {}


# -- refresh tokens -------------------------------------------------------------------------------
def test_rfc7009_2_1_revoking_a_refresh_token_ends_its_device_session(app, client, registered, introspector,
                                                                     tokens):
    sid = claims_of(tokens["access_token"])["sid"]
    assert_revocation_ok(revoke(client, registered, tokens["refresh_token"], hint="refresh_token"))

    row = session_row(app, sid)
    assert row.ended_reason == ENDED_BY_REVOCATION and row.ended_by == registered.client_id
    assert refresh(client, registered, tokens["refresh_token"]).json["error"] == "invalid_grant"
    # The session's access token is dead too, although the JWT itself has not expired.
    assert claims_of(tokens["access_token"])["exp"] > time.time()
    assert not is_active(client, introspector, tokens["access_token"])
    assert client.get(PROTECTED, headers=bearer(tokens["access_token"])).status_code == 401
    [event] = logged_events(app, security_events.SESSION_ENDED)
    assert event["session_id"] == sid and event["detail"] == {"reason": ENDED_BY_REVOCATION}


def test_rfc7009_2_1_revoking_one_session_leaves_the_users_other_sessions_alone(client, registered, tokens):
    other = password_login(client, registered).json
    assert_revocation_ok(revoke(client, registered, tokens["refresh_token"]))
    assert refresh(client, registered, other["refresh_token"]).status_code == 200
    assert client.get(PROTECTED, headers=bearer(other["access_token"])).status_code == 200


def test_revoking_an_older_generation_of_a_refresh_token_still_logs_out(app, client, registered, tokens):
    # Presenting it at the token endpoint would end the session anyway (reuse detection).
    assert refresh(client, registered, tokens["refresh_token"]).status_code == 200
    assert_revocation_ok(revoke(client, registered, tokens["refresh_token"]))
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_reason == ENDED_BY_REVOCATION


# -- access tokens --------------------------------------------------------------------------------
def test_rfc7009_2_1_revoking_an_access_token_denies_its_jti_until_it_expires(app, client, registered,
                                                                             introspector, tokens):
    access = tokens["access_token"]
    claims = claims_of(access)
    assert client.get(PROTECTED, headers=bearer(access)).status_code == 200

    assert_revocation_ok(revoke(client, registered, access, hint="access_token"))

    with app.app_context():
        denied = db.session.get(RevokedAccessToken, claims["jti"])
        assert denied.expires_at == dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc)
    assert claims["exp"] > time.time()  # still unexpired, yet:
    assert not is_active(client, introspector, access)
    refused = client.get(PROTECTED, headers=bearer(access))
    assert refused.status_code == 401 and refused.json["error"] == "invalid_token"
    [event] = logged_events(app, security_events.ACCESS_TOKEN_REVOKED)
    assert event["session_id"] == claims["sid"] and event["user_id"] == claims["sub"]
    assert event["client_id"] == registered.client_id and event["detail"] == {"jti": claims["jti"]}


def test_revoking_an_access_token_leaves_its_session_alive(app, client, registered, tokens):
    assert_revocation_ok(revoke(client, registered, tokens["access_token"]))
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_at is None
    renewed = refresh(client, registered, tokens["refresh_token"])
    assert renewed.status_code == 200
    assert client.get(PROTECTED, headers=bearer(renewed.json["access_token"])).status_code == 200


def test_sessions_prune_forgets_a_denied_jti_only_after_the_token_expired(app, client, clock, registered, tokens):
    claims = claims_of(tokens["access_token"])
    assert_revocation_ok(revoke(client, registered, tokens["access_token"]))
    services = app.extensions["authserver"]
    with app.app_context():
        assert retention.prune(services)["deleted_denied_access_tokens"] == 0
        clock.advance(claims["exp"] - clock.now().timestamp() + 1)
        assert retention.prune(services)["deleted_denied_access_tokens"] == 1


# -- token_type_hint ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,wrong_hint", [("refresh_token", "access_token"), ("access_token", "refresh_token")])
def test_rfc7009_2_1_a_wrong_hint_still_finds_the_token(app, client, registered, introspector, tokens, kind,
                                                       wrong_hint):
    assert_revocation_ok(revoke(client, registered, tokens[kind], hint=wrong_hint))
    assert not is_active(client, introspector, tokens[kind])
    if kind == "refresh_token":
        assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_reason == ENDED_BY_REVOCATION
    else:
        assert is_active(client, introspector, tokens["refresh_token"])


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
def test_an_unknown_hint_is_ignored_not_refused(client, registered, introspector, tokens, kind):
    assert_revocation_ok(revoke(client, registered, tokens[kind], hint="id_token"))
    assert not is_active(client, introspector, tokens[kind])


# -- what answers 200 without doing anything -------------------------------------------------------
@pytest.mark.parametrize("forger", OFFLINE_FORGERS, ids=forger_id)
def test_rfc7009_2_2_an_expired_forged_or_unknown_token_is_answered_200_and_nothing_happens(app, client, registered,
                                                                                        tokens, forger):
    # Only the offline forgers: the others are signed with the real key and carry the real `jti`,
    # which revocation (an access token of ours, RFC 7009 §2.1) rightly denies.
    forged = forger(app, tokens["access_token"])
    assert_revocation_ok(revoke(client, registered, forged))
    assert_revocation_ok(revoke(client, registered, forged, hint="access_token"))
    with app.app_context():
        assert db.session.query(RevokedAccessToken).count() == 0
    assert logged_events(app, security_events.ACCESS_TOKEN_REVOKED) == []
    assert logged_events(app, security_events.SESSION_ENDED) == []
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_at is None
    assert client.get(PROTECTED, headers=bearer(tokens["access_token"])).status_code == 200


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
def test_rfc7009_2_2_revoking_twice_is_answered_200_and_recorded_once(app, client, registered, tokens, kind):
    assert_revocation_ok(revoke(client, registered, tokens[kind]))
    assert_revocation_ok(revoke(client, registered, tokens[kind]))
    expected = {"refresh_token": (1, 0), "access_token": (0, 1)}[kind]
    assert (len(logged_events(app, security_events.SESSION_ENDED)),
            len(logged_events(app, security_events.ACCESS_TOKEN_REVOKED))) == expected


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
def test_rfc7009_2_1_a_client_cannot_revoke_another_clients_token(app, client, factory, registered,
                                                                  introspector, tokens, kind):
    # Answered 200 like an invalid token, so the caller learns nothing; the owner's token lives on.
    other = factory.client(name="other")
    assert_revocation_ok(revoke(client, other, tokens[kind], hint=kind))
    assert is_active(client, introspector, tokens[kind])
    assert client.get(PROTECTED, headers=bearer(tokens["access_token"])).status_code == 200
    assert refresh(client, registered, tokens["refresh_token"]).status_code == 200
    assert logged_events(app, security_events.SESSION_ENDED) == []
    assert logged_events(app, security_events.ACCESS_TOKEN_REVOKED) == []


# -- client authentication ------------------------------------------------------------------------
def test_rfc7009_2_1_a_confidential_client_must_authenticate(client, registered, introspector, tokens):
    response = client.post(REVOKE, data={"token": tokens["refresh_token"], "client_id": registered.client_id})
    assert_oauth_error(response, 401, "invalid_client")
    assert is_active(client, introspector, tokens["refresh_token"])


def test_rfc7009_2_1_a_wrong_secret_is_invalid_client(client, registered, introspector, tokens):
    registered.client_secret = "wrong"
    response = revoke(client, registered, tokens["refresh_token"])
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert is_active(client, introspector, tokens["refresh_token"])


def test_a_client_must_use_its_registered_auth_method(client, registered, tokens):
    response = client.post(REVOKE, data={"token": tokens["refresh_token"], "client_id": registered.client_id,
                                         "client_secret": registered.client_secret})
    assert_oauth_error(response, 401, "invalid_client")


def test_a_public_client_revokes_its_own_tokens_by_client_id(app, client, factory):
    factory.user()
    public = factory.client(name="cli", auth_method="none")
    tokens = password_login(client, public).json
    assert_revocation_ok(revoke(client, public, tokens["refresh_token"]))
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_reason == ENDED_BY_REVOCATION


# -- malformed requests ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", MALFORMED_REQUESTS, ids=malformed_id)
def test_rfc7009_2_1_a_malformed_request_is_refused(app, client, registered, tokens, case):
    response = case.send(client, REVOKE, registered, tokens["refresh_token"])
    assert_oauth_error(response, case.status, case.error)
    for name, value in case.headers:
        assert response.headers[name] == value
    assert session_row(app, claims_of(tokens["access_token"])["sid"]).ended_at is None


def test_tokens_are_never_logged(app, client, registered, introspector, tokens, caplog):
    caplog.set_level(logging.DEBUG)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        introspect_form, introspect_headers = introspector.auth({"token": token})
        client.post(INTROSPECT, data=introspect_form, headers=introspect_headers)
        revoke(client, registered, token)
    revoke(client, registered, "x" * 40)
    for secret in (tokens["access_token"], tokens["refresh_token"], "x" * 40):
        assert secret not in caplog.text


# -- metadata -------------------------------------------------------------------------------------
def test_rfc8414_metadata_lists_revocation_and_introspection(app, client, registered):
    metadata = client.get("/.well-known/oauth-authorization-server").json
    checked = AuthorizationServerMetadata(metadata)
    for key in checked.REGISTRY_KEYS:
        getattr(checked, f"validate_{key}")()
    issuer = app.extensions["authserver"].settings.issuer
    assert metadata["revocation_endpoint"] == issuer + REVOKE
    assert metadata["introspection_endpoint"] == issuer + INTROSPECT
    assert metadata["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "none"]
    # Public clients can never introspect, so `none` is not offered there.
    assert metadata["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
