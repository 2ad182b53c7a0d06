"""The refresh token grant (RFC 6749 §6) with rotation: the refresh-token chain (who may refresh,
reuse detection, the grace window, locking) lives in ``sessions/refresh_tokens.py``, run inside
``authenticate_refresh_token``, with the request's DPoP key (a bound session needs it); the access
token is signed before the rotation is written."""

from __future__ import annotations

from contextlib import contextmanager

from authlib.oauth2.rfc6749 import grants

from ...accounts import throttle
from ...errors import RefreshTokenUnknown
from ...http.request_context import client_ip
from ...http.request_context import device_context
from ...ops.request_log import annotate
from ...scopes import granted_scope
from ...services import current_services
from ...store.models import AUTH_METHODS
from ...tokens.dpop import current_proof
from .base import issue_session_tokens
from .base import resource_parameters


class RotatedRefreshToken:
    """The presented refresh token, already rotated, as Authlib's grant expects to see it."""

    def __init__(self, rotation):
        self.rotation = rotation

    def check_client(self, client):
        return True  # checked before rotating, inside the lock

    def get_scope(self):
        return self.rotation.session.scope


class RefreshGrant(grants.RefreshTokenGrant):
    READS_FIRST = True  # the rotation is read without a lock, signed, then written (sessions/refresh_tokens.py)
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        services = current_services()
        with unknown_tokens_counted(services, self.request.client.client_id):
            proof = current_proof()
            rotation = services.refresh_tokens.prepare_rotation(
                refresh_token, self.request.client.client_id, device_context(),
                requested_scope=self.request.payload.scope, requested_resources=resource_parameters(self),
                dpop_jkt=None if proof is None else proof.jkt, bind=self.request.client.is_public)
        annotate(session_id=rotation.session.id)
        return RotatedRefreshToken(rotation)

    def authenticate_user(self, refresh_token):
        return refresh_token.rotation.session.user

    def _validate_token_scope(self, refresh_token):
        # Instead of Authlib's check: the one rule, with the session's scope as the ceiling (a
        # refresh never widens). The store refused a scope beyond the session's before writing.
        session = refresh_token.rotation.session
        self.request.granted_scope = granted_scope(self.request.client, session.user, self.request.payload.scope,
                                                   granted_before=session.scope)

    def issue_token(self, user, refresh_token):
        # Signed first, the rotation written after: the write lock is held for the writes only.
        # A narrowed refresh narrows the access token only; the successor keeps the session's scope.
        rotation = refresh_token.rotation
        token = issue_session_tokens(self, user, rotation.session, rotation.refresh_token, self.request.granted_scope,
                                     rotation.resources)
        with unknown_tokens_counted(current_services(), self.request.client.client_id):
            # The successor and session stay the same whichever way it completes (a parallel
            # rotation makes this one a grace-window retry) or it raises.
            current_services().refresh_tokens.complete_rotation(rotation)
        return token

    def revoke_old_credential(self, refresh_token):
        pass  # complete_rotation marked it used, in the same transaction


@contextmanager
def unknown_tokens_counted(services, client_id: str):
    """A refresh token that is not this client's at all counts against the lookup budgets (scanning).
    The chain's refusals go on to ``errors.py``, which answers them (``invalid_grant``, ``invalid_scope``)."""
    try:
        yield
    except RefreshTokenUnknown:
        throttle.record_lookup_failure(services, client_id, client_ip(), "token")
        raise
