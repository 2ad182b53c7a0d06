"""/healthz (the process answers) and /readyz (a signing key and a database that answers in time),
for load balancers: unauthenticated, and a 503 with a one-line reason when not ready."""

import os
import socket
import threading

import pytest

from authserver import create_app
from authserver.ops import health
from authserver.settings import Settings
from authserver.store.database import db
from authserver.tokens import keys
from tests.conftest import free_port
from tests.metrics_helpers import samples_of
from tests.metrics_helpers import value


def test_healthz_and_readyz_answer_on_a_working_server(client):
    assert (client.get("/healthz").status_code, client.get("/healthz").json) == (200, {"status": "ok"})
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json) == (200, {"status": "ready"})


def assert_not_ready(response, reason):
    assert response.status_code == 503
    assert response.json["error"] == "temporarily_unavailable"
    assert reason in response.json["error_description"]
    assert "\n" not in response.json["error_description"]
    assert response.headers["Retry-After"] == "5"


def app_on(database_url, keys_dir):
    return create_app(Settings(database_url=database_url, keys_dir=keys_dir))


def test_a_database_that_cannot_be_reached_is_not_ready_but_the_process_is_healthy(keys_dir):
    url = f"postgresql+psycopg://auth:hunter2@127.0.0.1:{free_port()}/auth"
    http = app_on(url, keys_dir).test_client()
    assert http.get("/healthz").status_code == 200
    response = http.get("/readyz")
    assert_not_ready(response, "the database cannot be used: ")
    assert "hunter2" not in response.get_data(as_text=True)


def test_a_database_that_hangs_is_not_ready_within_the_timeout(keys_dir, monkeypatch):
    # A server that accepts connections and never says a word (a stuck database, a black-holed route).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.2)
    http = app_on(f"postgresql+psycopg://auth@127.0.0.1:{listener.getsockname()[1]}/auth", keys_dir).test_client()
    try:
        assert_not_ready(http.get("/readyz"), "the database did not answer within 0.2 s")
        # The probe still hangs: the next check says so at once instead of starting another.
        assert_not_ready(http.get("/readyz"), "has not answered an earlier check yet")
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()  # the stuck probe now fails and finishes
        listener.close()
        for probe in threading.enumerate():
            if probe.name == "readyz-database-probe":
                probe.join(timeout=30)
    assert http.get("/readyz").status_code == 503  # finished: a new probe runs (and fails: nothing listens)
    assert "earlier check" not in http.get("/readyz").json["error_description"]


def test_a_database_without_the_schema_is_not_ready(tmp_path, keys_dir):
    http = app_on(f"sqlite:///{tmp_path}/empty.db", keys_dir).test_client()
    assert_not_ready(http.get("/readyz"), "the database has no schema; run `authserver db upgrade`")


def test_each_not_ready_answer_is_counted_for_the_alert_rules(tmp_path, keys_dir, database_url):
    def failures(app):
        text = app.extensions["authserver"].metrics.exposition()[0].decode()
        return value(samples_of(text), "authserver_readiness_failures_total")

    broken = app_on(f"sqlite:///{tmp_path}/empty.db", keys_dir)
    for _ in range(2):
        assert broken.test_client().get("/readyz").status_code == 503
    assert failures(broken) == 2
    working = app_on(database_url, keys_dir)
    assert working.test_client().get("/readyz").status_code == 200
    assert failures(working) == 0


def test_no_signing_key_is_not_ready(app, tmp_path, monkeypatch, database_url):
    own_keys = tmp_path / "keys"
    http = app_on(database_url, str(own_keys)).test_client()
    assert http.get("/readyz").status_code == 200
    for name in os.listdir(own_keys):
        if name.startswith("signing-"):
            os.remove(own_keys / name)
    monkeypatch.setattr(keys, "RELOAD_CHECK_SECONDS", 0)  # notice the emptied folder now, not within a second
    assert_not_ready(http.get("/readyz"), "no signing key is loaded")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_need_no_credentials_and_touch_no_session(app, client, path, backend):
    response = client.get(path)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    with app.app_context():
        assert db.session.execute(db.text("SELECT count(*) FROM security_events")).scalar() == 0
