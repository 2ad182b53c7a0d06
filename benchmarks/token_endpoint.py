#!/usr/bin/env python
"""Token-endpoint load measurements against a real `authserver serve` (gunicorn), plus two
in-process micro-benchmarks. Speed is measured here and written down in benchmarks/README.md;
no test asserts on it.

    . .venv/bin/activate
    python benchmarks/token_endpoint.py                 # the default run, under 2 minutes
    python benchmarks/token_endpoint.py --duration 20 --threads 8 --json results.json

What runs, in this order:

1. micro: N RS256 access-token signings with the key ring's cached key set vs. re-importing the
   PEM for every token (``joserfc.jwk.RSAKey.import_key``), and the server's own client-secret
   check (``Client.check_client_secret``: a SHA-256 digest) vs. argon2id (19 MiB, t=2, p=1).
2. SQLite: ``authserver db upgrade``, a user and a client made with the CLI (``--json``), then
   ``authserver serve`` on a free port with its own temp database and keys dir, and, each for
   ``--duration`` seconds with ``--threads`` client threads (one ``requests.Session`` each):
   refresh grants (each thread walks its own session's refresh chain), password grants, JWKS GETs.
3. PostgreSQL: the same refresh and password runs against a throwaway cluster (tests/pgcluster.py).
   The password run is there for contrast: on SQLite every token request opens its transaction
   with ``BEGIN IMMEDIATE`` (the database-wide write lock) before the argon2 check, so sign-ins
   are serialised across workers; on PostgreSQL they run in parallel.

Every figure is printed with the ratios between figures of this one run: the machine is shared
and noisy, so ratios travel better than absolute numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

PASSWORD = "benchmark-password-123"
BIN = os.path.dirname(sys.executable)
AUTHSERVER = shutil.which("authserver", path=BIN) or os.path.join(BIN, "authserver")


# -- the machine -----------------------------------------------------------------------------
def machine() -> dict:
    model = "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    versions = {}
    for name in ("authlib", "joserfc", "cryptography", "argon2-cffi", "gunicorn", "SQLAlchemy", "psycopg"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    import sqlite3

    versions["sqlite"] = sqlite3.sqlite_version
    return {"nproc": nproc, "cpu": model, "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions}


# -- micro-benchmarks ------------------------------------------------------------------------
def _per_op(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def micro_signing(n: int) -> dict:
    """Sign n access tokens the way the server does, with the cached key set vs. a fresh import."""
    from joserfc import jwt
    from joserfc.jwk import KeySet
    from joserfc.jwk import RSAKey

    from authserver.tokens.keys import KeyRing

    with tempfile.TemporaryDirectory(prefix="authserver-bench-keys-") as keys_dir:
        ring = KeyRing(keys_dir, 900)
        ring.ensure_key()
        pem_path = next(os.path.join(keys_dir, f) for f in os.listdir(keys_dir) if f.endswith(".pem"))
        with open(pem_path, "rb") as handle:
            pem = handle.read()

        def claims():
            now = int(time.time())
            return {"iss": "http://127.0.0.1:5000", "aud": "http://127.0.0.1:5000", "sub": str(uuid.uuid4()),
                    "client_id": "client_bench", "iat": now, "exp": now + 900, "jti": secrets.token_hex(16),
                    "scope": "profile", "sid": str(uuid.uuid4())}

        header = {"alg": "RS256", "typ": "at+jwt"}

        def cached():
            # What AccessTokenGenerator does per token: ask the ring, sign with its one-key set.
            jwt.encode(header, claims(), ring.signing_key_set())

        def reimport():
            key = RSAKey.import_key(pem, parameters={"use": "sig", "alg": "RS256"})
            key.ensure_kid()
            jwt.encode(header, claims(), KeySet([key]))

        def import_only():
            RSAKey.import_key(pem, parameters={"use": "sig", "alg": "RS256"}).ensure_kid()

        cached()  # warm up imports and the ring
        reimport()
        t_cached = _per_op(cached, n)
        t_reimport = _per_op(reimport, n)
        t_import = _per_op(import_only, max(1, n // 2))
    return {"n": n, "cached_ms": t_cached * 1e3, "reimport_ms": t_reimport * 1e3, "import_only_ms": t_import * 1e3,
            "ratio": t_reimport / t_cached}


def micro_client_secret(n_sha: int, n_argon: int) -> dict:
    """Checking a client secret: the server's own ``Client.check_client_secret`` vs. argon2id verify."""
    from argon2 import PasswordHasher
    from argon2 import Type

    from authserver.store.models import Client
    from authserver.store.models import sha256_hex

    secret = secrets.token_urlsafe(32)
    client = Client(secret_digest=sha256_hex(secret))  # stored as clients.create_client stores it
    if not client.check_client_secret(secret) or client.check_client_secret(secret + "x"):
        raise RuntimeError("Client.check_client_secret does not tell the secret from another")

    def sha():
        client.check_client_secret(secret)

    hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, type=Type.ID)
    hashed = hasher.hash(secret)

    def argon():
        hasher.verify(hashed, secret)

    argon()
    t_sha = _per_op(sha, n_sha)
    t_argon = _per_op(argon, n_argon)
    return {"n_sha256": n_sha, "n_argon2": n_argon, "sha256_us": t_sha * 1e6, "argon2_ms": t_argon * 1e3,
            "ratio": t_argon / t_sha}


# -- a real server ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def authserver_env(database_url: str, workdir: str, issuer: str) -> dict:
    """The environment of a benchmarked ``authserver``: its own database, keys folder and issuer."""
    return {**os.environ, "AUTHSERVER_DATABASE_URL": database_url, "AUTHSERVER_KEYS_DIR": os.path.join(workdir, "keys"),
            "AUTHSERVER_ISSUER": issuer,
            # metrics collected as in production, on a port of their own (the default one may be taken)
            "AUTHSERVER_METRICS": str(free_port()),
            # a benchmark never gets a password wrong, but never let a throttle skew figures
            "AUTHSERVER_LOGIN_MAX_FAILURES": "1000000"}


def run_authserver(env: dict, workdir: str, *args, stdin: str | None = None) -> dict:
    """Run one ``authserver`` command; its JSON answer when given ``--json``."""
    done = subprocess.run([AUTHSERVER, *args], env=env, input=stdin, capture_output=True, text=True, cwd=workdir,
                          timeout=300)
    if done.returncode:
        raise RuntimeError(f"authserver {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout) if "--json" in args else {}


class Server:
    """`authserver db upgrade`, a user and a client by the CLI, then `authserver serve` on a free port."""

    def __init__(self, database_url: str, workers: int, workdir: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "server.log")
        self.env = authserver_env(database_url, workdir, self.base)
        self.process = None
        self.client_id = self.client_secret = None

    def cli(self, *args, stdin: str | None = None) -> dict:
        return run_authserver(self.env, self.workdir, *args, stdin=stdin)

    def setup(self) -> None:
        self.cli("db", "upgrade")
        self.cli("users", "create", "bench", "--password-stdin", "--json", stdin=PASSWORD + "\n")
        client = self.cli("clients", "create", "--name", "bench", "--grant-type", "password",
                          "--grant-type", "refresh_token", "--scope", "profile email", "--json")
        self.client_id, self.client_secret = client["client_id"], client["client_secret"]

    def start(self) -> None:
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([AUTHSERVER, "serve", "--port", str(self.port), "--workers",
                                         str(self.workers)], env=self.env, cwd=self.workdir,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.base + "/.well-known/oauth-authorization-server", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        with open(self.log_path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()

    # -- requests --------------------------------------------------------------------------
    def password_grant(self, http: requests.Session) -> requests.Response:
        return http.post(self.base + "/oauth/token", auth=(self.client_id, self.client_secret), timeout=60,
                         data={"grant_type": "password", "username": "bench", "password": PASSWORD,
                               "scope": "profile", "device_name": "benchmark"})

    def refresh_grant(self, http: requests.Session, refresh_token: str) -> requests.Response:
        return http.post(self.base + "/oauth/token", auth=(self.client_id, self.client_secret), timeout=60,
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token})

    def jwks(self, http: requests.Session) -> requests.Response:
        return http.get(self.base + "/oauth/jwks", timeout=60)


# -- load runs -------------------------------------------------------------------------------
class Worker:
    """One client thread's state: its HTTP session, and for refresh runs its refresh chain."""

    def __init__(self, server: Server):
        self.http = requests.Session()
        self.server = server
        self.refresh_token = None
        self.op = "refresh"
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def login(self) -> None:
        response = self.server.password_grant(self.http)
        response.raise_for_status()
        self.refresh_token = response.json()["refresh_token"]

    def refresh_once(self) -> bool:
        response = self.server.refresh_grant(self.http, self.refresh_token)
        if response.status_code != 200:
            self._error(response)
            # a broken chain would stop the thread: start a new session and go on
            self.login()
            return False
        self.refresh_token = response.json()["refresh_token"]
        return True

    def password_once(self) -> bool:
        response = self.server.password_grant(self.http)
        if response.status_code != 200:
            self._error(response)
            return False
        return "access_token" in response.json()

    def jwks_once(self) -> bool:
        response = self.server.jwks(self.http)
        if response.status_code != 200:
            self._error(response)
            return False
        return bool(response.json()["keys"])

    def _error(self, response) -> None:
        key = f"{response.status_code} {response.text[:80]}"
        self.errors[key] = self.errors.get(key, 0) + 1


OPS = {"refresh": Worker.refresh_once, "password": Worker.password_once, "jwks": Worker.jwks_once}


def run_load(server: Server, kind: str, threads: int, duration: float, warmup: float = 1.0) -> dict:
    """``threads`` client threads doing ``kind`` requests for ``duration`` seconds after a warm-up.

    ``mixed``: half the threads walk refresh chains while the other half sign in (password grants),
    which shows what a sign-in's argon2 check does to refresh latency."""
    if kind == "mixed":
        names = ["refresh" if index < max(1, threads // 2) else "password" for index in range(threads)]
    else:
        names = [kind] * threads
    workers = [Worker(server) for _ in range(threads)]
    for worker, name in zip(workers, names):
        worker.op = name
        if name == "refresh":
            worker.login()
    barrier = threading.Barrier(threads + 1)
    go = threading.Event()
    window = {}

    def body(worker: Worker):
        op = OPS[worker.op]
        barrier.wait()  # 1: start warming up
        while time.monotonic() < window["warm_until"]:
            op(worker)
        worker.latencies.clear()
        barrier.wait()  # 2: everybody is warm
        go.wait()
        stop = window["stop"]
        while time.monotonic() < stop:
            started = time.perf_counter()
            if op(worker):
                worker.latencies.append(time.perf_counter() - started)

    pool = [threading.Thread(target=body, args=(w,), daemon=True) for w in workers]
    for thread in pool:
        thread.start()
    window["warm_until"] = time.monotonic() + warmup
    barrier.wait()
    barrier.wait()
    for worker in workers:
        worker.errors.clear()
    started = time.monotonic()
    window["stop"] = started + duration
    go.set()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    by_op = {}
    for name in dict.fromkeys(names):
        mine = [w for w in workers if w.op == name]
        by_op[name] = _stats(name, len(mine), elapsed, [l for w in mine for l in w.latencies],
                             [w.errors for w in mine])
    return by_op[kind] if kind != "mixed" else {"kind": "mixed", "threads": threads, "by_op": by_op}


def _stats(kind: str, threads: int, elapsed: float, latencies: list[float], error_maps: list[dict]) -> dict:
    latencies = sorted(latencies)
    errors = {}
    for error_map in error_maps:
        for key, count in error_map.items():
            errors[key] = errors.get(key, 0) + count
    return {
        "kind": kind,
        "threads": threads,
        "seconds": elapsed,
        "ok": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1e3 * statistics.median(latencies) if latencies else None,
        "p95_ms": 1e3 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "errors": errors,
    }


# -- the run ---------------------------------------------------------------------------------
def serve_and_measure(database_url: str, kinds: list[str], args, workdir: str, label: str) -> dict:
    server = Server(database_url, args.workers, workdir)
    server.setup()
    server.start()
    try:
        results = {}
        for kind in kinds:
            print(f"  {label}: {kind} for {args.duration:g}s with {args.threads} threads ...", flush=True)
            results[kind] = run_load(server, kind, args.threads, args.duration)
        return results
    finally:
        server.stop()


def fmt(value, digits=1):
    return "-" if value is None else f"{value:,.{digits}f}"


def report(info: dict, results: dict, args) -> str:
    lines = [
        f"machine: nproc={info['nproc']}, CPU {info['cpu']}, Python {info['python']} ({info['platform']})",
        "versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"command: {' '.join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]) or 'token_endpoint.py'}"
        f"  (threads={args.threads}, gunicorn workers={args.workers}, {args.duration:g}s per run)",
        "",
    ]
    if "micro" in results:
        sign, secret = results["micro"]["signing"], results["micro"]["client_secret"]
        lines += [
            "| in-process micro-benchmark | per operation | ratio |",
            "| --- | ---: | ---: |",
            f"| sign an access token, cached key set (n={sign['n']}) | {sign['cached_ms']:.2f} ms | 1 |",
            f"| sign an access token, re-importing the PEM each time (n={sign['n']}) | {sign['reimport_ms']:.2f} ms"
            f" | {sign['ratio']:.1f}x |",
            f"| (the PEM import alone) | {sign['import_only_ms']:.2f} ms | |",
            f"| client secret check, Client.check_client_secret (n={secret['n_sha256']}) | {secret['sha256_us']:.2f} µs"
            f" | 1 |",
            f"| client secret check, argon2id 19 MiB t=2 p=1 (n={secret['n_argon2']}) | {secret['argon2_ms']:.1f} ms"
            f" | {secret['ratio']:,.0f}x |",
            "",
        ]
    http_rows = []
    base = None
    for label, runs in (("SQLite", results.get("sqlite", {})), ("PostgreSQL", results.get("postgresql", {}))):
        for kind, run in runs.items():
            if kind == "mixed":
                for op, sub in run["by_op"].items():
                    http_rows.append((label, f"mixed:{op}", sub))
                continue
            if label == "SQLite" and kind == "refresh":
                base = run["per_second"]
            http_rows.append((label, kind, run))
    if http_rows:
        lines += [
            "| HTTP run | requests/s | vs. SQLite refresh | p50 | p95 | ok | errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        names = {"refresh": "refresh grant", "password": "password grant", "jwks": "JWKS GET",
                 "mixed:refresh": "mixed: refresh grant, {n} threads, while the others sign in",
                 "mixed:password": "mixed: password grant, {n} threads, while the others refresh"}
        for label, kind, run in http_rows:
            ratio = f"{run['per_second'] / base:.2f}x" if base else "-"
            errors = sum(run["errors"].values())
            name = names[kind].format(n=run["threads"])
            lines.append(f"| {name} ({label}) | {fmt(run['per_second'])} | {ratio} | {fmt(run['p50_ms'])} ms"
                         f" | {fmt(run['p95_ms'])} ms | {run['ok']} | {errors} |")
        for label, kind, run in http_rows:
            for key, count in run["errors"].items():
                lines.append(f"  {label} {kind} error x{count}: {key}")
        ratio_lines = []
        rate = {(label, kind): run["per_second"] for label, kind, run in http_rows}
        pairs = [
            ("refresh / password grants (SQLite)", ("SQLite", "refresh"), ("SQLite", "password")),
            ("JWKS GETs / refresh grants (SQLite)", ("SQLite", "jwks"), ("SQLite", "refresh")),
            ("refresh grants PostgreSQL / SQLite", ("PostgreSQL", "refresh"), ("SQLite", "refresh")),
            ("password grants PostgreSQL / SQLite", ("PostgreSQL", "password"), ("SQLite", "password")),
            ("refresh / password grants (PostgreSQL)", ("PostgreSQL", "refresh"), ("PostgreSQL", "password")),
            ("refresh grants while others sign in / alone (SQLite)", ("SQLite", "mixed:refresh"), ("SQLite", "refresh")),
            ("refresh grants while others sign in / alone (PostgreSQL)", ("PostgreSQL", "mixed:refresh"),
             ("PostgreSQL", "refresh")),
        ]
        for name, top, bottom in pairs:
            if rate.get(top) and rate.get(bottom):
                ratio_lines.append(f"- {name}: {rate[top] / rate[bottom]:.2f}")
        p95 = {(label, kind): run["p95_ms"] for label, kind, run in http_rows}
        for label in ("SQLite", "PostgreSQL"):
            if p95.get((label, "mixed:refresh")) and p95.get((label, "refresh")):
                ratio_lines.append(f"- refresh p95 while others sign in / alone ({label}): "
                                   f"{p95[(label, 'mixed:refresh')] / p95[(label, 'refresh')]:.2f}")
        if ratio_lines:
            lines += ["", "ratios (same run):", *ratio_lines]
    return "\n".join(lines)


def run_list(value: str) -> list[str]:
    runs = [name for name in value.split(",") if name]
    unknown = [name for name in runs if name not in (*OPS, "mixed")]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown run {unknown[0]!r}; choose from {', '.join([*OPS, 'mixed'])}")
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measured HTTP run (default 8)")
    parser.add_argument("--threads", type=int, default=4, help="concurrent client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, as `serve`)")
    parser.add_argument("--sign-n", type=int, default=200, help="signings per micro-benchmark arm (default 200)")
    parser.add_argument("--argon-n", type=int, default=20, help="argon2id verifications (default 20)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    parser.add_argument("--no-micro", action="store_true", help="skip the in-process micro-benchmarks")
    parser.add_argument("--runs", type=run_list, default=["refresh", "password", "jwks", "mixed"],
                        help="comma-separated HTTP runs on SQLite (default refresh,password,jwks,mixed)")
    parser.add_argument("--pg-runs", type=run_list, default=["refresh", "password", "mixed"],
                        help="comma-separated HTTP runs on PostgreSQL (default refresh,password,mixed)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw figures as JSON")
    args = parser.parse_args(argv)

    info = machine()
    print(f"machine: nproc={info['nproc']}, CPU {info['cpu']}, Python {info['python']}", flush=True)
    results: dict = {}
    if not args.no_micro:
        print("micro: signing and client-secret checks ...", flush=True)
        results["micro"] = {"signing": micro_signing(args.sign_n),
                            "client_secret": micro_client_secret(100_000, args.argon_n)}

    with tempfile.TemporaryDirectory(prefix="authserver-bench-") as tmp:
        sqlite_dir = os.path.join(tmp, "sqlite")
        os.makedirs(sqlite_dir)
        results["sqlite"] = serve_and_measure(f"sqlite:///{sqlite_dir}/bench.db", args.runs, args, sqlite_dir,
                                              "SQLite")

        if not args.no_postgres and args.pg_runs:
            from tests import pgcluster

            if pgcluster.external_url():
                print("  PostgreSQL: AUTHSERVER_TEST_POSTGRES_URL is set; the benchmark still starts its own "
                      "throwaway cluster", flush=True)
            if not pgcluster.available():
                print("  PostgreSQL: binaries not installed, skipped", flush=True)
            else:
                pg_dir = os.path.join(tmp, "postgresql")
                os.makedirs(pg_dir)
                with pgcluster.PostgresCluster() as cluster:
                    url = cluster.create_database("authserver_bench")
                    results["postgresql"] = serve_and_measure(url, args.pg_runs, args, pg_dir, "PostgreSQL")

    results["machine"] = info
    text = report(info, results, args)
    print()
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
