"""What revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1) share: a required ``token``
parameter, a ``token_type_hint`` that only decides which kind of token is looked up first (an
unknown hint is ignored rather than refused, as both RFCs allow), and counting a token that is not
ours at all against the caller's lookup budgets (``throttle.py``; introspection counts it toward
the resource server's own budget, :meth:`record_unknown_token`)."""

from __future__ import annotations

from typing import Callable

from ...accounts import throttle
from ...errors import InvalidRequestError
from ...http.request_context import client_ip
from ...services import current_services
from ...tokens.access_tokens import signed_by_us

ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"


class TokenParameterRequired:
    """Mixin for Authlib's revocation and introspection endpoints: only ``token`` is required."""

    def check_params(self, request, client):
        if not request.form.get("token"):
            raise InvalidRequestError("The 'token' parameter is required.")

    def find_presented_token(self, request, client):
        """The endpoint's token object for the ``token`` parameter, or None. A string that is no
        token of ours at all (not merely dead) is recorded as a failed lookup by this client."""
        self.check_params(request, client)
        token_string = request.form["token"]
        token = self.query_token(token_string, request.form.get("token_type_hint"))
        services = current_services()
        if token is None and not is_ours(services, token_string):
            self.record_unknown_token(services, client)
        return token

    def record_unknown_token(self, services, client) -> None:
        throttle.record_lookup_failure(services, client.get_client_id(), client_ip(), self.ENDPOINT_NAME)


def is_ours(services, token_string: str) -> bool:
    """Whether this server ever issued the string: an access token with our signature (expired or
    not), or any generation of a refresh token (used or not)."""
    if token_string.count(".") == 2:  # refresh tokens are base64url, never a JWS
        return signed_by_us(services, token_string)
    return services.refresh_tokens.find(token_string) is not None


def find_token(hint: str | None, access_token: Callable[[], object], refresh_token: Callable[[], object]):
    """The first of the two lookups that finds something, the hinted kind first; None if neither does."""
    order = (refresh_token, access_token) if hint == REFRESH_TOKEN else (access_token, refresh_token)
    for lookup in order:
        found = lookup()
        if found is not None:
            return found
    return None
