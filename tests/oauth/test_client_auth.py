"""Client authentication at the token endpoint (``oauth/client_auth.py``, RFC 6749 §2.3): one method per
client, Basic credentials form-urlencoded before base64, credentials never in two places, and a wrong
secret indistinguishable from an unknown client."""

import base64
from urllib.parse import quote_plus

import pytest

from authserver.oauth.client_auth import basic_credentials
from authserver.store.database import db
from authserver.store.models import Client
from authserver.store.models import sha256_hex
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.token_helpers import assert_token_error


@pytest.mark.parametrize("credentials", ["\xe9\xe9\xe9\xe9", base64.b64encode(b"client\x00:secret").decode()])
def test_basic_credentials_that_are_not_ascii_or_hold_nul_are_invalid_client(client, registered, credentials):
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    response = client.post("/oauth/token", data=form, headers={"Authorization": "Basic " + credentials})
    assert_token_error(response, 401, "invalid_client")


def test_rfc6749_2_3_credentials_in_basic_and_body_is_invalid_request(client, registered):
    form, headers = registered.auth({"grant_type": "password", "username": "alice", "password": PASSWORD})
    form.update(client_id=registered.client_id, client_secret=registered.client_secret)
    assert_token_error(client.post("/oauth/token", data=form, headers=headers), 400, "invalid_request")


def basic(client_id, secret):
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def test_bad_secret_and_unknown_client_get_the_same_401(client, registered):
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    wrong_secret = client.post("/oauth/token", data=form, headers=basic(registered.client_id, "nope"))
    unknown = client.post("/oauth/token", data=form, headers=basic("client_unknown", "nope"))
    for response in (wrong_secret, unknown):
        assert_token_error(response, 401, "invalid_client")
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert wrong_secret.json == unknown.json


def test_unknown_client_with_post_auth_is_401_too(client, registered):
    response = client.post("/oauth/token", data={"grant_type": "password", "username": "alice",
                                                  "password": PASSWORD, "client_id": "x", "client_secret": "y"})
    assert_token_error(response, 401, "invalid_client")


def test_rfc6749_2_3_1_basic_credentials_are_form_urlencoded(app, client, registered):
    secret = "s:e%c+r t/ü"
    with app.app_context():
        db.session.get(Client, registered.client_id).secret_digest = sha256_hex(secret)
        db.session.commit()
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    response = client.post("/oauth/token", data=form, headers=basic(registered.client_id, secret))
    assert response.status_code == 200, response.json
    # Without form-decoding, '+' would stay '+' instead of a space and the secret would not match.
    raw = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    response = client.post("/oauth/token", data=form, headers={"Authorization": "Basic " + raw})
    assert_token_error(response, 401, "invalid_client")


@pytest.mark.parametrize(("header", "expected"), [
    ("Basic " + base64.b64encode(b"app:s%3Acret+x").decode(), ("app", "s:cret x")),
    ("basic " + base64.b64encode(b"app:").decode(), ("app", "")),
    ("Basic " + base64.b64encode(b"app").decode(), ("app", None)),
    ("Basic !!!", (None, None)),
    ("Basic " + base64.b64encode("é:é".encode("latin-1")).decode(), (None, None)),
    ("Basic " + base64.b64encode(b"a\x00pp:x").decode(), (None, None)),
    ("Bearer abc", (None, None)),
    ("Basic", (None, None)),
    ("", (None, None)),
])
def test_basic_credentials_are_read_as_rfc6749_2_3_1_says_or_not_at_all(header, expected):
    assert basic_credentials({"Authorization": header}) == expected


def test_a_public_client_sending_a_secret_is_not_authenticated_as_public(client, factory):
    factory.user()
    public = factory.client(name="spa", auth_method="none", first_party=True)
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD, "client_id": public.client_id}
    assert client.post("/oauth/token", data=form).status_code == 200
    assert_token_error(client.post("/oauth/token", data={**form, "client_secret": "anything"}), 401,
                       "invalid_client")


def test_a_client_authenticates_only_with_the_method_it_registered(client, factory):
    factory.user()
    basic_client = factory.client(name="basic", auth_method="client_secret_basic")
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD,
            "client_id": basic_client.client_id, "client_secret": basic_client.client_secret}
    assert_token_error(client.post("/oauth/token", data=form), 401, "invalid_client")
    assert password_login(client, basic_client).status_code == 200
