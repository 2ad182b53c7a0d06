"""`authserver serve` runs the app under its default HTTP server with the settings from the environment:
JSON log lines a forged request cannot break, metrics added up across workers, the issuer it listens
on; the other HTTP server (``--http-server``) answers, logs and refuses alike."""

import itertools
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests

from authserver.serve import DEFAULT_HTTP_SERVER
from authserver.serve import HTTP_SERVERS
from authserver.settings import Settings
from tests.conftest import PASSWORD
from tests.conftest import free_port
from tests.metrics_helpers import samples_of
from tests.metrics_helpers import value

AUTHSERVER = shutil.which("authserver", path=os.path.dirname(sys.executable))
pytestmark = pytest.mark.skipif(AUTHSERVER is None, reason="the authserver console script is not installed")

OTHER_HTTP_SERVER = next(name for name in HTTP_SERVERS if name != DEFAULT_HTTP_SERVER)
# The line each HTTP server logs as it starts a worker.
WORKER_STARTED = {"gunicorn": "Booting worker", "granian": "Spawning worker"}

FORGED_PATH = "/x%0a127.0.0.1%20%22POST%20/oauth/token%22%20200%0a"


class Served:
    def __init__(self, process, base):
        self.process = process
        self.base = base
        self.output = ""

    def lines(self) -> list[dict]:
        """Every line the server wrote, parsed: each one must be a JSON object."""
        parsed = []
        for line in self.output.splitlines():
            entry = json.loads(line)  # fails on any line that is not JSON
            assert isinstance(entry, dict), line
            parsed.append(entry)
        return parsed

    def requests_logged(self) -> list[dict]:
        return [entry for entry in self.lines() if entry["logger"] == "authserver.requests"]


@contextmanager
def serve(env, *args, port=None, host="127.0.0.1"):
    port = port or free_port()
    process = subprocess.Popen([AUTHSERVER, "serve", "--host", host, "--port", str(port), *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    served = Served(process, f"http://{host}:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(served.base + "/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or its worker still booting
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        yield served
    finally:
        process.terminate()
        served.output = process.communicate(timeout=60)[0]


def environment(database_url, keys_dir, **settings):
    """A server's environment; metrics off unless a test asks (the default port is one per machine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "PROMETHEUS_"))}
    return {**env, "AUTHSERVER_DATABASE_URL": database_url, "AUTHSERVER_KEYS_DIR": str(keys_dir),
            "AUTHSERVER_METRICS": "off", **settings}


def scrape(url) -> dict:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return samples_of(response.text)


def test_serve_without_an_issuer_publishes_the_url_it_listens_on(tmp_path):
    # Before: `./scripts/serve --port 8000` published metadata whose every URL pointed at port 5000.
    env = environment(f"sqlite:///{tmp_path}/instance/a.db", tmp_path / "keys")
    subprocess.run([AUTHSERVER, "db", "upgrade"], env=env, check=True, capture_output=True)
    with serve(env, "--workers", "1") as server:
        metadata = requests.get(server.base + "/.well-known/oauth-authorization-server", timeout=10).json()
        assert metadata["issuer"] == server.base
        assert metadata["token_endpoint"] == server.base + "/oauth/token"
        jwks = requests.get(metadata["jwks_uri"], timeout=10).json()
        assert len(jwks["keys"]) == 1
    assert any(WORKER_STARTED[DEFAULT_HTTP_SERVER] in entry["message"] for entry in server.lines())
    assert server.lines()[0]["message"] == (f"serving {server.base} from the database {tmp_path}/instance/a.db "
                                            f"with the keys in {tmp_path}/keys")
    # Keys were generated on first start, private to their owner; so are the database and its folders.
    pem = [name for name in os.listdir(tmp_path / "keys") if name.endswith(".pem")]
    assert len(pem) == 1
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / pem[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "instance" / "a.db").st_mode) == 0o600


def raw_request(base, request_bytes: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request_bytes)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_two_workers_count_into_one_set_of_metrics_and_log_json_lines(app, factory, database_url, keys_dir):
    factory.user("alice")
    registered = factory.client(auth_method="client_secret_post")
    env = environment(database_url, keys_dir, AUTHSERVER_METRICS="on")  # on the public port: any worker answers
    with serve(env, "--workers", "2") as server:
        def sign_in(number):
            form = {"grant_type": "password", "username": "alice", "password": PASSWORD,
                    "client_id": registered.client_id, "client_secret": registered.client_secret}
            response = requests.post(server.base + "/oauth/token", data=form, timeout=30,
                                     headers={"X-Request-Id": f"test-sign-in-{number}"})
            assert response.status_code == 200, response.text
            assert response.headers["X-Request-Id"] == f"test-sign-in-{number}"
            return response.json()

        # In parallel, so that both (single-threaded) workers answer some.
        with ThreadPoolExecutor(4) as pool:
            tokens = list(pool.map(sign_in, range(8)))
            refreshed = list(pool.map(lambda t: requests.post(server.base + "/oauth/token", timeout=30, data={
                "grant_type": "refresh_token", "refresh_token": t["refresh_token"],
                "client_id": registered.client_id, "client_secret": registered.client_secret}), tokens))
        assert [r.status_code for r in refreshed] == [200] * 8
        wrong = requests.post(server.base + "/oauth/token", timeout=30, data={
            "grant_type": "password", "username": "alice", "password": "not-the-password",
            "client_id": registered.client_id, "client_secret": registered.client_secret})
        assert wrong.status_code == 400
        # The request that wrote a fake access-log line into gunicorn's old text log.
        forged = requests.get(server.base + FORGED_PATH, timeout=10, headers={"X-Request-Id": "bad id\u00e9"})
        assert forged.status_code == 404
        generated_id = forged.headers["X-Request-Id"]
        assert generated_id != "bad id" and len(generated_id) == 32
        # Control characters in headers: NUL in a header value, a bare CR.
        raw_request(server.base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x00b\r\nX-Request-Id: c\rd\r\n"
                                 b"Connection: close\r\n\r\n")

        samples = [scrape(server.base + "/metrics") for _ in range(4)]  # whichever worker answers
        for scraped in samples:
            assert value(scraped, "authserver_tokens_issued_total", grant_type="password") == 8
            assert value(scraped, "authserver_tokens_issued_total", grant_type="refresh_token") == 8
            assert value(scraped, "authserver_refresh_rotations_total") == 8
            assert value(scraped, "authserver_failed_signins_total", reason="bad_credentials") == 1
            assert value(scraped, "authserver_request_duration_seconds_count", endpoint="oauth.token") == 17

    logged = server.requests_logged()
    token_lines = [entry for entry in logged if entry["path"] == "/oauth/token"]
    assert len(token_lines) == 17
    assert len({entry["pid"] for entry in token_lines}) == 2, "both workers answered"
    for entry in token_lines:
        assert set(entry) >= {"time", "level", "request_id", "method", "path", "status", "duration_ms", "ip",
                              "client_id", "session_id"}
        assert entry["method"] == "POST" and entry["client_id"] == registered.client_id
        assert entry["duration_ms"] > 0
    signed_in = [entry for entry in token_lines if entry["request_id"].startswith("test-sign-in-")]
    assert sorted(entry["request_id"] for entry in signed_in) == [f"test-sign-in-{n}" for n in range(8)]
    assert all(entry["status"] == 200 and entry["session_id"] for entry in signed_in)
    # The forged request is one line, its path a JSON string with the line feeds inside it.
    forged_lines = [entry for entry in logged if entry["path"].startswith("/x")]
    assert len(forged_lines) == 1
    assert forged_lines[0]["path"] == '/x\n127.0.0.1 "POST /oauth/token" 200\n'
    assert forged_lines[0]["status"] == 404 and forged_lines[0]["request_id"] == generated_id
    assert not any(line.startswith("127.0.0.1") for line in server.output.splitlines())
    # Never a token, secret or password.
    for secret in [PASSWORD, "not-the-password", registered.client_secret,
                   *itertools.chain.from_iterable((t["access_token"], t["refresh_token"]) for t in tokens),
                   *(r.json()["refresh_token"] for r in refreshed)]:
        assert secret not in server.output


def chunks(total, size=64 * 1024):
    for start in range(0, total, size):
        yield b"a" * min(size, total - start)


def test_metrics_on_a_port_of_their_own_and_bodies_over_the_limit_under_gunicorn(tmp_path):
    metrics_port = free_port()
    env = environment(f"sqlite:///{tmp_path}/a.db", tmp_path / "keys", AUTHSERVER_METRICS=str(metrics_port))
    subprocess.run([AUTHSERVER, "db", "upgrade"], env=env, check=True, capture_output=True)
    with serve(env, "--workers", "2") as server:
        assert requests.get(server.base + "/metrics", timeout=10).status_code == 404  # not on the public port
        # A 10 MB chunked body: no Content-Length for the size check (before: cut, processed, 200).
        response = requests.post(server.base + "/oauth/token", data=chunks(10 * 1024 * 1024), timeout=60,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 413
        assert response.json()["error"] == "invalid_request"
        for _ in range(3):
            assert requests.get(server.base + "/oauth/jwks", timeout=10).status_code == 200
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert value(samples, "authserver_request_duration_seconds_count", endpoint="oauth.jwks") == 3
        assert value(samples, "authserver_request_duration_seconds_count", endpoint="oauth.token") == 1
    logged = server.requests_logged()
    assert [entry["status"] for entry in logged if entry["path"] == "/oauth/token"] == [413]


@contextmanager
def taken_port():
    """A port another process (this one) listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        yield taken.getsockname()[1]


def serve_until_it_stops(tmp_path, port, *args, **settings):
    """`serve` on a migrated database, expected to stop before the HTTP server starts."""
    env = environment(f"sqlite:///{tmp_path}/a.db", tmp_path / "keys", **settings)
    subprocess.run([AUTHSERVER, "db", "upgrade"], env=env, check=True, capture_output=True)
    return subprocess.run([AUTHSERVER, "serve", "--port", str(port), "--workers", "1", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_metrics_port_that_is_taken_stops_serve_with_one_line(tmp_path):
    with taken_port() as port:
        result = serve_until_it_stops(tmp_path, free_port(), AUTHSERVER_METRICS=str(port))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"authserver: AUTHSERVER_METRICS cannot be used: port {port} on 127.0.0.1: Address already in use"]


def port_is_free(host, port) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the metrics server does: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def refuses_connections(host, port) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_by_default_metrics_are_on_a_loopback_port_of_their_own_never_the_public_one(tmp_path):
    default_port = Settings().metrics_port
    if not port_is_free("127.0.0.1", default_port):
        pytest.skip(f"port {default_port} is taken on this machine")
    env = environment(f"sqlite:///{tmp_path}/a.db", tmp_path / "keys", AUTHSERVER_ISSUER="https://auth.example")
    del env["AUTHSERVER_METRICS"]  # nothing configured
    subprocess.run([AUTHSERVER, "db", "upgrade"], env=env, check=True, capture_output=True)
    # Listening on another address than the metrics: 127.0.0.2 is loopback too, but a different address.
    with serve(env, "--workers", "1", host="127.0.0.2") as server:
        assert requests.get(server.base + "/oauth/jwks", timeout=10).status_code == 200
        assert requests.get(server.base + "/metrics", timeout=10).status_code == 404  # not on the public port
        samples = scrape(f"http://127.0.0.1:{default_port}/metrics")
        assert value(samples, "authserver_request_duration_seconds_count", endpoint="oauth.jwks") == 1
        assert refuses_connections("127.0.0.2", default_port)  # only loopback's 127.0.0.1, not the public address
    started = [entry["message"] for entry in server.lines() if entry["message"].startswith("metrics at")]
    assert started == [f"metrics at http://127.0.0.1:{default_port}/metrics"]


def test_a_metrics_port_that_is_the_public_one_stops_serve_with_one_line(tmp_path):
    port = free_port()
    result = serve_until_it_stops(tmp_path, port, AUTHSERVER_METRICS=str(port))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"authserver: AUTHSERVER_METRICS cannot be used: port {port} is the one `serve` listens on; "
        "metrics need a port of their own"]


def test_a_port_that_is_taken_stops_serve_with_one_line_and_exit_status_2(tmp_path):
    with taken_port() as port:
        result = serve_until_it_stops(tmp_path, port)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"authserver: port {port} on 127.0.0.1 is taken by another process (a server already running?): "
        "stop it or choose another with --port"]


def test_the_other_http_server_answers_logs_counts_and_refuses_alike(app, factory, database_url, keys_dir, tmp_path):
    factory.user("alice")
    registered = factory.client(auth_method="client_secret_post")
    metrics_port = free_port()
    env = environment(database_url, keys_dir, AUTHSERVER_METRICS=str(metrics_port))
    with serve(env, "--workers", "2", "--threads", "2", "--http-server", OTHER_HTTP_SERVER) as server:
        signed_in = requests.post(server.base + "/oauth/token", timeout=30, headers={"X-Request-Id": "other-server-1"},
                                  data={"grant_type": "password", "username": "alice", "password": PASSWORD,
                                        "client_id": registered.client_id, "client_secret": registered.client_secret})
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.headers["X-Request-Id"] == "other-server-1"
        refreshed = requests.post(server.base + "/oauth/token", timeout=30, data={
            "grant_type": "refresh_token", "refresh_token": signed_in.json()["refresh_token"],
            "client_id": registered.client_id, "client_secret": registered.client_secret})
        assert refreshed.status_code == 200, refreshed.text
        assert requests.get(server.base + FORGED_PATH, timeout=10).status_code == 404
        assert requests.get(server.base + "/metrics", timeout=10).status_code == 404  # not on the public port
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert value(samples, "authserver_tokens_issued_total", grant_type="password") == 1
        assert value(samples, "authserver_tokens_issued_total", grant_type="refresh_token") == 1
        # The delivery worker runs beside it, a child of serve's master.
        beside = subprocess.run(["pgrep", "-P", str(server.process.pid), "-f", "outbox run --beside-server"],
                                capture_output=True, text=True)
        assert beside.stdout.split(), "no delivery worker beside the server"
    assert server.process.returncode == 0  # SIGTERM: a graceful stop
    assert any(WORKER_STARTED[OTHER_HTTP_SERVER] in entry["message"] for entry in server.lines())
    assert not os.path.exists(f"/proc/{beside.stdout.split()[0]}"), "the delivery worker outlived the server"
    token_lines = [entry for entry in server.requests_logged() if entry["path"] == "/oauth/token"]
    assert [(entry["method"], entry["status"], entry["client_id"]) for entry in token_lines] == [
        ("POST", 200, registered.client_id)] * 2
    assert token_lines[0]["request_id"] == "other-server-1"
    for entry in token_lines:
        assert set(entry) >= {"time", "level", "request_id", "method", "path", "status", "duration_ms", "ip",
                              "client_id", "session_id"}
        assert entry["duration_ms"] > 0 and entry["ip"] == "127.0.0.1" and entry["session_id"]
    forged_lines = [entry for entry in server.requests_logged() if entry["path"].startswith("/x")]
    assert [entry["path"] for entry in forged_lines] == ['/x\n127.0.0.1 "POST /oauth/token" 200\n']
    for secret in [PASSWORD, registered.client_secret, signed_in.json()["refresh_token"],
                   signed_in.json()["access_token"], refreshed.json()["refresh_token"]]:
        assert secret not in server.output

    # The same one-line refusals: a taken port, and a database without the schema.
    with taken_port() as port:
        result = serve_until_it_stops(tmp_path, port, "--http-server", OTHER_HTTP_SERVER)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"authserver: port {port} on 127.0.0.1 is taken by another process (a server already running?): "
        "stop it or choose another with --port"]
    fresh = environment(f"sqlite:///{tmp_path}/fresh.db", tmp_path / "fresh-keys")
    result = subprocess.run([AUTHSERVER, "serve", "--port", str(free_port()), "--http-server", OTHER_HTTP_SERVER],
                            env=fresh, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [f"authserver: there is no database at {tmp_path}/fresh.db: run "
                                          "`authserver db upgrade` to create one, or set AUTHSERVER_HOME (or "
                                          "AUTHSERVER_DATABASE_URL) to the server's"]
