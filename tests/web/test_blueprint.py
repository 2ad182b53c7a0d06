"""The `web` blueprint (``web/blueprint.py``): CSRF on its own forms, and never on the OAuth endpoints."""

from __future__ import annotations

from authserver.store.models import DeviceSession
from tests.conftest import PASSWORD
from tests.conftest import password_login
from tests.conftest import refresh


def test_post_without_csrf_token_is_refused(app, factory, client):
    factory.user()
    client.get("/signin")
    response = client.post("/signin", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.text
    with app.app_context():
        assert DeviceSession.query.count() == 0


def test_csrf_does_not_apply_to_the_token_endpoint(factory, client):
    factory.user()
    registered = factory.client()
    client.get("/signin")  # a browser-ish client with a session cookie changes nothing
    response = password_login(client, registered)
    assert response.status_code == 200, response.json
    assert refresh(client, registered, response.json["refresh_token"]).status_code == 200
