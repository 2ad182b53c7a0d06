"""What revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1) share: a required ``token``
parameter, and a ``token_type_hint`` that only decides which kind of token is looked up first
(an unknown hint is ignored rather than refused, as both RFCs allow)."""

from __future__ import annotations

from typing import Callable

from ..errors import InvalidRequestError

ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"


class TokenParameterRequired:
    """Mixin for Authlib's revocation and introspection endpoints: only ``token`` is required."""

    def check_params(self, request, client):
        if not request.form.get("token"):
            raise InvalidRequestError("The 'token' parameter is required.")


def find_token(hint: str | None, access_token: Callable[[], object], refresh_token: Callable[[], object]):
    """The first of the two lookups that finds something, the hinted kind first; None if neither does."""
    order = (refresh_token, access_token) if hint == REFRESH_TOKEN else (access_token, refresh_token)
    for lookup in order:
        found = lookup()
        if found is not None:
            return found
    return None
