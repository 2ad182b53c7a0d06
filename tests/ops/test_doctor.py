"""`authserver doctor`: one line per check, a fix for each failure, exit status 0 only when all pass;
nothing is created while looking."""

import datetime as dt
import os
import shutil
import subprocess
import sys

import pytest

from authserver.ops.doctor import _clock_check
from authserver.ops.doctor import run_checks
from authserver.ops.doctor import table

AUTHSERVER = shutil.which("authserver", path=os.path.dirname(sys.executable))
LISTEN = "http://127.0.0.1:5000"


def results(environ, listen=LISTEN) -> dict:
    return {check.name: check for check in run_checks(environ, listen)}


@pytest.fixture
def environ(database_url, keys_dir, tmp_path):
    keys = tmp_path / "keys"
    shutil.copytree(keys_dir, keys)
    return {"AUTHSERVER_DATABASE_URL": database_url, "AUTHSERVER_KEYS_DIR": str(keys)}


def test_a_server_set_up_by_db_upgrade_passes_every_check(environ, backend):
    checks = results(environ)
    assert all(check.ok for check in checks.values()), table(list(checks.values()))
    expected = {"settings", "database", "schema", "clock", "keys folder", "keys", "issuer", "TLS"}
    assert set(checks) == expected | ({"database file"} if backend == "sqlite" else set())


def test_a_missing_database_and_keys_folder_are_named_with_their_fix_and_not_created(tmp_path):
    checks = results({"AUTHSERVER_HOME": str(tmp_path / "home")})
    assert not checks["database"].ok and checks["database"].fix.startswith("run `authserver db upgrade`")
    assert checks["database"].detail == f"no database at {tmp_path}/home/authserver.db"
    assert not checks["keys"].ok and "no keys folder" in checks["keys"].detail
    assert not (tmp_path / "home").exists()


def test_a_database_without_the_schema_says_to_run_db_upgrade(tmp_path, keys_dir):
    (tmp_path / "empty.db").touch(mode=0o600)
    checks = results({"AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db", "AUTHSERVER_KEYS_DIR": keys_dir})
    assert (checks["schema"].ok, checks["schema"].detail, checks["schema"].fix) == (
        False, "the database has no schema yet", "run `authserver db upgrade`")


def test_an_unreachable_database_is_one_line_without_its_password(keys_dir):
    from tests.conftest import free_port

    port = free_port()
    checks = results({"AUTHSERVER_DATABASE_URL": f"postgresql+psycopg://auth:hunter2@127.0.0.1:{port}/auth",
                      "AUTHSERVER_KEYS_DIR": keys_dir})
    assert not checks["database"].ok and str(port) in checks["database"].detail
    assert "hunter2" not in table(list(checks.values()))


def test_key_files_open_to_others_are_named_with_the_chmod(environ):
    os.chmod(os.path.join(environ["AUTHSERVER_KEYS_DIR"], "web-secret.key"), 0o644)
    os.chmod(environ["AUTHSERVER_KEYS_DIR"], 0o755)
    checks = results(environ)
    assert (checks["key files"].ok, checks["key files"].detail) == (False, "open to other users: web-secret.key")
    assert checks["keys folder"].fix == f"chmod 700 {environ['AUTHSERVER_KEYS_DIR']}"


@pytest.mark.parametrize("settings, listen, check, detail", [
    ({"AUTHSERVER_ISSUER": "http://127.0.0.1:5000"}, "http://127.0.0.1:8000", "issuer",
     "http://127.0.0.1:5000 is not where `serve` listens (http://127.0.0.1:8000)"),
    ({"AUTHSERVER_ISSUER": "https://auth.example.com"}, LISTEN, "TLS",
     "the issuer is https but AUTHSERVER_PROXY_HOPS is 0"),
    ({"AUTHSERVER_ISSUER": "https://auth.example.com", "AUTHSERVER_PROXY_HOPS": "1",
      "AUTHSERVER_COOKIE_SECURE": "false"}, LISTEN, "TLS", "AUTHSERVER_COOKIE_SECURE is false"),
    ({"AUTHSERVER_ISSUER": "http://10.0.0.5:5000"}, "http://10.0.0.5:5000", "TLS",
     "is plain http on a host others reach"),
])
def test_the_issuer_and_tls_expectations(environ, settings, listen, check, detail):
    found = results({**environ, **settings}, listen)[check]
    assert not found.ok and detail in found.detail and found.fix


def test_an_https_issuer_behind_a_proxy_passes(environ):
    checks = results({**environ, "AUTHSERVER_ISSUER": "https://auth.example.com", "AUTHSERVER_PROXY_HOPS": "1"})
    assert checks["issuer"].ok and checks["TLS"].ok


def test_a_clock_apart_from_the_databases_fails():
    now = dt.datetime(2026, 12, 6, 10, 0, 0, tzinfo=dt.timezone.utc)
    assert _clock_check("2026-12-06 10:00:00", now).ok  # SQLite's text
    late = _clock_check(now - dt.timedelta(seconds=30), now)
    assert (late.ok, late.detail) == (False, "+30.0 s from the database's") and "NTP" in late.fix


def test_a_bad_setting_is_a_failing_line_not_a_stop(tmp_path):
    checks = run_checks({"AUTHSERVER_DATABASE_URL": "postgres://u:p@db/auth"}, LISTEN)
    assert [(c.name, c.ok) for c in checks] == [("settings", False)]
    assert "postgresql+psycopg://u:…@db/auth" in checks[0].detail


def test_the_command_prints_the_table_and_its_exit_status_says_whether_all_passed(environ):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSERVER_")}
    passed = subprocess.run([AUTHSERVER, "doctor"], env={**env, **environ}, capture_output=True, text=True,
                            timeout=60)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.splitlines()[0].split()[:2] == ["settings", "ok"]
    failed = subprocess.run([AUTHSERVER, "doctor", "--port", "8000"],
                            env={**env, **environ, "AUTHSERVER_ISSUER": "http://127.0.0.1:5000"},
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    failing = [n for n, line in enumerate(lines) if " FAIL " in line]
    assert len(failing) == 1 and lines[failing[0]].startswith("issuer")
    assert lines[failing[0] + 1].strip().startswith("fix: set AUTHSERVER_ISSUER")
