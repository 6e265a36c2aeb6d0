"""The OCPP 2.0.1 device model as data: NotifyReport's entries as the stations room stores
them and what the box reads of them (the running cost shown, the model as configuration items),
the charger's limits per message and a request split to them, and the report requests
(GetBaseReport, GetReport with its criteria and components)."""

from __future__ import annotations

import json
from typing import Any

from appliance.charging.control import Configuration, ConfigurationItem
from appliance.errors import InvalidInput
from appliance.ocpp.commands201 import KEYS, Call, component_variable


# --- what a charger takes in one message ----------------------------------------------------------
def _per_message(model: dict[str, dict[str, Any]], name: str, action: str) -> int | None:
    value = (model.get(f"DeviceDataCtrlr/{name}.{action}")
             or model.get(f"DeviceDataCtrlr/{name}") or {}).get("Actual")
    try:
        return max(1, int(str(value))) if value is not None else None
    except ValueError:
        return None


def items_per_message(model: dict[str, dict[str, Any]], action: str) -> int | None:
    """The most items the charger takes in one `action` (DeviceDataCtrlr.ItemsPerMessage),
    when its device model says."""
    return _per_message(model, "ItemsPerMessage", action)


def bytes_per_message(model: dict[str, dict[str, Any]], action: str) -> int | None:
    """The longest `action` message the charger takes (DeviceDataCtrlr.BytesPerMessage)."""
    return _per_message(model, "BytesPerMessage", action)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def split(action: str, field: str, items: list[Any], model: dict[str, dict[str, Any]]
          ) -> list[list[int]]:
    """The items of one `action` (its list `field`) as the messages the charger takes: at most
    its ItemsPerMessage items and BytesPerMessage bytes each (the whole frame counted, a
    unique id of 36 characters). Each message as the indexes of its items, in order; an item
    too long for any message goes alone (the charger answers it as it will)."""
    most_items = items_per_message(model, action)
    most_bytes = bytes_per_message(model, action)
    overhead = _size([2, "x" * 36, action, {field: []}])
    out: list[list[int]] = []
    current: list[int] = []
    size = overhead
    for i, item in enumerate(items):
        n = _size(item) + (1 if current else 0)
        if current and ((most_items is not None and len(current) >= most_items)
                        or (most_bytes is not None and size + n > most_bytes)):
            out.append(current)
            current, size, n = [], overhead, n - 1
        current.append(i)
        size += n
    if current or not out:
        out.append(current)
    return out


# --- report requests ------------------------------------------------------------------------------
REPORT_CRITERIA = ("Active", "Available", "Enabled", "Problem")


def report_request(request_id: int, criteria: list[str], variables: list[dict[str, Any]]
                   ) -> Call:
    """GetReport: the components (and variables) named, of the criteria given."""
    payload: dict[str, Any] = {"requestId": request_id}
    if criteria:
        payload["componentCriteria"] = criteria
    if variables:
        payload["componentVariable"] = variables
    return "GetReport", payload


def report_filter(key: str) -> dict[str, Any]:
    """`Component` or `Component/Variable` (1.6 names too) as GetReport's componentVariable."""
    component, variable = component_variable(key) if "/" in key or key in KEYS \
        else (key, "")
    if not component:
        raise InvalidInput(f"{key!r} names no component", details={"field": "variables"})
    out: dict[str, Any] = {"component": {"name": component}}
    if variable:
        out["variable"] = {"name": variable}
    return out


def check_criteria(criteria: list[str]) -> None:
    wrong = [c for c in criteria if c not in REPORT_CRITERIA]
    if wrong:
        raise InvalidInput(f"report criteria are {', '.join(REPORT_CRITERIA)}",
                           details={"field": "criteria", "wrong": wrong})


def get_base_report(request_id: int) -> Call:
    return "GetBaseReport", {"requestId": request_id, "reportBase": "FullInventory"}


# --- the device model as reported -----------------------------------------------------------------
def _name(part: dict[str, Any]) -> str:
    name = str(part.get("name", ""))
    return f"{name}.{part['instance']}" if part.get("instance") else name


def variable_key(component: dict[str, Any], variable: dict[str, Any]) -> str:
    """`Component[.instance][@evse[.connector]]/Variable[.instance]`."""
    where = ""
    evse = component.get("evse")
    if isinstance(evse, dict) and "id" in evse:
        where = f"@{evse['id']}" + (f".{evse['connectorId']}" if "connectorId" in evse else "")
    return f"{_name(component)}{where}/{_name(variable)}"


def report_entries(report_data: Any) -> dict[str, dict[str, Any]]:
    """NotifyReport's reportData as device-model entries: key -> attributes by type (Actual,
    Target, MinSet, MaxSet: their values), mutability, and the variable's characteristics."""
    out: dict[str, dict[str, Any]] = {}
    for entry in report_data if isinstance(report_data, list) else []:
        if not isinstance(entry, dict):
            continue
        component, variable = entry.get("component") or {}, entry.get("variable") or {}
        attrs: dict[str, Any] = {}
        for attribute in entry.get("variableAttribute") or []:
            kind = str(attribute.get("type") or "Actual")
            attrs[kind] = attribute.get("value")
            if kind == "Actual":
                attrs["mutability"] = attribute.get("mutability", "ReadWrite")
        characteristics = entry.get("variableCharacteristics")
        if isinstance(characteristics, dict):
            attrs["dataType"] = characteristics.get("dataType")
            if characteristics.get("unit"):
                attrs["unit"] = characteristics["unit"]
        out[variable_key(component, variable)] = attrs
    return out


def shows_cost(model: dict[str, dict[str, Any]]) -> bool:
    """Whether the charger shows the running cost we send (TariffCostCtrlr.Enabled[Cost])."""
    for key in ("TariffCostCtrlr/Enabled.Cost", "TariffCostCtrlr/Enabled"):
        if str(model.get(key, {}).get("Actual", "")).lower() == "true":
            return True
    return False


def configuration_from_model(model: dict[str, dict[str, Any]]) -> Configuration:
    """The stored device model as configuration items (Actual values)."""
    items = [ConfigurationItem(key, None if attrs.get("Actual") is None
                               else str(attrs["Actual"]),
                               attrs.get("mutability") == "ReadOnly")
             for key, attrs in sorted(model.items()) if "Actual" in attrs]
    return Configuration(items, [])
