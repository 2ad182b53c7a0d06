"""One outbound HTTP exchange, safe to aim at a URL someone else chose (a client's back-channel logout
URI, a stream's push endpoint), and what its answer means for an outbox message.

The receiver is untrusted, so the exchange:

- **goes only where it was checked.** The host is resolved here, every address is checked, and the
  connection is made to a checked address, never to a name resolved again later (which a rebinding
  DNS could answer differently). Loopback, private, link-local, multicast and other non-global
  addresses are refused unless ``AUTHSERVER_OUTBOUND_ALLOW_PRIVATE`` is true: a URL must not let
  anyone reach the server's own network. The request still names the host (``Host``, TLS SNI, and
  the certificate is checked against it). Environment proxies are ignored, so that nothing routes
  around the check.
- **never waits long.** Connecting, sending and each read time out after
  ``AUTHSERVER_OUTBOUND_TIMEOUT_SECONDS``, and the whole exchange is cut at that same deadline
  however slowly the receiver drips its answer (:class:`_Deadline`), so a worker's lease
  (``store/outbox.py``) always outlasts the delivery it covers.
- **follows no redirect** and **reads at most** :data:`RESPONSE_BYTES_READ` of the answer's body,
  undecoded: a receiver cannot make the server fetch elsewhere or swallow a large or compressed body.

:func:`exchange` makes the request (any method, so a metadata document fetch can use it too);
:func:`deliver` posts an outbox message and says whether it was acknowledged, is worth retrying, or
never will be delivered.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from dataclasses import dataclass

import httpx

from ..store.outbox import statuses

# The answer's body is only ever shown in an error; a receiver may send gigabytes.
RESPONSE_BYTES_READ = 4096
USER_AGENT = "authserver"
# Not acknowledged, but worth trying again: the receiver is busy, rate-limiting or timing out
# (RFC 9110 §15.5.9, RFC 6585 §4, RFC 8470 §5.2). Any other 4xx says the message itself was refused.
RETRYABLE_CLIENT_ERRORS = (408, 425, 429)

DELIVERED = "delivered"
RETRY = "retry"
GIVE_UP = "give_up"

# Built once: loading the CA bundle for every delivery would cost more than the delivery. certifi's CAs,
# or SSL_CERT_FILE / SSL_CERT_DIR's (a private CA); the clients below ignore the environment's proxies.
_TLS = httpx.create_ssl_context()


class Refused(Exception):
    """The target may not be contacted at all (its scheme, a non-public address): retrying cannot help."""


class Unreachable(Exception):
    """No answer this time (name not resolved, connection refused or reset, timeout): worth retrying."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes  # at most RESPONSE_BYTES_READ of it
    address: str  # the checked address it came from


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery attempt: ``DELIVERED``, ``RETRY`` or ``GIVE_UP``, and why."""

    result: str
    reason: str
    status: int | None = None
    retry_after_seconds: int | None = None  # the receiver's Retry-After, when it sent one


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (tests replace this)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is on the public internet (not loopback, private, link-local, multicast,
    shared, reserved or unspecified). An IPv4 address written as IPv6 (``::ffff:10.0.0.1``) is
    judged as the IPv4 address it is."""
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def checked_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``. Refused if any of them is not public (a name that
    resolves to both is not to be trusted with either) unless ``allow_private``."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as error:
            raise Unreachable(f"cannot resolve {host}: {error}") from error
        if not addresses:
            raise Unreachable(f"cannot resolve {host}: no address")
    if not allow_private:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address.split("%", 1)[0])):
                raise Refused(f"{host} is at {address}, not a public address (AUTHSERVER_OUTBOUND_ALLOW_PRIVATE)")
    return addresses


def exchange(method: str, url: str, *, timeout_seconds: float, allow_private: bool, body: bytes | None = None,
             headers: dict | None = None, max_body: int = RESPONSE_BYTES_READ) -> Answer:
    """Make one request to ``url`` as the module docstring says. Raises :class:`Refused` or
    :class:`Unreachable`; any answer, whatever its status, is returned."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise Refused(f"not a URL: {error}") from error
    if target.scheme not in ("http", "https") or not target.host:
        raise Refused("only http and https URLs are delivered to")
    if target.userinfo:
        raise Refused("a URL with credentials in it")
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    deadline = time.monotonic() + timeout_seconds
    addresses = checked_addresses(host, port, allow_private)
    failure = None
    for address in addresses:  # the next address only when this one cannot be connected to
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return _exchange_with(address, target, method, body, headers or {}, remaining, max_body)
        except _ConnectFailed as error:
            failure = error.__cause__
    raise Unreachable(f"cannot connect to {host}: {_describe(failure) if failure else 'timed out'}")


class _ConnectFailed(Exception):
    pass


def _exchange_with(address: str, target: httpx.URL, method: str, body, headers: dict, seconds: float,
                   max_body: int) -> Answer:
    request_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers,
                       "Host": target.netloc.decode("ascii")}
    deadline = _Deadline(seconds)
    with httpx.Client(verify=_TLS, trust_env=False, follow_redirects=False, timeout=httpx.Timeout(seconds),
                      limits=httpx.Limits(max_keepalive_connections=0)) as client:
        request = client.build_request(
            method, target.copy_with(host=address), content=body, headers=request_headers,
            # SNI and the certificate check name the host, not the address connected to.
            extensions={"sni_hostname": target.raw_host.decode("ascii"), "trace": deadline.trace})
        deadline.start()
        try:
            response = client.send(request, stream=True)
            try:
                received = _read_at_most(response, max_body)
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise _ConnectFailed() from error
        except httpx.HTTPError as error:
            if deadline.expired:
                raise Unreachable(f"no complete answer within {seconds:.0f} s") from error
            raise Unreachable(_describe(error)) from error
        finally:
            deadline.cancel()
    return Answer(status=response.status_code, headers=response.headers, body=received, address=address)


def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    received = bytearray()
    for chunk in response.iter_raw():
        received += chunk
        if len(received) >= limit:
            break  # the rest stays unread: closing the response drops the connection
    return bytes(received[:limit])


class _Deadline:
    """Cuts an exchange at its deadline however the receiver paces it: httpx's timeouts bound each
    step (connect, each read), not their sum. When the time is up the socket is shut down, which
    ends the read that is waiting on it. The socket is learned from httpx's ``trace`` extension."""

    def __init__(self, seconds: float):
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self._socket = None
        self.expired = False

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            with self._lock:
                self._socket = info["return_value"].get_extra_info("socket")
                if self.expired:
                    self._shut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


def _describe(error: BaseException) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return str(error) or type(error).__name__


# -- an outbox message ---------------------------------------------------------------------------
def deliver(message, *, timeout_seconds: float, allow_private: bool) -> Outcome:
    """POST an outbox message (a row of ``store/outbox.py``) once, and classify the answer:
    acknowledged (one of the message's ``acknowledge`` statuses), worth retrying (no answer, a 5xx,
    a redirect, which is never followed, 408, 425 or 429), or never deliverable (a refused target,
    any other 4xx: the receiver rejected the message itself)."""
    headers = {**json.loads(message.headers or "{}"), "Content-Type": message.content_type}
    try:
        answer = exchange("POST", message.url, body=message.body, headers=headers, timeout_seconds=timeout_seconds,
                          allow_private=allow_private)
    except Refused as error:
        return Outcome(GIVE_UP, f"refused: {error}")
    except Unreachable as error:
        return Outcome(RETRY, str(error))
    status = answer.status
    if status in statuses(message.acknowledge):
        return Outcome(DELIVERED, f"HTTP {status}", status)
    if 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
        return Outcome(GIVE_UP, f"rejected: HTTP {status} {_excerpt(answer.body)}".rstrip(), status)
    reason = f"HTTP {status}"
    if 300 <= status < 400:
        reason += f", a redirect (not followed) to {answer.headers.get('Location', '?')[:100]}"
    return Outcome(RETRY, f"{reason} {_excerpt(answer.body)}".rstrip(), status, _retry_after(answer.headers))


def _excerpt(body: bytes) -> str:
    text = body[:120].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()


def _retry_after(headers: httpx.Headers) -> int | None:
    value = headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None  # the HTTP-date form is rare enough to ignore
