"""Connected apps (``/api/consents``): the apps a user allowed, and disconnecting one, which
forgets the consent and ends every session of the user with that app -- its refresh tokens fail
with invalid_grant and its access tokens introspect inactive at once. Needs the `sessions` scope."""

from __future__ import annotations

import datetime as dt

import pytest

from authserver.sessions.device_sessions import ENDED_BY_USER
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import DeviceSession
from tests.code_flow_helpers import approve
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import signed_in
from tests.conftest import refresh
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.session_helpers import sign_in
from tests.token_helpers import NO_TOKEN_CHALLENGE
from tests.token_helpers import bearer
from tests.token_helpers import challenge_params
from tests.token_helpers import claims_of
from tests.token_helpers import is_active


@pytest.fixture
def users(factory):
    return {"alice": factory.user("alice"), "bob": factory.user("bob")}


@pytest.fixture
def account_app(factory, users):
    """The user's own app, allowed to manage the account (`sessions`)."""
    return factory.client(name="Account app", scope="profile sessions")


@pytest.fixture
def zapier(factory, users):
    return code_client(factory, name="Zapier", scope="profile email")


@pytest.fixture
def calendar(factory, users):
    return code_client(factory, name="Calendar", scope="profile")


def test_list_shows_each_connected_app_with_its_scope_and_when(app, client, account_app, zapier, calendar, clock):
    caller = sign_in(client, account_app)
    assert client.get("/api/consents", headers=caller.headers).json == {"consents": []}
    granted = clock.now()
    connect(app, zapier, scope="profile email")
    clock.advance(3600)
    connect(app, calendar, scope="profile")

    caller = sign_in(client, account_app)  # the first access token has expired meanwhile
    response = client.get("/api/consents", headers=caller.headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json == {"consents": [
        {"client_id": calendar.client_id, "client_name": "Calendar", "scope": "profile",
         "scope_descriptions": {"profile": "See your username"},
         "granted_at": (granted + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        {"client_id": zapier.client_id, "client_name": "Zapier", "scope": "profile email",
         "scope_descriptions": {"profile": "See your username", "email": "See your email address"},
         "granted_at": granted.strftime("%Y-%m-%dT%H:%M:%SZ")},
    ]}


def test_only_the_callers_own_consents_are_listed(app, client, account_app, zapier):
    connect(app, zapier, username="bob")
    caller = sign_in(client, account_app)
    assert client.get("/api/consents", headers=caller.headers).json == {"consents": []}


def test_disconnecting_an_app_ends_its_sessions_at_once_and_nothing_else(app, client, account_app, zapier, calendar,
                                                                        introspector, clock):
    caller = sign_in(client, account_app)
    zaps = [connect(app, zapier), connect(app, zapier)]  # connected from two browsers: two sessions
    kept = connect(app, calendar, scope="profile")
    bobs = connect(app, zapier, username="bob")
    clock.advance(60)

    response = client.delete(f"/api/consents/{zapier.client_id}", headers=caller.headers,
                             environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert response.status_code == 204
    assert response.data == b""
    for tokens in zaps:
        assert refresh(client, zapier, tokens["refresh_token"]).json["error"] == "invalid_grant"
        assert not is_active(client, introspector, tokens["access_token"])
        row = session_row(app, claims_of(tokens["access_token"])["sid"])
        assert (row.ended_reason, row.ended_by) == (ENDED_BY_USER, "alice")
    ended = logged_events(app, security_events.SESSION_ENDED)
    assert sorted(e["session_id"] for e in ended) == sorted(claims_of(t["access_token"])["sid"] for t in zaps)
    assert {(e["actor"], e["ip"]) for e in ended} == {("alice", "203.0.113.5")}

    # The other app, the caller's own session and another user's session with the same app live on.
    for tokens, registered in ((kept, calendar), (bobs, zapier)):
        assert is_active(client, introspector, tokens["access_token"])
        assert refresh(client, registered, tokens["refresh_token"]).status_code == 200
    assert client.get("/api/consents", headers=caller.headers).json["consents"][0]["client_id"] == calendar.client_id
    assert len(client.get("/api/consents", headers=caller.headers).json["consents"]) == 1

    # The consent is forgotten: the app must ask again.
    consent_page(signed_in(app).get(authorize_url(zapier.client_id, challenge=pkce())))


def test_disconnecting_twice_or_an_app_never_connected_is_404(app, client, account_app, zapier, calendar):
    caller = sign_in(client, account_app)
    connect(app, zapier)
    connect(app, calendar, scope="profile", username="bob")
    assert client.delete(f"/api/consents/{zapier.client_id}", headers=caller.headers).status_code == 204
    for client_id in (zapier.client_id, calendar.client_id, "client_nobody", account_app.client_id):
        response = client.delete(f"/api/consents/{client_id}", headers=caller.headers)
        assert response.status_code == 404
        assert response.json["error"] == "not_found"
    # bob's consent to Calendar was not alice's to withdraw.
    bob = sign_in(client, account_app, username="bob")
    assert [c["client_id"] for c in client.get("/api/consents", headers=bob.headers).json["consents"]] == [
        calendar.client_id]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_token_without_the_sessions_scope_is_insufficient_scope(app, client, account_app, zapier, method):
    # A third-party app holding `profile` (and `email`) cannot see or disconnect the user's apps.
    tokens = connect(app, zapier)
    path = "/api/consents" if method == "GET" else f"/api/consents/{zapier.client_id}"
    response = client.open(path, method=method, headers=bearer(tokens["access_token"]))
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"
    assert challenge_params(response)["error"] == "insufficient_scope"
    assert challenge_params(response)["scope"] == "sessions"
    caller = sign_in(client, account_app)
    assert [c["client_id"] for c in client.get("/api/consents", headers=caller.headers).json["consents"]] == [
        zapier.client_id]


def test_a_restricted_sessions_token_cannot_disconnect_apps(app, client, account_app, zapier):
    connect(app, zapier)
    device = sign_in(client, account_app, device_name="Living-room TV")
    with app.app_context():
        db.session.get(DeviceSession, device.sid).restricted = True
        db.session.commit()
    for method, path in (("GET", "/api/consents"), ("DELETE", f"/api/consents/{zapier.client_id}")):
        response = client.open(path, method=method, headers=device.headers)
        assert response.status_code == 403
        assert response.json["error"] == "insufficient_scope"
    assert len(client.get("/api/consents", headers=sign_in(client, account_app).headers).json["consents"]) == 1


def test_without_a_token_the_consents_api_answers_401(client):
    response = client.get("/api/consents")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == NO_TOKEN_CHALLENGE


def test_a_consent_granted_through_the_flow_is_what_the_api_lists(app, client, account_app, factory, users):
    registered = code_client(factory, name="Wide app", scope="profile email sessions")
    http = signed_in(app)
    approve(app, http, registered, scope="profile")
    approve(app, http, registered, scope="email")  # a broader set: asked again, then widened
    caller = sign_in(client, account_app)
    assert [c["scope"] for c in client.get("/api/consents", headers=caller.headers).json["consents"]] == [
        "profile email"]
