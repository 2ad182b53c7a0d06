"""The schema's version: the Alembic revision the database is at, the one this code needs, and the
database named for people (a SQLite file's path, a PostgreSQL URL without its password). The command
line refuses to work on a database without the schema, and ``doctor`` reports it."""

from __future__ import annotations

import importlib.util
import os

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.engine import make_url

from .database import sqlite_path

VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps


def migrations_dir() -> str:
    # migrations/ is mapped into the package by pyproject.toml (editable or not).
    spec = importlib.util.find_spec("authserver.migrations")
    if spec is None:  # running from a source tree that was never installed
        here = os.path.dirname(os.path.abspath(__file__))
        return os.path.join(os.path.dirname(os.path.dirname(here)), "migrations")
    return list(spec.submodule_search_locations)[0]


def needed_revisions() -> set[str]:
    """The head revision(s) of migrations/: what this code's tables are."""
    config = Config()
    config.set_main_option("script_location", migrations_dir())
    return set(ScriptDirectory.from_config(config).get_heads())


def database_revisions(engine) -> set[str]:
    """The revision(s) the database is at; empty when it has no schema at all. Read directly, not through
    Alembic's MigrationContext, which logs two lines each time (before `serve`'s first line)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return set()
        return set(connection.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))


def schema_problem(engine) -> str | None:
    """None when the database has this code's schema; otherwise what is wrong, for a one-line message."""
    have, need = database_revisions(engine), needed_revisions()
    if have == need:
        return None
    if not have:
        return "has no schema yet"
    return f"is at schema revision {', '.join(sorted(have))}, this version needs {', '.join(sorted(need))}"


def database_label(url: str) -> str:
    """The database as an operator recognises it: a SQLite file's absolute path, or the URL without its password."""
    path = sqlite_path(url)
    if path:
        return os.path.abspath(path)
    return make_url(url).render_as_string(hide_password=True)


def sqlite_file_missing(url: str) -> bool:
    """A SQLite URL whose file does not exist yet (connecting would create it)."""
    path = sqlite_path(url)
    return bool(path) and not os.path.exists(path)
