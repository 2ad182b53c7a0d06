"""Where each endpoint others link to is served (``http/paths.py``): every named path is served by the
app, and the metadata documents point at exactly these paths under the issuer."""

from __future__ import annotations

import re

import pytest

from authserver.http import paths

NAMED = {name: value for name, value in vars(paths).items() if name.isupper()}


@pytest.fixture
def settings_overrides():
    return {"client_registration": "open"}  # the registration endpoints are served only then


def test_every_named_path_is_served(client):
    for name, rule in NAMED.items():
        path = re.sub(r"<[^>]+>", "x", rule)  # a path parameter, e.g. a client id
        responses = [client.get(path), client.post(path)]
        assert any(r.status_code != 404 for r in responses), f"{name} {rule} is not served"


def test_the_metadata_points_at_the_named_paths(client, issuer):
    metadata = client.get(paths.METADATA).json
    assert metadata["authorization_endpoint"] == issuer + paths.AUTHORIZATION
    assert metadata["token_endpoint"] == issuer + paths.TOKEN
    assert metadata["revocation_endpoint"] == issuer + paths.REVOCATION
    assert metadata["introspection_endpoint"] == issuer + paths.INTROSPECTION
    assert metadata["jwks_uri"] == issuer + paths.JWKS
    assert metadata["device_authorization_endpoint"] == issuer + paths.DEVICE_AUTHORIZATION
    discovery = client.get(paths.OPENID_CONFIGURATION).json
    assert discovery["userinfo_endpoint"] == issuer + paths.USERINFO
    assert discovery["end_session_endpoint"] == issuer + paths.END_SESSION
