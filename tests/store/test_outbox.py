"""The outbox table's operations, on SQLite and PostgreSQL: a message exists exactly when the
transaction that enqueued it commits; a claim leases it (in flight at most once, across workers);
outcomes are fenced by the claim; messages sharing an ordering key go one at a time, oldest first."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from authserver.store import outbox
from authserver.store.database import db
from authserver.store.models import OutboxMessage
from authserver.store.models import SecurityEvent

LEASE = dt.timedelta(seconds=65)


def enqueue(app, clock, commit=True, **fields):
    with app.app_context():
        message = outbox.enqueue(clock.now(), **{"kind": "test", "url": "https://rp.example/logout?k=secret",
                                                 "body": b"logout_token=x", "content_type": "text/plain", **fields})
        db.session.flush()
        message_id = message.id
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
        return message_id


def claim(app, clock, limit=10):
    with app.app_context():
        rows = outbox.claim_due(clock.now(), clock.now() + LEASE, limit)
        db.session.commit()
        return rows


def waiting_ids(app):
    with app.app_context():
        return [message.id for message in outbox.waiting()]


def test_a_message_exists_only_if_the_transaction_that_enqueued_it_commits(app, clock):
    enqueue(app, clock, commit=False)
    assert waiting_ids(app) == []
    kept = enqueue(app, clock)
    assert waiting_ids(app) == [kept]


def test_a_claimed_message_is_in_flight_once_until_its_lease_runs_out(app, clock):
    message_id = enqueue(app, clock)
    [first] = claim(app, clock)
    assert (first.id, first.attempts) == (message_id, 1)
    assert first.body == b"logout_token=x"
    assert first.created_at == clock.now()
    assert claim(app, clock) == []  # leased: no other worker takes it
    clock.advance(LEASE.total_seconds() - 1)
    assert claim(app, clock) == []
    clock.advance(1)  # its worker died: due again, as a new attempt
    [again] = claim(app, clock)
    assert again.attempts == 2
    with app.app_context():
        assert outbox.mark_delivered(first) is False  # the old claim may no longer record anything
        assert outbox.reschedule(first, clock.now(), "late") is False
        assert outbox.give_up(first, clock.now(), "late") is False
        assert outbox.mark_delivered(again) is True
        db.session.commit()
    assert waiting_ids(app) == []


def test_a_rescheduled_message_is_due_again_at_its_next_attempt(app, clock):
    enqueue(app, clock)
    [message] = claim(app, clock)
    with app.app_context():
        assert outbox.reschedule(message, clock.now() + dt.timedelta(seconds=30), "HTTP 503 " + "x" * 500)
        db.session.commit()
        [stored] = outbox.waiting()
        assert len(stored.last_error) == outbox.LAST_ERROR_LENGTH
    clock.advance(29)
    assert claim(app, clock) == []
    clock.advance(1)
    assert [m.attempts for m in claim(app, clock)] == [2]


def test_claims_take_the_earliest_due_first_and_no_more_than_asked(app, clock):
    ids = [enqueue(app, clock) for _ in range(5)]
    assert [m.id for m in claim(app, clock, limit=2)] == ids[:2]
    assert [m.id for m in claim(app, clock, limit=10)] == ids[2:]


def test_messages_of_one_ordering_key_go_one_at_a_time_oldest_first(app, clock):
    first = enqueue(app, clock, ordering_key="stream-1")
    second = enqueue(app, clock, ordering_key="stream-1")
    other_stream = enqueue(app, clock, ordering_key="stream-2")
    unordered = enqueue(app, clock)
    claimed = claim(app, clock)
    assert [m.id for m in claimed] == [first, other_stream, unordered]
    head = claimed[0]
    with app.app_context():
        outbox.reschedule(head, clock.now() + dt.timedelta(seconds=10), "HTTP 500")
        db.session.commit()
    clock.advance(5)
    assert claim(app, clock) == []  # the second waits behind the first, even while the first waits
    clock.advance(5)
    [head] = claim(app, clock)
    assert head.id == first
    with app.app_context():
        outbox.mark_delivered(head)
        db.session.commit()
    assert [m.id for m in claim(app, clock)] == [second]


def test_giving_up_deletes_the_message_and_records_a_security_event_without_the_query(app, clock):
    enqueue(app, clock, client_id="client_abc", kind="backchannel_logout")
    [message] = claim(app, clock)
    with app.app_context():
        assert outbox.give_up(message, clock.now(), "rejected: HTTP 400")
        db.session.commit()
        [event] = db.session.scalars(db.select(SecurityEvent)).all()
    assert waiting_ids(app) == []
    assert (event.kind, event.client_id) == ("outbound_given_up", "client_abc")
    detail = json.loads(event.detail)
    assert detail == {"message_id": message.id, "message_kind": "backchannel_logout", "attempts": 1,
                      "url": "https://rp.example/logout", "reason": "rejected: HTTP 400",
                      "queued_at": clock.now().isoformat()}


def test_the_acknowledging_statuses_are_checked_when_enqueued(app, clock):
    assert outbox.statuses("2xx") == set(range(200, 300))
    assert outbox.statuses("202 204") == {202, 204}
    for bad in ("", "20", "2xy", "600", "ok"):
        with pytest.raises(ValueError):
            outbox.statuses(bad)
    with pytest.raises(ValueError):
        enqueue(app, clock, acknowledge="200-299")


def test_the_backlog_counts_each_kind_and_its_oldest(app, clock):
    enqueue(app, clock, kind="a")
    oldest = clock.now()
    clock.advance(10)
    enqueue(app, clock, kind="a")
    enqueue(app, clock, kind="b")
    with app.app_context():
        assert outbox.backlog() == {"a": (2, oldest), "b": (1, clock.now())}


def test_workers_claiming_at_once_never_claim_one_message_twice(app, clock):
    total = 60
    with app.app_context():
        for _ in range(total):
            outbox.enqueue(clock.now(), kind="test", url="https://rp.example/", body=b"x", content_type="text/plain")
        db.session.commit()
    claimed, errors = [], []
    start = threading.Barrier(4)

    def worker():
        start.wait()
        try:
            while True:
                rows = claim(app, clock, limit=3)
                if not rows:
                    return
                claimed.extend(row.id for row in rows)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(claimed) == total
    assert len(set(claimed)) == total
    with app.app_context():
        assert db.session.scalar(db.select(db.func.max(OutboxMessage.attempts))) == 1


# -- held, released, dropped: a paused, enabled, disabled security event stream ------------------------
def enqueue_all(app, clock, messages):
    with app.app_context():
        outbox.enqueue_all(clock.now(), messages, kind="security_event", content_type="application/secevent+jwt",
                           acknowledge="202")
        db.session.commit()


def test_enqueue_all_numbers_the_messages_in_the_order_given(app, clock):
    enqueue_all(app, clock, [{"url": f"https://rs.example/{n}", "body": b"x", "ordering_key": "s"} for n in range(3)])
    with app.app_context():
        assert [message.url[-1] for message in outbox.waiting()] == ["0", "1", "2"]


def test_held_messages_are_never_due_until_released_then_go_in_order(app, clock):
    enqueue_all(app, clock, [{"url": "https://rs.example/1", "body": b"1", "ordering_key": "s", "held": True},
                             {"url": "https://rs.example/2", "body": b"2", "ordering_key": "s"},
                             {"url": "https://rs.example/other", "body": b"3", "ordering_key": "t"}])
    assert [row.url for row in claim(app, clock)] == ["https://rs.example/other"]  # s waits behind its held one
    with app.app_context():
        assert outbox.hold("s") == 2
        db.session.commit()
    clock.advance(3600)  # (the other key's lease runs out: it is due again)
    assert [row.ordering_key for row in claim(app, clock)] == ["t"]
    with app.app_context():
        assert outbox.release("s", clock.now()) == 2
        db.session.commit()
    assert [row.url for row in claim(app, clock)] == ["https://rs.example/1"]


def test_a_message_held_while_in_flight_stays_held_when_its_attempt_fails(app, clock):
    enqueue_all(app, clock, [{"url": "https://rs.example/1", "body": b"1", "ordering_key": "s"}])
    [row] = claim(app, clock)
    with app.app_context():
        outbox.hold("s")
        assert outbox.reschedule(row, clock.now() + dt.timedelta(seconds=10), "HTTP 503")
        db.session.commit()
    clock.advance(3600)
    assert claim(app, clock) == []


def test_discard_drops_every_message_of_a_key_only(app, clock):
    enqueue_all(app, clock, [{"url": "https://rs.example/1", "body": b"1", "ordering_key": "s", "held": True},
                             {"url": "https://rs.example/2", "body": b"2", "ordering_key": "t"}])
    with app.app_context():
        assert outbox.discard("s") == 1
        db.session.commit()
        assert [message.ordering_key for message in outbox.waiting()] == ["t"]
        assert outbox.ordered_backlog()["t"][0] == 1
