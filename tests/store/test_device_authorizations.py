"""Device authorizations (authserver/store/device_authorizations.py, RFC 8628), without HTTP: user
codes (§6.1), what a start stores (digests only), finding a pending authorization by the code a
user types, the user's decision (once, not after expiry), and polling (§3.5): pending, slow_down
with a longer interval, access_denied, expired_token, tokens once. Each call runs in a unit of work
of its own, committed as the token endpoint's answer is, refusals included. (Over HTTP:
tests/oauth/grants/test_device_code.py and tests/web/test_device_verification.py.)"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from authserver.accounts import users
from authserver.sessions.device_sessions import DeviceContext
from authserver.store import device_authorizations
from authserver.store.database import db
from authserver.store.device_authorizations import APPROVED
from authserver.store.device_authorizations import DENIED
from authserver.store.device_authorizations import PENDING
from authserver.store.device_authorizations import USED
from authserver.store.device_authorizations import USER_CODE_ALPHABET
from authserver.store.device_authorizations import PollRefused
from authserver.store.device_authorizations import new_user_code
from authserver.store.device_authorizations import normalize_user_code
from authserver.store.models import Client
from authserver.store.models import DeviceAuthorization
from authserver.store.models import sha256_hex
from tests.conftest import in_unit_of_work
from tests.device_helpers import USER_CODE
from tests.device_helpers import device_client

TV = DeviceContext(ip="192.0.2.9", user_agent="SmartTV/1.0", device_name="Living room TV")
INTERVAL = 5  # the default AUTHSERVER_DEVICE_POLL_INTERVAL_SECONDS
TTL = 600  # the default AUTHSERVER_DEVICE_CODE_TTL_SECONDS


@pytest.fixture
def tv(factory):
    factory.user("alice")
    return device_client(factory)


def start(app, client_id) -> tuple[str, str]:
    """(device code, user code) of a new authorization, as the device authorization endpoint starts it."""
    return in_unit_of_work(app, lambda services: device_authorizations.start(
        services.settings, services.clock.now(), db.session.get(Client, client_id), "profile sessions", TV))


def find_pending(app, typed) -> bool:
    return in_unit_of_work(app, lambda services: device_authorizations.find_pending(typed, services.clock.now())
                           is not None)


def decide(app, device_code, approved=True) -> bool:
    """alice's decision on the authorization, found earlier (as the verification page found it)."""
    def call(services):
        row = db.session.get(DeviceAuthorization, sha256_hex(device_code))
        return device_authorizations.decide(row, users.find_user("alice"), approved, services.clock.now())

    return in_unit_of_work(app, call)


def poll(app, device_code, client_id) -> str:
    """The poll's answer: :data:`USED` (the device gets its tokens) or the RFC error code."""
    def call(services):
        try:
            return device_authorizations.poll(device_code, client_id, services.clock.now()).status
        except PollRefused as refused:
            return refused.error

    return in_unit_of_work(app, call)


def stored(app, device_code) -> dict:
    with app.app_context():
        row = db.session.get(DeviceAuthorization, sha256_hex(device_code))
        return {column.name: getattr(row, column.name) for column in DeviceAuthorization.__table__.columns}


# -- user codes (§6.1) --------------------------------------------------------------------------------
def test_rfc8628_6_1_user_codes_are_eight_letters_without_vowels_shown_in_two_halves():
    assert not set(USER_CODE_ALPHABET) & set("AEIOUY0123456789")  # no words, no 0/O or 1/I to confuse
    codes = {new_user_code() for _ in range(200)}
    assert all(USER_CODE.match(code) for code in codes)
    assert len(codes) == 200  # 20^8 of them: two alike in 200 would be a broken generator


@pytest.mark.parametrize("typed", ["BCDF-GHJK", "bcdf-ghjk", "BCDFGHJK", "bcdf ghjk", " Bcdf-Ghjk ", "bc-df-gh-jk"])
def test_rfc8628_6_1_a_typed_user_code_is_read_whatever_its_case_dashes_and_spaces(typed):
    assert normalize_user_code(typed) == "BCDFGHJK"


@pytest.mark.parametrize("typed", ["BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "BCDF_GHJK", "", None])
def test_what_cannot_be_a_user_code_is_refused_before_any_lookup(typed):
    assert normalize_user_code(typed) is None


# -- starting ---------------------------------------------------------------------------------------
def test_rfc8628_3_2_a_start_stores_a_pending_authorization_with_its_codes_as_digests_only(app, tv, clock):
    device_code, user_code = start(app, tv.client_id)
    assert len(device_code) >= 43 and USER_CODE.match(user_code)
    row = stored(app, device_code)
    assert {name: row[name] for name in ("device_code_hash", "user_code_hash", "client_id", "scope", "status",
                                         "interval", "created_at", "expires_at", "user_id", "decided_at")} == {
        "device_code_hash": sha256_hex(device_code), "user_code_hash": sha256_hex(normalize_user_code(user_code)),
        "client_id": tv.client_id, "scope": "profile sessions", "status": PENDING, "interval": INTERVAL,
        "created_at": clock.now(), "expires_at": clock.now() + dt.timedelta(seconds=TTL), "user_id": None,
        "decided_at": None,
    }
    assert (row["device_name"], row["user_agent"], row["ip"]) == (TV.device_name, TV.user_agent, TV.ip)
    with app.app_context():
        every_value = repr(db.session.execute(select(DeviceAuthorization.__table__)).all())
    assert device_code not in every_value and normalize_user_code(user_code) not in every_value


# -- the user's side ------------------------------------------------------------------------------
def test_the_code_a_user_types_finds_the_authorization_while_it_is_pending(app, tv):
    device_code, user_code = start(app, tv.client_id)
    assert find_pending(app, user_code.lower().replace("-", " "))
    assert not find_pending(app, "BCDF-GHJK" if user_code != "BCDF-GHJK" else "CDFG-HJKL")  # another code
    assert not find_pending(app, "not a code")
    assert decide(app, device_code) is True
    assert not find_pending(app, user_code)  # decided: the code is spent for people too


def test_an_expired_authorization_cannot_be_found_or_decided(app, tv, clock):
    device_code, user_code = start(app, tv.client_id)
    clock.advance(TTL - 1)
    assert find_pending(app, user_code)
    clock.advance(1)
    assert not find_pending(app, user_code)
    assert decide(app, device_code) is False
    assert stored(app, device_code)["status"] == PENDING


@pytest.mark.parametrize("approved, status", [(True, APPROVED), (False, DENIED)], ids=["approved", "denied"])
def test_a_decision_is_recorded_once_with_who_and_when(app, tv, clock, approved, status):
    device_code, _ = start(app, tv.client_id)
    clock.advance(30)
    assert decide(app, device_code, approved) is True
    with app.app_context():
        alice = users.find_user("alice").id
    row = stored(app, device_code)
    assert (row["status"], row["user_id"], row["decided_at"]) == (status, alice, clock.now())
    # A second decision (another tab, a double click) changes nothing.
    clock.advance(5)
    assert decide(app, device_code, not approved) is False
    assert (stored(app, device_code)["status"], stored(app, device_code)["decided_at"]) == (status, row["decided_at"])


# -- polling (§3.5) -------------------------------------------------------------------------------
def test_rfc8628_3_5_polls_before_the_decision_are_pending_and_too_fast_ones_slow_the_device_down(app, tv, clock):
    device_code, _ = start(app, tv.client_id)
    assert poll(app, device_code, tv.client_id) == "authorization_pending"
    clock.advance(INTERVAL - 1)
    assert poll(app, device_code, tv.client_id) == "slow_down"
    # The longer interval is written although the answer is an error, and counts from this poll.
    assert stored(app, device_code)["interval"] == INTERVAL + 5
    assert stored(app, device_code)["last_polled_at"] == clock.now()
    clock.advance(INTERVAL + 4)
    assert poll(app, device_code, tv.client_id) == "slow_down"
    assert stored(app, device_code)["interval"] == INTERVAL + 10
    clock.advance(INTERVAL + 10)
    assert poll(app, device_code, tv.client_id) == "authorization_pending"
    assert stored(app, device_code)["interval"] == INTERVAL + 10


def test_rfc8628_3_5_an_approved_authorization_gives_its_tokens_once(app, tv, clock):
    device_code, _ = start(app, tv.client_id)
    decide(app, device_code)
    clock.advance(INTERVAL)
    assert poll(app, device_code, tv.client_id) == USED
    assert stored(app, device_code)["status"] == USED
    clock.advance(INTERVAL)
    assert poll(app, device_code, tv.client_id) == "invalid_grant"


def test_rfc8628_3_5_a_denied_authorization_answers_access_denied_to_every_poll(app, tv, clock):
    device_code, _ = start(app, tv.client_id)
    decide(app, device_code, approved=False)
    for _ in range(2):
        clock.advance(INTERVAL)
        assert poll(app, device_code, tv.client_id) == "access_denied"


@pytest.mark.parametrize("decision", [None, True, False], ids=["undecided", "approved", "denied"])
def test_rfc8628_3_5_an_expired_authorization_answers_expired_token_whatever_was_decided(app, tv, clock, decision):
    device_code, _ = start(app, tv.client_id)
    if decision is not None:
        decide(app, device_code, approved=decision)
    clock.advance(TTL)
    assert poll(app, device_code, tv.client_id) == "expired_token"


def test_another_clients_or_an_unknown_device_code_is_invalid_grant(app, tv, factory):
    device_code, _ = start(app, tv.client_id)
    decide(app, device_code)
    other = device_client(factory, name="Other TV app")
    assert poll(app, device_code, other.client_id) == "invalid_grant"
    assert poll(app, "not-a-device-code", tv.client_id) == "invalid_grant"
    assert stored(app, device_code)["status"] == APPROVED  # still there for its own device
