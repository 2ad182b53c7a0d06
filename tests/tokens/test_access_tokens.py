"""Our access tokens (``tokens/access_tokens.py``) on SQLite and PostgreSQL: what a signed token carries,
which JWTs count as ours (offline), and when one of ours stops being live (deny list, session ended,
client gone). The HTTP faces of these rules are tested with revocation, introspection and the protector;
here the functions those share are driven directly."""

from __future__ import annotations

from authserver.store.database import db
from authserver.store.denylist import deny_access_token
from authserver.store.models import Client
from authserver.tokens.access_tokens import OUR_AUDIENCES
from authserver.tokens.access_tokens import live_access_token
from authserver.tokens.access_tokens import signed_by_us
from authserver.tokens.access_tokens import unverified_kid
from authserver.tokens.access_tokens import verify_access_token
from tests.conftest import token_request
from tests.session_helpers import sign_in
from tests.token_helpers import another_key
from tests.token_helpers import claims_of
from tests.token_helpers import header_of
from tests.token_helpers import mint
from tests.token_helpers import signing_key

AUDIENCE = OUR_AUDIENCES  # any audience of ours, as introspection asks


def services_of(app):
    return app.extensions["authserver"]


def test_a_users_token_names_its_session_and_a_clients_own_token_names_none(app, client, registered, factory):
    signed = sign_in(client, registered, scope="profile")
    header, claims = header_of(signed.access_token), signed.claims
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["sub"] != claims["client_id"] == registered.client_id
    assert claims["sid"] and claims["scope"] == "profile"
    assert claims["exp"] - claims["iat"] == services_of(app).settings.access_token_ttl_seconds

    backend = factory.client(name="backend", grant_types=("client_credentials",), scope="read")
    own = token_request(client, backend, grant_type="client_credentials").json["access_token"]
    assert claims_of(own)["sub"] == backend.client_id and "sid" not in claims_of(own)


def test_a_token_is_ours_only_as_we_sign_it(app, client, registered):
    signed = sign_in(client, registered)
    services, key = services_of(app), signing_key(app)
    assert verify_access_token(services, signed.access_token, AUDIENCE) == signed.claims
    assert unverified_kid(signed.access_token) == key.kid
    # Same claims, our key, but a header we never write, or a user's token without its session.
    assert verify_access_token(services, mint(key, signed.claims, typ="JWT"), AUDIENCE) is None
    no_session = {k: v for k, v in signed.claims.items() if k != "sid"}
    assert verify_access_token(services, mint(key, no_session), AUDIENCE) is None
    # Another key: not ours at all, not even as "expired".
    foreign = mint(another_key(), signed.claims, kid=key.kid)
    assert verify_access_token(services, foreign, AUDIENCE) is None and not signed_by_us(services, foreign)
    assert verify_access_token(services, "not.a.jwt", AUDIENCE) is None and unverified_kid("garbage") is None


def test_an_expired_token_is_still_recognised_as_signed_by_us(app, client, registered, clock):
    signed = sign_in(client, registered)
    clock.advance(services_of(app).settings.access_token_ttl_seconds + 1)
    services = services_of(app)
    assert verify_access_token(services, signed.access_token, AUDIENCE) is None
    assert signed_by_us(services, signed.access_token)


def test_a_token_dies_when_denied_or_when_its_session_ends(app, client, registered):
    first, second = sign_in(client, registered), sign_in(client, registered)
    services = services_of(app)
    with app.app_context():
        live = live_access_token(services, first.access_token, AUDIENCE)
        assert live is not None and live.username == "alice" and live.claims["jti"] == first.claims["jti"]
        deny_access_token(first.claims["jti"], live.claims.expires_at, services.clock.now())
        db.session.commit()
    with app.app_context():
        assert live_access_token(services, first.access_token, AUDIENCE) is None
        assert live_access_token(services, second.access_token, AUDIENCE) is not None
        services.sessions.end_user_sessions(second.claims["sub"], "user", actor="alice")
        db.session.commit()
    with app.app_context():
        assert live_access_token(services, second.access_token, AUDIENCE) is None


def test_a_clients_own_token_dies_with_its_client(app, client, factory):
    backend = factory.client(name="backend", grant_types=("client_credentials",), scope="read")
    token = token_request(client, backend, grant_type="client_credentials").json["access_token"]
    services = services_of(app)
    with app.app_context():
        live = live_access_token(services, token, AUDIENCE)
        assert live is not None and live.username is None
        db.session.delete(db.session.get(Client, backend.client_id))
        db.session.commit()
    with app.app_context():
        assert live_access_token(services, token, AUDIENCE) is None
