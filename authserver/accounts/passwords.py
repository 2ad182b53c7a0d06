"""User passwords: argon2id with the parameters from settings (OWASP minimum by default).

One check at a time per process: a check is tens of milliseconds of one core, so a worker's other
threads (``authserver serve --threads``) keep serving refreshes and introspection meanwhile instead
of every thread of every worker hashing at once and starving them, and holders of the database's
write lock, of CPU. With one worker per core the checks still use every core."""

from __future__ import annotations

import threading

from argon2 import PasswordHasher
from argon2 import Type
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError


class Passwords:
    def __init__(self, settings):
        self._hasher = PasswordHasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_kib,
            parallelism=settings.password_parallelism,
            type=Type.ID,
        )
        # Verified when the username is unknown, so both failures cost the same time.
        self._decoy = self._hasher.hash("decoy password for unknown users")
        self._one_at_a_time = threading.Lock()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            with self._one_at_a_time:
                return self._hasher.verify(password_hash or self._decoy, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
