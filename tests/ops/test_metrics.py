"""Prometheus metrics at /metrics: tokens by grant type, rotations, grace retries, reuse detections,
sessions ended by cause, failed sign-ins, throttled requests, latency by endpoint; counted only for
what the database kept. The app serves them at /metrics only when AUTHSERVER_METRICS=on says so
(these tests do); by default they are off the public port. (Their own port, and across gunicorn
workers: tests/test_serve.py.)"""

import pytest

from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import refresh
from tests.metrics_helpers import scrape
from tests.metrics_helpers import value
from tests.session_helpers import sign_in
from tests.token_helpers import revoke


@pytest.fixture
def settings_overrides():
    return {"metrics": "on"}  # on the app's own port: what these tests scrape


def test_everything_starts_at_zero_and_is_listed(client):
    samples = scrape(client)
    for name, labels in [("authserver_tokens_issued_total", {"grant_type": "password"}),
                         ("authserver_refresh_rotations_total", {}),
                         ("authserver_refresh_grace_retries_total", {}),
                         ("authserver_refresh_reuse_detections_total", {}),
                         ("authserver_sessions_ended_total", {"cause": "refresh_token_reuse"}),
                         ("authserver_failed_signins_total", {"reason": "bad_credentials"}),
                         ("authserver_throttled_requests_total", {"budget": "login_ip"})]:
        assert (name, frozenset(labels.items())) in samples, name
        assert value(samples, name, **labels) == 0


def test_tokens_rotations_retries_reuse_and_ended_sessions_are_counted(client, registered, clock):
    first = sign_in(client, registered)
    second = refresh(client, registered, first.refresh_token)
    assert refresh(client, registered, first.refresh_token).status_code == 200  # inside the grace window
    third = refresh(client, registered, second.json["refresh_token"])
    clock.advance(60)
    assert refresh(client, registered, first.refresh_token).json["error"] == "invalid_grant"  # reuse
    other = sign_in(client, registered)
    assert revoke(client, registered, other.refresh_token).status_code == 200
    samples = scrape(client)
    assert value(samples, "authserver_tokens_issued_total", grant_type="password") == 2
    assert value(samples, "authserver_tokens_issued_total", grant_type="refresh_token") == 3
    assert value(samples, "authserver_refresh_rotations_total") == 2
    assert value(samples, "authserver_refresh_grace_retries_total") == 1
    assert value(samples, "authserver_refresh_reuse_detections_total") == 1
    assert value(samples, "authserver_sessions_ended_total", cause="refresh_token_reuse") == 1
    assert value(samples, "authserver_sessions_ended_total", cause="revocation") == 1
    assert third.status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"metrics": "on", "login_max_failures": 2}])
def test_failed_sign_ins_and_throttled_requests_are_counted(client, registered):
    for _ in range(2):
        assert password_login(client, registered, password="wrong").status_code == 400
    assert password_login(client, registered).status_code == 429
    samples = scrape(client)
    assert value(samples, "authserver_failed_signins_total", reason="bad_credentials") == 2
    assert value(samples, "authserver_throttled_requests_total", budget="login_username_ip") == 1
    assert value(samples, "authserver_tokens_issued_total", grant_type="password") == 0


def test_request_latency_is_a_histogram_by_endpoint(client, registered):
    password_login(client, registered)
    client.get("/oauth/jwks")
    client.get("/no/such/page")
    samples = scrape(client)
    assert value(samples, "authserver_request_duration_seconds_count", endpoint="oauth.token") == 1
    assert value(samples, "authserver_request_duration_seconds_count", endpoint="oauth.jwks") == 1
    assert value(samples, "authserver_request_duration_seconds_count", endpoint="unmatched") == 1
    assert value(samples, "authserver_request_duration_seconds_bucket", endpoint="oauth.token", le="+Inf") == 1
    assert value(samples, "authserver_request_duration_seconds_sum", endpoint="oauth.token") > 0


def test_what_a_failed_request_rolled_back_is_not_counted(client, registered, clock, monkeypatch):
    from authserver.tokens import access_tokens

    signed_in = sign_in(client, registered)
    clock.advance(60)
    with monkeypatch.context() as patch:
        patch.setattr(access_tokens.AccessTokenGenerator, "get_jwks", lambda self: 1 / 0)
        assert refresh(client, registered, signed_in.refresh_token).status_code == 500  # after the rotation
    samples = scrape(client)
    assert value(samples, "authserver_refresh_rotations_total") == 0
    assert value(samples, "authserver_tokens_issued_total", grant_type="refresh_token") == 0
    assert refresh(client, registered, signed_in.refresh_token).status_code == 200  # not spent
    assert value(scrape(client), "authserver_refresh_rotations_total") == 1


@pytest.mark.parametrize("settings_overrides", [{"metrics": "off"}, {"metrics": 9464}])
def test_metrics_can_be_turned_off_or_moved_off_the_public_port(client, settings_overrides):
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("settings_overrides", [{}])  # nothing configured
def test_by_default_metrics_are_not_on_the_public_port(client, registered, settings_overrides):
    password_login(client, registered)
    response = client.get("/metrics")
    assert response.status_code == 404
    assert "authserver_" not in response.get_data(as_text=True)
    document = client.get("/openapi.json").get_json()
    assert "/metrics" not in document["paths"]  # and not described as if it were there


def test_the_metrics_setting():
    from authserver.settings import Settings
    from authserver.settings import SettingsError

    default = Settings.from_env({})
    assert (default.metrics, default.metrics_port, default.metrics_host) == (9464, 9464, "127.0.0.1")
    assert Settings.from_env({"AUTHSERVER_METRICS": "ON"}).metrics == "on"
    assert Settings.from_env({"AUTHSERVER_METRICS": "OFF"}).metrics == "off"
    settings = Settings.from_env({"AUTHSERVER_METRICS": "9100", "AUTHSERVER_METRICS_HOST": "0.0.0.0"})
    assert (settings.metrics, settings.metrics_port, settings.metrics_host) == (9100, 9100, "0.0.0.0")
    assert Settings.from_env({"AUTHSERVER_METRICS_HOST": "[::1]"}).metrics_host == "::1"
    for bad in ("yes", "0", "70000", ""):
        with pytest.raises(SettingsError, match="^AUTHSERVER_METRICS must be on, off or a port number"):
            Settings.from_env({"AUTHSERVER_METRICS": bad})
    for bad in ("localhost", "example.com", "127.0.0.1:9464", ""):
        with pytest.raises(SettingsError, match="^AUTHSERVER_METRICS_HOST must be an IP address"):
            Settings.from_env({"AUTHSERVER_METRICS_HOST": bad})


def test_a_metrics_host_without_a_metrics_port_is_a_warning():
    from authserver.settings import setting_warnings

    assert setting_warnings({"AUTHSERVER_METRICS_HOST": "0.0.0.0"}) == []  # the default port: it is used
    assert setting_warnings({"AUTHSERVER_METRICS_HOST": "0.0.0.0", "AUTHSERVER_METRICS": "on"}) == [
        "AUTHSERVER_METRICS_HOST is ignored: AUTHSERVER_METRICS is not a port number"]


def test_the_sign_in_page_and_disabled_users_count_as_failed_sign_ins(app, client, registered):
    from authserver.accounts import users
    from authserver.store.database import db
    from tests.web.conftest import csrf_token

    page = client.get("/signin")
    client.post("/signin", data={"username": "alice", "password": "nope", "csrf_token": csrf_token(page.text)})
    with app.app_context():
        users.disable_user(app.extensions["authserver"], users.find_user("alice"), actor="test")
        db.session.commit()
    assert password_login(client, registered, password=PASSWORD).status_code == 400
    samples = scrape(client)
    assert value(samples, "authserver_failed_signins_total", reason="bad_credentials") == 1
    assert value(samples, "authserver_failed_signins_total", reason="disabled") == 1
