"""The streams' rules without HTTP: what an endpoint must be (SSF 1.0 §8.1.1, RFC 8935), which event types,
the default audience."""

from __future__ import annotations

import pytest

from authserver.errors import StreamRefused
from authserver.settings import Settings
from authserver.ssf import streams
from authserver.ssf.events import EVENTS_SUPPORTED

HTTPS_ISSUER = Settings(issuer="https://auth.example.com", outbound_allow_private=True)
LOCAL = Settings(issuer="http://127.0.0.1:5000", outbound_allow_private=False)


@pytest.mark.parametrize(("settings", "url", "why"), [
    (HTTPS_ISSUER, "http://192.0.2.1/events", "https"),
    (HTTPS_ISSUER, "https://user:secret@192.0.2.1/events", "credentials"),
    (HTTPS_ISSUER, "https://192.0.2.1/events#frag", "fragment"),
    (HTTPS_ISSUER, "ftp://192.0.2.1/events", "http or https"),
    (HTTPS_ISSUER, "/events", "http or https"),
    (LOCAL, "http://127.0.0.1:8000/events", "AUTHSERVER_OUTBOUND_ALLOW_PRIVATE"),
    (LOCAL, "http://192.168.1.20/events", "AUTHSERVER_OUTBOUND_ALLOW_PRIVATE"),
    (LOCAL, 42, "http or https"),
])
def test_an_endpoint_is_refused_with_the_reason(settings, url, why):
    with pytest.raises(StreamRefused, match=why):
        streams.check_endpoint(settings, url)


def test_a_public_https_endpoint_is_accepted():
    assert streams.check_endpoint(LOCAL, "https://8.8.8.8/events") == "https://8.8.8.8/events"


def test_events_default_to_all_and_unknown_ones_are_refused():
    assert streams.check_events(None) == list(EVENTS_SUPPORTED)
    assert streams.check_events([EVENTS_SUPPORTED[0], EVENTS_SUPPORTED[0]]) == [EVENTS_SUPPORTED[0]]
    with pytest.raises(StreamRefused, match="unknown event type"):
        streams.check_events(["urn:example:nope"])
    with pytest.raises(StreamRefused):
        streams.check_events("not a list")


def test_the_default_audience_is_the_endpoints_origin():
    assert streams.default_audience("https://notes.example:8443/ssf/events?x=1") == "https://notes.example:8443"
