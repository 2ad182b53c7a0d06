"""The per-request shortcuts of signing and checking (issue 29): an access token assembled from the
header encoded once per key (``keys.Signer``) is the very token joserfc's ``jwt.encode`` made, byte for
byte, and verifies with joserfc and PyJWT; the in-process check (``decode_access_token`` against the
ring's public keys) refuses what joserfc's decode refused; a jti is 16 letters and digits; a DPoP
proof's header is checked once per header as sent, and still refused as before when bad."""

from __future__ import annotations

import base64
import datetime as dt
import json
import string

import jwt as pyjwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from joserfc.jwt import JWTClaimsRegistry

from authserver.errors import DPoPProofInvalid
from authserver.tokens import dpop
from authserver.tokens.access_tokens import TOKEN_TYPE
from authserver.tokens.access_tokens import decode_access_token
from authserver.tokens.access_tokens import new_jti
from authserver.tokens.keys import KeyRing
from authserver.tokens.keys import Signer
from tests.dpop_helpers import DPoPKey

NOW = 1_800_000_000
ISSUER = "https://auth.example.com"
CLAIMS = {"iss": ISSUER, "sub": "user-1", "aud": ISSUER, "client_id": "app", "exp": NOW + 600, "iat": NOW,
          "jti": "abcdefghijklmnop", "scope": "profile email", "sid": "session-1", "cnf": {"jkt": "thumb"},
          "act": {"sub": "caf\u00e9"}}
KEY = RSAKey.generate_key(2048, private=True)
KEY.ensure_kid()


def b64(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def raw_signed(header: dict, claims: dict, key=KEY, alg="RS256") -> str:
    """Any header, signed as it is (joserfc checks what it signs)."""
    from joserfc.jws import JWSRegistry

    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    signature = base64.urlsafe_b64encode(JWSRegistry.algorithms[alg].sign(signing_input, key)).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


def signed(claims=CLAIMS) -> str:
    return Signer(KEY).sign(TOKEN_TYPE, json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode())


def registry() -> JWTClaimsRegistry:
    essential = {"essential": True}
    return JWTClaimsRegistry(now=NOW + 1, iss={"essential": True, "value": ISSUER}, aud=essential, exp=essential,
                             iat=essential, sub=essential, client_id=essential, jti=essential)


def public_keys() -> dict:
    return {KEY.kid: KEY.get_op_key("verify")}


def test_the_assembled_token_is_byte_for_byte_what_joserfc_signed():
    token = signed()
    assert token == jose_jwt.encode({"alg": "RS256", "typ": TOKEN_TYPE}, dict(CLAIMS), KeySet([KEY]))
    assert pyjwt.get_unverified_header(token) == {"typ": "at+jwt", "alg": "RS256", "kid": KEY.kid}


def test_the_assembled_token_verifies_with_joserfc_and_pyjwt_against_the_public_key():
    token, public = signed(), RSAKey.import_key(KEY.as_dict(private=False))
    assert jose_jwt.decode(token, public, algorithms=["RS256"]).claims == CLAIMS
    pem = public.as_pem(private=False)
    assert pyjwt.decode(token, pem, algorithms=["RS256"], audience=ISSUER, options={"verify_exp": False, "verify_iat": False}) == CLAIMS


def test_the_key_ring_signs_with_its_active_key_and_publishes_its_public_keys(tmp_path):
    ring = KeyRing(str(tmp_path), 600)
    ring.ensure_key()
    active = next(iter(ring.signing_key_set().keys))
    assert ring.signer().kid == active.kid and set(ring.public_keys()) == {k["kid"] for k in ring.jwks()["keys"]}
    token = ring.signer().sign(TOKEN_TYPE, b"{}")
    assert jose_jwt.decode(token, ring.verification_key_set(), algorithms=["RS256"]).header["kid"] == active.kid


def test_the_in_process_check_takes_our_tokens_whatever_the_header_order():
    assert decode_access_token(signed(), public_keys(), registry()) == CLAIMS
    reordered = jose_jwt.encode({"alg": "RS256", "kid": KEY.kid, "typ": TOKEN_TYPE}, dict(CLAIMS), KEY,
                                default_type=None)
    assert decode_access_token(reordered, public_keys(), registry()) == CLAIMS


@pytest.mark.parametrize("header", [
    {"alg": "RS256", "typ": "at+jwt"},                                   # no kid
    {"alg": "RS256", "typ": "at+jwt", "kid": "another"},                 # a key we do not publish
    {"alg": "RS256", "typ": "JWT", "kid": KEY.kid},                      # not an access token
    {"alg": "RS256", "typ": "at+jwt", "kid": KEY.kid, "crit": ["exp"]},  # something critical
])
def test_the_in_process_check_refuses_headers_we_never_write_even_signed_by_our_key(header):
    assert decode_access_token(raw_signed(header, CLAIMS), public_keys(), registry()) is None


def test_the_in_process_check_refuses_malformed_tokens_and_spoiled_signatures():
    head, body, signature = signed().split(".")
    spoiled = [
        f"{head}.{body}.{signature[:-2]}",                   # a signature cut short
        f"{head}.{body}.{signature}=",                       # padded: not base64url as JWS writes it
        f"{head}.{b64({**CLAIMS, 'sub': 'mallory'})}.{signature}",  # claims changed under the signature
        f"{b64(['not', 'an', 'object'])}.{body}.{signature}",
        f"{head}.{b64([1, 2])}.{signature}",
        f"{head}.{body}.caf\u00e9", "a.b.c", "..", "", "x" * 200_000,
    ]
    for token in spoiled:
        assert decode_access_token(token, public_keys(), registry()) is None, token
    expired = JWTClaimsRegistry(now=NOW + 601, exp={"essential": True})
    assert decode_access_token(signed(), public_keys(), expired) is None


def test_a_jti_is_sixteen_letters_and_digits_and_never_repeats():
    jtis = {new_jti() for _ in range(2000)}
    assert len(jtis) == 2000
    assert all(len(jti) == 16 and set(jti) <= set(string.ascii_letters + string.digits) for jti in jtis)
    assert set("".join(jtis)) == set(string.ascii_letters + string.digits)  # every character drawn


# -- DPoP: the header checked once per header as sent --------------------------------------------
URL = ISSUER + "/oauth/token"
WHEN = dt.datetime.fromtimestamp(NOW, dt.timezone.utc)


def check(proof: str):
    return dpop.verify_proof(proof, method="POST", url=URL, now=WHEN, window_seconds=60)


def test_a_clients_proofs_share_one_header_check_and_key():
    key = DPoPKey()
    dpop._checked_header.cache_clear()
    first, second = (check(key.proof("POST", URL, now=NOW)) for _ in range(2))
    assert first.jkt == second.jkt == key.jkt and first.jti != second.jti
    assert dpop._checked_header.cache_info().hits == 1


@pytest.mark.parametrize("header, message", [
    ({"crit": ["exp"]}, "signature does not verify"),  # joserfc's header rules, as validate_compact applied them
    ({"unknown": 1}, "signature does not verify"),
    ({"b64": False, "crit": ["b64"]}, "not a JWT"),    # RFC 7797: no JWT (refused before as a payload not JSON)
    ({"typ": "JWT"}, "typ must be dpop\\+jwt"),
])
def test_a_proof_header_we_refused_is_still_refused(header, message):
    key = DPoPKey()
    claims = {"jti": "j", "htm": "POST", "htu": URL, "iat": NOW}
    proof = raw_signed({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk, **header}, claims, key.key, "ES256")
    with pytest.raises(DPoPProofInvalid, match=message):
        check(proof)


def test_a_proof_whose_payload_or_signature_is_spoiled_is_refused_though_its_header_was_seen():
    key = DPoPKey()
    head, body, signature = key.proof("POST", URL, now=NOW).split(".")
    check(f"{head}.{body}.{signature}")
    for proof, message in ((f"{head}.{b64({'htm': 'POST'})}.{signature}", "signature"),
                           (f"{head}.{body}.{signature[:-4]}", "signature"),
                           (f"{head}.{body}!.{signature}", "not a JWT")):
        with pytest.raises(DPoPProofInvalid, match=message):
            check(proof)
