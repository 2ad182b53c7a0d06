"""The Dockerfile, compose.yaml and deploy/Caddyfile hold together, checked without Docker: the
compose file parses and describes two nodes on PostgreSQL behind the proxy, sharing one keys volume,
with settings authserver accepts; the Dockerfile is well-formed and runs `authserver serve` as a
user of its own on the port everything else names."""

from __future__ import annotations

import json
import pathlib
import re
import shlex

import pytest
import yaml

from authserver.http.security import HSTS
from authserver.settings import PREFIX
from authserver.settings import Settings

ROOT = pathlib.Path(__file__).resolve().parent.parent
NODES = ("auth1", "auth2")
NODE_PORT = 8000


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def interpolated(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults, and each required ${VAR:?message} with a sample value,
    as `docker compose up` with a .env would run it."""
    value = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "sample-secret", value)
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_compose_refuses_to_start_without_its_secrets():
    # Before: without .env every node used the password `change-me`. `${VAR:?message}` stops compose
    # with the message instead.
    text = (ROOT / "compose.yaml").read_text()
    variables = re.findall(r"\$\{([^}]*)\}", text)
    assert variables, "compose.yaml reads its secrets from the environment"
    for variable in variables:
        name, required, message = variable.partition(":?")
        assert required and ".env" in message, f"${{{variable}}} must stop compose when unset"


# -- compose.yaml -----------------------------------------------------------------------------------
def test_compose_runs_two_nodes_postgresql_a_proxy_the_migration_and_the_prune_job(compose):
    services = compose["services"]
    assert set(services) == {"db", "migrate", *NODES, "prune", "proxy"}
    for name in ("migrate", *NODES, "prune"):
        assert services[name]["build"] == "."
    assert services["db"]["image"].startswith("postgres:")
    assert services["migrate"]["command"] == ["authserver", "db", "upgrade"]
    assert "authserver sessions prune" in " ".join(services["prune"]["command"])


def test_every_node_has_the_same_settings_and_they_are_valid(compose):
    environments = [compose["services"][name]["environment"] for name in ("migrate", *NODES, "prune")]
    assert all(environment == environments[0] for environment in environments)
    environment = {key: interpolated(str(value)) for key, value in environments[0].items()}
    assert all(key.startswith(PREFIX) for key in environment)
    settings = Settings.from_env(environment)  # a bad value raises, naming it
    assert settings.database_url.startswith("postgresql+psycopg://") and "@db:5432/" in settings.database_url
    assert settings.issuer.startswith("https://")
    assert settings.proxy_hops == 1
    # Metrics on a port of their own that the compose network reaches, never on the public port.
    assert settings.metrics_port and settings.metrics_port != NODE_PORT
    assert settings.metrics_host == "0.0.0.0"


def test_nodes_share_the_keys_volume_and_start_after_the_migration(compose):
    services = compose["services"]
    keys_dir = services["auth1"]["environment"]["AUTHSERVER_KEYS_DIR"]
    for name in ("migrate", *NODES, "prune"):
        assert f"keys:{keys_dir}" in services[name]["volumes"]
    assert "keys" in compose["volumes"]
    for name in NODES:
        node = services[name]
        assert node["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert node["depends_on"]["db"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(node["healthcheck"]["test"])
        assert "ports" not in node, "nodes are reached through the proxy only"
    assert services["migrate"]["restart"] == "no"


def test_every_named_volume_is_declared_and_every_mounted_file_exists(compose):
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).is_file(), f"{name} mounts {source}, which is missing"
            else:
                assert source in declared, f"{name} mounts an undeclared volume {source}"


def test_the_proxy_publishes_tls_and_mounts_its_config(compose):
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert any(port.endswith(":443") for port in proxy["ports"])
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    published = next(port.split(":")[0] for port in proxy["ports"] if port.endswith(":443"))
    issuer = compose["services"]["auth1"]["environment"]["AUTHSERVER_ISSUER"]
    assert issuer == f"https://localhost:{published}"


# -- deploy/Caddyfile ---------------------------------------------------------------------------------
def caddyfile() -> str:
    return (ROOT / "deploy" / "Caddyfile").read_text()


def test_caddyfile_is_balanced_and_proxies_to_both_nodes_by_readiness():
    text = "\n".join(line.split("#", 1)[0] for line in caddyfile().splitlines())
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, "a } without its {"
    assert depth == 0, "a { without its }"
    upstreams = re.search(r"reverse_proxy\s+([^{\n]+)\{", text).group(1).split()
    assert upstreams == [f"{node}:{NODE_PORT}" for node in NODES]
    assert re.search(r"health_uri\s+/readyz", text)
    assert re.search(r"@metrics\s+path\s+/metrics", text) and re.search(r"respond\s+@metrics\s+404", text)
    assert "X-Request-Id" in text


def test_caddyfile_sends_the_apps_hsts_once_on_every_answer():
    """The proxy's own answers (the /metrics 404) carry HSTS too, and ``defer`` makes it replace the
    node's header instead of adding a second one."""
    text = "\n".join(line.split("#", 1)[0] for line in caddyfile().splitlines())
    block = re.search(r"\bheader\s*\{([^}]*)\}", text)
    assert block, "no header block"
    assert re.search(r'Strict-Transport-Security\s+"([^"]+)"', block.group(1)).group(1) == HSTS
    assert re.search(r"^\s*defer\s*$", block.group(1), re.MULTILINE)
    assert text.index("header") < text.index("reverse_proxy")


# -- Dockerfile ---------------------------------------------------------------------------------------
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword, arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def test_dockerfile_is_well_formed():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM"
    for keyword, arguments in instructions:
        assert keyword in INSTRUCTIONS and keyword.isupper(), keyword
        assert arguments, f"{keyword} without arguments"
    base = instructions[0][1]
    assert ":" in base and not base.endswith(":latest"), "pin the base image's tag"
    assert not any(keyword == "ADD" for keyword, _ in instructions), "COPY, never ADD (no URLs, no archives)"


def test_dockerfile_copies_what_exists_and_what_pip_needs():
    copied = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY":
            *sources, _destination = shlex.split(arguments)
            copied += sources
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
    # pyproject.toml's packages, its package-dir mapping (migrations/) and its readme.
    assert {"pyproject.toml", "README.md", "authserver", "authserver_resource", "migrations"} <= set(copied)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not set(copied) & set(ignored)
    assert {".venv", "keys", "instance", ".git"} <= set(ignored)  # never secrets or local data in the image


def test_dockerfile_serves_as_its_own_user_on_the_port_everything_names():
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    user = instructions[max(i for i, k in enumerate(keywords) if k == "USER")][1]
    assert user not in ("root", "0")
    assert keywords.index("USER") < keywords.index("CMD")
    cmd = json.loads(dict(instructions)["CMD"])  # exec form: signals reach gunicorn
    assert cmd[:2] == ["authserver", "serve"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert int(cmd[cmd.index("--port") + 1]) == NODE_PORT
    assert dict(instructions)["EXPOSE"] == str(NODE_PORT)
    healthcheck = dict(instructions)["HEALTHCHECK"]
    assert f"127.0.0.1:{NODE_PORT}/healthz" in healthcheck
    json.loads(healthcheck.split("CMD", 1)[1])  # exec form
