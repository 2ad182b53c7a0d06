"""deploy/'s Grafana dashboard and Prometheus alert rules hold together with the app: every PromQL
expression in them names only metrics the app exports, read from the app's own metric registry (so
a renamed or removed metric fails here, not on an operator's dashboard), and the alerts the README
promises are there: reuse detections spiking, throttling, readiness, latency."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
import yaml

from authserver.ops.metrics import Metrics

DEPLOY = pathlib.Path(__file__).resolve().parent.parent / "deploy"
# PromQL words that are neither metrics nor functions (functions and aggregations are followed by "(").
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
SERIES_OF_TYPE = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                  "gauge": ("",), "summary": ("", "_sum", "_count", "_created")}


def exported_series() -> set[str]:
    """The names of the series a scrape of the app can show, from the registry the app exports."""
    registry = Metrics().registry
    return {family.name + suffix for family in registry.collect() for suffix in SERIES_OF_TYPE[family.type]}


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)  # strings: label values, nothing to look into
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.groups()
        if not call and name not in KEYWORDS and not re.fullmatch(r"\d+[smhdwy]", name):
            names.add(name)
    return names


@pytest.fixture(scope="module")
def alert_rules() -> list[dict]:
    document = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads((DEPLOY / "grafana-dashboard.json").read_text())


def dashboard_expressions(dashboard) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_expression_reader_finds_metrics_and_nothing_else():
    expression = ('histogram_quantile(0.99, sum by (le, endpoint) (rate(authserver_request_duration_seconds_bucket'
                  '{endpoint!="oauth.token"}[5m]))) > 2 and on (instance) absent(nope_total) '
                  'or sum(increase(a_total[1d] offset 15m)) / 96')
    assert metric_names(expression) == {"authserver_request_duration_seconds_bucket", "nope_total", "a_total"}


def test_every_alert_expression_names_only_metrics_the_app_exports(alert_rules):
    exported = exported_series()
    assert {"authserver_readiness_failures_total", "authserver_request_duration_seconds_bucket"} <= exported
    for rule in alert_rules:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, (rule["alert"], names - exported)


def test_every_dashboard_query_names_only_metrics_the_app_exports(dashboard):
    exported = exported_series()
    expressions = dashboard_expressions(dashboard)
    assert len(expressions) >= 10
    for expression in expressions:
        names = metric_names(expression)
        assert names and names <= exported, (expression, names - exported)


def test_the_alerts_cover_reuse_throttling_readiness_and_latency(alert_rules):
    watched = {name for rule in alert_rules for name in metric_names(rule["expr"])}
    assert {"authserver_refresh_reuse_detections_total", "authserver_throttled_requests_total",
            "authserver_readiness_failures_total", "authserver_request_duration_seconds_bucket"} <= watched
    for rule in alert_rules:
        assert re.fullmatch(r"Authserver[A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in {"page", "warn"} and rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_the_dashboard_imports_into_grafana_with_any_prometheus(dashboard):
    assert dashboard["__inputs"][0]["type"] == "datasource" and dashboard["__inputs"][0]["pluginId"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
            assert panel["title"] and panel["targets"]
