"""What goes between processes: ChargerControl arguments and answers, errors and live events
as JSON (NOTIFY carries text). Only the port's own dataclasses and enums, the errors of
`appliance.errors` and the events of `appliance.events` are rebuilt; nothing else is trusted."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import datetime
from typing import Any

from appliance import errors, events
from appliance.charging import control


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$dc": type(value).__name__,
                "f": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, enum.Enum):
        return {"$en": type(value).__name__, "v": value.value}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"$d": {str(k): encode(v) for k, v in value.items()}}
    return value


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$d" in value:
        return {k: decode(v) for k, v in value["$d"].items()}
    if "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if "$en" in value:
        kind = getattr(control, value["$en"], None)
        if not (isinstance(kind, type) and issubclass(kind, enum.Enum)):
            raise ValueError(f"unknown enum {value['$en']!r}")
        return kind(value["v"])
    if "$dc" in value:
        kind = getattr(control, value["$dc"], None)
        if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
            raise ValueError(f"unknown type {value['$dc']!r}")
        return kind(**{k: decode(v) for k, v in value["f"].items()})
    raise ValueError("a plain object without a tag")


def encode_error(err: BaseException) -> dict[str, Any]:
    if isinstance(err, errors.ApplianceError):
        return {"type": type(err).__name__, "message": str(err.message),
                "details": err.details}
    return {"type": "ChargerCallError", "message": f"{type(err).__name__}: {err}",
            "details": {}}


def decode_error(body: dict[str, Any]) -> errors.ApplianceError:
    kind = getattr(errors, str(body.get("type")), None)
    if not (isinstance(kind, type) and issubclass(kind, errors.ApplianceError)):
        kind = errors.ChargerCallError
    details = body.get("details")
    return kind(str(body.get("message", "")),
                details=details if isinstance(details, dict) else None)


def encode_event(event: events.Event) -> dict[str, Any]:
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    fields["at"] = event.at.isoformat()
    return {"t": type(event).__name__, "f": fields}


def decode_event(body: dict[str, Any]) -> events.Event:
    kind = getattr(events, str(body.get("t")), None)
    if not (isinstance(kind, type) and issubclass(kind, events.Event)):
        raise ValueError(f"unknown event {body.get('t')!r}")
    fields = dict(body["f"])
    fields["at"] = datetime.fromisoformat(fields["at"])
    return kind(**fields)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
