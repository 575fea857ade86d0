"""The OpenAPI document matches the routes: every Flask rule under /api/v1 (of any blueprint)
is documented with exactly its methods, and every documented path exists."""
from __future__ import annotations

import pytest
from flask import Blueprint, jsonify

from tests.api.live import build_app
from web.api import mount
from web.api.openapi import build, openapi_path
from web.api.spec import PATHS

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
IGNORED = {"HEAD", "OPTIONS"}


def routes(app) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = openapi_path(rule.rule)
        if path is not None:
            found.setdefault(path, set()).update(m for m in rule.methods or () if m not in IGNORED)
    return found


def documented(spec: dict) -> dict[str, set[str]]:  # type: ignore[type-arg]
    return {path: {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
            for path, item in spec["paths"].items()}


def test_every_rule_is_documented_and_every_path_exists(pb) -> None:
    app = build_app(pb)
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    assert routes(app) == documented(spec)


def test_operations_document_auth_problems_and_ids(pb) -> None:
    spec = build(build_app(pb))
    for path, item in spec["paths"].items():
        if path not in PATHS:  # other features' fragments follow their own conventions
            continue
        for method, op in item.items():
            responses = op["responses"]
            assert any(code.startswith("2") for code in responses), (path, method)
            if op.get("security") != []:
                assert {"401", "429", "default"} <= set(responses), (path, method)
    assert spec["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "detail"]


def test_fragments_of_other_blueprints_are_merged_and_checked(pb) -> None:
    extra = Blueprint("extra_api", __name__, url_prefix="/api/v1/extra")

    @extra.get("/things/<int:n>")
    def thing(n: int):  # type: ignore[no-untyped-def]
        return jsonify({"n": n})

    extra.openapi_paths = {"/extra/things/{n}": {"get": {  # type: ignore[attr-defined]
        "responses": {"200": {"description": "a thing", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Thing"}}}}}}}}
    extra.openapi_schemas = {"Thing": {"type": "object"}}  # type: ignore[attr-defined]
    app = build_app(pb)
    mount(app, extra)
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert "/extra/things/{n}" in spec["paths"] and "Thing" in spec["components"]["schemas"]
    assert routes(app) == documented(spec)
    missing = app.test_client().get("/api/v1/extra/nothing")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_undocumented_rule_is_caught(pb) -> None:
    app = build_app(pb)
    app.add_url_rule("/api/v1/secret", "secret", lambda: "")
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert routes(app) != documented(spec)
