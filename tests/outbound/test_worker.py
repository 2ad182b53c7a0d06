"""The delivery worker against real receivers on 127.0.0.1, on SQLite and PostgreSQL, with the
app's manual clock moved past backoffs instead of sleeping: a receiver down then up, one answering
500 until the message is given up, one hanging while the others go on, redirects, private targets,
ordering keys, two workers on one database, a restart and the metrics."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time

import pytest

from authserver import create_app
from authserver.outbound import worker as worker_module
from authserver.outbound.worker import RETRY_BASE_SECONDS
from authserver.outbound.worker import OutboxWorker
from authserver.outbound.worker import retry_delay
from authserver.store import outbox
from authserver.store.database import db
from authserver.store.models import SecurityEvent
from tests.outbound.outbox_helpers import enqueue
from tests.outbound.outbox_helpers import waiting
from tests.outbound.receivers import RECEIVER_SETTINGS
from tests.outbound.receivers import Receiver
from tests.outbound.receivers import nothing_listening_port

LEASE_SECONDS = 1 + worker_module.LEASE_MARGIN_SECONDS  # the test apps' timeout is 1 s


def events(app, kind="outbound_given_up"):
    with app.app_context():
        return [(e.client_id, json.loads(e.detail))
                for e in db.session.scalars(db.select(SecurityEvent).where(SecurityEvent.kind == kind))]


def counter(app, name, kind="backchannel_logout"):
    registry = app.extensions["authserver"].metrics.registry
    return registry.get_sample_value(f"authserver_outbound_{name}_total", {"kind": kind}) or 0


def test_the_backoff_doubles_from_ten_seconds_up_to_an_hour_with_jitter():
    rng = random.Random(7)
    for attempt, step in ((1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (50, 3600)):
        delays = [retry_delay(attempt, rng) for _ in range(200)]
        assert step / 2 <= min(delays) and max(delays) <= step
        assert max(delays) - min(delays) > step / 4  # jittered, not one fixed delay


def test_a_receiver_that_is_down_gets_the_message_once_it_is_up_after_the_backoff(app, clock, worker):
    port = nothing_listening_port()
    message_id = enqueue(app, f"http://127.0.0.1:{port}/logout")
    assert worker.step() == 1
    [(_, attempts, last_error)] = waiting(app)
    assert attempts == 1 and "cannot connect" in last_error
    assert counter(app, "retried") == 1
    receiver = Receiver(port=port)
    try:
        assert worker.step() == 0  # not due before its backoff ends
        clock.advance(RETRY_BASE_SECONDS)
        assert worker.step() == 1
        assert [r.body for r in receiver.received] == [b"logout_token=eyJ"]
    finally:
        receiver.close()
    assert waiting(app) == []
    assert counter(app, "delivered") == 1
    assert message_id not in [m[0] for m in waiting(app)]


@pytest.mark.parametrize("settings_overrides", [{"outbound_allow_private": True, "outbound_timeout_seconds": 1,
                                                 "outbound_max_age_seconds": 600}])
def test_a_receiver_answering_500_for_ever_is_retried_then_given_up_at_the_max_age_with_a_security_event(
        app, clock, worker, receiver):
    receiver.behaviour.status = 500
    started = clock.now()
    enqueue(app, receiver.url + "/logout?token=secret", client_id="client_rp")
    attempted_at = []
    while waiting(app):
        attempted_at.append((clock.now() - started).total_seconds())
        assert worker.step() == 1
        with app.app_context():
            next_attempt_at = [m.next_attempt_at for m in outbox.waiting()]
        if next_attempt_at:
            clock.advance((next_attempt_at[0] - clock.now()).total_seconds())
        assert len(attempted_at) < 20
    attempts = len(receiver.received)
    assert attempts == len(attempted_at) >= 6  # at 0 s, then about 10, 30, 70, 150, 310 s... and at 600 s
    assert attempted_at[-1] == 600
    assert all(later - earlier >= 5 for earlier, later in zip(attempted_at, attempted_at[1:]))
    assert counter(app, "retried") == attempts - 1
    assert counter(app, "given_up") == 1
    [(client_id, detail)] = events(app)
    assert client_id == "client_rp"
    assert detail["url"] == receiver.url + "/logout"
    assert detail["attempts"] == attempts
    assert detail["reason"].startswith("not acknowledged within 600 s; last: HTTP 500")
    assert detail["queued_at"] == started.isoformat()


def test_a_last_attempt_is_made_at_the_max_age_rather_than_a_backoff_step_early(app, clock, worker, receiver):
    receiver.behaviour.status = 503
    enqueue(app, receiver.url)
    max_age = app.extensions["authserver"].settings.outbound_max_age_seconds
    clock.advance(max_age - 5)  # queued long ago; the next backoff would end past the max age
    worker.step()
    with app.app_context():
        [message] = outbox.waiting()
        assert (message.next_attempt_at - message.created_at).total_seconds() == max_age
    clock.advance(5)
    receiver.behaviour.status = 200
    worker.step()
    assert waiting(app) == [] and counter(app, "delivered") == 1 and events(app) == []


def test_a_hanging_receiver_holds_one_delivery_slot_and_the_others_go_on(app, worker, receiver, second_receiver):
    receiver.behaviour.hang_seconds = 30
    enqueue(app, receiver.url + "/hangs")
    enqueue(app, second_receiver.url + "/answers")
    started = time.monotonic()
    assert worker.step() == 2
    took = time.monotonic() - started
    assert second_receiver.received[0].at - started < 0.5  # not after the hanging one's timeout
    assert 1 <= took < 3  # the hanging one was cut at the 1 s timeout
    [(_, _, last_error)] = waiting(app)
    assert "no complete answer within 1 s" in last_error or "timed out" in last_error
    assert counter(app, "delivered") == 1 and counter(app, "retried") == 1


def test_a_redirect_is_not_followed_and_the_message_waits_for_a_retry(app, worker, receiver, second_receiver):
    receiver.behaviour.status = 302
    receiver.behaviour.headers = {"Location": second_receiver.url}
    enqueue(app, receiver.url)
    worker.step()
    [(_, _, last_error)] = waiting(app)
    assert "redirect (not followed)" in last_error
    assert second_receiver.received == []


@pytest.mark.parametrize("settings_overrides", [{"outbound_timeout_seconds": 1}])
def test_a_private_target_is_refused_at_once_when_private_addresses_are_not_allowed(app, worker, receiver):
    assert app.extensions["authserver"].settings.outbound_allow_private is False
    enqueue(app, receiver.url, client_id="client_rp")
    enqueue(app, f"http://localhost:{receiver.port}/")
    worker.step()
    assert receiver.received == []
    assert waiting(app) == []
    reasons = [detail["reason"] for _, detail in events(app)]
    assert len(reasons) == 2 and all(r.startswith("refused: ") and "not a public address" in r for r in reasons)
    assert counter(app, "given_up") == 2


def test_a_message_rejected_with_a_4xx_is_given_up_at_once(app, worker, receiver):
    receiver.behaviour.status = 400
    enqueue(app, receiver.url)
    worker.step()
    assert waiting(app) == []
    [(_, detail)] = events(app)
    assert detail["reason"].startswith("rejected: HTTP 400")


def test_the_second_message_of_an_ordering_key_waits_until_the_first_is_delivered(
        app, clock, worker, receiver, second_receiver):
    receiver.behaviour.status = 503
    first = enqueue(app, receiver.url + "/first", kind="security_event", ordering_key="stream-1", acknowledge="202")
    second = enqueue(app, second_receiver.url + "/second", kind="security_event", ordering_key="stream-1",
                     acknowledge="202")
    unordered = enqueue(app, second_receiver.url + "/unordered")
    second_receiver.behaviour.status = 202
    worker.step()
    assert [r.path for r in second_receiver.received] == ["/unordered"]
    assert sorted(m[0] for m in waiting(app)) == [first, second]  # the second not even attempted
    assert [m[1] for m in sorted(waiting(app))] == [1, 0]
    receiver.behaviour.status = 202
    clock.advance(RETRY_BASE_SECONDS)
    worker.step()
    assert [r.path for r in receiver.received] == ["/first", "/first"]
    assert [m[0] for m in waiting(app)] == [second]  # due only once the first is gone, the next round
    worker.step()
    assert [r.path for r in second_receiver.received] == ["/unordered", "/second"]
    assert receiver.received[-1].at < second_receiver.received[-1].at
    assert waiting(app) == [] and unordered


# A deadline that a loaded machine (the whole suite on 2 cores) cannot miss: the race is the point here.
@pytest.mark.parametrize("settings_overrides", [{**RECEIVER_SETTINGS, "outbound_timeout_seconds": 5}])
def test_two_workers_on_one_database_never_deliver_one_message_twice_at_once(app, database_url, keys_dir, clock,
                                                                             settings_overrides, receiver):
    from authserver.settings import Settings

    other_app = create_app(Settings(database_url=database_url, keys_dir=keys_dir, **settings_overrides), clock=clock)
    receiver.behaviour.handle_seconds = 0.02
    ids = {enqueue(app, f"{receiver.url}/{n}") for n in range(40)}
    workers = [OutboxWorker(app), OutboxWorker(other_app)]
    try:
        def drain(worker):
            while worker.step():
                pass

        threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for w in workers:
            w.close()
        with other_app.app_context():
            db.engine.dispose()
    paths = [r.path for r in receiver.received]
    assert sorted(paths) == sorted(f"/{n}" for n in range(40))  # each exactly once
    assert waiting(app) == [] and len(ids) == 40
    assert counter(app, "retried") + counter(other_app, "retried") == 0
    assert receiver.most_in_flight > 1  # the workers did deliver side by side
    delivered = counter(app, "delivered") + counter(other_app, "delivered")
    assert delivered == 40 and counter(app, "delivered") and counter(other_app, "delivered")


def test_a_restarted_server_delivers_what_the_old_one_left_in_flight_or_waiting(
        app, database_url, keys_dir, clock, settings_overrides, receiver):
    from authserver.settings import Settings

    in_flight = enqueue(app, receiver.url + "/in-flight")
    with app.app_context():  # the old server claimed it, then died before recording anything
        outbox.claim_due(clock.now(), clock.now() + dt.timedelta(seconds=LEASE_SECONDS), 1)
        db.session.commit()
    queued = enqueue(app, receiver.url + "/queued")
    restarted = create_app(Settings(database_url=database_url, keys_dir=keys_dir, **settings_overrides), clock=clock)
    worker = OutboxWorker(restarted)
    try:
        assert worker.step() == 1
        assert [r.path for r in receiver.received] == ["/queued"]
        clock.advance(LEASE_SECONDS)
        assert worker.step() == 1
        assert [r.path for r in receiver.received] == ["/queued", "/in-flight"]
    finally:
        worker.close()
        with restarted.app_context():
            db.engine.dispose()
    assert waiting(app) == [] and {in_flight, queued}


def test_the_gauges_show_what_waits_and_how_long_the_oldest_has(app, clock, worker):
    enqueue(app, f"http://127.0.0.1:{nothing_listening_port()}/")
    clock.advance(30)
    enqueue(app, f"http://127.0.0.1:{nothing_listening_port()}/", kind="security_event")
    worker.refresh_gauges()
    registry = app.extensions["authserver"].metrics.registry
    assert registry.get_sample_value("authserver_outbound_queued_messages", {"kind": "backchannel_logout"}) == 1
    assert registry.get_sample_value("authserver_outbound_queued_messages", {"kind": "security_event"}) == 1
    assert registry.get_sample_value("authserver_outbound_oldest_message_age_seconds") == 30
    with app.app_context():
        for message in outbox.claim_due(clock.now(), clock.now(), 10):
            outbox.mark_delivered(message)
        db.session.commit()
    worker.refresh_gauges()
    assert registry.get_sample_value("authserver_outbound_queued_messages", {"kind": "security_event"}) == 0
    assert registry.get_sample_value("authserver_outbound_oldest_message_age_seconds") == 0


def test_the_loop_delivers_as_messages_arrive_and_stops_cleanly(app, receiver):
    worker = OutboxWorker(app)
    stop = threading.Event()
    loop = threading.Thread(target=worker.run, args=(stop,))
    loop.start()
    try:
        enqueue(app, receiver.url + "/one")
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [r.path for r in receiver.received] == ["/one"]
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    deadline = time.monotonic() + 5
    while waiting(app) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waiting(app) == []


def test_an_unexpected_failure_of_a_delivery_is_retried_not_lost(app, worker, receiver, monkeypatch):
    def broken(message, **settings):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(worker_module.delivery, "deliver", broken)
    enqueue(app, receiver.url)
    assert worker.step() == 1
    [(_, attempts, last_error)] = waiting(app)
    assert (attempts, last_error) == (1, "unexpected error: RuntimeError")
