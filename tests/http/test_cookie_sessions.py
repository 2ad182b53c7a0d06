"""The cookie sessions (``http/cookie_sessions.py``): a request without the cookie (the token
endpoint, the APIs) gets no cookie and no ``Vary: Cookie``, as with Flask's own interface; one
serializer per process, made again when the secret key changes."""

from __future__ import annotations

from tests.conftest import password_login


def test_a_token_request_without_a_cookie_gets_no_cookie(client, registered):
    response = password_login(client, registered)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
    jwks = client.get("/oauth/jwks")
    assert "Set-Cookie" not in jwks.headers and "Cookie" not in jwks.headers.get("Vary", "")


def test_a_page_still_sets_and_reads_its_cookie(app, factory):
    from tests.web.conftest import sign_in as sign_in_on_page

    factory.user()
    browser = app.test_client()
    assert sign_in_on_page(browser).status_code == 302
    cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    assert app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert browser.get("/account/devices").status_code == 200


def test_the_serializer_is_made_once_and_again_for_a_new_key(app):
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    token = first.dumps({"a": 1})
    previous = app.secret_key
    app.secret_key = b"another key, at least thirty-two bytes long"
    app.config["SECRET_KEY_FALLBACKS"] = [previous]
    try:
        second = interface.get_signing_serializer(app)
        assert second is not first and second.loads(token) == {"a": 1}  # the fallback still reads it
    finally:
        app.secret_key = previous
        app.config["SECRET_KEY_FALLBACKS"] = []
