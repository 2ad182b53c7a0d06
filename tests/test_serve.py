"""`authserver serve` runs the app under gunicorn with the settings from the environment."""

import os

import pytest
import requests

from tests.served import AUTHSERVER
from tests.served import METADATA_PATH
from tests.served import Served


@pytest.mark.skipif(AUTHSERVER is None, reason="the authserver console script is not installed")
def test_serve_answers_on_the_port_with_gunicorn(tmp_path):
    with Served(tmp_path) as server:
        response = requests.get(server.url + METADATA_PATH, timeout=5)
        assert response.status_code == 200
        assert response.json()["token_endpoint"] == f"http://127.0.0.1:{server.port}/oauth/token"
        jwks = requests.get(response.json()["jwks_uri"], timeout=5).json()
        assert len(jwks["keys"]) == 1
        output = server.stop()
    assert "gunicorn" in output.lower() or "Booting worker" in output
    # Keys were generated on first start, private to their owner.
    pem = [name for name in os.listdir(tmp_path / "keys") if name.endswith(".pem")]
    assert len(pem) == 1
    assert os.stat(tmp_path / "keys" / pem[0]).st_mode & 0o077 == 0
