"""openid-client (panva's certified OpenID Connect relying party, on Node.js) against a real
``authserver serve``: conformance/js/openid-client.mjs.

The user and the relying party are made with the ``authserver`` command; the script discovers the
server, signs in through the real pages with PKCE, state and a nonce, validates the ID token
(signature included), calls UserInfo, refreshes, tries ``prompt=none`` and ``max_age``, and logs
out (RP-initiated). It
writes conformance/results/openid-client.md and its exit status is the verdict.
"""

from __future__ import annotations

from tests.conformance.node_scripts import RESULTS
from tests.conformance.node_scripts import report_rows
from tests.conformance.node_scripts import run_script
from tests.served import Served

REPORT = RESULTS / "openid-client.md"
PASSWORD = "correct horse battery staple"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never fetched: the script stops at the redirect
SIGNED_OUT_URI = "http://127.0.0.1:9/signed-out"  # likewise, after RP-initiated logout
FLOWS = (
    "discovery (OpenID Connect Discovery 1.0) with the issuer check",
    "authorization code flow with PKCE, state, nonce and iss; the ID token validated",
    "UserInfo (Core 1.0 §5.3)",
    "refresh: a new ID token of the same sign-in and session, without nonce",
    "prompt=none and max_age with the signed-in browser: straight back, auth_time checked",
    "prompt=none with a browser that is not signed in: login_required",
    "RP-initiated logout: the session ends, the browser is signed out, back with state",
)


def test_openid_client_signs_in_validates_calls_userinfo_and_refreshes(node, tmp_path):
    with Served(tmp_path) as server:
        user, relying_party = server.create_all(
            (server.create_user, "alice", PASSWORD, "--email", "alice@example.com"),
            (server.create_client, "--name", "openid-client relying party", "--grant-type", "authorization_code",
             "--grant-type", "refresh_token", "--scope", "openid profile email", "--redirect-uri", REDIRECT_URI,
             "--post-logout-redirect-uri", SIGNED_OUT_URI),
        )
        config = {"server": server.url,
                  "user": {**user, "password": PASSWORD, "email": "alice@example.com"},
                  "client": {**relying_party, "redirect_uri": REDIRECT_URI, "post_logout_redirect_uri": SIGNED_OUT_URI}}
        run = run_script(node, "openid-client", config, tmp_path, REPORT)
        output = server.stop()

    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n--- server ---\n{output[-5000:]}"
    rows = report_rows(REPORT, "openid-client")
    assert set(rows) == set(FLOWS)
    assert all(result.startswith("passed") for result in rows.values()), rows
