#!/usr/bin/env python
"""Where a gunicorn worker's time goes under load: py-spy on every authserver worker while wrk
drives one workload (the same servers, seeding and wrk scripts as compare.py).

    pip install py-spy
    python benchmarks/profile_workers.py --workload refresh --database sqlite --out benchmarks/results/profile-refresh-sqlite

Writes OUT.svg (a flame graph of all workers, idle time included) and OUT.txt (the shares of the
workers' wall time by part of the request, and the top functions by own time); prints the table.
py-spy samples at --rate per second with --idle, so waiting (a lock, the network) shows as time.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import compare  # noqa: E402

# The first rule whose needle is in a sample's stack names its part (outermost-specific first).
PARTS = [
    ("argon2id check", ("argon2",)),
    ("waiting for SQLite's write lock (BEGIN IMMEDIATE)", ("on_begin",)),
    ("JWT verification", ("decode_access_token",)),
    ("RS256 signing (joserfc, cryptography)", ("jws_algs.py", "sign_compact")),
    ("commit", ("commit_unit_of_work",)),
    ("rotation statements", ("rotate_refresh_token",)),
    ("introspection query", ("access_token_state",)),
    ("client lookup", ("query_client",)),
    ("other database work", ("sqlalchemy", "psycopg", "sqlite3")),
    ("Authlib", ("authlib",)),
    ("request checks", ("check_token_request", "refuse_nul_characters")),
    ("Flask and Werkzeug", ("flask/", "werkzeug/")),
    ("gunicorn: waiting for a request", ("wait_for_and_dispatch", "sleep (gunicorn/workers/base.py", "select (selectors.py",
                                        "accept (gunicorn", "run_for_one", "poll (selectors.py")),
    ("gunicorn: parsing, responding, closing", ("gunicorn",)),
]


def classify(stack: str) -> str:
    for name, needles in PARTS:
        if any(needle in stack for needle in needles):
            return name
    return "other"


def summarise(raw_paths: list[str]) -> tuple[collections.Counter, collections.Counter, int]:
    parts, leaves, total = collections.Counter(), collections.Counter(), 0
    for path in raw_paths:
        with open(path) as handle:
            for line in handle:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if not count.isdigit():
                    continue
                count = int(count)
                total += count
                parts[classify(stack)] += count
                leaves[stack.rsplit(";", 1)[-1]] += count
    return parts, leaves, total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="refresh", choices=["refresh", "introspect", "password", "jwks"])
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--cpu", action="store_true",
                        help="sample only the thread holding the GIL (py-spy --gil): where the Python CPU time goes")
    parser.add_argument("--out", required=True, help="file stem for OUT.svg and OUT.txt")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if not py_spy:
        print("pip install py-spy")
        return 2
    if args.threads is None:
        from authserver.cli import DEFAULT_SERVE_THREADS

        args.threads = DEFAULT_SERVE_THREADS
    gunicorn = compare.GunicornSettings(args.workers, args.threads)
    with tempfile.TemporaryDirectory(prefix="authserver-profile-") as tmp:
        cluster = None
        if args.database == "postgresql":
            from tests import pgcluster

            cluster = pgcluster.PostgresCluster()
            cluster.start()
            url = cluster.create_database("authserver_profile")
        else:
            url = f"sqlite:///{tmp}/bench.db"
        target = compare.Authserver(os.path.join(tmp, "server"), url, f"authserver ({gunicorn.describe()})", gunicorn)
        try:
            target.start()
            target.seed(999)
            spec = target.spec(args.workload, args.connections)
            workers = target.worker_pids()
            wrk = compare.run_wrk(target.base, spec, args.connections, args.duration + 2, target.workdir)
            spies, raws = [], []
            for pid in workers:
                raw = os.path.join(tmp, f"{pid}.raw")
                raws.append(raw)
                idle = ["--gil"] if args.cpu else ["--idle"]
                spies.append(subprocess.Popen([py_spy, "record", *idle, "-r", str(args.rate), "-d",
                                               str(int(args.duration)), "-f", "raw", "-o", raw, "--pid", str(pid)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for spy in spies:
                spy.wait()
            figures = compare.finish_wrk(wrk)
            svg_input = os.path.join(tmp, "all.raw")
            with open(svg_input, "w") as out:
                for raw in raws:
                    with open(raw) as handle:
                        out.write(handle.read())
        finally:
            target.stop()
            if cluster:
                cluster.stop()
        parts, leaves, total = summarise(raws)
        share = "worker CPU time" if args.cpu else "worker wall time"
        lines = [f"py-spy {'--gil' if args.cpu else '--idle'} at {args.rate}/s on {len(workers)} workers ({gunicorn.describe()}, {args.database}), "
                 f"{args.workload} at {args.connections} connections for {args.duration:g} s: "
                 f"{figures['per_second']:.0f}/s, p99 {figures['p99_ms']:.1f} ms, {figures['errors']} errors "
                 f"(the profiler costs throughput)", "", f"| part of the request | share of {share} |",
                 "| --- | ---: |"]
        lines += [f"| {name} | {100 * count / total:.1f} % |" for name, count in parts.most_common()]
        lines += ["", "Top functions by own time (leaf frames):", ""]
        lines += [f"- {100 * count / total:.1f} % {name}" for name, count in leaves.most_common(15)]
        text = "\n".join(lines) + "\n"
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + ".txt", "w") as handle:
            handle.write(text)
        try:
            subprocess.run(_flamegraph_command(svg_input, args.out + ".svg"), check=True, capture_output=True)
        except (subprocess.CalledProcessError, FileNotFoundError):
            pass
        print(text)
    return 0


def _flamegraph_command(raw: str, svg: str) -> list[str]:
    # py-spy has no raw-to-SVG converter; the raw (collapsed) stacks go through the small renderer below.
    return [sys.executable, __file__, "--render", raw, svg]


def render(raw: str, svg: str) -> None:
    """A minimal flame graph (one SVG, no external tool) from collapsed stacks."""
    root: dict = {}
    totals: dict = {}
    with open(raw) as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            node = root
            for frame in stack.split(";"):
                entry = node.setdefault(frame, [0, {}])
                entry[0] += int(count)
                node = entry[1]
    total = sum(entry[0] for entry in root.values()) or 1
    width, row = 1600, 16
    rects = []

    def walk(node, x, depth):
        for frame, (count, kids) in sorted(node.items()):
            w = width * count / total
            if w >= 0.5:
                label = frame.split(" (")[0]
                hue = 30 + (hash(frame) % 40)
                rects.append(f'<g><title>{_esc(frame)} ({100 * count / total:.1f} %)</title>'
                             f'<rect x="{x:.1f}" y="{depth * row}" width="{w:.1f}" height="{row - 1}" '
                             f'fill="hsl({hue},80%,60%)"/>'
                             + (f'<text x="{x + 2:.1f}" y="{depth * row + 12}" font-size="10">{_esc(label[: int(w / 6)])}</text>'
                                if w > 30 else "") + "</g>")
                walk(kids, x, depth + 1)
            x += w
        totals[depth] = True

    walk(root, 0.0, 0)
    height = (max(totals) + 2) * row if totals else row
    with open(svg, "w") as handle:
        handle.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                     f'font-family="monospace">' + "".join(rects) + "</svg>")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--render":
        render(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit(main())
