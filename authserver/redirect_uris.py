"""Redirect URIs: the one rule for which a client may register, and the one rule for when a redirect URI
presented at the authorization and token endpoints matches a registered one.

Registering (RFC 6749 §3.1.2, RFC 8252 §7; :func:`operator_refusal`, for ``clients create``): absolute,
no fragment, never a scheme a browser would run (``javascript:``, ``data:``...). A self-registering client (RFC 7591) is held to more
(:func:`registration_refusal`): ``https``; ``http`` only on loopback (``127.0.0.1``, ``[::1]``,
``localhost``: RFC 8252 §7.3, §8.3); or a private-use scheme in reverse-domain form (RFC 8252 §7.1,
``com.example.app:/callback``), since anyone may register and a plain ``http`` URL on another host
would hand codes to whoever sits on the network.

Matching (:func:`matches`): exactly, character for character (RFC 9700 §4.1.3), except that a
registered loopback URI matches the same scheme, host, path and query on any port (RFC 8252 §7.3: a
native app or CLI listens on whatever port the system gives it). Nothing else is relaxed.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Schemes a browser would run rather than navigate to: never a place to send a code or token.
EXECUTABLE_SCHEMES = {"javascript", "data", "vbscript", "file", "blob", "about"}
# RFC 8252 §7.3 / §8.3: the loopback hosts, as written in a URL, with an optional port.
LOOPBACK_NETLOC = re.compile(r"(?P<host>127\.0\.0\.1|\[::1\]|localhost)(?::(?P<port>[0-9]{1,5}))?")
# RFC 3986 §3.1 scheme; RFC 8252 §7.1 wants a reverse domain name, so at least one dot.
PRIVATE_USE_SCHEME = re.compile(r"[a-z][a-z0-9+\-]*(\.[a-z0-9+\-]+)+")


def _plain(uri: str) -> bool:
    """No character that URL parsers drop or read differently (spaces, tabs, line breaks, backslashes)."""
    return uri.isprintable() and " " not in uri and "\\" not in uri


def loopback_host(uri: str) -> str | None:
    """The loopback host of an http(s) URL as written (``127.0.0.1``, ``[::1]``, ``localhost``), or None."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    found = LOOPBACK_NETLOC.fullmatch(parts.netloc)
    if found is None or (found["port"] is not None and int(found["port"]) > 65_535):
        return None
    return found["host"]


def operator_refusal(uri: str) -> str | None:
    """Why an operator may not register ``uri`` (``clients create``) as a redirect URI, or None if it may:
    RFC 6749 §3.1.2, absolute and without a fragment, never a scheme a browser would run; any
    private-use scheme a native app needs (RFC 8252)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    if (parts is None or not parts.scheme or parts.fragment or "#" in uri or not uri.isprintable() or " " in uri
            or parts.scheme.lower() in EXECUTABLE_SCHEMES
            or (parts.scheme.lower() in ("http", "https") and not parts.hostname)):
        return "it must be absolute, without a fragment"
    return None


def registration_refusal(uri: str) -> str | None:
    """Why a self-registering client may not register ``uri`` as a redirect URI, or None if it may."""
    if not isinstance(uri, str) or not uri or not _plain(uri) or len(uri) > 2000:
        return "a redirect URI is a URL of at most 2000 printable characters without spaces"
    if "#" in uri:
        return "a redirect URI must not have a fragment"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "not a URL"
    scheme = uri.split(":", 1)[0]
    if not parts.scheme or scheme != parts.scheme:
        return "a redirect URI must be absolute, its scheme in lower case"
    if scheme in EXECUTABLE_SCHEMES:
        return f"{scheme}: is not a redirect URI"
    if scheme == "https":
        if not parts.hostname or parts.username is not None or parts.password is not None:
            return "an https redirect URI needs a host, and no user name or password"
        return None
    if scheme == "http":
        if loopback_host(uri) is None:
            return "an http redirect URI must be on loopback (127.0.0.1, [::1] or localhost); use https"
        return None
    if not PRIVATE_USE_SCHEME.fullmatch(scheme):
        return "a native app's redirect URI uses a private-use scheme in reverse-domain form (com.example.app:/cb)"
    return None


def matches(registered: str, presented: str) -> bool:
    """Whether ``presented`` is ``registered``: the same string, or for a loopback ``registered``
    the same scheme, host, path and query on any port (RFC 8252 §7.3)."""
    if presented == registered:
        return True
    host = loopback_host(registered)
    if host is None or not _plain(presented) or "#" in presented or loopback_host(presented) != host:
        return False
    wanted, given = urlsplit(registered), urlsplit(presented)
    return (presented.split(":", 1)[0] == registered.split(":", 1)[0]
            and given.path == wanted.path and given.query == wanted.query
            and ("?" in presented) == ("?" in registered))
