"""The delivery worker beside the HTTP server (granian or gunicorn): ``authserver serve`` starts
``authserver outbox run`` as a child process of its master, restarts it if it dies, and stops it
when the server stops; the child stops by itself if the master dies without stopping it.

Why a process of its own, one per node, and not a thread: gunicorn's workers are forked, recycled
and busy answering requests, and a worker thread in each would multiply the pollers by the worker
count; a thread in the master would hold database connections across the forks of every worker
gunicorn starts. A child of its own has its own interpreter and connection pool, shares nothing with
request threads, and its counters reach the node's metrics port through the same multiprocess folder.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

from ..ops.metrics import MULTIPROCESS_DIR

log = logging.getLogger(__name__)

# The `authserver` command in the same interpreter, without re-printing the settings warnings `serve` printed.
CHILD = "import sys; from authserver.cli import cli; cli.main(args=sys.argv[1:], prog_name='authserver')"
COMMAND = (sys.executable, "-c", CHILD, "outbox", "run", "--beside-server")
RESTART_DELAY_SECONDS = 5
# How often the supervising thread looks at the child.
WATCH_SECONDS = 1


class WorkerProcess:
    """The child process and the thread in gunicorn's master that keeps it running."""

    def __init__(self):
        self._stopping = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._watch, name="outbound-supervisor", daemon=True)

    @classmethod
    def start(cls) -> "WorkerProcess":
        worker = cls()
        worker._spawn()
        worker._thread.start()
        return worker

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _spawn(self) -> None:
        self._process = subprocess.Popen(COMMAND)

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            # gunicorn's master (not granian's) reaps every child it sees exit, ours included: then poll() says 0.
            status = self._process.poll()
            if status is None:
                continue
            _forget_metrics_of(self._process.pid)
            log.error("the outbound delivery worker (pid %s) exited with status %s; starting another in %s s",
                      self._process.pid, status, RESTART_DELAY_SECONDS)
            if self._stopping.wait(RESTART_DELAY_SECONDS):
                return
            self._spawn()

    def stop(self, timeout_seconds: float) -> None:
        """Ask the child to stop (it finishes its deliveries in flight, each bounded by the delivery
        timeout), and kill it if it has not within ``timeout_seconds``."""
        self._stopping.set()
        self._thread.join()
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            log.error("the outbound delivery worker did not stop within %s s; killed", timeout_seconds)
            process.kill()
            process.wait()
        _forget_metrics_of(process.pid)


def _forget_metrics_of(pid: int) -> None:
    """Its gauges stop counting (they are "live" values); its counters stay in the node's totals."""
    if os.environ.get(MULTIPROCESS_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
