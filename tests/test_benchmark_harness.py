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
