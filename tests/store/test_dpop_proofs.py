"""The DPoP replay table (``authserver/store/dpop_proofs.py``, RFC 9449 §11.1): a proof is accepted once
across every node sharing the database (two real ``authserver serve`` processes on one PostgreSQL), and
``sessions prune`` deletes what is too old to be accepted again."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from authserver.store import dpop_proofs
from authserver.store import retention
from authserver.store.database import db
from authserver.store.models import UsedDPoPProof
from tests.conftest import in_unit_of_work
from tests.dpop_helpers import DPoPKey
from tests.served import Served

ISSUER = "http://auth.test"  # both nodes' public URL, as behind one load balancer


def test_a_proof_is_remembered_once_and_pruned_when_too_old_to_pass(app, clock):
    later = clock.now() + dt.timedelta(seconds=65)
    assert in_unit_of_work(app, lambda services: dpop_proofs.remember_proof("jkt", "jti-1", later)) is True
    assert in_unit_of_work(app, lambda services: dpop_proofs.remember_proof("jkt", "jti-1", later)) is False
    # The same jti from another key is another proof (jti is unique per key, §4.2).
    assert in_unit_of_work(app, lambda services: dpop_proofs.remember_proof("other", "jti-1", later)) is True
    clock.advance(64)
    assert in_unit_of_work(app, retention.prune)["deleted_dpop_proofs"] == 0
    clock.advance(1)
    assert in_unit_of_work(app, retention.prune)["deleted_dpop_proofs"] == 2
    with app.app_context():
        assert db.session.query(UsedDPoPProof).count() == 0


def test_rfc9449_11_1_a_proof_used_on_one_node_is_refused_by_another_sharing_postgresql(tmp_path, postgres_url):
    keys = tmp_path / "keys"  # shared, as the nodes of one deployment share their keys
    nodes = [Served(tmp_path / name, issuer=ISSUER, database_url=postgres_url, keys_dir=keys, outbound_worker="false")
             for name in ("a", "b")]
    for node in nodes:
        node.folder.mkdir()
    first, second = nodes
    first.cli("db", "upgrade")  # once, before both start (each start upgrades again: a no-op)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda node: node.start(), nodes))
        username = "user-" + secrets.token_hex(4)
        first.create_user(username, "s3cret-passw0rd-dpop")
        app = first.create_client("--name", "phone", "--grant-type", "password", "--grant-type", "refresh_token",
                                  "--auth-method", "none", "--first-party", "--scope", "profile")
        key = DPoPKey()
        form = {"grant_type": "password", "username": username, "password": "s3cret-passw0rd-dpop",
                "client_id": app["client_id"]}
        proof = key.proof("POST", ISSUER + "/oauth/token")
        signed_in = requests.post(first.url + "/oauth/token", data=form, headers={"DPoP": proof}, timeout=30)
        assert signed_in.status_code == 200, signed_in.text
        replayed = requests.post(second.url + "/oauth/token", data=form, headers={"DPoP": proof}, timeout=30)
        assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_dpop_proof")

        # At the APIs too: a proof used at one node's /api/me is refused at the other's.
        token = signed_in.json()["access_token"]
        at_me = {"Authorization": f"DPoP {token}",
                 "DPoP": key.proof("GET", ISSUER + "/api/me", access_token=token, now=time.time())}
        assert requests.get(first.url + "/api/me", headers=at_me, timeout=30).status_code == 200
        refused = requests.get(second.url + "/api/me", headers=at_me, timeout=30)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_dpop_proof")
        # The other node works, with a fresh proof.
        fresh = {**at_me, "DPoP": key.proof("GET", ISSUER + "/api/me", access_token=token)}
        assert requests.get(second.url + "/api/me", headers=fresh, timeout=30).status_code == 200
    finally:
        for node in nodes:
            node.stop()
