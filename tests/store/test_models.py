"""The rules the rows carry themselves (``store/models.py``): a client authenticates only with its one
method and its secret's digest, uses only its grants, is sent back only to a registered redirect URI
(exactly: no prefix, no other port on a real host), and asks no scope beyond its own; a consent covers
what it granted."""

from __future__ import annotations

import pytest

from authserver.errors import InvalidScopeError
from authserver.store.models import Client
from authserver.store.models import Consent
from authserver.store.models import sha256_hex


def shop(**columns) -> Client:
    defaults = dict(client_id="shop", name="Shop", secret_digest=sha256_hex("s3cret"), auth_method="client_secret_basic",
                    grant_types="authorization_code refresh_token", scope="profile email",
                    redirect_uris="https://shop.example/cb https://shop.example/other", can_introspect=False,
                    post_logout_redirect_uris="https://shop.example/bye")
    return Client(**{**defaults, **columns})


def test_a_secret_is_checked_against_its_digest_only():
    client = shop()
    assert client.check_client_secret("s3cret")
    assert not client.check_client_secret("s3cret ") and not client.check_client_secret("")
    assert not shop(secret_digest=None, auth_method="none").check_client_secret("")


@pytest.mark.parametrize(("method", "endpoint", "expected"), [
    ("client_secret_basic", "token", True),
    ("client_secret_post", "token", False),
    ("none", "token", False),
    ("client_secret_basic", "introspection", False),  # not registered with --introspect
])
def test_a_client_authenticates_with_its_one_method(method, endpoint, expected):
    assert shop().check_endpoint_auth_method(method, endpoint) is expected


def test_introspection_needs_the_right_and_a_secret():
    assert shop(can_introspect=True).check_endpoint_auth_method("client_secret_basic", "introspection")
    public = shop(auth_method="none", secret_digest=None, can_introspect=True)
    assert not public.check_endpoint_auth_method("none", "introspection")


@pytest.mark.parametrize(("uri", "expected"), [
    ("https://shop.example/cb", True),
    ("https://shop.example/other", True),
    ("https://shop.example/cb/", False),
    ("https://shop.example/cb?x=1", False),
    ("https://shop.example:8443/cb", False),
    ("http://shop.example/cb", False),
    ("https://shop.example/c", False),
    ("https://evil.example/cb", False),
])
def test_a_redirect_uri_must_be_one_registered(uri, expected):
    assert shop().check_redirect_uri(uri) is expected


def test_grants_response_type_and_logout_uris_are_the_registered_ones():
    client, backend = shop(), shop(grant_types="client_credentials")
    assert client.check_grant_type("authorization_code") and not client.check_grant_type("password")
    assert client.check_response_type("code") and not client.check_response_type("token")
    assert not backend.check_response_type("code")
    assert client.check_post_logout_redirect_uri("https://shop.example/bye")
    assert not client.check_post_logout_redirect_uri("https://shop.example/cb")
    assert client.get_default_redirect_uri() == "https://shop.example/cb"


def test_a_client_is_never_given_scope_beyond_its_own():
    client = shop()
    assert client.get_allowed_scope("email") == "email"
    assert client.get_allowed_scope("") == ""
    with pytest.raises(InvalidScopeError):
        client.get_allowed_scope("email admin")


def test_a_consent_covers_what_it_granted_and_nothing_else():
    consent = Consent(user_id="u", client_id="shop", scope="profile email")
    assert consent.covers("email") and consent.covers("email profile") and consent.covers("")
    assert not consent.covers("email read")
