"""accounts/clients.py: the rules for registering OAuth clients (RFC 6749 §2, §3.1.2, §3.3), and the
per-process cache every token request looks its client up in."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy import select

from authserver.accounts import clients
from authserver.errors import AccountError
from authserver.store.database import db
from authserver.store.models import Client
from authserver.store.models import sha256_hex


@pytest.fixture
def services(app):
    return app.extensions["authserver"]


def register(app, services, name="app", grant_types=("password",), scope="profile", auth_method="client_secret_basic",
             redirect_uris=(), introspect=False):
    with app.app_context():
        client, secret = clients.create_client(services, name, list(grant_types), scope, auth_method,
                                               list(redirect_uris), introspect)
        db.session.commit()
        return client.client_id, secret


@pytest.mark.parametrize(("changes", "message"), [
    ({"auth_method": "private_key_jwt"}, "auth method must be one of client_secret_basic, client_secret_post, none"),
    ({"name": "   "}, "the client needs a name"),
    ({"name": "x" * 201}, "at most 200 printable characters"),
    ({"name": "tab\there"}, "at most 200 printable characters"),
    ({"scope": 'profile "quoted"'}, "is not a scope"),
    ({"scope": "back\\slash"}, "is not a scope"),
    ({"grant_types": ("authorization_code",)}, "the authorization_code grant needs at least one --redirect-uri"),
    ({"redirect_uris": ("/relative",)}, "is not a redirect URI"),
    ({"redirect_uris": ("https://app.example/cb#fragment",)}, "is not a redirect URI"),
    ({"redirect_uris": ("javascript:alert(1)",)}, "is not a redirect URI"),
    ({"redirect_uris": ("https:///no-host",)}, "is not a redirect URI"),
    ({"auth_method": "none", "introspect": True}, "a public client \\(auth method none\\) cannot introspect"),
])
def test_a_client_that_cannot_be_registered_is_refused_with_why(app, services, changes, message):
    with pytest.raises(AccountError, match=message):
        register(app, services, **changes)


def test_the_secret_is_shown_once_and_stored_as_a_digest(app, services):
    client_id, secret = register(app, services, grant_types=("password", "password", "refresh_token"),
                                 scope="profile profile email")
    assert client_id.startswith("client_") and len(secret) >= 43
    with app.app_context():
        row = db.session.get(Client, client_id)
        assert row.secret_digest == sha256_hex(secret) and secret not in row.secret_digest
        assert row.check_client_secret(secret) and not row.check_client_secret(secret + "x")
        assert (row.grant_types, row.scope) == ("password refresh_token", "profile email")  # repeats dropped


def test_a_public_client_has_no_secret_and_a_native_app_may_use_its_own_scheme(app, services):
    client_id, secret = register(app, services, grant_types=("authorization_code",), auth_method="none",
                                 redirect_uris=("com.example.app:/oauth/callback", "http://127.0.0.1/cb"))
    assert secret is None
    with app.app_context():
        row = db.session.get(Client, client_id)
        assert row.is_public and row.secret_digest is None
        assert row.redirect_uri_list == ["com.example.app:/oauth/callback", "http://127.0.0.1/cb"]


def test_the_cache_reads_a_registered_client_at_once_as_an_object_of_no_database_session(app, services):
    cache = clients.ClientCache(seconds=5, monotonic=lambda: 100.0)
    client_id, _ = register(app, services)
    with app.app_context():
        cached = cache.get(client_id)
        assert cached.client_id == client_id and inspect(cached).transient  # shared by threads, never attached
        assert cache.get(client_id) is cached


def test_an_unknown_client_is_not_remembered_as_unknown(app, services):
    cache = clients.ClientCache(seconds=5, monotonic=lambda: 100.0)
    with app.app_context():
        assert cache.get("client_later") is None
        client, _ = clients.create_client(services, "later", ["password"], "", "client_secret_basic",
                                          client_id="client_later")
        db.session.commit()
        assert cache.get("client_later").name == "later"  # found at once, not after the cache time


def test_the_cache_stays_bounded(app, services, monkeypatch):
    monkeypatch.setattr(clients.ClientCache, "MAX_ENTRIES", 2)
    cache = clients.ClientCache(seconds=5, monotonic=lambda: 100.0)
    ids = [register(app, services, name=f"app {number}")[0] for number in range(3)]
    with app.app_context():
        for client_id in ids:
            assert cache.get(client_id).client_id == client_id
        assert len(cache._entries) <= 2
        assert db.session.scalar(select(db.func.count()).select_from(Client)) == 3
