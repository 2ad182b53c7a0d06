"""``authserver_resource.security_event_receiver``: a Flask app receiving authserver's SETs (RFC 8935)
refuses a still-valid JWT of a session that ended, without introspection, as soon as the outbox worker
has pushed the event; a SET that does not verify changes nothing.

The API is served on a real HTTP server on 127.0.0.1 (the worker pushes to it), the server's JWKS by
the live server; the worker is driven directly, with no sleeps."""

from __future__ import annotations

import secrets
import threading
import time

import pytest
from flask import Flask
from flask import jsonify
from werkzeug.serving import make_server

from authserver_resource import RevokedSessions
from authserver_resource import current_token
from authserver_resource import resource_protector
from authserver_resource import security_event_receiver
from tests.outbound.receivers import RECEIVER_SETTINGS
from tests.session_helpers import sign_in
from tests.ssf.helpers import AUTHORIZATION
from tests.ssf.helpers import SESSION_REVOKED
from tests.ssf.helpers import create_stream
from tests.token_helpers import another_key
from tests.token_helpers import bearer
from tests.token_helpers import mint
from tests.token_helpers import revoke
from tests.token_helpers import signing_key

AUDIENCE = "https://notes.example"
RECEIVER_PATH = "/security-events"


@pytest.fixture
def settings_overrides():
    return RECEIVER_SETTINGS


class NotesAPI:
    """A resource server of the kind the README shows: offline checks, and the server's security events."""

    def __init__(self, issuer: str, jwks_uri: str):
        self.revoked = RevokedSessions(ttl_seconds=900)
        self.app = Flask("notes")
        require_oauth = resource_protector(issuer, jwks_uri, revoked_sessions=self.revoked)
        self.app.register_blueprint(security_event_receiver(issuer, jwks_uri, AUDIENCE, self.revoked,
                                                            authorization=AUTHORIZATION, path=RECEIVER_PATH))

        @self.app.get("/notes")
        @require_oauth("profile")
        def notes():
            return jsonify(sid=current_token["sid"])

    def call(self, access_token: str):
        return self.app.test_client().get("/notes", headers=bearer(access_token))

    def push(self, token: str, authorization: str = AUTHORIZATION):
        return self.app.test_client().post(RECEIVER_PATH, data=token, headers={
            "Content-Type": "application/secevent+jwt", "Authorization": authorization})


@pytest.fixture
def notes_api(live_server, issuer):
    api = NotesAPI(issuer, live_server + "/oauth/jwks")
    server = make_server("127.0.0.1", 0, api.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_port}"
    yield api
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def signed_in(client, registered):
    return sign_in(client, registered, scope="profile")


def a_set(app, sid: str, key=None, **claims) -> str:
    """A session-revoked SET for ``sid``, signed by the server's key (or ``key``, naming the server's kid)."""
    settings = app.extensions["authserver"].settings
    body = {"iss": settings.issuer, "aud": AUDIENCE, "iat": int(time.time()), "jti": secrets.token_urlsafe(8),
            "sub_id": {"format": "complex", "user": {"format": "iss_sub", "iss": settings.issuer, "sub": "x"},
                       "session": {"format": "opaque", "id": sid}},
            "events": {SESSION_REVOKED: {"initiating_entity": "user"}}, **claims}
    return mint(key or signing_key(app), body, typ="secevent+jwt", kid=signing_key(app).kid)


def test_a_still_valid_jwt_is_refused_within_a_second_of_its_session_ending(app, client, registered, notes_api,
                                                                           signed_in, worker):
    create_stream(app, notes_api.url + RECEIVER_PATH, "--audience", AUDIENCE)
    assert notes_api.call(signed_in.access_token).status_code == 200
    assert revoke(client, registered, signed_in.refresh_token).status_code == 200  # the app logs out
    ended_at = time.monotonic()
    assert worker.step() == 1
    response = notes_api.call(signed_in.access_token)
    assert time.monotonic() - ended_at < 1
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert signed_in.claims["exp"] > time.time()  # the JWT itself is still valid: the event refused it


def test_other_sessions_tokens_are_still_accepted(app, client, registered, notes_api, signed_in, worker):
    other = sign_in(client, registered, scope="profile")
    create_stream(app, notes_api.url + RECEIVER_PATH, "--audience", AUDIENCE)
    assert revoke(client, registered, signed_in.refresh_token).status_code == 200
    assert worker.step() == 1
    assert notes_api.call(other.access_token).status_code == 200


def test_a_set_with_a_bad_signature_is_400_and_changes_nothing(app, notes_api, signed_in):
    response = notes_api.push(a_set(app, signed_in.sid, key=another_key()))
    assert response.status_code == 400 and response.json["err"] == "invalid_key"
    assert notes_api.call(signed_in.access_token).status_code == 200


def test_a_set_for_another_audience_is_400_and_changes_nothing(app, notes_api, signed_in):
    response = notes_api.push(a_set(app, signed_in.sid, aud="https://other.example"))
    assert response.status_code == 400 and response.json["err"] == "invalid_audience"
    assert notes_api.call(signed_in.access_token).status_code == 200


def test_a_set_from_another_issuer_or_not_a_set_is_400_and_changes_nothing(app, notes_api, signed_in):
    assert notes_api.push(a_set(app, signed_in.sid, iss="https://evil.example")).json["err"] == "invalid_issuer"
    assert notes_api.push(mint(signing_key(app), {"sid": signed_in.sid})).json["err"] == "invalid_request"
    assert notes_api.call(signed_in.access_token).status_code == 200


def test_a_push_without_the_streams_authorization_is_401_and_changes_nothing(app, notes_api, signed_in):
    response = notes_api.push(a_set(app, signed_in.sid), authorization="Bearer guessed")
    assert response.status_code == 401 and response.json["err"] == "authentication_failed"
    assert notes_api.call(signed_in.access_token).status_code == 200


def test_a_verified_set_is_202_and_a_repeat_of_it_202_again(app, notes_api, signed_in):
    token = a_set(app, signed_in.sid)
    assert notes_api.push(token).status_code == 202
    assert notes_api.push(token).status_code == 202  # at-least-once delivery: a repeat is acknowledged
    assert notes_api.call(signed_in.access_token).status_code == 401


def test_revoked_sessions_are_forgotten_after_the_access_token_lifetime():
    now = [1000.0]
    revoked = RevokedSessions(ttl_seconds=900, now=lambda: now[0])
    revoked.revoke_session("s1")
    assert revoked.refuses({"sid": "s1"}) and not revoked.refuses({"sid": "s2"})
    now[0] += 899
    assert revoked.refuses({"sid": "s1"})
    now[0] += 1  # every token of the session has expired by now: nothing left to refuse
    assert not revoked.refuses({"sid": "s1"})
