"""A public client's refresh tokens bound to its DPoP key (RFC 9449 §5): the chain rotates only for a
proof by that key (rotation, the grace-window retry), reuse detection still ends the session, a thief
without the key harms nothing; parallel refreshes and a proof replayed in parallel, against a live server."""

import pytest
import requests

from authserver.store.database import db
from authserver.store.models import DeviceSession
from authserver.store.models import UsedDPoPProof
from tests.conftest import at_once
from tests.conftest import password_login
from tests.conftest import refresh
from tests.dpop_helpers import DPoPKey
from tests.token_helpers import claims_of

TOKEN = "/oauth/token"
PARALLEL = 6


@pytest.fixture
def public_app(factory):
    factory.user()
    return factory.client(auth_method="none", first_party=True, scope="profile")


@pytest.fixture
def key():
    return DPoPKey()


def proof(key, issuer, clock):
    return {"DPoP": key.proof("POST", issuer + TOKEN, now=clock.now().timestamp())}


@pytest.fixture
def signed_in(client, public_app, key, issuer, clock):
    response = password_login(client, public_app, headers=proof(key, issuer, clock))
    assert response.status_code == 200, response.json
    return response.json


def session_of(app, tokens) -> DeviceSession:
    with app.app_context():
        session = db.session.get(DeviceSession, claims_of(tokens["access_token"])["sid"])
        db.session.expunge(session)
        return session


def test_rfc9449_5_a_public_clients_session_is_bound_and_rotates_with_proofs_by_its_key(
        app, client, public_app, key, signed_in, issuer, clock):
    assert session_of(app, signed_in).dpop_jkt == key.jkt
    token = signed_in["refresh_token"]
    for _ in range(3):
        clock.advance(30)
        rotated = refresh(client, public_app, token, headers=proof(key, issuer, clock))
        assert rotated.status_code == 200, rotated.json
        assert rotated.json["token_type"] == "DPoP"
        assert claims_of(rotated.json["access_token"])["cnf"] == {"jkt": key.jkt}
        assert rotated.json["refresh_token"] != token
        token = rotated.json["refresh_token"]


@pytest.mark.parametrize("presented_with", ["no proof", "another key"])
def test_rfc9449_5_a_bound_refresh_token_without_a_proof_by_its_key_is_invalid_grant_and_harms_nothing(
        app, client, public_app, key, signed_in, issuer, clock, presented_with):
    headers = {} if presented_with == "no proof" else proof(DPoPKey(), issuer, clock)
    refused = refresh(client, public_app, signed_in["refresh_token"], headers=headers)
    assert (refused.status_code, refused.json["error"]) == (400, "invalid_grant")
    assert session_of(app, signed_in).ended_at is None
    # The token is not spent: its owner, with the key, still rotates it.
    assert refresh(client, public_app, signed_in["refresh_token"], headers=proof(key, issuer, clock)).status_code == 200


def test_rfc9449_5_the_grace_window_retry_needs_the_same_key(app, client, public_app, key, signed_in, issuer, clock):
    first = signed_in["refresh_token"]
    successor = refresh(client, public_app, first, headers=proof(key, issuer, clock)).json["refresh_token"]
    clock.advance(2)
    thief = refresh(client, public_app, first, headers=proof(DPoPKey(), issuer, clock))
    assert (thief.status_code, thief.json["error"]) == (400, "invalid_grant")
    assert refresh(client, public_app, first).json["error"] == "invalid_grant"
    retry = refresh(client, public_app, first, headers=proof(key, issuer, clock))
    assert retry.status_code == 200, retry.json
    assert retry.json["refresh_token"] == successor  # the same successor, as for any grace retry
    assert session_of(app, signed_in).ended_at is None


def test_rfc9449_5_reuse_detection_still_ends_a_bound_session(app, client, public_app, key, signed_in, issuer, clock):
    first = signed_in["refresh_token"]
    second = refresh(client, public_app, first, headers=proof(key, issuer, clock)).json["refresh_token"]
    third = refresh(client, public_app, second, headers=proof(key, issuer, clock)).json["refresh_token"]
    # An older generation without the key: refused, and the session lives (no key, no harm).
    assert refresh(client, public_app, first).json["error"] == "invalid_grant"
    assert session_of(app, signed_in).ended_at is None
    # With the key: reuse, the session ends and its live token dies.
    reused = refresh(client, public_app, first, headers=proof(key, issuer, clock))
    assert (reused.status_code, reused.json["error"]) == (400, "invalid_grant")
    assert session_of(app, signed_in).ended_reason == "refresh_token_reuse"
    assert refresh(client, public_app, third, headers=proof(key, issuer, clock)).json["error"] == "invalid_grant"


def test_rfc9449_5_the_predecessor_after_the_grace_window_is_reuse_even_with_the_key(
        app, client, public_app, key, signed_in, issuer, clock):
    first = signed_in["refresh_token"]
    assert refresh(client, public_app, first, headers=proof(key, issuer, clock)).status_code == 200
    clock.advance(11)  # past AUTHSERVER_REFRESH_GRACE_SECONDS (10)
    assert refresh(client, public_app, first, headers=proof(key, issuer, clock)).json["error"] == "invalid_grant"
    assert session_of(app, signed_in).ended_reason == "refresh_token_reuse"


def test_rfc9449_5_an_unbound_session_of_a_public_client_is_bound_by_its_first_refresh_with_a_proof(
        app, client, public_app, key, issuer, clock):
    tokens = password_login(client, public_app).json
    assert session_of(app, tokens).dpop_jkt is None
    bound = refresh(client, public_app, tokens["refresh_token"], headers=proof(key, issuer, clock))
    assert bound.status_code == 200 and bound.json["token_type"] == "DPoP"
    assert session_of(app, tokens).dpop_jkt == key.jkt
    assert refresh(client, public_app, bound.json["refresh_token"]).json["error"] == "invalid_grant"


def test_rfc9449_5_a_confidential_clients_refresh_tokens_stay_unbound(app, client, registered, key, issuer, clock):
    tokens = password_login(client, registered, headers=proof(key, issuer, clock)).json
    rotated = refresh(client, registered, tokens["refresh_token"], headers=proof(key, issuer, clock))
    assert rotated.json["token_type"] == "DPoP"
    plain = refresh(client, registered, rotated.json["refresh_token"])
    assert plain.status_code == 200 and plain.json["token_type"] == "Bearer"
    assert session_of(app, tokens).dpop_jkt is None


def test_rfc9449_5_a_replayed_proof_on_a_refresh_rotates_nothing(app, client, public_app, key, signed_in, issuer,
                                                                  clock):
    headers = proof(key, issuer, clock)
    rotated = refresh(client, public_app, signed_in["refresh_token"], headers=headers)
    replayed = refresh(client, public_app, rotated.json["refresh_token"], headers=headers)
    assert (replayed.status_code, replayed.json["error"]) == (400, "invalid_dpop_proof")
    # The rotation it would have made was undone: the live token is still the unused successor.
    again = refresh(client, public_app, rotated.json["refresh_token"], headers=proof(key, issuer, clock))
    assert again.status_code == 200, again.json


def test_parallel_bound_refreshes_each_with_its_own_proof_yield_one_successor(
        app, public_app, key, signed_in, issuer, clock, live_server):
    form, _ = public_app.auth({"grant_type": "refresh_token", "refresh_token": signed_in["refresh_token"]})
    proofs = iter([key.proof("POST", issuer + TOKEN, now=clock.now().timestamp()) for _ in range(PARALLEL)])
    results = at_once(PARALLEL, lambda: requests.post(live_server + TOKEN, data=form, timeout=30,
                                                      headers={"DPoP": next(proofs)}))
    assert all(response.status_code in (200, 409) for response in results), [r.text for r in results]
    assert len({r.json()["refresh_token"] for r in results if r.status_code == 200}) == 1
    assert session_of(app, signed_in).ended_at is None


def test_rfc9449_11_1_one_proof_presented_in_parallel_is_accepted_once(app, public_app, key, signed_in, issuer,
                                                                        clock, live_server):
    form, _ = public_app.auth({"grant_type": "refresh_token", "refresh_token": signed_in["refresh_token"]})
    headers = proof(key, issuer, clock)
    results = at_once(PARALLEL, lambda: requests.post(live_server + TOKEN, data=form, headers=headers, timeout=30))
    statuses = sorted(response.status_code for response in results)
    assert statuses.count(200) == 1, [r.text for r in results]
    assert all(r.json()["error"] in ("invalid_dpop_proof", "temporarily_unavailable")
               for r in results if r.status_code != 200)
    with app.app_context():
        assert db.session.query(UsedDPoPProof).count() == 2  # the sign-in's proof and this one, once
