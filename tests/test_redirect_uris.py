"""The redirect-URI rules (redirect_uris.py): which a self-registering client may register (RFC 8252 §7,
RFC 7591 §2), and when a presented one matches a registered one (exactly; loopback on any port, RFC 8252
§7.3). Both are security rules over a large input space, so besides the cases they get property tests
(Hypothesis, fixed seed, no example database)."""

from __future__ import annotations

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from authserver.redirect_uris import matches
from authserver.redirect_uris import registration_refusal

PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)

ACCEPTED = [
    "https://agent.example/callback",
    "https://agent.example:8443/cb?x=1",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:33418/callback",
    "http://[::1]:8080/cb",
    "http://localhost:3000/oauth/callback",
    "com.example.app:/oauth2redirect",
    "com.example.app://callback",
]
REFUSED = [
    "http://agent.example/callback",  # plain http off loopback
    "http://127.0.0.2/callback",  # only the three loopback names
    "http://localhost.agent.example/cb",
    "http://127.0.0.1@agent.example/cb",
    "https://agent.example/cb#fragment",
    "https://agent.example/cb#",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox",
    "file:///etc/passwd",
    "myapp:/callback",  # a private-use scheme is reverse-domain (RFC 8252 §7.1)
    "HTTPS://agent.example/cb",
    "/relative/callback",
    "https:///no-host",
    "https://user:pass@agent.example/cb",
    "https://agent.example/c b",
    "https://agent.example/c\tb",
    "https://agent.example/c\\b",
    "",
]


@pytest.mark.parametrize("uri", ACCEPTED)
def test_rfc8252_https_loopback_http_and_private_use_schemes_may_be_registered(uri):
    assert registration_refusal(uri) is None


@pytest.mark.parametrize("uri", REFUSED)
def test_anything_else_is_refused_with_a_reason(uri):
    assert registration_refusal(uri)


@PROPERTY
@given(st.text(min_size=1, max_size=60))
@example("http://127.0.0.1:1/#")
@example("javascript://127.0.0.1/%0aalert(1)")
def test_property_an_accepted_uri_is_never_executable_fragmented_or_plain_http_off_loopback(text):
    for uri in (text, "https://" + text, "http://" + text, "com.example.app:" + text):
        if registration_refusal(uri) is not None:
            continue
        scheme = uri.split(":", 1)[0]
        assert "#" not in uri and uri.isprintable() and " " not in uri
        assert scheme not in ("javascript", "data", "vbscript", "file", "blob", "about")
        assert scheme in ("https", "http") or "." in scheme
        if scheme == "http":
            host = uri.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0].rsplit(":", 1)[0]
            assert host in ("127.0.0.1", "[::1]", "localhost"), uri


# -- matching ----------------------------------------------------------------------------------
def test_rfc8252_s7_3_a_loopback_redirect_uri_matches_on_any_port():
    registered = "http://127.0.0.1/callback"
    assert matches(registered, "http://127.0.0.1:51004/callback")
    assert matches("http://127.0.0.1:8080/callback", "http://127.0.0.1:9090/callback")
    assert matches("http://[::1]/cb?x=1", "http://[::1]:7/cb?x=1")
    assert matches("http://localhost:1/cb", "http://localhost/cb")


@pytest.mark.parametrize("presented", [
    "http://127.0.0.1:51004/callback/",  # another path
    "http://127.0.0.1:51004/Callback",
    "http://127.0.0.1:51004/callback?x=1",  # a query added
    "http://127.0.0.1:51004/callback?",
    "http://127.0.0.1:51004/callback#x",
    "https://127.0.0.1:51004/callback",  # another scheme
    "http://localhost:51004/callback",  # another loopback name
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:51004@agent.example/callback",
    "http://127.0.0.1.agent.example:51004/callback",
    "http://127.0.0.1:51004/call\tback",
])
def test_only_the_port_is_relaxed(presented):
    assert not matches("http://127.0.0.1/callback", presented)


HOSTS = st.sampled_from(["agent.example", "127.0.0.1", "localhost", "[::1]", "10.0.0.1", "127.0.0.1.nip.io",
                         "localhost.example", "xn--bcher-kva.example"])
PATHS = st.text(alphabet="abc/._-%?=&", max_size=12).map(lambda path: "/" + path)
PORTS = st.one_of(st.none(), st.integers(0, 70_000))


def url(scheme, host, port, path):
    return f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"


@PROPERTY
@given(st.sampled_from(["http", "https"]), HOSTS, PORTS, PATHS, st.sampled_from(["http", "https"]), HOSTS, PORTS,
       PATHS)
def test_property_matching_relaxes_nothing_but_a_loopback_port(scheme, host, port, path, scheme2, host2, port2, path2):
    registered, presented = url(scheme, host, port, path), url(scheme2, host2, port2, path2)
    if not matches(registered, presented):
        return
    if registered == presented:
        return
    # Only a loopback registration matches anything but itself, and only the same scheme, host, path and query.
    assert host in ("127.0.0.1", "localhost", "[::1]")
    assert (scheme2, host2, path2) == (scheme, host, path)
    assert port2 is None or port2 <= 65_535


@PROPERTY
@given(st.text(max_size=40), st.text(max_size=40))
@example("https://agent.example/cb", "https://agent.example:443/cb")
@example("https://agent.example/cb", "https://AGENT.example/cb")
def test_property_a_non_loopback_uri_matches_only_itself(registered_tail, presented):
    registered = "https://agent.example/" + registered_tail
    assert matches(registered, presented) == (registered == presented)
