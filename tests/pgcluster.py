"""Throwaway PostgreSQL 15 cluster for the test suite (a real server, never a mock).

``PostgresCluster`` runs initdb into a fresh temp dir under /tmp, starts the
server on a free 127.0.0.1 port with durability switched off (fsync,
synchronous_commit, full_page_writes) for speed, hands out per-test databases
as SQLAlchemy URLs, and on stop() kills the server and deletes everything.

Why the runuser dance: the test suite runs as root, both locally and in CI,
and initdb/postgres refuse to run as root.  So when os.geteuid() == 0 every
server command is run as the ``postgres`` OS user via
``runuser -u postgres -- ...``; the temp dir is chmod 0755 and chowned to
postgres so that user can traverse it and write the data dir, log and socket.
As a normal user the binaries are run directly.

Using an existing server instead: if the environment variable
AUTHSERVER_TEST_POSTGRES_URL is set (e.g.
``postgresql+psycopg://postgres@db.example:5432/postgres``), tests should use
that server and not start a cluster; ``external_url()`` returns it, else None.
"""
import atexit
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile

import psycopg
from psycopg import sql

DEFAULT_BIN_DIR = "/usr/lib/postgresql/15/bin"
ENV_URL = "AUTHSERVER_TEST_POSTGRES_URL"


def external_url():
    """The URL from AUTHSERVER_TEST_POSTGRES_URL, or None if unset/empty."""
    return os.environ.get(ENV_URL) or None


def _as_root():
    return os.geteuid() == 0


def available(bin_dir=DEFAULT_BIN_DIR):
    """True if initdb/pg_ctl/postgres exist (and runuser + a postgres user when root)."""
    if not all(os.access(os.path.join(bin_dir, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
        return False
    if _as_root():
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False
        return shutil.which("runuser") is not None
    return True


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self, bin_dir=DEFAULT_BIN_DIR, settings=None):
        """``settings``: more server settings (``{"shared_buffers": "1GB"}``), as ``-c name=value``."""
        self.bin_dir = bin_dir
        self.settings = dict(settings or {})
        self.tmpdir = self.datadir = self.logfile = self.port = None
        self._running = False

    # -- helpers ---------------------------------------------------------
    def _run(self, tool, *args, timeout=120):
        cmd = [os.path.join(self.bin_dir, tool), *args]
        if _as_root():
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, cwd=self.tmpdir, capture_output=True, text=True, timeout=timeout)

    def _log_tail(self, lines=30):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, TypeError):
            return "(no server log)"

    def _fail(self, what, proc):
        msg = (f"{what} failed (exit {proc.returncode})\nstdout: {proc.stdout}\nstderr: {proc.stderr}\n"
               f"--- tail of server log {self.logfile} ---\n{self._log_tail()}")
        self.stop()
        raise RuntimeError(msg)

    def _connect(self, dbname="postgres"):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               dbname=dbname, autocommit=True, connect_timeout=10)

    # -- API -------------------------------------------------------------
    def start(self):
        if self._running:
            return
        if not available(self.bin_dir):
            raise RuntimeError(f"PostgreSQL binaries not usable in {self.bin_dir}")
        self.tmpdir = tempfile.mkdtemp(prefix="authserver-pg-", dir="/tmp")
        os.chmod(self.tmpdir, 0o755)
        if _as_root():
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmpdir, pw.pw_uid, pw.pw_gid)
        self.datadir = os.path.join(self.tmpdir, "data")
        self.logfile = os.path.join(self.tmpdir, "server.log")
        atexit.register(self.stop)
        p = self._run("initdb", "-D", self.datadir, "-A", "trust", "-U", "postgres",
                      "--no-sync", "-E", "UTF8", "--locale=C")
        if p.returncode:
            self._fail("initdb", p)
        for attempt in range(3):  # retry in case another process grabbed the port
            self.port = _free_port()
            opts = " ".join([
                "-c listen_addresses=127.0.0.1", f"-c port={self.port}",
                f"-c unix_socket_directories={shlex.quote(self.tmpdir)}",
                "-c fsync=off", "-c synchronous_commit=off",
                "-c full_page_writes=off", "-c max_connections=200",
                *(f"-c {name}={shlex.quote(str(value))}" for name, value in self.settings.items())])
            p = self._run("pg_ctl", "start", "-w", "-t", "60", "-D", self.datadir,
                          "-l", self.logfile, "-o", opts)
            if p.returncode == 0:
                self._running = True
                return
            if attempt == 2 or "Address already in use" not in self._log_tail():
                self._fail("pg_ctl start", p)

    def url(self, name):
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name):
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name):
        with self._connect() as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))

    def stop(self):
        if self._running:
            self._running = False
            self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", self.datadir, timeout=60)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        atexit.unregister(self.stop)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
