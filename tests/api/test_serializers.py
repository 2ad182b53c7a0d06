"""The JSON of a device session (``api/serializers.py``), as `/api/sessions` gives it: instants in UTC
to the second, the caller's own session marked, a restricted one flagged, and one whose refresh tokens
are bound to a DPoP key said to be so."""

from __future__ import annotations

import datetime as dt

from authserver.api.serializers import iso_utc
from tests.conftest import password_login
from tests.dpop_helpers import DPoPKey
from tests.token_helpers import bearer


def test_instants_are_iso_utc_to_the_second():
    instant = dt.datetime(2026, 12, 6, 10, 5, 7, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert iso_utc(instant) == "2026-12-06T08:05:07Z"


def test_a_session_bound_to_a_dpop_key_is_said_to_be_key_bound(client, factory, issuer, clock):
    factory.user()
    app_client = factory.client(auth_method="none", first_party=True, scope="profile sessions")
    key = DPoPKey()
    proof = key.proof("POST", issuer + "/oauth/token", now=clock.now().timestamp())
    bound = password_login(client, app_client, headers={"DPoP": proof}).json
    plain = password_login(client, app_client).json
    assert bound["token_type"] == "DPoP" and plain["token_type"] == "Bearer"
    listed = client.get("/api/sessions", headers=bearer(plain["access_token"])).json["sessions"]
    assert sorted((entry["current"], entry["key_bound"]) for entry in listed) == [(False, True), (True, False)]
