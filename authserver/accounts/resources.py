"""Which audiences and resources a token may be issued for (RFC 8693 §2.1 ``audience`` and
``resource``, RFC 8707): the one predicate token exchange (``oauth/grants/token_exchange.py``) and
the access-token check (``tokens/access_tokens.py``) ask.

Until the resources store of RFC 8707 (``authserver resources add URI``) is merged, the registered
targets are the server's own audience (``AUTHSERVER_AUDIENCE``) and, as an RFC 8693 ``audience``
(a logical name), the id of a registered client such as a resource server created with
``--introspect``. The store is wired here, and nowhere else, when it lands.
"""

from __future__ import annotations

from ..store.database import db
from ..store.models import Client


def is_registered_target(settings, value: str) -> bool:
    """Whether tokens may be issued for ``value``, an ``audience`` or a ``resource``."""
    if value == settings.token_audience:
        return True
    return db.session.get(Client, value) is not None
