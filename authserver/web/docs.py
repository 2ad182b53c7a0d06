"""``/docs``: the API description for people, rendered from the same document as ``/openapi.json``.

A plain list of the operations by tag (method, path, summary, who may call it, what it takes, every
answer), with links to the document itself and the RFC 8414 metadata; no script, so no Swagger UI.
"""

from __future__ import annotations

from flask import render_template

from ..oauth import paths
from ..openapi import DOCS_PATH
from ..openapi import DOCUMENT_PATH
from ..openapi import api_document
from ..openapi import operation
from ..openapi import page_response
from . import bp

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
            entry = {
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "id": op["operationId"],
                "security": describe_security(op.get("security", []), schemes),
                "parameters": [(p["name"], p["in"]) for p in op.get("parameters", [])],
                "body": next(iter(op.get("requestBody", {}).get("content", {})), None),
                "responses": [(status, response.get("description", ""))
                              for status, response in op["responses"].items()],
            }
            grouped.setdefault(op["tags"][0], ({"name": op["tags"][0]}, []))[1].append(entry)
    return [group for group in grouped.values() if group[1]]


def describe_security(requirements: list, schemes: dict) -> str:
    if not requirements:
        return "anyone"
    names = []
    for requirement in requirements:
        if not requirement:
            names.append("or none")
            continue
        for name, scopes in requirement.items():
            kind = {"http": f"HTTP {schemes[name].get('scheme', '')}", "oauth2": "bearer token",
                    "apiKey": "browser session"}.get(schemes[name]["type"], name)
            names.append(kind + (f" with scope {', '.join(scopes)}" if scopes else ""))
    return ", ".join(names)


@bp.get(DOCS_PATH)
@operation("get", summary="This API description, for people", tags=["meta"],
           responses={200: page_response("Every operation of `/openapi.json`, listed by tag.")})
def docs():
    document = api_document()
    return render_template("docs.html", info=document["info"], groups=operations_by_tag(document),
                           document_path=DOCUMENT_PATH, metadata_path=paths.METADATA)
