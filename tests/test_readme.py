"""README.md's walk-throughs run as pasted: its ```sh blocks, top to bottom, in one fresh bash (as a
reader pastes them into one terminal, each block using the variables the ones before it set), against
a live `authserver serve` started here on a free port, with a fresh AUTHSERVER_HOME. So the README
and the server cannot drift apart.

A ```sh block is run unless the line before its fence is ``<!-- not run: the reason -->`` (a server
that runs until stopped, a browser step, Docker). Blocks in other languages (```text, ```python,
```json) are never run."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import requests

from tests.conftest import free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
NOT_RUN = re.compile(r"<!-- not run: (.*) -->")
README_SERVER = "127.0.0.1:5000"  # where the README's blocks expect the server


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    not_run: str | None  # the reason, when marked


def fenced_blocks(text: str) -> list[Block]:
    blocks, lines = [], text.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        if line.startswith("```"):
            start, language = number, line[3:].strip()
            end = next(i for i in range(number + 1, len(lines)) if lines[i].startswith("```"))
            marker = NOT_RUN.fullmatch(lines[start - 1].strip()) if start else None
            blocks.append(Block(start + 1, language, "\n".join(lines[start + 1:end]),
                                marker.group(1).strip() if marker else None))
            number = end
        number += 1
    return blocks


def runnable(text: str) -> list[Block]:
    return [block for block in fenced_blocks(text) if block.language == "sh" and block.not_run is None]


def test_the_extractor_runs_sh_blocks_unless_marked_with_a_reason():
    text = "\n".join(["```sh", "echo one", "```", "<!-- not run: needs Docker -->", "```sh", "docker ps", "```",
                      "```text", "not shell", "```", "```python", "print(1)", "```"])
    blocks = fenced_blocks(text)
    assert [(b.language, b.not_run) for b in blocks] == [("sh", None), ("sh", "needs Docker"), ("text", None),
                                                         ("python", None)]
    assert [b.code for b in runnable(text)] == ["echo one"]


def test_every_block_the_readme_does_not_run_says_why():
    readme = (ROOT / "README.md").read_text()
    for block in fenced_blocks(readme):
        assert block.not_run != "", f"README.md line {block.line}: say why the block is not run"
    markers = [n for n, line in enumerate(readme.splitlines()) if NOT_RUN.fullmatch(line.strip())]
    fences = {block.line - 2 for block in fenced_blocks(readme)}
    assert set(markers) <= fences, "a `not run` marker must be the line right before a fence"


@pytest.fixture
def live_server(tmp_path):
    """`authserver serve` on a free port, its data in a fresh AUTHSERVER_HOME, as `./scripts/serve` does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHSERVER_", "PROMETHEUS_"))}
    env.update(AUTHSERVER_HOME=str(tmp_path / "home"), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    port = free_port()
    subprocess.run(["authserver", "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen(["authserver", "serve", "--port", str(port), "--workers", "1"],
                              env={**env, "AUTHSERVER_METRICS": "off"}, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield port, env
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_the_readme_walk_throughs_run_as_pasted(live_server, tmp_path):
    port, env = live_server
    blocks = runnable((ROOT / "README.md").read_text())
    assert len(blocks) >= 8
    # One shell for all, as a reader pastes them; each block announced so a failure names its line.
    script = ["set -euo pipefail"]
    for block in blocks:
        code = block.code.replace(README_SERVER, f"127.0.0.1:{port}")
        script += [f"echo '### README.md line {block.line}' >&2", code]
    # A folder of the reader's own: `. .venv/bin/activate` finds this test run's environment.
    reader = tmp_path / "reader"
    reader.mkdir()
    (reader / ".venv").symlink_to(BIN.parent)
    clean = {k: v for k, v in env.items() if k != "PATH"}
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=reader, capture_output=True, text=True, timeout=300,
                          env={**clean, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    last = [line for line in done.stderr.splitlines() if line.startswith("### README.md")][-1:]
    assert done.returncode == 0, f"failed after {last}:\n{done.stderr[-3000:]}"
    # What the blocks print is what the README says they print.
    output = done.stdout.replace(" ", "")
    assert '"username":"alice"' in output  # users create, and introspection
    assert '"token_type":"Bearer"' in output and '"scope":"reports:read"' in output
    assert '{"error":"authorization_pending"' in output
    assert '"active":true' in output and '"device_name":"Alice\'slaptop"' in output
    assert '"consents":[]' in output
