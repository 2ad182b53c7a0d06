"""The delivery worker: takes what is due from the outbox (``store/outbox.py``), posts it
(``delivery.py``) and records what became of it. It runs beside gunicorn under ``authserver serve``
(``process.py``) or alone as ``authserver outbox run``; never on a request thread.

Each round claims up to the free delivery slots (``AUTHSERVER_OUTBOUND_CONCURRENCY``) in one short
transaction, delivers each claimed message on a thread of its own with no transaction open, and
records each outcome in a short transaction of its own:

- **acknowledged**: the message is deleted; ``authserver_outbound_delivered_total``.
- **no answer, a 5xx, a redirect, 408/425/429**: tried again after an exponential backoff with
  jitter (:func:`retry_delay`: about 10 s, 20 s, 40 s… up to an hour; at least the receiver's
  ``Retry-After``, within the same cap), and a last time when it reaches its maximum age;
  ``authserver_outbound_retried_total``.
- **refused target, another 4xx, or not acknowledged ``AUTHSERVER_OUTBOUND_MAX_AGE_SECONDS`` after it
  was queued**: given up, deleted, an ``outbound_given_up`` security event;
  ``authserver_outbound_given_up_total``.

A receiver that hangs holds one slot until the delivery timeout; the other slots go on. A worker
that dies mid-delivery leaves its messages leased; they become due again when the lease runs out, and
any worker (this node's next one, another node's) delivers them: a message is delivered at least
once, so receivers recognise repeats by the ``jti`` every logout token and security event carries.

Time comes from the app's clock (``clock.py``): tests move it past a backoff instead of sleeping,
and run :meth:`OutboxWorker.step` instead of the loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait

from ..ops import metrics
from ..store import outbox
from ..store.database import db
from . import delivery

log = logging.getLogger(__name__)

# The n-th failed attempt waits about RETRY_BASE_SECONDS × 2^(n-1), at most RETRY_CAP_SECONDS: a
# receiver that is down for a day is tried some thirty times, one back after a blip within seconds.
RETRY_BASE_SECONDS = 10
RETRY_CAP_SECONDS = 3600
# A claim's lease: the delivery's own deadline, plus room for resolving the name and recording the
# outcome. Only a worker that died lets it run out.
LEASE_MARGIN_SECONDS = 60
# How often the loop refreshes the queue gauges (one grouped count over the outbox).
GAUGE_REFRESH_SECONDS = 5
# After a failed round (the database down, the table missing), the loop waits longer each time, up to this.
MAX_ERROR_PAUSE_SECONDS = 30


def retry_delay(attempt: int, rng: random.Random) -> float:
    """Seconds to wait after the ``attempt``-th failure: exponential, capped, and "equal jitter" (half
    fixed, half random), so nodes and messages spread out when a receiver comes back, and none
    retries sooner than half its step."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(attempt - 1, 20))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class OutboxWorker:
    """Delivers the outbox of one app's database. :meth:`run` is the loop; :meth:`step` one round."""

    def __init__(self, app, rng: random.Random | None = None):
        self.app = app
        services = app.extensions["authserver"]
        self.settings = services.settings
        self.clock = services.clock
        self.metrics = services.metrics
        self.rng = rng or random.SystemRandom()
        self.slots = self.settings.outbound_concurrency
        self.pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="outbound")
        self.in_flight: set[Future] = set()
        self._kinds_seen: set[str] = set()
        self._keys_seen: set[str] = set()

    # -- one round -------------------------------------------------------------------------
    def step(self) -> int:
        """Claim what is due (up to the free slots), deliver it all, record every outcome, refresh the
        gauges; returns how many messages were attempted. Deliveries still run concurrently."""
        attempted = self.claim_and_submit()
        wait(self.in_flight)
        self._collect()
        self.refresh_gauges()
        return attempted

    def claim_and_submit(self) -> int:
        free = self.slots - len(self.in_flight)
        if free <= 0:
            return 0
        with self.app.app_context():
            now = self.clock.now()
            lease_until = now + dt.timedelta(seconds=self.settings.outbound_timeout_seconds + LEASE_MARGIN_SECONDS)
            claimed = outbox.claim_due(now, lease_until, free)
            db.session.commit()
        for message in claimed:
            self.in_flight.add(self.pool.submit(self._attempt, message))
        return len(claimed)

    def _attempt(self, message) -> None:
        try:
            outcome = delivery.deliver(message, timeout_seconds=self.settings.outbound_timeout_seconds,
                                       allow_private=self.settings.outbound_allow_private)
        except Exception as error:  # a failure of ours, not the receiver's: retried like one, never lost
            log.exception("outbound delivery of #%s failed unexpectedly", message.id)
            outcome = delivery.Outcome(delivery.RETRY, f"unexpected error: {type(error).__name__}")
        with self.app.app_context():
            self.record(message, outcome)
            db.session.commit()

    def record(self, message, outcome: delivery.Outcome) -> None:
        """Write what became of one attempt (the caller commits)."""
        now = self.clock.now()
        where = f"{message.kind} #{message.id} to {outbox.url_without_query(message.url)} (attempt {message.attempts})"
        if outcome.result == delivery.DELIVERED:
            if outbox.mark_delivered(message):
                self._count("outbound_delivered", message.kind)
                log.info("outbound %s delivered: %s", where, outcome.reason)
            else:  # its lease ran out and another worker took it: only possible if this one stalled
                log.warning("outbound %s delivered, but another worker had claimed it again", where)
            return
        if outcome.result == delivery.GIVE_UP:
            self._give_up(message, now, outcome.reason, where)
            return
        give_up_at = message.created_at + dt.timedelta(seconds=self.settings.outbound_max_age_seconds)
        if now >= give_up_at:
            self._give_up(message, now, f"not acknowledged within {self.settings.outbound_max_age_seconds} s; "
                                        f"last: {outcome.reason}", where)
            return
        delay = retry_delay(message.attempts, self.rng)
        if outcome.retry_after_seconds:
            delay = max(delay, min(outcome.retry_after_seconds, RETRY_CAP_SECONDS))
        # One last attempt at the maximum age, rather than giving up a backoff step early.
        next_attempt_at = min(now + dt.timedelta(seconds=delay), give_up_at)
        if outbox.reschedule(message, next_attempt_at, outcome.reason):
            self._count("outbound_retried", message.kind)
            log.warning("outbound %s not delivered, next attempt at %s: %s", where,
                        next_attempt_at.isoformat(timespec="seconds"), outcome.reason)

    def _give_up(self, message, now, reason: str, where: str) -> None:
        if outbox.give_up(message, now, reason):
            self._count("outbound_given_up", message.kind)
            log.error("outbound %s given up: %s", where, reason)

    def _count(self, name: str, kind: str) -> None:
        metrics.count(name, kind=kind)  # like a request's counts: when the outcome's transaction commits

    def _collect(self) -> None:
        """Forget finished deliveries; one that failed to record its outcome (the database went away)
        stays leased and is tried again when the lease runs out."""
        for future in [f for f in self.in_flight if f.done()]:
            self.in_flight.discard(future)
            if future.exception() is not None:
                log.error("outbound delivery not recorded; it is tried again when its lease runs out",
                          exc_info=future.exception())

    def refresh_gauges(self) -> None:
        with self.app.app_context():
            now = self.clock.now()
            waiting = outbox.backlog()
            ordered = outbox.ordered_backlog()
            db.session.rollback()
        for kind in self._kinds_seen | set(waiting):
            self.metrics.set_gauge("outbound_queued_messages", waiting.get(kind, (0, None))[0], kind=kind)
        self._kinds_seen |= set(waiting)
        self.metrics.set_gauge("outbound_oldest_message_age_seconds", _age(now, waiting.values()))
        # Ordering keys are security event streams: each one's lag (a stream emptied shows 0).
        for key in self._keys_seen | set(ordered):
            count, oldest = ordered.get(key, (0, None))
            self.metrics.set_gauge("stream_queued_events", count, stream=key)
            self.metrics.set_gauge("stream_oldest_event_age_seconds", _age(now, [(count, oldest)]), stream=key)
        self._keys_seen |= set(ordered)

    # -- the loop --------------------------------------------------------------------------
    def run(self, stop: threading.Event, parent_pid: int | None = None) -> None:
        """Deliver until ``stop`` is set (or, with ``parent_pid``, until that process is gone), then
        finish the deliveries in flight (each ends within the delivery timeout) and return."""
        poll = self.settings.outbound_poll_seconds
        gauges_at = 0.0
        errors = 0
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("outbound delivery worker: the server that started it is gone; stopping")
                break
            try:
                self.claim_and_submit()
                if time.monotonic() - gauges_at >= GAUGE_REFRESH_SECONDS:
                    self.refresh_gauges()
                    gauges_at = time.monotonic()
                errors = 0
            except Exception:
                errors += 1
                log.exception("outbound delivery worker: a round failed; trying again")
                stop.wait(min(MAX_ERROR_PAUSE_SECONDS, poll * 2 ** min(errors, 5)))
                continue
            if self.in_flight:
                # Woken by a finished delivery (a slot is free) or the poll interval, whichever comes first.
                wait(self.in_flight, timeout=poll, return_when=FIRST_COMPLETED)
                self._collect()
            else:
                stop.wait(poll)
        self.close()

    def close(self) -> None:
        wait(self.in_flight)
        self._collect()
        self.pool.shutdown()


def _age(now: dt.datetime, backlog) -> float:
    """Seconds the oldest of ``backlog`` ((count, oldest enqueued) pairs) has waited; 0 when none waits."""
    oldest = min((created for count, created in backlog if created is not None), default=None)
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
