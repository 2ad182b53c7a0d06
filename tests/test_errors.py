"""errors.py: the one mapping from what the rules refuse (domain errors) to what a caller is told,
the one handler that renders every error, JSON for programs and an HTML page for the web pages, and
never a stack trace or an exception's detail to the caller."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from sqlalchemy.exc import DataError
from sqlalchemy.exc import OperationalError

from authserver import errors
from authserver.errors import DomainError
from authserver.store.database import failure_of

# Each domain error, and what the caller is told: (status, error code, error_description or None).
ANSWERS = [
    (errors.Throttled("failed sign-ins", 42), 429, "temporarily_unavailable", "Too many failed sign-ins; retry later."),
    (errors.RefreshTokenInvalid("ended"), 400, "invalid_grant", "The refresh token is invalid, expired or revoked."),
    (errors.RefreshTokenUnknown("x"), 400, "invalid_grant", "The refresh token is invalid, expired or revoked."),
    (errors.RefreshTokenReused("x"), 400, "invalid_grant", "The refresh token is invalid, expired or revoked."),
    (errors.ScopeNotGranted(), 400, "invalid_scope", "The requested scope exceeds the scope originally granted."),
    (errors.CodeInvalid("reused"), 400, "invalid_grant", "The authorization code is invalid, expired or already used."),
    (errors.PollRefused("authorization_pending"), 400, "authorization_pending", None),
    (errors.PollRefused("slow_down"), 400, "slow_down", None),
    (errors.PollRefused("access_denied"), 400, "access_denied", None),
    (errors.PollRefused("expired_token"), 400, "expired_token", None),
    (errors.PollRefused("invalid_grant"), 400, "invalid_grant", None),
    (errors.UserNotFound("alice"), 404, "not_found", "No such user."),
    (errors.AccountError('a "quoted"\\ message'), 400, "invalid_request", "a quoted message"),
    (errors.DatabaseBusy(), 409, "temporarily_unavailable", "The request conflicted with another; retry."),
    (errors.DatabaseUnavailable(), 503, "temporarily_unavailable",
     "The server cannot complete the request now; retry."),
    (errors.ValueNotStorable("StringDataRightTruncation"), 400, "invalid_request",
     "A value in the request cannot be stored."),
    (errors.DPoPProofInvalid("The DPoP proof's htm is not this request's method."), 400, "invalid_dpop_proof",
     "The DPoP proof's htm is not this request's method."),
    (errors.DPoPProofReplayed("The DPoP proof was used before."), 400, "invalid_dpop_proof",
     "The DPoP proof was used before."),
    (errors.DPoPNonceRequired("n0nce"), 400, "use_dpop_nonce", "Send the proof again with the server's nonce."),
]


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


@pytest.mark.parametrize(("error", "status", "code", "description"), ANSWERS, ids=lambda value: type(value).__name__)
def test_each_domain_error_has_one_answer(error, status, code, description):
    answer = errors.oauth_error(error)
    assert (answer.status_code, answer.error) == (status, code)
    if description is not None:
        assert answer.get_error_description() == description


def test_rfc9449_8_use_dpop_nonce_hands_out_the_nonce_and_a_replay_keeps_no_writes():
    assert ("DPoP-Nonce", "n0nce") in errors.oauth_error(errors.DPoPNonceRequired("n0nce")).get_headers()
    assert errors.DPoPProofReplayed("x").keeps_writes is False and errors.DPoPProofInvalid("x").keeps_writes is True


def test_every_domain_error_is_answered():
    """A new domain error needs its line in oauth_error: until it has one, it cannot be raised unnoticed."""
    answered = {type(error) for error, *_ in ANSWERS}
    assert set(all_subclasses(DomainError)) <= answered


def test_a_throttled_answer_says_when_to_retry():
    _, _, headers = errors.oauth_error(errors.Throttled("failed requests", 271))()
    assert ("Retry-After", "271") in headers


def test_an_unknown_domain_error_is_a_bug_not_an_answer():
    class Unheard(DomainError):
        pass

    with pytest.raises(TypeError, match="Unheard"):
        errors.oauth_error(Unheard())


@pytest.fixture
def failing_routes(app):
    """Routes outside the web blueprint that fail in the ways a view can."""

    def unexpected():
        raise RuntimeError("secret detail: /srv/authserver/db password=hunter2")

    def refused():
        raise errors.Throttled("failed requests", 30)

    def locked():
        raise OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))

    def unstorable():
        raise DataError("INSERT x", {}, ValueError("value too long for type character varying(64)"))

    for rule, view in (("/test/unexpected", unexpected), ("/test/refused", refused), ("/test/locked", locked),
                       ("/test/unstorable", unstorable)):
        app.add_url_rule(rule, rule.rsplit("/", 1)[1], view)
    return app


def test_an_unexpected_failure_is_a_json_500_without_its_detail_which_is_logged(failing_routes, client, caplog):
    caplog.set_level(logging.ERROR, logger="authserver.errors")
    response = client.get("/test/unexpected")
    assert response.status_code == 500
    assert response.json == {"error": "server_error", "error_description": "The server encountered an unexpected "
                                                                           "condition."}
    body = response.get_data(as_text=True)
    assert "secret detail" not in body and "hunter2" not in body and "Traceback" not in body
    assert response.headers["Cache-Control"] == "no-store"
    logged = [record for record in caplog.records if record.name == "authserver.errors"]
    assert logged and "secret detail" in str(logged[0].exc_info[1])


def test_a_domain_error_raised_by_a_view_is_rendered_by_the_one_handler(failing_routes, client):
    response = client.get("/test/refused")
    assert response.status_code == 429
    assert response.json == {"error": "temporarily_unavailable", "error_description": "Too many failed requests; "
                                                                                      "retry later."}
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"


def test_database_failures_are_classified_by_the_unit_of_work(failing_routes, client, caplog):
    caplog.set_level(logging.WARNING, logger="authserver.errors")
    locked = client.get("/test/locked")
    assert (locked.status_code, locked.json["error"], locked.headers["Retry-After"]) == (
        409, "temporarily_unavailable", "1")
    unstorable = client.get("/test/unstorable")
    assert (unstorable.status_code, unstorable.json["error"]) == (400, "invalid_request")
    assert "value too long" not in unstorable.get_data(as_text=True)
    messages = [record.getMessage() for record in caplog.records if record.name == "authserver.errors"]
    assert "lock contention on /test/locked" in messages
    assert "value refused by the database on /test/unstorable: ValueError" in messages


def test_lock_contention_is_retryable_and_anything_else_is_unavailable():
    assert isinstance(failure_of(OperationalError("x", {}, sqlite3.OperationalError("database is locked"))),
                      errors.DatabaseBusy)
    assert isinstance(failure_of(OperationalError("x", {}, sqlite3.OperationalError("disk I/O error"))),
                      errors.DatabaseUnavailable)


def test_programs_get_json_and_browsers_an_html_page(app):
    throttled = errors.oauth_error(errors.Throttled("failed sign-ins", 120))
    with app.test_request_context("/oauth/token", method="POST"):
        response = errors.render(throttled)
        assert response.mimetype == "application/json"
        assert response.json["error"] == "temporarily_unavailable"
    with app.test_request_context("/signin", method="POST"):
        page = errors.render(throttled)
        assert page.status_code == 429 and page.mimetype == "text/html"
        assert page.headers["Retry-After"] == "120"  # kept for the browser; the JSON-only headers are not
        assert "Pragma" not in page.headers
        html = page.get_data(as_text=True)
        assert "Something went wrong" in html and "temporarily_unavailable" not in html


def test_a_page_names_the_methods_a_405_allows(app):
    with app.test_request_context("/signin", method="PUT"):
        page = errors.render(errors.MethodNotAllowedError("Use GET or POST.", ("GET", "POST")))
    assert page.status_code == 405 and page.headers["Allow"] == "GET, POST"


def test_an_unknown_user_on_a_page_is_the_not_found_page(app):
    with app.test_request_context("/console/users/nobody/disable", method="POST"):
        page = errors.answer(errors.UserNotFound("nobody"))
    assert page.status_code == 404 and "Not found" in page.get_data(as_text=True)
