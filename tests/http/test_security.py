"""The issuer is the one public origin (authserver/http/security.py): HSTS when it is https, URLs
naming it whatever Host a request carries, the __Host- session cookie, and nosniff on every JSON answer."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from authserver.http.security import HSTS
from tests.conftest import password_login
from tests.web.conftest import browser
from tests.web.conftest import csrf_token

METADATA = "/.well-known/oauth-authorization-server"
ISSUER = "https://auth.example.com"
HTTPS = {"issuer": ISSUER, "cookie_secure": True}
FOREIGN = "evil.example"


def raw_get(base_url: str, path: str, **headers) -> http.client.HTTPResponse:
    """GET with the path exactly as given (``//a//b`` too) and these headers, Host included."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name.replace("_", "-"), value)
    connection.endheaders()
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


# -- HSTS ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [HTTPS, {}], ids=["https-issuer", "http-issuer"])
def test_hsts_on_every_answer_when_the_issuer_is_https_and_never_when_it_is_http(client, settings_overrides):
    answers = {"metadata": client.get(METADATA), "page": client.get("/signin"), "stylesheet": client.get("/web/static/web.css"),
               "redirect": client.get("/"), "404": client.get("/nowhere"), "token error": client.post("/oauth/token")}
    for name, response in answers.items():
        if settings_overrides:
            assert response.headers.get("Strict-Transport-Security") == HSTS == "max-age=31536000", name
        else:
            assert "Strict-Transport-Security" not in response.headers, name


# -- Host -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{}, {"issuer": ISSUER}, {"issuer": ISSUER, "proxy_hops": 1}],
                         ids=["http-issuer", "https-issuer", "https-issuer-behind-a-proxy"])
def test_a_request_naming_another_host_is_answered_with_the_issuers_urls(live_server, issuer, settings_overrides):
    # The live server listens on 127.0.0.1 on a random port; the issuer names another port or host.
    forged = {"Host": FOREIGN, "X_Forwarded_Host": FOREIGN, "X_Forwarded_Proto": "http"}
    for path, canonical in (("//oauth//jwks", "/oauth/jwks"), ("/.well-known//oauth-authorization-server", METADATA)):
        response = raw_get(live_server, path, **forged)
        assert response.status == 308
        assert response.getheader("Location") == issuer + canonical
    metadata = raw_get(live_server, METADATA, **forged)
    assert metadata.status == 200 and FOREIGN.encode() not in metadata.body  # answered, not refused


@pytest.mark.parametrize("settings_overrides", [{**HTTPS, "proxy_hops": 1}])
def test_a_form_posted_over_https_is_checked_against_the_issuers_origin_not_the_host(app, factory):
    """Flask-WTF compares the Referer of an HTTPS form post with the request's host: that host is the
    issuer's, so a proxy that sends the node's own name as Host does not break signing in, and a
    page on another host is refused."""
    factory.user()
    http = browser(app)
    behind_proxy = {"Host": "auth1:8000", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    page = http.get("/signin", headers=behind_proxy)
    form = {"username": "alice", "password": "correct horse battery staple", "csrf_token": csrf_token(page.text)}
    elsewhere = http.post("/signin", data=form, headers={**behind_proxy, "Referer": f"https://{FOREIGN}/signin"})
    assert elsewhere.status_code == 400
    signed_in = http.post("/signin", data=form, headers={**behind_proxy, "Referer": ISSUER + "/signin"})
    assert signed_in.status_code == 302 and signed_in.location == "/account/devices"


# -- the session cookie ----------------------------------------------------------------------------------
def cookie_attributes(set_cookie: str) -> tuple[str, set[str]]:
    name_value, *attributes = (part.strip() for part in set_cookie.split(";"))
    return name_value.split("=", 1)[0], {attribute.lower() for attribute in attributes}


@pytest.mark.parametrize("settings_overrides", [HTTPS])
def test_the_session_cookie_is_host_prefixed_and_secure_when_the_issuer_is_https(app, factory):
    factory.user()
    http = browser(app)
    page = http.get("/signin", base_url=ISSUER)
    form = {"username": "alice", "password": "correct horse battery staple", "csrf_token": csrf_token(page.text)}
    signed_in = http.post("/signin", base_url=ISSUER, data=form, headers={"Referer": ISSUER + "/signin"})
    assert signed_in.status_code == 302
    cookies = dict(cookie_attributes(header) for header in signed_in.headers.getlist("Set-Cookie"))
    assert "session" not in cookies  # the sign-in page's device cookie is set beside it (Path=/signin)
    attributes = cookies["__Host-session"]
    # What __Host- requires, or the browser drops the cookie: Secure, Path=/, no Domain.
    assert {"secure", "path=/", "httponly", "samesite=lax"} <= attributes
    assert not any(attribute.startswith("domain=") for attribute in attributes)
    assert http.get("/account/devices", base_url=ISSUER).status_code == 200  # signed in with it
    cookie_scheme = app.test_client().get("/openapi.json").json["components"]["securitySchemes"]
    assert [scheme["name"] for scheme in cookie_scheme.values() if scheme.get("in") == "cookie"] == ["__Host-session"]


@pytest.mark.parametrize("settings_overrides", [{}, {"issuer": ISSUER, "cookie_secure": False}],
                         ids=["http-issuer", "https-issuer-cookie-not-secure"])
def test_without_https_and_secure_the_cookie_keeps_its_plain_name(client, settings_overrides):
    name, attributes = cookie_attributes(client.get("/signin").headers["Set-Cookie"])
    assert name == "session" and "secure" not in attributes  # a browser would refuse __Host- without Secure


# -- nosniff ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{}, HTTPS], ids=["http-issuer", "https-issuer"])
def test_every_json_answer_says_nosniff_success_and_error(app, client, factory, settings_overrides):
    app.add_url_rule("/test-boom", "boom", lambda: 1 / 0)
    factory.user()
    registered = factory.client()
    answers = {
        "metadata": client.get(METADATA), "jwks": client.get("/oauth/jwks"), "health": client.get("/healthz"),
        "openapi": client.get("/openapi.json"), "token": password_login(client, registered),
        "wrong password": password_login(client, registered, password="wrong"),
        "no bearer token": client.get("/api/me"), "unknown url": client.get("/nowhere"),
        "wrong method": client.get("/oauth/token"), "server error": client.get("/test-boom"),
    }
    assert [answers[name].status_code for name in ("token", "wrong password", "no bearer token", "unknown url",
                                                   "wrong method", "server error")] == [200, 400, 401, 404, 405, 500]
    for name, response in answers.items():
        assert response.mimetype == "application/json", name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
    assert client.get("/signin").headers["X-Content-Type-Options"] == "nosniff"  # pages keep it
