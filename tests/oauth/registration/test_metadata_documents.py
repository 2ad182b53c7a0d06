"""Client ID Metadata Documents (metadata_documents.py): an https client_id fetched from a real TLS server
on loopback (the name resolved to 127.0.0.1, its self-signed certificate trusted, private addresses
allowed), used as a public client through the code flow, cached in the database per Cache-Control, and
every bad document refused as an error page at the authorization endpoint, never a redirect."""

from __future__ import annotations

import json
import ssl

import pytest

from authserver import create_app
from authserver.outbound import delivery
from authserver.store.database import db
from authserver.store.models import Client
from tests.code_flow_helpers import authorize_url
from tests.code_flow_helpers import consent_page
from tests.code_flow_helpers import decide
from tests.code_flow_helpers import exchange
from tests.code_flow_helpers import pkce
from tests.code_flow_helpers import redirect_params
from tests.code_flow_helpers import signed_in
from tests.conftest import RegisteredClient
from tests.conftest import refresh
from tests.outbound.receivers import Receiver
from tests.outbound.receivers import self_signed_certificate

HOST = "agent.example"
CALLBACK = "http://127.0.0.1/callback"
PRESENTED_CALLBACK = "http://127.0.0.1:49152/callback"  # the agent's port of the moment (RFC 8252 §7.3)


@pytest.fixture
def settings_overrides():
    return {"outbound_allow_private": True}


@pytest.fixture
def documents(tmp_path, monkeypatch):
    """A TLS server for agent.example on 127.0.0.1 (served by the outbound tests' receiver)."""
    cert_file, key_file = self_signed_certificate(tmp_path, HOST)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    served = Receiver(tls_context=server_tls)
    monkeypatch.setattr(delivery, "_TLS", ssl.create_default_context(cafile=str(cert_file)))
    monkeypatch.setattr(delivery, "resolve", lambda host, port: ["127.0.0.1"])
    served.client_id = f"https://{HOST}:{served.port}/oauth/client-metadata.json"
    serve(served, {"client_id": served.client_id, "client_name": "Agent", "redirect_uris": [CALLBACK]})
    yield served
    served.close()


def serve(served, document, status=200, **headers):
    served.behaviour.status = status
    served.behaviour.body = document if isinstance(document, bytes) else json.dumps(document).encode()
    served.behaviour.headers = {"Content-Type": "application/json", "Cache-Control": "max-age=600", **headers}


def authorize(http, client_id, challenge, redirect_uri=PRESENTED_CALLBACK):
    return http.get(authorize_url(client_id, redirect_uri=redirect_uri, scope="openid profile", challenge=challenge))


def test_a_document_client_signs_in_with_pkce_its_host_on_the_consent_page(app, registered, documents):
    http = signed_in(app)
    verifier = pkce()
    page = consent_page(authorize(http, documents.client_id, verifier))
    assert f"This app describes itself at {HOST}" in page.text and "Agent wants to:" in page.text
    params = redirect_params(decide(http, page, "allow"), PRESENTED_CALLBACK)
    public = RegisteredClient(documents.client_id, None, "none")
    response = exchange(http, public, params["code"], verifier, redirect_uri=PRESENTED_CALLBACK)
    assert response.status_code == 200, response.text
    assert response.json["refresh_token"] and response.json["scope"] == "openid profile"
    assert [request.path for request in documents.received] == ["/oauth/client-metadata.json"]
    with app.app_context():
        stored = db.session.get(Client, documents.client_id)
        assert stored.is_public and stored.redirect_uri_list == [CALLBACK] and not stored.first_party


def test_the_document_is_cached_in_the_database_for_its_max_age_then_fetched_again(app, registered, documents,
                                                                                   clock, database_url):
    http = signed_in(app)
    consent_page(authorize(http, documents.client_id, pkce()))
    consent_page(authorize(http, documents.client_id, pkce()))
    # Another process on the same database (a new client cache): the stored copy serves it too.
    other = create_app(app.extensions["authserver"].settings, clock=clock)
    other.config["TESTING"] = True
    consent_page(authorize(signed_in(other), documents.client_id, pkce()))
    assert len(documents.received) == 1
    clock.advance(601)
    serve(documents, {"client_id": documents.client_id, "client_name": "Agent 2", "redirect_uris": [CALLBACK]})
    assert "Agent 2 wants to:" in consent_page(authorize(http, documents.client_id, pkce())).text
    assert len(documents.received) == 2
    with other.app_context():
        db.engine.dispose()


def test_a_document_without_cache_control_is_fetched_every_time(app, registered, documents):
    serve(documents, {"client_id": documents.client_id, "redirect_uris": [CALLBACK]}, **{"Cache-Control": "no-store"})
    http = signed_in(app)
    consent_page(authorize(http, documents.client_id, pkce()))
    consent_page(authorize(http, documents.client_id, pkce()))
    assert len(documents.received) == 2


def test_only_the_documents_redirect_uris_are_allowed(app, registered, documents):
    response = authorize(signed_in(app), documents.client_id, pkce(), redirect_uri="https://evil.example/cb")
    assert response.status_code == 400 and "Location" not in response.headers


BAD_DOCUMENTS = {
    "not JSON": (b"<html>client</html>", 200, {}),
    "a JSON array": (b"[]", 200, {}),
    "too large": (json.dumps({"client_id": "{id}", "redirect_uris": [CALLBACK], "pad": "x" * 6000}).encode(), 200, {}),
    "a redirect": (b"", 302, {"Location": "https://agent.example/elsewhere.json"}),
    "another client_id": ({"client_id": "https://other.example/client.json", "redirect_uris": [CALLBACK]}, 200, {}),
    "a client secret": ({"client_id": "{id}", "redirect_uris": [CALLBACK], "token_endpoint_auth_method":
                         "client_secret_basic"}, 200, {}),
    "a plain http redirect URI": ({"client_id": "{id}", "redirect_uris": ["http://agent.example/cb"]}, 200, {}),
    "not found": (b"{}", 404, {}),
}


@pytest.mark.parametrize("case", list(BAD_DOCUMENTS))
def test_a_bad_document_is_an_invalid_client_page_never_a_redirect(app, registered, documents, case):
    document, status, headers = BAD_DOCUMENTS[case]
    if isinstance(document, dict):
        document = json.loads(json.dumps(document).replace("{id}", documents.client_id))
    elif b"{id}" in document:
        document = document.replace(b"{id}", documents.client_id.encode())
    serve(documents, document, status, **headers)
    response = authorize(signed_in(app), documents.client_id, pkce(), redirect_uri=CALLBACK)
    assert response.status_code == 400, response.text
    assert "Location" not in response.headers
    assert "This sign-in link is not valid" in response.text
    with app.app_context():
        assert db.session.get(Client, documents.client_id) is None


class TestPrivateAddressRefused:
    @pytest.fixture
    def settings_overrides(self):
        return {"outbound_allow_private": False}

    def test_a_document_on_a_private_address_is_not_fetched(self, app, registered, documents):
        response = authorize(signed_in(app), documents.client_id, pkce(), redirect_uri=CALLBACK)
        assert response.status_code == 400 and "Location" not in response.headers
        assert documents.received == []


class TestOff:
    @pytest.fixture
    def settings_overrides(self):
        return {"outbound_allow_private": True, "client_id_metadata_documents": False}

    def test_off_a_url_client_id_is_an_unknown_client(self, app, client, registered, documents):
        response = authorize(signed_in(app), documents.client_id, pkce(), redirect_uri=CALLBACK)
        assert response.status_code == 400 and "Location" not in response.headers
        assert documents.received == []
        assert "client_id_metadata_document_supported" not in client.get("/.well-known/oauth-authorization-server").json


def test_a_long_document_url_is_a_client_id_everywhere_it_is_stored(app, registered, documents):
    long_id = documents.client_id.replace("/oauth/", "/oauth/" + "connectors/" * 16)  # some 230 characters
    assert 200 < len(long_id) <= 255
    serve(documents, {"client_id": long_id, "client_name": "Agent", "redirect_uris": [CALLBACK]})
    http = signed_in(app)
    verifier = pkce()
    code = redirect_params(decide(http, consent_page(authorize(http, long_id, verifier)), "allow"),
                           PRESENTED_CALLBACK)["code"]
    public = RegisteredClient(long_id, None, "none")
    response = exchange(http, public, code, verifier, redirect_uri=PRESENTED_CALLBACK)
    assert response.status_code == 200, response.text
    assert refresh(http, public, response.json["refresh_token"]).status_code == 200
