"""The `ChargerControl` verbs in OCPP 1.6: each verb's action and payload, and its answer read
back into the version-neutral result."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from appliance.charging.control import (
    CertificateId,
    CertificateKind,
    ChargingLimit,
    Configuration,
    ConfigurationItem,
    InstalledCertificates,
    ListEntry,
    Trigger,
)

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
    if message is Trigger.SIGN_CERTIFICATE:  # only the security extension's trigger has it
        return extended_trigger("SignChargePointCertificate", connector_id)
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


def set_auth_key(key: str) -> Call:
    return change_configuration("AuthorizationKey", key)


def _time(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def reserve(connector_id: int, id_tag: str, expiry: datetime, reservation_id: int) -> Call:
    return "ReserveNow", {"connectorId": connector_id, "idTag": id_tag,
                          "expiryDate": _time(expiry), "reservationId": reservation_id}


def cancel_reservation(reservation_id: int) -> Call:
    return "CancelReservation", {"reservationId": reservation_id}


def update_firmware(location: str, retrieve_at: datetime) -> Call:
    return "UpdateFirmware", {"location": location, "retrieveDate": _time(retrieve_at)}


def get_local_list_version() -> Call:
    return "GetLocalListVersion", {}


def list_version(answer: dict[str, Any]) -> int:
    value = answer.get("listVersion")
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def send_local_list(version: int, entries: list[ListEntry], full: bool) -> Call:
    data = []
    for e in entries:
        item: dict[str, Any] = {"idTag": e.id_tag}
        if e.status is not None:
            info: dict[str, Any] = {"status": e.status}
            if e.parent_id_tag:
                info["parentIdTag"] = e.parent_id_tag
            if e.expiry:
                info["expiryDate"] = e.expiry
            item["idTagInfo"] = info
        data.append(item)
    return "SendLocalList", {"listVersion": version, "localAuthorizationList": data,
                             "updateType": "Full" if full else "Differential"}


# Stack levels: the default profile lowest, a session's above it.
DEFAULT_STACK, SESSION_STACK = 0, 1


def set_charging_limit(limit: ChargingLimit) -> Call:
    period: dict[str, Any] = {"startPeriod": 0, "limit": round(limit.limit_a, 1)}
    if limit.phases is not None:
        period["numberPhases"] = limit.phases
    profile: dict[str, Any] = {
        "chargingProfileId": limit.profile_id,
        "stackLevel": SESSION_STACK if limit.session is not None else DEFAULT_STACK,
        "chargingProfilePurpose": "TxProfile" if limit.session is not None
        else "TxDefaultProfile",
        "chargingProfileKind": "Absolute" if limit.session is not None else "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]}}
    if limit.session is not None:
        profile["transactionId"] = int(limit.session)
        profile["chargingSchedule"]["startSchedule"] = _now_text()
    return "SetChargingProfile", {"connectorId": limit.connector_id,
                                  "csChargingProfiles": profile}


def _now_text() -> str:
    at = datetime.now(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def clear_charging_limit(profile_id: int | None) -> Call:
    return "ClearChargingProfile", ({"id": profile_id} if profile_id is not None else {})


# --- the security extension (1.6 + "Improved security for OCPP 1.6-J") ----------------------------
CERTIFICATE_TYPES = {CertificateKind.CSMS_ROOT: "CentralSystemRootCertificate",
                     CertificateKind.MANUFACTURER_ROOT: "ManufacturerRootCertificate"}
SECURITY_PROFILE_KEY = "SecurityProfile"


def extended_trigger(message: str, connector_id: int | None) -> Call:
    payload: dict[str, Any] = {"requestedMessage": message}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    return "ExtendedTriggerMessage", payload


def install_certificate(kind: CertificateKind, pem: str) -> Call:
    return "InstallCertificate", {"certificateType": CERTIFICATE_TYPES[kind], "certificate": pem}


def installed_certificates(kind: CertificateKind) -> Call:
    return "GetInstalledCertificateIds", {"certificateType": CERTIFICATE_TYPES[kind]}


def delete_certificate(cert: CertificateId) -> Call:
    return "DeleteCertificate", {"certificateHashData": {
        "hashAlgorithm": cert.hash_algorithm, "issuerNameHash": cert.issuer_name_hash,
        "issuerKeyHash": cert.issuer_key_hash, "serialNumber": cert.serial_number}}


def set_security_profile(profile: int) -> Call:
    return change_configuration(SECURITY_PROFILE_KEY, str(profile))


def installed(answer: dict[str, Any]) -> InstalledCertificates:
    ids = [CertificateId(str(h.get("hashAlgorithm", "")), str(h.get("issuerNameHash", "")),
                         str(h.get("issuerKeyHash", "")), str(h.get("serialNumber", "")))
           for h in answer.get("certificateHashData") or [] if isinstance(h, dict)]
    return InstalledCertificates(status(answer), ids)


def status(answer: dict[str, Any]) -> str:
    return str(answer.get("status", ""))


def configuration(answer: dict[str, Any]) -> Configuration:
    items = [ConfigurationItem(str(i.get("key", "")),
                               None if i.get("value") is None else str(i["value"]),
                               bool(i.get("readonly", False)))
             for i in answer.get("configurationKey") or [] if isinstance(i, dict)]
    return Configuration(items, [str(k) for k in answer.get("unknownKey") or []])


# --- the charger's display: the OCA's "OCPP & California Pricing Requirements" (1.6) ------------
COST_VENDOR = "org.openchargealliance.costmsg"
DISPLAY_KEY = "CustomDisplayCostAndPrice"  # true: the charger shows what we send
DECIMALS_KEY = "NumberOfDecimalsForCostValues"


def display_decimals(configuration: dict[str, str | None]) -> tuple[bool, int | None]:
    """(whether the charger shows prices and costs we send, the decimals it asks for)."""
    shows = str(configuration.get(DISPLAY_KEY) or "").strip().lower() == "true"
    raw = str(configuration.get(DECIMALS_KEY) or "").strip()
    return shows, int(raw) if raw.isdigit() else None


def _transfer(message_id: str, data: dict[str, Any]) -> Call:
    # The whitepaper's data is a JSON text inside DataTransfer's string field.
    return "DataTransfer", {"vendorId": COST_VENDOR, "messageId": message_id,
                            "data": json.dumps(data, ensure_ascii=False)}


def _number(value: Decimal | str) -> float:
    """A JSON number (the whitepaper's amounts are numbers, in major units)."""
    return float(Decimal(str(value)))


def user_price(id_tag: str, text: str) -> Call:
    return _transfer("SetUserPrice", {"idToken": id_tag, "priceText": text})


def running_cost(shown: dict[str, Any], cost: Decimal, at: datetime) -> Call:
    return _transfer("RunningCost", {
        "transactionId": shown["transaction_id"],
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        "meterValue": shown["register_wh"], "cost": _number(cost),
        "state": "Idle" if shown["idle"] else "Charging",
        "chargingPrice": {"kWhPrice": _number(shown["kwh_price"]),
                          "hourPrice": _number(shown["hour_price"])},
        "idlePrice": {"graceMinutes": shown["idle_grace_min"],
                      "hourPrice": _number(shown["idle_price"])}})


def final_cost(shown: dict[str, Any], cost: Decimal) -> Call:
    return _transfer("FinalCost", {"transactionId": shown["transaction_id"],
                                   "cost": _number(cost), "priceText": shown["text"]})
