"""`authserver legacy import` at scale (issue 27): generate an export of LINES legacy sessions (default
1,000,000; Parse-like `r:` tokens, USERS users, one line in 1,000 malformed, one in 100 for an unknown
user) and time the import as an operator runs it, with its peak memory (the child's maximum RSS).
A second run of the same file measures the idempotent re-run (every line a duplicate).

    python benchmarks/legacy_import.py [--lines N] [--users N] [--database-url URL] [--no-rerun]

Without ``--database-url`` a fresh SQLite database in a temporary folder is used (``db upgrade`` first);
a PostgreSQL URL must point at a scratch database already upgraded. A command, never part of the suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

AUTHSERVER = os.path.join(os.path.dirname(sys.executable), "authserver")
BATCH = 20_000
USER_AGENTS = ("Parse-Android-SDK/1.17.3 (com.example.notes/42) API Level 29", "Parse-iOS/1.19.1 (iPhone14,2)")


def write_export(path: str, lines: int, usernames: list[str]) -> None:
    created = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    with open(path, "w") as out:
        for n in range(lines):
            if n % 1000 == 999:
                out.write("{not json\n")
                continue
            username = f"nobody-{n}" if n % 100 == 50 else usernames[n % len(usernames)]
            out.write(json.dumps({"token": "r:" + secrets.token_hex(16), "username": username,
                                  "device_name": f"Phone {n % 7}", "user_agent": USER_AGENTS[n % 2],
                                  "ip": f"198.51.100.{n % 250}",
                                  "created_at": (created + dt.timedelta(seconds=n)).isoformat()}) + "\n")


def seed_users(url: str, count: int) -> list[str]:
    """Users straight into the table (one argon2 hash for all: nobody signs in as them)."""
    from sqlalchemy import create_engine
    from sqlalchemy import insert

    from authserver.store.models import User

    tag = uuid.uuid4().hex[:8]
    names = [f"legacy-{tag}-{n}" for n in range(count)]
    password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVk$KmtxcHcvsR0lx3Pjz3bJmWHJPE5d8CiD1Bh2lYFeJ0I"
    now = dt.datetime.now(dt.timezone.utc)
    engine = create_engine(url)
    with engine.begin() as conn:
        for start in range(0, count, BATCH):
            conn.execute(insert(User.__table__), [
                {"id": str(uuid.uuid4()), "username": name, "password_hash": password_hash, "is_admin": False,
                 "created_at": now} for name in names[start:start + BATCH]])
    engine.dispose()
    return names


def timed_import(path: str, env: dict) -> dict:
    """One `authserver legacy import --json` run: its report, wall time and its own peak RSS (wait4)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([AUTHSERVER, "legacy", "import", path, "--json"], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0), err.seek(0)
        if child.returncode != 0:
            raise SystemExit(err.read())
        report = json.loads(out.read())
    report["malformed_lines"] = len(report["malformed_lines"])  # how many were listed (at most 1,000)
    return {"seconds": round(seconds, 1), "lines_per_second": None, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "report": report}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="Lines in the generated export.")
    parser.add_argument("--users", type=int, default=100_000, help="Users the lines are spread over.")
    parser.add_argument("--database-url", help="A scratch database already upgraded (default: a fresh SQLite one).")
    parser.add_argument("--no-rerun", action="store_true", help="Skip the second, idempotent run.")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="legacy-import-")
    url = args.database_url or f"sqlite:///{scratch}/authserver.db"
    env = {**os.environ, "AUTHSERVER_DATABASE_URL": url, "AUTHSERVER_KEYS_DIR": f"{scratch}/keys"}
    if not args.database_url:
        subprocess.run([AUTHSERVER, "db", "upgrade"], env=env, check=True, capture_output=True)
    path = os.path.join(scratch, "sessions.jsonl")
    started = time.monotonic()
    write_export(path, args.lines, seed_users(url, args.users))
    print(f"generated {args.lines:,} lines ({os.path.getsize(path) / 2**20:.0f} MiB) in "
          f"{time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.2f}", flush=True)
    runs = [("import", path)] + ([] if args.no_rerun else [("re-run", path)])
    for name, export in runs:
        figures = timed_import(export, env)
        figures["lines_per_second"] = round(args.lines / figures["seconds"])
        print(f"{name}: {json.dumps(figures)}; load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
