"""The streams store, on SQLite and PostgreSQL: which streams are owed events (not the disabled), whose
they are, and that deleting one drops what it was still owed in the outbox."""

from __future__ import annotations

from authserver.store import outbox
from authserver.store import streams
from authserver.store.database import db
from authserver.store.models import STREAM_DISABLED
from authserver.store.models import STREAM_ENABLED
from authserver.store.models import STREAM_PAUSED
from authserver.store.models import Stream


def add(clock, status=STREAM_ENABLED, client_id=None) -> str:
    now = clock.now()
    return streams.add_stream(Stream(client_id=client_id, audience="https://rs.example",
                                     endpoint_url="https://rs.example/events", events_requested="x", status=status,
                                     created_at=now, updated_at=now)).id


def test_receiving_streams_are_the_enabled_and_paused_ones_and_each_owner_sees_its_own(app, clock):
    with app.app_context():
        enabled, paused = add(clock), add(clock, STREAM_PAUSED, client_id="client_a")
        add(clock, STREAM_DISABLED)
        db.session.commit()
        assert sorted(stream.id for stream in streams.receiving_streams()) == sorted([enabled, paused])
        assert [stream.id for stream in streams.streams_of("client_a")] == [paused]
        assert len(streams.streams_of(None)) == 2 and len(streams.all_streams()) == 3


def test_deleting_a_stream_drops_its_waiting_events_only(app, clock):
    with app.app_context():
        doomed, kept = add(clock), add(clock)
        outbox.enqueue_all(clock.now(), [{"url": "https://rs.example/events", "body": b"x", "ordering_key": key}
                                         for key in (doomed, kept)], kind="security_event", content_type="t")
        streams.delete_stream(streams.find_stream(doomed))
        db.session.commit()
        assert streams.find_stream(doomed) is None
        assert [message.ordering_key for message in outbox.waiting()] == [kept]
