"""OpenID Connect Back-Channel Logout 1.0: whenever a device session of a client with a
`backchannel_logout_uri` ends, for any cause, a logout token is POSTed to it by the outbox worker. The
receiver is real (127.0.0.1); the token is checked as a relying party checks it (PyJWT against the
JWKS); the clock is moved past backoffs instead of sleeping."""

from __future__ import annotations

from urllib.parse import parse_qs

import jwt
import pytest

from authserver import create_app
from authserver.outbound.worker import RETRY_BASE_SECONDS
from authserver.outbound.worker import OutboxWorker
from authserver.settings import Settings
from authserver.store import outbox
from authserver.store.database import db
from tests.code_flow_helpers import issuer_of
from tests.oauth.oidc.helpers import ENDING_CAUSES
from tests.oauth.oidc.helpers import oidc_sign_in
from tests.oauth.oidc.helpers import relying_party
from tests.outbound.receivers import RECEIVER_SETTINGS
from tests.outbound.receivers import Receiver
from tests.outbound.receivers import nothing_listening_port
from tests.session_helpers import session_row
from tests.token_helpers import claims_of
from tests.token_helpers import revoke

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def settings_overrides():
    return RECEIVER_SETTINGS


@pytest.fixture
def notes(factory, alice, receiver):
    """A relying party with a back-channel logout URI on the receiver."""
    return relying_party(factory, backchannel_logout_uri=receiver.url + "/backchannel")


def verified_logout_token(app, client, received, registered) -> tuple[dict, dict]:
    """(header, claims) of a received logout token, checked as a relying party checks it."""
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    [token] = parse_qs(received.body.decode())["logout_token"]
    header = jwt.get_unverified_header(token)
    keys = jwt.PyJWKSet.from_dict(client.get("/oauth/jwks").json)
    key = next(key for key in keys.keys if key.key_id == header["kid"])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=registered.client_id, issuer=issuer_of(app),
                        options={"require": ["iss", "aud", "iat", "exp", "jti", "sub", "sid", "events"],
                                 "verify_exp": False, "verify_iat": False})
    now = app.extensions["authserver"].clock.now().timestamp()
    assert claims["iat"] <= now < claims["exp"], (claims, now)
    return header, claims


def assert_logged_out(app, client, receiver, registered, tokens):
    [received] = receiver.received
    assert received.path == "/backchannel"
    header, claims = verified_logout_token(app, client, received, registered)
    id_token = claims_of(tokens["id_token"])
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
    assert claims["sid"] == id_token["sid"] and claims["sub"] == id_token["sub"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert session_row(app, claims["sid"]).is_ended


# -- every cause a session ends for ------------------------------------------------------------
@pytest.mark.parametrize("end", ENDING_CAUSES)
def test_every_ending_cause_sends_the_client_a_logout_token(app, client, factory, clock, notes, receiver, worker, end):
    http, tokens = oidc_sign_in(app, notes)
    assert worker.step() == 0  # nothing is sent while the session lives
    end(app, client, factory, notes, http, tokens, clock)
    assert worker.step() == 1
    assert_logged_out(app, client, receiver, notes, tokens)
    assert worker.step() == 0  # acknowledged: gone from the outbox


def test_a_client_without_a_backchannel_logout_uri_gets_nothing(app, client, factory, alice, worker):
    registered = relying_party(factory, name="Plain")
    http, tokens = oidc_sign_in(app, registered)
    assert revoke(client, registered, tokens["refresh_token"]).status_code == 200
    assert session_row(app, claims_of(tokens["id_token"])["sid"]).is_ended
    with app.app_context():
        assert outbox.waiting() == []
    assert worker.step() == 0


def test_a_rolled_back_ending_queues_nothing(app, client, notes, worker):
    _http, tokens = oidc_sign_in(app, notes)
    sid = claims_of(tokens["id_token"])["sid"]
    with app.app_context():
        assert app.extensions["authserver"].sessions.end_session(sid, "user", actor="alice")
        assert len(outbox.waiting()) == 1  # in the ending's transaction...
        db.session.rollback()
        assert outbox.waiting() == []  # ...and gone with it
    assert not session_row(app, sid).is_ended
    assert worker.step() == 0


def test_a_receiver_that_is_down_gets_the_token_after_the_backoff_once_it_is_up(app, client, factory, alice, clock,
                                                                              worker):
    port = nothing_listening_port()
    registered = relying_party(factory, backchannel_logout_uri=f"http://127.0.0.1:{port}/backchannel")
    _http, tokens = oidc_sign_in(app, registered)
    assert revoke(client, registered, tokens["refresh_token"]).status_code == 200
    assert worker.step() == 1
    with app.app_context():
        [message] = outbox.waiting()
        assert message.attempts == 1 and "cannot connect" in message.last_error
    assert worker.step() == 0  # not due before the backoff
    receiver = Receiver(port=port)
    try:
        clock.advance(RETRY_BASE_SECONDS + 1)
        assert worker.step() == 1
        assert_logged_out(app, client, receiver, registered, tokens)
    finally:
        receiver.close()
    with app.app_context():
        assert outbox.waiting() == []


def test_a_restarted_server_delivers_what_was_queued(app, client, clock, database_url, keys_dir, settings_overrides,
                                                     notes, receiver):
    _http, tokens = oidc_sign_in(app, notes)
    assert revoke(client, notes, tokens["refresh_token"]).status_code == 200
    restarted = create_app(Settings(database_url=database_url, keys_dir=keys_dir, **settings_overrides), clock=clock)
    worker = OutboxWorker(restarted)
    try:
        assert worker.step() == 1
    finally:
        worker.close()
        with restarted.app_context():
            db.session.remove()
            db.engine.dispose()
    assert_logged_out(app, client, receiver, notes, tokens)
