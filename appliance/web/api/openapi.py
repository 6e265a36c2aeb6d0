"""The OpenAPI 3.1 document of the whole JSON API, built from the declared routes."""

from __future__ import annotations

import re
from typing import Any

from appliance import __version__
from appliance.web.api.base import Route
from appliance.web.base import PREFIX

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": "object"}}, "required": ["code", "message", "details"]}},
}


RAW_COMMAND = "/stations/{id}/ocpp/{action}"


def _raw_actions(op: dict[str, Any], actions: dict[str, list[str]]) -> None:
    """The raw command endpoint's `action`: each OCPP version's actions the box may send."""
    for param in op["parameters"]:
        if param["name"] == "action" and param["in"] == "path":
            param["schema"] = {"type": "string",
                               "enum": sorted({a for names in actions.values() for a in names})}
            param["x-ocpp-actions"] = actions
            param["description"] = "; ".join(
                f"OCPP {version}: {', '.join(names)}" for version, names in actions.items())


def document(routes: list[Route], ocpp_actions: dict[str, list[str]] | None = None
             ) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        path_params = re.findall(r"{(\w+)}", route.path)
        op: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag] if route.tag else [],
            "security": [{"bearer": []}],
            "x-role": route.role,
            "parameters": [{"name": n, "in": "path", "required": True,
                            "schema": {"type": "string"}} for n in path_params] + route.params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "default": {"description": "Error",
                            "content": {"application/json": {"schema": {"$ref":
                                                                        "#/components/schemas/Error"}}}},
            },
        }
        if route.body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": route.body}}}
            op["parameters"].append({"name": "Idempotency-Key", "in": "header",
                                     "required": False, "schema": {"type": "string"}})
        if route.path == RAW_COMMAND and ocpp_actions:
            _raw_actions(op, ocpp_actions)
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Appliance JSON API", "version": __version__,
                 "description": "Money is {amount: minor units, currency}; times RFC 3339 UTC; "
                                "lists take limit and cursor."},
        "paths": paths,
        "components": {"schemas": {"Error": ERROR},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
