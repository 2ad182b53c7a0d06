"""Failure budgets against guessing and scanning (throttle.py): per username and IP, per IP across
usernames, per account across addresses; failed client authentications and tokens not ours per IP
and per client. Counted in the database, so every node shares them; a throttled caller writes nothing."""

import pytest

from authserver import create_app
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import SecurityEvent
from tests.conftest import PASSWORD
from tests.conftest import RegisteredClient
from tests.metrics_helpers import scrape
from tests.metrics_helpers import value
from tests.token_helpers import INTROSPECT
from tests.token_helpers import REVOKE

# The tests read the counters on the app's own /metrics (by default they are on a port of their own).
METRICS_HERE = {"metrics": "on"}
LOGIN_LIMITS = {**METRICS_HERE, "login_max_failures": 3, "login_ip_max_failures": 5, "login_account_max_failures": 6,
                "login_failure_window_seconds": 600}
LOOKUP_LIMITS = {**METRICS_HERE, "lookup_max_failures": 4, "lookup_failure_window_seconds": 300}
INTROSPECTION_LIMITS = {**LOOKUP_LIMITS, "introspection_max_failures": 6}


@pytest.fixture
def settings_overrides():
    return METRICS_HERE


def login(http, registered, username="alice", password=PASSWORD, ip="192.0.2.1"):
    data, headers = registered.auth({"grant_type": "password", "username": username, "password": password})
    return http.post("/oauth/token", data=data, headers=headers, environ_base={"REMOTE_ADDR": ip})


def post(http, path, registered, ip="192.0.2.1", **form):
    data, headers = registered.auth(form)
    return http.post(path, data=data, headers=headers, environ_base={"REMOTE_ADDR": ip})


def events(app, kind=None) -> int:
    with app.app_context():
        query = db.select(db.func.count()).select_from(SecurityEvent)
        if kind:
            query = query.where(SecurityEvent.kind == kind)
        return db.session.scalar(query)


def assert_throttled(response, retry_after=None):
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.json["error"] == "temporarily_unavailable"
    assert response.headers["Cache-Control"] == "no-store"
    if retry_after is not None:
        assert response.headers["Retry-After"] == str(retry_after)


@pytest.fixture
def second_node(app, clock):
    """Another server process on the same database, as behind a load balancer."""
    other = create_app(app.extensions["authserver"].settings, clock=clock)
    yield other.test_client()
    with other.app_context():
        db.engine.dispose()


def test_the_defaults():
    from authserver.settings import Settings

    settings = Settings()
    assert (settings.login_max_failures, settings.login_ip_max_failures, settings.login_account_max_failures) == \
        (10, 50, 100)
    assert (settings.login_device_cookie_max_failures, settings.device_cookie_max_age_seconds) == (10, 7_776_000)
    assert (settings.lookup_max_failures, settings.lookup_failure_window_seconds) == (50, 300)


# -- sign-in ----------------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [LOGIN_LIMITS])
def test_one_address_trying_many_usernames_is_throttled_across_them(app, client, registered, clock, second_node):
    # Before: counted per (username, IP) only, one address tried 25 usernames without a 429.
    for number in range(5):
        http = client if number % 2 else second_node  # both nodes count into the same budget
        assert login(http, registered, username=f"user{number}", password="guess").json["error"] == "invalid_grant"
    clock.advance(60)
    assert_throttled(login(client, registered, username="alice"), retry_after=541)  # even the right password
    assert_throttled(login(second_node, registered, username="someone-else"), retry_after=541)
    assert login(client, registered, ip="198.51.100.7").status_code == 200  # another address is not held up
    clock.advance(541)
    assert login(client, registered).status_code == 200


@pytest.mark.parametrize("settings_overrides", [LOGIN_LIMITS])
def test_one_account_guessed_from_many_addresses_is_throttled_for_every_address(app, client, registered, clock,
                                                                                second_node):
    # Before: 30 guesses from 3 addresses were followed by a success from a 4th.
    for number in range(6):
        http = client if number % 2 else second_node
        response = login(http, registered, password=f"guess{number}", ip=f"203.0.113.{number // 2}")
        assert response.json["error"] == "invalid_grant"
    for http in (client, second_node):
        assert_throttled(login(http, registered, ip="203.0.113.99"))  # a fresh address, the right password
    clock.advance(600)
    assert login(client, registered, ip="203.0.113.99").status_code == 200


def guess_alice_from_three_addresses(client, registered):
    """Spend alice's account budget (LOGIN_LIMITS) the way a guessing attack does."""
    for number in range(6):
        response = login(client, registered, password=f"guess{number}", ip=f"203.0.113.{number // 2}")
        assert response.json["error"] == "invalid_grant"


@pytest.mark.parametrize("settings_overrides", [{**LOGIN_LIMITS, "retention_seconds": 300}])
def test_a_client_that_signed_the_user_in_from_an_address_keeps_working_there_under_attack(app, client, registered,
                                                                                          factory, clock, second_node):
    # Before: 6 guesses from 3 addresses locked alice's own phone app out for 10 minutes.
    other_app = factory.client(name="other app")
    assert login(client, registered, ip="192.0.2.1").status_code == 200
    guess_alice_from_three_addresses(second_node, registered)
    for http in (client, second_node):  # every node knows the address
        assert login(http, registered, ip="192.0.2.1").status_code == 200
    # Anyone else is still held by the account budget: another address, or another client at that address.
    assert_throttled(login(client, registered, ip="192.0.2.2"))
    data, headers = other_app.auth({"grant_type": "password", "username": "alice", "password": PASSWORD})
    assert_throttled(client.post("/oauth/token", data=data, headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.1"}))
    # A sign-in is remembered for the retention only (the last one above was at the same instant).
    clock.advance(300)
    assert_throttled(login(client, registered, ip="192.0.2.1"))


@pytest.mark.parametrize("settings_overrides", [LOGIN_LIMITS])
def test_a_known_address_is_still_held_by_the_per_address_budgets(app, client, registered):
    for ip in ("192.0.2.1", "192.0.2.2"):
        assert login(client, registered, ip=ip).status_code == 200
    guess_alice_from_three_addresses(client, registered)
    for number in range(3):  # guesses at a known address: its per username and IP budget, not the account's
        assert login(client, registered, password=f"again{number}", ip="192.0.2.1").json["error"] == "invalid_grant"
    assert_throttled(login(client, registered, ip="192.0.2.1"))
    for number in range(5):  # other usernames guessed from the other known address: its per-IP budget
        login(client, registered, username=f"user{number}", password="guess", ip="192.0.2.2")
    assert_throttled(login(client, registered, ip="192.0.2.2"))


@pytest.mark.parametrize("settings_overrides", [LOGIN_LIMITS])
def test_the_account_budget_does_not_tell_whether_the_account_exists(client, registered):
    for username in ("alice", "nobody"):
        for number in range(6):
            login(client, registered, username=username, password="guess", ip=f"203.0.113.{number}")
    existing = login(client, registered, username="alice", password="guess", ip="203.0.113.50")
    missing = login(client, registered, username="nobody", password="guess", ip="203.0.113.50")
    assert_throttled(existing)
    assert_throttled(missing)
    assert existing.json == missing.json
    assert existing.headers["Retry-After"] == missing.headers["Retry-After"]


@pytest.mark.parametrize("settings_overrides", [LOGIN_LIMITS])
def test_a_throttled_caller_writes_nothing_more(app, client, registered):
    # Each failure stores a caller-chosen username; past the per-IP budget, nothing more is written.
    for number in range(20):
        login(client, registered, username=f"x{number}" * 40, password="guess")
    assert events(app) == 5
    assert events(app, security_events.LOGIN_FAILED) == 5


@pytest.mark.parametrize("settings_overrides", [LOGIN_LIMITS])
def test_the_sign_in_page_shares_the_budgets(app, client, registered):
    from tests.web.conftest import csrf_token

    for number in range(5):
        login(client, registered, username=f"user{number}", password="guess")
    page = client.get("/signin", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    form = {"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    response = client.post("/signin", data=form, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)


# -- scanning for tokens and secrets ------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [INTROSPECTION_LIMITS])
def test_garbage_introspections_are_throttled_per_client_across_addresses(app, client, introspector, registered,
                                                                          clock, second_node):
    # Before: 60 garbage introspections in 0.4 s were all answered. Then (issue 21) the resource
    # server was refused past LOOKUP_MAX_FAILURES (4 here); now its own, larger budget (6) counts them.
    for number in range(6):
        http = client if number % 2 else second_node
        response = post(http, INTROSPECT, introspector, ip=f"198.51.100.{number}", token=f"garbage-{number}")
        assert response.json == {"active": False}
    clock.advance(30)
    assert_throttled(post(client, INTROSPECT, introspector, ip="198.51.100.77", token="garbage"), retry_after=271)
    # The same client, still over its budget, even for a real token; another client is not affected.
    real = login(client, registered, ip="192.0.2.200").json["access_token"]
    assert_throttled(post(second_node, INTROSPECT, introspector, ip="198.51.100.78", token=real))
    assert post(client, REVOKE, registered, ip="198.51.100.79", token="garbage").status_code == 200
    assert [value(scrape(http), "authserver_throttled_requests_total", budget="lookup_introspection")
            for http in (client, second_node)] == [1, 1]  # each node counts its own 429s
    clock.advance(271)
    assert post(client, INTROSPECT, introspector, token=real).json["active"] is True


@pytest.mark.parametrize("settings_overrides", [LOOKUP_LIMITS])
def test_tokens_of_ours_that_are_no_longer_live_are_not_failures(app, client, introspector, registered, clock):
    signed_in = login(client, registered).json
    post(client, REVOKE, registered, token=signed_in["refresh_token"])  # ends the session
    clock.advance(3600)  # the access token has expired too
    for _ in range(10):
        for token in (signed_in["access_token"], signed_in["refresh_token"]):
            assert post(client, INTROSPECT, introspector, token=token).json == {"active": False}
    assert events(app, security_events.TOKEN_LOOKUP_FAILED) == events(app, security_events.INTROSPECTION_LOOKUP_FAILED) == 0


@pytest.mark.parametrize("settings_overrides", [LOOKUP_LIMITS])
def test_wrong_client_secrets_are_throttled_per_address(app, client, registered, introspector, second_node):
    wrong = RegisteredClient(registered.client_id, "not-the-secret", registered.auth_method)
    for number in range(4):
        http = client if number % 2 else second_node
        response = post(http, "/oauth/token", wrong, grant_type="password", username="alice", password=PASSWORD)
        assert response.status_code == 401
    # That address is refused everything, right secret included; the client itself is not locked out.
    assert_throttled(post(client, "/oauth/token", registered, grant_type="password", username="alice",
                          password=PASSWORD))
    assert_throttled(post(second_node, INTROSPECT, introspector, token="x"))
    assert login(client, registered, ip="192.0.2.99").status_code == 200
    assert events(app, security_events.CLIENT_AUTH_FAILED) == 4


@pytest.mark.parametrize("settings_overrides", [LOOKUP_LIMITS])
def test_a_throttled_address_is_refused_before_its_token_is_used_whatever_else_is_wrong(app, client, registered,
                                                                                        introspector, factory):
    # The lookup budgets are counted with the request's token read (store/database.read_with_next):
    # their verdict still comes before that token is used, and replaces any other answer.
    live = login(client, registered, ip="192.0.2.50").json
    bound = factory.client(name="bound", dpop=True)
    wrong = RegisteredClient(registered.client_id, "not-the-secret", registered.auth_method)
    for _ in range(4):
        assert post(client, "/oauth/token", wrong, grant_type="refresh_token", refresh_token="x").status_code == 401
    assert_throttled(post(client, "/oauth/token", registered, grant_type="refresh_token",
                          refresh_token=live["refresh_token"]))
    assert_throttled(post(client, INTROSPECT, introspector, token=live["access_token"]))
    # Refused before any read, or for want of a DPoP proof: the right secret still tells nothing.
    assert_throttled(post(client, "/oauth/token", registered, grant_type="refresh_token"))
    assert_throttled(post(client, "/oauth/token", registered, grant_type="client_credentials"))
    assert_throttled(post(client, "/oauth/token", bound, grant_type="password", username="alice", password=PASSWORD))
    # The token was neither rotated nor ended: it works from another address.
    again = post(client, "/oauth/token", registered, ip="192.0.2.51", grant_type="refresh_token",
                 refresh_token=live["refresh_token"])
    assert again.status_code == 200, again.json
    assert post(client, "/oauth/token", bound, ip="192.0.2.51", grant_type="password", username="alice",
                password=PASSWORD).json["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize("settings_overrides", [LOOKUP_LIMITS])
def test_unknown_refresh_tokens_are_throttled(app, client, registered, factory):
    for number in range(4):
        response = post(client, "/oauth/token", registered, grant_type="refresh_token", refresh_token=f"guess{number}")
        assert response.json["error"] == "invalid_grant"
    assert_throttled(post(client, "/oauth/token", registered, ip="192.0.2.2", grant_type="refresh_token",
                          refresh_token="guess"))  # the client, from any address
    # A public client proves nothing by its id, so it is counted by address only: one scanner
    # cannot lock every installation of a mobile app out.
    public = factory.client(name="mobile", auth_method="none")
    for number in range(4):
        post(client, "/oauth/token", public, ip="192.0.2.3", grant_type="refresh_token", refresh_token=f"g{number}")
    assert_throttled(post(client, "/oauth/token", public, ip="192.0.2.3", grant_type="refresh_token",
                          refresh_token="g"))
    other = post(client, "/oauth/token", public, ip="192.0.2.4", grant_type="refresh_token", refresh_token="g")
    assert other.json["error"] == "invalid_grant"


@pytest.mark.parametrize("settings_overrides", [{**LOOKUP_LIMITS, "introspection_max_failures": 4}])
def test_a_scanner_writes_nothing_once_throttled(app, client, introspector):
    for number in range(50):
        post(client, INTROSPECT, introspector, ip=f"198.51.100.{number}", token=f"garbage-{number}")
    assert events(app) == 4


def test_sixty_garbage_revocations_meet_the_default_budget(app, client, registered):
    # The probe that found it sent 60 garbage introspections in 0.4 s, all answered. Introspection
    # has a budget of its own now (below); revocation and refresh keep this one.
    answers = [post(client, REVOKE, registered, token=f"garbage-{n}") for n in range(60)]
    assert [a.status_code for a in answers] == [200] * 50 + [429] * 10
    assert int(answers[-1].headers["Retry-After"]) == 301  # the window is 300 s; the clock stood still
    assert events(app, security_events.TOKEN_LOOKUP_FAILED) == 50


# -- a resource server introspecting the tokens its callers present (issue 21) ---------------------
def junk(number: int) -> str:
    """A token that was never ours: JWS-shaped or not, as callers send."""
    return f"eyJhbGciOiJSUzI1NiJ9.junk{number}.c2lnbmF0dXJl" if number % 2 else f"junk-{number}-" + "x" * 32


def test_a_resource_servers_introspection_keeps_working_after_200_junk_tokens(app, client, introspector, registered):
    # Before: the 51st junk token its callers sent locked the resource server (and its address)
    # out of introspection for 5 minutes, for every caller.
    settings = app.extensions["authserver"].settings
    assert (settings.introspection_max_failures, settings.lookup_failure_window_seconds) == (10_000, 300)
    answers = [post(client, INTROSPECT, introspector, token=junk(n)) for n in range(200)]
    assert [a.status_code for a in answers] == [200] * 200
    assert all(a.json == {"active": False} for a in answers)
    real = login(client, registered).json  # the same address is not held up either
    assert post(client, INTROSPECT, introspector, token=real["access_token"]).json["active"] is True
    assert post(client, INTROSPECT, introspector, token=real["refresh_token"]).json["active"] is True
    assert events(app, security_events.INTROSPECTION_LOOKUP_FAILED) == 200
    assert events(app, security_events.TOKEN_LOOKUP_FAILED) == 0


@pytest.mark.parametrize("settings_overrides", [LOOKUP_LIMITS])
def test_failed_authentications_at_introspection_still_spend_the_per_ip_budget(app, client, introspector):
    # The resource server's junk spends nothing of its address's budget...
    for number in range(10):
        assert post(client, INTROSPECT, introspector, token=junk(number)).json == {"active": False}
    # ...but callers that do not authenticate, or fail to, still do.
    wrong = RegisteredClient(introspector.client_id, "not-the-secret", introspector.auth_method)
    for number in range(2):
        assert client.post(INTROSPECT, data={"token": junk(number)},
                           environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 401
        assert post(client, INTROSPECT, wrong, token=junk(number)).status_code == 401
    assert_throttled(post(client, INTROSPECT, introspector, token="x"), retry_after=301)  # the right secret too
    assert post(client, INTROSPECT, introspector, ip="192.0.2.2", token="x").json == {"active": False}
    assert events(app, security_events.CLIENT_AUTH_FAILED) == 4


@pytest.mark.parametrize("settings_overrides", [LOOKUP_LIMITS])
def test_a_resource_server_revoking_garbage_keeps_the_small_budget(client, introspector):
    # Revocation (and refresh) take tokens a client claims as its own, not its callers': no exception.
    for number in range(4):
        assert post(client, REVOKE, introspector, token=junk(number)).status_code == 200
    assert_throttled(post(client, REVOKE, introspector, token=junk(4)))


def test_each_junk_introspection_is_counted_and_logged_without_the_token(app, client, introspector, registered,
                                                                          caplog):
    from authserver.ops.request_log import JSONFormatter

    dead = login(client, registered).json["access_token"]
    post(client, REVOKE, registered, token=dead)
    caplog.set_level("WARNING", logger="authserver.throttle")
    tokens = [junk(number) for number in range(3)]
    for token in tokens + [dead]:  # a revoked token of ours is no junk
        assert post(client, INTROSPECT, introspector, ip="198.51.100.9", token=token).json == {"active": False}
    assert value(scrape(client), "authserver_introspection_unknown_tokens_total") == 3
    warnings = [r for r in caplog.records if r.name == "authserver.throttle" and r.levelname == "WARNING"]
    assert len(warnings) == 3
    for record in warnings:
        line = JSONFormatter().format(record)
        assert introspector.client_id in record.getMessage()
        assert '"ip": "198.51.100.9"' in line
        assert not any(token in line for token in tokens + [dead])
