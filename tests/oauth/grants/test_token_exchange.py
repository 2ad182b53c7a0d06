"""Token exchange (RFC 8693) over HTTP: a legacy session imported from an older store becomes a device
session once, and a client acting for a user gets a delegated token (``act``) that lives and dies with
the user's device session. Every "Bad input" row of issue 27 has its test, on both databases."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests

from authserver.accounts import resources
from authserver.store.database import db
from authserver.store.models import DeviceSession
from authserver.store.models import LegacySession
from tests.conftest import at_once
from tests.conftest import password_login
from tests.conftest import refresh
from tests.conftest import token_request
from tests.metrics_helpers import scrape
from tests.metrics_helpers import value
from tests.token_helpers import bearer
from tests.token_helpers import claims_of
from tests.token_helpers import introspect
from tests.token_helpers import revoke

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
LEGACY = "urn:authserver:token-type:legacy-session"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
ISSUER = "http://127.0.0.1:5000"
PHONE_UA = "Parse-Android-SDK/1.17.3 (com.example.notes/42) API Level 29"
FIRST_SEEN = "2026-06-01T08:30:00Z"


@pytest.fixture
def settings_overrides():
    return {"metrics": "on"}


@pytest.fixture
def app_client(factory):
    """alice, and the new version of the app: password-less, it exchanges its users' legacy sessions."""
    factory.user("alice")
    return factory.client(name="Notes", grant_types=(EXCHANGE, "refresh_token"), scope="profile email sessions")


def legacy_line(token="r:legacy-token-1", username="alice", **fields) -> str:
    line = {"token": token, "username": username, "device_name": "Alice's Pixel", "user_agent": PHONE_UA,
            "ip": "203.0.113.7", "created_at": FIRST_SEEN, **fields}
    return json.dumps(line)


def import_legacy(app, *lines: str) -> dict:
    with app.app_context():
        report = app.extensions["authserver"].legacy.import_lines(line.encode() for line in lines)
        db.session.commit()
        return report.as_json()


def exchange(http, client, subject_token, subject_token_type=LEGACY, **form):
    return token_request(http, client, grant_type=EXCHANGE, subject_token=subject_token,
                         subject_token_type=subject_token_type, **form)


def error(response) -> str:
    return response.json["error"]


# -- moving users over ------------------------------------------------------------------------
def test_legacy_session_becomes_a_device_session_keeping_the_device(app, client, app_client, clock):
    import_legacy(app, legacy_line())
    response = exchange(client, app_client, "r:legacy-token-1", scope="profile sessions")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["issued_token_type"] == ACCESS_TOKEN
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900 and body["scope"] == "profile sessions"
    assert body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    claims = claims_of(body["access_token"])
    with app.app_context():
        session = db.session.get(DeviceSession, claims["sid"])
        assert (session.device_name, session.user_agent, session.ip) == ("Alice's Pixel", PHONE_UA, "203.0.113.7")
        assert session.created_at == dt.datetime(2026, 6, 1, 8, 30, tzinfo=dt.timezone.utc)
        assert session.last_active_at == clock.now()
        assert session.client_id == app_client.client_id
        legacy = db.session.query(LegacySession).one()
        assert legacy.exchanged_at == clock.now() and legacy.session_id == session.id
        assert "r:legacy-token-1" not in legacy.token_digest  # only an HMAC digest is kept
    # It is an ordinary session: the refresh token rotates, the user sees it, and can end it.
    refreshed = refresh(client, app_client, body["refresh_token"])
    assert refreshed.status_code == 200 and refreshed.json["refresh_token"] != body["refresh_token"]
    listed = client.get("/api/sessions", headers=bearer(body["access_token"]))
    assert listed.status_code == 200
    [shown] = listed.json["sessions"]
    assert shown["device_name"] == "Alice's Pixel" and shown["created_at"] == "2026-06-01T08:30:00Z"
    assert client.delete(f"/api/sessions/{claims['sid']}", headers=bearer(body["access_token"])).status_code == 204
    assert error(refresh(client, app_client, refreshed.json["refresh_token"])) == "invalid_grant"


def test_legacy_token_works_once(app, client, app_client):
    import_legacy(app, legacy_line())
    assert exchange(client, app_client, "r:legacy-token-1").status_code == 200
    again = exchange(client, app_client, "r:legacy-token-1")
    assert (again.status_code, error(again)) == (400, "invalid_grant")


def test_racing_exchanges_of_one_legacy_token_one_wins(app, live_server, app_client):
    import_legacy(app, legacy_line())

    def attempt():
        data, headers = app_client.auth({"grant_type": EXCHANGE, "subject_token": "r:legacy-token-1",
                                         "subject_token_type": LEGACY})
        return requests.post(f"{live_server}/oauth/token", data=data, headers=headers, timeout=30)

    results = at_once(4, attempt)
    assert sorted(response.status_code for response in results) == [200, 400, 400, 400]
    assert {response.json()["error"] for response in results if response.status_code == 400} == {"invalid_grant"}
    with app.app_context():
        assert db.session.query(DeviceSession).count() == 1


@pytest.mark.parametrize("case", ["unknown", "exchanged", "expired", "disabled_user"])
def test_dead_legacy_tokens_are_invalid_grant(app, client, app_client, factory, clock, runner, case):
    import_legacy(app, legacy_line(created_at=clock.now().isoformat()))
    token = "r:legacy-token-1"
    if case == "unknown":
        token = "r:never-imported"
    elif case == "exchanged":
        assert exchange(client, app_client, token).status_code == 200
    elif case == "expired":  # AUTHSERVER_LEGACY_SESSION_MAX_AGE_SECONDS after it was first seen
        clock.advance(app.extensions["authserver"].settings.legacy_session_max_age_seconds)
    else:
        assert runner.invoke(args=["users", "disable", "alice"]).exit_code == 0
    response = exchange(client, app_client, token)
    assert (response.status_code, error(response)) == (400, "invalid_grant")
    assert "refresh_token" not in response.json


def test_legacy_token_just_before_its_max_age_still_works(app, client, app_client, clock):
    import_legacy(app, legacy_line(created_at=clock.now().isoformat()))
    clock.advance(app.extensions["authserver"].settings.legacy_session_max_age_seconds - 1)
    assert exchange(client, app_client, "r:legacy-token-1").status_code == 200


@pytest.mark.parametrize("form, expected", [
    ({"subject_token": None}, "invalid_request"),
    ({"subject_token_type": None}, "invalid_request"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request"),
    ({"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "invalid_request"),
    ({"actor_token": "not-a-token", "actor_token_type": ACCESS_TOKEN}, "invalid_request"),
    ({"actor_token": "not-a-token"}, "invalid_request"),
    ({"scope": "admin"}, "invalid_scope"),
    ({"audience": "https://unknown.example"}, "invalid_target"),
], ids=["no-subject-token", "no-subject-token-type", "unsupported-type", "requested-refresh-token",
        "unverifiable-actor", "actor-without-type", "scope-beyond-client", "unknown-audience"])
def test_bad_requests_answer_rfc_8693_errors(app, client, app_client, form, expected):
    import_legacy(app, legacy_line())
    request = {"subject_token": "r:legacy-token-1", "subject_token_type": LEGACY, **form}
    request = {name: value for name, value in request.items() if value is not None}
    response = token_request(client, app_client, grant_type=EXCHANGE, **request)
    assert (response.status_code, error(response)) == (400, expected)
    # Nothing was spent: the legacy token still works.
    assert exchange(client, app_client, "r:legacy-token-1").status_code == 200


def test_client_without_the_grant_is_unauthorized_client(app, client, factory):
    factory.user("alice")
    other = factory.client(name="other", grant_types=("password", "refresh_token"))
    import_legacy(app, legacy_line())
    response = exchange(client, other, "r:legacy-token-1")
    assert (response.status_code, error(response)) == (400, "unauthorized_client")


def test_metadata_and_metric_show_the_move(app, client, app_client):
    assert EXCHANGE in client.get("/.well-known/oauth-authorization-server").json["grant_types_supported"]
    import_legacy(app, legacy_line(), legacy_line(token="r:legacy-token-2"))
    assert exchange(client, app_client, "r:legacy-token-1").status_code == 200
    samples = scrape(client)
    assert value(samples, "authserver_legacy_sessions_migrated_ratio") == 0.5
    assert value(samples, "authserver_legacy_sessions", state="remaining") == 1
    assert value(samples, "authserver_tokens_issued_total", grant_type=EXCHANGE) == 1


# -- delegation ---------------------------------------------------------------------------------
@pytest.fixture
def signed_in(factory, client):
    """alice signed in to her first-party app, with the scopes a service may then act with."""
    factory.user("alice")
    app_ = factory.client(name="Notes", scope="profile email sessions")
    response = password_login(client, app_, scope="profile email")
    assert response.status_code == 200
    return response.json


@pytest.fixture
def service(factory):
    """A back end that acts for users against another API (the search service)."""
    return factory.client(name="Mailer", grant_types=(EXCHANGE, "client_credentials"), scope="profile email")


SEARCH = "https://search.example/api"  # a registered resource (RFC 8707): where delegated tokens go


@pytest.fixture
def search_api(app, factory):
    """The search API: registered as a resource, and introspecting with a client of its own."""
    with app.app_context():
        resources.register_resource(SEARCH, "Search API", None, app.extensions["authserver"].clock.now())
        db.session.commit()
    return factory.client(name="Search API", grant_types=(), scope="", introspect=True)


def test_delegated_token_has_act_a_subset_of_scopes_and_the_same_session(client, signed_in, service, search_api):
    subject = claims_of(signed_in["access_token"])
    response = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, audience=SEARCH,
                        scope="email")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["issued_token_type"] == ACCESS_TOKEN and body["scope"] == "email"
    assert "refresh_token" not in body
    claims = claims_of(body["access_token"])
    assert claims["act"] == {"sub": service.client_id}
    assert (claims["sub"], claims["sid"], claims["aud"]) == (subject["sub"], subject["sid"], SEARCH)
    assert claims["client_id"] == service.client_id
    seen = introspect(client, search_api, body["access_token"]).json
    assert seen["active"] is True and seen["act"] == {"sub": service.client_id} and seen["sid"] == subject["sid"]
    assert seen["aud"] == SEARCH and seen["username"] == "alice"


def test_ending_the_session_kills_delegated_tokens(app, client, signed_in, service, search_api):
    delegated = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, audience=ISSUER).json
    for_search = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN,
                          audience=SEARCH).json["access_token"]
    me = client.get("/api/me", headers=bearer(delegated["access_token"]))  # the protector shows `act`
    assert me.status_code == 200 and me.json["act"] == {"sub": service.client_id}
    assert introspect(client, search_api, for_search).json["active"] is True
    sid = claims_of(signed_in["access_token"])["sid"]
    with app.app_context():
        app.extensions["authserver"].sessions.end_session(sid, "admin", actor="test")
        db.session.commit()
    assert introspect(client, search_api, for_search).json == {"active": False}
    assert introspect(client, search_api, delegated["access_token"]).json == {"active": False}
    assert client.get("/api/me", headers=bearer(delegated["access_token"])).status_code == 401
    again = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, audience=ISSUER)
    assert (again.status_code, error(again)) == (400, "invalid_grant")


def test_a_delegated_token_exchanged_again_nests_act(client, signed_in, service, factory):
    second = factory.client(name="Search back end", grant_types=(EXCHANGE,), scope="profile email")
    first = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, audience=ISSUER).json["access_token"]
    response = exchange(client, second, first, ACCESS_TOKEN, audience=ISSUER, scope="profile")
    assert response.status_code == 200, response.json
    assert claims_of(response.json["access_token"])["act"] == {"sub": second.client_id,
                                                               "act": {"sub": service.client_id}}


def test_delegation_beyond_the_subject_tokens_scope_is_invalid_scope(client, signed_in, service):
    # The service may have `email` and `profile`; the subject token has both, but not `sessions`.
    narrow = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, audience=ISSUER, scope="profile")
    response = exchange(client, service, narrow.json["access_token"], ACCESS_TOKEN, audience=ISSUER, scope="email")
    assert (response.status_code, error(response)) == (400, "invalid_scope")


def test_delegation_to_an_unregistered_audience_or_resource_is_invalid_target(client, signed_in, service):
    for target in ({"audience": "https://nobody.example"}, {"resource": "https://nobody.example/api"}):
        response = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, **target)
        assert (response.status_code, error(response)) == (400, "invalid_target")


def test_delegation_of_a_dead_or_foreign_token_is_invalid_grant(client, signed_in, service):
    own = token_request(client, service, grant_type="client_credentials").json["access_token"]
    for subject in ("garbage", own, signed_in["refresh_token"]):
        response = exchange(client, service, subject, ACCESS_TOKEN, audience=ISSUER)
        assert (response.status_code, error(response)) == (400, "invalid_grant")


def test_actor_token_of_the_client_itself_is_accepted(client, signed_in, service, factory):
    own = token_request(client, service, grant_type="client_credentials").json["access_token"]
    response = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, audience=ISSUER,
                        actor_token=own, actor_token_type=ACCESS_TOKEN)
    assert response.status_code == 200, response.json
    someone_else = factory.client(name="other back end", grant_types=("client_credentials",), scope="profile")
    theirs = token_request(client, someone_else, grant_type="client_credentials").json["access_token"]
    refused = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, audience=ISSUER,
                       actor_token=theirs, actor_token_type=ACCESS_TOKEN)
    assert (refused.status_code, error(refused)) == (400, "invalid_request")


def test_the_acting_client_revokes_its_delegated_token(client, signed_in, service, search_api):
    delegated = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN,
                         audience=SEARCH).json["access_token"]
    assert revoke(client, service, delegated).status_code == 200
    assert introspect(client, search_api, delegated).json == {"active": False}
    assert introspect(client, search_api, signed_in["access_token"]).json["active"] is True  # the session lives on


PHOTOS = "https://photos.example/api"


def test_delegation_to_a_resource_carries_only_the_scopes_it_allows(app, client, signed_in, service):
    with app.app_context():
        resources.register_resource(PHOTOS, None, "profile", app.extensions["authserver"].clock.now())
        db.session.commit()
    response = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, resource=PHOTOS)
    assert response.status_code == 200 and response.json["scope"] == "profile"
    beyond = exchange(client, service, signed_in["access_token"], ACCESS_TOKEN, resource=PHOTOS, scope="email")
    assert (beyond.status_code, error(beyond)) == (400, "invalid_scope")


def test_a_legacy_session_is_exchanged_for_the_servers_own_tokens_only(app, client, app_client, search_api):
    import_legacy(app, legacy_line())
    response = exchange(client, app_client, "r:legacy-token-1", resource=SEARCH)
    assert (response.status_code, error(response)) == (400, "invalid_target")
    assert exchange(client, app_client, "r:legacy-token-1", audience=ISSUER).status_code == 200
