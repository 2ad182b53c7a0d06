"""What the device authorization grant tests (RFC 8628) share: a device client, starting a device
authorization, polling for tokens, and a user entering the code and deciding on the pages."""

from __future__ import annotations

import re

from tests.conftest import token_request
from tests.web.conftest import browser
from tests.web.conftest import csrf_token
from tests.web.conftest import sign_in

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_AUTHORIZATION = "/oauth/device_authorization"
FORM = "application/x-www-form-urlencoded"
USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


def device_client(factory, name="TV app", scope="profile sessions", auth_method="none",
                  grant_types=(DEVICE_GRANT, "refresh_token")):
    return factory.client(name=name, grant_types=grant_types, scope=scope, auth_method=auth_method)


def start(http, registered, headers=None, **form):
    """POST /oauth/device_authorization, authenticating as the client was registered."""
    data, auth_headers = registered.auth(form)
    # The type is sent even for an empty body (a Basic-authenticated client asking for its default
    # scope): the endpoint, like the token endpoint, refuses a body that is not a form.
    return http.post(DEVICE_AUTHORIZATION, data=data, headers={**auth_headers, **(headers or {})},
                     content_type=FORM)


def started(http, registered, **form) -> dict:
    """A device authorization that must succeed: its JSON answer."""
    response = start(http, registered, **form)
    assert response.status_code == 200, response.text
    return response.json


def poll(http, registered, device_code):
    return token_request(http, registered, grant_type=DEVICE_GRANT, device_code=device_code)


def refused_poll(http, registered, device_code) -> str:
    """Poll once; the answer must be a 400: its OAuth error code."""
    response = poll(http, registered, device_code)
    assert response.status_code == 400, response.text
    return response.json["error"]


def signed_in_browser(app, username="alice", ip=None):
    http = browser(app)
    if ip:
        http.environ_base["REMOTE_ADDR"] = ip
    assert sign_in(http, username).status_code == 302
    return http


def enter_code(http, user_code):
    """Type the code on /device and press Continue: the confirm page, or the page again with an error."""
    page = http.get("/device")
    return http.post("/device", data={"csrf_token": csrf_token(page.text), "user_code": user_code})


def decide(http, user_code, decision="approve", typed=None):
    """Enter the code (as ``typed``, if given) and press Approve or Deny on the confirm page."""
    confirm = enter_code(http, typed or user_code)
    assert confirm.status_code == 200, confirm.text
    return http.post("/device/decision", data={"csrf_token": csrf_token(confirm.text),
                                              "user_code": typed or user_code, "decision": decision})


def error_text(html: str) -> str | None:
    match = re.search(r'<p class="notice notice-error" role="alert" id="code-error">(.*?)</p>', html, re.DOTALL)
    return match.group(1).strip() if match else None
