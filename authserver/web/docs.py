"""``/docs``: the API description for people, rendered from the same document as ``/openapi.json``.

A plain list of the operations by tag (method, path, summary, who may call it, what it takes, every
answer), with links to the document itself and the RFC 8414 metadata; no script, so no Swagger UI.
"""

from __future__ import annotations

import re

from flask import render_template
from markupsafe import Markup
from markupsafe import escape

from ..http import paths
from ..openapi.document import api_document
from ..openapi.document import operation
from ..openapi.document import page_response
from .blueprint import bp

METHODS = ("get", "post", "put", "patch", "delete")


def operations_by_tag(document: dict) -> list[tuple[dict, list[dict]]]:
    """[(tag, [operation…])…] in the document's tag order; each operation flattened for the page."""
    schemes = document["components"]["securitySchemes"]
    grouped = {tag["name"]: (tag, []) for tag in document.get("tags", [])}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            content = op.get("requestBody", {}).get("content", {})
            entry = {
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "id": op["operationId"],
                "security": describe_security(op.get("security", []), schemes),
                "parameters": [(p["name"], p["in"]) for p in op.get("parameters", [])],
                "body": next(iter(content), None),
                "forms": [form_fields(document, schema) for media in content.values()
                          for schema in alternatives(document, media["schema"])],
                "responses": [(status, response.get("description", ""), schema_name(response))
                              for status, response in op["responses"].items()],
            }
            grouped.setdefault(op["tags"][0], ({"name": op["tags"][0]}, []))[1].append(entry)
    return [group for group in grouped.values() if group[1]]


def resolve(document: dict, schema: dict) -> tuple[str | None, dict]:
    """(name, schema) of a ``$ref`` to ``components/schemas``, or (None, schema)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return name, document["components"]["schemas"][name]
    return None, schema


def alternatives(document: dict, schema: dict) -> list[dict]:
    _, schema = resolve(document, schema)
    return schema.get("oneOf", [schema])


def form_fields(document: dict, schema: dict) -> tuple[str | None, list[tuple[str, bool]]]:
    """(schema name, [(field, required)…]) of one form."""
    name, schema = resolve(document, schema)
    required = set(schema.get("required", ()))
    return name, [(field, field in required) for field in schema.get("properties", {})]


def schema_name(response: dict) -> str | None:
    for media in response.get("content", {}).values():
        reference = media.get("schema", {}).get("$ref")
        if reference and not reference.endswith("/Error"):
            return reference.rsplit("/", 1)[1]
    return None


def describe_security(requirements: list, schemes: dict) -> str:
    if not requirements:
        return "anyone"
    names = []
    for requirement in requirements:
        for name, scopes in requirement.items():
            kind = {"http": f"client: HTTP {schemes[name].get('scheme', '').title()} (client_secret_basic)",
                    "oauth2": "bearer access token", "apiKey": "signed-in browser"}.get(schemes[name]["type"], name)
            names.append(kind + (f" with the `{'`, `'.join(scopes)}` scope" if scopes else ""))
    if {} in requirements:
        optional = "or `client_id` in the form (client_secret_post, public clients)" if names[0].startswith("client") \
            else "or nobody"
        names.append(optional)
    return ", ".join(names)


@bp.app_template_filter("inline_code")
def inline_code(text: str) -> Markup:
    """`text` in backticks as <code>, everything else escaped."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


@bp.get(paths.DOCS)
@operation("get", summary="This API description, for people", tags=["discovery"],
           responses={200: page_response("Every operation of `/openapi.json`, listed by tag.")})
def docs():
    document = api_document()
    return render_template("docs.html", info=document["info"], groups=operations_by_tag(document),
                           document_path=paths.OPENAPI_DOCUMENT, metadata_path=paths.METADATA)
