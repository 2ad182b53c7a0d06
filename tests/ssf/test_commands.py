"""`authserver streams`: the operator's streams (create, list, status, verify, delete); a refused stream
is one line on standard error, exit status 1, and nothing stored."""

from __future__ import annotations

import json

import pytest

from tests.ssf.helpers import AUTHORIZATION
from tests.ssf.helpers import create_stream
from tests.ssf.helpers import stream_command


def streams_listed(app) -> list[dict]:
    return json.loads(stream_command(app, "list", "--json").output)["streams"]


def test_create_prints_the_stream_with_its_audience_and_list_shows_it_without_the_secret(app, receiver):
    stream = create_stream(app, receiver.url + "/events")
    assert stream["stream_id"].startswith("stream_")
    assert stream["aud"] == receiver.url  # the endpoint's origin by default
    assert stream["status"] == "enabled"
    assert streams_listed(app) == [stream]
    assert AUTHORIZATION not in stream_command(app, "list").output + json.dumps(stream)


def test_create_takes_an_audience_and_event_types(app, receiver):
    stream = create_stream(app, receiver.url + "/events", "--audience", "https://notes.example",
                           "--event", "https://schemas.openid.net/secevent/risc/event-type/account-disabled")
    assert stream["aud"] == "https://notes.example"
    assert stream["events_delivered"] == ["https://schemas.openid.net/secevent/risc/event-type/account-disabled"]


def test_status_verify_and_delete(app, receiver):
    stream_id = create_stream(app, receiver.url + "/events")["stream_id"]
    stream_command(app, "status", stream_id, "paused", "--reason", "maintenance")
    assert streams_listed(app)[0]["status"] == "paused"
    assert "queued" in stream_command(app, "verify", stream_id, "--state", "abc").output
    stream_command(app, "delete", stream_id)
    assert streams_listed(app) == []
    result = app.test_cli_runner().invoke(args=["streams", "delete", stream_id])
    assert result.exit_code == 1 and "no stream" in result.output


@pytest.mark.parametrize("settings_overrides", [{}])
def test_a_private_endpoint_is_refused_without_the_setting_and_nothing_is_stored(app):
    result = app.test_cli_runner().invoke(args=["streams", "create", "--endpoint", "http://127.0.0.1:9/events"])
    assert result.exit_code == 1
    assert "AUTHSERVER_OUTBOUND_ALLOW_PRIVATE" in result.output
    assert streams_listed(app) == []


def test_an_unknown_event_type_is_a_usage_error(app, receiver):
    result = app.test_cli_runner().invoke(args=["streams", "create", "--endpoint", receiver.url, "--event", "nope"])
    assert result.exit_code == 2
    assert streams_listed(app) == []
