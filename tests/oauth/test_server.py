"""oauth/server.py: the one place a request is dispatched to its grant or endpoint, and where the
transaction each one declares is applied (READS_FIRST): the hot paths read outside a transaction
until a store writes; the others begin one with their first statement."""

from __future__ import annotations

import pytest

from authserver.oauth.server import ENDPOINTS
from authserver.oauth.server import GRANTS
from authserver.oauth.server import Server
from authserver.store.database import db
from tests.conftest import password_login
from tests.conftest import token_request
from tests.device_helpers import DEVICE_GRANT
from tests.device_helpers import poll
from tests.device_helpers import started
from tests.token_helpers import introspect
from tests.token_helpers import revoke

READS_FIRST = {"password": True, "client_credentials": True, "introspection": True,
               "revocation": False, "device_authorization": False, "device_code": False}


def test_every_grant_and_endpoint_declares_how_it_uses_the_database():
    for handler in [grant for grant, _ in GRANTS] + list(ENDPOINTS):
        assert isinstance(vars(handler).get("READS_FIRST"), bool), handler.__name__


@pytest.fixture
def transaction_when_authenticated(app, backend, monkeypatch):
    """Whether a transaction was open once the client had been authenticated (its row and the lookup
    budgets read), for each request from now on."""
    seen = []
    authenticate = Server.authenticate_client

    def probed(self, request, methods, endpoint="token"):
        client = authenticate(self, request, methods, endpoint)
        driver = db.session.connection().connection.dbapi_connection
        seen.append(driver.in_transaction if backend == "sqlite" else not driver.autocommit)
        return client

    monkeypatch.setattr(Server, "authenticate_client", probed)
    return seen


@pytest.mark.parametrize("request_of", sorted(READS_FIRST))
def test_what_is_declared_is_what_the_request_gets(app, factory, client, transaction_when_authenticated, request_of):
    factory.user()
    registered = factory.client(grant_types=("password", "client_credentials", DEVICE_GRANT), introspect=True)
    if request_of == "password":
        response = password_login(client, registered)
    elif request_of == "client_credentials":
        response = token_request(client, registered, grant_type="client_credentials")
    elif request_of == "introspection":
        response = introspect(client, registered, "not a token of ours")
    elif request_of == "revocation":
        response = revoke(client, registered, "not a token of ours")
    elif request_of == "device_authorization":
        started(client, registered)
        response = None
    else:
        device_code = started(client, registered)["device_code"]
        transaction_when_authenticated.clear()
        response = poll(client, registered, device_code)
        assert response.json["error"] == "authorization_pending"
    assert response is None or response.status_code in (200, 400)
    assert transaction_when_authenticated == [not READS_FIRST[request_of]]
