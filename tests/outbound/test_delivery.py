"""One outbound delivery against a real receiver on 127.0.0.1: what acknowledges, what is retried,
what is refused (non-public addresses, checked after resolving and connected to as checked), and
that no receiver can hold it (timeouts, a deadline for the whole exchange), redirect it or flood it."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from types import SimpleNamespace

import pytest

from authserver.outbound import delivery
from authserver.outbound.delivery import DELIVERED
from authserver.outbound.delivery import GIVE_UP
from authserver.outbound.delivery import RETRY
from tests.outbound.receivers import Receiver
from tests.outbound.receivers import nothing_listening_port
from tests.outbound.receivers import self_signed_certificate


def message(url, body=b"logout_token=eyJ", acknowledge="2xx", headers=None):
    """A message as the outbox stores it (its headers as JSON)."""
    return SimpleNamespace(url=url, body=body, content_type="application/x-www-form-urlencoded",
                           headers=json.dumps(headers) if headers else None, acknowledge=acknowledge)


def deliver(msg, timeout_seconds=1, allow_private=True):
    return delivery.deliver(msg, timeout_seconds=timeout_seconds, allow_private=allow_private)


def test_a_2xx_acknowledges_and_the_receiver_gets_the_body_its_type_and_the_enqueuers_headers(receiver):
    outcome = deliver(message(receiver.url + "/backchannel?x=1", headers={"Authorization": "Bearer abc"}))
    assert (outcome.result, outcome.status) == (DELIVERED, 200)
    [got] = receiver.received
    assert got.path == "/backchannel?x=1"
    assert got.body == b"logout_token=eyJ"
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert got.headers["Authorization"] == "Bearer abc"
    assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"


def test_only_the_statuses_the_enqueuer_named_acknowledge_rfc_8935_wants_202(receiver):
    receiver.behaviour.status = 200
    assert deliver(message(receiver.url, acknowledge="202")).result == RETRY
    receiver.behaviour.status = 202
    assert deliver(message(receiver.url, acknowledge="202")).result == DELIVERED


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_a_5xx_or_a_busy_receiver_is_retried(receiver, status):
    receiver.behaviour.status = status
    receiver.behaviour.headers = {"Retry-After": "120"}
    outcome = deliver(message(receiver.url))
    assert (outcome.result, outcome.status, outcome.retry_after_seconds) == (RETRY, status, 120)


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_another_4xx_is_the_receiver_rejecting_the_message_and_is_not_retried(receiver, status):
    receiver.behaviour.status = status
    receiver.behaviour.body = b'{"error": "invalid_request"}'
    outcome = deliver(message(receiver.url))
    assert (outcome.result, outcome.status) == (GIVE_UP, status)
    assert "invalid_request" in outcome.reason


def test_nothing_listening_is_retried():
    outcome = deliver(message(f"http://127.0.0.1:{nothing_listening_port()}/logout"))
    assert outcome.result == RETRY
    assert "cannot connect" in outcome.reason


def test_a_receiver_that_never_answers_times_out_and_is_retried(receiver):
    receiver.behaviour.hang_seconds = 30
    started = time.monotonic()
    outcome = deliver(message(receiver.url), timeout_seconds=1)
    assert outcome.result == RETRY
    assert time.monotonic() - started < 3
    assert len(receiver.received) == 1


def test_a_receiver_that_trickles_its_answer_is_cut_at_the_deadline_of_the_whole_exchange(receiver):
    # Each byte comes well within the read timeout; only a deadline for the whole exchange stops it.
    receiver.behaviour.trickle_seconds = 0.2
    started = time.monotonic()
    outcome = deliver(message(receiver.url), timeout_seconds=1)
    assert outcome.result == RETRY
    assert "within 1 s" in outcome.reason
    assert time.monotonic() - started < 3


def test_a_redirect_is_not_followed_and_is_retried(receiver, second_receiver):
    receiver.behaviour.status = 307
    receiver.behaviour.headers = {"Location": second_receiver.url + "/elsewhere"}
    outcome = deliver(message(receiver.url))
    assert (outcome.result, outcome.status) == (RETRY, 307)
    assert "redirect (not followed)" in outcome.reason
    assert second_receiver.received == []


def test_a_body_of_megabytes_is_not_read_past_the_limit(receiver):
    receiver.behaviour.body_bytes = 256 * 1024 * 1024
    answer = delivery.exchange("POST", receiver.url, body=b"x", timeout_seconds=5, allow_private=True)
    assert answer.status == 200
    assert len(answer.body) == delivery.RESPONSE_BYTES_READ
    time.sleep(0.2)  # the receiver notices the closed connection
    assert receiver.sent_bytes < 64 * 1024 * 1024


# -- where it may go ---------------------------------------------------------------------------
def test_a_loopback_target_is_refused_unless_private_addresses_are_allowed(receiver):
    for url in (receiver.url, f"http://localhost:{receiver.port}/", f"http://[::1]:{receiver.port}/"):
        outcome = deliver(message(url), allow_private=False)
        assert outcome.result == GIVE_UP, url
        assert "not a public address" in outcome.reason
    assert receiver.received == []
    assert deliver(message(receiver.url), allow_private=True).result == DELIVERED


def test_a_name_resolving_to_a_private_address_is_refused_before_any_connection(monkeypatch):
    connections = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connections.append(a))
    for addresses in (["10.1.2.3"], ["93.184.216.34", "192.168.0.7"], ["169.254.169.254"], ["::ffff:127.0.0.1"]):
        monkeypatch.setattr(delivery, "resolve", lambda host, port, found=addresses: found)
        outcome = deliver(message("https://receiver.example/logout"), allow_private=False)
        assert outcome.result == GIVE_UP, addresses
        assert f"receiver.example is at {addresses[-1]}" in outcome.reason
    assert connections == []


def test_the_connection_goes_to_the_address_checked_and_still_names_the_host(receiver, monkeypatch):
    # A rebinding DNS would answer differently the second time: there is no second time.
    answers = iter([["127.0.0.1"]])
    monkeypatch.setattr(delivery, "resolve", lambda host, port: next(answers))
    outcome = deliver(message(f"http://receiver.example:{receiver.port}/logout"))
    assert outcome.result == DELIVERED
    assert receiver.received[0].headers["Host"] == f"receiver.example:{receiver.port}"


def test_a_name_that_does_not_resolve_is_retried(monkeypatch):
    def fail(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(delivery, "resolve", fail)
    outcome = deliver(message("https://receiver.example/logout"))
    assert outcome.result == RETRY
    assert "cannot resolve receiver.example" in outcome.reason


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://receiver.example/x", "http://user:pw@receiver.example/",
                                 "not a url"])
def test_other_schemes_and_urls_with_credentials_are_refused(url):
    assert deliver(message(url)).result == GIVE_UP


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::",
                                     "fe80::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1"])
def test_non_public_addresses(address):
    assert not delivery.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address):
    assert delivery.is_public(ipaddress.ip_address(address))


# -- TLS to a checked address ------------------------------------------------------------------
def test_https_to_the_checked_address_sends_sni_and_checks_the_certificate_for_the_host(tmp_path, monkeypatch):
    cert_file, key_file = self_signed_certificate(tmp_path, "receiver.example")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    names = []
    server_tls.sni_callback = lambda sock, name, context: names.append(name)
    served = Receiver(tls_context=server_tls)
    try:
        monkeypatch.setattr(delivery, "_TLS", ssl.create_default_context(cafile=str(cert_file)))
        monkeypatch.setattr(delivery, "resolve", lambda host, port: ["127.0.0.1"])
        assert deliver(message(f"https://receiver.example:{served.port}/logout"), timeout_seconds=5).result == DELIVERED
        assert names == ["receiver.example"]
        # The same server under another name: its certificate does not match, so no delivery.
        monkeypatch.setattr(delivery, "resolve", lambda host, port: ["127.0.0.1"])
        outcome = deliver(message(f"https://other.example:{served.port}/logout"), timeout_seconds=5)
        assert outcome.result == RETRY
        assert len(served.received) == 1
    finally:
        served.close()
