"""The clock every expiry rule reads (``clock.py``): the system's is timezone-aware UTC; the manual
one moves only when told, by exactly what it is told, even from many threads at once."""

from __future__ import annotations

import datetime as dt
import threading

from authserver.clock import ManualClock
from authserver.clock import SystemClock


def test_the_system_clock_is_aware_utc_and_close_to_now():
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == dt.timedelta(0)
    assert abs(now - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(seconds=5)


def test_a_manual_clock_stands_still_until_advanced():
    start = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    clock = ManualClock(start)
    assert clock.now() == clock.now() == start
    assert clock.advance(90) == start + dt.timedelta(seconds=90)
    assert clock.now() == start + dt.timedelta(seconds=90)


def test_a_manual_clock_starts_at_a_whole_second_of_the_present():
    now = ManualClock().now()
    assert now.microsecond == 0 and now.tzinfo is not None


def test_advances_from_many_threads_add_up_exactly():
    clock = ManualClock(dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    start = clock.now()

    def advance_many():
        for _ in range(500):
            clock.advance(0.5)

    threads = [threading.Thread(target=advance_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() - start == dt.timedelta(seconds=8 * 500 * 0.5)
