"""`authserver outbox list` and `authserver outbox run` (``outbound/commands.py``), on SQLite and PostgreSQL:
what waits is listed without secrets in query strings; the worker run apart delivers and stops
cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess

from authserver.store.schema import database_label
from tests.outbound.outbox_helpers import AUTHSERVER
from tests.outbound.outbox_helpers import enqueue
from tests.outbound.outbox_helpers import process_env
from tests.outbound.outbox_helpers import wait_for
from tests.outbound.outbox_helpers import waiting


def test_outbox_list_shows_what_waits_without_query_strings(app, runner):
    enqueue(app, "https://rp.example/logout?secret=1")
    result = runner.invoke(args=["outbox", "list", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)["messages"]
    assert row["url"] == "https://rp.example/logout" and row["attempts"] == 0 and row["kind"] == "backchannel_logout"
    text = runner.invoke(args=["outbox", "list"]).output
    assert "backchannel_logout  https://rp.example/logout  attempts 0" in text



def test_outbox_run_delivers_and_stops_on_sigterm(app, database_url, keys_dir, receiver):
    enqueue(app, receiver.url + "/from-outbox-run")
    process = subprocess.Popen([AUTHSERVER, "outbox", "run"], env=process_env(database_url, keys_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: receiver.received)
        wait_for(lambda: waiting(app) == [])
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    messages = [json.loads(line)["message"] for line in output.splitlines()]  # every line JSON
    assert any(m.startswith("outbound delivery worker started") and database_label(database_url) in m
               for m in messages)
    assert messages[-1] == "outbound delivery worker stopped"
    assert any(m.startswith("outbound backchannel_logout #") and "delivered" in m for m in messages)



def test_outbox_list_says_when_nothing_waits(runner):
    result = runner.invoke(args=["outbox", "list"])
    assert result.exit_code == 0 and result.output.strip() == "nothing waiting"
    assert json.loads(runner.invoke(args=["outbox", "list", "--json"]).output) == {"messages": []}
