"""The schema's revision against the code's, and the database named for people."""

from sqlalchemy import create_engine
from sqlalchemy import text

from authserver.store.database import db
from authserver.store.schema import database_label
from authserver.store.schema import needed_revisions
from authserver.store.schema import schema_problem
from authserver.store.schema import sqlite_file_missing


def test_a_migrated_database_has_this_versions_schema_and_an_older_one_is_named(app, database_url):
    with app.app_context():
        assert schema_problem(db.engine) is None
        (head,) = needed_revisions()
        db.session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        db.session.commit()
        try:
            assert schema_problem(db.engine) == f"is at schema revision 0001, this version needs {head}"
        finally:
            db.session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
            db.session.commit()


def test_an_empty_database_has_no_schema_yet(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/empty.db")
    try:
        assert schema_problem(engine) == "has no schema yet"
    finally:
        engine.dispose()


def test_the_database_is_named_by_its_path_or_its_url_without_the_password(tmp_path):
    assert database_label(f"sqlite:///{tmp_path}/a.db") == f"{tmp_path}/a.db"
    assert database_label("postgresql+psycopg://auth:hunter2@db:5432/auth") == "postgresql+psycopg://auth:***@db:5432/auth"
    assert sqlite_file_missing(f"sqlite:///{tmp_path}/a.db")
    (tmp_path / "a.db").touch()
    assert not sqlite_file_missing(f"sqlite:///{tmp_path}/a.db")
    assert not sqlite_file_missing("postgresql+psycopg://auth@db/auth")
