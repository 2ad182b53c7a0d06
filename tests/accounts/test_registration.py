"""accounts/registration.py: clients that register themselves, below HTTP. Initial access tokens
(RFC 7591 §3) stored as digests, a use spent per registration and only by one, refused once spent,
expired or unknown; the per-IP registration budget; the registration access token (RFC 7592) naming
its own client only; an update or a deletion seen at once by this process's client cache; a metadata
document's client stored with the time its copy stops being fresh. The endpoints over HTTP are
``tests/oauth/registration/``."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from authserver.accounts import registration
from authserver.accounts.registration import ClientMetadata
from authserver.errors import RegistrationTokenInvalid
from authserver.errors import Throttled
from authserver.store.database import db
from authserver.store.models import REGISTERED_BY_DOCUMENT
from authserver.store.models import REGISTERED_DYNAMICALLY
from authserver.store.models import Client
from authserver.store.models import RegistrationToken
from authserver.store.models import sha256_hex
from tests.code_flow_helpers import REDIRECT_URI
from tests.code_flow_helpers import connect
from tests.conftest import RegisteredClient
from tests.conftest import in_unit_of_work
from tests.session_helpers import logged_events

# Metadata as oauth/registration/client_metadata.py hands it over, checked.
AGENT = ClientMetadata(name="Agent", redirect_uris=[REDIRECT_URI], grant_types=["authorization_code", "refresh_token"],
                       auth_method="none", scope="openid read")
IP = "192.0.2.1"
DOCUMENT_URL = "https://agent.example/oauth/client-metadata.json"


def issue(app, **limits) -> str:
    return in_unit_of_work(app, lambda services: registration.issue_registration_token(services, **limits))


def checked(app, token) -> str:
    """The token's digest if it is usable (as the endpoint checks it before reading the metadata)."""
    return in_unit_of_work(app, lambda services: registration.check_initial_token(services, token))


def register(app, metadata=AGENT, ip=IP, digest=None) -> tuple[str, str | None, str]:
    """(client id, secret, registration access token) of a registration, spending ``digest``'s use."""
    def run(services):
        client, secret, access_token = registration.register(services, metadata, ip, digest)
        return client.client_id, secret, access_token

    return in_unit_of_work(app, run)


def stored(app, client_id) -> Client | None:
    with app.app_context():
        row = db.session.get(Client, client_id)
        if row is not None:
            db.session.expunge(row)
        return row


def client_ids(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Client.client_id)))


def cached_name(app, client_id) -> str | None:
    """The client's name as this process's client cache (every token request's lookup) reads it."""
    with app.app_context():
        client = app.extensions["authserver"].clients.get(client_id)
        return client.name if client else None


# -- initial access tokens -----------------------------------------------------------------------
def test_an_initial_access_token_is_shown_once_and_stored_as_its_digest_with_its_limits(app, clock):
    token = issue(app, uses=3, expires_in=600)
    assert token.startswith("reg_") and len(token) > 40
    with app.app_context():
        row = db.session.get(RegistrationToken, sha256_hex(token))
        assert row is not None and row.token_digest != token
        assert row.uses_left == 3 and row.expires_at == clock.now() + dt.timedelta(seconds=600)
    assert checked(app, token) == sha256_hex(token)


def test_each_registration_spends_one_use_and_a_spent_token_is_refused(app):
    token = issue(app, uses=2)
    first = register(app, digest=checked(app, token))
    second = register(app, digest=checked(app, token))
    with pytest.raises(RegistrationTokenInvalid):
        checked(app, token)
    assert sorted(client_ids(app)) == sorted([first[0], second[0]])


def test_checking_a_token_spends_nothing_only_a_registration_does(app):
    token = issue(app, uses=1)
    for _ in range(3):
        digest = checked(app, token)
    register(app, digest=digest)
    with pytest.raises(RegistrationTokenInvalid):
        checked(app, token)


def test_of_two_registrations_checked_while_one_use_was_left_only_the_first_registers(app):
    """The threaded race over HTTP is test_endpoints'; here the interleaving, step by step."""
    token = issue(app, uses=1)
    digest = checked(app, token)
    assert checked(app, token) == digest  # both callers found it usable
    register(app, digest=digest)
    with pytest.raises(RegistrationTokenInvalid):
        register(app, digest=digest)
    assert len(client_ids(app)) == 1


def test_a_token_without_a_use_limit_is_never_spent(app):
    token = issue(app)
    for _ in range(3):
        register(app, digest=checked(app, token))
    assert checked(app, token) == sha256_hex(token)
    assert len(client_ids(app)) == 3


def test_a_token_stops_working_when_it_expires_even_if_checked_before(app, clock):
    token = issue(app, expires_in=60)
    clock.advance(59)
    digest = checked(app, token)
    clock.advance(1)
    with pytest.raises(RegistrationTokenInvalid):
        checked(app, token)
    with pytest.raises(RegistrationTokenInvalid):
        register(app, digest=digest)
    assert client_ids(app) == []


@pytest.mark.parametrize("presented", [None, "", "reg_unknown", "{token}x", "{digest}"],
                         ids=["none", "empty", "unknown", "another string", "its digest"])
def test_a_token_that_was_never_issued_is_refused(app, presented):
    token = issue(app)
    with pytest.raises(RegistrationTokenInvalid):
        checked(app, presented.format(token=token, digest=sha256_hex(token)) if presented else presented)


# -- registering ---------------------------------------------------------------------------------
def test_a_registered_client_is_third_party_its_secrets_stored_as_digests_its_registration_logged(app):
    metadata = dataclasses.replace(AGENT, auth_method="client_secret_basic",
                                   grant_types=["authorization_code", "refresh_token", "authorization_code"],
                                   echoed={"client_uri": "https://agent.example", "software_id": "agent"})
    client_id, secret, access_token = register(app, metadata)
    row = stored(app, client_id)
    assert client_id.startswith("client_") and secret and access_token
    assert row.registration == REGISTERED_DYNAMICALLY and not row.first_party and not row.can_introspect
    assert row.secret_digest == sha256_hex(secret) and row.check_client_secret(secret)
    assert row.registration_token_digest == sha256_hex(access_token)
    assert row.grant_types == "authorization_code refresh_token"  # the repeat dropped
    assert registration.echoed_metadata(row) == {"client_uri": "https://agent.example", "software_id": "agent"}
    events = logged_events(app, "client_registered")
    assert [(event["client_id"], event["ip"], event["detail"]) for event in events] == \
        [(client_id, IP, {"client_name": "Agent"})]


def test_a_public_client_gets_no_secret(app):
    client_id, secret, _ = register(app)
    row = stored(app, client_id)
    assert secret is None and row.secret_digest is None and row.is_public
    assert registration.echoed_metadata(row) == {}


class TestBudget:
    @pytest.fixture
    def settings_overrides(self):
        return {"registration_max_per_ip": 2, "registration_window_seconds": 600}

    def check(self, app, ip):
        in_unit_of_work(app, lambda services: registration.check_registrations(services, ip))

    def test_an_ip_that_registered_its_budget_waits_until_its_oldest_leaves_the_window_others_do_not(
            self, app, clock):
        register(app)
        clock.advance(100)
        self.check(app, IP)  # one of two: checking spends nothing
        self.check(app, IP)
        register(app)
        clock.advance(100)
        with pytest.raises(Throttled) as refused:
            self.check(app, IP)
        assert refused.value.retry_after == 401  # the first registration leaves the window in 400 s
        self.check(app, "192.0.2.2")
        clock.advance(401)
        self.check(app, IP)


# -- RFC 7592: the registration access token, changing and deleting --------------------------------
def owner(app, token, client_id) -> str:
    """The id of the client ``token`` is the registration access token of, asked at ``client_id``'s URI."""
    with app.app_context():
        return registration.client_of_registration_token(token, client_id).client_id


def test_the_registration_access_token_names_its_own_client_and_nothing_else(app):
    alice_id, _, alice_token = register(app)
    bob_id, _, bob_token = register(app)
    assert owner(app, alice_token, alice_id) == alice_id
    refused = [(bob_token, alice_id), (alice_token, bob_id), (None, alice_id), ("", alice_id),
               ("nonsense", alice_id), (sha256_hex(alice_token), alice_id), (alice_token, "client_unknown")]
    for token, client_id in refused:
        with pytest.raises(RegistrationTokenInvalid):
            owner(app, token, client_id)


def test_an_update_replaces_the_metadata_keeps_the_credentials_and_is_read_at_once(app):
    client_id, _, access_token = register(app)
    before = stored(app, client_id)
    assert cached_name(app, client_id) == "Agent"
    changed = dataclasses.replace(AGENT, name="Agent 2", redirect_uris=["http://localhost/cb"], scope="openid",
                                  echoed={"software_version": "2"})
    in_unit_of_work(app, lambda services: registration.update(
        services, registration.client_of_registration_token(access_token, client_id), changed))
    row = stored(app, client_id)
    assert (row.name, row.redirect_uri_list, row.scope) == ("Agent 2", ["http://localhost/cb"], "openid")
    assert registration.echoed_metadata(row) == {"software_version": "2"}
    assert (row.registration_token_digest, row.created_at) == (before.registration_token_digest, before.created_at)
    assert cached_name(app, client_id) == "Agent 2"  # not the cached copy
    assert owner(app, access_token, client_id) == client_id


def test_deregistering_ends_the_clients_sessions_as_a_revocation_then_deletes_it(app, factory):
    factory.user()
    client_id, _, access_token = register(app)
    connect(app, RegisteredClient(client_id, None, "none"), scope="openid read")
    connect(app, RegisteredClient(client_id, None, "none"), scope="openid read")
    other_id, _, _ = register(app)
    assert cached_name(app, client_id) == "Agent"
    in_unit_of_work(app, lambda services: registration.deregister(
        services, registration.client_of_registration_token(access_token, client_id), "192.0.2.9"))
    assert client_id not in client_ids(app) and other_id in client_ids(app)
    assert cached_name(app, client_id) is None  # not the cached copy
    ended = logged_events(app, "session_ended")
    assert [(event["client_id"], event["actor"], event["ip"], event["detail"]) for event in ended] == \
        [(client_id, "client", "192.0.2.9", {"reason": "revocation"})] * 2
    with pytest.raises(RegistrationTokenInvalid):
        owner(app, access_token, client_id)


# -- Client ID Metadata Documents ----------------------------------------------------------------
def document_client(app, metadata, fresh_until, existing=None) -> str:
    return in_unit_of_work(app, lambda services: registration.document_client(
        services, DOCUMENT_URL, metadata, fresh_until, existing).client_id)


def test_a_documents_client_is_stored_public_until_its_copy_is_stale_and_replaced_when_fetched_again(app, clock):
    fresh_until = clock.now() + dt.timedelta(seconds=600)
    assert document_client(app, AGENT, fresh_until) == DOCUMENT_URL
    row = stored(app, DOCUMENT_URL)
    first_stored = row.created_at
    assert row.registration == REGISTERED_BY_DOCUMENT and row.document_expires_at == fresh_until
    assert row.is_public and row.secret_digest is None and row.registration_token_digest is None
    assert not row.first_party and not row.can_introspect
    assert cached_name(app, DOCUMENT_URL) == "Agent"
    clock.advance(601)
    later = clock.now() + dt.timedelta(seconds=60)
    document_client(app, dataclasses.replace(AGENT, name="Agent 2"), later, existing=row)
    row = stored(app, DOCUMENT_URL)
    assert (row.name, row.document_expires_at, row.created_at) == ("Agent 2", later, first_stored)
    assert client_ids(app) == [DOCUMENT_URL]
    assert cached_name(app, DOCUMENT_URL) == "Agent 2"  # not the cached copy
