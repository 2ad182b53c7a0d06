"""benchmarks/compare.py's parsing only (the benchmark itself is a command, never part of the suite)."""

import os
import sys

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCHMARKS)

import compare  # noqa: E402


def test_wrk_figures_are_read_from_the_done_hook_line():
    output = ("Running 10s test @ http://127.0.0.1:1\n"
              'WRKJSON {"requests": 1010, "duration_us": 10000000, "connect": 0, "read": 2, "write": 0, '
              '"status": 3, "timeout": 1, "failures": 10, "checked": 1010, "p50_us": 4000, "p90_us": 9000, '
              '"p99_us": 25000, "max_us": 90000, "mean_us": 5000.5}\n')
    figures = compare.parse_wrk(output)
    assert figures["ok"] == 1000
    assert figures["per_second"] == 100.0
    assert figures["errors"] == 13  # failed checks plus socket errors; wrk's status count is inside the checks
    assert (figures["p50_ms"], figures["p99_ms"]) == (4.0, 25.0)


def test_the_wrk_script_gets_the_spec_as_a_lua_table():
    script = compare.wrk_script({"method": "POST", "kind": "chain", "tokens": ["a-b_c", 'q"x'], "n": 2})
    assert 'local data = {["method"] = "POST", ["kind"] = "chain", ["tokens"] = {"a-b_c", "q\\"x"}, ["n"] = 2}' in script
    assert "__DATA__" not in script.split("local data = ", 1)[1]


def row(server, workload, per_second, cpu=1.0):
    return {"server": server, "label": server, "workload": workload, "per_second": per_second,
            "cpu_ms_per_request": cpu}


def test_oidc_provider_on_redis_is_a_part_of_every_run_and_unknown_parts_are_refused(tmp_path):
    assert compare.PARTS.index("oidc-provider-redis") == compare.PARTS.index("oidc-provider") + 1
    try:
        compare.main(["--only", "oidc-provider,redis", "--out", str(tmp_path / "x")])
    except SystemExit as stop:
        assert stop.code == 2
    else:
        raise AssertionError("an unknown part was accepted")
    target = compare.OidcProviderRedis(str(tmp_path / "peer"))  # nothing is started until start()
    assert target.name == "oidc-provider-redis"
    assert target.server_env()["REDIS_URL"] == f"redis://127.0.0.1:{target.redis.port}/0"
    assert target.server_env()["NODE_ENV"] == "production"
    assert "everysec" in compare.REDIS_PERSISTENCE


def test_ratios_have_a_column_for_each_peer_measured_redis_included():
    results = [row("authserver-sqlite", "refresh", 500), row("authserver-sqlite", "introspect", 1000),
               row("authserver-postgresql", "refresh", 400),
               row("oidc-provider", "refresh", 2000), row("oidc-provider", "refresh_opaque", 1000),
               row("oidc-provider", "introspect", 5000),
               row("oidc-provider-redis", "refresh", 1000), row("oidc-provider-redis", "refresh_opaque", 800),
               {"server": "oidc-provider-redis", "label": "x", "workload": "introspect", "skipped": "failed: boom"},
               row("django-oauth-toolkit", "refresh", 125)]
    found = {(r["authserver"], r["workload"], r["peer"], r["peer_workload"]): r["ratio"]
             for r in compare.ratios(results)}
    assert found == {
        ("authserver-sqlite", "refresh", "oidc-provider", "refresh"): 0.25,
        ("authserver-sqlite", "refresh", "oidc-provider-redis", "refresh"): 0.5,
        ("authserver-sqlite", "refresh", "django-oauth-toolkit", "refresh"): 4.0,
        ("authserver-sqlite", "refresh", "oidc-provider", "refresh_opaque"): 0.5,
        ("authserver-sqlite", "refresh", "oidc-provider-redis", "refresh_opaque"): 0.625,
        ("authserver-sqlite", "introspect", "oidc-provider", "introspect"): 0.2,
        ("authserver-postgresql", "refresh", "oidc-provider", "refresh"): 0.2,
        ("authserver-postgresql", "refresh", "oidc-provider-redis", "refresh"): 0.4,
        ("authserver-postgresql", "refresh", "django-oauth-toolkit", "refresh"): 3.2,
        ("authserver-postgresql", "refresh", "oidc-provider", "refresh_opaque"): 0.4,
        ("authserver-postgresql", "refresh", "oidc-provider-redis", "refresh_opaque"): 0.5,
    }
    table = compare.ratio_table(results)
    assert table[3] == ("| workload | authserver | / oidc-provider | / oidc-provider (Redis) "
                        "| / django-oauth-toolkit |")
    assert "| refresh grant | authserver-sqlite | 0.25x | 0.50x | 4.00x |" in table
    assert "| refresh grant vs. opaque | authserver-sqlite | 0.50x | 0.62x | - |" in table
    assert "| introspection of a live access token | authserver-sqlite | 0.20x | - | - |" in table
    assert "| refresh grant vs. opaque | authserver-postgresql | 0.40x | 0.50x | - |" in table


def test_without_redis_in_the_run_the_table_has_no_redis_column_nor_storage_section():
    results = [row("authserver-sqlite", "refresh", 500), row("oidc-provider", "refresh", 1000)]
    table = compare.ratio_table(results)
    assert table[3] == "| workload | authserver | / oidc-provider |"
    assert compare.peer_storage_lines(results) == []
    assert compare.ratio_table([row("authserver-sqlite", "refresh", 500)]) == []


def test_redis_against_memory_is_reported_with_both_cpu_figures():
    results = [row("oidc-provider", "refresh", 2000, cpu=0.8), row("oidc-provider-redis", "refresh", 1500, cpu=1.1),
               row("oidc-provider", "jwks", 9000)]
    lines = compare.peer_storage_lines(results)
    assert lines[1] == "## oidc-provider on Redis / in memory (same run)"
    assert lines[3:] == ["- refresh grant: 0.75 (1.10 vs. 0.80 ms CPU/req, redis-server's included)"]


def test_a_baseline_is_reported_against_this_code_database_by_database():
    results = [row("authserver-sqlite", "refresh", 900, cpu=1.5), row("authserver-sqlite-baseline", "refresh", 600, 3.0),
               row("authserver-postgresql", "refresh", 800, cpu=2.0)]  # no PostgreSQL baseline measured
    lines = compare.baseline_ratios(results, "/nonexistent/checkout")
    assert lines[1] == "## Before and after (baseline checkout, same run, interleaved)"
    rows = [line for line in lines if line.startswith("| sqlite") or line.startswith("| postgresql")]
    assert rows == ["| sqlite | refresh grant | 600, 3.00 ms | 900, 1.50 ms | 1.50 | 0.50 | 0 |"]
    assert compare.baseline_ratios(results[:1], None) == []
