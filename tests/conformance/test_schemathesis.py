"""schemathesis fuzzes every operation of /openapi.json against a real ``authserver serve``.

Each operation gets the credential its security declares (conformance/schemathesis_hooks.py): a
client's HTTP Basic, a user's bearer token, an administrator's, an administrator's browser
cookie. The checks: no 5xx (``not_a_server_error``), and every status, content type and JSON body
as documented. Examples are bounded (``MAX_EXAMPLES`` per operation and phase, a fixed seed) so
the run stays within a couple of minutes; the README's "Conformance and fuzzing" shows how to run
it by hand with more.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from tests.served import Served

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOOKS = ROOT / "conformance" / "schemathesis_hooks.py"
ST = shutil.which("st", path=os.path.dirname(sys.executable))
PASSWORD = "correct horse battery staple"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 15
UNLIMITED_BUDGETS = {name: 1_000_000 for name in ("login_max_failures", "login_ip_max_failures",
                                                  "login_account_max_failures", "lookup_max_failures")}
GRANTS = ("password", "refresh_token", "authorization_code", "client_credentials",
          "urn:ietf:params:oauth:grant-type:device_code")
SEED = 15


def schemathesis_command(url: str, report_dir: pathlib.Path) -> list[str]:
    return [ST, "run", url + "/openapi.json", "--url", url, "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
            "--workers", "2", "--generation-database", "none", "--request-timeout", "30", "--no-color",
            "--report", "junit", "--report-dir", str(report_dir)]


def test_schemathesis_finds_no_server_error_and_no_mismatch(tmp_path):
    assert ST is not None, "schemathesis is one of the test extras"
    # The fuzzer sends one unknown token after another, and tries passwords with the username
    # GET /api/me gave it: the failure budgets would soon answer every sign-in and client
    # authentication from 127.0.0.1 with 429, the run's own included. Their 429s are tested in
    # tests/accounts/test_throttle.py, tests/oauth and tests/web.
    # Registration open (its budget unlimited too), so that its operations are fuzzed past 404; metadata documents
    # off, so that no generated https client_id is looked up on the network.
    with Served(tmp_path, workers=2, cookie_secure="false", client_registration="open",
                registration_max_per_ip="1000000",
                client_id_metadata_documents="false", **UNLIMITED_BUDGETS) as server:
        _user, _admin, client = server.create_all(
            (server.create_user, "alice", PASSWORD),
            (server.create_user, "admin", PASSWORD, "--admin"),
            # Every grant, so that each of the token endpoint's forms gets past `unauthorized_client`.
            (server.create_client, "--name", "schemathesis",
             *[arg for grant in GRANTS for arg in ("--grant-type", grant)], "--redirect-uri", "http://127.0.0.1:9/callback", "--scope", "openid profile email sessions admin",
             "--introspect"),
        )
        env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "FUZZ_URL": server.url,
               "FUZZ_CLIENT_ID": client["client_id"], "FUZZ_CLIENT_SECRET": client["client_secret"],
               "FUZZ_USER": "alice", "FUZZ_ADMIN": "admin", "FUZZ_PASSWORD": PASSWORD}
        run = subprocess.run(schemathesis_command(server.url, tmp_path / "report"), env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
        output = server.stop()
    assert run.returncode == 0, f"{run.stdout[-30000:]}\n{run.stderr[-5000:]}\n--- server log ---\n{output[-3000:]}"
