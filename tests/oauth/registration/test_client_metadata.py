"""The checks of a self-registering client's metadata (client_metadata.py) without HTTP: the defaults,
the OpenID Connect logout members, and that the rules are the same for a metadata document."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc7591 import InvalidClientMetadataError
from authlib.oauth2.rfc7591 import InvalidRedirectURIError

from authserver.oauth.registration.client_metadata import checked_metadata
from authserver.oauth.registration.metadata_documents import fresh_for
from authserver.oauth.registration.metadata_documents import is_document_url
from authserver.settings import Settings

SETTINGS = Settings()


def test_defaults_a_confidential_code_client_with_the_registration_scopes_named_after_its_host():
    metadata = checked_metadata({"redirect_uris": ["https://agent.example/cb"]}, SETTINGS)
    assert metadata.name == "agent.example" and metadata.grant_types == ["authorization_code"]
    assert metadata.auth_method == "client_secret_basic" and metadata.scope == SETTINGS.registration_scopes


def test_members_sent_as_null_are_members_not_sent():
    metadata = checked_metadata({"redirect_uris": ["https://agent.example/cb"], "contacts": None, "client_uri": None,
                                 "scope": None, "client_name": None, "jwks": None}, SETTINGS)
    assert metadata.scope == SETTINGS.registration_scopes and metadata.echoed == {}


def test_a_device_client_needs_no_redirect_uri():
    metadata = checked_metadata({"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
                                 "token_endpoint_auth_method": "none"}, SETTINGS)
    assert metadata.redirect_uris == [] and metadata.name == "Unnamed app"


def test_logout_uris_are_kept_and_checked_like_redirect_uris():
    metadata = checked_metadata({"redirect_uris": ["https://a.example/cb"], "post_logout_redirect_uris":
                                 ["https://a.example/"], "backchannel_logout_uri": "https://a.example/bc"}, SETTINGS)
    assert metadata.post_logout_redirect_uris == ["https://a.example/"]
    assert metadata.backchannel_logout_uri == "https://a.example/bc"
    with pytest.raises(InvalidRedirectURIError):
        checked_metadata({"redirect_uris": ["https://a.example/cb"], "post_logout_redirect_uris": ["http://a.example/"]},
                         SETTINGS)
    with pytest.raises(InvalidClientMetadataError):
        checked_metadata({"redirect_uris": ["https://a.example/cb"], "backchannel_logout_uri": "com.a.app:/bc"},
                         SETTINGS)


def test_the_registration_scopes_setting_decides_what_may_be_asked_for():
    narrow = Settings(registration_scopes="read")
    with pytest.raises(InvalidClientMetadataError):
        checked_metadata({"redirect_uris": ["https://a.example/cb"], "scope": "openid"}, narrow)
    assert checked_metadata({"redirect_uris": ["https://a.example/cb"]}, narrow).scope == "read"


@pytest.mark.parametrize("client_id, is_document", [
    ("https://agent.example/client.json", True),
    ("https://agent.example/", False),  # no path
    ("https://agent.example", False),
    ("http://agent.example/client.json", False),
    ("https://agent.example/a/../client.json", False),
    ("https://user@agent.example/client.json", False),
    ("https://agent.example/client.json#x", False),
    ("client_abc", False),
    ("https://agent.example/" + "x" * 300, False),  # longer than a client id may be
])
def test_which_client_ids_name_a_metadata_document(client_id, is_document):
    assert is_document_url(client_id) is is_document


@pytest.mark.parametrize("cache_control, seconds", [
    ("max-age=600", 600), ("public, max-age=120", 120), ("max-age=999999", 86_400), ('max-age="60"', 60),
    ("no-store", 0), ("no-cache, max-age=600", 0), (None, 0), ("max-age=abc", 0),
])
def test_a_copy_stays_fresh_as_its_cache_control_says_at_most_a_day(cache_control, seconds):
    assert fresh_for(cache_control) == seconds
