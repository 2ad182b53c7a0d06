"""Client authentication (RFC 6749 §2.3): ``client_secret_basic``, ``client_secret_post`` and ``none``.

Each client authenticates with the one method it was registered with (``Client.check_endpoint_auth_method``);
secrets are compared as SHA-256 digests in constant time (``Client.check_client_secret``).
"""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus


def authenticate_client_secret_basic(query_client, request):
    client_id, client_secret = basic_credentials(request.headers)
    if client_id and client_secret is not None:
        client = query_client(client_id)
        if client is not None and client.check_client_secret(client_secret):
            return client
    return None


def basic_credentials(headers):
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before base64, so '+' is a space."""
    auth = headers.get("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        return None, None
    if "\x00" in decoded:
        return None, None  # no client id or secret holds NUL (and PostgreSQL could not look it up)
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep:
        return unquote_plus(raw_id), None
    return unquote_plus(raw_id), unquote_plus(raw_secret)


def authenticate_client_secret_post(query_client, request):
    client_id = request.form.get("client_id")
    client_secret = request.form.get("client_secret")
    if client_id and client_secret:
        client = query_client(client_id)
        if client is not None and client.check_client_secret(client_secret):
            return client
    return None


def authenticate_none(query_client, request):
    client_id = request.form.get("client_id")
    if client_id and "client_secret" not in request.form and not basic_credentials(request.headers)[0]:
        return query_client(client_id)
    return None
