"""Protected resources' rows (``store/resources.py``) on SQLite and PostgreSQL: added once, listed by
URI, and those a request names read in one answer (unregistered ones simply absent)."""

from __future__ import annotations

from authserver.store import resources as store
from authserver.store.database import db
from authserver.store.models import Resource


def test_resources_are_listed_by_uri_and_read_by_the_names_a_request_gives(app, clock):
    with app.app_context():
        for uri, scope in (("https://b.example/api", "read"), ("https://a.example/mcp", None)):
            store.add_resource(Resource(uri=uri, name=None, scope=scope, created_at=clock.now()))
        db.session.commit()
    with app.app_context():
        assert [r.uri for r in store.all_resources()] == ["https://a.example/mcp", "https://b.example/api"]
        named = store.resources_named(["https://b.example/api", "https://nowhere.example/", "https://b.example/api"])
        assert list(named) == ["https://b.example/api"] and named["https://b.example/api"].scope_limit == {"read"}
        assert store.resources_named([]) == {}
        assert store.get_resource("https://a.example/mcp").scope_limit is None
        assert store.get_resource("https://a.example/mcp/") is None  # compared exactly
