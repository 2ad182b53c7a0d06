#!/usr/bin/env python
"""authserver side by side with node oidc-provider and django-oauth-toolkit, one load generator
(wrk) for all, on loopback, in one run. Speed is measured here and written down in
benchmarks/README.md and benchmarks/results/; no test asserts on it.

    . .venv/bin/activate
    python benchmarks/compare.py                      # everything: about 20 minutes on 2 cores
    python benchmarks/compare.py --quick              # 1 x 3 s per figure, 20,000 sessions: a smoke run
    python benchmarks/compare.py --help

What one run does:

1. Installs the peers into benchmarks/.scratch/ (gitignored) when missing: node oidc-provider
   (``npm ci`` from benchmarks/peers/oidc_provider/package-lock.json) and django-oauth-toolkit
   (a venv from benchmarks/peers/dot/requirements.txt), and Debian's redis-server for oidc-provider
   on Redis (``apt-get install redis-server``, run when missing as root). Needs ``wrk``
   (``apt-get install wrk``), Node 20+, and for PostgreSQL the binaries ``./scripts/test`` installs.
2. Ceilings, measured now: RS256 signing alone on all cores (the server's own joserfc call in
   one process per core), argon2id verifications on all cores with the configured parameters,
   and a minimal Flask JSON endpoint under the same gunicorn settings as authserver.
3. Each server in turn, on 127.0.0.1, each workload ``--repeats`` times for ``--duration`` seconds
   at ``--connections`` connections (wrk, one thread per connection; every response checked;
   in refresh runs each connection walks its own rotating chain): refresh grant, introspection of
   a live access token, client credentials, JWKS, password grant, and password grants with refresh
   grants in parallel. authserver on SQLite and on PostgreSQL (a throwaway cluster,
   tests/pgcluster.py) with ``--sessions`` live sessions seeded in bulk, then again with
   ``--scale-sessions``. oidc-provider twice: in memory, and on Redis as its users deploy it (the
   adapter its documentation gives, a throwaway redis-server with AOF fsynced every second).
4. Reports throughput (median of the repeats), p50/p99, errors, server CPU per request (user +
   system time of the server's processes, the database server's or redis-server's included, over the requests
   answered) and peak RSS per worker; the ratios authserver/peer; writes
   benchmarks/results/compare-<date>.md, .json and .png.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
SCRATCH = os.path.join(BENCH, ".scratch")
RESULTS = os.path.join(BENCH, "results")
PEERS = os.path.join(BENCH, "peers")
LUA = os.path.join(BENCH, "wrk_oauth.lua")
if REPO not in sys.path:
    sys.path.insert(0, REPO)

PASSWORD = "benchmark-password-123"
BIN = os.path.dirname(sys.executable)
AUTHSERVER = shutil.which("authserver", path=BIN) or os.path.join(BIN, "authserver")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

WORKLOADS = ("refresh", "refresh_dpop", "refresh_opaque", "introspect", "client_credentials", "jwks", "password",
             "mixed")
# The parts --only chooses from, in the order they are started (and measured in each round).
PARTS = ("ceilings", "flask", "authserver-sqlite", "authserver-postgresql", "oidc-provider", "oidc-provider-redis",
         "dot")
TITLES = {
    "refresh": "refresh grant",
    "refresh_dpop": "refresh grant with a DPoP proof (public client, bound chain)",
    "refresh_opaque": "refresh grant, opaque access tokens",
    "introspect": "introspection of a live access token",
    "client_credentials": "client credentials grant",
    "jwks": "JWKS",
    "password": "password grant",
    "mixed": "password grant with refresh grants in parallel",
    "mixed:refresh": "refresh grants while others sign in",
    "flask": "minimal Flask JSON endpoint",
}


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# -- wrk specs: one shape per workload, each server giving its paths, clients and tokens -------------
FORM = "application/x-www-form-urlencoded"


def form_headers(client_id: str, secret: str) -> dict:
    return {"Authorization": basic(client_id, secret), "Content-Type": FORM}


def refresh_spec(path: str, headers: dict, refresh_tokens: list[str], connections: int) -> dict:
    """Each connection follows its own rotating chain; the tokens past ``connections`` are spares."""
    return {"method": "POST", "path": path, "headers": headers, "kind": "chain",
            "prefix": "grant_type=refresh_token&refresh_token=", "expect": '"access_token"',
            "tokens": refresh_tokens[:connections], "spares": [[t] for t in refresh_tokens[connections:]]}


# DPoP: a proof is signed by the client per request, which a wrk Lua script cannot do. The benchmark
# signs a pool of proofs for each connection before the run (ES256, a key per connection, each with
# its own jti and iat = the moment it was signed), one file per connection; each wrk thread reads its
# own file and sends the next proof with each request. The pool holds this many proofs per second of
# the run for each connection: as many as the whole server answers here (about 800/s), because wrk's
# connections are not spread evenly over the workers, and a connection alone on a worker gets all of
# that worker's answers. (At 250, one such connection ran past its pool's end in an 8 s run on
# PostgreSQL, and its proofs came round again: "The DPoP proof was used before".) Signing costs about
# 0.04 ms a proof: 2.6 s before each 8 s run of 8 connections.
DPOP_PROOFS_PER_CONNECTION_SECOND = 1000


def dpop_proof_files(workdir: str, keys: list, htu: str, count: int) -> list[str]:
    """A file of ``count`` proofs (one per line) for each key (``tests/dpop_helpers.DPoPKey``), for ``POST htu``."""
    paths = []
    for key in keys:
        path = os.path.join(workdir, f"dpop-{secrets.token_hex(4)}.txt")
        with open(path, "w") as handle:
            handle.writelines(key.proof("POST", htu) + "\n" for _ in range(count))
        paths.append(path)
    return paths


def introspection_spec(path: str, headers: dict, bodies: list[str]) -> dict:
    return {"method": "POST", "path": path, "kind": "fixed", "expect": '"active":%s*true', "headers": headers,
            "bodies": bodies}


def client_credentials_spec(path: str, headers: dict) -> dict:
    return {"method": "POST", "path": path, "kind": "fixed", "expect": '"access_token"', "headers": headers,
            "body": "grant_type=client_credentials&scope=api"}


def jwks_spec(path: str) -> dict:
    return {"method": "GET", "path": path, "kind": "fixed", "expect": '"keys"', "headers": {}}


def password_spec(path: str, headers: dict) -> dict:
    return {"method": "POST", "path": path, "headers": headers, "kind": "fixed", "expect": '"refresh_token"',
            "body": f"grant_type=password&username=bench&password={PASSWORD}&scope=profile"}


def wait_http(url: str, process, log_path: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or a worker still booting on a loaded machine
        if process.poll() is not None or time.monotonic() > deadline:
            with open(log_path, errors="replace") as handle:
                tail = "".join(handle.readlines()[-30:])
            raise RuntimeError(f"server did not start ({url}):\n{tail}")
        time.sleep(0.2)


def stop_process(process) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- processes: CPU and memory -----------------------------------------------------------------
def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    return []


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(children(current))
    return pids


def cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def peak_rss_mib(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return None


# -- wrk -------------------------------------------------------------------------------------
def lua_value(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string of printable ASCII is a valid Lua string
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(lua_value(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{json.dumps(str(k))}] = {lua_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def wrk_script(spec: dict) -> str:
    with open(LUA) as handle:
        template = handle.read()
    return template.replace("local data = __DATA__", "local data = " + lua_value(spec), 1)


def parse_wrk(output: str) -> dict:
    """The figures the Lua ``done`` hook prints (one ``WRKJSON {...}`` line)."""
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            figures = json.loads(line[len("WRKJSON "):])
            seconds = figures["duration_us"] / 1e6
            socket_errors = sum(figures[k] for k in ("connect", "read", "write", "timeout"))
            ok = max(0, figures["checked"] - figures["failures"])
            return {"requests": figures["requests"], "ok": ok, "seconds": seconds,
                    "errors": figures["failures"] + socket_errors, "socket_errors": socket_errors,
                    "per_second": ok / seconds if seconds else 0.0,
                    "p50_ms": figures["p50_us"] / 1e3, "p90_ms": figures["p90_us"] / 1e3,
                    "p99_ms": figures["p99_us"] / 1e3, "max_ms": figures["max_us"] / 1e3}
    raise ValueError("no WRKJSON line in wrk's output")


def run_wrk(base_url: str, spec: dict, connections: int, duration: float, workdir: str):
    """Start wrk (returns the process and the script path); ``finish_wrk`` reads its figures."""
    path = os.path.join(workdir, f"wrk-{secrets.token_hex(4)}.lua")
    with open(path, "w") as handle:
        handle.write(wrk_script(spec))
    command = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{duration:g}s", "--timeout", "30s",
               "-s", path, base_url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_wrk(process) -> dict:
    out, err = process.communicate()
    try:
        figures = parse_wrk(out)
    except ValueError:
        raise RuntimeError(f"wrk failed: {out[-2000:]}\n{err[-2000:]}") from None
    figures["failures_seen"] = [line[8:] for line in err.splitlines() if line.startswith("WRKFAIL ")][:3]
    return figures


# -- ceilings --------------------------------------------------------------------------------
def _sign_loop(args):
    pem, seconds = args
    from joserfc import jwt
    from joserfc.jwk import KeySet
    from joserfc.jwk import RSAKey

    key = RSAKey.import_key(pem, parameters={"use": "sig", "alg": "RS256"})
    key.ensure_kid()
    keys = KeySet([key])
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        now = int(time.time())
        jwt.encode({"alg": "RS256", "typ": "at+jwt"},
                   {"iss": "http://127.0.0.1:5000", "aud": "http://127.0.0.1:5000", "sub": "u" * 36,
                    "client_id": "client_" + "x" * 24, "exp": now + 900, "iat": now,
                    "jti": secrets.token_urlsafe(16), "scope": "profile", "sid": "s" * 36}, keys)
        count += 1
    return count


def _argon_loop(args):
    encoded, password, seconds = args
    from argon2 import PasswordHasher

    hasher = PasswordHasher()
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        hasher.verify(encoded, password)
        count += 1
    return count


def ceiling_cpu(loop, args, seconds: float) -> float:
    """Operations per second with one process per core."""
    cores = os.cpu_count() or 1
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        pool.map(loop, [(*args, 0.5)] * cores)  # warm up
        started = time.monotonic()
        counts = pool.map(loop, [(*args, seconds)] * cores)
        elapsed = time.monotonic() - started
    return sum(counts) / max(elapsed, seconds)


def argon2_ceiling(seconds: float) -> float:
    from authserver.accounts.passwords import Passwords
    from authserver.settings import Settings

    encoded = Passwords(Settings.from_env({})).hash(PASSWORD)
    return ceiling_cpu(_argon_loop, (encoded, PASSWORD), seconds)


def ceilings(args) -> dict:
    from joserfc.jwk import RSAKey

    from authserver.settings import Settings

    pem = RSAKey.generate_key(2048, private=True).as_pem(private=True)
    settings = Settings.from_env({})
    seconds = max(2.0, args.duration)
    return {
        "rs256_signatures_per_second": ceiling_cpu(_sign_loop, (pem,), seconds),
        "argon2_verifications_per_second": argon2_ceiling(seconds),
        "argon2_parameters": f"m={settings.password_memory_kib} KiB, t={settings.password_time_cost}, "
                             f"p={settings.password_parallelism}",
        "cores": os.cpu_count(),
    }


# -- servers ---------------------------------------------------------------------------------
class Target:
    """A server under test: start, the pids to account, and per workload a wrk spec (or why not)."""

    name = "?"
    label = "?"
    db_pids_root: int | None = None

    def __init__(self, workdir: str):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = None

    def server_pids(self) -> list[int]:
        pids = tree(self.process.pid) if self.process else []
        if self.db_pids_root:
            pids += tree(self.db_pids_root)
        return pids

    def worker_pids(self) -> list[int]:
        kids = children(self.process.pid)
        return kids or [self.process.pid]

    def spec(self, workload: str, connections: int):
        raise NotImplementedError

    def open_log(self):
        """The server's output file (``log_path``), closed by :meth:`stop`."""
        self.log_path = os.path.join(self.workdir, "server.log")
        self.log = open(self.log_path, "w")
        return self.log

    def stop(self) -> None:
        stop_process(self.process)
        if getattr(self, "log", None):
            self.log.close()


class GunicornSettings:
    def __init__(self, workers: int, threads: int):
        self.workers = workers
        self.threads = threads

    def args(self) -> list[str]:
        args = ["--workers", str(self.workers)]
        if self.threads > 1:
            args += ["--threads", str(self.threads)]
        return args

    def describe(self) -> str:
        kind = f"gthread, {self.threads} threads" if self.threads > 1 else "sync"
        return f"{self.workers} workers ({kind})"


class Authserver(Target):
    def __init__(self, workdir: str, database_url: str, label: str, gunicorn: GunicornSettings,
                 db_pid: int | None = None, http_server: str | None = None):
        super().__init__(workdir)
        self.name = "authserver"
        self.label = label
        self.database_url = database_url
        self.gunicorn = gunicorn
        self.http_server = http_server  # `serve --http-server`; None: serve's default
        self.db_pids_root = db_pid
        from token_endpoint import authserver_env  # the older harness runs the server the same way

        self.env = authserver_env(database_url, workdir, self.base)
        # The DPoP proofs are signed before each run (see dpop_proof_files): give them the run's length.
        self.env["AUTHSERVER_DPOP_PROOF_WINDOW_SECONDS"] = "3600"
        self.duration = 10.0  # of a wrk run, for the DPoP proof pools; main() sets it

    def cli(self, *args, stdin: str | None = None) -> dict:
        from token_endpoint import run_authserver

        return run_authserver(self.env, self.workdir, *args, stdin=stdin)

    def start(self) -> None:
        self.cli("db", "upgrade")
        self.cli("users", "create", "bench", "--password-stdin", "--json", stdin=PASSWORD + "\n")
        app = self.cli("clients", "create", "--name", "bench", "--grant-type", "password",
                       "--grant-type", "refresh_token", "--scope", "profile email", "--json")
        # A phone app that must use DPoP: its sessions, and so its refresh chains, are bound to its key.
        self.dpop_app = self.cli("clients", "create", "--name", "bench-dpop", "--grant-type", "password",
                                 "--grant-type", "refresh_token", "--scope", "profile", "--auth-method", "none",
                                 "--first-party", "--dpop", "--json")["client_id"]
        rs = self.cli("clients", "create", "--name", "bench-rs", "--grant-type", "client_credentials",
                      "--scope", "api", "--introspect", "--json")
        self.app = (app["client_id"], app["client_secret"])
        self.rs = (rs["client_id"], rs["client_secret"])
        self.open_log()
        http_server = ["--http-server", self.http_server] if self.http_server else []
        self.process = subprocess.Popen([AUTHSERVER, "serve", "--port", str(self.port), *self.gunicorn.args(),
                                         *http_server], env=self.env, cwd=self.workdir, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        wait_http(self.base + "/oauth/jwks", self.process, self.log_path)
        import requests

        answer = requests.post(self.base + "/oauth/token", auth=self.rs, timeout=30,
                               data={"grant_type": "client_credentials", "scope": "api"})
        self.has_client_credentials = answer.status_code == 200
        self.cc_status = f"{answer.status_code} {answer.json().get('error', '')}"

    def seed(self, count: int) -> dict:
        from seed_sessions import seed

        return seed(self.database_url, self.app[0], count, log=log)

    def sign_in(self, n: int, dpop_keys: list | None = None) -> list[dict]:
        """``n`` password grants; with ``dpop_keys``, by the DPoP client, each with a proof by its key."""
        import requests

        tokens = []
        with requests.Session() as http:
            for index in range(n):
                form = {"grant_type": "password", "username": "bench", "password": PASSWORD, "scope": "profile",
                        "device_name": "benchmark"}
                if dpop_keys:
                    answer = http.post(self.base + "/oauth/token", timeout=60,
                                       data={**form, "client_id": self.dpop_app},
                                       headers={"DPoP": dpop_keys[index].proof("POST", self.base + "/oauth/token")})
                else:
                    answer = http.post(self.base + "/oauth/token", auth=self.app, timeout=60, data=form)
                answer.raise_for_status()
                tokens.append(answer.json())
        return tokens

    def spec(self, workload: str, connections: int):
        if workload == "refresh":
            signed_in = self.sign_in(connections * 2)
            return refresh_spec("/oauth/token", form_headers(*self.app), [t["refresh_token"] for t in signed_in],
                                connections)
        if workload == "refresh_dpop":
            from tests.dpop_helpers import DPoPKey

            keys = [DPoPKey() for _ in range(connections * 2)]
            signed_in = self.sign_in(connections * 2, dpop_keys=keys)
            spec = refresh_spec("/oauth/token", {"Content-Type": FORM},
                                [t["refresh_token"] for t in signed_in], connections)
            spec["prefix"] = f"client_id={self.dpop_app}&" + spec["prefix"]
            # One pool per connection's key (its chain is bound to it); the spares' keys are not used.
            spec["proof_files"] = dpop_proof_files(self.workdir, keys[:connections], self.base + "/oauth/token",
                                                   int(self.duration * DPOP_PROOFS_PER_CONNECTION_SECOND))
            return spec
        if workload == "introspect":
            signed_in = self.sign_in(connections)
            return introspection_spec("/oauth/introspect", form_headers(*self.rs),
                                      [f"token={t['access_token']}&token_type_hint=access_token" for t in signed_in])
        if workload == "client_credentials":
            if not self.has_client_credentials:
                return f"not yet (this branch answers {self.cc_status})"
            return client_credentials_spec("/oauth/token", form_headers(*self.rs))
        if workload == "jwks":
            return jwks_spec("/oauth/jwks")
        if workload == "password":
            return password_spec("/oauth/token", form_headers(*self.app))
        return "not offered"


class OidcProvider(Target):
    name = "oidc-provider"
    label = "node oidc-provider 9 (1 process, in memory)"
    SECRETS = {"bench-jwt": "bench-jwt-secret-0123456789abcdef", "bench-opaque": "bench-opaque-secret-0123456789abcdef",
               "bench-rs": "bench-rs-secret-0123456789abcdef"}

    def server_env(self) -> dict:
        return {"NODE_ENV": "production"}

    def start(self) -> None:
        home = install_oidc_provider()
        self.open_log()
        self.process = subprocess.Popen(["node", os.path.join(home, "server.mjs"), str(self.port)], cwd=home,
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **self.server_env()})
        wait_http(self.base + "/jwks", self.process, self.log_path)
        import requests

        self.version = requests.get(self.base + "/.well-known/openid-configuration", timeout=10).ok and \
            json.load(open(os.path.join(home, "node_modules", "oidc-provider", "package.json")))["version"]

    def seed(self, client: str, n: int) -> dict:
        import requests

        answer = requests.post(f"{self.base}/bench/seed", params={"client": client, "n": n}, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def spec(self, workload: str, connections: int):
        if workload in ("refresh", "refresh_opaque"):
            client = "bench-jwt" if workload == "refresh" else "bench-opaque"
            refresh = self.seed(client, connections * 2)["refresh_tokens"]
            return refresh_spec("/token", form_headers(client, self.SECRETS[client]), refresh, connections)
        if workload == "introspect":
            access = self.seed("bench-opaque", connections)["access_tokens"]
            return introspection_spec("/token/introspection", form_headers("bench-rs", self.SECRETS["bench-rs"]),
                                      [f"token={t}&token_type_hint=access_token" for t in access])
        if workload == "client_credentials":
            return client_credentials_spec("/token", form_headers("bench-jwt", self.SECRETS["bench-jwt"]))
        if workload == "jwks":
            return jwks_spec("/jwks")
        return "not offered (oidc-provider has no password grant)"


# Redis for oidc-provider as deployed: Debian's redis-server with Redis' default RDB save points plus
# the append-only file fsynced every second, the durability of authserver's SQLite (WAL,
# synchronous=NORMAL): a write survives the server process crashing, at most ~1 s is lost to a power
# cut. RDB snapshots alone would lose minutes of rotations (README, "What one run does").
REDIS_PERSISTENCE = ("--save", "3600 1 300 100 60 10000", "--appendonly", "yes", "--appendfsync", "everysec")


class RedisServer:
    """A throwaway redis-server on a free loopback port, its files in ``workdir``."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.log = None

    def start(self) -> None:
        binary = install_redis()
        os.makedirs(self.workdir, exist_ok=True)
        self.log_path = os.path.join(self.workdir, "redis.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.workdir, "--daemonize", "no",
             *REDIS_PERSISTENCE], cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not redis_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                with open(self.log_path, errors="replace") as handle:
                    raise RuntimeError(f"redis-server did not start:\n{handle.read()[-2000:]}")
            time.sleep(0.1)
        banner = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout  # "... v=7.0.15 sha=..."
        self.version = banner.split(" v=")[-1].split()[0] if " v=" in banner else "?"

    def stop(self) -> None:
        stop_process(self.process)
        if self.log:
            self.log.close()


def redis_ping(port: int) -> bool:
    with contextlib.suppress(OSError):
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    return False


class OidcProviderRedis(OidcProvider):
    """The same server on Redis (``redis_adapter.mjs``, the adapter oidc-provider's documentation
    gives), as its users deploy it; the redis-server process's CPU is counted with node's."""

    name = "oidc-provider-redis"
    label = "node oidc-provider 9 (1 process, Redis)"

    def __init__(self, workdir: str):
        super().__init__(workdir)
        self.redis = RedisServer(os.path.join(workdir, "redis"))

    def server_env(self) -> dict:
        return {**super().server_env(), "REDIS_URL": self.redis.url}

    def start(self) -> None:
        self.redis.start()
        self.db_pids_root = self.redis.process.pid
        self.label = f"node oidc-provider 9 (1 process, Redis {self.redis.version}, AOF everysec)"
        super().start()

    def stop(self) -> None:
        super().stop()
        self.redis.stop()


class Dot(Target):
    name = "django-oauth-toolkit"

    def __init__(self, workdir: str, gunicorn: GunicornSettings):
        super().__init__(workdir)
        self.gunicorn = gunicorn
        self.label = f"django-oauth-toolkit 3 ({gunicorn.describe()}, SQLite, plain secrets)"

    def start(self) -> None:
        python = install_dot()
        env = {**os.environ, "BENCH_DOT_DIR": self.workdir, "PYTHONPATH": os.path.join(PEERS, "dot")}
        from joserfc.jwk import RSAKey

        with open(os.path.join(self.workdir, "rsa.pem"), "wb") as handle:
            handle.write(RSAKey.generate_key(2048, private=True).as_pem(private=True))
        done = subprocess.run([python, os.path.join(PEERS, "dot", "seed.py"), "400", PASSWORD], env=env,
                              capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"django-oauth-toolkit seed failed: {done.stderr[-2000:]}")
        self.seeded = json.loads(done.stdout)
        self.secrets = self.seeded["secrets"]
        self.taken = {"refresh_tokens": 0, "access_tokens": 0}
        self.open_log()
        self.process = subprocess.Popen(
            [python, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", *self.gunicorn.args(),
             "--access-logfile", "-", "bench_dot.wsgi"],
            cwd=os.path.join(PEERS, "dot"), env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(self.base + "/o/.well-known/jwks.json", self.process, self.log_path)

    def take(self, kind: str, n: int) -> list[str]:
        start = self.taken[kind]
        tokens = self.seeded[kind][start:start + n]
        self.taken[kind] = start + n
        if len(tokens) < n:
            raise RuntimeError("django-oauth-toolkit: seed more tokens (seed.py's count)")
        return tokens

    def spec(self, workload: str, connections: int):
        if workload == "refresh":
            return refresh_spec("/o/token/", form_headers("bench-pw", self.secrets["bench-pw"]),
                                self.take("refresh_tokens", connections * 2), connections)
        if workload == "introspect":
            return introspection_spec("/o/introspect/", form_headers("bench-rs", self.secrets["bench-rs"]),
                                      [f"token={t}" for t in self.take("access_tokens", connections)])
        if workload == "client_credentials":
            return client_credentials_spec("/o/token/", form_headers("bench-cc", self.secrets["bench-cc"]))
        if workload == "jwks":
            return jwks_spec("/o/.well-known/jwks.json")
        if workload == "password":
            return password_spec("/o/token/", form_headers("bench-pw", self.secrets["bench-pw"]))
        return "not offered"


class FlaskMin(Target):
    name = "flask-min"

    def __init__(self, workdir: str, gunicorn: GunicornSettings):
        super().__init__(workdir)
        self.gunicorn = gunicorn
        self.label = f"minimal Flask JSON endpoint ({gunicorn.describe()})"

    def start(self) -> None:
        self.open_log()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", *self.gunicorn.args(),
             "--access-logfile", "-", "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss',
             "flask_min:app"],
            cwd=PEERS, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(self.base + "/", self.process, self.log_path)

    def spec(self, workload: str, connections: int):
        return {"method": "POST", "path": "/token", "kind": "fixed", "expect": '"ok"',
                "headers": {"Content-Type": FORM}, "body": "grant_type=none"}


# -- --http-server: authserver under gunicorn, granian or both (interleaved, same settings) ---------
def http_server_parts(choice: str | None) -> list[tuple[str, str | None]]:
    """(key suffix, `serve --http-server` value) of each authserver part: serve's default unsuffixed
    (``authserver-sqlite``), the other one suffixed with its name (``authserver-sqlite-gunicorn``)."""
    from authserver.serve import DEFAULT_HTTP_SERVER
    from authserver.serve import HTTP_SERVERS

    if choice is None:
        return [("", None)]
    names = HTTP_SERVERS if choice == "both" else (choice,)
    return [("" if name == DEFAULT_HTTP_SERVER else f"-{name}", name) for name in names]


def authserver_label(gunicorn: GunicornSettings, http_server: str | None, database: str) -> str:
    from authserver.serve import DEFAULT_HTTP_SERVER

    if (http_server or DEFAULT_HTTP_SERVER) == "granian":
        return f"authserver (granian, {gunicorn.workers} workers × {gunicorn.threads} threads, {database})"
    return f"authserver ({gunicorn.describe()}, {database})"


def http_server_ratios(results: list) -> list[str]:
    """Throughput of each named HTTP server's part over the unsuffixed part of the same database."""
    from authserver.serve import DEFAULT_HTTP_SERVER
    from authserver.serve import HTTP_SERVERS

    lines = []
    for name in HTTP_SERVERS:
        for base in ("authserver-sqlite", "authserver-postgresql"):
            for workload in WORKLOADS:
                mine, default = by(results, f"{base}-{name}", workload), by(results, base, workload)
                if mine and default:
                    errors = mine["errors"] + default["errors"]
                    lines.append(f"| {base.split('-')[1]} | {TITLES[workload]} | {name} / {DEFAULT_HTTP_SERVER} | "
                                 f"{mine['per_second'] / default['per_second']:.2f} | {errors} |")
    if not lines:
        return []
    return ["", "## HTTP servers (authserver, same run, interleaved)", "",
            "| database | workload | ratio of | throughput | errors |", "| --- | --- | --- | ---: | ---: |", *lines]


def baseline(target, checkout: str):
    """``target`` running the code of ``checkout`` (its ``authserver`` package first on the path)."""
    target.env["PYTHONPATH"] = os.path.abspath(checkout)
    return target


def revision(checkout: str) -> str:
    done = subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or os.path.basename(os.path.abspath(checkout))


def baseline_ratios(results: list, checkout: str | None) -> list[str]:
    """This code's figures over the baseline's, database by database, workload by workload."""
    lines = []
    for base in ("authserver-sqlite", "authserver-postgresql"):
        for workload in WORKLOADS:
            mine, before = by(results, base, workload), by(results, f"{base}-baseline", workload)
            if mine and before and before["per_second"]:
                cpu, cpu_before = mine["cpu_ms_per_request"], before["cpu_ms_per_request"]
                lines.append(
                    f"| {base.split('-')[1]} | {TITLES[workload]} | {fmt(before['per_second'])}, {cpu_before:.2f} ms | "
                    f"{fmt(mine['per_second'])}, {cpu:.2f} ms | {mine['per_second'] / before['per_second']:.2f} | "
                    f"{cpu / cpu_before:.2f} | {mine.get('errors', 0) + before.get('errors', 0)} |")
    if not lines:
        return []
    return ["", f"## Before and after (baseline {revision(checkout)}, same run, interleaved)", "",
            "| database | workload | baseline: /s, CPU per request | this code | throughput ratio | CPU ratio | errors |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |", *lines]


# -- installing the peers ---------------------------------------------------------------------
def install_oidc_provider() -> str:
    home = os.path.join(SCRATCH, "oidc-provider")
    os.makedirs(home, exist_ok=True)
    source = os.path.join(PEERS, "oidc_provider")
    for name in ("package.json", "package-lock.json", "server.mjs", "redis_adapter.mjs"):
        shutil.copy(os.path.join(source, name), os.path.join(home, name))
    # node_modules installed from an older lock file (before ioredis, say) is installed again.
    stamp = os.path.join(home, "node_modules", ".bench-package-lock.json")
    with open(os.path.join(source, "package-lock.json")) as handle:
        wanted = handle.read()
    if not os.path.exists(stamp) or open(stamp).read() != wanted:
        log("  installing oidc-provider (npm ci) ...")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=home, check=True)
        with open(stamp, "w") as handle:
            handle.write(wanted)
    return home


def install_redis() -> str:
    """Debian's redis-server: installed with apt-get when missing (as root), else the command is said."""
    found = shutil.which("redis-server")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log("  installing redis-server (apt-get install redis-server) ...")
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("oidc-provider-redis needs Debian's redis-server: "
                           "apt-get update && apt-get install redis-server")
    return found


def install_dot() -> str:
    venv = os.path.join(SCRATCH, "dot-venv")
    python = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, "requirements.txt")
    requirements = os.path.join(PEERS, "dot", "requirements.txt")
    with open(requirements) as handle:
        wanted = handle.read()
    if not os.path.exists(stamp) or open(stamp).read() != wanted:
        log("  installing django-oauth-toolkit (venv, pip) ...")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r", requirements], check=True)
        with open(stamp, "w") as handle:
            handle.write(wanted)
    return python


# -- measuring -------------------------------------------------------------------------------
def measure_once(target: Target, workload: str, args) -> dict | str:
    """One wrk run of one workload against one server (fresh chains and tokens each time); a
    string says why the server does not offer it."""
    spec = target.spec(workload if workload != "mixed" else "password", args.connections)
    if isinstance(spec, str):
        return spec
    side = side_figures = None
    if workload == "mixed":
        # Sign-ins on most connections, refresh chains on the rest, at the same time.
        refresh_connections = max(1, args.connections // 4)
        side_spec = target.spec("refresh", refresh_connections)
    cpu_before = cpu_seconds(target.server_pids())
    if workload == "mixed":
        side = run_wrk(target.base, side_spec, refresh_connections, args.duration, target.workdir)
        main = run_wrk(target.base, spec, args.connections - refresh_connections, args.duration, target.workdir)
    else:
        main = run_wrk(target.base, spec, args.connections, args.duration, target.workdir)
    figures = finish_wrk(main)
    if side is not None:
        side_figures = finish_wrk(side)
        figures["side"] = side_figures
    cpu = cpu_seconds(target.server_pids()) - cpu_before
    answered = figures["requests"] + (side_figures["requests"] if side_figures else 0)
    figures["cpu_ms_per_request"] = 1e3 * cpu / answered if answered else None
    figures["server_cpu_cores"] = cpu / figures["seconds"] if figures["seconds"] else None
    return figures


def combine(target: Target, workload: str, runs: list) -> dict:
    """The row for one server and workload: medians of its runs."""
    skipped = [r for r in runs if isinstance(r, str)]
    if skipped:
        return {"workload": workload, "skipped": skipped[0]}
    result = summarise(runs)
    result["workload"] = workload
    result["rss_mib"] = max(filter(None, (peak_rss_mib(p) for p in target.worker_pids())), default=None)
    if runs and "side" in runs[0]:
        result["refresh_alongside"] = summarise([r["side"] for r in runs])
    return result


def measure(target: Target, workload: str, args) -> dict:
    """Median of ``--repeats`` wrk runs of one workload against one server, back to back."""
    return combine(target, workload, [measure_once(target, workload, args) for _ in range(args.repeats)])


def measure_interleaved(targets: list, workloads: list, args, results: list, argon_rounds: list) -> None:
    """Every workload ``--repeats`` times, and within each round every server in turn: the load of
    a shared machine drifts, and interleaving spreads the drift over all servers alike. Before each
    round of password grants, the argon2id ceiling is measured again."""
    for workload in workloads:
        runs = {key: [] for key, _target, offered in targets if workload in offered}
        if not runs:
            continue
        for _ in range(args.repeats):
            if workload == "password" and "ceilings" in args.parts:
                argon_rounds.append(argon2_ceiling(min(args.duration, 5.0)))
            for key, target, offered in targets:
                if key in runs and not (runs[key] and isinstance(runs[key][0], str)):
                    try:
                        runs[key].append(measure_once(target, workload, args))
                    except Exception as error:  # one server failing must not lose the others' figures
                        runs[key].append(f"failed: {type(error).__name__}: {error}")
        for key, target, offered in targets:
            if key in runs:
                row = combine(target, workload, runs[key])
                row.update(server=key, label=target.label)
                results.append(row)
                log("  " + one_line(row))


def summarise(runs: list[dict]) -> dict:
    def median(key):
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    return {"per_second": median("per_second"), "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms"),
            "cpu_ms_per_request": median("cpu_ms_per_request"), "server_cpu_cores": median("server_cpu_cores"),
            "errors": sum(r["errors"] for r in runs), "ok": sum(r["ok"] for r in runs),
            # connections wrk lost and opened again (a request may have been answered but not read)
            "socket_errors": sum(r.get("socket_errors", 0) for r in runs),
            "repeats": [round(r["per_second"], 1) for r in runs],
            "failures_seen": [f for r in runs for f in r.get("failures_seen", [])][:3]}


def run_target(target: Target, workloads, args, results: list, key: str, before=None) -> Target:
    log(f"{target.label}: starting")
    try:
        target.start()
        if before:
            before(target)
        for workload in workloads:
            row = measure(target, workload, args)
            row.update(server=key, label=target.label)
            results.append(row)
            log("  " + one_line(row))
    except Exception as error:  # one server failing must not lose the others' figures
        log(f"  {target.label} failed: {type(error).__name__}: {error}")
        results.append({"server": key, "label": target.label, "workload": "-", "skipped": f"failed: {error}"})
    finally:
        target.stop()
    return target


def one_line(row: dict) -> str:
    name = f"{row['server']:<22} {row['workload']:<20}"
    if "skipped" in row:
        return f"{name} {row['skipped']}"
    text = (f"{name} {row['per_second']:8.1f}/s  p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms"
            f"  cpu {row['cpu_ms_per_request'] or 0:5.2f} ms/req  errors {row['errors']}  rss {row['rss_mib'] or 0:.0f} MiB"
            f"  runs {row['repeats']}")
    if "refresh_alongside" in row:
        side = row["refresh_alongside"]
        text += f"\n  {'':<22} {'  + refresh alongside':<20} {side['per_second']:8.1f}/s  p99 {side['p99_ms']:7.1f} ms"
    if row.get("failures_seen"):
        text += f"\n    failures: {row['failures_seen']}"
    if row.get("socket_errors"):
        text += f"\n    connections lost and opened again: {row['socket_errors']}"
    return text


# -- the machine -----------------------------------------------------------------------------
def machine() -> dict:
    model = "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    mem = "?"
    with contextlib.suppress(OSError):
        with open("/proc/meminfo") as handle:
            mem = f"{int(handle.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    wrk = (subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines() or ["?"])[0]
    import sqlite3

    return {"nproc": os.cpu_count(), "cpu": model, "memory": mem, "python": platform.python_version(),
            "node": node, "wrk": wrk.split(" Copyright")[0], "sqlite": sqlite3.sqlite_version,
            "kernel": platform.release(), "load_before": os.getloadavg()[0],
            "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M")}


# -- report ----------------------------------------------------------------------------------
def fmt(value, digits=0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def by(results, server, workload):
    for row in results:
        if row["server"] == server and row["workload"] == workload and "skipped" not in row:
            return row
    return None


# The ratio columns, authserver / peer: each peer's key in the results and its column's name.
RATIO_PEERS = (("oidc-provider", "oidc-provider"), ("oidc-provider-redis", "oidc-provider (Redis)"),
               ("django-oauth-toolkit", "django-oauth-toolkit"))
# authserver's workload and the peer's it is set against (oidc-provider's refresh with opaque access
# tokens too; django-oauth-toolkit's only against the same workload).
RATIO_WORKLOADS = (("refresh", "refresh"), ("refresh", "refresh_opaque"), ("introspect", "introspect"),
                   ("client_credentials", "client_credentials"), ("jwks", "jwks"), ("password", "password"))


def ratios(results: list) -> list[dict]:
    """authserver / peer, throughput, for every authserver database, workload and peer measured in
    this run (the JSON's "ratios"; the report's table is drawn from them)."""
    rows = []
    authservers = [s for s in dict.fromkeys(r["server"] for r in results) if s.startswith("authserver")]
    for ours in authservers:
        for workload, peer_workload in RATIO_WORKLOADS:
            mine = by(results, ours, workload)
            if mine is None:
                continue
            for peer, _column in RATIO_PEERS:
                if peer == "django-oauth-toolkit" and peer_workload != workload:
                    continue
                theirs = by(results, peer, peer_workload)
                if theirs and theirs["per_second"] and mine["per_second"] is not None:
                    rows.append({"authserver": ours, "workload": workload, "peer": peer, "peer_workload": peer_workload,
                                 "ratio": round(mine["per_second"] / theirs["per_second"], 3)})
    return rows


def ratio_table(results: list) -> list[str]:
    """The report's "authserver / peer" table: a column for each peer measured in this run."""
    found = ratios(results)
    peers = [(peer, column) for peer, column in RATIO_PEERS if any(r["peer"] == peer for r in found)]
    if not peers:
        return []
    lines = ["", "## Ratios, authserver / peer (same run)", "",
             "| workload | authserver | " + " | ".join(f"/ {column}" for _peer, column in peers) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in peers) + " |"]
    for ours in dict.fromkeys(r["authserver"] for r in found):
        for workload, peer_workload in RATIO_WORKLOADS:
            cells = {r["peer"]: f"{r['ratio']:.2f}x" for r in found
                     if (r["authserver"], r["workload"], r["peer_workload"]) == (ours, workload, peer_workload)}
            if cells:
                name = TITLES[workload] + (" vs. opaque" if peer_workload == "refresh_opaque" else "")
                lines.append(f"| {name} | {ours} | " + " | ".join(cells.get(peer, "-") for peer, _c in peers) + " |")
    return lines


def peer_storage_lines(results: list) -> list[str]:
    """oidc-provider on Redis against in memory, workload by workload: what its persistence costs."""
    lines = []
    for workload in WORKLOADS:
        memory, redis = by(results, "oidc-provider", workload), by(results, "oidc-provider-redis", workload)
        if memory and redis and memory["per_second"]:
            lines.append(f"- {TITLES[workload]}: {redis['per_second'] / memory['per_second']:.2f} "
                         f"({fmt(redis['cpu_ms_per_request'], 2)} vs. {fmt(memory['cpu_ms_per_request'], 2)} ms "
                         f"CPU/req, redis-server's included)")
    if lines:
        lines = ["", "## oidc-provider on Redis / in memory (same run)", ""] + lines
    return lines


def report(info: dict, results: list, ceil: dict, scale: list, args) -> str:
    lines = [f"# authserver vs. oidc-provider vs. django-oauth-toolkit — {info['date']}", "",
             f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']}, Linux {info['kernel']}, "
             f"Python {info['python']}, Node {info['node']}, {info['wrk']}, SQLite {info['sqlite']}, PostgreSQL 15 "
             f"(throwaway cluster, fsync off). Load average before the run: {info['load_before']:.2f}; the "
             f"machine is shared, so read the ratios (all from this one run).", "",
             f"Command: `{args.command}`. wrk on 127.0.0.1, {args.connections} connections (one wrk thread each), "
             f"{args.repeats} × {args.duration:g} s per figure, median shown, the servers interleaved (each round "
             f"runs every server once, so load drift on the shared machine hits all alike); every response checked "
             f"(status and body); in refresh runs each connection follows its own rotating chain.", "",
             "Server CPU is user + system time of the server's processes (for PostgreSQL, the database "
             "server's too; for oidc-provider on Redis, redis-server's) over the requests answered; RSS is the "
             "peak resident size of one worker.", ""]
    if any(r["server"] == "oidc-provider-redis" for r in results):
        lines += ["oidc-provider on Redis: the adapter its documentation gives "
                  "(`peers/oidc_provider/redis_adapter.mjs`, ioredis), Debian's redis-server on loopback TCP with "
                  "Redis' default RDB save points and `appendonly yes`, `appendfsync everysec`.", ""]
    servers = []
    for row in results:
        if row["server"] not in servers:
            servers.append(row["server"])
    labels = {row["server"]: row["label"] for row in results}
    lines += ["## Throughput", "",
              "| workload | " + " | ".join(labels[s] for s in servers) + " |",
              "| --- | " + " | ".join("---:" for _ in servers) + " |"]
    for workload in WORKLOADS:
        cells = []
        for server in servers:
            row = next((r for r in results if r["server"] == server and r["workload"] == workload), None)
            if row is None:
                cells.append("")
            elif "skipped" in row:
                cells.append(row["skipped"].split(" (")[0])
            else:
                cell = (f"**{fmt(row['per_second'])}/s**, p50 {fmt(row['p50_ms'], 1)} ms, p99 {fmt(row['p99_ms'], 1)} ms, "
                        f"{fmt(row['cpu_ms_per_request'], 2)} ms CPU/req, {row['errors']} errors, "
                        f"{fmt(row['rss_mib'])} MiB")
                if "refresh_alongside" in row:
                    side = row["refresh_alongside"]
                    cell += (f"; refresh alongside: {fmt(side['per_second'])}/s, p99 {fmt(side['p99_ms'], 1)} ms, "
                             f"{side['errors']} errors")
                cells.append(cell)
        if any(cells):
            lines.append(f"| {TITLES[workload]} | " + " | ".join(cells) + " |")
    lines += ratio_table(results)
    lines += peer_storage_lines(results)
    flask = by(results, "flask-min", "flask")
    if ceil or flask:
        lines += ["", "## Ceilings (same run)", ""]
    if ceil:
        lines += [
            f"- RS256 signing alone (the server's joserfc call), {ceil['cores']} processes: "
            f"**{fmt(ceil['rs256_signatures_per_second'])}/s** "
            f"({1e3 * ceil['cores'] / ceil['rs256_signatures_per_second']:.2f} ms CPU each)",
            f"- argon2id verifications ({ceil['argon2_parameters']}), {ceil['cores']} processes: "
            f"**{fmt(ceil['argon2_verifications_per_second'])}/s** "
            f"({1e3 * ceil['cores'] / ceil['argon2_verifications_per_second']:.1f} ms CPU each)"]
    if flask:
        lines.append(f"- {flask['label']}: **{fmt(flask['per_second'])}/s**, p99 {fmt(flask['p99_ms'], 1)} ms, "
                     f"{fmt(flask['cpu_ms_per_request'], 2)} ms CPU/req")
    for ours in [s for s in servers if s.startswith("authserver")]:
        mine = by(results, ours, "password")
        if mine and ceil:
            argon = ceil.get("argon2_adjacent_per_second") or ceil["argon2_verifications_per_second"]
            lines.append(f"- {ours} password grants / argon2id ceiling measured right before each round "
                         f"({fmt(argon, 1)}/s, rounds {ceil.get('argon2_adjacent_rounds', '-')}): "
                         f"**{mine['per_second'] / argon:.0%}**")
        dpop = by(results, ours, "refresh_dpop")
        plain = by(results, ours, "refresh")
        if dpop and plain:
            lines.append(f"- {ours} refresh grants with DPoP / without: **{dpop['per_second'] / plain['per_second']:.0%}** "
                         f"({fmt(dpop['cpu_ms_per_request'], 2)} vs. {fmt(plain['cpu_ms_per_request'], 2)} ms CPU/req)")
        mine = by(results, ours, "refresh")
        if mine and flask:
            lines.append(f"- {ours} refresh grants / minimal Flask endpoint: **{mine['per_second'] / flask['per_second']:.0%}**")
    if scale:
        lines += ["", "## Scale: live sessions in the database (seeded in bulk)", "",
                  "| database | workload | " + " | ".join(f"{n:,} sessions" for n in sorted({s["sessions"] for s in scale})) +
                  " | ratio |", "| --- | --- | ---: | ---: | ---: |"]
        for db_name in dict.fromkeys(s["database"] for s in scale):
            levels = [s for s in scale if s["database"] == db_name]
            for workload in ("refresh", "introspect"):
                rows = [next((r for r in s["rows"] if r["workload"] == workload), None) for s in levels]
                if len(rows) == 2 and all(rows):
                    lines.append(f"| {db_name} | {TITLES[workload]} | {fmt(rows[0]['per_second'])}/s, p99 "
                                 f"{fmt(rows[0]['p99_ms'], 1)} ms | {fmt(rows[1]['per_second'])}/s, p99 "
                                 f"{fmt(rows[1]['p99_ms'], 1)} ms | {rows[1]['per_second'] / rows[0]['per_second']:.2f} |")
        for entry in scale:
            if entry.get("seed"):
                seed = entry["seed"]
                lines.append(f"\nSeeding {entry['database']} to {entry['sessions']:,} sessions: "
                             f"{seed['sessions']:,} added in {seed['total_seconds']:.0f} s.")
    lines += http_server_ratios(results)
    lines += baseline_ratios(results, args.baseline)
    pg = {r["workload"]: r for r in results if r["server"] == "authserver-postgresql" and "skipped" not in r}
    lite = {r["workload"]: r for r in results if r["server"] == "authserver-sqlite" and "skipped" not in r}
    common = [w for w in WORKLOADS if w in pg and w in lite]
    if common:
        lines += ["", "## PostgreSQL / SQLite (authserver, same run)", ""]
        for workload in common:
            lines.append(f"- {TITLES[workload]}: {pg[workload]['per_second'] / lite[workload]['per_second']:.2f}")
    broken = [r for r in results if r["workload"] == "-"]
    if broken:
        lines += ["", "## Servers that failed", ""] + [f"- {r['label']}: {r['skipped']}" for r in broken]
    failures = [(r["server"], r["workload"], r["failures_seen"]) for r in results if r.get("failures_seen")]
    if failures:
        lines += ["", "## First failures seen", ""]
        lines += [f"- {server} {workload}: {seen}" for server, workload, seen in failures]
    return "\n".join(lines) + "\n"


def chart(results: list, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = list(dict.fromkeys(r["server"] for r in results if r["server"] != "flask-min"))
    workloads = [w for w in WORKLOADS if w != "mixed" and any(by(results, s, w) for s in servers)]
    fig, ax = plt.subplots(figsize=(11, 5.5))
    width = 0.8 / max(1, len(servers))
    for index, server in enumerate(servers):
        values = [(by(results, server, w) or {}).get("per_second", 0) for w in workloads]
        bars = ax.bar([x + index * width for x in range(len(workloads))], values, width, label=server)
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in values], fontsize=7, rotation=90, padding=2)
    flask = by(results, "flask-min", "flask")
    if flask:
        ax.axhline(flask["per_second"], color="grey", linestyle="--", linewidth=1,
                   label=f"minimal Flask endpoint ({flask['per_second']:,.0f}/s)")
    ax.set_xticks([x + width * (len(servers) - 1) / 2 for x in range(len(workloads))])
    ax.set_xticklabels([TITLES[w].replace(" of a live access token", "").replace(", opaque access tokens", ",\nopaque")
                        for w in workloads], fontsize=8)
    ax.set_ylabel("requests per second (median)")
    ax.set_title("authserver vs. oidc-provider vs. django-oauth-toolkit (same machine, same run)")
    ax.legend(fontsize=8)
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main ------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="wrk runs per figure, median reported (default 3)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for authserver, DOT, Flask (default 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="gunicorn threads per worker (gthread when > 1; default: authserver serve's default)")
    parser.add_argument("--sessions", type=int, default=1000, help="live sessions seeded first (default 1,000)")
    parser.add_argument("--scale-sessions", type=int, default=1_000_000,
                        help="live sessions for the scale runs (default 1,000,000; 0 skips them)")
    parser.add_argument("--pg-shared-buffers", default="1GB",
                        help="PostgreSQL's shared_buffers (default 1GB: a million sessions and their indexes fit)")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default: all: {','.join(PARTS)})")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--http-server", choices=["gunicorn", "granian", "both"], default=None,
                        help="authserver's HTTP server (serve --http-server); both: two authserver parts per "
                             "database, interleaved (default: serve's default)")
    parser.add_argument("--baseline", metavar="DIR", default=None,
                        help="a checkout of earlier code (git worktree add DIR REV): its authserver runs too, as "
                             "authserver-sqlite-baseline and authserver-postgresql-baseline, interleaved with this "
                             "code's (before/after in one sitting)")
    parser.add_argument("--quick", action="store_true", help="1 x 3 s per figure and 20,000 sessions: a smoke run")
    parser.add_argument("--out", default=None, help="results file stem (default benchmarks/results/compare-DATE)")
    args = parser.parse_args(argv)
    args.command = "python benchmarks/compare.py" + ("" if not (argv or sys.argv[1:]) else " " + " ".join(argv or sys.argv[1:]))
    if args.quick:
        args.duration, args.repeats = 3.0, 1
        args.scale_sessions = min(args.scale_sessions, 20_000)
    if args.threads is None:
        from authserver.cli import DEFAULT_SERVE_THREADS

        args.threads = DEFAULT_SERVE_THREADS
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(parts - set(PARTS)))}; parts: {', '.join(PARTS)}")
    workloads = [w for w in args.workloads.split(",") if w]
    if shutil.which("wrk") is None:
        log("compare.py needs wrk: apt-get install wrk")
        return 2
    gunicorn = GunicornSettings(args.workers, args.threads)
    info = machine()
    log(f"machine: {info['nproc']} cores, {info['cpu']}, load {info['load_before']:.2f}")
    results: list = []
    scale: list = []
    ceil = {}
    stem = args.out or os.path.join(RESULTS, "compare-" + dt.datetime.now().strftime("%Y-%m-%d-%H%M"))
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    sys.path.insert(0, BENCH)
    argon_rounds: list = []
    args.parts = parts
    with tempfile.TemporaryDirectory(prefix="authserver-compare-") as tmp, contextlib.ExitStack() as stack:
        if "ceilings" in parts:
            log("ceilings: RS256 signing and argon2id on all cores ...")
            ceil = ceilings(args)
            log(f"  {ceil}")
        targets = []  # (key, target, workloads it is measured on), all started before any is measured

        def start(key, target, offered, before=None):
            log(f"{target.label}: starting")
            stack.callback(target.stop)
            try:
                target.start()
                if before:
                    before(target)
            except Exception as error:
                log(f"  {target.label} failed to start: {type(error).__name__}: {error}")
                results.append({"server": key, "label": target.label, "workload": "-",
                                "skipped": f"failed: {error}"})
                return
            target.key = key
            target.duration = args.duration
            targets.append((key, target, offered))

        def seed_sessions(target):
            seeded = target.seed(max(0, args.sessions - 1))
            log(f"  seeded {seeded['sessions']:,} sessions in {seeded['total_seconds']:.1f} s")

        ours = [w for w in workloads if w != "refresh_opaque"]
        theirs = [w for w in workloads if w != "refresh_dpop"]
        if "flask" in parts:
            start("flask-min", FlaskMin(os.path.join(tmp, "flask"), gunicorn), ["flask"])
        if "authserver-sqlite" in parts:
            for suffix, http_server in http_server_parts(args.http_server):
                key = "authserver-sqlite" + suffix
                os.makedirs(os.path.join(tmp, key))
                start(key, Authserver(os.path.join(tmp, key), f"sqlite:///{tmp}/{key}/bench.db",
                                      authserver_label(gunicorn, http_server, "SQLite"), gunicorn,
                                      http_server=http_server),
                      ours, seed_sessions)
            if args.baseline:
                key = "authserver-sqlite-baseline"
                os.makedirs(os.path.join(tmp, key))
                start(key, baseline(Authserver(os.path.join(tmp, key), f"sqlite:///{tmp}/{key}/bench.db",
                                               f"authserver {revision(args.baseline)} (SQLite)", gunicorn),
                                    args.baseline), ours, seed_sessions)
        if "authserver-postgresql" in parts:
            from tests import pgcluster

            if not pgcluster.available():
                log("PostgreSQL binaries missing (./scripts/test installs them): skipped")
            else:
                # shared_buffers that hold a million sessions with their indexes (~0.7 GB), as README advises
                cluster = stack.enter_context(pgcluster.PostgresCluster(
                    settings={"shared_buffers": args.pg_shared_buffers}))
                with open(os.path.join(cluster.datadir, "postmaster.pid")) as handle:
                    postmaster = int(handle.readline())
                for suffix, http_server in http_server_parts(args.http_server):
                    key = "authserver-postgresql" + suffix
                    url = cluster.create_database("authserver_bench" + suffix.replace("-", "_"))
                    start(key, Authserver(os.path.join(tmp, key), url,
                                          authserver_label(gunicorn, http_server, "PostgreSQL"), gunicorn, postmaster,
                                          http_server=http_server),
                          ours, seed_sessions)
                if args.baseline:
                    key = "authserver-postgresql-baseline"
                    start(key, baseline(Authserver(os.path.join(tmp, key), cluster.create_database("bench_baseline"),
                                                   f"authserver {revision(args.baseline)} (PostgreSQL)", gunicorn,
                                                   postmaster), args.baseline), ours, seed_sessions)
        if "oidc-provider" in parts:
            start("oidc-provider", OidcProvider(os.path.join(tmp, "oidc-provider")),
                  [w for w in theirs if w not in ("password", "mixed")])
        if "oidc-provider-redis" in parts:
            start("oidc-provider-redis", OidcProviderRedis(os.path.join(tmp, "oidc-provider-redis")),
                  [w for w in theirs if w not in ("password", "mixed")])
        if "dot" in parts:
            start("django-oauth-toolkit", Dot(os.path.join(tmp, "dot"), gunicorn),
                  [w for w in theirs if w != "refresh_opaque"])

        measure_interleaved(targets, ["flask", *workloads], args, results, argon_rounds)
        if argon_rounds:
            ceil["argon2_adjacent_per_second"] = statistics.median(argon_rounds)
            ceil["argon2_adjacent_rounds"] = [round(x, 1) for x in argon_rounds]

        ours_started = [(key, target) for key, target, _ in targets
                        if key.startswith("authserver") and not key.endswith("-baseline")]
        if args.scale_sessions and args.scale_sessions > args.sessions and ours_started:
            for key, target in ours_started:
                scale.append({"database": key.split("-", 1)[1], "sessions": args.sessions,
                              "rows": [r for r in results if r["server"] == key
                                       and r["workload"] in ("refresh", "introspect")]})
            for key, target in ours_started:
                log(f"{key}: seeding up to {args.scale_sessions:,} sessions ...")
                seeded = target.seed(args.scale_sessions - args.sessions)
                log(f"  seeded {seeded['sessions']:,} more in {seeded['total_seconds']:.0f} s")
                target.seeded_more = seeded
            scaled: list = []
            measure_interleaved([(f"{key}@{args.scale_sessions}", target, ["refresh", "introspect"])
                                 for key, target in ours_started], ["refresh", "introspect"], args, scaled, [])
            for key, target in ours_started:
                scale.append({"database": key.split("-", 1)[1], "sessions": args.scale_sessions,
                              "rows": [r for r in scaled if r["server"] == f"{key}@{args.scale_sessions}"],
                              "seed": target.seeded_more})

    text = report(info, results, ceil, scale, args)
    with open(stem + ".md", "w") as handle:
        handle.write(text)
    with open(stem + ".json", "w") as handle:
        json.dump({"machine": info, "ceilings": ceil, "results": results, "ratios": ratios(results), "scale": scale,
                   "command": args.command}, handle, indent=1)
    if results:
        chart(results, stem + ".png")
    log("")
    log(text)
    log(f"written: {stem}.md, .json, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
