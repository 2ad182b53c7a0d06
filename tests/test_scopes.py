"""The one rule that decides a granted scope (``authserver/scopes.py``), as every grant applies it.

granted = (requested, or by default the client's scopes; on refresh the session's) ∩ the client's
scopes ∩ what the subject may hold ∩ what each resource asked for allows (RFC 8707) (`admin` only for a user created with --admin, never for a client
acting for itself or for a device). A requested scope outside the client's, or one the subject may
not hold, is ``invalid_scope``; an empty result is an empty scope, never "everything the client has";
a refresh never widens. The expected answers below come from an oracle written with plain sets, not
from the code under test.

The end-to-end property runs every grant over HTTP on both databases, each token also introspected
and refreshed; its explicit examples are the report that found the bug (a client whose only scope is
`admin`, a non-admin user, no scope asked), through each grant.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import note
from hypothesis import settings
from hypothesis import strategies as st

from authserver.errors import InvalidScopeError
from authserver.scopes import granted_scope
from tests.code_flow_helpers import REDIRECT_URI
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import decide as decide_consent
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import redirect_params
from tests.code_flow_helpers import signed_in
from tests.conftest import password_login
from tests.conftest import refresh
from tests.conftest import token_request
from tests.device_helpers import DEVICE_GRANT
from tests.device_helpers import decide as decide_device
from tests.device_helpers import poll
from tests.device_helpers import start
from tests.token_helpers import claims_of
from tests.token_helpers import introspect

UNIVERSE = ("profile", "email", "sessions", "admin", "read")
GRANTS = ("password", "authorization_code", DEVICE_GRANT, "client_credentials")
# Users and a device are subjects; a client acting for itself is none.
USER_GRANTS = ("password", "authorization_code")

scope_sets = st.lists(st.sampled_from(UNIVERSE), unique=True).map(tuple)


@st.composite
def scope_parameters(draw):
    """What a client may send as ``scope``: nothing, empty, or names of the universe (so subsets,
    supersets and strangers of the client's), repeated, with odd spacing."""
    kind = draw(st.sampled_from(("absent", "empty", "names")))
    if kind == "absent":
        return None
    if kind == "empty":
        return draw(st.sampled_from(("", " ", "   ")))
    names = draw(st.lists(st.sampled_from(UNIVERSE), min_size=1, max_size=6))
    separators = draw(st.lists(st.sampled_from((" ", "  ", "   ")), min_size=len(names) + 1, max_size=len(names) + 1))
    return (separators[0] if draw(st.booleans()) else "") + "".join(
        name + separator for name, separator in zip(names, separators[1:]))


def names(scope: str | None) -> set[str]:
    return set(scope.split()) if scope else set()


def expected(client_scope, admin_user: bool, requested: str | None, before: set[str] | None = None, limits=()):
    """The oracle: the set granted, or "invalid_scope". ``limits``: the scopes each resource the token
    is asked for allows (RFC 8707; None: no limit)."""
    client, asked = set(client_scope), names(requested)
    entitled = set(UNIVERSE) if admin_user else set(UNIVERSE) - {"admin"}
    resources_allow = set(UNIVERSE)
    for limit in limits:
        resources_allow &= set(UNIVERSE) if limit is None else set(limit)
    if asked:
        if (not asked <= client or (before is not None and not asked <= before) or not asked <= entitled
                or not asked <= resources_allow):
            return "invalid_scope"
        return asked & client & entitled
    return (client if before is None else before) & client & entitled & resources_allow


# -- the rule alone ---------------------------------------------------------------------------

class Subject:
    def __init__(self, is_admin):
        self.is_admin = is_admin


class Holder:
    def __init__(self, scope):
        self.scope = scope


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(client_scope=scope_sets, subject=st.sampled_from((None, False, True)), requested=scope_parameters(),
       before=st.one_of(st.none(), scope_sets), limits=st.lists(st.one_of(st.none(), scope_sets), max_size=3))
def test_granted_scope_is_requested_or_default_within_client_and_entitlement(client_scope, subject, requested, before,
                                                                             limits):
    """... and within what every resource the token is for allows (RFC 8707), an empty list being none."""
    user = None if subject is None else Subject(subject)
    want = expected(client_scope, subject is True, requested, None if before is None else set(before), limits)
    try:
        got = granted_scope(Holder(" ".join(client_scope)), user, requested,
                            granted_before=None if before is None else " ".join(before),
                            resource_limits=[None if limit is None else set(limit) for limit in limits])
    except InvalidScopeError:
        assert want == "invalid_scope"
        return
    assert want != "invalid_scope", (client_scope, subject, requested, before, limits, got)
    assert got.split() == sorted(set(got.split()), key=got.split().index)  # each scope once
    assert set(got.split()) == want
    assert got == got.strip() and "  " not in got


def test_an_empty_result_is_an_empty_scope_not_the_clients():
    assert granted_scope(Holder("admin"), Subject(False), None) == ""
    assert granted_scope(Holder("admin"), None, "") == ""


# -- every grant, over HTTP, on both databases -------------------------------------------------

class Grants:
    """Issues a token by one grant for a new client, the way an app does."""

    def __init__(self, app, factory):
        self.app, self.factory = app, factory
        factory.user("bob")
        factory.user("root", admin=True)
        self.browsers = {}
        self.introspector = factory.client(name="API", grant_types=("client_credentials",), scope="",
                                           introspect=True)
        self.count = 0

    def browser(self, username):
        if username not in self.browsers:
            self.browsers[username] = signed_in(self.app, username)
        return self.browsers[username]

    def client(self, scope):
        self.count += 1
        return self.factory.client(name=f"app{self.count}", scope=" ".join(scope), redirect_uris=(REDIRECT_URI,),
                                   grant_types=("password", "refresh_token", "authorization_code", DEVICE_GRANT,
                                                "client_credentials"))

    def issue(self, grant, registered, username, requested):
        """The token response's JSON, or the OAuth error code the app receives."""
        http = self.app.test_client()
        scope = {} if requested is None else {"scope": requested}
        if grant == "password":
            response = password_login(http, registered, username=username, **scope)
        elif grant == "client_credentials":
            response = token_request(http, registered, grant_type="client_credentials", **scope)
        elif grant == DEVICE_GRANT:
            response = start(http, registered, **scope)
            if response.status_code != 200:
                return response.json["error"]
            started = response.json
            approved = decide_device(self.browser(username), started["user_code"])
            assert approved.status_code == 200, approved.text
            response = poll(http, registered, started["device_code"])
        else:
            browser, verifier = self.browser(username), pkce()
            url = authorize_url(registered.client_id, scope=requested, challenge=verifier)
            answer = browser.get(url)
            if answer.status_code == 200:
                answer = decide_consent(browser, consent_page(answer), "allow")
            params = redirect_params(answer)
            if "error" in params:
                return params["error"]
            response = exchange(http, registered, params["code"], verifier)
        if response.status_code != 200:
            assert response.status_code in (400, 401, 403), response.text
            return response.json["error"]
        return response.json

    def introspected_scope(self, token):
        answer = introspect(self.app.test_client(), self.introspector, token)
        assert answer.json["active"] is True, answer.json
        return answer.json["scope"]


@pytest.fixture
def grants(app, factory):
    return Grants(app, factory)


def assert_granted(token_response, want):
    """The response's scope, the JWT's claim: the same, each scope once, exactly ``want``."""
    said = token_response["scope"]
    claimed = claims_of(token_response["access_token"])["scope"]
    assert said == claimed
    assert len(said.split()) == len(set(said.split()))
    assert set(said.split()) == want, (said, want)
    return said


def check_one(grants, grant, client_scope, admin_user, requested, refresh_requested):
    subject_may_be_admin = admin_user and grant in USER_GRANTS
    username = "root" if admin_user else "bob"
    registered = grants.client(client_scope)
    answer = grants.issue(grant, registered, username, requested)
    want = expected(client_scope, subject_may_be_admin, requested)
    if want == "invalid_scope":
        assert answer == "invalid_scope", answer
        return
    assert isinstance(answer, dict), (answer, want)
    scope = assert_granted(answer, want)
    if "admin" in scope.split():
        assert admin_user and grant in USER_GRANTS
    assert names(grants.introspected_scope(answer["access_token"])) == want

    if "refresh_token" not in answer:
        assert grant == "client_credentials"
        return
    http = grants.app.test_client()
    extra = {} if refresh_requested is None else {"scope": refresh_requested}
    successor = refresh(http, registered, answer["refresh_token"], **extra)
    want_then = expected(client_scope, subject_may_be_admin, refresh_requested, before=want)
    if want_then == "invalid_scope":
        assert successor.status_code == 400 and successor.json["error"] == "invalid_scope", successor.text
        return
    assert successor.status_code == 200, successor.text
    narrowed = assert_granted(successor.json, want_then)
    assert names(narrowed) <= want  # a refresh never widens
    assert names(grants.introspected_scope(successor.json["access_token"])) == want_then
    # A narrowed refresh narrows that access token only: the next one is the session's scope again.
    after = refresh(http, registered, successor.json["refresh_token"])
    assert after.status_code == 200, after.text
    assert_granted(after.json, want)


BUG = dict(client_scope=("admin",), admin_user=False, refresh_requested=None)


@settings(max_examples=60, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(grant=st.sampled_from(GRANTS), client_scope=scope_sets, admin_user=st.booleans(),
       requested=scope_parameters(), refresh_requested=scope_parameters())
@example(grant="password", requested=None, **BUG)
@example(grant="password", requested="", **BUG)
@example(grant="authorization_code", requested=None, **BUG)
@example(grant=DEVICE_GRANT, requested=None, **BUG)
@example(grant="client_credentials", requested=None, **BUG)
@example(grant="client_credentials", requested=None, client_scope=("admin",), admin_user=True, refresh_requested=None)
@example(grant=DEVICE_GRANT, requested=None, client_scope=("admin", "profile"), admin_user=True, refresh_requested=None)
@example(grant="password", requested="admin", client_scope=("admin", "profile"), admin_user=False,
         refresh_requested=None)
@example(grant="password", requested=None, client_scope=("admin", "profile"), admin_user=True,
         refresh_requested="admin")
@example(grant="authorization_code", requested="profile admin", client_scope=("admin", "profile"), admin_user=True,
         refresh_requested="profile  profile")
@example(grant="password", requested="profile", client_scope=("admin", "profile"), admin_user=True,
         refresh_requested="admin")
def test_every_grant_issues_only_requested_client_and_entitled_scopes(grants, grant, client_scope, admin_user,
                                                                      requested, refresh_requested):
    note(f"grant={grant!r} client_scope={client_scope!r} admin_user={admin_user!r} requested={requested!r} "
         f"refresh_requested={refresh_requested!r}")
    check_one(grants, grant, client_scope, admin_user, requested, refresh_requested)
