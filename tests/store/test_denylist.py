"""The revoked access-token list (``store/denylist.py``), on SQLite and PostgreSQL: a `jti` denied once
stays denied, denying it again reports that it already was, and only that `jti` is affected."""

from __future__ import annotations

import datetime as dt

from authserver.store.database import db
from authserver.store.denylist import deny_access_token
from authserver.store.denylist import is_access_token_denied
from authserver.store.models import RevokedAccessToken


def test_a_denied_jti_stays_denied_and_a_second_denial_says_so(app, clock):
    now = clock.now()
    with app.app_context():
        assert not is_access_token_denied("jti-1")
        assert deny_access_token("jti-1", now + dt.timedelta(minutes=15), now) is True
        db.session.commit()
    with app.app_context():
        assert is_access_token_denied("jti-1")
        assert not is_access_token_denied("jti-2")
        assert deny_access_token("jti-1", now + dt.timedelta(minutes=15), now) is False
        db.session.commit()
        row = db.session.get(RevokedAccessToken, "jti-1")
        assert row.revoked_at.replace(tzinfo=dt.timezone.utc) == now
        assert db.session.query(RevokedAccessToken).count() == 1
