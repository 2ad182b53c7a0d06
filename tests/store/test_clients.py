"""OAuth clients' rows (``store/clients.py``) on SQLite and PostgreSQL: the cached read gives a client
usable after its request is over, an unknown id gives None, and the back-channel logout URIs of many
clients come back in one answer."""

from __future__ import annotations

from authserver.store.clients import backchannel_logout_uris
from authserver.store.clients import find_client
from authserver.store.clients import read_client


def test_a_client_read_for_the_cache_outlives_its_request(app, factory):
    registered = factory.client(name="shop", grant_types=("authorization_code", "refresh_token"),
                                redirect_uris=("https://shop.example/cb",))
    with app.app_context():
        client = read_client(registered.client_id)
    # Used after the app context (and its database session) is gone, as the per-process cache does.
    assert client.client_id == registered.client_id
    assert client.check_redirect_uri("https://shop.example/cb")
    assert client.check_client_secret(registered.client_secret)
    assert not client.check_client_secret("wrong")
    with app.app_context():
        assert read_client("no-such-client") is None
        assert find_client("no-such-client") is None
        assert find_client(registered.client_id).client_id == registered.client_id


def test_back_channel_logout_uris_are_given_for_the_clients_that_have_one(app, factory):
    with_uri = factory.client(name="rp", backchannel_logout_uri="https://rp.example/logout")
    without = factory.client(name="plain")
    with app.app_context():
        assert backchannel_logout_uris({with_uri.client_id, without.client_id, "unknown"}) == {
            with_uri.client_id: "https://rp.example/logout"}
        assert backchannel_logout_uris(set()) == {}
