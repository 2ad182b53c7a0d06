"""The client credentials grant (RFC 6749 §4.4) for back ends acting for themselves, driven with
Authlib's own requests client against a live server, configured from the RFC 8414 metadata: an
RS256 JWT with ``sub`` = ``client_id``, no refresh token, no device session and no ``sid``;
introspection and revocation work on it; public clients are refused; the account APIs, which act
for a user, refuse it."""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import func
from sqlalchemy import select

from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import DeviceSession
from conformance.clients import verify_with_pyjwt
from tests.session_helpers import logged_events
from tests.token_helpers import bearer
from tests.token_helpers import introspect
from tests.token_helpers import is_active

GRANT = "client_credentials"
SCOPE = "reports:read reports:write"


def back_end(factory, auth_method="client_secret_basic", scope=SCOPE, grant_types=(GRANT,), name="billing job"):
    return factory.client(name=name, grant_types=grant_types, scope=scope, auth_method=auth_method)


def authlib_session(metadata, registered, scope=None) -> OAuth2Session:
    """Authlib's client, the way a back end configures it: its id, secret and method, and the token
    endpoint from the metadata."""
    return OAuth2Session(client_id=registered.client_id, client_secret=registered.client_secret,
                         token_endpoint_auth_method=registered.auth_method, scope=scope)


def fetch(metadata, registered, scope=None) -> dict:
    return authlib_session(metadata, registered, scope).fetch_token(metadata["token_endpoint"], grant_type=GRANT,
                                                                   timeout=10)


def refused(metadata, registered, scope=None) -> str:
    with pytest.raises(OAuthError) as error:
        fetch(metadata, registered, scope)
    return error.value.error


def session_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(DeviceSession))


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_rfc6749_4_4_a_back_end_gets_a_token_for_itself_with_authlibs_client(app, factory, metadata, issuer,
                                                                                auth_method):
    registered = back_end(factory, auth_method=auth_method)
    token = fetch(metadata, registered)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    assert token["scope"] == SCOPE
    assert "refresh_token" not in token  # RFC 6749 §4.4.3: SHOULD NOT be included
    header, claims = verify_with_pyjwt(metadata, token["access_token"], issuer=issuer, audience=issuer)
    assert (header["alg"], header["typ"]) == ("RS256", "at+jwt")
    assert claims["sub"] == claims["client_id"] == registered.client_id
    assert claims["scope"] == SCOPE
    assert "sid" not in claims
    assert session_count(app) == 0  # no user, no device session


def test_rfc6749_4_4_2_a_requested_scope_is_granted_as_asked_and_never_widened(factory, metadata):
    registered = back_end(factory)
    assert fetch(metadata, registered, scope="reports:read")["scope"] == "reports:read"
    assert refused(metadata, registered, scope="reports:read payments") == "invalid_scope"


def test_the_admin_scope_is_never_granted_to_a_client_acting_for_itself(factory, metadata):
    registered = back_end(factory, scope="reports:read admin")
    assert fetch(metadata, registered)["scope"] == "reports:read"
    assert refused(metadata, registered, scope="admin") == "invalid_scope"


def test_rfc6749_4_4_a_public_client_is_unauthorized_client(app, factory, metadata):
    # Registered for the grant, but it has no secret to authenticate with.
    public = back_end(factory, auth_method="none")
    assert refused(metadata, public) == "unauthorized_client"
    assert session_count(app) == 0


def test_a_client_not_registered_for_the_grant_is_unauthorized_client(factory, metadata):
    password_app = back_end(factory, grant_types=("password", "refresh_token"))
    assert refused(metadata, password_app) == "unauthorized_client"


def test_a_wrong_secret_is_invalid_client(factory, metadata):
    registered = back_end(factory)
    session = OAuth2Session(client_id=registered.client_id, client_secret="not the secret",
                            token_endpoint_auth_method="client_secret_basic")
    with pytest.raises(OAuthError) as error:
        session.fetch_token(metadata["token_endpoint"], grant_type=GRANT, timeout=10)
    assert error.value.error == "invalid_client"


def test_rfc7662_introspection_shows_the_client_as_subject_with_no_user_or_session(app, client, factory, metadata,
                                                                                  introspector, clock):
    registered = back_end(factory)
    token = fetch(metadata, registered)["access_token"]
    answer = introspect(client, introspector, token).json
    assert answer["active"] is True
    assert answer["sub"] == answer["client_id"] == registered.client_id
    assert answer["scope"] == SCOPE and answer["token_type"] == "Bearer"
    assert "username" not in answer and "sid" not in answer
    clock.advance(900)  # the token's lifetime
    assert not is_active(client, introspector, token)


def test_rfc7009_the_client_revokes_its_token_with_authlibs_client(app, client, factory, metadata, introspector):
    registered = back_end(factory)
    session = authlib_session(metadata, registered)
    token = session.fetch_token(metadata["token_endpoint"], grant_type=GRANT, timeout=10)["access_token"]
    assert is_active(client, introspector, token)
    answer = session.revoke_token(metadata["revocation_endpoint"], token, token_type_hint="access_token", timeout=10)
    assert answer.status_code == 200, answer.text
    assert not is_active(client, introspector, token)
    revoked = logged_events(app, security_events.ACCESS_TOKEN_REVOKED)
    assert [(e["client_id"], e["session_id"], e["actor"]) for e in revoked] == [
        (registered.client_id, None, registered.client_id)]


def test_another_client_cannot_revoke_it(client, factory, metadata, introspector):
    owner, other = back_end(factory), back_end(factory, name="other job")
    token = fetch(metadata, owner)["access_token"]
    session = authlib_session(metadata, other)
    session.revoke_token(metadata["revocation_endpoint"], token, timeout=10)
    assert is_active(client, introspector, token)


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/me"),
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions/revoke-others"),
    ("GET", "/api/consents"),
])
def test_the_account_apis_refuse_a_clients_own_token(factory, metadata, live_server, method, path):
    # Even a client allowed the `sessions` scope: these APIs act for a user, and there is none.
    registered = back_end(factory, scope="profile email sessions")
    token = fetch(metadata, registered)
    assert token["scope"] == "profile email sessions"
    response = requests.request(method, live_server + path, headers=bearer(token["access_token"]), timeout=10)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_scope"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
