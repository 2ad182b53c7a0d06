"""How long public documents may be cached (``http/caching.py``): the metadata documents and the API
description for the fixed document age, the JWKS for as long as its setting says; and nothing
personal is ever marked public."""

from __future__ import annotations

import pytest

from authserver.http.caching import DOCUMENT_MAX_AGE_SECONDS
from authserver.http.paths import JWKS
from authserver.http.paths import METADATA
from authserver.http.paths import OPENAPI_DOCUMENT
from authserver.http.paths import OPENID_CONFIGURATION
from tests.session_helpers import sign_in


@pytest.fixture
def settings_overrides():
    return {"jwks_max_age_seconds": 120}


@pytest.mark.parametrize("path", [METADATA, OPENID_CONFIGURATION, OPENAPI_DOCUMENT])
def test_documents_are_public_for_the_document_age(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.cache_control.public and response.cache_control.max_age == DOCUMENT_MAX_AGE_SECONDS


def test_the_jwks_is_public_for_its_setting(client):
    response = client.get(JWKS)
    assert response.cache_control.public and response.cache_control.max_age == 120


def test_answers_about_a_user_are_never_public(client, registered):
    signed = sign_in(client, registered)
    for response in (client.get("/api/me", headers=signed.headers),
                     client.post("/oauth/token", data={"grant_type": "password"})):
        assert not response.cache_control.public
