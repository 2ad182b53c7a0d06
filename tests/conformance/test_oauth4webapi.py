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
GRANT_FLOWS = {
    "client credentials grant": "client_credentials",
    "authorization code grant with PKCE (S256) and RFC 9207 iss": "authorization_code",
    "device authorization grant (RFC 8628)": "urn:ietf:params:oauth:grant-type:device_code",
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


def report_rows(path: pathlib.Path) -> dict[str, str]:
    """{flow: result} from the report's table."""
    rows = {}
    for line in path.read_text().splitlines():
        if line.startswith("| oauth4webapi"):
            _client, flow, result = (cell.strip() for cell in line.strip("|").split(" | "))
            rows[flow] = result
    return rows


def test_oauth4webapi_passes_every_offered_flow(node, tmp_path):
    with Served(tmp_path) as server:
        user, basic, post, public, introspector = server.create_all(
            (server.create_user, "alice", PASSWORD),
            *[(server.create_client, "--name", f"oauth4webapi {method}", "--grant-type", "password",
               "--grant-type", "refresh_token", "--scope", "profile email", "--auth-method", method)
              for method in ("client_secret_basic", "client_secret_post", "none")],
            (server.create_client, "--name", "resource server", "--grant-type", "refresh_token", "--introspect"),
        )
        config = {"server": server.url, "user": {**user, "password": PASSWORD},
                  "clients": {"basic": basic, "post": post, "public": public, "introspector": introspector}}
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
                 "refresh with rotation; a rotated-out refresh token is refused",
                 "introspection (RFC 7662)", "revocation (RFC 7009)"):
        assert rows[flow].startswith("passed"), (flow, rows[flow])
    # A grant flow runs when the metadata offers the grant, and is reported as not offered otherwise.
    for flow, grant in GRANT_FLOWS.items():
        expected = "passed" if grant in grants else "skipped: not offered"
        assert rows[flow].startswith(expected), (flow, rows[flow])


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
