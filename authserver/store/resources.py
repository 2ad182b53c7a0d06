"""Protected resources' rows (RFC 8707): add one, list them, read those a request names. Nothing here
commits."""

from __future__ import annotations

from sqlalchemy import select

from .database import db
from .database import insert
from .models import Resource


def add_resource(resource: Resource) -> Resource:
    return insert(resource)


def get_resource(uri: str) -> Resource | None:
    return db.session.get(Resource, uri)


def all_resources() -> list[Resource]:
    """Every registered resource, by URI."""
    return list(db.session.scalars(select(Resource).order_by(Resource.uri)))


def resources_named(uris: list[str]) -> dict[str, Resource]:
    """{uri: resource} of those of ``uris`` that are registered, in one query."""
    if not uris:
        return {}
    return {row.uri: row for row in db.session.scalars(select(Resource).where(Resource.uri.in_(set(uris))))}
