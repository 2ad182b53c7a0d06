"""The first-party client every web sign-in belongs to: ``authserver-web``, created on first use.

A public client with no grant types: it exists so web sessions have a client like any other
(listed by the API as "authserver web"), but the token endpoint refuses it, so the sign-in page is
the only way in. Web sessions have no refresh token.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from ..accounts import clients
from ..services import current_services
from ..store.clients import find_client
from ..store.database import db
from ..store.models import Client

WEB_CLIENT_ID = "authserver-web"
WEB_CLIENT_NAME = "authserver web"
# `admin` is granted only to admins (scopes.granted_scope); the console checks User.is_admin on each request.
WEB_CLIENT_SCOPE = "profile admin"


def web_client() -> Client:
    client = find_client(WEB_CLIENT_ID)
    return client if client is not None else create_web_client()


def create_web_client() -> Client:
    """Register the web client, or take the one a parallel first sign-in has just registered.

    In a savepoint: losing that race undoes this insert only, not the rest of the request's work.
    """
    try:
        with db.session.begin_nested():
            client, _no_secret = clients.create_client(current_services(), WEB_CLIENT_NAME, [], WEB_CLIENT_SCOPE,
                                                        "none", client_id=WEB_CLIENT_ID)
        return client
    except IntegrityError:
        return find_client(WEB_CLIENT_ID)
