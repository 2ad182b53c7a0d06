"""User passwords: what a new one must be (NIST SP 800-63B), and argon2id with the parameters from
settings (OWASP minimum by default).

A new password (:func:`check_new_password`: ``users create`` and any password change) is 8 to 128
characters and not on the blocklist of common and breached passwords: the 30,000 most common ones of
zxcvbn's frequency lists, compared without case. Nothing else: no composition rules (they make
passwords harder to remember, not to guess) and no strength score that refuses a long passphrase.
Existing passwords are never checked again, so a user created before the rule still signs in.

One check at a time per process: a check is tens of milliseconds of one core, so a worker's other
threads (``authserver serve --threads``) keep serving refreshes and introspection meanwhile instead
of every thread of every worker hashing at once and starving them, and holders of the database's
write lock, of CPU. With one worker per core the checks still use every core."""

from __future__ import annotations

import functools
import threading

from argon2 import PasswordHasher
from argon2 import Type
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

from ..errors import AccountError

# NIST SP 800-63B §3.1.1.2: at least 8 characters, and at least 64 allowed; 128 bounds the hashing work.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


@functools.cache
def _blocklist() -> frozenset[str]:
    # Loaded on the first new password, not at start-up: signing in never needs it.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_new_password(password: str) -> None:
    """Refuse a new password NIST SP 800-63B says not to accept, with a message saying why."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters "
                           "(a few unrelated words make a good one)")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password is too long: use at most {MAX_PASSWORD_LENGTH} characters")
    if password.lower() in _blocklist():
        raise AccountError("the password is one of the most common passwords, the first an attacker tries: "
                           "choose another (a few unrelated words make a good one)")


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
