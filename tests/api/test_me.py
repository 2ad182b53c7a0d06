"""``GET /api/me``: who a live user token is for -- ``sub`` and ``username``, and ``email`` only
with the `email` scope. It needs no particular scope (it is the test request and connection label
an integrator such as Zapier configures), and it refuses what is not a live token of a user."""

from __future__ import annotations

import pytest

from authserver.store.database import db
from authserver.store.models import DeviceSession
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.session_helpers import sign_in
from tests.token_helpers import NO_TOKEN_CHALLENGE
from tests.token_helpers import bearer
from tests.token_helpers import revoke


@pytest.fixture
def ids(factory):
    return {"alice": factory.user("alice", email="alice@example.com"), "bob": factory.user("bob")}


@pytest.fixture
def registered(factory, ids):
    return factory.client(name="Notes", scope="profile email sessions")


def me(client, access_token):
    return client.get("/api/me", headers=bearer(access_token))


@pytest.mark.parametrize("scope, expected_email", [
    ("profile", False),
    ("profile email", True),
    ("email", True),
    ("sessions", False),
])
def test_me_answers_sub_and_username_and_the_email_only_with_the_email_scope(client, registered, ids, scope,
                                                                             expected_email):
    token = sign_in(client, registered, scope=scope).access_token
    response = me(client, token)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    expected = {"sub": ids["alice"], "username": "alice"}
    if expected_email:
        expected["email"] = "alice@example.com"
    assert response.json == expected


def test_a_user_without_an_email_gets_no_email_member(client, registered, ids):
    token = sign_in(client, registered, username="bob", scope="profile email").access_token
    assert me(client, token).json == {"sub": ids["bob"], "username": "bob"}


def test_a_third_party_apps_token_from_the_code_flow_works(app, factory, ids):
    zapier = code_client(factory, name="Zapier", scope="profile")
    tokens = connect(app, zapier, scope="profile")
    assert me(app.test_client(), tokens["access_token"]).json == {"sub": ids["alice"], "username": "alice"}


def test_a_restricted_sessions_token_may_still_say_who_it_is_for(app, client, registered, ids):
    signed_in = sign_in(client, registered, device_name="Living-room TV")
    with app.app_context():
        db.session.get(DeviceSession, signed_in.sid).restricted = True
        db.session.commit()
    assert me(client, signed_in.access_token).json["username"] == "alice"
    assert client.get("/api/sessions", headers=signed_in.headers).status_code == 403  # but manages nothing


def test_no_token_is_a_bare_challenge(client):
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == NO_TOKEN_CHALLENGE


def test_a_dead_token_is_invalid_token(client, registered):
    revoked = sign_in(client, registered)
    assert revoke(client, registered, revoked.access_token).status_code == 200
    ended = sign_in(client, registered)
    assert client.delete(f"/api/sessions/{ended.sid}", headers=ended.headers).status_code == 204
    for token in (revoked.access_token, ended.access_token, "not-a-token"):
        response = me(client, token)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
