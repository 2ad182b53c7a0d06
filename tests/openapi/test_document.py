"""GET /openapi.json describes every route of the app (walked from its URL map), is a valid
OpenAPI 3.1 document, and is linked from the metadata and rendered at /docs."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from authserver.http.paths import DOCS as DOCS_PATH
from authserver.oauth.server import GRANTS
from authserver.openapi.document import documented_rules
from authserver.openapi.document import openapi_path
from authserver.openapi.document import undocumented_methods

JSON_ERROR = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(document):
    for path, item in document["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_every_route_of_the_app_is_in_the_document(app, document):
    missing = []
    for rule, view in documented_rules(app):
        for method in undocumented_methods(rule, view):
            missing.append(f"{method} {rule.rule} ({rule.endpoint})")
        for method in getattr(view, "openapi_operations", {}):
            if method not in document["paths"].get(openapi_path(rule), {}):
                missing.append(f"{method.upper()} {rule.rule} ({rule.endpoint})")
    assert missing == [], "declare these with @operation beside the view (authserver/openapi.py)"


def test_a_route_without_a_declaration_is_caught(app):
    app.add_url_rule("/undeclared", "undeclared", lambda: "", methods=["GET", "POST"])
    rule = next(rule for rule in app.url_map.iter_rules() if rule.endpoint == "undeclared")
    assert undocumented_methods(rule, app.view_functions["undeclared"]) == {"GET", "POST"}
    assert all(rule.endpoint != "web.static" for rule, _ in documented_rules(app))


def test_the_document_is_valid_openapi_3_1(document, app):
    assert document["openapi"].startswith("3.1.")
    validate(document)
    assert document["servers"] == [{"url": app.extensions["authserver"].settings.issuer}]
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))


def test_every_error_answer_has_the_error_shape(app, document):
    """JSON {"error", "error_description"} everywhere but on the web pages, which answer HTML."""
    pages = {openapi_path(rule) for rule, _ in documented_rules(app) if rule.endpoint.startswith("web.")}
    for path, method, op in operations(document):
        web = path in pages
        for status, response in op["responses"].items():
            assert response["description"], (path, method, status)
            if int(status) >= 400:
                expected = "text/html" if web else "application/json"
                assert list(response["content"]) == [expected], (path, method, status)
                if not web:
                    assert response["content"][expected]["schema"] == JSON_ERROR, (path, method, status)
        # Whatever the view, bad input and failures have an answer.
        assert {"400", "413", "500"} <= set(op["responses"]), (path, method)


def test_security_schemes_client_basic_and_bearer_with_scopes(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["clientBasic"] == {**schemes["clientBasic"], "type": "http", "scheme": "basic"}
    assert schemes["oauth2"]["type"] == "oauth2"
    flows = schemes["oauth2"]["flows"]
    assert set(flows) == {"authorizationCode", "clientCredentials", "password"}
    assert all({"admin", "sessions"} <= set(flow["scopes"]) for flow in flows.values())
    assert flows["authorizationCode"]["authorizationUrl"].endswith("/oauth/authorize")
    paths = document["paths"]
    assert paths["/oauth/token"]["post"]["security"] == [{"clientBasic": []}, {}]
    assert paths["/api/me"]["get"]["security"] == [{"oauth2": []}]
    assert paths["/api/sessions"]["get"]["security"] == [{"oauth2": ["sessions"]}]
    assert paths["/api/consents"]["get"]["security"] == [{"oauth2": ["sessions"]}]
    assert paths["/api/admin/users/{username}/sessions"]["get"]["security"] == [{"oauth2": ["admin"]}]
    assert paths["/oauth/jwks"]["get"]["security"] == []


def test_the_token_endpoint_takes_one_form_per_enabled_grant(document):
    body = document["paths"]["/oauth/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    forms = [document["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]] for ref in body["schema"]["oneOf"]]
    assert [form["properties"]["grant_type"]["const"] for form in forms] == [grant.GRANT_TYPE for grant, _ in GRANTS]
    assert all({"client_id", "client_secret"} <= set(form["properties"]) for form in forms)
    responses = document["paths"]["/oauth/token"]["post"]["responses"]
    assert {"200", "400", "401", "409", "413", "429", "500", "503"} <= set(responses)


def test_the_metadata_links_the_rendered_page(client, app, document):
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["service_documentation"] == app.extensions["authserver"].settings.issuer + DOCS_PATH
    page = client.get(DOCS_PATH)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for path, method, op in operations(document):
        assert f'id="{op["operationId"]}"' in html, (method, path)
    assert "<script" not in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
