"""One JSON line per request with its id, method, path, status, duration, client and session; the
id is the caller's X-Request-Id or a new one, echoed; control characters never start a line."""

import io
import json
import logging

import pytest

from authserver.ops.request_log import JSONFormatter
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import refresh
from tests.session_helpers import sign_in


@pytest.fixture
def request_lines(caplog):
    caplog.set_level(logging.DEBUG, logger="authserver.requests")

    def lines():
        return [json.loads(JSONFormatter().format(record)) for record in caplog.records
                if record.name == "authserver.requests"]

    return lines


def test_each_request_is_one_line_naming_its_client_and_session(client, registered, request_lines):
    signed_in = sign_in(client, registered, scope="profile")
    refresh(client, registered, signed_in.refresh_token)
    client.get("/oauth/jwks")
    login, refreshed, jwks = request_lines()
    for line in (login, refreshed):
        assert line["method"] == "POST" and line["path"] == "/oauth/token" and line["status"] == 200
        assert line["client_id"] == registered.client_id and line["session_id"] == signed_in.sid
        assert line["duration_ms"] > 0 and line["ip"] == "127.0.0.1"
        assert line["level"] == "info" and line["message"] == "request" and line["logger"] == "authserver.requests"
    assert (jwks["client_id"], jwks["session_id"], jwks["status"]) == (None, None, 200)
    assert len({line["request_id"] for line in (login, refreshed, jwks)}) == 3


def test_the_api_and_the_pages_name_the_caller_s_session(app, client, factory, request_lines):
    from tests.web.conftest import sign_in as sign_in_on_page

    factory.user()
    api_client = factory.client(scope="profile sessions")
    signed_in = sign_in(client, api_client, scope="sessions")
    client.get("/api/sessions", headers=signed_in.headers)
    api_line = request_lines()[-1]
    assert (api_line["path"], api_line["client_id"], api_line["session_id"]) == \
        ("/api/sessions", api_client.client_id, signed_in.sid)
    browser = app.test_client()
    sign_in_on_page(browser)
    browser.get("/account/devices")
    page_line = request_lines()[-1]
    assert page_line["path"] == "/account/devices" and page_line["session_id"] and page_line["client_id"]


def test_the_request_id_is_the_callers_when_sane_and_is_echoed(client, request_lines):
    given = client.get("/oauth/jwks", headers={"X-Request-Id": "trace-0af7651916cd43dd:span.1"})
    assert given.headers["X-Request-Id"] == "trace-0af7651916cd43dd:span.1"
    for bad in ("has space", "x" * 129, "semi;colon", "caf\u00e9"):
        response = client.get("/oauth/jwks", headers={"X-Request-Id": bad})
        assert response.headers["X-Request-Id"] != bad and len(response.headers["X-Request-Id"]) == 32
    generated = client.get("/no/such/page")
    assert generated.status_code == 404 and len(generated.headers["X-Request-Id"]) == 32
    assert [line["request_id"] for line in request_lines()][0] == "trace-0af7651916cd43dd:span.1"
    assert request_lines()[-1]["request_id"] == generated.headers["X-Request-Id"]


def test_every_line_logged_during_a_request_carries_its_id(app, client, registered, monkeypatch):
    from authserver.tokens import access_tokens

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # as `authserver serve` installs it: formatted as it is logged
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("authserver")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    monkeypatch.setattr(access_tokens.AccessTokenGenerator, "get_jwks", lambda self: 1 / 0)
    try:
        response = password_login(client, registered, headers={"X-Request-Id": "req-42"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert response.status_code == 500
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    error = next(line for line in lines if line["logger"] == "authserver.errors")
    assert error["request_id"] == "req-42" and error["level"] == "error"
    assert "ZeroDivisionError" in error["exception"]
    assert lines[-1]["message"] == "request" and lines[-1]["status"] == 500 and lines[-1]["request_id"] == "req-42"


def test_control_characters_cannot_start_a_line_of_their_own(client, request_lines):
    assert client.get("/x%0a127.0.0.1%20%22POST%20/oauth/token%22%20200%0d%0a").status_code == 404
    record = logging.LogRecord("authserver", logging.WARNING, __file__, 1, "user agent %s", ("a\nb\r\x00\u2028",), None)
    for text in (JSONFormatter().format(record), json.dumps(request_lines()[-1])):
        assert "\n" not in text and "\r" not in text and "\x00" not in text and "\u2028" not in text
    assert request_lines()[-1]["path"] == '/x\n127.0.0.1 "POST /oauth/token" 200\r\n'


def test_no_query_string_body_token_or_password_is_logged(client, registered, request_lines, caplog):
    caplog.set_level(logging.DEBUG)
    signed_in = sign_in(client, registered)
    client.get("/oauth/jwks?access_token=" + signed_in.access_token)
    password_login(client, registered, password="wrong-password-123")
    text = "\n".join(JSONFormatter().format(record) for record in caplog.records)
    assert request_lines()[1]["path"] == "/oauth/jwks"
    for secret in (PASSWORD, "wrong-password-123", registered.client_secret, signed_in.access_token,
                   signed_in.refresh_token):
        assert secret not in text


def test_health_checks_that_pass_are_logged_at_debug(client, request_lines):
    client.get("/healthz")
    client.get("/readyz")
    assert [line["level"] for line in request_lines()] == ["debug", "debug"]


def test_a_request_line_has_the_same_fields_in_the_same_order(client, registered, request_lines):
    import uuid

    signed_in = sign_in(client, registered)
    line = request_lines()[-1]
    assert list(line) == ["time", "level", "logger", "pid", "message", "request_id", "method", "path", "status",
                          "duration_ms", "ip", "client_id", "session_id"]
    assert line["session_id"] == signed_in.sid and line["client_id"] == registered.client_id
    generated = uuid.UUID(hex=line["request_id"])  # a new id is laid out as uuid4().hex was
    assert generated.version == 4 and generated.hex == line["request_id"]


def test_a_line_is_formatted_as_json_dumps_formatted_it(request_lines, client):
    import datetime as dt
    import os

    client.get("/oauth/jwks", headers={"X-Request-Id": "req-7"})
    record = logging.LogRecord("authserver.requests", logging.INFO, __file__, 1, "request", (), None)
    record.fields = {"request_id": "req-7", "path": "/p\u2028\n", "status": 200, "when": dt.date(2026, 12, 6)}
    expected = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
                "level": "info", "logger": "authserver.requests", "pid": os.getpid(), "message": "request",
                "request_id": "req-7", "path": "/p\u2028\n", "status": 200, "when": "2026-12-06"}
    assert JSONFormatter().format(record) == json.dumps(expected, default=str)
