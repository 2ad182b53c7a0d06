"""Running the Node.js conformance scripts of conformance/js (``oauth4webapi.mjs``,
``openid-client.mjs``: one per npm package under test, named after it) and reading their reports."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
JS = ROOT / "conformance" / "js"
RESULTS = ROOT / "conformance" / "results"
NODE = shutil.which("node")


def run_script(node: str, library: str, config: dict, folder: pathlib.Path, report: pathlib.Path):
    """``node <library>.mjs --config … --report …`` in conformance/js; the completed process."""
    config_path = folder / f"{library}-run.json"
    config_path.write_text(json.dumps(config))
    return subprocess.run([node, str(JS / f"{library}.mjs"), "--config", str(config_path), "--report", str(report)],
                          cwd=JS, capture_output=True, text=True, timeout=300)


def report_rows(path: pathlib.Path, library: str) -> dict[str, str]:
    """{flow: result} from the report's table."""
    rows = {}
    for line in path.read_text().splitlines():
        if line.startswith(f"| {library} "):
            _client, flow, result = (cell.strip() for cell in line.strip("|").split(" | "))
            rows[flow] = result
    return rows
