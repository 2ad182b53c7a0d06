"""A real ``authserver serve`` (its default HTTP server) for tests that drive the server from outside: its own
SQLite database and keys in a temporary folder, a free port, and the ``authserver`` command run
with the same settings (and no AUTHSERVER_* or PROMETHEUS_* variable of the caller's) to create
users and clients.

    with Served(tmp_path) as server:
        alice = server.create_user("alice", "s3cret-passw0rd")
        app = server.create_client("--grant-type", "password", "--scope", "profile")
        requests.post(server.url + "/oauth/token", ...)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import free_port

AUTHSERVER = shutil.which("authserver", path=os.path.dirname(sys.executable))
METADATA_PATH = "/.well-known/oauth-authorization-server"


class Served:
    """``issuer`` defaults to the URL the server listens on; ``settings`` are more AUTHSERVER_*
    variables (``refresh_grace_seconds=0`` → ``AUTHSERVER_REFRESH_GRACE_SECONDS=0``)."""

    def __init__(self, folder, issuer: str | None = None, workers: int = 1, **settings):
        if AUTHSERVER is None:
            raise RuntimeError("the authserver console script is not installed next to this Python")
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = folder / "serve.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "PROMETHEUS_"))}
        self.env = {
            **inherited,
            "AUTHSERVER_DATABASE_URL": f"sqlite:///{folder}/authserver.db",
            "AUTHSERVER_KEYS_DIR": str(folder / "keys"),
            "AUTHSERVER_ISSUER": issuer or self.url,
            "AUTHSERVER_METRICS": "off",  # the default port is one per machine; servers here run side by side
            **{f"AUTHSERVER_{name.upper()}": str(value) for name, value in settings.items()},
        }
        self.process = None

    # -- the command line ------------------------------------------------------------------
    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([AUTHSERVER, *args], env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"authserver {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def create_user(self, username: str, password: str, *options: str) -> dict:
        return json.loads(self.cli("users", "create", username, "--password-stdin", "--json", *options,
                                   stdin=password + "\n"))

    def create_client(self, *options: str) -> dict:
        return json.loads(self.cli("clients", "create", "--json", *options))

    def create_all(self, *calls: tuple) -> list:
        """Several ``create_*`` calls at once (each is a process; they wait for each other's writes)."""
        with ThreadPoolExecutor(max_workers=3) as pool:
            return list(pool.map(lambda call: call[0](*call[1:]), calls))

    # -- the server ------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        self.cli("db", "upgrade")
        log = open(self.log_path, "w")  # a file, not a pipe: a long run's access log never blocks the server
        self.process = subprocess.Popen([AUTHSERVER, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + METADATA_PATH, timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or a worker still booting on a loaded machine
            if self.process.poll() is not None:
                raise AssertionError(f"authserver serve exited ({self.process.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"authserver serve did not answer in {timeout} s:\n{self.output()}")
            time.sleep(0.2)

    def stop(self) -> str:
        """Stop the server (only the process this object started) and return its output."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.output()

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def __enter__(self) -> "Served":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
