"""Protected resources (RFC 8707 resource indicators): registering the APIs and MCP servers tokens
may be asked for, and which of them a request names (their rows are ``store/resources.py``).

A resource is identified by an absolute URI without a fragment (RFC 8707 §2), compared as an exact
string: the `resource` a client sends must be one registered, character for character. A token asked
for resources has ``aud`` = them (``oauth/grants/base.py``) and only the scopes they allow
(``scopes.granted_scope``). A grant remembers the resources it was authorized for, with the code, the
device authorization and then the device session; a later token request (code exchange, device
poll, refresh) may name any of those, never another. Nothing here commits.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import AccountError
from ..errors import TargetInvalid
from ..store.models import Resource
from ..store.resources import add_resource
from ..store.resources import all_resources
from ..store.resources import get_resource
from ..store.resources import resources_named
from .clients import check_scope

MAX_URI_LENGTH = 2048


def is_resource_uri(uri: str) -> bool:
    """Absolute (a scheme, and a host for http/https), no fragment, printable and without spaces."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if not parts.scheme or "#" in uri or not uri.isprintable() or " " in uri or len(uri) > MAX_URI_LENGTH:
        return False
    return parts.scheme.lower() not in ("http", "https") or bool(parts.hostname)


def register_resource(uri: str, name: str | None, scope: str | None, now) -> Resource:
    """``authserver resources add``: an http(s) URI without a fragment, registered once."""
    if not is_resource_uri(uri) or urlsplit(uri).scheme not in ("http", "https"):
        raise AccountError(f"{uri!r} is not a resource URI: it must be an absolute http or https URI "
                           "without a fragment (RFC 8707 §2)")
    if scope is not None:
        check_scope(scope)
        scope = " ".join(dict.fromkeys(scope.split()))
    if get_resource(uri) is not None:
        raise AccountError(f"the resource {uri} is already registered")
    return add_resource(Resource(uri=uri, name=name or None, scope=scope, created_at=now))


def list_resources() -> list[Resource]:
    return all_resources()


def requested(values: list[str] | None) -> list[str]:
    """The ``resource`` parameters of a request, each once, in order; ``invalid_target`` for one that
    is relative or has a fragment."""
    uris = list(dict.fromkeys(values or ()))
    if not all(is_resource_uri(uri) for uri in uris):
        raise TargetInvalid("A resource must be an absolute URI without a fragment.")
    return uris


def registered(values: list[str] | None) -> list[Resource]:
    """The registered resources a request names (one query); ``invalid_target`` for any other."""
    uris = requested(values)
    found = resources_named(uris)
    if len(found) != len(uris):
        raise TargetInvalid("The requested resource is not known to this server.")
    return [found[uri] for uri in uris]


def within_grant(values: list[str] | None, authorized: str | None) -> list[str]:
    """What a code exchange, a device poll or a refresh asks for: the named resources if the grant was
    authorized for each (``authorized``, space-separated), else ``invalid_target``; none named: all of
    the grant's. No query: the grant's resources ride on the row already read."""
    granted = authorized.split() if authorized else []
    uris = requested(values)
    if not set(uris) <= set(granted):
        raise TargetInvalid("The requested resource was not authorized for this grant.")
    return uris or granted


def described(authorized: str | None) -> list[tuple[str, str]]:
    """(name, URI) of a grant's resources, for the pages that ask the user (one query; none: no query)."""
    uris = authorized.split() if authorized else []
    found = resources_named(uris)
    return [((found[uri].name if uri in found else None) or uri, uri) for uri in uris]


def stored(uris) -> str | None:
    """A grant's resources as stored: space-separated (URIs hold no space), or NULL for none."""
    return " ".join(uris) or None
