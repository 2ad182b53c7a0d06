"""Failure budgets: past one, a caller is refused (:class:`Throttled`, answered 429 with
``Retry-After``) before anything is checked, and writes nothing more.

Failures are rows of the security event log (``security_events.py``), so every node on the database shares
the same counts, and a window is simply "rows younger than this" (counted in ``store/budgets.py``).

Sign-in budgets (wrong passwords, unknown users, disabled accounts), inside
``login_failure_window_seconds``:

- ``login_username_ip``, per username and IP (``login_max_failures``): slows guessing one account
  from one address without letting a stranger lock the real user out from their own address;
- ``login_ip``, per IP across every username (``login_ip_max_failures``): one address trying many
  accounts (password spraying, credential stuffing);
- ``login_account``, per username across every address (``login_account_max_failures``): one
  account guessed from many addresses. It answers the same 429 whether the account exists or not,
  and since anyone can spend it, it is set well above what a user mistyping ever reaches.

Since anyone can spend the account budget, it does not apply to callers who signed in before
(OWASP's device cookies), so guessing cannot lock the real user out:

- a browser with a valid device cookie for that username (``web/device_cookie.py``) has instead
  ``login_device_cookie``, per cookie from every address (``login_device_cookie_max_failures``), so a
  stolen cookie buys no more guesses than that;
- a password-grant (username, client, IP) with a ``login_succeeded`` event younger than
  ``retention_seconds`` keeps ``login_username_ip``, which is bound to that address anyway.

The per-IP budgets apply to everyone.

Lookup budgets, inside ``lookup_failure_window_seconds``, against scanning for tokens and secrets:

- ``lookup_ip``, per IP (``lookup_max_failures``): failed client authentications (at every
  endpoint) and tokens that are not ours at all (revocation, refresh);
- ``lookup_client``, per confidential client (``lookup_max_failures``): tokens not ours presented
  by that authenticated client at revocation and refresh. Public clients share their id with every
  installation and prove nothing, so only their IP is counted; and a failed authentication never
  counts against the client it names, or anyone who knows a client id could lock it out;
- ``lookup_introspection``, per introspecting client (``introspection_max_failures``, much larger):
  tokens not ours that a resource server presented for introspection. Its callers chose them, so
  they count toward no other budget (neither the resource server's own nor its IP's), or 50 junk
  tokens sent to a resource server would lock it out of introspection for everyone; with 256-bit
  tokens, scanning through a resource server is hopeless anyway. Each one is counted
  (``introspection_unknown_tokens``) and logged as a warning, without the token.

Device user codes (RFC 8628 §5.1), inside ``login_failure_window_seconds``: wrong codes entered
on the verification page, per signed-in user (``user_code_user``) and per IP (``user_code_ip``),
each ``login_max_failures``, so the short codes cannot be guessed.

Client registration (RFC 7591), inside ``registration_window_seconds``: ``registration_ip``, the clients
registered from one IP (``registration_max_per_ip``; each a ``client_registered`` event), since
anyone may register when registration is open. Not failures but successes are counted here: a
refused registration stores nothing.

A token that is ours but no longer live (expired, revoked, of an ended session) is not a failure:
resource servers introspect those all the time.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from ..errors import Throttled
from ..store import security_events
from ..store.budgets import FailureCounts
from ..store.budgets import record_failure
from ..store.budgets import signed_in_since

log = logging.getLogger("authserver.throttle")  # the logger name operators filter on, wherever the module lives

LOGIN_FAILURES = (security_events.LOGIN_FAILED,)
USER_CODE_FAILURES = (security_events.USER_CODE_FAILED,)


@dataclass(frozen=True)
class Budget:
    name: str
    limit_setting: str  # the Settings attribute holding its limit
    kinds: tuple[str, ...]  # the security events that spend it
    same: tuple[str, ...]  # what such an event must share with the caller (store/budgets.CALLER_COLUMNS)


class Budgets:
    """Budgets inside one window, counted by one statement built once (``store/budgets.py``; the hot
    endpoints run it on every request)."""

    def __init__(self, window_setting: str, *budgets: Budget):
        self.window_setting = window_setting
        self.budgets = budgets
        self.counts = FailureCounts([(budget.kinds, budget.same) for budget in budgets])

    def retry_after(self, services, **caller) -> int | None:
        """Seconds until every budget is below its limit again, or None if none is spent.

        A spent budget frees up when its oldest failure leaves the window."""
        since = self._since(services)
        return self._wait(services, since, self.counts.count(since, **caller))

    def check_with_next_read(self, services, what: str, **caller) -> None:
        """:func:`retry_after`, counted by the request's next read (``store/database.read_with_next``):
        :class:`Throttled` is raised then, before that read's row is used or anything is written."""
        since = self._since(services)

        def verdict(counts):
            wait = self._wait(services, since, counts)
            if wait:
                raise Throttled(what, wait)

        self.counts.count_with_next_read(since, verdict, **caller)

    def _since(self, services):
        return services.clock.now() - dt.timedelta(seconds=getattr(services.settings, self.window_setting))

    def _wait(self, services, since, counts) -> int | None:
        settings = services.settings
        waits = {}
        for budget, (count, oldest) in zip(self.budgets, counts):
            if count >= getattr(settings, budget.limit_setting):
                waits[budget.name] = max(1, int((oldest - since).total_seconds()) + 1)
        if not waits:
            return None
        for name in waits:
            services.metrics.count("throttled_requests", budget=name)
        return max(waits.values())


_USERNAME_IP_BUDGET = Budget("login_username_ip", "login_max_failures", LOGIN_FAILURES, ("username", "ip"))
_IP_BUDGET = Budget("login_ip", "login_ip_max_failures", LOGIN_FAILURES, ("ip",))
SIGN_IN = Budgets(
    "login_failure_window_seconds",
    _USERNAME_IP_BUDGET,
    _IP_BUDGET,
    Budget("login_account", "login_account_max_failures", LOGIN_FAILURES, ("username",)),
)
# Callers who signed in before: no account budget (see the module docstring).
SIGN_IN_WITH_DEVICE_COOKIE = Budgets(
    "login_failure_window_seconds",
    _USERNAME_IP_BUDGET,
    _IP_BUDGET,
    Budget("login_device_cookie", "login_device_cookie_max_failures", LOGIN_FAILURES, ("device_cookie",)),
)
SIGN_IN_FROM_KNOWN_ADDRESS = Budgets(
    "login_failure_window_seconds",
    _USERNAME_IP_BUDGET,
    _IP_BUDGET,
)
USER_CODES = Budgets(
    "login_failure_window_seconds",
    Budget("user_code_user", "login_max_failures", USER_CODE_FAILURES, ("user_id",)),
    Budget("user_code_ip", "login_max_failures", USER_CODE_FAILURES, ("ip",)),
)
LOOKUPS = Budgets(
    "lookup_failure_window_seconds",
    # A resource server's introspections count toward its own budget only (see the module docstring).
    Budget("lookup_ip", "lookup_max_failures",
           (security_events.CLIENT_AUTH_FAILED, security_events.TOKEN_LOOKUP_FAILED), ("ip",)),
    # Only tokens not ours count against a client, never a failed authentication naming it.
    Budget("lookup_client", "lookup_max_failures", (security_events.TOKEN_LOOKUP_FAILED,), ("client_id",)),
    Budget("lookup_introspection", "introspection_max_failures", (security_events.INTROSPECTION_LOOKUP_FAILED,),
           ("client_id",)),
)

REGISTRATIONS = Budgets(
    "registration_window_seconds",
    Budget("registration_ip", "registration_max_per_ip", (security_events.CLIENT_REGISTERED,), ("ip",)),
)
# Every budget's name, as the throttled-requests metric labels it.
ALL_BUDGETS = (SIGN_IN, SIGN_IN_WITH_DEVICE_COOKIE, SIGN_IN_FROM_KNOWN_ADDRESS, USER_CODES, LOOKUPS, REGISTRATIONS)
BUDGETS = tuple(dict.fromkeys(budget.name for budgets in ALL_BUDGETS for budget in budgets.budgets))


# -- sign-in ---------------------------------------------------------------------------------
def login_retry_after(services, username: str, ip: str | None, device_cookie: str | None = None,
                      client_id: str | None = None) -> int | None:
    """Seconds until ``username`` may be tried again from ``ip``, or None if not throttled.

    ``device_cookie``: the id of the browser's valid device cookie for ``username`` (web sign-in).
    ``client_id``: the client of a password grant, exempt from the account budget at an address it
    signed in from before."""
    username = username[:150]
    if device_cookie is not None:
        return SIGN_IN_WITH_DEVICE_COOKIE.retry_after(services, username=username, ip=ip, device_cookie=device_cookie)
    if client_id is not None and signed_in_before(services, username, client_id, ip):
        return SIGN_IN_FROM_KNOWN_ADDRESS.retry_after(services, username=username, ip=ip)
    return SIGN_IN.retry_after(services, username=username, ip=ip)


def signed_in_before(services, username: str, client_id: str, ip: str | None) -> bool:
    """Whether ``username`` signed in through ``client_id`` from ``ip`` within ``retention_seconds``."""
    if ip is None:
        return False
    since = services.clock.now() - dt.timedelta(seconds=services.settings.retention_seconds)
    return signed_in_since(username, client_id, ip, since)


def check_login(services, username: str, ip: str | None, client_id: str | None = None,
                device_cookie: str | None = None) -> None:
    """Raise :class:`Throttled` if a sign-in as ``username`` from ``ip`` (through ``client_id``, or
    with ``device_cookie``: :func:`login_retry_after`) is throttled (the same answer for every
    budget, so it never tells whether the account exists)."""
    wait = login_retry_after(services, username, ip, device_cookie=device_cookie, client_id=client_id)
    if wait:
        raise Throttled("failed sign-ins", wait)


# -- device user codes -----------------------------------------------------------------------
def check_user_codes(services, user_id: str, ip: str | None) -> None:
    """Raise :class:`Throttled` if this user, or anyone at this IP, entered too many wrong device user codes."""
    wait = USER_CODES.retry_after(services, user_id=user_id, ip=ip)
    if wait:
        raise Throttled("wrong codes", wait)


# -- client authentication and token lookups -------------------------------------------------
def check_lookups(services, ip: str | None, client=None, with_next_read: bool = False) -> None:
    """Raise :class:`Throttled` if this IP has spent its budget of failed client authentications and
    lookups, or this authenticated confidential client one of its budgets of tokens not ours (its
    own, or as a resource server introspecting). One query for all three; ``with_next_read``: one
    that rides on the request's next read, its verdict given then (the endpoint's answer waits for
    it: ``oauth/server.py``)."""
    counted = client if client is not None and client.auth_method != "none" else None
    caller = {"ip": ip, "client_id": counted.client_id if counted else None}
    if with_next_read:
        LOOKUPS.check_with_next_read(services, "failed requests", **caller)
        return
    wait = LOOKUPS.retry_after(services, **caller)
    if wait:
        raise Throttled("failed requests", wait)


def record_client_auth_failure(services, claimed_client_id: str | None, ip: str | None, endpoint: str) -> None:
    record_failure(security_events.CLIENT_AUTH_FAILED, services.clock.now(), claimed_client_id, ip, endpoint)


def record_lookup_failure(services, client_id: str, ip: str | None, endpoint: str) -> None:
    """A token that is not ours at all was presented by this (authenticated) client."""
    record_failure(security_events.TOKEN_LOOKUP_FAILED, services.clock.now(), client_id, ip, endpoint)


def record_introspection_failure(services, client_id: str, ip: str | None) -> None:
    """A token that is not ours at all was presented for introspection by this resource server: it
    counts toward ``lookup_introspection`` only, and is counted and logged (never the token)."""
    record_failure(security_events.INTROSPECTION_LOOKUP_FAILED, services.clock.now(), client_id, ip, "introspection")
    services.metrics.count("introspection_unknown_tokens")
    log.warning("resource server %s asked to introspect a token that is not ours", client_id,
                extra={"fields": {"client_id": client_id, "ip": ip}})


# -- client registration ---------------------------------------------------------------------
def check_registrations(services, ip: str | None) -> None:
    """Raise :class:`Throttled` if this IP registered ``registration_max_per_ip`` clients inside the window."""
    wait = REGISTRATIONS.retry_after(services, ip=ip)
    if wait:
        raise Throttled("client registrations", wait)
