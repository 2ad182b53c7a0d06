"""oauth4webapi (JavaScript, on Node.js) against a real ``authserver serve``: conformance/js/.

The users and clients are made with the ``authserver`` command, the Node script drives every flow
the server's metadata offers and writes a Markdown report (conformance/results/oauth4webapi.md for
the passing run), and its exit status is the verdict. A server whose issuer setting is wrong must
fail the run at discovery: oauth4webapi checks the metadata's ``issuer`` against the URL it was
configured with (RFC 8414 §3.3).
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest
import requests

from tests.served import METADATA_PATH
from tests.served import Served

ROOT = pathlib.Path(__file__).resolve().parents[2]
JS = ROOT / "conformance" / "js"
REPORT = ROOT / "conformance" / "results" / "oauth4webapi.md"
NODE = shutil.which("node")
PASSWORD = "correct horse battery staple"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never fetched: the script stops at the redirect
GRANT_FLOWS = {
    "client credentials grant": "client_credentials",
    "authorization code grant with PKCE (S256) and RFC 9207 iss": "authorization_code",
    "device authorization grant (RFC 8628)": DEVICE_GRANT,
}


@pytest.fixture(scope="module")
def node():
    """Node.js and the locked packages (`npm ci` in conformance/js, which scripts/test runs)."""
    if NODE is None:
        pytest.fail("Node.js is not installed; ./scripts/test installs it")
    if not (JS / "node_modules" / "oauth4webapi" / "package.json").exists():
        pytest.fail("conformance/js has no node_modules: run `npm ci` there (./scripts/test does)")
    return NODE


def run_oauth4webapi(node, config: dict, folder: pathlib.Path, report: pathlib.Path):
    config_path = folder / "oauth4webapi-run.json"
    config_path.write_text(json.dumps(config))
    return subprocess.run([node, str(JS / "oauth4webapi.mjs"), "--config", str(config_path), "--report", str(report)],
                          cwd=JS, capture_output=True, text=True, timeout=300)


def report_rows(path: pathlib.Path, client: str = "oauth4webapi") -> dict[str, str]:
    """{flow: result} from the report's table."""
    rows = {}
    for line in path.read_text().splitlines():
        if line.startswith(f"| {client}"):
            _client, flow, result = (cell.strip() for cell in line.strip("|").split(" | "))
            rows[flow] = result
    return rows


def test_oauth4webapi_passes_every_offered_flow(node, tmp_path):
    # A device may poll every second, so the device flow waits one second rather than five.
    with Served(tmp_path, device_poll_interval_seconds=1) as server:
        user, basic, post, public, introspector, machine, webapp, device = server.create_all(
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
        )
        config = {"server": server.url, "user": {**user, "password": PASSWORD},
                  "clients": {"basic": basic, "post": post, "public": public, "introspector": introspector,
                              "machine": machine, "webapp": {**webapp, "redirect_uri": REDIRECT_URI},
                              "device": {**device, "auth_method": "none"}}}
        grants = requests.get(server.url + METADATA_PATH, timeout=10).json()["grant_types_supported"]
        run = run_oauth4webapi(node, config, tmp_path, REPORT)
        output = server.stop()

    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n--- server ---\n{output[-5000:]}"
    rows = report_rows(REPORT)
    assert rows and not [flow for flow, result in rows.items() if not result.startswith(("passed", "skipped"))]
    for flow in ("discovery (RFC 8414) with the issuer check",
                 "password grant (genericTokenEndpointRequest), client_secret_basic",
                 "password grant (genericTokenEndpointRequest), client_secret_post",
                 "password grant (genericTokenEndpointRequest), none",
                 "validateJwtAccessToken (RFC 9068) refuses a changed token and another audience",
                 "bearer requests (RFC 6750) to the account API",
                 "refresh with rotation; a rotated-out refresh token is refused",
                 "introspection (RFC 7662)", "revocation (RFC 7009)"):
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
        run = run_oauth4webapi(node, config, tmp_path, tmp_path / "report.md")

    assert run.returncode == 1, run.stdout + run.stderr
    rows = report_rows(tmp_path / "report.md")
    discovery = rows.pop("discovery (RFC 8414) with the issuer check")
    assert discovery.startswith("failed") and '"issuer" property does not match the expected value' in discovery
    assert rows and all(result == "failed: not run, discovery failed" for result in rows.values())
