"""What a request tells about its device, and what every request must be (``http/request_context.py``):
long or NUL-laden device details are cut to fit rather than refused, a body over the limit is refused
(413) however it is sent, and NUL anywhere in the parameters is a 400 before any view runs."""

from __future__ import annotations

import itertools
from urllib.parse import quote_plus

import pytest
import requests

from authserver.http.request_context import storable
from authserver.store import security_events
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import token_request
from tests.session_helpers import logged_events
from tests.session_helpers import session_row
from tests.session_helpers import sign_in
from tests.token_helpers import assert_token_error


@pytest.mark.parametrize(("text", "length", "expected"), [
    ("  Pixel\x00 8  ", 200, "Pixel 8"),
    ("x" * 600, 512, "x" * 512),
    ("\x00 \x00", 10, None),
    (None, 10, None),
])
def test_device_details_are_cut_to_fit(text, length, expected):
    assert storable(text, length) == expected


def test_a_huge_user_agent_still_signs_in_and_is_stored_cut(app, client, registered):
    signed = sign_in(client, registered, user_agent="Agent/" + "y" * 5000)
    assert len(session_row(app, signed.sid).user_agent) == 512


def test_a_body_over_64_kib_is_refused_unread(client, registered):
    form, headers = registered.auth({"grant_type": "password", "username": "alice", "password": "x" * 70_000})
    assert_token_error(client.post("/oauth/token", data=form, headers=headers), 413, "invalid_request")


def chunks(total: int, size: int = 64 * 1024):
    sent = 0
    while sent < total:
        yield b"a" * min(size, total - sent)
        sent += size


def test_a_chunked_body_over_64_kib_is_refused_and_not_processed(app, live_server, registered):
    # No Content-Length: Werkzeug alone read such a body up to the limit and processed what it got (200).
    body = b"grant_type=password&username=alice&password=" + PASSWORD.encode() + b"&device_name="
    form, headers = registered.auth()
    response = requests.post(live_server + "/oauth/token", headers={
        **headers, "Content-Type": "application/x-www-form-urlencoded"},
        data=itertools.chain([body], chunks(10 * 1024 * 1024)), timeout=30)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "invalid_request"
    assert logged_events(app, security_events.LOGIN_SUCCEEDED) == []


def test_a_small_chunked_body_is_read_whole(live_server, registered):
    body = f"grant_type=password&username=alice&password={quote_plus(PASSWORD)}".encode()
    form, headers = registered.auth()
    response = requests.post(live_server + "/oauth/token", headers={
        **headers, "Content-Type": "application/x-www-form-urlencoded"}, data=iter([body[:10], body[10:]]), timeout=30)
    assert response.status_code == 200, response.text


def test_a_large_body_is_refused_where_the_view_never_reads_it(app, client, registered):
    from tests.session_helpers import sign_in

    signed_in = sign_in(client, registered, scope="profile")
    other = sign_in(client, registered, scope="profile")
    too_big = "x" * (64 * 1024 + 1)
    assert_token_error(client.get("/oauth/jwks", data=too_big), 413, "invalid_request")
    response = client.post("/api/sessions/revoke-others", data=too_big, headers=signed_in.headers)
    assert response.status_code == 413
    assert logged_events(app, security_events.SESSION_ENDED) == []  # nothing was processed
    assert other.sid


@pytest.mark.parametrize("field", ["username", "password", "device_name", "scope"])
def test_a_nul_character_is_invalid_request_on_every_database(client, registered, field):
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD, field: "al\x00ice"}
    assert_token_error(token_request(client, registered, **form), 400, "invalid_request")


@pytest.mark.parametrize("auth_method", ["client_secret_post", "none"])
def test_a_nul_character_in_a_client_id_in_the_body_is_invalid_request(client, factory, auth_method):
    factory.user()
    registered = factory.client(auth_method=auth_method)
    registered.client_id += "\x00"
    assert_token_error(password_login(client, registered), 400, "invalid_request")


@pytest.mark.parametrize("path", ["/oauth/token?x=%00", "/oauth/jwks?kid=a%00b", "/api/me?x=%00"])
def test_a_nul_in_the_query_string_is_refused_before_any_view(client, path):
    response = client.post(path, data={"grant_type": "password"}) if path.startswith("/oauth/token") \
        else client.get(path)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert "NUL" in response.json["error_description"]
