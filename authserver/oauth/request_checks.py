"""Checks every request to the token, revocation and introspection endpoints passes before
Authlib sees it (RFC 6749 §3.2 and §2.3): POST, a UTF-8 form body, no repeated parameter (but
``resource``, RFC 8707 §2, at the token and device authorization endpoints), one client
authentication method, and at the token endpoint a ``grant_type``. Authlib leaves these to the
application. The authorization endpoint's repeated-parameter check (:func:`refuse_repeated`) is
the same rule.

A parameter sent without a value is treated as if it were omitted (RFC 6749 §3.1): it is dropped
from the request before Authlib reads it, so ``username=`` is a missing username
(``invalid_request``), never a sign-in attempt with an empty name."""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qsl

from werkzeug.datastructures import CombinedMultiDict
from werkzeug.datastructures import ImmutableMultiDict

from ..errors import InvalidRequestError
from ..errors import MethodNotAllowedError
from ..errors import printable
from .client_auth import basic_credentials

# RFC 8707 §2: several `resource` parameters may name the resources a token is for; nothing else repeats.
REPEATABLE = frozenset({"resource"})
NONE_REPEATABLE = frozenset()


def refuse_repeated(counts: Counter, repeatable=REPEATABLE, state: str | None = None) -> None:
    """``invalid_request`` naming the first parameter given more than once, but those of ``repeatable``."""
    repeated = sorted(name for name, count in counts.items() if count > 1 and name not in repeatable)
    if repeated:
        name = repeated[0]
        raise InvalidRequestError(f"Repeated parameter: {name}." if printable(name) == name else
                                  "A parameter is repeated.", state=state)


def check_token_request(request, token_endpoint: bool = False, repeatable=NONE_REPEATABLE) -> None:
    """Raise an OAuth2Error for a request no grant or endpoint should even look at."""
    if request.method != "POST":
        raise MethodNotAllowedError("Use POST.")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidRequestError("The body must be application/x-www-form-urlencoded.")
    try:
        body = request.get_data(cache=True).decode("utf-8")
        body_pairs = parse_qsl(body, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("The body is not valid UTF-8 form data.") from None
    form_pairs = without_empty_values(body_pairs)
    query_pairs = without_empty_values(request.args.items(multi=True))
    # What Authlib reads (form, args, values) is these non-empty pairs; and Werkzeug need not parse the body again.
    request.form, request.args = ImmutableMultiDict(form_pairs), ImmutableMultiDict(query_pairs)
    request.values = CombinedMultiDict([request.args, request.form])
    pairs = form_pairs + query_pairs
    # Counted in one pass: the check runs before client authentication, so it must stay linear.
    refuse_repeated(Counter(name for name, _ in pairs), repeatable)
    form = dict(pairs)
    if token_endpoint and not form.get("grant_type"):
        # Authlib would call a missing grant_type unsupported; RFC 6749 §5.2 calls it invalid_request.
        raise InvalidRequestError("The 'grant_type' parameter is required.")
    basic_id, _ = basic_credentials(request.headers)
    if basic_id is not None:
        if "client_secret" in form:
            raise InvalidRequestError("Use one client authentication method, not Basic and the body.")
        if "client_id" in form and form["client_id"] != basic_id:
            raise InvalidRequestError("The client_id in the body differs from the one in Basic.")


def without_empty_values(pairs) -> list[tuple[str, str]]:
    """RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted"."""
    return [(name, value) for name, value in pairs if value != ""]
