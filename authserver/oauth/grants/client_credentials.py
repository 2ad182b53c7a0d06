"""The client credentials grant (RFC 6749 §4.4), for back ends acting for themselves.

The token is an RS256 JWT like every other with ``sub`` = ``client_id``, no ``sid`` and no refresh
token: there is no user and no device session. It is live until it expires or is revoked (its
``jti`` on the deny list), and introspection and revocation treat it so. Public clients cannot
authenticate themselves, so they are refused with ``unauthorized_client``.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from ...accounts import resources
from ...errors import UnauthorizedClientError
from ...scopes import granted_scope
from ...store.models import AUTH_METHODS
from ...tokens.access_tokens import TokenSubject
from .base import resource_parameters
from .base import token_response


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    READS_FIRST = True  # nothing is written but a failed client authentication
    # `none` is accepted here only so that a public client is told what is wrong (§5.2).
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_token_request(self):
        super().validate_token_request()
        client = self.request.client
        if client.is_public:
            raise UnauthorizedClientError("A public client cannot use the client credentials grant.")
        targets = resources.registered(resource_parameters(self))
        self.request.resources = tuple(target.uri for target in targets)
        self.request.granted_scope = granted_scope(client, None, self.request.payload.scope,
                                                   resource_limits=[target.scope_limit for target in targets])

    def create_token_response(self):
        # No user and no session: the subject only carries the resources the token is for (`aud`).
        token = self.generate_token(user=TokenSubject(None, None, self.request.resources) if self.request.resources
                                    else None, scope=self.request.granted_scope, include_refresh_token=False)
        return token_response(self, token)
