"""A real HTTP receiver on 127.0.0.1 for the outbound tests (and for serving metadata documents): it answers
as told (a status, a redirect, megabytes, nothing at all for a while, a trickle) and records what it received."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from dataclasses import field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float  # time.monotonic()


@dataclass
class Behaviour:
    status: int = 200
    body: bytes = b"ok"
    headers: dict = field(default_factory=dict)
    hang_seconds: float = 0.0  # wait this long before answering (released early by Receiver.release)
    trickle_seconds: float = 0.0  # send a 200 one byte at a time, this far apart (some 14 s at 0.2)
    body_bytes: int = 0  # stream this many bytes of body instead of `body`
    handle_seconds: float = 0.0  # take this long to answer (a busy receiver)


class Receiver:
    def __init__(self, port: int = 0, tls_context: ssl.SSLContext | None = None):
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        self.sent_bytes = 0  # of a streamed body, before the client went away
        self.in_flight = 0
        self.most_in_flight = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                try:
                    receiver.answer(self)
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            do_GET = do_POST  # a metadata document fetched: recorded and answered alike

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 128  # workers connect many at once; the default 5 would refuse some

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls_context else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def answer(self, handler) -> None:
        behaviour = self.behaviour
        if behaviour.hang_seconds:
            self.stopping.wait(behaviour.hang_seconds)
        if behaviour.handle_seconds:
            time.sleep(behaviour.handle_seconds)
        try:
            if behaviour.trickle_seconds:
                # A whole answer, one byte at a time: each byte in time, the whole far too late.
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 20 + b"\r\nContent-Length: 2\r\n\r\nok":
                    if self.stopping.wait(behaviour.trickle_seconds):
                        return
                    handler.wfile.write(bytes([byte]))
                    handler.wfile.flush()
                return
            handler.send_response(behaviour.status)
            for name, value in behaviour.headers.items():
                handler.send_header(name, value)
            length = behaviour.body_bytes or len(behaviour.body)
            handler.send_header("Content-Length", str(length))
            handler.end_headers()
            if not behaviour.body_bytes:
                handler.wfile.write(behaviour.body)
                return
            chunk = b"x" * 65536
            while self.sent_bytes < behaviour.body_bytes:
                handler.wfile.write(chunk)
                self.sent_bytes += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what the big-body test expects

    def release(self) -> None:
        """Let every hanging or trickling answer go."""
        self.stopping.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def self_signed_certificate(tmp_path, hostname):
    """(certificate file, key file) of a self-signed certificate for ``hostname``, for a TLS receiver."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def nothing_listening_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The receivers are on loopback; a short timeout keeps a hanging or down receiver's attempt short.
RECEIVER_SETTINGS = {"outbound_allow_private": True, "outbound_timeout_seconds": 1}
