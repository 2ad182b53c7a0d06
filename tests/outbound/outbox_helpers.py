"""Helpers of the outbox tests: queue a message, see what waits, run the `authserver` command as a process."""

from __future__ import annotations

import os
import sys
import time

from authserver.store import outbox
from authserver.store.database import db

AUTHSERVER = os.path.join(os.path.dirname(sys.executable), "authserver")


def enqueue(app, url, kind="backchannel_logout", **fields):
    services = app.extensions["authserver"]
    with app.app_context():
        message = outbox.enqueue(services.clock.now(), kind=kind, url=url, body=b"logout_token=eyJ",
                                 content_type="application/x-www-form-urlencoded", **fields)
        db.session.commit()
        return message.id



def waiting(app):
    with app.app_context():
        return [(m.id, m.attempts, m.last_error) for m in outbox.waiting()]



def process_env(database_url, keys_dir, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "PROMETHEUS_"))}
    return {**env, "AUTHSERVER_DATABASE_URL": database_url, "AUTHSERVER_KEYS_DIR": str(keys_dir),
            "AUTHSERVER_METRICS": "off", "AUTHSERVER_OUTBOUND_ALLOW_PRIVATE": "true", **settings}



def wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)

