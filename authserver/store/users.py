"""Users' rows: find one by name, search for the operators' console, add one, and the read a
password check needs. Nothing here commits.

A password check (argon2, tens of milliseconds) must hold no transaction: on SQLite a transaction
holds the write lock, and on either database a snapshot. :func:`check_password` ends the reads
before the check and begins the write transaction after it, for the writes that follow (a rehash,
a failure's security event, the session a sign-in opens).
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import bindparam
from sqlalchemy import select

from .database import begin_write
from .database import db
from .database import insert
from .database import release_reads
from .models import User


def find_user(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


# Built once: a new statement per batch of `legacy import` would fill SQLAlchemy's statement cache.
IDS_BY_USERNAME = select(User.username, User.id).where(User.username.in_(bindparam("names", expanding=True)))


def ids_by_username(usernames) -> dict[str, str]:
    """{username: id} of the users among ``usernames`` (one query: a batch of ``legacy import``)."""
    names = list(set(usernames))
    if not names:
        return {}
    return dict(db.session.execute(IDS_BY_USERNAME, {"names": names}).all())


def search_users(fragment: str, limit: int = 20) -> list[User]:
    """Users whose name contains the fragment (case-insensitive), for the operators' console."""
    pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = select(User).where(User.username.ilike(pattern, escape="\\")).order_by(User.username).limit(limit)
    return list(db.session.scalars(query))


def add_user(user: User) -> User:
    return insert(user)


def check_password(username: str, verify: Callable[[str | None], bool]) -> tuple[User | None, bool]:
    """The user named ``username`` (or None) and what ``verify`` said of their password hash (None
    for an unknown user), with no transaction open while it runs (see the module docstring).
    The user's attributes reload on their next use."""
    user = find_user(username)
    password_hash = user.password_hash if user else None
    release_reads()
    verified = verify(password_hash)
    begin_write()
    return user, verified
