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


def _schema(version: str, name: str) -> dict[str, Any]:
    return dict(json.loads(_schema_dir(version).joinpath(name).read_text(encoding="utf-8")))


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
    schema = _schema(version, name)
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


def _meter_values_16() -> Callable[[Any], bool]:
    """A quick yes for OCPP 1.6 MeterValues payloads that meet their schema: True only when
    every rule of the schema holds (keys, types, enums, lengths, required fields); anything
    else, odd or wrong, goes through the compiled validator, which says what is wrong. The
    most frequent message of a site, and the compiled validator's way (a set of keys per
    object, a chain of comparisons per enum) took some 5 us of the event loop's time each.
    The enums are read from the same schema file."""
    schema = _schema("1.6", "MeterValues.json")
    item = schema["properties"]["meterValue"]["items"]
    sampled = item["properties"]["sampledValue"]["items"]["properties"]
    top_keys = frozenset(schema["properties"])
    item_keys = frozenset(item["required"])
    sampled_keys = frozenset(sampled)
    enums = {key: frozenset(rule["enum"]) for key, rule in sampled.items() if "enum" in rule}
    assert top_keys == {"connectorId", "transactionId", "meterValue"} \
        and item_keys == frozenset(item["properties"]) == {"timestamp", "sampledValue"} \
        and set(enums) | {"value"} == sampled_keys, "the MeterValues schema changed"

    def valid(p: Any) -> bool:
        if type(p) is not dict or not p.keys() <= top_keys \
                or type(p.get("connectorId")) is not int \
                or ("transactionId" in p and type(p["transactionId"]) is not int):
            return False  # (type(...) is int: never a bool, as the schema wants)
        moments = p.get("meterValue")
        if type(moments) is not list or not moments:
            return False
        for moment in moments:
            if type(moment) is not dict or moment.keys() != item_keys \
                    or type(moment["timestamp"]) is not str:
                return False
            values = moment["sampledValue"]
            if type(values) is not list or not values:
                return False
            for value in values:
                if type(value) is not dict or type(value.get("value")) is not str \
                        or not value.keys() <= sampled_keys:
                    return False
                for key, v in value.items():
                    allowed = enums.get(key)  # (None for "value", checked above)
                    if allowed is not None and (type(v) is not str or v not in allowed):
                        return False
        return True

    return valid


# Quick yeses for the busiest requests (see `_meter_values_16`), by version and action.
_QUICK: dict[tuple[str, str], Callable[[Any], bool]] = {("1.6", "MeterValues"): _meter_values_16()}


def validate(version: str, action: str, payload: Any, response: bool = False) -> None:
    """Raise the OCPP error for a payload that fails its schema."""
    if not response:
        quick = _QUICK.get((version, action))
        if quick is not None and quick(payload):
            return
    try:
        validator(version, action, response)(payload)
    except fastjsonschema.JsonSchemaValueException as err:
        raise to_ocpp_error(err) from err
