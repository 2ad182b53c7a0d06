"""`authserver legacy import` and `legacy status` (commands.py) as an operator runs them: a file of
JSON lines, a re-run, malformed lines, and the counts of the move. Both databases."""

from __future__ import annotations

import json

from authserver.store.database import db
from authserver.store.models import LegacySession

LINES = [
    {"token": "r:1", "username": "alice", "device_name": "Alice's iPhone", "user_agent": "Parse-iOS/1.19",
     "ip": "198.51.100.4", "created_at": "2026-11-01T10:00:00Z"},
    {"token": "r:2", "username": "alice", "device_name": None, "user_agent": None, "ip": None,
     "created_at": "2026-11-02T10:00:00+01:00"},
    {"token": "r:3", "username": "zoe", "device_name": "Zoe's", "user_agent": "x", "ip": "x",
     "created_at": "2026-11-02T10:00:00Z"},
]


def export_file(tmp_path, extra=()):
    path = tmp_path / "sessions.jsonl"
    rows = [json.dumps(line) for line in LINES] + list(extra)
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_legacy_import_reports_and_reruns_idempotently(app, runner, factory, tmp_path):
    factory.user("alice")
    path = export_file(tmp_path, extra=["not json at all"])
    first = runner.invoke(args=["legacy", "import", path, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"imported": 2, "unknown_user": 1, "duplicate": 0, "malformed": 1,
                                        "malformed_lines": [4]}
    again = runner.invoke(args=["legacy", "import", path, "--json"])
    assert json.loads(again.stdout)["duplicate"] == 2 and json.loads(again.stdout)["imported"] == 0
    with app.app_context():
        assert db.session.query(LegacySession).count() == 2
    text = runner.invoke(args=["legacy", "import", path])
    assert text.stdout.strip() == "imported: 0, unknown user: 1, duplicate: 2, malformed: 1 (lines 4)"


def test_legacy_status_counts_the_move(runner, factory, tmp_path):
    factory.user("alice")
    runner.invoke(args=["legacy", "import", export_file(tmp_path)])
    status = runner.invoke(args=["legacy", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout) == {"imported": 2, "exchanged": 0, "expired": 0, "remaining": 2,
                                         "migrated_share": 0.0}
    assert runner.invoke(args=["legacy", "status"]).stdout.strip() == (
        "imported: 2, exchanged: 0 (0.0%), expired: 0, remaining: 2")


def test_legacy_commands_have_help(runner):
    listing = runner.invoke(args=["legacy", "--help"]).stdout
    assert "Import an export of legacy sessions" in listing and "How many legacy sessions" in listing
    assert "Print one JSON object." in runner.invoke(args=["legacy", "import", "--help"]).stdout
