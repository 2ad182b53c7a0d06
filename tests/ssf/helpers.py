"""What the security event tests share: a stream made as an operator makes it, and the SETs a receiver
got, checked as a receiver checks them (PyJWT against the JWKS the server publishes, never the code
under test)."""

from __future__ import annotations

import json

import jwt

from authserver.store.database import db
from tests.code_flow_helpers import issuer_of

AUTHORIZATION = "Bearer receiver-s3cret"
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"


def create_stream(app, endpoint: str, *options: str) -> dict:
    """`authserver streams create --endpoint … --json`: the stream's configuration."""
    result = app.test_cli_runner().invoke(args=["streams", "create", "--endpoint", endpoint, "--authorization-header",
                                                AUTHORIZATION, *options, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def stream_command(app, *args: str):
    result = app.test_cli_runner().invoke(args=["streams", *args])
    assert result.exit_code == 0, result.output
    return result


def deliver_all(worker) -> int:
    """Worker rounds until nothing is due (a stream's SETs go one a round)."""
    rounds = 0
    while worker.step():
        rounds += 1
    return rounds


def pushed_sets(app, receiver, stream: dict, path: str = "/events") -> list[dict]:
    """The claims of every SET ``receiver`` got at ``path``, in order, each checked: RFC 8935 push
    (Content-Type, the stream's Authorization header) and RFC 8417 (typ, RS256, kid, signature, iss, aud)."""
    jwks = jwt.PyJWKSet.from_dict(app.test_client().get("/oauth/jwks").json)
    sets = []
    for received in receiver.received:
        if received.path != path:
            continue
        assert received.headers["Content-Type"] == "application/secevent+jwt"
        assert received.headers["Authorization"] == AUTHORIZATION
        token = received.body.decode()
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "secevent+jwt" and header["alg"] == "RS256"
        key = next(key for key in jwks.keys if key.key_id == header["kid"])
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=stream["aud"], issuer=issuer_of(app),
                            options={"require": ["iss", "aud", "iat", "jti", "sub_id", "events"],
                                     "verify_iat": False})
        assert len(claims["events"]) == 1
        sets.append(claims)
    return sets


def event_of(claims: dict) -> tuple[str, dict]:
    [(event_type, event)] = claims["events"].items()
    return event_type, event


def waiting_count(app) -> int:
    from authserver.store import outbox

    with app.app_context():
        count = len(outbox.waiting())
        db.session.rollback()
        return count
