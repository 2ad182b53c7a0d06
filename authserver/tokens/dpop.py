"""DPoP (RFC 9449): the one check of a proof, for the token endpoint (§5), authserver's own APIs and
UserInfo (§7), and ``authserver_resource``; the server nonce (§8); the single use of a proof's ``jti``.

A DPoP proof is a JWS the client signs with a key it never sends, over the request it accompanies.
:func:`verify_proof` is the rule of RFC 9449 §4.3, in its order, with no database:

1. one ``DPoP`` header (§4.3 check 1), at most :data:`MAX_PROOF_BYTES`, a JWT (compact JWS);
2. header ``typ`` ``dpop+jwt``; ``alg`` one of :data:`ALGORITHMS` (never ``none``, never an HMAC:
   the key is public); ``jwk`` a public key of a matching type, no private member in it;
3. the signature, by that ``jwk`` (joserfc);
4. ``jti``, ``htm``, ``htu`` and ``iat`` present; ``htm`` the request's method; ``htu`` the request's
   URL, both normalized (:func:`normalize_htu`: RFC 3986 §6.2.2 and §6.2.3, query and fragment
   ignored); ``iat`` no more than the window (``AUTHSERVER_DPOP_PROOF_WINDOW_SECONDS``) old and at
   most :data:`CLOCK_SKEW_SECONDS` ahead; ``exp``, if sent, not past;
5. at a resource, ``ath``: the base64url SHA-256 of the access token it goes with (§4.2);
6. with ``AUTHSERVER_DPOP_NONCE=on``, ``nonce`` one the server gave (:class:`DPoPProofs`), else
   ``use_dpop_nonce`` with a fresh ``DPoP-Nonce`` (§8).

What passes is a :class:`Proof`: the key's RFC 7638 thumbprint (``jkt``), which access tokens carry as
``cnf.jkt`` and a public client's refresh tokens are bound to, and its ``jti``, which
:meth:`DPoPProofs.remember` writes once, in the request's transaction, to the replay table shared by
every node (``store/dpop_proofs.py``): a second use anywhere is refused until the proof is too old
anyway, then ``sessions prune`` deletes it.

The proof of the request being handled is kept on ``flask.g`` (:func:`use_proof`, :func:`current_proof`):
the token generator (``access_tokens.py``) and the grants read it there.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import math
import re
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import g
from joserfc.errors import JoseError
from joserfc.errors import SecurityWarning
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry
from joserfc.util import urlsafe_b64decode

from ..errors import DPoPNonceRequired
from ..errors import DPoPProofInvalid
from ..errors import DPoPProofReplayed
from ..store import dpop_proofs as store

# RFC 9449 §5.1: asymmetric only. EdDSA is the contract's name for Ed25519 (RFC 8037).
ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
KEY_TYPES = {"ES256": "EC", "RS256": "RSA", "PS256": "RSA", "EdDSA": "OKP"}
PROOF_TYPE = "dpop+jwt"
MAX_PROOF_BYTES = 8192  # a proof with an RSA-4096 key is under 2 KiB; more is not a proof
CLOCK_SKEW_SECONDS = 5  # a client's clock a little ahead of ours is not an attack
NONCE_ROTATION_SECONDS = 300  # a nonce changes this often and is accepted for one more period
PRIVATE_MEMBERS = frozenset(("d", "p", "q", "dp", "dq", "qi", "oth", "k"))
HEADER = "DPoP"
NONCE_HEADER = "DPoP-Nonce"
CHALLENGE_ALGORITHMS = " ".join(ALGORITHMS)

# joserfc warns that RFC 9864 deprecates "EdDSA" for "Ed25519"; clients (oauth4webapi, browsers) still send it.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)


class ProofRegistry(JWSRegistry):
    """joserfc's JWS rules for proofs: the four algorithms, and a header as large as a proof may be
    (an RSA key's ``jwk`` is past joserfc's default 512 bytes)."""

    max_header_length = MAX_PROOF_BYTES


REGISTRY = ProofRegistry(algorithms=list(ALGORITHMS))  # built once per process
_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Proof:
    jkt: str  # RFC 7638 thumbprint of the proof's key
    jti: str
    expires_at: dt.datetime  # until when its jti must be remembered: it is refused as too old after


# -- htu ---------------------------------------------------------------------------------------
def _normalize_escapes(text: str) -> str:
    """RFC 3986 §6.2.2.1-2: hex digits upper case, unreserved characters decoded."""

    def fix(match):
        char = chr(int(match.group(1), 16))
        return char if char.isascii() and (char.isalnum() or char in "-._~") else "%" + match.group(1).upper()

    return _UNRESERVED.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if path.rsplit("/", 1)[-1] in (".", ".."):
        output.append("")
    return "/" + "/".join(output)


@functools.lru_cache(maxsize=256)  # a server's few URLs, and each client's spelling of them
def normalize_htu(url) -> str | None:
    """The URL as RFC 9449 §4.3 compares it: scheme and host lower case, the scheme's default port
    dropped, escapes normalized, dot segments removed, an empty path made ``/`` (RFC 3986 §6.2.2 and
    §6.2.3), query and fragment left out. None for anything but an absolute http(s) URL."""
    if not isinstance(url, str) or not url.isascii() or not url.isprintable() or " " in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host += f":{port}"
    path = _remove_dot_segments(_normalize_escapes(parts.path or "/"))
    return f"{scheme}://{host}{path}"


def access_token_hash(access_token: str) -> str:
    """``ath`` (RFC 9449 §4.2): base64url of the SHA-256 of the access token's ASCII."""
    return _b64url(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- the proof ---------------------------------------------------------------------------------
def proof_header(headers) -> str | None:
    """The request's one ``DPoP`` header, or None without one. Two (also as one value joined by a
    comma, as a proxy or WSGI server joins repeated headers; a JWS has no comma) are refused."""
    values = headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1 or "," in values[0]:
        raise DPoPProofInvalid("Send one DPoP header.")
    return values[0].strip()


@functools.lru_cache(maxsize=1024)
def _public_key(jwk_json: str, alg: str):
    """The proof's key, imported once per process for each key seen (a client signs every proof with one)."""
    jwk = json.loads(jwk_json)
    if not isinstance(jwk, dict) or PRIVATE_MEMBERS.intersection(jwk):
        raise DPoPProofInvalid("The proof's jwk must be a public key.")
    if jwk.get("kty") != KEY_TYPES[alg]:
        raise DPoPProofInvalid("The proof's jwk does not fit its alg.")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError):
        raise DPoPProofInvalid("The proof's jwk is not a key.") from None
    if key.is_private:
        raise DPoPProofInvalid("The proof's jwk must be a public key.")
    return key, key.thumbprint()


@functools.lru_cache(maxsize=1024)
def _checked_header(segment: bytes):
    """A proof's protected header, checked once per process for each header as sent (a client sends
    the same ``typ``, ``alg`` and ``jwk`` with every proof): the key, its thumbprint and the algorithm
    to verify with, or :class:`DPoPProofInvalid` with what joserfc's ``extract_compact`` and
    ``validate_compact`` made of it (JWS header rules, the key fit for the algorithm). A header with
    ``b64`` false (RFC 7797: the payload unencoded) is no JWT."""
    try:
        REGISTRY.validate_header_size(segment)
        header = json.loads(urlsafe_b64decode(segment))
    except (JoseError, ValueError, TypeError, UnicodeError):
        header = None
    if not isinstance(header, dict) or "alg" not in header or header.get("b64") is False:
        raise DPoPProofInvalid("The DPoP proof is not a JWT.")
    if header.get("typ") != PROOF_TYPE:
        raise DPoPProofInvalid("The DPoP proof's typ must be dpop+jwt.")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise DPoPProofInvalid(f"The DPoP proof's alg must be one of {CHALLENGE_ALGORITHMS}.")
    if not isinstance(header.get("jwk"), dict):
        raise DPoPProofInvalid("The DPoP proof's header must carry its public jwk.")
    key, jkt = _public_key(json.dumps(header["jwk"], sort_keys=True), alg)
    try:
        REGISTRY.check_header(header)  # crit, the registered parameters' types, no unknown ones
        algorithm = REGISTRY.get_alg(alg)
        algorithm.check_key(key)  # the jwk's own use and alg, if it names them, fit
    except (JoseError, ValueError, TypeError, KeyError):
        raise DPoPProofInvalid("The DPoP proof's signature does not verify.") from None
    return key, jkt, algorithm


def _number(claims: dict, name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None  # Python's JSON reads NaN and Infinity


def _same(given, expected: str) -> bool:
    """A claim equal to what it must be, compared in constant time (bytes: any text may come in)."""
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def verify_proof(value: str, *, method: str, url: str, now: dt.datetime, window_seconds: int,
                 access_token: str | None = None, nonce_ok=None, fresh_nonce=None) -> Proof:
    """The RFC 9449 §4.3 checks of one proof (see the module docstring); the :class:`Proof`, or
    :class:`DPoPProofInvalid` (:class:`DPoPNonceRequired` for a missing or stale nonce). ``url`` is the
    request's public URL; ``access_token`` is given at a resource (``ath``); ``nonce_ok`` (a nonce → bool)
    and ``fresh_nonce`` (→ the nonce to hand out) when the server demands nonces. No database."""
    if not value or len(value) > MAX_PROOF_BYTES or value.count(".") != 2:
        raise DPoPProofInvalid("The DPoP proof is not a JWT of at most 8 KiB.")
    try:
        raw = value.encode("ascii")
        header_segment, payload_segment, signature_segment = raw.split(b".")
        REGISTRY.validate_signature_size(signature_segment)
        payload = urlsafe_b64decode(payload_segment)
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise DPoPProofInvalid("The DPoP proof is not a JWT.") from None
    # typ, alg and jwk, the key imported and its thumbprint: once per header as a client sends it
    key, jkt, algorithm = _checked_header(header_segment)
    try:
        signature = urlsafe_b64decode(signature_segment)
        verified = algorithm.verify(raw[:len(header_segment) + 1 + len(payload_segment)], signature, key)
    except (JoseError, ValueError, TypeError, KeyError):
        verified = False
    if not verified:
        raise DPoPProofInvalid("The DPoP proof's signature does not verify.")
    try:
        claims = json.loads(payload)
    except (ValueError, TypeError):
        claims = None
    if not isinstance(claims, dict):
        raise DPoPProofInvalid("The DPoP proof's payload is not a JSON object.")
    jti, htm, htu, iat = claims.get("jti"), claims.get("htm"), claims.get("htu"), _number(claims, "iat")
    if not isinstance(jti, str) or not jti or len(jti) > 256 or iat is None:
        raise DPoPProofInvalid("The DPoP proof needs jti, htm, htu and iat.")
    if htm != method:
        raise DPoPProofInvalid("The DPoP proof's htm is not this request's method.")
    expected = normalize_htu(url)
    if expected is None or not isinstance(htu, str) or normalize_htu(htu) != expected:
        raise DPoPProofInvalid("The DPoP proof's htu is not this request's URL.")
    moment = now.timestamp()
    if iat < moment - window_seconds or iat > moment + CLOCK_SKEW_SECONDS:
        raise DPoPProofInvalid("The DPoP proof's iat is outside the accepted window.")
    exp = _number(claims, "exp")
    if "exp" in claims and (exp is None or exp <= moment):
        raise DPoPProofInvalid("The DPoP proof has expired.")
    if access_token is not None and not _same(claims.get("ath"), access_token_hash(access_token)):
        raise DPoPProofInvalid("The DPoP proof's ath does not match the access token.")
    if nonce_ok is not None:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonce_ok(nonce):
            raise DPoPNonceRequired(fresh_nonce())
    remembered_until = dt.datetime.fromtimestamp(iat + window_seconds + CLOCK_SKEW_SECONDS, dt.timezone.utc)
    return Proof(jkt=jkt, jti=jti, expires_at=remembered_until)


class DPoPProofs:
    """The per-process DPoP checker: the settings' window and nonce rule, the clock, the nonce key."""

    def __init__(self, settings, clock, nonce_key: bytes):
        self.window_seconds = settings.dpop_proof_window_seconds
        self.nonces = settings.dpop_nonce
        self.clock = clock
        self._nonce_key = nonce_key

    # -- the server nonce (§8): an HMAC of the period's number, so every node holding the key agrees
    def _nonce_of(self, period: int) -> str:
        return _b64url(hmac.new(self._nonce_key, b"dpop-nonce:%d" % period, hashlib.sha256).digest()[:18])

    def _period(self) -> int:
        return int(self.clock.now().timestamp()) // NONCE_ROTATION_SECONDS

    def fresh_nonce(self) -> str | None:
        """The nonce to hand out now, or None when nonces are off."""
        return self._nonce_of(self._period()) if self.nonces else None

    def nonce_ok(self, nonce: str) -> bool:
        period = self._period()
        return any(_same(nonce, self._nonce_of(p)) for p in (period, period - 1))

    # -- checking and remembering
    def check(self, headers, method: str, url: str, access_token: str | None = None) -> Proof | None:
        """The request's proof checked (None when it sends none)."""
        value = proof_header(headers)
        if value is None:
            return None
        return verify_proof(value, method=method, url=url, now=self.clock.now(), window_seconds=self.window_seconds,
                            access_token=access_token, nonce_ok=self.nonce_ok if self.nonces else None,
                            fresh_nonce=self.fresh_nonce)

    def remember(self, proof: Proof) -> None:
        """Write the proof's ``jti`` (with its key) to the replay table, in the request's transaction;
        :class:`DPoPProofReplayed` if any node has seen it."""
        if not store.remember_proof(proof.jkt, proof.jti, proof.expires_at):
            raise DPoPProofReplayed("The DPoP proof was used before.")


def challenge(error: str | None = None, description: str | None = None) -> str:
    """The ``WWW-Authenticate`` challenge of a resource that takes DPoP (RFC 9449 §7.1), with the
    algorithms it accepts; ``description`` must be printable ASCII without quotes (``errors.printable``)."""
    parts = [f'error="{error}"'] if error else []
    if description:
        parts.append(f'error_description="{description}"')
    parts.append(f'algs="{CHALLENGE_ALGORITHMS}"')
    return "DPoP " + ", ".join(parts)


# -- the proof of the request being handled -----------------------------------------------------
def use_proof(proof: Proof | None) -> None:
    g.dpop_proof = proof


def current_proof() -> Proof | None:
    return g.get("dpop_proof")
