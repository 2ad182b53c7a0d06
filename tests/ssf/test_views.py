"""The Shared Signals Framework 1.0 endpoints: transmitter metadata (§7) and the stream management API
(§8.1) with a client's own token holding `ssf.manage`; every refusal is a clear 4xx that stores nothing."""

from __future__ import annotations

import pytest

from authserver.store.database import db
from authserver.store.models import Stream
from tests.conftest import password_login
from tests.conftest import token_request
from tests.outbound.receivers import RECEIVER_SETTINGS
from tests.ssf.helpers import CREDENTIAL_CHANGE
from tests.ssf.helpers import SESSION_REVOKED
from tests.ssf.helpers import VERIFICATION
from tests.ssf.helpers import deliver_all
from tests.ssf.helpers import event_of
from tests.ssf.helpers import pushed_sets
from tests.ssf.helpers import stream_command
from tests.token_helpers import bearer

SSF_CONFIGURATION = "/.well-known/ssf-configuration"
STREAMS = "/ssf/streams"


def client_token(client, registered, scope=None) -> str:
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = token_request(client, registered, **form)
    assert response.status_code == 200, response.json
    return response.json["access_token"]


@pytest.fixture
def manager(factory):
    """A receiver's back end registered with `ssf.manage` for the client credentials grant."""
    return factory.client(name="receiver", grant_types=("client_credentials",), scope="ssf.manage")


@pytest.fixture
def headers(client, manager) -> dict:
    return bearer(client_token(client, manager))


def stored_streams(app) -> int:
    with app.app_context():
        count = db.session.query(Stream).count()
        db.session.rollback()
        return count


def new_stream(client, headers, endpoint, **config):
    return client.post(STREAMS, json={"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": endpoint,
                                                   "authorization_header": "Bearer receiver-s3cret"}, **config},
                       headers=headers)


def test_ssf_7_the_transmitter_metadata_names_every_endpoint(client, issuer):
    response = client.get(SSF_CONFIGURATION)
    assert response.status_code == 200
    document = response.json
    assert document["issuer"] == issuer
    assert document["jwks_uri"] == issuer + "/oauth/jwks"
    assert document["delivery_methods_supported"] == ["urn:ietf:rfc:8935"]
    assert document["configuration_endpoint"] == issuer + STREAMS
    assert document["status_endpoint"] == issuer + "/ssf/streams/status"
    assert document["verification_endpoint"] == issuer + "/ssf/streams/verify"
    assert client.get(document["jwks_uri"].removeprefix(issuer)).status_code == 200


def test_ssf_8_1_a_stream_is_created_read_updated_replaced_and_deleted(app, client, headers, receiver, manager):
    created = new_stream(client, headers, receiver.url + "/events", description="notes API")
    assert created.status_code == 201, created.json
    stream = created.json
    assert stream["aud"] == manager.client_id and stream["iss"] == app.extensions["authserver"].settings.issuer
    assert stream["delivery"] == {"method": "urn:ietf:rfc:8935", "endpoint_url": receiver.url + "/events"}
    assert SESSION_REVOKED in stream["events_delivered"] and "authorization_header" not in str(stream)
    stream_id = stream["stream_id"]
    assert client.get(STREAMS, query_string={"stream_id": stream_id}, headers=headers).json == stream
    assert client.get(STREAMS, headers=headers).json == [stream]
    patched = client.patch(STREAMS, json={"stream_id": stream_id, "events_requested": [CREDENTIAL_CHANGE]},
                           headers=headers)
    assert patched.status_code == 200 and patched.json["events_delivered"] == [CREDENTIAL_CHANGE]
    assert patched.json["description"] == "notes API"  # PATCH changes only what it names
    replaced = client.put(STREAMS, json={"stream_id": stream_id, "delivery": {"endpoint_url": receiver.url + "/v2"}},
                          headers=headers)
    assert replaced.status_code == 200
    assert replaced.json["delivery"]["endpoint_url"] == receiver.url + "/v2" and "description" not in replaced.json
    assert replaced.json["events_delivered"] == stream["events_supported"]  # PUT: the whole configuration
    assert client.delete(STREAMS, query_string={"stream_id": stream_id}, headers=headers).status_code == 204
    assert client.get(STREAMS, query_string={"stream_id": stream_id}, headers=headers).status_code == 404
    assert stored_streams(app) == 0


def test_ssf_8_1_2_status_is_read_and_changed(client, headers, receiver):
    stream_id = new_stream(client, headers, receiver.url + "/events").json["stream_id"]
    status = "/ssf/streams/status"
    assert client.get(status, query_string={"stream_id": stream_id}, headers=headers).json == {
        "stream_id": stream_id, "status": "enabled"}
    paused = client.post(status, json={"stream_id": stream_id, "status": "paused", "reason": "maintenance"},
                         headers=headers)
    assert paused.status_code == 200
    assert paused.json == {"stream_id": stream_id, "status": "paused", "reason": "maintenance"}
    assert client.post(status, json={"stream_id": stream_id, "status": "asleep"}, headers=headers).status_code == 400


def test_ssf_8_1_4_a_verification_event_is_pushed_on_request(app, client, headers, receiver, worker):
    receiver.behaviour.status = 202
    stream = new_stream(client, headers, receiver.url + "/events").json
    response = client.post("/ssf/streams/verify", json={"stream_id": stream["stream_id"], "state": "xyz"},
                           headers=headers)
    assert response.status_code == 204
    deliver_all(worker)
    [claims] = pushed_sets(app, receiver, stream)
    assert event_of(claims) == (VERIFICATION, {"state": "xyz"})
    assert claims["sub_id"] == {"format": "opaque", "id": stream["stream_id"]}


def test_a_client_sees_and_manages_only_its_own_streams(client, factory, headers, receiver):
    stream_id = new_stream(client, headers, receiver.url + "/events").json["stream_id"]
    other = factory.client(name="other receiver", grant_types=("client_credentials",), scope="ssf.manage")
    other_headers = bearer(client_token(client, other))
    assert client.get(STREAMS, headers=other_headers).json == []
    assert client.get(STREAMS, query_string={"stream_id": stream_id}, headers=other_headers).status_code == 404
    assert client.delete(STREAMS, query_string={"stream_id": stream_id}, headers=other_headers).status_code == 404
    assert client.get(STREAMS, query_string={"stream_id": stream_id}, headers=headers).status_code == 200


# -- bad input: a clear 4xx, nothing stored ------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{}])  # private addresses not allowed (the default)
def test_a_stream_endpoint_on_a_private_address_is_refused_without_the_setting(app, client, headers):
    for endpoint in ("http://127.0.0.1:9/events", "http://10.0.0.7/events", "http://[::1]/events",
                     "http://169.254.169.254/latest"):
        response = new_stream(client, headers, endpoint)
        assert response.status_code == 400, endpoint
        assert response.json["error"] == "invalid_request"
        assert "AUTHSERVER_OUTBOUND_ALLOW_PRIVATE" in response.json["error_description"]
    assert stored_streams(app) == 0


@pytest.mark.parametrize("settings_overrides", [{**RECEIVER_SETTINGS, "issuer": "https://auth.example.com"}])
def test_a_plain_http_endpoint_is_refused_when_the_issuer_is_https(app, client, headers, receiver):
    response = new_stream(client, headers, receiver.url + "/events")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request" and "https" in response.json["error_description"]
    assert stored_streams(app) == 0


def test_an_unknown_event_type_is_refused(app, client, headers, receiver):
    response = new_stream(client, headers, receiver.url + "/events",
                          events_requested=[SESSION_REVOKED, "https://schemas.openid.net/secevent/caep/event-type/nope"])
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request" and "unknown event type" in response.json["error_description"]
    assert stored_streams(app) == 0


@pytest.mark.parametrize("body", [None, [], {"delivery": "x"}, {"delivery": {"method": "urn:ietf:rfc:8936",
                                                                            "endpoint_url": "https://a.example/"}},
                                  {"delivery": {"endpoint_url": "ftp://a.example/"}},
                                  {"delivery": {"endpoint_url": "https://user:pw@a.example/"}}])
def test_a_malformed_stream_request_is_invalid_request(app, client, headers, body):
    response = client.post(STREAMS, json=body, headers=headers) if body is not None else client.post(
        STREAMS, data="not json", headers=headers)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert stored_streams(app) == 0


def test_without_a_token_the_api_answers_401(app, client, receiver):
    response = new_stream(client, {}, receiver.url + "/events")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored_streams(app) == 0


def test_a_client_token_without_ssf_manage_is_403_insufficient_scope(app, client, factory, receiver):
    back_end = factory.client(name="billing", grant_types=("client_credentials",), scope="reports:read")
    response = new_stream(client, bearer(client_token(client, back_end)), receiver.url + "/events")
    assert response.status_code == 403 and response.json["error"] == "insufficient_scope"
    assert 'scope="ssf.manage"' in response.headers["WWW-Authenticate"]
    assert stored_streams(app) == 0


def test_a_users_token_is_403_even_from_a_client_registered_with_ssf_manage(app, client, factory, receiver):
    factory.user()
    app_client = factory.client(name="app", scope="profile ssf.manage")
    # ssf.manage is never granted to a user's token: asked for, invalid_scope; by default, left out.
    assert password_login(client, app_client, scope="ssf.manage").json["error"] == "invalid_scope"
    tokens = password_login(client, app_client).json
    assert tokens["scope"] == "profile"
    response = new_stream(client, bearer(tokens["access_token"]), receiver.url + "/events")
    assert response.status_code == 403 and response.json["error"] == "insufficient_scope"
    assert stored_streams(app) == 0


def test_ssf_manage_is_granted_only_to_clients_registered_with_it(client, factory):
    back_end = factory.client(name="billing", grant_types=("client_credentials",), scope="reports:read")
    response = token_request(client, back_end, grant_type="client_credentials", scope="ssf.manage")
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"


def test_events_still_owed_follow_the_streams_new_endpoint(app, client, headers, receiver, second_receiver, worker):
    stream = new_stream(client, headers, receiver.url + "/events").json
    stream_command(app, "status", stream["stream_id"], "paused")
    stream_command(app, "verify", stream["stream_id"], "--state", "queued before the move")
    moved = client.patch(STREAMS, json={"stream_id": stream["stream_id"], "delivery": {
        "endpoint_url": second_receiver.url + "/moved", "authorization_header": "Bearer receiver-s3cret"}},
        headers=headers)
    assert moved.status_code == 200
    stream_command(app, "status", stream["stream_id"], "enabled")
    second_receiver.behaviour.status = 202
    deliver_all(worker)
    assert receiver.received == []
    [claims] = pushed_sets(app, second_receiver, stream, path="/moved")
    assert event_of(claims) == (VERIFICATION, {"state": "queued before the move"})
