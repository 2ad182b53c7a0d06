#!/usr/bin/env python
"""The CPU budget of one request, in process: what a refresh, an introspection or a client-credentials
grant costs in the app itself, no HTTP server in between, and which part of the stack spends it.

    pip install -e '.[bench]'
    python benchmarks/cpu_budget.py                          # SQLite, every workload
    python benchmarks/cpu_budget.py --database postgresql --workloads refresh,introspect
    python benchmarks/cpu_budget.py --requests 3000 --profile-out benchmarks/results/budget
    PYTHONPATH=/path/to/older/checkout python benchmarks/cpu_budget.py   # that code, for before/after

The app is built by ``create_app`` as ``authserver serve`` builds it (metrics and the JSON request
log on: every logger's lines formatted as ``serve`` formats them, written to ``/dev/null``), against a
fresh database made by the CLI. Each request is a WSGI call with a pre-built
environ (the body and the headers, a DPoP proof signed before the clock starts), so what is timed
is the app: Flask, Authlib, authserver, the database driver, crypto, logging, metrics. The HTTP
server's share is not here: it is the difference between ``compare.py``'s CPU per request and this.

Two figures per workload: CPU per request (``time.process_time`` over ``--requests`` calls after a
warm-up, one thread: the machine's load changes it less than throughput, since another process's
work is not counted) and, with ``--profile``, the shares by part from py-spy sampling this process
(each sample goes to the innermost frame that belongs to a known part; the rest is authserver's own
code or the standard library). Workloads: ``refresh`` (a confidential client's rotating chain),
``refresh_dpop`` (a public DPoP client's bound chain, one fresh ES256 proof per request),
``refresh_resource`` (a chain whose grant names a registered resource, RFC 8707), ``introspect``
(a live access token, by a resource server), ``client_credentials``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
# After PYTHONPATH's entries: `PYTHONPATH=<checkout> python benchmarks/cpu_budget.py` measures that code.
sys.path.insert(0, BENCH)
sys.path.append(REPO)

from token_endpoint import authserver_env
from token_endpoint import run_authserver

PASSWORD = "benchmark-password-123"
WORKLOADS = ("refresh", "refresh_dpop", "refresh_resource", "introspect", "client_credentials")
ISSUER = "http://127.0.0.1:9"
RESOURCE = "https://api.bench.example"

# The part of a sample: the innermost frame whose file matches one of these (first match wins).
PARTS = [
    # tokens/keys.py's Signer calls cryptography's RSA signing, which has no Python frame of its own
    ("crypto (RS256/ES256, digests)", ("cryptography/", "tokens/keys.py", "joserfc/", "jwt/", "hashlib", "hmac.py",
                                       "secrets.py")),
    ("JSON", ("json/", "orjson")),
    ("logging", ("logging/", "ops/request_log.py")),
    ("metrics", ("prometheus_client/", "ops/metrics.py")),
    # the store's SQLite connection wrapper only takes the write lock and commits: driver work
    ("database driver", ("sqlite3/", "psycopg/", "psycopg_pool/", "store/database.py")),
    ("SQLAlchemy", ("sqlalchemy/", "flask_sqlalchemy/")),
    ("Authlib", ("authlib/",)),
    ("Flask and Werkzeug", ("flask/", "werkzeug/", "jinja2/", "itsdangerous/", "click/")),
    ("authserver", ("authserver/",)),
]


def part_of(stack: list[str]) -> str:
    """``stack``: file names, innermost first."""
    for filename in stack:
        for name, needles in PARTS:
            if any("/" + needle in "/" + filename for needle in needles):
                return name
    return "standard library and other"


class Bench:
    """A database and keys made by the CLI, then the app in this process."""

    def __init__(self, workdir: str, database_url: str):
        self.workdir = workdir
        self.env = authserver_env(database_url, workdir, ISSUER)
        self.env["AUTHSERVER_DPOP_PROOF_WINDOW_SECONDS"] = "3600"
        cli = self.cli
        cli("db", "upgrade")
        cli("users", "create", "bench", "--password-stdin", "--json", stdin=PASSWORD + "\n")
        cli("resources", "add", RESOURCE, "--scope", "profile", "--json")
        app = cli("clients", "create", "--name", "bench", "--grant-type", "password", "--grant-type",
                  "refresh_token", "--scope", "profile email", "--json")
        self.app_auth = basic(app["client_id"], app["client_secret"])
        self.dpop_client = cli("clients", "create", "--name", "bench-dpop", "--grant-type", "password",
                               "--grant-type", "refresh_token", "--scope", "profile", "--auth-method", "none",
                               "--first-party", "--dpop", "--json")["client_id"]
        self.client_id = app["client_id"]
        rs = cli("clients", "create", "--name", "bench-rs", "--grant-type", "client_credentials", "--scope", "api",
                 "--introspect", "--json")
        self.rs_auth = basic(rs["client_id"], rs["client_secret"])
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("AUTHSERVER_")})
        from authserver import create_app
        from authserver.ops.request_log import configure_logging

        # each request's line built and written, as under serve (the sink open for the process's life)
        configure_logging(open(os.devnull, "w"))  # noqa: SIM115

        self.wsgi = create_app()

    def cli(self, *args, stdin=None):
        return run_authserver(self.env, self.workdir, *args, stdin=stdin)

    def call(self, environ: dict) -> tuple[int, bytes]:
        status = []
        body = b"".join(self.wsgi(environ, lambda s, h, e=None: status.append(s)))
        return int(status[0].split()[0]), body

    def post(self, path: str, form: dict, headers: dict) -> dict:
        return environ_of("POST", path, urlencode(form).encode(), headers)

    def token(self, form: dict, headers: dict) -> dict:
        code, body = self.call(self.post("/oauth/token", form, headers))
        if code != 200:
            raise RuntimeError(f"{code} {body[:300]!r}")
        return json.loads(body)

    def sign_in(self, dpop=None, resource: str | None = None) -> dict:
        form = {"grant_type": "password", "username": "bench", "password": PASSWORD, "scope": "profile"}
        if resource:
            form["resource"] = resource
        if dpop:
            return self.token({**form, "client_id": self.dpop_client},
                              {"DPoP": dpop.proof("POST", ISSUER + "/oauth/token")})
        return self.token(form, {"Authorization": self.app_auth})

    def requests(self, workload: str, n: int):
        """``n`` environs for ``workload``, made before the clock starts, each valid when its turn comes."""
        if workload in ("refresh", "refresh_resource"):
            # One chain, refreshed in turn: each environ needs the previous answer's token, so the
            # environs come from a generator that reads the last answer (its cost is outside the app).
            first = self.sign_in(resource=RESOURCE if workload == "refresh_resource" else None)
            return chain(self, first["refresh_token"], {"Authorization": self.app_auth}, n)
        if workload == "refresh_dpop":
            from tests.dpop_helpers import DPoPKey

            key = DPoPKey()
            first = self.sign_in(dpop=key)
            proofs = [key.proof("POST", ISSUER + "/oauth/token") for _ in range(n)]
            return chain(self, first["refresh_token"], {}, n, proofs=proofs, client_id=self.dpop_client)
        if workload == "introspect":
            token = self.sign_in()["access_token"]
            body = urlencode({"token": token}).encode()
            return fixed(lambda: environ_of("POST", "/oauth/introspect", body, {"Authorization": self.rs_auth}), n,
                         expect=b'"active": true')
        if workload == "client_credentials":
            body = urlencode({"grant_type": "client_credentials", "scope": "api"}).encode()
            return fixed(lambda: environ_of("POST", "/oauth/token", body, {"Authorization": self.rs_auth}), n)
        raise SystemExit(f"unknown workload {workload!r}")


class chain:
    """Refresh after refresh along one chain; every answer checked, the next token taken from it."""

    def __init__(self, bench, refresh_token, headers, n, proofs=None, client_id=None):
        self.bench, self.token, self.headers, self.n = bench, refresh_token, headers, n
        self.proofs, self.client_id = proofs, client_id

    def __iter__(self):
        for index in range(self.n):
            form = {"grant_type": "refresh_token", "refresh_token": self.token}
            headers = dict(self.headers)
            if self.client_id:
                form["client_id"] = self.client_id
            if self.proofs:
                headers["DPoP"] = self.proofs[index]
            answer = yield environ_of("POST", "/oauth/token", urlencode(form).encode(), headers)
            self.token = json.loads(answer)["refresh_token"]


class fixed:
    """The same request ``n`` times (a fresh environ each, its body a new stream); each answer must hold ``expect``."""

    def __init__(self, make, n, expect=b'"access_token"'):
        self.make, self.n, self.expect = make, n, expect


def basic(client_id: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def environ_of(method: str, path: str, body: bytes, headers: dict) -> dict:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "9", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
               "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
               "wsgi.version": (1, 0), "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1:9", "HTTP_USER_AGENT": "cpu-budget/1"}
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def drive(bench: Bench, source) -> float:
    """CPU seconds of the requests of ``source`` (:meth:`Bench.requests`); only the app's calls are timed."""
    spent = 0.0
    if isinstance(source, chain):
        # a generator: each answer is sent in, the next request comes out
        steps = iter(source)
        environ = next(steps)
        while True:
            started = time.process_time()
            code, answer = bench.call(environ)
            spent += time.process_time() - started
            if code != 200:
                raise RuntimeError(f"refresh: {code} {answer[:300]!r}")
            try:
                environ = steps.send(answer)
            except StopIteration:
                return spent
    environs = [source.make() for _ in range(source.n)]
    started = time.process_time()
    answers = [bench.call(environ) for environ in environs]
    spent = time.process_time() - started
    for code, answer in answers:
        if code != 200 or source.expect not in answer:
            raise RuntimeError(f"{code} {answer[:300]!r}")
    return spent


def database_server_cpu(postmaster: int | None) -> float:
    """CPU seconds spent so far by PostgreSQL's processes (the backends serving this process included)."""
    if postmaster is None:
        return 0.0
    from compare import cpu_seconds
    from compare import tree

    return cpu_seconds(tree(postmaster))


def profile(bench: Bench, workload: str, n: int, out: str | None) -> dict:
    """Shares by part of this process's samples while ``n`` requests run (py-spy, raw stacks)."""
    py_spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if not py_spy:
        raise SystemExit("py-spy is missing: pip install -e '.[bench]'")
    with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as handle:
        raw = handle.name
    spy = subprocess.Popen([py_spy, "record", "--pid", str(os.getpid()), "--rate", "500", "--format", "raw",
                            "--output", raw, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    source = bench.requests(workload, n)
    time.sleep(1.5)  # py-spy attaches
    drive(bench, source)
    spy.send_signal(2)
    spy.wait(timeout=60)
    shares, functions, total = collections.Counter(), collections.Counter(), 0
    with open(raw) as handle:
        for line in handle:
            stack, _, count = line.rstrip().rpartition(" ")
            frames = stack.split(";")
            if not any(frame.startswith("Bench.call (") for frame in frames):
                continue  # not the app: py-spy's thread, the loop making the next request
            files = [frame.rsplit("(", 1)[-1] for frame in reversed(frames)]
            shares[part_of(files)] += int(count)
            functions[frames[-1]] += int(count)
            total += int(count)
    if out:
        shutil.copy(raw, f"{out}-{workload}.raw.txt")
    os.unlink(raw)
    return {"samples": total, "parts": {k: v / total for k, v in shares.most_common()},
            "top": [(k, v / total) for k, v in functions.most_common(15)]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite", help="default sqlite")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated; default all")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per workload (default 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per workload; the median (default 3)")
    parser.add_argument("--profile", action="store_true", help="also sample with py-spy: shares by part")
    parser.add_argument("--profile-out", help="keep py-spy's raw stacks as OUT-<workload>.raw.txt")
    parser.add_argument("--seed", type=int, default=0,
                        help="live sessions added in bulk before the runs (seed_sessions.py), for the scale question")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        postmaster = None
        if args.database == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            from tests import pgcluster

            cluster = stack.enter_context(pgcluster.PostgresCluster(settings={"shared_buffers": "1GB"}))
            url = cluster.create_database("authserver_budget")
            with open(os.path.join(cluster.datadir, "postmaster.pid")) as handle:
                postmaster = int(handle.readline())
        bench = Bench(tmp, url)
        if args.seed:
            from seed_sessions import seed

            print(f"seeded {seed(url, bench.client_id, args.seed, log=None)}", flush=True)
        results = {}
        for workload in workloads:
            warm = min(300, args.requests)
            drive(bench, bench.requests(workload, warm))  # warm-up: caches, prepared statements
            rounds, server = [], []
            for _ in range(args.repeats):
                source = bench.requests(workload, args.requests)
                server_before = database_server_cpu(postmaster)
                rounds.append(drive(bench, source) / args.requests * 1000)
                server.append((database_server_cpu(postmaster) - server_before) / args.requests * 1000)
            median = sorted(rounds)[len(rounds) // 2]
            results[workload] = {"cpu_ms": median, "rounds_ms": rounds}
            shown = ", ".join(f"{r:.3f}" for r in rounds)
            line = f"{workload:20} {median:.3f} ms CPU per request (rounds {shown})"
            if postmaster:
                results[workload]["database_server_cpu_ms"] = sorted(server)[len(server) // 2]
                line += f", PostgreSQL's processes {results[workload]['database_server_cpu_ms']:.3f} ms more"
            print(line, flush=True)
            if args.profile or args.profile_out:
                results[workload]["profile"] = found = profile(bench, workload, args.requests, args.profile_out)
                for name, share in found["parts"].items():
                    print(f"    {share * 100:5.1f} %  {name}")
                for name, share in found["top"][:8]:
                    print(f"          {share * 100:5.1f} %  {name}")
        if args.json:
            with open(args.json, "w") as handle:
                json.dump({"database": args.database, "requests": args.requests, "seeded": args.seed,
                           "results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
