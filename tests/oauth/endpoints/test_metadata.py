"""Authorization server metadata (RFC 8414 §2): `scopes_supported` lists the scopes this server
defines, never the scopes clients happen to be registered with."""

from authserver.scopes import SUPPORTED

METADATA_PATH = "/.well-known/oauth-authorization-server"


def test_rfc8414_scopes_supported_are_the_scopes_the_server_defines(client):
    scopes = client.get(METADATA_PATH).json["scopes_supported"]
    assert scopes == sorted(SUPPORTED)  # before: [] while no client was registered
    assert {"profile", "email", "sessions", "admin"} <= set(scopes)


def test_rfc8414_scopes_supported_do_not_list_the_scopes_of_registered_clients(client, factory):
    before = client.get(METADATA_PATH).json["scopes_supported"]
    factory.client(name="Billing", scope="profile billing:read internal:payroll")
    factory.client(name="Integrator", scope="partner-acme-export", grant_types=("client_credentials",))
    scopes = client.get(METADATA_PATH).json["scopes_supported"]
    assert scopes == before
    assert not {"billing:read", "internal:payroll", "partner-acme-export"} & set(scopes)
