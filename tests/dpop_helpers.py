"""A DPoP client for the tests (RFC 9449 §4): a key pair, and proofs signed by it, genuine or spoiled
one part at a time."""

from __future__ import annotations

import base64
import json
import secrets
import time

from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import OKPKey
from joserfc.jwk import RSAKey

from authserver.tokens.dpop import access_token_hash

TOKEN_URL = "/oauth/token"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class DPoPKey:
    """A client's DPoP key; :meth:`proof` signs a proof for one request."""

    def __init__(self, alg: str = "ES256"):
        self.alg = alg
        if alg == "ES256":
            self.key = ECKey.generate_key("P-256")
        elif alg == "EdDSA":
            self.key = OKPKey.generate_key("Ed25519")
        else:
            self.key = RSAKey.generate_key(2048)
        self.public_jwk = self.key.as_dict(private=False)
        self.jkt = self.key.thumbprint()

    def proof(self, htm: str, htu: str, *, access_token: str | None = None, now: float | None = None,
              header: dict | None = None, drop: tuple = (), replace: dict | None = None, **claims) -> str:
        """A proof of ``htm htu``; ``claims`` (or ``replace``, for ``htm`` and ``htu`` too) and ``header``
        override or add members, ``drop`` removes claims."""
        body = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu,
                "iat": int(time.time() if now is None else now)}
        if access_token is not None:
            body["ath"] = access_token_hash(access_token)
        body.update(claims)
        body.update(replace or {})
        for name in drop:
            body.pop(name, None)
        protected = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk, **(header or {})}
        return jwt.encode(protected, body, self.key, algorithms=[protected["alg"]])


def unsigned(htm: str, htu: str, now: float, key: DPoPKey) -> str:
    """A proof with ``alg`` none (no signature): joserfc will not make one."""
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk}
    body = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu, "iat": int(now)}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}."
