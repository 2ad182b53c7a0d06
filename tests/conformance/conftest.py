"""The conformance runs' fixtures."""

from __future__ import annotations

import json

import pytest

from tests.conformance.node_scripts import JS
from tests.conformance.node_scripts import NODE


@pytest.fixture(scope="session")
def node():
    """Node.js and the locked packages (`npm ci` in conformance/js, which scripts/test runs)."""
    if NODE is None:
        pytest.fail("Node.js is not installed; ./scripts/test installs it")
    for package in json.loads((JS / "package.json").read_text())["dependencies"]:
        if not (JS / "node_modules" / package / "package.json").exists():
            pytest.fail(f"conformance/js has no {package} in node_modules: run `npm ci` there (./scripts/test does)")
    return NODE
