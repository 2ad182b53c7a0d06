"""DPoP proofs (RFC 9449 §4.3), the one check (``authserver/tokens/dpop.py``): every bad input refused
at the token endpoint (400 ``invalid_dpop_proof``, nothing written) and at the APIs (401, nothing
written), on SQLite and PostgreSQL; the rule's large input spaces (``htu`` normalization, ``iat``
window, ``htm``) as property tests; the server nonce (§8) with the clock moved."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import seed
from hypothesis import settings
from hypothesis import strategies as st
from joserfc import jwt

from authserver.errors import DPoPNonceRequired
from authserver.errors import DPoPProofInvalid
from authserver.store.database import db
from authserver.store.models import DeviceSession
from authserver.store.models import UsedDPoPProof
from authserver.tokens.dpop import MAX_PROOF_BYTES
from authserver.tokens.dpop import normalize_htu
from authserver.tokens.dpop import verify_proof
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.dpop_helpers import DPoPKey
from tests.dpop_helpers import b64url
from tests.dpop_helpers import unsigned
from tests.token_helpers import claims_of
from tests.token_helpers import introspect

TOKEN = "/oauth/token"
ME = "/api/me"
WINDOW = 60
PROPERTY = settings(max_examples=60, deadline=None, database=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

KEYS = {alg: DPoPKey(alg) for alg in ("ES256", "RS256", "PS256", "EdDSA")}
KEY = KEYS["ES256"]


# -- the rule, without HTTP -------------------------------------------------------------------------
NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)
URL = "https://auth.example.com/oauth/token"


def check(proof: str, **overrides):
    arguments = {"method": "POST", "url": URL, "now": NOW, "window_seconds": WINDOW, **overrides}
    return verify_proof(proof, **arguments)


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_rfc9449_4_3_a_proof_by_each_supported_algorithm_passes_with_its_keys_rfc7638_thumbprint(alg):
    key = KEYS[alg]
    proof = check(key.proof("POST", URL, now=NOW.timestamp()))
    assert proof.jkt == key.jkt
    assert proof.expires_at == NOW + dt.timedelta(seconds=WINDOW + 5)


@seed(9449)
@PROPERTY
@given(method=st.text(min_size=1, max_size=10).filter(lambda m: m != "POST"))
def test_rfc9449_4_3_htm_must_be_the_requests_method_exactly(method):
    with pytest.raises(DPoPProofInvalid, match="htm"):
        check(KEY.proof(method, URL, now=NOW.timestamp()))


@seed(9449)
@PROPERTY
@given(age=st.integers(min_value=-3 * WINDOW, max_value=3 * WINDOW))
def test_rfc9449_4_3_iat_within_the_window_and_a_few_seconds_of_skew(age):
    proof = KEY.proof("POST", URL, now=NOW.timestamp() - age)
    if -5 <= age <= WINDOW:
        assert check(proof).jkt == KEY.jkt
    else:
        with pytest.raises(DPoPProofInvalid, match="iat"):
            check(proof)


# htu: RFC 9449 §4.3 check 9 and RFC 3986 §6.2.2-6.2.3.
SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=8).filter(
    lambda s: s not in (".", ".."))
HOSTS = st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)


def vary_case(text: str, flips: list[bool]) -> str:
    return "".join(char.upper() if flip else char for char, flip in zip(text, flips + [False] * len(text)))


@seed(9449)
@PROPERTY
@given(scheme=st.sampled_from(["http", "https"]), host=HOSTS, path=st.lists(SEGMENT, max_size=4),
       flips=st.lists(st.booleans(), max_size=30), query=st.text(max_size=10), fragment=st.text(max_size=10),
       default_port=st.booleans())
def test_rfc9449_4_3_htu_is_compared_normalized_and_without_query_or_fragment(scheme, host, path, flips, query,
                                                                               fragment, default_port):
    canonical = f"{scheme}://{host}/" + "/".join(path)
    port = {"http": ":80", "https": ":443"}[scheme] if default_port else ""
    spelled = vary_case(scheme, flips) + "://" + vary_case(host, flips[::-1]) + port + "/" + "/".join(
        "%" + format(ord(segment[0]), "02x") + segment[1:] if segment[0].isalpha() else segment for segment in path)
    spelled += "?" + "".join(c for c in query if c.isprintable() and c.isascii() and c not in " #") if query else ""
    spelled += "#" + "".join(c for c in fragment if c.isprintable() and c.isascii() and c != " ") if fragment else ""
    assert normalize_htu(spelled) == normalize_htu(canonical) == normalize_htu(normalize_htu(canonical))
    assert check(KEY.proof("POST", spelled, now=NOW.timestamp()), url=canonical).jkt == KEY.jkt


@seed(9449)
@PROPERTY
@given(host=HOSTS, first=st.lists(SEGMENT, max_size=3), second=st.lists(SEGMENT, max_size=3),
       other_port=st.integers(min_value=1, max_value=65535).filter(lambda p: p != 443))
def test_rfc9449_4_3_another_path_port_host_or_scheme_is_another_htu(host, first, second, other_port):
    url = f"https://{host}/" + "/".join(first)
    if first != second:
        assert normalize_htu(url) != normalize_htu(f"https://{host}/" + "/".join(second))
    assert normalize_htu(url) != normalize_htu(f"https://{host}:{other_port}/" + "/".join(first))
    assert normalize_htu(url) != normalize_htu(f"http://{host}/" + "/".join(first))
    assert normalize_htu(url) != normalize_htu(f"https://{host}x/" + "/".join(first))
    with pytest.raises(DPoPProofInvalid, match="htu"):
        check(KEY.proof("POST", url, now=NOW.timestamp()), url=f"https://{host}x/" + "/".join(first))


def test_rfc9449_4_3_htu_dot_segments_and_escapes_are_normalized():
    assert normalize_htu("HTTPS://Auth.Example.COM:443/x/./b/../../oauth/%74oken?x=1#f") == URL
    assert normalize_htu("https://auth.example.com") == "https://auth.example.com/"
    for not_a_url in ("/oauth/token", "ftp://auth.example.com/x", "https://", "https://u:p@auth.example.com/", 7,
                      "https://auth.example.com:99999/", "https://auth.example.com/\u00e9"):
        assert normalize_htu(not_a_url) is None


@seed(9449)
@PROPERTY
@given(junk=st.text(max_size=200))
def test_rfc9449_4_3_anything_that_is_not_a_signed_proof_is_invalid_never_an_error(junk):
    with pytest.raises(DPoPProofInvalid):
        check(junk)


def test_rfc9449_8_without_the_servers_nonce_the_answer_is_use_dpop_nonce():
    with pytest.raises(DPoPNonceRequired) as refused:
        check(KEY.proof("POST", URL, now=NOW.timestamp()), nonce_ok=lambda nonce: nonce == "n1",
              fresh_nonce=lambda: "n1")
    assert refused.value.nonce == "n1"
    assert check(KEY.proof("POST", URL, now=NOW.timestamp(), nonce="n1"), nonce_ok=lambda nonce: nonce == "n1",
                 fresh_nonce=lambda: "n1").jkt == KEY.jkt


# -- every bad input, at the token endpoint and at the APIs --------------------------------------------
def spoil_signature(proof: str) -> str:
    head, body, signature = proof.split(".")
    other = KEY.proof("POST", URL).split(".")[2]
    return ".".join((head, body, other if other != signature else signature[::-1]))


def hs256(htm, htu, now):
    key = b"0" * 32
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64url(key)}}
    from joserfc.jwk import OctKey

    return jwt.encode(header, {"jti": "x", "htm": htm, "htu": htu, "iat": int(now)}, OctKey.import_key(key),
                      algorithms=["HS256"])


def private_jwk(htm, htu, now):
    return KEY.proof(htm, htu, now=now, header={"jwk": KEY.key.as_dict(private=True)})


def oversized(htm, htu, now):
    proof = KEY.proof(htm, htu, now=now, padding="x" * MAX_PROOF_BYTES)
    assert len(proof) > MAX_PROOF_BYTES
    return proof


# name → (htm, htu, now, access token or None) → the DPoP header values to send
BAD_PROOFS = {
    "two DPoP headers": lambda htm, htu, now, at: [KEY.proof(htm, htu, now=now, access_token=at),
                                                     KEY.proof(htm, htu, now=now, access_token=at)],
    "not a JWT": lambda htm, htu, now, at: ["not-a-jwt"],
    "wrong typ": lambda htm, htu, now, at: [KEY.proof(htm, htu, now=now, access_token=at, header={"typ": "JWT"})],
    "alg none": lambda htm, htu, now, at: [unsigned(htm, htu, now, KEY)],
    "alg HS256": lambda htm, htu, now, at: [hs256(htm, htu, now)],
    "a private key in jwk": lambda htm, htu, now, at: [private_jwk(htm, htu, now)],
    "a bad signature": lambda htm, htu, now, at: [spoil_signature(KEY.proof(htm, htu, now=now, access_token=at))],
    "wrong htm": lambda htm, htu, now, at: [KEY.proof("PUT", htu, now=now, access_token=at)],
    "wrong htu": lambda htm, htu, now, at: [KEY.proof(htm, htu + "/other", now=now, access_token=at)],
    "iat too old": lambda htm, htu, now, at: [KEY.proof(htm, htu, now=now - WINDOW - 1, access_token=at)],
    "iat in the future": lambda htm, htu, now, at: [KEY.proof(htm, htu, now=now + 60, access_token=at)],
    "exp in the past": lambda htm, htu, now, at: [KEY.proof(htm, htu, now=now, access_token=at, exp=int(now) - 1)],
    "over 8 KiB": lambda htm, htu, now, at: [oversized(htm, htu, now)],
    "missing jti": lambda htm, htu, now, at: [KEY.proof(htm, htu, now=now, access_token=at, drop=("jti",))],
}
# Only where a token goes with the proof (§4.2).
BAD_RESOURCE_PROOFS = {
    "missing ath": lambda htm, htu, now, at: [KEY.proof(htm, htu, now=now)],
    "wrong ath": lambda htm, htu, now, at: [KEY.proof(htm, htu, now=now, access_token=at + "x")],
}


@pytest.fixture
def public_app(factory):
    factory.user()
    return factory.client(auth_method="none", first_party=True, scope="profile")


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.query(DeviceSession).count(), db.session.query(UsedDPoPProof).count())


def headers_with(proofs: list[str], **more) -> list[tuple[str, str]]:
    return [*((name, value) for name, value in more.items()), *(("DPoP", proof) for proof in proofs)]


@pytest.mark.parametrize("row", sorted(BAD_PROOFS))
def test_rfc9449_4_3_a_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof_and_nothing_is_written(
        app, client, public_app, issuer, clock, row):
    proofs = BAD_PROOFS[row]("POST", issuer + TOKEN, clock.now().timestamp(), None)
    data, _ = public_app.auth({"grant_type": "password", "username": "alice", "password": PASSWORD})
    response = client.post(TOKEN, data=data, headers=headers_with(proofs))  # a list: headers may repeat
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_dpop_proof"
    assert response.headers["Cache-Control"] == "no-store"
    assert counts(app) == (0, 0)


def test_rfc9449_11_1_a_replayed_proof_at_the_token_endpoint_is_refused_and_nothing_is_written(
        app, client, public_app, issuer, clock):
    proof = KEY.proof("POST", issuer + TOKEN, now=clock.now().timestamp())
    assert password_login(client, public_app, headers={"DPoP": proof}).status_code == 200
    replayed = password_login(client, public_app, headers={"DPoP": proof})
    assert (replayed.status_code, replayed.json["error"]) == (400, "invalid_dpop_proof")
    assert counts(app) == (1, 1)  # the first sign-in's session and proof only


@pytest.fixture
def bound_token(client, public_app, issuer, clock):
    response = password_login(client, public_app, headers={"DPoP": KEY.proof("POST", issuer + TOKEN,
                                                                             now=clock.now().timestamp())})
    assert response.status_code == 200, response.json
    return response.json["access_token"]


def at_me(client, token, proofs, scheme="DPoP"):
    return client.get(ME, headers=headers_with(proofs, Authorization=f"{scheme} {token}"))


@pytest.mark.parametrize("row", sorted(BAD_PROOFS) + sorted(BAD_RESOURCE_PROOFS))
def test_rfc9449_7_1_a_bad_proof_at_the_api_is_401_invalid_dpop_proof_and_nothing_is_written(
        app, client, bound_token, issuer, clock, row):
    make = BAD_PROOFS.get(row) or BAD_RESOURCE_PROOFS[row]
    before = counts(app)
    response = at_me(client, bound_token, make("GET", issuer + ME, clock.now().timestamp(), bound_token))
    assert response.status_code == 401, response.json
    assert response.json["error"] == "invalid_dpop_proof"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"') and 'algs="ES256 RS256 PS256 EdDSA"' in challenge
    assert counts(app) == before


def test_rfc9449_7_1_a_bound_token_with_its_proof_reaches_the_api_once_per_proof(client, bound_token, issuer, clock):
    proof = KEY.proof("GET", issuer + ME, now=clock.now().timestamp(), access_token=bound_token)
    response = at_me(client, bound_token, [proof])
    assert response.status_code == 200, response.json
    assert response.json["username"] == "alice"
    replayed = at_me(client, bound_token, [proof])
    assert (replayed.status_code, replayed.json["error"]) == (401, "invalid_dpop_proof")


def test_rfc9449_7_2_a_bound_token_sent_as_bearer_is_invalid_token(client, bound_token):
    response = client.get(ME, headers={"Authorization": f"Bearer {bound_token}"})
    assert (response.status_code, response.json["error"]) == (401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_rfc9449_7_1_a_proof_by_another_key_or_an_unbound_token_with_the_dpop_scheme_is_invalid_token(
        client, public_app, bound_token, issuer, clock):
    other = DPoPKey()
    now = clock.now().timestamp()
    response = at_me(client, bound_token, [other.proof("GET", issuer + ME, now=now, access_token=bound_token)])
    assert (response.status_code, response.json["error"]) == (401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    unbound = password_login(client, public_app).json["access_token"]
    response = at_me(client, unbound, [KEY.proof("GET", issuer + ME, now=now, access_token=unbound)])
    assert (response.status_code, response.json["error"]) == (401, "invalid_token")


def test_rfc9449_7_1_the_dpop_scheme_without_a_proof_is_invalid_dpop_proof(client, bound_token):
    response = at_me(client, bound_token, [])
    assert (response.status_code, response.json["error"]) == (401, "invalid_dpop_proof")


def test_rfc9449_6_2_introspection_reports_the_bound_key(client, factory, public_app, issuer, clock):
    signed_in = password_login(client, public_app, headers={"DPoP": KEY.proof("POST", issuer + TOKEN,
                                                                              now=clock.now().timestamp())}).json
    introspector = factory.client(name="rs", grant_types=(), scope="", introspect=True)
    answer = introspect(client, introspector, signed_in["access_token"]).json
    assert answer["active"] is True
    assert answer["cnf"] == {"jkt": KEY.jkt} and answer["token_type"] == "DPoP"
    assert claims_of(signed_in["access_token"])["cnf"] == {"jkt": KEY.jkt}
    answer = introspect(client, introspector, signed_in["refresh_token"]).json
    assert answer["cnf"] == {"jkt": KEY.jkt} and answer["token_type"] == "refresh_token"
    unbound = password_login(client, public_app).json
    assert "cnf" not in introspect(client, introspector, unbound["access_token"]).json
    assert "cnf" not in introspect(client, introspector, unbound["refresh_token"]).json


def test_rfc9449_7_userinfo_takes_a_bound_token_with_its_proof(client, factory, issuer, clock):
    factory.user()
    app = factory.client(auth_method="none", first_party=True, scope="openid profile")
    now = clock.now().timestamp()
    token = password_login(client, app, scope="openid profile",
                           headers={"DPoP": KEY.proof("POST", issuer + TOKEN, now=now)}).json["access_token"]
    for method in ("GET", "POST"):
        proof = KEY.proof(method, issuer + "/oauth/userinfo", now=now, access_token=token)
        response = client.open("/oauth/userinfo", method=method,
                               headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        assert response.status_code == 200, response.json
        assert response.json["preferred_username"] == "alice"
    refused = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert (refused.status_code, refused.json["error"]) == (401, "invalid_token")


# -- the server nonce (§8) ----------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{"dpop_nonce": True}])
def test_rfc9449_8_with_nonces_on_the_server_demands_its_nonce_rotates_it_and_accepts_the_previous_one(
        app, client, public_app, issuer, clock):
    def now():
        return clock.now().timestamp()
    refused = password_login(client, public_app, headers={"DPoP": KEY.proof("POST", issuer + TOKEN, now=now())})
    assert (refused.status_code, refused.json["error"]) == (400, "use_dpop_nonce")
    nonce = refused.headers["DPoP-Nonce"]
    assert counts(app) == (0, 0)

    signed_in = password_login(client, public_app,
                               headers={"DPoP": KEY.proof("POST", issuer + TOKEN, now=now(), nonce=nonce)})
    assert signed_in.status_code == 200, signed_in.json
    assert signed_in.headers["DPoP-Nonce"] == nonce  # §8.2: success answers carry the current nonce
    token = signed_in.json["access_token"]

    # At the API: the same demand, as a 401 with a DPoP challenge.
    refused = at_me(client, token, [KEY.proof("GET", issuer + ME, now=now(), access_token=token, nonce="stale")])
    assert (refused.status_code, refused.json["error"]) == (401, "use_dpop_nonce")
    assert refused.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    assert refused.headers["DPoP-Nonce"] == nonce
    ok = at_me(client, token, [KEY.proof("GET", issuer + ME, now=now(), access_token=token, nonce=nonce)])
    assert ok.status_code == 200 and ok.headers["DPoP-Nonce"] == nonce

    clock.advance(300)  # the next period: a new nonce, the previous one still good
    ok = at_me(client, token, [KEY.proof("GET", issuer + ME, now=now(), access_token=token, nonce=nonce)])
    assert ok.status_code == 200, ok.json
    assert ok.headers["DPoP-Nonce"] != nonce
    clock.advance(300)  # two periods on: gone
    refused = at_me(client, token, [KEY.proof("GET", issuer + ME, now=now(), access_token=token, nonce=nonce)])
    assert (refused.status_code, refused.json["error"]) == (401, "use_dpop_nonce")


# -- clients registered with --dpop, confidential clients, metadata ---------------------------------
def test_rfc9449_5_2_a_client_created_with_dpop_gets_no_token_without_a_proof(app, client, factory, issuer, clock):
    factory.user()
    strict = factory.client(auth_method="none", first_party=True, scope="profile", dpop=True)
    refused = password_login(client, strict)
    assert (refused.status_code, refused.json["error"]) == (400, "invalid_dpop_proof")
    assert counts(app) == (0, 0)
    ok = password_login(client, strict, headers={"DPoP": KEY.proof("POST", issuer + TOKEN,
                                                                   now=clock.now().timestamp())})
    assert ok.status_code == 200 and ok.json["token_type"] == "DPoP"


def test_rfc9449_5_a_confidential_client_gets_a_bound_access_token_and_an_unbound_refresh_token(
        app, client, registered, issuer, clock):
    response = password_login(client, registered, headers={"DPoP": KEY.proof("POST", issuer + TOKEN,
                                                                             now=clock.now().timestamp())})
    assert response.json["token_type"] == "DPoP"
    assert claims_of(response.json["access_token"])["cnf"] == {"jkt": KEY.jkt}
    with app.app_context():
        assert db.session.query(DeviceSession).one().dpop_jkt is None


def test_rfc9449_5_1_metadata_lists_the_proof_algorithms(client):
    metadata = client.get("/.well-known/oauth-authorization-server").json
    assert metadata["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256", "EdDSA"]


def test_without_a_proof_tokens_stay_bearer(client, public_app):
    response = password_login(client, public_app)
    assert response.json["token_type"] == "Bearer"
    assert "cnf" not in claims_of(response.json["access_token"])
    assert json.loads(json.dumps(response.json))["token_type"] == "Bearer"


@pytest.mark.parametrize("claims", [{"htu": ["a"]}, {"htu": {"a": 1}}, {"iat": "now"}, {"jti": 7}, {"htm": None},
                                    {"exp": "later"}, {"iat": True}, {"iat": float("nan")}, {"exp": float("nan")},
                                    {"iat": float("inf")}, {"ath": "é"}, {"ath": ["x"]}])
def test_rfc9449_4_3_claims_of_the_wrong_type_are_invalid_never_an_error(claims):
    with pytest.raises(DPoPProofInvalid):
        check(KEY.proof("POST", URL, now=NOW.timestamp(), replace=claims), access_token="token")


@pytest.mark.parametrize("nonce", ["é", 7, None, ""])
def test_rfc9449_8_a_nonce_of_any_kind_but_the_servers_is_use_dpop_nonce(nonce):
    with pytest.raises(DPoPNonceRequired):
        check(KEY.proof("POST", URL, now=NOW.timestamp(), nonce=nonce),
              nonce_ok=lambda given: given.encode() == b"n1", fresh_nonce=lambda: "n1")
