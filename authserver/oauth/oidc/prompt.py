"""``prompt`` and ``max_age`` at the authorization endpoint (OpenID Connect Core 1.0 §3.1.2.1, §3.1.2.3).

- ``prompt=none``: no page is ever shown. A signed-in browser whose user already allowed the app gets
  its code; otherwise the app is told ``login_required`` (not signed in, or too long ago for
  ``max_age``) or ``consent_required``.
- ``prompt=login``, or a sign-in longer ago than ``max_age`` seconds: the user signs in again (the
  sign-in page is shown even to a signed-in browser), so the code's ``auth_time`` is that new sign-in's.
- ``prompt=consent``: the consent page is shown even for an app the user allowed before.

``none`` with another value, a value we do not support, or a ``max_age`` that is not a number of
seconds is ``invalid_request``. ``select_account`` asks for nothing here: a browser is signed in to
one account. Only the decisions are here; ``web/authorize.py`` shows the pages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from authlib.oidc.core.errors import ConsentRequiredError
from authlib.oidc.core.errors import LoginRequiredError

from ...errors import InvalidRequestError

NONE, LOGIN, CONSENT, SELECT_ACCOUNT = "none", "login", "consent", "select_account"
PROMPT_VALUES = (NONE, LOGIN, CONSENT)  # what the discovery document advertises
NO_LIMIT_DIGITS = 18


@dataclass(frozen=True)
class Prompt:
    values: frozenset
    max_age: int | None

    @classmethod
    def of(cls, params) -> "Prompt":
        """The request's ``prompt`` and ``max_age``; ``invalid_request`` if either is not understood."""
        values = frozenset((params.get("prompt") or "").split())
        if NONE in values and len(values) > 1:
            raise InvalidRequestError("prompt=none cannot be combined with other values.")
        if not values <= {*PROMPT_VALUES, SELECT_ACCOUNT}:
            raise InvalidRequestError(f"prompt may only hold {', '.join(PROMPT_VALUES)}.")
        max_age = params.get("max_age")
        if max_age is None:
            return cls(values, None)
        if not (max_age.isascii() and max_age.isdigit()):
            raise InvalidRequestError("max_age must be a number of seconds.")
        # More digits than any elapsed time has is no limit (and Python will not read thousands of digits).
        return cls(values, int(max_age) if len(max_age) <= NO_LIMIT_DIGITS else None)

    @property
    def forces_sign_in(self) -> bool:
        return LOGIN in self.values or self.max_age is not None

    def needs_sign_in(self, browser_session, now: dt.datetime) -> bool:
        """Whether the user must sign in (again) first: not signed in, ``prompt=login``, or signed in
        longer than ``max_age`` ago. With ``prompt=none``, ``login_required`` instead."""
        needed = (browser_session is None or LOGIN in self.values
                  or (self.max_age is not None
                      and (now - browser_session.signed_in_at).total_seconds() > self.max_age))
        if needed and NONE in self.values:
            raise LoginRequiredError()
        return needed

    def shows_consent(self, allowed_before: bool) -> bool:
        """Whether to show the consent page: not allowed before (nor first-party), or ``prompt=consent``.
        With ``prompt=none``, ``consent_required`` instead."""
        needed = CONSENT in self.values or not allowed_before
        if needed and NONE in self.values:
            raise ConsentRequiredError()
        return needed

    @staticmethod
    def after_sign_in(path: str, params) -> str:
        """Where the sign-in page sends the browser back: the same request, without ``prompt=login``
        and ``max_age``, which the new sign-in has just met (with them it would be asked again)."""
        query = []
        for name, value in params.items(multi=True):
            if name == "prompt":
                value = " ".join(v for v in value.split() if v != LOGIN)
                if not value:
                    continue
            if name != "max_age":
                query.append((name, value))
        return f"{path}?{urlencode(query)}"
