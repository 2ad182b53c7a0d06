"""`sessions prune` (retention.py) and the codes: authorization codes and device authorizations are
kept past their expiry for ``retention_seconds`` (a reused code is still recognised), then deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select

from authserver.store import retention
from authserver.store.database import db
from authserver.store.models import AuthorizationCode
from authserver.store.models import DeviceAuthorization
from tests.code_flow_helpers import code_client
from tests.code_flow_helpers import connect
from tests.device_helpers import device_client
from tests.device_helpers import started

RETENTION = 500


@pytest.fixture
def settings_overrides():
    return {"retention_seconds": RETENTION, "authorization_code_ttl_seconds": 60, "device_code_ttl_seconds": 600}


def rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def prune(app) -> dict:
    with app.app_context():
        counts = retention.prune(app.extensions["authserver"])
        db.session.commit()
        return counts


def test_prune_deletes_codes_only_once_they_have_been_expired_for_the_retention(app, client, factory, clock):
    factory.user("alice")
    connect(app, code_client(factory))
    started(client, device_client(factory))
    assert (rows(app, AuthorizationCode), rows(app, DeviceAuthorization)) == (1, 1)

    clock.advance(600 + RETENTION - 1)  # the code expired long ago, the device authorization too, not yet past retention
    assert prune(app)["deleted_codes"] == 1
    assert (rows(app, AuthorizationCode), rows(app, DeviceAuthorization)) == (0, 1)
    clock.advance(1)
    assert prune(app)["deleted_codes"] == 1
    assert rows(app, DeviceAuthorization) == 0

