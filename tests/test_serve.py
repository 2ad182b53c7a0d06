"""`authserver serve` runs the app under gunicorn with the settings from the environment."""

import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import free_port

AUTHSERVER = shutil.which("authserver", path=os.path.dirname(sys.executable))


@pytest.mark.skipif(AUTHSERVER is None, reason="the authserver console script is not installed")
def test_serve_answers_on_the_port_with_gunicorn(tmp_path):
    port = free_port()
    env = {**os.environ, "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path}/a.db",
           "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"), "AUTHSERVER_ISSUER": f"http://127.0.0.1:{port}"}
    subprocess.run([AUTHSERVER, "db", "upgrade"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([AUTHSERVER, "serve", "--port", str(port), "--workers", "1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["token_endpoint"] == f"http://127.0.0.1:{port}/oauth/token"
        jwks = requests.get(response.json()["jwks_uri"], timeout=5).json()
        assert len(jwks["keys"]) == 1
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "gunicorn" in output.lower() or "Booting worker" in output
    # Keys were generated on first start, private to their owner.
    pem = [name for name in os.listdir(tmp_path / "keys") if name.endswith(".pem")]
    assert len(pem) == 1
    assert os.stat(tmp_path / "keys" / pem[0]).st_mode & 0o077 == 0
