"""Payload validators compiled once from the `ocpp` library's own JSON schema files, and the
mapping of a schema failure to the OCPP-J 1.6 CALLERROR code that DESIGN.md prescribes.

Formats are off (the library's validator does not check them either): a charger's odd timestamp
is a business matter handled and flagged by the charging room, not a reason to drop a report."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from ocpp.exceptions import (
    FormationViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)

Validator = Callable[[Any], Any]

_TYPE_RULES = {"type", "maxLength"}
_PROPERTY_RULES = {"enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                   "minItems", "maxItems", "multipleOf", "minLength", "pattern"}


def _schema_dir(version: str) -> Any:
    package = {"1.6": "ocpp.v16", "2.0.1": "ocpp.v201"}[version]
    return resources.files(package).joinpath("schemas")


@cache
def actions(version: str) -> frozenset[str]:
    """Every action the library has a request schema for."""
    names = {p.name[:-5] for p in _schema_dir(version).iterdir() if p.name.endswith(".json")}
    if version == "1.6":
        return frozenset(n for n in names if not n.endswith("Response"))
    return frozenset(n[: -len("Request")] for n in names if n.endswith("Request"))


@cache
def validator(version: str, action: str, response: bool = False) -> Validator:
    """The compiled validator of one message's payload (built once per process)."""
    if version == "1.6":
        name = f"{action}Response.json" if response else f"{action}.json"
    else:
        name = f"{action}{'Response' if response else 'Request'}.json"
    schema = json.loads(_schema_dir(version).joinpath(name).read_text(encoding="utf-8"))
    # The library validates every file with Draft4Validator whatever its `$schema` says
    # (draft-06 in 1.6's files), and draft 4 differs: 1.0 is not an integer. Same here.
    schema["$schema"] = "http://json-schema.org/draft-04/schema#"
    return fastjsonschema.compile(schema, use_formats=False)


def to_ocpp_error(err: fastjsonschema.JsonSchemaValueException) -> OCPPError:
    """Translate a schema failure into the CALLERROR that OCPP-J 1.6 wants for it."""
    details = {"cause": err.message}
    if err.rule == "required":
        return ProtocolError(details=details)
    if err.rule in _TYPE_RULES:
        return TypeConstraintViolationError(details=details)
    if err.rule in _PROPERTY_RULES:
        return PropertyConstraintViolationError(details=details)
    return FormationViolationError(details=details)


def validate(version: str, action: str, payload: Any, response: bool = False) -> None:
    """Raise the OCPP error for a payload that fails its schema."""
    try:
        validator(version, action, response)(payload)
    except fastjsonschema.JsonSchemaValueException as err:
        raise to_ocpp_error(err) from err
