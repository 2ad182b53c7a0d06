"""The device authorization endpoint (``oauth/endpoints/device_authorization.py``, RFC 8628 §3.1–3.2):
what a device gets when it starts, with which scope, and who may start. Tests are named after the
RFC 8628 clause they prove."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy import text

from authserver.store.database import db
from authserver.store.models import DeviceAuthorization
from authserver.store.models import sha256_hex
from tests.device_helpers import DEVICE_AUTHORIZATION
from tests.device_helpers import DEVICE_GRANT
from tests.device_helpers import FORM
from tests.device_helpers import USER_CODE
from tests.device_helpers import device_client
from tests.device_helpers import poll
from tests.device_helpers import start
from tests.device_helpers import started

ISSUER = "http://127.0.0.1:5000"


def error(response) -> str:
    return response.json["error"]


def test_rfc8628_3_2_device_authorization_response(app, client, tv):
    response = start(client, tv, scope="profile", device_name="Living room TV")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.json
    assert set(body) == {"device_code", "user_code", "verification_uri", "verification_uri_complete",
                         "expires_in", "interval"}
    assert USER_CODE.match(body["user_code"]), body["user_code"]
    assert body["verification_uri"] == ISSUER + "/device"
    # §3.3.1: the complete URI carries the user code, for a QR code or a link.
    assert body["verification_uri_complete"] == f"{ISSUER}/device?user_code={body['user_code']}"
    assert body["expires_in"] == 600
    assert body["interval"] == 5
    with app.app_context():
        row = db.session.scalars(select(DeviceAuthorization)).one()
        assert (row.client_id, row.scope, row.status, row.device_name) == (tv.client_id, "profile", "pending",
                                                                           "Living room TV")
        assert row.interval == 5
        assert (row.expires_at - row.created_at).total_seconds() == 600


@pytest.mark.parametrize("settings_overrides", [{"device_code_ttl_seconds": 900,
                                                 "device_poll_interval_seconds": 7}])
def test_rfc8628_3_2_expires_in_and_interval_follow_the_settings(client, tv):
    body = started(client, tv)
    assert (body["expires_in"], body["interval"]) == (900, 7)


def test_rfc8628_5_2_device_codes_are_high_entropy_and_stored_only_as_digests(app, client, tv):
    answers = [started(client, tv) for _ in range(5)]
    assert len({a["device_code"] for a in answers}) == 5
    assert len({a["user_code"] for a in answers}) == 5
    assert all(len(a["device_code"]) >= 43 for a in answers)  # 32 random bytes, base64url
    with app.app_context():
        rows = db.session.scalars(select(DeviceAuthorization)).all()
        assert {r.device_code_hash for r in rows} == {sha256_hex(a["device_code"]) for a in answers}
        assert {r.user_code_hash for r in rows} == {sha256_hex(a["user_code"].replace("-", "")) for a in answers}
        dump = "\n".join(str(row) for row in db.session.execute(text("SELECT * FROM device_authorizations")))
    for answer in answers:
        assert answer["device_code"] not in dump
        assert answer["user_code"] not in dump and answer["user_code"].replace("-", "") not in dump


def test_rfc8628_6_1_user_codes_use_an_alphabet_without_vowels_or_look_alikes(client, tv):
    letters = "".join(started(client, tv)["user_code"].replace("-", "") for _ in range(40))
    assert set(letters) <= set("BCDFGHJKLMNPQRSTVWXZ")
    assert not set(letters) & set("AEIOUY0123456789")


def test_rfc8628_3_1_scope_beyond_the_clients_is_invalid_scope(app, factory, client, tv):
    for scope in ("profile email", "admin", "openid"):
        response = start(client, tv, scope=scope)
        assert response.status_code == 400, scope
        assert error(response) == "invalid_scope"
    # Even a client registered for `admin`: a device session is restricted, so never `admin`.
    console = device_client(factory, name="Console", scope="profile admin")
    response = start(client, console, scope="profile admin")
    assert response.status_code == 400
    assert error(response) == "invalid_scope"
    with app.app_context():
        assert db.session.scalars(select(DeviceAuthorization)).all() == []


def test_rfc8628_3_1_unknown_client_is_invalid_client(client, tv):
    for data in ({"client_id": "client_nobody"}, {}):
        response = client.post(DEVICE_AUTHORIZATION, data=data, content_type=FORM)
        assert response.status_code == 401, data
        assert error(response) == "invalid_client"
        assert "WWW-Authenticate" in response.headers


def test_rfc8628_3_1_confidential_clients_authenticate_as_at_the_token_endpoint(factory, client):
    factory.user()
    basic = device_client(factory, name="Set-top box", auth_method="client_secret_basic")
    post = device_client(factory, name="Sensor", auth_method="client_secret_post")
    assert start(client, basic).status_code == 200
    assert start(client, post).status_code == 200
    # A wrong secret, no secret, or another method than the one registered: invalid_client.
    wrong = client.post(DEVICE_AUTHORIZATION, data={"client_id": post.client_id, "client_secret": "guess"})
    bare = client.post(DEVICE_AUTHORIZATION, data={"client_id": basic.client_id})
    other_method = client.post(DEVICE_AUTHORIZATION, data={"client_id": basic.client_id,
                                                           "client_secret": basic.client_secret})
    for response in (wrong, bare, other_method):
        assert response.status_code == 401
        assert error(response) == "invalid_client"


def test_rfc8628_3_1_client_not_registered_for_the_grant_is_unauthorized_client(app, factory, client):
    factory.user()
    notes = factory.client(name="Notes", grant_types=("password", "refresh_token"), auth_method="none")
    response = start(client, notes)
    assert response.status_code == 400
    assert error(response) == "unauthorized_client"
    # Nor may it poll with another client's device code.
    tv = device_client(factory)
    codes = started(client, tv)
    polled = poll(client, notes, codes["device_code"])
    assert polled.status_code == 400
    assert error(polled) == "unauthorized_client"
    with app.app_context():
        assert db.session.scalars(select(DeviceAuthorization.last_polled_at)).one() is None


def test_rfc8628_3_1_only_post_is_allowed(client, tv):
    response = client.get(DEVICE_AUTHORIZATION + f"?client_id={tv.client_id}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert error(response) == "invalid_request"


def test_rfc8628_3_1_bad_device_names_are_cut_or_refused_never_a_500(app, client, tv):
    assert start(client, tv, device_name="x" * 1000).status_code == 200
    with app.app_context():
        assert db.session.scalars(select(DeviceAuthorization.device_name)).one() == "x" * 200
    response = start(client, tv, device_name="TV\x00")
    assert response.status_code == 400
    assert error(response) == "invalid_request"
    repeated = client.post(DEVICE_AUTHORIZATION, data=f"client_id={tv.client_id}&scope=profile&scope=sessions",
                           content_type=FORM)
    assert repeated.status_code == 400
    assert error(repeated) == "invalid_request"


def test_rfc8628_4_metadata_names_the_device_authorization_endpoint_and_grant(client):
    metadata = client.get("/.well-known/oauth-authorization-server").json
    assert metadata["device_authorization_endpoint"] == ISSUER + DEVICE_AUTHORIZATION
    assert DEVICE_GRANT in metadata["grant_types_supported"]
