"""The signing key ring: generated once with 0600 permissions, parsed once, rotated safely."""

import os
import stat

import jwt
import pytest

from authserver.settings import SettingsError
from authserver.tokens.keys import KeyRing
from authserver.tokens.keys import load_or_create_secret


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def signing_kid(ring):
    return next(iter(ring.signing_key_set().keys)).kid


def test_first_key_is_generated_private_and_only_once(tmp_path):
    ring = KeyRing(str(tmp_path / "keys"), access_token_ttl_seconds=900)
    ring.ensure_key()
    ring.ensure_key()
    files = os.listdir(tmp_path / "keys")
    assert len(files) == 1 and files[0].startswith("signing-")
    mode = stat.S_IMODE(os.stat(tmp_path / "keys" / files[0]).st_mode)
    assert mode == 0o600
    assert [k["kid"] for k in ring.jwks()["keys"]] == [signing_kid(ring)]
    public = ring.jwks()["keys"][0]
    assert "d" not in public and public["alg"] == "RS256" and public["use"] == "sig"


def test_secret_files_are_created_0600_and_reused(tmp_path):
    first = load_or_create_secret(str(tmp_path), "refresh-hmac.key")
    assert load_or_create_secret(str(tmp_path), "refresh-hmac.key") == first
    assert stat.S_IMODE(os.stat(tmp_path / "refresh-hmac.key").st_mode) == 0o600


def test_keys_are_parsed_once_not_per_token(tmp_path, monkeypatch):
    from joserfc.jwk import RSAKey

    ring = KeyRing(str(tmp_path), access_token_ttl_seconds=900)
    ring.ensure_key()
    calls = []
    original = RSAKey.import_key.__func__
    monkeypatch.setattr(RSAKey, "import_key", classmethod(lambda cls, *a, **k: calls.append(1) or original(cls, *a, **k)))
    for _ in range(50):
        ring.signing_key_set()
        ring.verification_key_set()
    assert calls == []


def test_rotation_publishes_first_and_retires_after_the_last_token_expired(tmp_path):
    clock = Clock()
    ring = KeyRing(str(tmp_path), access_token_ttl_seconds=900, lead_seconds=300, now=clock)
    ring.ensure_key()
    old = signing_kid(ring)
    clock.now += 10
    new = ring.rotate().kid
    published = lambda: {k["kid"] for k in ring.jwks()["keys"]}  # noqa: E731
    # Published at once, signing only after the lead time (cached JWKS catch up first).
    assert published() == {old, new} and signing_kid(ring) == old
    clock.now += 301
    ring._refresh(force=True)
    assert signing_kid(ring) == new and published() == {old, new}
    clock.now += 898  # tokens signed by the old key may still be alive
    ring._refresh(force=True)
    assert published() == {old, new}
    clock.now += 1
    ring._refresh(force=True)
    assert published() == {new}


@pytest.mark.parametrize("content,problem", [
    (b"garbage", "is not an RSA private key in PEM"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "is not an RSA private key in PEM"),
    ("public", "holds a public key"),
])
def test_a_bad_key_file_stops_start_up_naming_it(tmp_path, content, problem):
    if content == "public":
        from joserfc.jwk import RSAKey

        content = RSAKey.generate_key(2048).as_pem(private=False)
    (tmp_path / "signing-1.pem").write_bytes(content)
    with pytest.raises(SettingsError) as error:
        KeyRing(str(tmp_path), access_token_ttl_seconds=900).ensure_key()
    message = str(error.value)
    assert message.startswith("AUTHSERVER_KEYS_DIR: ") and "signing-1.pem" in message and problem in message
    assert "\n" not in message


def test_a_bad_key_file_appearing_later_does_not_stop_a_running_server(tmp_path, caplog):
    clock = Clock()
    ring = KeyRing(str(tmp_path), access_token_ttl_seconds=900, now=clock)
    ring.ensure_key()
    kid = signing_kid(ring)
    bad = tmp_path / "signing-99999999999999.pem"
    bad.write_bytes(b"garbage")
    ring._checked_at = 0.0  # the next call looks at the folder again
    assert signing_kid(ring) == kid  # still signing with the key it had
    assert [k["kid"] for k in ring.jwks()["keys"]] == [kid]
    assert "signing keys not reloaded" in caplog.text and "signing-99999999999999.pem" in caplog.text
    bad.unlink()
    clock.now += 10
    new = ring.rotate().kid  # once the folder is sound again, changes are picked up
    assert {k["kid"] for k in ring.jwks()["keys"]} == {kid, new}


@pytest.fixture
def settings_overrides(tmp_path):
    return {"keys_dir": str(tmp_path / "own-keys")}


def test_keys_rotate_command_switches_the_signer_of_a_running_app(app, factory, client, runner):
    from tests.conftest import password_login

    factory.user()
    registered = factory.client()
    before = jwt.get_unverified_header(password_login(client, registered).json["access_token"])["kid"]
    result = runner.invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    import json

    new_kid = json.loads(result.output)["kid"]
    after = jwt.get_unverified_header(password_login(client, registered).json["access_token"])["kid"]
    assert after == new_kid != before
    kids = {k["kid"] for k in client.get("/oauth/jwks").json["keys"]}
    assert {before, new_kid} <= kids


def test_jwks_has_a_strong_etag_and_answers_304_while_the_keys_are_the_same(app, client, runner):
    from authserver import create_app

    first = client.get("/oauth/jwks")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")  # strong
    assert first.headers["Cache-Control"] == "public, max-age=300"
    again = client.get("/oauth/jwks", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "public, max-age=300"
    # Another node with the same keys gives the same tag, so a load balancer may send the revalidation anywhere.
    other_node = create_app(app.extensions["authserver"].settings)
    assert other_node.test_client().get("/oauth/jwks", headers={"If-None-Match": etag}).status_code == 304
    assert runner.invoke(args=["keys", "rotate"]).exit_code == 0
    rotated = client.get("/oauth/jwks", headers={"If-None-Match": etag})
    assert rotated.status_code == 200
    assert rotated.headers["ETag"] != etag
    assert len(rotated.json["keys"]) == 2


def test_a_retired_key_stays_published_while_a_logout_token_it_signed_may_still_be_retried(app, client, runner,
                                                                                             clock):
    """Logout tokens are signed when queued and retried for up to OUTBOUND_MAX_AGE_SECONDS: the key that
    signed one must stay in the JWKS that long, not only for the access-token lifetime."""
    settings = app.extensions["authserver"].settings
    old = {k["kid"] for k in client.get("/oauth/jwks").json["keys"]}
    assert runner.invoke(args=["keys", "rotate"]).exit_code == 0
    clock.advance(settings.access_token_ttl_seconds + 60)
    app.extensions["authserver"].keyring._checked_at = 0.0  # look at the folder again now
    assert old <= {k["kid"] for k in client.get("/oauth/jwks").json["keys"]}
    clock.advance(settings.outbound_max_age_seconds)
    app.extensions["authserver"].keyring._checked_at = 0.0
    assert not old & {k["kid"] for k in client.get("/oauth/jwks").json["keys"]}
