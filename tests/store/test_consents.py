"""Consents (``store/consents.py``) on SQLite and PostgreSQL: a consent remembers every scope granted so
far and covers any request within them; withdrawing it forgets it and ends the user's sessions with that
client only."""

from __future__ import annotations

import pytest

from authserver.store import consents
from authserver.store.clients import find_client
from authserver.store.database import db
from authserver.store.models import DeviceContext
from authserver.store.models import DeviceSession
from authserver.store.users import find_user
from tests.conftest import in_unit_of_work


@pytest.fixture
def ids(factory):
    return {"alice": factory.user("alice"), "bob": factory.user("bob"),
            "app": factory.client(name="app").client_id, "other": factory.client(name="other").client_id}


def test_a_consent_widens_with_each_grant_and_covers_what_was_granted(app, ids, clock):
    in_unit_of_work(app, lambda _: consents.remember_consent(ids["alice"], ids["app"], "profile", clock.now()))
    with app.app_context():
        assert consents.has_consent(ids["alice"], ids["app"], "profile")
        assert not consents.has_consent(ids["alice"], ids["app"], "profile email")
        assert not consents.has_consent(ids["bob"], ids["app"], "profile")
        assert not consents.has_consent(ids["alice"], ids["other"], "profile")
    clock.advance(60)
    in_unit_of_work(app, lambda _: consents.remember_consent(ids["alice"], ids["app"], "email profile", clock.now()))
    with app.app_context():
        consent = consents.find_consent(ids["alice"], ids["app"])
        assert consent.scope == "profile email"  # no scope twice, the first grant's order kept
        assert consents.has_consent(ids["alice"], ids["app"], "email")
        assert consents.has_consent(ids["alice"], ids["app"], "")


def test_a_users_consents_are_listed_newest_first(app, ids, clock):
    in_unit_of_work(app, lambda _: consents.remember_consent(ids["alice"], ids["app"], "profile", clock.now()))
    clock.advance(60)
    in_unit_of_work(app, lambda _: consents.remember_consent(ids["alice"], ids["other"], "email", clock.now()))
    with app.app_context():
        assert [c.client_id for c in consents.list_consents(ids["alice"])] == [ids["other"], ids["app"]]
        assert consents.list_consents(ids["bob"]) == []


def test_withdrawing_ends_the_users_sessions_with_that_client_and_no_others(app, ids, clock):
    def open_sessions(services):
        alice, bob = find_user("alice"), find_user("bob")
        opened = {}
        for name, user, client in [("alice-app", alice, "app"), ("alice-other", alice, "other"),
                                   ("bob-app", bob, "app")]:
            opened[name] = services.sessions.open_session(user, find_client(ids[client]), "profile",
                                                          DeviceContext(ip="192.0.2.1")).id
        consents.remember_consent(alice.id, ids["app"], "profile", clock.now())
        return opened

    opened = in_unit_of_work(app, open_sessions)
    withdrawn = in_unit_of_work(app, lambda services: consents.withdraw_consent(services, find_user("alice"),
                                                                              ids["app"]))
    assert withdrawn is True
    with app.app_context():
        ended = {name: db.session.get(DeviceSession, session_id).ended_at is not None
                 for name, session_id in opened.items()}
        assert ended == {"alice-app": True, "alice-other": False, "bob-app": False}
        assert consents.find_consent(ids["alice"], ids["app"]) is None
    again = in_unit_of_work(app, lambda services: consents.withdraw_consent(services, find_user("alice"), ids["app"]))
    assert again is False
