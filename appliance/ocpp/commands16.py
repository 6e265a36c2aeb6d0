"""The `ChargerControl` verbs in OCPP 1.6: each verb's action and payload, and its answer read
back into the version-neutral result."""

from __future__ import annotations

from typing import Any

from appliance.charging.control import Configuration, ConfigurationItem, Trigger

Call = tuple[str, dict[str, Any]]

TRIGGERS = {Trigger.BOOT: "BootNotification", Trigger.STATUS: "StatusNotification",
            Trigger.HEARTBEAT: "Heartbeat", Trigger.METER_VALUES: "MeterValues",
            Trigger.FIRMWARE_STATUS: "FirmwareStatusNotification",
            Trigger.DIAGNOSTICS_STATUS: "DiagnosticsStatusNotification"}


def remote_start(connector_id: int, id_tag: str) -> Call:
    return "RemoteStartTransaction", {"connectorId": connector_id, "idTag": id_tag}


def remote_stop(transaction_id: int) -> Call:
    return "RemoteStopTransaction", {"transactionId": transaction_id}


def reset(hard: bool) -> Call:
    return "Reset", {"type": "Hard" if hard else "Soft"}


def unlock(connector_id: int) -> Call:
    return "UnlockConnector", {"connectorId": connector_id}


def set_availability(connector_id: int, operative: bool) -> Call:
    return "ChangeAvailability", {"connectorId": connector_id,
                                  "type": "Operative" if operative else "Inoperative"}


def trigger(message: Trigger, connector_id: int | None) -> Call:
    payload: dict[str, Any] = {"requestedMessage": TRIGGERS[message]}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    return "TriggerMessage", payload


def clear_cache() -> Call:
    return "ClearCache", {}


def get_configuration(keys: list[str] | None) -> Call:
    return "GetConfiguration", ({"key": keys} if keys else {})


def change_configuration(key: str, value: str) -> Call:
    return "ChangeConfiguration", {"key": key, "value": value}


def status(answer: dict[str, Any]) -> str:
    return str(answer.get("status", ""))


def configuration(answer: dict[str, Any]) -> Configuration:
    items = [ConfigurationItem(str(i.get("key", "")),
                               None if i.get("value") is None else str(i["value"]),
                               bool(i.get("readonly", False)))
             for i in answer.get("configurationKey") or [] if isinstance(i, dict)]
    return Configuration(items, [str(k) for k in answer.get("unknownKey") or []])
