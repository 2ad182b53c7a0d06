"""Authorization codes (authserver/store/authorization_codes.py, RFC 6749 §4.1.2), without HTTP: a
code is stored only as its digest with what it is bound to, found for its own client only, lives
``authorization_code_ttl_seconds`` by the server's clock, is redeemed once, and a second use (or a
lost race to redeem) ends the session the first use opened. Each call runs in a unit of work of its
own, committed as the exchange's answer is. (The flow over HTTP: tests/oauth/grants/test_authorization_code.py.)"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from authserver.accounts import users
from authserver.sessions.device_sessions import ENDED_BY_REUSE
from authserver.sessions.device_sessions import DeviceContext
from authserver.store import authorization_codes
from authserver.store import security_events
from authserver.store.authorization_codes import CodeInvalid
from authserver.store.database import db
from authserver.store.models import AuthorizationCode
from authserver.store.models import Client
from authserver.store.models import sha256_hex
from tests.code_flow_helpers import REDIRECT_URI
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import pkce
from tests.conftest import in_unit_of_work
from tests.session_helpers import LAPTOP_UA
from tests.session_helpers import logged_events
from tests.session_helpers import session_row

FOUND = "found"
BROWSER = DeviceContext(ip="192.0.2.7", user_agent=LAPTOP_UA)


@pytest.fixture
def zapier(factory):
    factory.user("alice")
    return code_client(factory)


@pytest.fixture
def challenge():
    return pkce().challenge


def issue(app, client_id, challenge=None) -> str:
    """A code alice approved for the client, as the authorization endpoint saves it."""
    code = authorization_codes.new_code()
    in_unit_of_work(app, lambda services: authorization_codes.save_code(
        services.settings, services.clock.now(), code, client=db.session.get(Client, client_id),
        user=users.find_user("alice"), redirect_uri=REDIRECT_URI, scope="profile", code_challenge=challenge,
        code_challenge_method="S256" if challenge else None, device=BROWSER))
    return code


def find(app, code, client_id) -> str:
    """:data:`FOUND`, or why the code is refused."""
    def call(services):
        try:
            authorization_codes.find_code(services, code, client_id)
        except CodeInvalid as refused:
            return str(refused)
        return FOUND

    return in_unit_of_work(app, call)


def open_session(app, client_id) -> str:
    """A session of alice's with the client (the one an exchange opens), without HTTP."""
    return in_unit_of_work(app, lambda services: services.sessions.open_session(
        users.find_user("alice"), db.session.get(Client, client_id), "profile", BROWSER).id)


def redeem(app, code, client_id, session_id=None) -> str | None:
    """The exchange's storage steps: find, redeem, record the session it opened. None, or why refused."""
    def call(services):
        try:
            row = authorization_codes.find_code(services, code, client_id)
            authorization_codes.redeem_code(services, row)
        except CodeInvalid as refused:
            return str(refused)
        row.session_id = session_id
        return None

    return in_unit_of_work(app, call)


def stored(app, code) -> dict | None:
    """The code's row as plain values (None if there is none)."""
    with app.app_context():
        row = db.session.get(AuthorizationCode, sha256_hex(code))
        return None if row is None else {column.name: getattr(row, column.name)
                                         for column in AuthorizationCode.__table__.columns}


def every_stored_value(app) -> str:
    with app.app_context():
        return repr(db.session.execute(select(AuthorizationCode.__table__)).all())


def test_rfc6749_4_1_2_a_code_is_stored_only_as_its_digest_with_what_it_is_bound_to(app, zapier, challenge, clock):
    code = issue(app, zapier.client_id, challenge)
    assert len(code) >= 43 and code != issue(app, zapier.client_id)  # 32 random bytes, base64url
    with app.app_context():
        alice = users.find_user("alice").id
    assert stored(app, code) == {
        "code_hash": sha256_hex(code), "client_id": zapier.client_id, "user_id": alice, "redirect_uri": REDIRECT_URI,
        "scope": "profile", "code_challenge": challenge, "code_challenge_method": "S256",
        "user_agent": LAPTOP_UA, "ip": "192.0.2.7", "created_at": clock.now(),
        "expires_at": clock.now() + dt.timedelta(seconds=60), "used_at": None, "session_id": None,
        "nonce": None, "auth_time": None, "browser_session_id": None,  # OpenID Connect's, none asked for here
        "resources": None,  # RFC 8707's, none asked for here
    }
    assert code not in every_stored_value(app)


def test_a_code_is_found_for_the_client_it_was_issued_to_only(app, zapier, factory):
    code = issue(app, zapier.client_id)
    other = code_client(factory, name="Other app")
    assert find(app, code, other.client_id) == "unknown code"
    assert find(app, "not-a-code-of-ours", zapier.client_id) == "unknown code"
    assert find(app, code, zapier.client_id) == FOUND


@pytest.mark.parametrize("settings_overrides, ttl", [({}, 60), ({"authorization_code_ttl_seconds": 300}, 300)],
                         ids=["default 60 s", "setting 300 s"])
def test_a_code_lives_its_lifetime_by_the_servers_clock(app, zapier, clock, ttl):
    code = issue(app, zapier.client_id)
    clock.advance(ttl - 1)
    assert find(app, code, zapier.client_id) == FOUND
    clock.advance(1)
    assert find(app, code, zapier.client_id) == "code expired"
    assert redeem(app, code, zapier.client_id) == "code expired"
    assert stored(app, code)["used_at"] is None  # an expired code is not a used one: no reuse alarm
    assert logged_events(app, security_events.AUTHORIZATION_CODE_REUSED) == []


def test_a_code_is_redeemed_once_and_remembers_the_session_it_opened(app, zapier, clock):
    code = issue(app, zapier.client_id)
    clock.advance(10)
    sid = open_session(app, zapier.client_id)
    assert redeem(app, code, zapier.client_id, sid) is None
    assert (stored(app, code)["used_at"], stored(app, code)["session_id"]) == (clock.now(), sid)
    assert redeem(app, code, zapier.client_id) == "code reused"


def test_rfc6749_4_1_2_a_code_presented_again_ends_the_session_its_first_use_opened(app, zapier):
    code = issue(app, zapier.client_id)
    sid = open_session(app, zapier.client_id)
    assert redeem(app, code, zapier.client_id, sid) is None
    assert session_row(app, sid).ended_at is None

    assert find(app, code, zapier.client_id) == "code reused"
    assert session_row(app, sid).ended_reason == ENDED_BY_REUSE
    events = logged_events(app, security_events.AUTHORIZATION_CODE_REUSED)
    with app.app_context():
        alice = users.find_user("alice").id
    assert [(e["session_id"], e["client_id"], e["user_id"]) for e in events] == [(sid, zapier.client_id, alice)]


def test_losing_the_race_to_redeem_a_code_counts_as_its_reuse(app, zapier):
    code = issue(app, zapier.client_id)

    def found_before_the_winner_committed(services):
        row = authorization_codes.find_code(services, code, zapier.client_id)
        # Between this read and this redeem (nothing locks the row in between on PostgreSQL), a
        # parallel exchange redeems the code and opens its session in a unit of work of its own.
        db.session.commit()  # (SQLite's write lock would otherwise hold the other exchange off)
        winner = open_session(app, zapier.client_id)
        assert redeem(app, code, zapier.client_id, winner) is None
        with pytest.raises(CodeInvalid, match="code reused"):
            authorization_codes.redeem_code(services, row)
        return winner

    winner = in_unit_of_work(app, found_before_the_winner_committed)
    assert session_row(app, winner).ended_reason == ENDED_BY_REUSE
    assert [e["session_id"] for e in logged_events(app, security_events.AUTHORIZATION_CODE_REUSED)] == [winner]


def test_another_clients_presentation_of_a_used_code_ends_nothing(app, zapier, factory):
    # A code presented by a client it was not issued to is unknown to that client: no evidence that
    # the code's own client leaked it.
    code = issue(app, zapier.client_id)
    sid = open_session(app, zapier.client_id)
    assert redeem(app, code, zapier.client_id, sid) is None
    other = code_client(factory, name="Other app")
    assert find(app, code, other.client_id) == "unknown code"
    assert session_row(app, sid).ended_at is None
    assert logged_events(app, security_events.AUTHORIZATION_CODE_REUSED) == []


def test_the_reuse_of_a_code_whose_exchange_opened_no_session_is_still_recorded(app, zapier):
    code = issue(app, zapier.client_id)
    assert redeem(app, code, zapier.client_id) is None  # e.g. the user was disabled before the exchange
    assert find(app, code, zapier.client_id) == "code reused"
    assert [e["session_id"] for e in logged_events(app, security_events.AUTHORIZATION_CODE_REUSED)] == [None]
