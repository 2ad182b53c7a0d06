"""The delivery worker as a child of `authserver serve` (``outbound/process.py``): started beside gunicorn
and stopped with it, restarted when it dies, killed when it will not stop. The supervision is driven
with a stand-in child (a Python process that sleeps) and short delays; the real one with `serve`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from authserver.outbound import process as process_module
from authserver.outbound.process import WorkerProcess
from tests.outbound.outbox_helpers import enqueue
from tests.outbound.outbox_helpers import process_env
from tests.outbound.outbox_helpers import wait_for
from tests.outbound.outbox_helpers import waiting

SLEEPER = (sys.executable, "-c", "import time; time.sleep(600)")


def stubborn(ready_file) -> tuple:
    """A child that ignores SIGTERM, and says so by writing ``ready_file`` once it does."""
    return (sys.executable, "-c", "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                  "pathlib.Path(sys.argv[1]).write_text('ready'); time.sleep(600)", str(ready_file))


@pytest.fixture
def quick_supervision(monkeypatch):
    monkeypatch.setattr(process_module, "WATCH_SECONDS", 0.05)
    monkeypatch.setattr(process_module, "RESTART_DELAY_SECONDS", 0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_worker_that_dies_is_started_again(monkeypatch, quick_supervision):
    monkeypatch.setattr(process_module, "COMMAND", SLEEPER)
    worker = WorkerProcess.start()
    try:
        first = worker.pid
        os.kill(first, 9)
        wait_for(lambda: worker.pid != first and alive(worker.pid), seconds=10)
    finally:
        worker.stop(timeout_seconds=5)
    assert not alive(worker.pid)  # stopped and reaped with the server


def test_a_worker_that_ignores_the_stop_is_killed_after_the_timeout(monkeypatch, quick_supervision, tmp_path):
    ready = tmp_path / "ready"
    monkeypatch.setattr(process_module, "COMMAND", stubborn(ready))
    worker = WorkerProcess.start()
    wait_for(ready.exists, seconds=10)  # SIGTERM is ignored from here on
    worker.stop(timeout_seconds=0.5)
    assert worker._process.returncode == -9


def test_serve_runs_the_worker_beside_gunicorn_counts_it_in_metrics_and_stops_it(
        app, database_url, keys_dir, receiver):
    from tests.conftest import free_port
    from tests.test_serve import scrape
    from tests.test_serve import serve
    from tests.test_serve import value

    enqueue(app, receiver.url + "/from-serve")
    metrics_port = free_port()
    env = process_env(database_url, keys_dir, AUTHSERVER_METRICS=str(metrics_port))
    with serve(env, "--workers", "1") as served:
        wait_for(lambda: receiver.received)
        wait_for(lambda: waiting(app) == [])

        def delivered():
            samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
            return value(samples, "authserver_outbound_delivered_total", kind="backchannel_logout") == 1

        wait_for(delivered)
        children = subprocess.run(["pgrep", "-P", str(served.process.pid), "-f", "outbox run --beside-server"],
                                  capture_output=True, text=True).stdout.split()
        assert len(children) == 1
    assert served.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(int(children[0]), 0)
    assert [r.path for r in receiver.received] == ["/from-serve"]

