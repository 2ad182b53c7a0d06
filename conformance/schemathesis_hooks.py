"""Credentials for fuzzing authserver with schemathesis: each operation is called the way its
security declares (``authserver/openapi.py``), picked by its tag.

| tag | credential |
| --- | --- |
| ``oauth`` (token, revocation, introspection; metadata and JWKS ignore it) | the client's HTTP Basic |
| ``account`` | a user's bearer token (password grant, scope ``openid profile email sessions``: UserInfo too) |
| ``admin`` | an administrator's bearer token (password grant, scope ``admin``) |
| ``web`` | an administrator's signed-in browser cookie (``/signin``), and its CSRF token in every form |

With a valid CSRF token the fuzzer gets past the form check into the pages' own handling, except
where that would break the run's own credentials for good: ``POST /account/signout`` and the
end-session page's confirmation (``POST /oauth/logout``: the browser session the run uses) and disabling a user in the console (the fuzzer reads ``alice`` from
``GET /api/me``; a disabled user cannot sign in again). The fuzzer may
also end the very session a token belongs to (``DELETE /api/sessions/{id}`` with an id it read
from ``GET /api/sessions``): a 401 makes schemathesis fetch a new token, i.e. sign in again, and
replay the request. Load with ``SCHEMATHESIS_HOOKS=conformance/schemathesis_hooks.py``; the
environment names the server and the accounts:

    FUZZ_URL, FUZZ_CLIENT_ID, FUZZ_CLIENT_SECRET (a client with the password grant, scopes
    including admin, --introspect), FUZZ_USER, FUZZ_ADMIN (usernames), FUZZ_PASSWORD (both users')
"""

from __future__ import annotations

import os
import re

import requests
import schemathesis

URL = os.environ["FUZZ_URL"]
CLIENT = (os.environ["FUZZ_CLIENT_ID"], os.environ["FUZZ_CLIENT_SECRET"])


def password_grant(username: str, scope: str) -> str:
    response = requests.post(URL + "/oauth/token", auth=CLIENT, timeout=30, data={
        "grant_type": "password", "username": username, "password": os.environ["FUZZ_PASSWORD"], "scope": scope,
        "device_name": "schemathesis"})
    response.raise_for_status()
    return response.json()["access_token"]


def set_header(case, name: str, value: str) -> None:
    case.headers = {**(case.headers or {}), name: value}


@schemathesis.auth(refresh_interval=None).apply_to(tag="oauth")
class ClientBasic:
    def get(self, case, context):
        return requests.auth._basic_auth_str(*CLIENT)

    def set(self, case, data, context):
        set_header(case, "Authorization", data)


@schemathesis.auth().apply_to(tag="account")
class UserToken:
    def get(self, case, context):
        return password_grant(os.environ["FUZZ_USER"], "openid profile email sessions")

    def set(self, case, data, context):
        set_header(case, "Authorization", f"Bearer {data}")


@schemathesis.auth().apply_to(tag="admin")
class AdminToken:
    def get(self, case, context):
        return password_grant(os.environ["FUZZ_ADMIN"], "profile admin")

    def set(self, case, data, context):
        set_header(case, "Authorization", f"Bearer {data}")


NO_CSRF = {"/account/signout", "/oauth/logout", "/console/users/{username}/disable"}


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@schemathesis.auth(retry_on=[]).apply_to(tag="web")
class BrowserCookie:
    def get(self, case, context):
        """(cookie, CSRF token) of a browser the administrator signed in with."""
        browser = requests.Session()
        response = browser.post(URL + "/signin", allow_redirects=False, timeout=30, data={
            "csrf_token": csrf_token(browser.get(URL + "/signin", timeout=30).text),
            "username": os.environ["FUZZ_ADMIN"], "password": os.environ["FUZZ_PASSWORD"]})
        assert response.status_code == 302, f"signing in answered {response.status_code}"
        csrf = csrf_token(browser.get(URL + "/account/devices", timeout=30).text)  # may renew the cookie
        return browser.cookies["session"], csrf

    def set(self, case, data, context):
        cookie, csrf = data
        set_header(case, "Cookie", f"session={cookie}")
        if isinstance(case.body, dict) and context.operation.path not in NO_CSRF:
            case.body = {**case.body, "csrf_token": csrf}
