"""Fixtures: an app on SQLite or on a real PostgreSQL (one switch), a movable clock, a live server.

``--db sqlite|postgresql|all`` (default ``all``) picks the databases every app test runs against.
PostgreSQL is a throwaway cluster started once per run (see pgcluster.py); the schema comes from
the Alembic migrations, so every run also tests them.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from urllib.parse import quote_plus

import pytest
from werkzeug.serving import make_server

from authserver import create_app
from authserver.accounts import clients
from authserver.accounts import users
from authserver.clock import ManualClock
from authserver.settings import Settings
from authserver.store.database import db

try:
    from tests import pgcluster
except ImportError:  # pragma: no cover
    import pgcluster

PASSWORD = "correct horse battery staple"
TABLES = ("used_dpop_proofs", "ssf_streams", "registration_tokens", "legacy_sessions", "outbox", "security_events", "device_authorizations", "authorization_codes", "consents", "revoked_access_tokens", "refresh_tokens", "device_sessions", "clients", "users",
          "resources")


def pytest_configure(config):
    # Nothing a test runs may touch the real AUTHSERVER_HOME (~/.local/share/authserver): a command or
    # server started without settings of its own gets a folder of this run's.
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="authserver-test-data-")


def pytest_addoption(parser):
    parser.addoption("--db", default=os.environ.get("AUTHSERVER_TEST_DB", "all"),
                     choices=("sqlite", "postgresql", "all"), help="database(s) the app tests run against")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = ["sqlite", "postgresql"] if choice == "all" else [choice]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    # One key ring for the run: generating RSA keys per test would dominate the suite's time.
    return str(tmp_path_factory.mktemp("keys"))


def _migrate(url, keys_dir):
    from flask_migrate import upgrade

    app = create_app(Settings(database_url=url, keys_dir=keys_dir))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory, keys_dir):
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    _migrate(f"sqlite:///{path}", keys_dir)
    return path


@pytest.fixture(scope="session")
def postgres_url(keys_dir):
    external = pgcluster.external_url()
    if external:
        _migrate(external, keys_dir)
        yield external
        return
    if not pgcluster.available():
        pytest.skip("PostgreSQL 15 binaries are not installed")
    cluster = pgcluster.PostgresCluster()
    cluster.start()
    url = cluster.create_database("authserver_test")
    _migrate(url, keys_dir)
    yield url
    cluster.stop()


@pytest.fixture
def database_url(backend, request, tmp_path):
    if backend == "sqlite":
        path = tmp_path / "authserver.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def settings_overrides():
    """Override in a test module (or parametrize) to change settings for its app."""
    return {}


@pytest.fixture
def app(database_url, keys_dir, clock, settings_overrides, backend):
    settings = Settings(**{"database_url": database_url, "keys_dir": keys_dir, "cookie_secure": False,
                           **settings_overrides})
    app = create_app(settings, clock=clock)
    app.config["TESTING"] = True
    app.config["WTF_CSRF_ENABLED"] = app.config.get("WTF_CSRF_ENABLED", True)
    with app.app_context():
        if backend == "postgresql":
            db.session.execute(db.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class RegisteredClient:
    client_id: str
    client_secret: str | None
    auth_method: str

    def auth(self, data: dict | None = None) -> tuple[dict, dict]:
        """(form, headers) authenticating this client the way it was registered."""
        data = dict(data or {})
        headers = {}
        if self.auth_method == "client_secret_basic":
            raw = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        elif self.auth_method == "client_secret_post":
            data.update(client_id=self.client_id, client_secret=self.client_secret)
        else:
            data["client_id"] = self.client_id
        return data, headers


class Factory:
    """Creates users and clients the way the CLI does, and runs the common grants."""

    def __init__(self, app):
        self.app = app
        self.services = app.extensions["authserver"]

    def user(self, username="alice", password=PASSWORD, admin=False, email=None):
        with self.app.app_context():
            user = users.create_user(self.services, username, password, email=email, admin=admin)
            db.session.commit()
            return user.id

    def client(self, name="app", grant_types=("password", "refresh_token"), scope="profile email",
               auth_method="client_secret_basic", introspect=False, redirect_uris=(), first_party=False,
               post_logout_redirect_uris=(), backchannel_logout_uri=None, dpop=False):
        with self.app.app_context():
            client, secret = clients.create_client(self.services, name, list(grant_types), scope, auth_method,
                                                    list(redirect_uris), introspect, first_party=first_party,
                                                    post_logout_redirect_uris=list(post_logout_redirect_uris),
                                                    backchannel_logout_uri=backchannel_logout_uri,
                                                    dpop_bound_access_tokens=dpop)
            db.session.commit()
            return RegisteredClient(client.client_id, secret, auth_method)


@pytest.fixture
def factory(app):
    return Factory(app)


@pytest.fixture
def registered(factory):
    """alice, and a confidential app she signs in to with the password grant (modules needing other
    users or another client define their own)."""
    factory.user()
    return factory.client()


@pytest.fixture
def introspector(factory):
    """A resource server's client: no grant of its own, allowed to introspect (RFC 7662)."""
    return factory.client(name="resource server", grant_types=(), scope="", introspect=True)


def token_request(http, client: RegisteredClient, headers=None, **form):
    data, auth_headers = client.auth(form)
    return http.post("/oauth/token", data=data, headers={**auth_headers, **(headers or {})})


def password_login(http, client: RegisteredClient, username="alice", password=PASSWORD, **extra):
    return token_request(http, client, grant_type="password", username=username, password=password, **extra)


def refresh(http, client: RegisteredClient, refresh_token, **extra):
    return token_request(http, client, grant_type="refresh_token", refresh_token=refresh_token, **extra)


def in_unit_of_work(app, call):
    """``call(services)`` in an app context of its own, committed after, as a request or command is:
    for tests that drive the storage and session rules without HTTP."""
    with app.app_context():
        result = call(app.extensions["authserver"])
        db.session.commit()
        return result


@pytest.fixture
def live_server(app):
    """The app on a real threaded HTTP server on 127.0.0.1, for HTTP clients and races."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def at_once(count: int, call) -> list:
    """``call()`` from ``count`` threads released together, for races against the live server: the
    results in the order they came."""
    barrier = threading.Barrier(count)
    results = []

    def run():
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def issuer(app):
    return app.extensions["authserver"].settings.issuer


@pytest.fixture
def metadata(live_server, issuer):
    """The live server's RFC 8414 metadata, discovered as a third-party client does."""
    from conformance.clients import discover

    return discover(live_server, issuer)


@pytest.fixture
def blocked(tmp_path):
    """A path whose parent is a regular file: no folder can be made there (even as root)."""
    (tmp_path / "file").write_text("")
    return str(tmp_path / "file" / "keys")


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on (for a server to start on, or a connection to be refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def worker(app):
    """The app's outbox delivery worker, driven a round at a time (``worker.step()``) instead of its loop."""
    from authserver.outbound.worker import OutboxWorker

    made = OutboxWorker(app)
    yield made
    made.close()


@pytest.fixture
def receiver():
    """An HTTP receiver on 127.0.0.1 (outbound deliveries: logout tokens, events), closed after the test."""
    from tests.outbound.receivers import Receiver

    served = Receiver()
    yield served
    served.close()


@pytest.fixture
def second_receiver():
    """Another one, beside ``receiver``."""
    from tests.outbound.receivers import Receiver

    served = Receiver()
    yield served
    served.close()
