"""The signing key ring (RS256 keys in ``keys/``) and the other server secrets kept beside it.

Keys are parsed once per process and re-read only when the folder changes (``keys rotate`` in
another process): importing an RSA PEM costs tens of milliseconds, far too much per token. With each
key set the ring keeps what signing and checking an access token needs per request, already made: the
active key's :class:`Signer` (its ``cryptography`` private key and its protected headers, encoded once)
and the published keys' ``cryptography`` public keys by ``kid`` (:meth:`KeyRing.public_keys`).

A key file is ``signing-<created unix time in milliseconds>.pem``. A key becomes the signer
``key_rotation_lead_seconds`` after it is created (so resource servers that cache the JWKS see it
first) and stays published until every token it signed has expired: ``access_token_ttl_seconds``
after its successor took over.

A keys folder that cannot be made, read or written is a bad ``AUTHSERVER_KEYS_DIR``: start-up
(``load_or_create_secret``, ``KeyRing.ensure_key``) and ``keys rotate`` raise :class:`SettingsError`
naming it, so the command line stops with one line instead of a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from joserfc.util import urlsafe_b64encode

from ..settings import SettingsError
from ..settings import path_error
from ..store.private_files import make_private_folder

log = logging.getLogger("authserver.keys")  # the logger name operators filter on, wherever the module lives

KEY_FILE = re.compile(r"^signing-(\d+)\.pem$")
RELOAD_CHECK_SECONDS = 1.0


def write_secret_file(path: str, data: bytes) -> None:
    """Create a file only its owner can read; never overwrite an existing one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@contextmanager
def keys_dir_errors():
    """Turn an OSError on the keys folder into a SettingsError naming AUTHSERVER_KEYS_DIR.

    FileExistsError passes through: it is how two processes creating the same file tell who won
    (write_secret_file); a file standing where the folder should be is caught by make_keys_dir."""
    try:
        yield
    except FileExistsError:
        raise
    except OSError as error:
        raise path_error("KEYS_DIR", error) from error


def make_keys_dir(directory: str) -> None:
    """The keys folder, private to the server's user (0700, ``private_files.py``)."""
    try:
        make_private_folder(directory)
    except OSError as error:
        raise path_error("KEYS_DIR", error) from error


def load_or_create_secret(directory: str, name: str, size: int = 32) -> bytes:
    make_keys_dir(directory)
    path = os.path.join(directory, name)
    with keys_dir_errors():
        try:
            write_secret_file(path, secrets.token_bytes(size))
        except FileExistsError:
            pass
        with open(path, "rb") as handle:
            data = handle.read()
    if len(data) < 32:
        raise SettingsError(f"AUTHSERVER_KEYS_DIR: {path} holds fewer than 32 bytes; "
                            "delete it to have a new one generated")
    return data


@dataclass(frozen=True)
class SigningKey:
    created_ms: int
    key: RSAKey

    @property
    def created_at(self) -> float:
        return self.created_ms / 1000

    @property
    def kid(self) -> str:
        return self.key.kid


class Signer:
    """RS256 compact JWS by one private key, whose protected header is always ``{"typ", "alg", "kid"}``
    (in that order, as joserfc writes it for ``jwt.encode({"alg": "RS256", "typ": typ}, …)``): the
    header is serialised and base64url-encoded once per ``typ``, the payload as given, and the
    signature is the ``cryptography`` key's, with no key lookup or header registry per token. What
    comes out is a standard JWS that any JOSE library checks against the published key."""

    ALGORITHM = "RS256"
    _PADDING = PKCS1v15()

    def __init__(self, key: RSAKey):
        self.key = key
        self.kid = key.kid
        self._private_key = key.get_op_key("sign")
        self._headers: dict[str, bytes] = {}

    def header_segment(self, typ: str) -> bytes:
        segment = self._headers.get(typ)
        if segment is None:
            header = {"typ": typ, "alg": self.ALGORITHM, "kid": self.kid}
            segment = self._headers[typ] = urlsafe_b64encode(json.dumps(header, separators=(",", ":")).encode())
        return segment

    def sign(self, typ: str, payload: bytes) -> str:
        """``BASE64URL(header) . BASE64URL(payload) . BASE64URL(RS256 signature)``."""
        signing_input = self.header_segment(typ) + b"." + urlsafe_b64encode(payload)
        signature = self._private_key.sign(signing_input, self._PADDING, SHA256())
        return (signing_input + b"." + urlsafe_b64encode(signature)).decode("ascii")


class KeyRing:
    def __init__(self, directory: str, access_token_ttl_seconds: int, lead_seconds: int = 0, now=time.time):
        self.directory = directory
        self.ttl = access_token_ttl_seconds
        self.lead = lead_seconds
        self._now = now
        self._lock = threading.Lock()
        self._stamp = None
        self._checked_at = 0.0
        self._keys: list[SigningKey] = []
        self._signing_set: KeySet | None = None
        self._jwks: dict | None = None
        self._verify_set: KeySet | None = None
        self._signer: Signer | None = None
        self._public_keys: dict = {}
        self._built_at = 0.0

    # -- public API ----------------------------------------------------------------------
    def signing_key_set(self) -> KeySet:
        """A set holding only the active key, so joserfc signs with it and sets its `kid`."""
        self._refresh()
        return self._signing_set

    def verification_key_set(self) -> KeySet:
        """Every published public key, for checking tokens this server issued."""
        self._refresh()
        return self._verify_set

    def signer(self) -> Signer:
        """The active key's signer (the key :meth:`signing_key_set` holds)."""
        self._refresh()
        return self._signer

    def public_keys(self) -> dict:
        """Every published key's ``cryptography`` public key, by ``kid``: what
        :meth:`verification_key_set` holds, ready to check an RS256 signature."""
        self._refresh()
        return self._public_keys

    def jwks(self) -> dict:
        self._refresh()
        return self._jwks

    def rotate(self) -> SigningKey:
        """Generate a new key; it is published at once and signs after the lead time."""
        make_keys_dir(self.directory)
        created = int(self._now() * 1000)
        with keys_dir_errors():
            newest = max((k.created_ms for k in self._read_keys()), default=0)
            created = max(created, newest + 1)  # file names must stay unique and ordered
            key = RSAKey.generate_key(2048, private=True)
            write_secret_file(os.path.join(self.directory, f"signing-{created}.pem"), key.as_pem(private=True))
        self._stamp = None
        self._refresh(force=True)
        return next(k for k in self._keys if k.created_ms == created)

    def ensure_key(self) -> None:
        """Generate the first key if the folder has none (first start)."""
        with keys_dir_errors():
            if not self._read_keys():
                try:
                    self.rotate_now()
                except FileExistsError:  # another worker won the race
                    pass
            self._refresh(force=True)

    def rotate_now(self) -> SigningKey:
        """Like rotate, but the key signs immediately (first key ever)."""
        lead, self.lead = self.lead, 0
        try:
            return self.rotate()
        finally:
            self.lead = lead

    # -- internals -----------------------------------------------------------------------
    def _read_keys(self) -> list[SigningKey]:
        keys = []
        if not os.path.isdir(self.directory):
            return keys
        for name in os.listdir(self.directory):
            match = KEY_FILE.match(name)
            if not match:
                continue
            keys.append(SigningKey(int(match.group(1)), self._read_key(os.path.join(self.directory, name))))
        return sorted(keys, key=lambda k: k.created_ms)

    @staticmethod
    def _read_key(path: str) -> RSAKey:
        with keys_dir_errors():
            with open(path, "rb") as handle:
                pem = handle.read()
        try:
            key = RSAKey.import_key(pem, parameters={"use": "sig", "alg": "RS256"})
        except Exception as error:  # joserfc and cryptography raise several types for a bad PEM
            raise SettingsError(f"AUTHSERVER_KEYS_DIR: {path} is not an RSA private key in PEM "
                                f"({type(error).__name__}); restore it or move it away") from None
        if not key.is_private:
            raise SettingsError(f"AUTHSERVER_KEYS_DIR: {path} holds a public key; a signing key must be private")
        key.ensure_kid()
        return key

    def _folder_stamp(self):
        try:
            st = os.stat(self.directory)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def _refresh(self, force: bool = False) -> None:
        monotonic = time.monotonic()
        if not force and self._signing_set is not None and monotonic - self._checked_at < RELOAD_CHECK_SECONDS:
            return
        with self._lock:
            self._checked_at = monotonic
            stamp = self._folder_stamp()
            if force or stamp != self._stamp:
                try:
                    self._keys = self._read_keys()
                except SettingsError as error:
                    if force or not self._keys:
                        raise
                    # A bad file dropped into the folder of a running server: keep signing with the
                    # keys we have (every request failing would be worse) and say so until it is fixed.
                    log.error("signing keys not reloaded: %s", error)
                    return
                self._stamp = stamp
                self._built_at = 0
            if not self._keys:
                raise RuntimeError(f"no signing key in {self.directory!r}; run the server once or `authserver keys rotate`")
            # Key sets depend on the time too (a pending key starts signing); rebuild now and then.
            if force or self._signing_set is None or self._now() - self._built_at >= RELOAD_CHECK_SECONDS:
                self._build(self._now())

    def _build(self, now: float) -> None:
        keys = self._keys
        active_index = 0
        for index, key in enumerate(keys):
            # Without a lead time a new key signs at once, even if its file name had to be dated a
            # little ahead of the clock to stay unique and ordered.
            if key.created_at + self.lead <= now or index == 0 or self.lead == 0:
                active_index = index
        published = []
        for index, key in enumerate(keys):
            if index > active_index:
                published.append(key)  # pending: announced before it signs
            elif index == active_index:
                published.append(key)
            else:
                successor_started = keys[index + 1].created_at + self.lead
                if successor_started + self.ttl > now:
                    published.append(key)
        active = keys[active_index]
        self._signing_set = KeySet([active.key])
        self._verify_set = KeySet([k.key for k in published])
        if self._signer is None or self._signer.key is not active.key:
            self._signer = Signer(active.key)
        known = self._public_keys  # a kid is the key's thumbprint: the same kid, the same key
        self._public_keys = {k.kid: known.get(k.kid) or k.key.get_op_key("verify") for k in published}
        self._jwks = {
            "keys": [
                {**k.key.as_dict(private=False), "use": "sig", "alg": "RS256", "kid": k.kid} for k in published
            ]
        }
        self._built_at = now
