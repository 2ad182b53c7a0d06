"""A session's refresh-token chain (``sessions/refresh_tokens.py``), driven without HTTP on SQLite and
PostgreSQL: each rotation gives a new token and retires the old one; the immediate predecessor inside
the grace window gives the same successor; any other replay ends the session; another client's
presentation is "unknown" and ends nothing; a wider scope is refused; only digests are stored."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.errors import RefreshTokenInvalid
from authserver.errors import RefreshTokenReused
from authserver.errors import RefreshTokenUnknown
from authserver.errors import ScopeNotGranted
from authserver.store.clients import find_client
from authserver.store.database import db
from authserver.store.models import DeviceContext
from authserver.store.models import DeviceSession
from authserver.store.models import RefreshToken
from authserver.store.users import find_user
from tests.conftest import in_unit_of_work

PHONE = DeviceContext(ip="192.0.2.7", user_agent="Phone/2")


@pytest.fixture
def apps(factory):
    factory.user("alice")
    return {"app": factory.client(name="app").client_id, "other": factory.client(name="other").client_id}


@pytest.fixture
def chain(app, apps):
    """A session of alice's with the app, scope "profile email"; its first refresh token."""

    def start(services):
        session = services.sessions.open_session(find_user("alice"), find_client(apps["app"]), "profile email",
                                                 PHONE)
        return session.id, services.refresh_tokens.start_chain(session)

    return in_unit_of_work(app, start)


def rotate(app, token, client_id, scope=None):
    """One rotation in a unit of work of its own; a refusal is committed before it is raised, as the
    request's unit of work commits a 400 (so an ending it made is durable)."""
    with app.app_context():
        chain = app.extensions["authserver"].refresh_tokens
        try:
            successor = chain.complete_rotation(chain.prepare_rotation(token, client_id, PHONE, scope)).refresh_token
        finally:
            db.session.commit()
        return successor


def session_ended(app, session_id) -> bool:
    with app.app_context():
        return db.session.get(DeviceSession, session_id).ended_at is not None


def test_each_rotation_gives_a_new_token_and_only_digests_are_stored(app, apps, chain):
    session_id, first = chain
    second = rotate(app, first, apps["app"])
    third = rotate(app, second, apps["app"])
    assert len({first, second, third}) == 3
    with app.app_context():
        stored = db.session.scalars(select(RefreshToken.token_hash).where(RefreshToken.session_id == session_id))
        stored = set(stored)
        assert len(stored) == 3 and not stored & {first, second, third}
        assert app.extensions["authserver"].refresh_tokens.live_token(third) is not None
        assert app.extensions["authserver"].refresh_tokens.live_token(second) is None


def test_the_predecessor_inside_the_grace_window_gets_the_same_successor(app, apps, chain, clock):
    session_id, first = chain
    second = rotate(app, first, apps["app"])
    clock.advance(app.extensions["authserver"].settings.refresh_grace_seconds - 1)
    assert rotate(app, first, apps["app"]) == second
    assert not session_ended(app, session_id)


def test_a_replay_after_the_window_ends_the_session(app, apps, chain, clock):
    session_id, first = chain
    second = rotate(app, first, apps["app"])
    clock.advance(app.extensions["authserver"].settings.refresh_grace_seconds + 1)
    with pytest.raises(RefreshTokenReused):
        rotate(app, first, apps["app"])
    assert session_ended(app, session_id)
    with pytest.raises(RefreshTokenInvalid):
        rotate(app, second, apps["app"])


def test_an_older_generation_is_reuse_even_inside_the_window(app, apps, chain):
    session_id, first = chain
    second = rotate(app, first, apps["app"])
    rotate(app, second, apps["app"])
    with pytest.raises(RefreshTokenReused):
        rotate(app, first, apps["app"])
    assert session_ended(app, session_id)


def test_another_clients_presentation_is_unknown_and_ends_nothing(app, apps, chain):
    session_id, first = chain
    second = rotate(app, first, apps["app"])
    for stolen in (first, second):
        with pytest.raises(RefreshTokenUnknown):
            rotate(app, stolen, apps["other"])
    assert not session_ended(app, session_id)
    assert rotate(app, second, apps["app"])


def test_a_wider_scope_is_refused_and_a_narrower_one_rotates(app, apps, chain):
    _, first = chain
    with pytest.raises(ScopeNotGranted):
        rotate(app, first, apps["app"], scope="profile email admin")
    assert rotate(app, first, apps["app"], scope="email")


def test_a_token_never_issued_is_unknown(app, apps, chain):
    with pytest.raises(RefreshTokenUnknown):
        rotate(app, "never-issued", apps["app"])
