"""Bad input at the token endpoint gets RFC 6749 §5.2 errors, never a 500, and is never cached."""

from urllib.parse import quote_plus

import pytest

from authserver.store import security_events
from authserver.store.database import db
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import token_request
from tests.session_helpers import logged_events
from tests.token_helpers import assert_token_error as assert_error


def test_unknown_grant_type_is_unsupported_grant_type(client, registered):
    assert_error(token_request(client, registered, grant_type="magic"), 400, "unsupported_grant_type")


def test_missing_grant_type_is_invalid_request(client, registered):
    assert_error(token_request(client, registered, username="alice", password=PASSWORD), 400, "invalid_request")
    assert_error(token_request(client, registered), 400, "invalid_request")  # an empty form


@pytest.mark.parametrize("empty", ["username", "password"])
def test_rfc6749_3_1_an_empty_parameter_is_a_missing_one(app, client, registered, empty):
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD, empty: ""}
    response = token_request(client, registered, **form)
    assert_error(response, 400, "invalid_request")
    assert empty in response.json["error_description"]
    assert logged_events(app, security_events.LOGIN_FAILED) == []  # not a sign-in attempt with an empty name


def test_rfc6749_3_1_an_empty_refresh_token_is_a_missing_one(client, registered):
    response = token_request(client, registered, grant_type="refresh_token", refresh_token="")
    assert_error(response, 400, "invalid_request")
    assert "refresh_token" in response.json["error_description"]


def test_rfc6749_3_1_empty_optional_parameters_are_ignored(client, registered):
    response = token_request(client, registered, grant_type="password", username="alice", password=PASSWORD,
                             scope="", device_name="")
    assert response.status_code == 200, response.json
    assert response.json["scope"] == "profile email"  # no scope asked: the client's


@pytest.mark.parametrize("missing", ["username", "password"])
def test_missing_parameter_is_invalid_request(client, registered, missing):
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    del form[missing]
    assert_error(token_request(client, registered, **form), 400, "invalid_request")


@pytest.mark.parametrize("repeated", ["grant_type", "username", "password", "scope", "client_id"])
def test_rfc6749_3_2_repeated_parameter_is_invalid_request(client, registered, repeated):
    form, headers = registered.auth({"grant_type": "password", "username": "alice", "password": PASSWORD,
                                     "scope": "profile", "client_id": registered.client_id})
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in form.items()) + f"&{repeated}={quote_plus(form[repeated])}"
    response = client.post("/oauth/token", data=body, headers={
        **headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 400, "invalid_request")
    assert repeated in response.json["error_description"]


@pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("name", ["\u00e9t\u00e9", "a\"b", "back\\slash", "\x01"])
def test_a_repeated_parameter_whose_name_cannot_be_quoted_is_invalid_request(client, registered, endpoint, name):
    """Found by schemathesis: quoting the name in error_description was a 500 (Authlib refuses
    characters RFC 6749 does not allow there)."""
    form, headers = registered.auth({"grant_type": "password", "token": "x"})
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in form.items()) + f"&{quote_plus(name)}=1&{quote_plus(name)}=2"
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = client.post(endpoint, data=body, headers=headers)
    assert_error(response, 400, "invalid_request")
    assert response.json["error_description"] == "A parameter is repeated."


def test_grant_type_repeated_in_query_and_body_is_invalid_request(client, registered):
    form, headers = registered.auth({"grant_type": "password", "username": "alice", "password": PASSWORD})
    response = client.post("/oauth/token?grant_type=password", data=form, headers=headers)
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("username,password", [("alice", "wrong"), ("nobody", PASSWORD)])
def test_wrong_password_and_unknown_user_get_the_same_invalid_grant(client, registered, username, password):
    response = password_login(client, registered, username=username, password=password)
    assert_error(response, 400, "invalid_grant")
    assert response.json == {"error": "invalid_grant", "error_description": "The username or password is incorrect."}


def test_unknown_user_and_wrong_password_cost_the_same_argon2_check(client, registered, monkeypatch):
    # Counted, not timed: an unknown user is checked against a decoy hash with the same parameters,
    # so it costs one full argon2id verification like a wrong password (no user enumeration by time).
    from argon2 import PasswordHasher

    checked = []
    real_verify = PasswordHasher.verify

    def counting_verify(self, hash, password):
        checked.append((self.memory_cost, self.time_cost, hash.split("$")[3]))
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    password_login(client, registered, username="nobody", password=PASSWORD)
    unknown = list(checked)
    checked.clear()
    password_login(client, registered, username="alice", password="wrong")
    assert len(unknown) == len(checked) == 1
    assert unknown[0] == checked[0]  # same memory, time cost and hash parameters


def test_disabled_user_gets_invalid_grant(app, client, registered):
    from authserver.accounts import users

    with app.app_context():
        users.disable_user(app.extensions["authserver"], users.find_user("alice"), actor="test")
        db.session.commit()
    assert_error(password_login(client, registered), 400, "invalid_grant")


def test_scope_beyond_the_clients_is_invalid_scope(client, registered):
    assert_error(password_login(client, registered, scope="profile payments"), 400, "invalid_scope")


def test_client_without_password_grant_is_unauthorized_client(client, factory):
    factory.user("bob")
    third_party = factory.client(name="zapier", grant_types=("authorization_code", "refresh_token"),
                                 redirect_uris=("https://zapier.com/dashboard/auth/oauth/return/App1CLIAPI/",))
    assert_error(password_login(client, third_party, username="bob"), 400, "unauthorized_client")


def test_json_body_is_invalid_request(client, registered):
    _, headers = registered.auth()
    response = client.post("/oauth/token", json={"grant_type": "password", "username": "alice",
                                                  "password": PASSWORD}, headers=headers)
    assert_error(response, 400, "invalid_request")


def test_non_utf8_body_is_invalid_request(client, registered):
    _, headers = registered.auth()
    for body in (b"grant_type=password&username=%ff%fe&password=x", b"grant_type=password&username=\xff"):
        response = client.post("/oauth/token", data=body, headers={
            **headers, "Content-Type": "application/x-www-form-urlencoded"})
        assert_error(response, 400, "invalid_request")


def test_successful_response_is_not_cacheable(client, registered):
    response = password_login(client, registered)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


