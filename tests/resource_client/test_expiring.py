"""Keys remembered for a while (``authserver_resource/expiring.py``): known until their expiry and not
after, a first time told from a repeat, and expired keys dropped by later writes (time moved by hand)."""

from __future__ import annotations

from authserver_resource.expiring import PRUNE_SECONDS
from authserver_resource.expiring import ExpiringKeys


def test_a_key_is_known_until_it_expires_and_a_repeat_is_not_a_first_time():
    now = [100.0]
    keys = ExpiringKeys(lambda: now[0])
    assert keys.first_time("jti-1", 60) is True
    assert keys.first_time("jti-1", 60) is False and "jti-1" in keys
    now[0] += 60
    assert "jti-1" not in keys
    assert keys.first_time("jti-1", 60) is True  # expired: a new first time


def test_expired_keys_are_dropped_by_later_writes_not_kept_for_ever():
    now = [0.0]
    keys = ExpiringKeys(lambda: now[0])
    for number in range(1000):
        keys.add(("key", number), 10)
    now[0] += 10 + PRUNE_SECONDS
    keys.add("fresh", 10)
    assert len(keys._until) == 1 and "fresh" in keys
