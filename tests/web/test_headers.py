"""What holds for every page: the security headers, and no token in any page or cookie."""

from __future__ import annotations

import re

from tests.conftest import password_login
from tests.web.conftest import sign_in

JWT_PATTERN = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


def test_pages_are_not_cached_or_framed(factory, client):
    factory.user()
    sign_in(client)
    response = client.get("/account/devices")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none' covers it
    assert client.get("/web/static/web.css").status_code == 200


def test_pages_never_contain_a_token(app, factory, client, monkeypatch):
    services = app.extensions["authserver"]
    issued = []
    real_start = services.refresh_tokens.start_chain

    def recording_start(*args, **kwargs):
        refresh_token = real_start(*args, **kwargs)
        issued.append(refresh_token)
        return refresh_token

    monkeypatch.setattr(services.refresh_tokens, "start_chain", recording_start)
    factory.user("root", admin=True)
    registered = factory.client(scope="profile admin")
    body = password_login(client, registered, username="root").json
    issued += [body["access_token"], body["refresh_token"]]
    pages = [sign_in(client, "root")]
    for url in ("/account/devices", "/console?username=root", "/signin"):
        pages.append(client.get(url, follow_redirects=True))
    assert len(issued) == 3  # the API login's first refresh token and its tokens; web sign-ins start no chain
    cookie = client.get_cookie("session").value
    for response in pages:
        for token in issued:
            assert token not in response.text
            assert token not in cookie
        assert not JWT_PATTERN.search(response.text)
