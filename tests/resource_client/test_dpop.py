"""``authserver_resource`` with DPoP-bound tokens (RFC 9449 §7): another app takes ``Authorization:
DPoP`` with a proof checked by authserver's one rule, once per proof; a bound token as ``Bearer`` and a
bad proof are refused with 401 and a DPoP challenge. Against a live authserver."""

import time

import pytest

from authserver_resource import resource_protector
from tests.conftest import password_login
from tests.dpop_helpers import DPoPKey
from tests.resource_client.test_resource_protector import notes_api
from tests.token_helpers import assert_invalid_token
from tests.token_helpers import bearer

NOTES = "http://localhost/notes"  # the Flask test client's URL of the notes API


@pytest.fixture
def key():
    return DPoPKey()


@pytest.fixture
def bound(client, factory, registered, key, issuer, clock):
    app = factory.client(auth_method="none", first_party=True, scope="profile")
    response = password_login(client, app, headers={"DPoP": key.proof("POST", issuer + "/oauth/token",
                                                                       now=clock.now().timestamp())})
    assert response.json["token_type"] == "DPoP"
    return response.json["access_token"]


@pytest.fixture
def api(live_server, issuer):
    return notes_api(resource_protector(issuer, live_server + "/oauth/jwks"))


def call(api, token, proof=None, scheme="DPoP"):
    headers = {"Authorization": f"{scheme} {token}", **({"DPoP": proof} if proof else {})}
    return api.test_client().get("/notes", headers=headers)


def assert_dpop_refusal(response, error):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.json["error"] == error
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'DPoP error="{error}"') and 'algs="ES256 RS256 PS256 EdDSA"' in challenge


def test_rfc9449_7_1_a_bound_token_with_its_proof_is_taken_once_per_proof(api, bound, key):
    proof = key.proof("GET", NOTES, access_token=bound)
    assert call(api, bound, proof).status_code == 200
    assert_dpop_refusal(call(api, bound, proof), "invalid_dpop_proof")
    assert call(api, bound, key.proof("GET", NOTES, access_token=bound)).status_code == 200


def test_rfc9449_7_2_a_bound_token_sent_as_bearer_is_invalid_token(api, bound):
    assert_invalid_token(api.test_client().get("/notes", headers=bearer(bound)))


@pytest.mark.parametrize("spoil", ["no proof", "missing ath", "wrong htu", "wrong htm", "old iat"])
def test_rfc9449_7_1_a_bad_proof_is_invalid_dpop_proof(api, bound, key, spoil):
    proof = {
        "no proof": None,
        "missing ath": key.proof("GET", NOTES),
        "wrong htu": key.proof("GET", NOTES + "/other", access_token=bound),
        "wrong htm": key.proof("POST", NOTES, access_token=bound),
        "old iat": key.proof("GET", NOTES, access_token=bound, now=time.time() - 120),
    }[spoil]
    assert_dpop_refusal(call(api, bound, proof), "invalid_dpop_proof")


def test_rfc9449_7_1_another_key_or_an_unbound_token_is_invalid_token(client, registered, api, bound):
    other = DPoPKey()
    assert_dpop_refusal(call(api, bound, other.proof("GET", NOTES, access_token=bound)), "invalid_token")
    unbound = password_login(client, registered, scope="profile").json["access_token"]
    assert_dpop_refusal(call(api, unbound, other.proof("GET", NOTES, access_token=unbound)), "invalid_token")


def test_the_proof_names_the_apps_public_url_when_it_is_given(live_server, issuer, bound, key):
    api = notes_api(resource_protector(issuer, live_server + "/oauth/jwks", public_url="https://notes.example/"))
    assert call(api, bound, key.proof("GET", "https://notes.example/notes", access_token=bound)).status_code == 200
    assert_dpop_refusal(call(api, bound, key.proof("GET", NOTES, access_token=bound)), "invalid_dpop_proof")
