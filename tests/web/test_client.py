"""The first-party web client (``web/client.py``): browser sign-ins are device sessions of it, an admin's
carries `admin`, it is useless at the token endpoint, and two first sign-ins racing to register it
share one."""

from __future__ import annotations

from authserver.accounts import users
from authserver.store import security_events
from authserver.store.database import db
from authserver.store.models import Client
from authserver.store.models import SecurityEvent
from authserver.web.client import WEB_CLIENT_ID
from authserver.web.client import create_web_client
from tests.conftest import PASSWORD
from tests.session_helpers import session_row
from tests.web.conftest import DESKTOP_UA
from tests.web.conftest import sign_in
from tests.web.conftest import web_sid


def test_signin_opens_a_device_session_of_the_web_client(app, factory, client):
    factory.user()
    response = sign_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/devices"
    session = session_row(app, web_sid(app, client))
    assert session.client_id == WEB_CLIENT_ID
    assert session.user_agent == DESKTOP_UA
    assert session.device_name == "Chrome 120 on Linux"
    assert session.ip == "127.0.0.1"
    assert session.scope == "profile"
    with app.app_context():
        web_client = db.session.get(Client, WEB_CLIENT_ID)
        assert (web_client.name, web_client.auth_method, web_client.grant_types) == ("authserver web", "none", "")
        kinds = [e.kind for e in SecurityEvent.query.all()]
    assert kinds == [security_events.LOGIN_SUCCEEDED]


def test_admins_web_session_has_the_admin_scope(app, factory, client):
    factory.user("root", admin=True)
    sign_in(client, "root")
    assert session_row(app, web_sid(app, client)).scope == "profile admin"


def test_the_web_client_cannot_be_used_at_the_token_endpoint(factory, client):
    factory.user()
    sign_in(client)  # creates the web client
    response = client.post("/oauth/token", data={"grant_type": "password", "username": "alice",
                                                 "password": PASSWORD, "client_id": WEB_CLIENT_ID})
    assert response.status_code == 400
    assert response.json["error"] == "unauthorized_client"


def test_a_first_sign_in_that_loses_the_race_to_register_the_web_client_uses_the_winners(app, factory, client):
    factory.user()
    sign_in(client)  # registers the web client
    with app.app_context():
        users.create_user(app.extensions["authserver"], "bob", PASSWORD)  # earlier work of the same request
        assert create_web_client().client_id == WEB_CLIENT_ID  # its insert fails: the client exists by now
        db.session.commit()
    with app.app_context():
        assert users.find_user("bob") is not None  # only the failed insert was undone
        assert Client.query.filter_by(client_id=WEB_CLIENT_ID).count() == 1
