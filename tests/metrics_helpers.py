"""Reading Prometheus metrics the way a scraper does: the samples of a /metrics answer, keyed by
name and labels, and one sample's value (0 when it was never counted)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples_of(text: str) -> dict:
    """{(sample name, frozenset of labels): value} from a Prometheus text exposition."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(client) -> dict:
    """The samples of the app's /metrics, through the test client."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples_of(response.get_data(as_text=True))


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
