"""OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3, §4): validated member by member with
Authlib's ``OpenIDProviderMetadata`` (and RP-Initiated Logout's), the same issuer and endpoints as the
RFC 8414 document, and what an OpenID Connect relying party needs besides."""

from __future__ import annotations

from authlib.oidc import discovery
from authlib.oidc import rpinitiated

from authserver.scopes import SUPPORTED

OPENID_CONFIGURATION = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"


def test_discovery_4_the_document_is_valid_openid_provider_metadata(client, issuer):
    response = client.get(OPENID_CONFIGURATION)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    document = discovery.OpenIDProviderMetadata(response.json)
    document.validate(metadata_classes=[rpinitiated.OpenIDProviderMetadata])
    assert document["issuer"] == issuer  # §4.3: exactly the issuer the relying party asked


def test_discovery_3_every_rfc_8414_member_is_the_same_in_both_documents(client):
    oauth = client.get(RFC8414).json
    openid = client.get(OPENID_CONFIGURATION).json
    assert {name: openid[name] for name in oauth} == oauth
    assert openid["response_types_supported"] == ["code"]
    assert {"openid", "profile", "email"} <= set(openid["scopes_supported"]) == set(SUPPORTED)


def test_discovery_3_the_openid_members(client, issuer):
    openid = client.get(OPENID_CONFIGURATION).json
    assert openid["userinfo_endpoint"] == issuer + "/oauth/userinfo"
    assert openid["end_session_endpoint"] == issuer + "/oauth/logout"
    assert openid["id_token_signing_alg_values_supported"] == ["RS256"]
    assert openid["subject_types_supported"] == ["public"]
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "preferred_username",
            "email", "email_verified"} == set(openid["claims_supported"])
    assert openid["prompt_values_supported"] == ["none", "login", "consent"]
    assert openid["response_modes_supported"] == ["query"]
    assert openid["request_uri_parameter_supported"] is False
    assert openid["backchannel_logout_supported"] is True
    assert openid["backchannel_logout_session_supported"] is True


def test_the_rfc_8414_document_stays_without_the_openid_members(client):
    oauth = client.get(RFC8414).json
    assert not {"userinfo_endpoint", "subject_types_supported", "end_session_endpoint"} & set(oauth)
