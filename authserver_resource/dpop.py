"""DPoP-bound access tokens (RFC 9449 §7) at another app: ``Authorization: DPoP <token>`` with a
``DPoP`` proof over the request, carrying the token's hash (``ath``).

The proof is checked by authserver's own rule (``authserver/tokens/dpop.py``'s ``verify_proof``, the
one copy: typ, algorithm, public jwk, signature, htm, normalized htu, iat window, exp, ath; imported
with the first DPoP request, so an app that only ever sees bearer tokens never loads ``authserver``), the
token as a bearer token is (:class:`~authserver_resource.validators.RemoteTokenValidator`), and then
the token must be bound to the proof's key (``cnf.jkt``). A proof is accepted once per process
(:class:`SeenProofs`, kept for the window): run one process, or put a shared cache in front if the
app runs several. The URL a proof must name is ``public_url`` plus the request's path, or the
request's own URL (``request.base_url``) when the app knows no public URL.

Every refusal is 401 with a ``DPoP`` challenge naming the algorithms: ``invalid_dpop_proof`` for the
proof, ``invalid_token`` for the token (also for a token bound to another key, or not bound at all).
"""

from __future__ import annotations

import datetime as dt
import time

from authlib.oauth2.rfc6750.errors import InvalidTokenError
from flask import request

from .errors import DPoPRefused
from .expiring import ExpiringKeys
from .validators import RemoteTokenValidator

DEFAULT_WINDOW_SECONDS = 60  # authserver's AUTHSERVER_DPOP_PROOF_WINDOW_SECONDS default


def proof_rule():
    """authserver's DPoP module (the proof rule and its challenge), loaded when first needed."""
    from authserver.tokens import dpop

    return dpop


class SeenProofs:
    """The (key, jti) of proofs this process accepted, until they are too old to pass anyway."""

    def __init__(self, monotonic=time.monotonic):
        self._seen = ExpiringKeys(monotonic)

    def first_use(self, jkt: str, jti: str, keep_seconds: float) -> bool:
        return self._seen.first_time((jkt, jti), keep_seconds)


class DPoPTokenValidator(RemoteTokenValidator):
    """``Authorization: DPoP`` for :func:`~authserver_resource.resource_protector`."""

    TOKEN_TYPE = "dpop"

    def __init__(self, *args, public_url: str | None = None, window_seconds: int = DEFAULT_WINDOW_SECONDS,
                 seen: SeenProofs | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.window_seconds = window_seconds
        self.seen = seen or SeenProofs()

    def authenticate_token(self, token_string):
        rule = proof_rule()
        try:
            value = rule.proof_header(request.headers)
            if value is None:
                raise rule.DPoPProofInvalid("The DPoP scheme needs a DPoP proof.")
            url = self.public_url + request.path if self.public_url else request.base_url
            proof = rule.verify_proof(value, method=request.method, url=url, now=dt.datetime.now(dt.timezone.utc),
                                      window_seconds=self.window_seconds, access_token=token_string)
        except rule.DPoPProofInvalid as error:
            raise DPoPRefused("invalid_dpop_proof", str(error), rule.challenge) from None
        try:
            claims = super().authenticate_token(token_string, bound=True)
        except InvalidTokenError:  # (the server unreachable stays 503, as for a bearer token)
            raise self.invalid_token("The access token is invalid, expired or revoked.") from None
        jkt = (claims.get("cnf") or {}).get("jkt") if isinstance(claims.get("cnf"), dict) else None
        if jkt != proof.jkt:
            raise self.invalid_token("The access token is not bound to the proof's key.")
        if not self.seen.first_use(proof.jkt, proof.jti, self.window_seconds + rule.CLOCK_SKEW_SECONDS):
            raise DPoPRefused("invalid_dpop_proof", "The DPoP proof was used before.", rule.challenge)
        return claims

    @staticmethod
    def invalid_token(description: str) -> DPoPRefused:
        return DPoPRefused("invalid_token", description, proof_rule().challenge)
