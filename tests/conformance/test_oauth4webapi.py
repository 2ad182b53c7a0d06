"""oauth4webapi (JavaScript, on Node.js) against a real ``authserver serve``: conformance/js/.

The users and clients are made with the ``authserver`` command, the Node script drives every flow
the server's metadata offers and writes a Markdown report (conformance/results/oauth4webapi.md for
the passing run), and its exit status is the verdict. A server whose issuer setting is wrong must
fail the run at discovery: oauth4webapi checks the metadata's ``issuer`` against the URL it was
configured with (RFC 8414 §3.3).
"""

from __future__ import annotations

import requests

from tests.conformance.node_scripts import RESULTS
from tests.conformance.node_scripts import report_rows
from tests.conformance.node_scripts import run_script
from tests.served import METADATA_PATH
from tests.served import Served

REPORT = RESULTS / "oauth4webapi.md"
PASSWORD = "correct horse battery staple"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never fetched: the script stops at the redirect
GRANT_FLOWS = {
    "client credentials grant": "client_credentials",
    "authorization code grant with PKCE (S256) and RFC 9207 iss": "authorization_code",
    "device authorization grant (RFC 8628)": DEVICE_GRANT,
}


def test_oauth4webapi_passes_every_offered_flow(node, tmp_path):
    # A device may poll every second, so the device flow waits one second rather than five.
    with Served(tmp_path, device_poll_interval_seconds=1) as server:
        user, basic, post, public, introspector, machine, webapp, device, dpop = server.create_all(
            (server.create_user, "alice", PASSWORD),
            *[(server.create_client, "--name", f"oauth4webapi {method}", "--grant-type", "password",
               "--grant-type", "refresh_token", "--scope", "profile email", "--auth-method", method,
               *(["--first-party"] if method == "none" else []))  # a public password client: our own app only
              for method in ("client_secret_basic", "client_secret_post", "none")],
            (server.create_client, "--name", "resource server", "--introspect"),
            (server.create_client, "--name", "back end", "--grant-type", "client_credentials", "--scope", "profile"),
            (server.create_client, "--name", "third-party app", "--grant-type", "authorization_code", "--grant-type",
             "refresh_token", "--scope", "profile email", "--redirect-uri", REDIRECT_URI),
            (server.create_client, "--name", "TV app", "--grant-type", DEVICE_GRANT, "--grant-type", "refresh_token",
             "--scope", "profile", "--auth-method", "none"),
            # RFC 9449: a public app that must use DPoP; its tokens are bound to the key it holds.
            (server.create_client, "--name", "DPoP app", "--grant-type", "password", "--grant-type", "refresh_token",
             "--scope", "profile", "--auth-method", "none", "--first-party", "--dpop"),
        )
        config = {"server": server.url, "user": {**user, "password": PASSWORD},
                  "clients": {"basic": basic, "post": post, "public": public, "introspector": introspector,
                              "machine": machine, "webapp": {**webapp, "redirect_uri": REDIRECT_URI},
                              "device": {**device, "auth_method": "none"}, "dpop": dpop}}
        grants = requests.get(server.url + METADATA_PATH, timeout=10).json()["grant_types_supported"]
        run = run_script(node, "oauth4webapi", config, tmp_path, REPORT)
        output = server.stop()

    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n--- server ---\n{output[-5000:]}"
    rows = report_rows(REPORT, "oauth4webapi")
    assert rows and not [flow for flow, result in rows.items() if not result.startswith(("passed", "skipped"))]
    for flow in ("discovery (RFC 8414) with the issuer check",
                 "password grant (genericTokenEndpointRequest), client_secret_basic",
                 "password grant (genericTokenEndpointRequest), client_secret_post",
                 "password grant (genericTokenEndpointRequest), none",
                 "validateJwtAccessToken (RFC 9068) refuses a changed token and another audience",
                 "bearer requests (RFC 6750) to the account API",
                 "refresh with rotation; a rotated-out refresh token is refused",
                 "introspection (RFC 7662)", "revocation (RFC 7009)",
                 "DPoP (RFC 9449): bound tokens got, refreshed and used at /api/me"):
        assert rows[flow].startswith("passed"), (flow, rows[flow])
    # Every grant flow runs: the metadata offers them all (a grant it did not offer would be
    # reported "skipped: not offered").
    assert set(GRANT_FLOWS.values()) <= set(grants)
    for flow in GRANT_FLOWS:
        assert rows[flow].startswith("passed"), (flow, rows[flow])


def test_a_wrong_issuer_setting_fails_the_run_at_discovery(node, tmp_path):
    """The server answers on one URL but is configured with another issuer (a typical proxy or
    deployment mistake): every token it signs and its metadata name the wrong issuer, and the
    client must refuse it."""
    with Served(tmp_path, issuer="https://auth.example.invalid") as server:
        metadata = requests.get(server.url + METADATA_PATH, timeout=10).json()
        assert metadata["issuer"] == "https://auth.example.invalid"  # the server itself runs fine
        config = {"server": server.url, "user": {"id": "-", "username": "alice", "password": PASSWORD},
                  "clients": {}}
        run = run_script(node, "oauth4webapi", config, tmp_path, tmp_path / "report.md")

    assert run.returncode == 1, run.stdout + run.stderr
    rows = report_rows(tmp_path / "report.md", "oauth4webapi")
    discovery = rows.pop("discovery (RFC 8414) with the issuer check")
    assert discovery.startswith("failed") and '"issuer" property does not match the expected value' in discovery
    assert rows and all(result == "failed: not run, discovery failed" for result in rows.values())
