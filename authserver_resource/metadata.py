"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for an app protected by authserver, and the
``WWW-Authenticate`` challenges that point clients at it (§5.1).

A client (an MCP client, an AI agent) that calls the resource without a token gets 401 with
``WWW-Authenticate: Bearer resource_metadata="<URL>"``; that document names the resource's URI
(the ``resource`` to ask tokens for, RFC 8707) and ``authorization_servers`` (authserver's issuer,
whose RFC 8414 metadata tells the rest). The document's URL is the resource's with
``/.well-known/oauth-protected-resource`` inserted between host and path (§3.1).
"""

from __future__ import annotations

from urllib.parse import urlsplit

WELL_KNOWN = "/.well-known/oauth-protected-resource"
BEARER_METHODS = ["header"]  # RFC 6750 §2.1 only: no tokens in forms or query strings


def metadata_path(resource: str) -> str:
    """Where the document is served on the resource's own host (§3.1): the well-known prefix, then
    the resource's path (none for a resource at the root)."""
    path = urlsplit(resource).path
    return WELL_KNOWN + ("" if path in ("", "/") else path)


def metadata_url(resource: str) -> str:
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource)}"


def resource_metadata(resource: str, authorization_servers: list[str], scopes_supported: list[str] | None) -> dict:
    """The RFC 9728 §2 document."""
    document = {"resource": resource, "authorization_servers": list(authorization_servers),
                "bearer_methods_supported": BEARER_METHODS}
    if scopes_supported is not None:
        document["scopes_supported"] = list(scopes_supported)
    return document


def challenge(resource: str, error: str | None = None, description: str | None = None,
              scope: str | None = None) -> str:
    """A ``WWW-Authenticate`` value (RFC 6750 §3 with RFC 9728 §5.1's ``resource_metadata``); no
    ``error`` when the request had no token at all (RFC 6750 §3.1)."""
    parts = []
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    if scope:
        parts.append(f'scope="{scope}"')
    parts.append(f'resource_metadata="{metadata_url(resource)}"')
    return "Bearer " + ", ".join(parts)
