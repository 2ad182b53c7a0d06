"""Keys remembered for a while, in this process: the SETs and sessions a security event receiver was
told of, the DPoP proofs already accepted. Thread-safe.

A lookup is one dictionary read, whatever the size: expired keys are dropped by the writes, at most
once every :data:`PRUNE_SECONDS`, never by the token checks on every request."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

PRUNE_SECONDS = 1.0


class ExpiringKeys:
    def __init__(self, now=time.monotonic):
        self._now = now
        self._until: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def __contains__(self, key: Hashable) -> bool:
        until = self._until.get(key)
        return until is not None and until > self._now()

    def add(self, key: Hashable, seconds: float) -> None:
        with self._lock:
            self._remember(key, seconds)

    def first_time(self, key: Hashable, seconds: float) -> bool:
        """Remember ``key`` for ``seconds``; False if it was already remembered and not yet expired."""
        with self._lock:
            if key in self:
                return False
            self._remember(key, seconds)
            return True

    def _remember(self, key: Hashable, seconds: float) -> None:
        now = self._now()
        if now >= self._next_prune:
            self._until = {known: until for known, until in self._until.items() if until > now}
            self._next_prune = now + PRUNE_SECONDS
        self._until[key] = now + seconds
