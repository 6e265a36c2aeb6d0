"""The `ChargerControl` verbs in OCPP 2.0.1: each verb's action and payload, and its answer read
back into the version-neutral result. The device model as a charger reports it, and the report
requests, are `devicemodel201.py`'s.

A configuration key is either a 1.6 name that has a 2.0.1 home (`KEYS`) or `Component/Variable`
as the device model names it, so the pages and the API ask both versions the same way."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from appliance.charging.control import (
    CertificateId,
    CertificateKind,
    ChargingLimit,
    Configuration,
    ConfigurationItem,
    InstalledCertificates,
    ListEntry,
    Monitor,
    TransactionStatus,
    Trigger,
)
from appliance.errors import InvalidInput

Call = tuple[str, dict[str, Any]]

TRIGGERS = {Trigger.BOOT: "BootNotification", Trigger.STATUS: "StatusNotification",
            Trigger.HEARTBEAT: "Heartbeat", Trigger.METER_VALUES: "MeterValues",
            Trigger.FIRMWARE_STATUS: "FirmwareStatusNotification",
            Trigger.DIAGNOSTICS_STATUS: "LogStatusNotification",
            Trigger.SIGN_CERTIFICATE: "SignChargingStationCertificate"}

# 1.6 configuration keys and where OCPP 2.0.1 keeps the same setting.
KEYS: dict[str, tuple[str, str]] = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "WebSocketPingInterval": ("OCPPCommCtrlr", "WebSocketPingInterval"),
    "ResetRetries": ("OCPPCommCtrlr", "ResetRetries"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
    "StopTransactionOnInvalidId": ("TxCtrlr", "StopTxOnInvalidId"),
    "MaxEnergyOnInvalidId": ("TxCtrlr", "MaxEnergyOnInvalidId"),
    "AuthorizeRemoteTxRequests": ("AuthCtrlr", "AuthorizeRemoteStart"),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline"),
    "LocalPreAuthorize": ("AuthCtrlr", "LocalPreAuthorize"),
    "AllowOfflineTxForUnknownId": ("AuthCtrlr", "OfflineTxForUnknownIdEnabled"),
    "AuthorizationCacheEnabled": ("AuthCacheCtrlr", "Enabled"),
    # The station's password for security profile 1 (1.6's AuthorizationKey).
    "AuthorizationKey": ("SecurityCtrlr", "BasicAuthPassword"),
}


def component_variable(key: str) -> tuple[str, str]:
    """(component, variable) of a configuration key."""
    if key in KEYS:
        return KEYS[key]
    component, _, variable = key.partition("/")
    return (component, variable) if variable else ("", key)


def remote_start_id() -> int:
    """RequestStartTransaction's remoteStartId: the charger echoes it in its TransactionEvent."""
    return secrets.randbelow(2**31 - 2) + 1


def remote_start(connector_id: int, id_tag: str, token_type: str = "Central") -> Call:
    # A start the box asks for with a token of its own (a QR start's tag) names it Central;
    # a card's start names the card's own kind, so the charger reports it as the card.
    return "RequestStartTransaction", {"evseId": connector_id,
                                       "idToken": {"idToken": id_tag, "type": token_type},
                                       "remoteStartId": remote_start_id()}


def remote_stop(reference: str) -> Call:
    return "RequestStopTransaction", {"transactionId": reference}


def reset(hard: bool) -> Call:
    return "Reset", {"type": "Immediate" if hard else "OnIdle"}


def unlock(connector_id: int, evse_connector: int = 1) -> Call:
    # A socket on the pages is (EVSE, connector); a 1.6-style connector n is EVSE n connector 1.
    return "UnlockConnector", {"evseId": connector_id, "connectorId": evse_connector}


def set_availability(connector_id: int, operative: bool) -> Call:
    payload: dict[str, Any] = {"operationalStatus": "Operative" if operative
                               else "Inoperative"}
    if connector_id > 0:
        payload["evse"] = {"id": connector_id}
    return "ChangeAvailability", payload


def trigger(message: Trigger, connector_id: int | None) -> Call:
    payload: dict[str, Any] = {"requestedMessage": TRIGGERS[message]}
    if connector_id:
        payload["evse"] = {"id": connector_id, "connectorId": 1} \
            if message == Trigger.STATUS else {"id": connector_id}
    return "TriggerMessage", payload


def clear_cache() -> Call:
    return "ClearCache", {}


def _address(key: str) -> dict[str, Any]:
    component, variable = component_variable(key)
    return {"component": {"name": component}, "variable": {"name": variable}}


def get_variables(keys: list[str]) -> Call:
    return "GetVariables", {"getVariableData": [_address(k) for k in keys]}


def change_configuration(key: str, value: str) -> Call:
    return "SetVariables", {"setVariableData": [{"attributeValue": value, **_address(key)}]}


def set_variable_data(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"attributeValue": value, **_address(key)} for key, value in values.items()]


def set_statuses(keys: list[str], answer: dict[str, Any]) -> dict[str, str]:
    """SetVariables' answer, by the keys asked for (in their order)."""
    results = [r for r in answer.get("setVariableResult") or [] if isinstance(r, dict)]
    return {key: str(r.get("attributeStatus", "")) for key, r in zip(keys, results,
                                                                      strict=False)}


def set_auth_key(key: str) -> Call:
    return change_configuration("AuthorizationKey", key)  # SecurityCtrlr.BasicAuthPassword


def transaction_status(reference: str | None) -> Call:
    return "GetTransactionStatus", ({"transactionId": reference} if reference else {})


def read_transaction_status(answer: dict[str, Any]) -> TransactionStatus:
    ongoing = answer.get("ongoingIndicator")
    return TransactionStatus(ongoing if isinstance(ongoing, bool) else None,
                             answer.get("messagesInQueue") is True)


def _time(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def reserve(connector_id: int, id_tag: str, expiry: datetime, reservation_id: int,
            token_type: str = "Central") -> Call:
    payload: dict[str, Any] = {"id": reservation_id, "expiryDateTime": _time(expiry),
                               "idToken": {"idToken": id_tag, "type": token_type}}
    if connector_id > 0:
        payload["evseId"] = connector_id
    return "ReserveNow", payload


def cancel_reservation(reservation_id: int) -> Call:
    return "CancelReservation", {"reservationId": reservation_id}


MONITOR_KINDS = ("UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned")


def set_monitoring(monitors: list[Monitor]) -> Call:
    data = []
    for m in monitors:
        if m.kind not in MONITOR_KINDS:
            raise InvalidInput(f"a monitor's kind is one of {', '.join(MONITOR_KINDS)}",
                               details={"field": "kind"})
        if not 0 <= m.severity <= 9:
            raise InvalidInput("a monitor's severity is 0 to 9", details={"field": "severity"})
        item: dict[str, Any] = {"value": m.value, "type": m.kind, "severity": m.severity,
                                **_address(m.key)}
        if m.monitor_id is not None:
            item["id"] = m.monitor_id
        data.append(item)
    return "SetVariableMonitoring", {"setMonitoringData": data}


def monitoring_statuses(answer: dict[str, Any], field: str) -> list[str]:
    return [str(r.get("status", "")) for r in answer.get(field) or [] if isinstance(r, dict)]


def clear_monitoring(monitor_ids: list[int]) -> Call:
    return "ClearVariableMonitoring", {"id": monitor_ids}


MONITORING_BASES = ("All", "FactoryDefault", "HardWiredOnly")


def set_monitoring_base(base: str) -> Call:
    if base not in MONITORING_BASES:
        raise InvalidInput(f"the monitoring base is one of {', '.join(MONITORING_BASES)}",
                           details={"field": "base"})
    return "SetMonitoringBase", {"monitoringBase": base}


def customer_information(request_id: int, id_tag: str, report: bool, clear: bool,
                         token_type: str = "Central") -> Call:
    return "CustomerInformation", {"requestId": request_id, "report": report, "clear": clear,
                                   "idToken": {"idToken": id_tag, "type": token_type}}


def update_firmware(request_id: int, location: str, retrieve_at: datetime) -> Call:
    return "UpdateFirmware", {"requestId": request_id, "firmware": {
        "location": location, "retrieveDateTime": _time(retrieve_at)}}


def publish_firmware(request_id: int, location: str, checksum: str) -> Call:
    return "PublishFirmware", {"requestId": request_id, "location": location,
                               "checksum": checksum}


# --- local lists, charging limits, certificates (the verbs load management, local lists and
# security profiles use) -------------------------------------------------------------------------
LIST_TOKEN_TYPE = "ISO14443"  # for a card that names no kind: the common RFID card's


def get_local_list_version() -> Call:
    return "GetLocalListVersion", {}


def list_version(answer: dict[str, Any]) -> int:
    value = answer.get("versionNumber")
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def send_local_list(version: int, entries: list[ListEntry], full: bool) -> Call:
    data = []
    for e in entries:
        item: dict[str, Any] = {"idToken": {"idToken": e.id_tag,
                                            "type": e.token_type or LIST_TOKEN_TYPE}}
        if e.status is not None:
            info: dict[str, Any] = {"status": e.status}
            if e.parent_id_tag:
                info["groupIdToken"] = {"idToken": e.parent_id_tag, "type": "Central"}
            if e.expiry:
                info["cacheExpiryDateTime"] = e.expiry
            item["idTokenInfo"] = info
        data.append(item)
    payload: dict[str, Any] = {"versionNumber": version,
                               "updateType": "Full" if full else "Differential"}
    if data:
        payload["localAuthorizationList"] = data
    return "SendLocalList", payload


DEFAULT_STACK, SESSION_STACK = 0, 1  # as 1.6's: the default profile lowest


def set_charging_limit(limit: ChargingLimit) -> Call:
    """`limit.session`, when set, is the charger's own transaction id."""
    period: dict[str, Any] = {"startPeriod": 0, "limit": round(limit.limit_a, 1)}
    if limit.phases is not None:
        period["numberPhases"] = limit.phases
    schedule: dict[str, Any] = {"id": limit.profile_id, "chargingRateUnit": "A",
                                "chargingSchedulePeriod": [period]}
    profile: dict[str, Any] = {
        "id": limit.profile_id,
        "stackLevel": SESSION_STACK if limit.session is not None else DEFAULT_STACK,
        "chargingProfilePurpose": "TxProfile" if limit.session is not None
        else "TxDefaultProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": [schedule]}
    if limit.session is not None:
        profile["transactionId"] = limit.session
    return "SetChargingProfile", {"evseId": limit.connector_id, "chargingProfile": profile}


def clear_charging_limit(profile_id: int | None) -> Call:
    return "ClearChargingProfile", ({"chargingProfileId": profile_id}
                                    if profile_id is not None else {})


CERTIFICATE_TYPES = {CertificateKind.CSMS_ROOT: "CSMSRootCertificate",
                     CertificateKind.MANUFACTURER_ROOT: "ManufacturerRootCertificate"}


def install_certificate(kind: CertificateKind, pem: str) -> Call:
    return "InstallCertificate", {"certificateType": CERTIFICATE_TYPES[kind], "certificate": pem}


def installed_certificates(kind: CertificateKind) -> Call:
    return "GetInstalledCertificateIds", {"certificateType": [CERTIFICATE_TYPES[kind]]}


def installed(answer: dict[str, Any]) -> InstalledCertificates:
    ids = []
    for chain in answer.get("certificateHashDataChain") or []:
        h = chain.get("certificateHashData") if isinstance(chain, dict) else None
        if isinstance(h, dict):
            ids.append(CertificateId(str(h.get("hashAlgorithm", "")),
                                     str(h.get("issuerNameHash", "")),
                                     str(h.get("issuerKeyHash", "")),
                                     str(h.get("serialNumber", ""))))
    return InstalledCertificates(status(answer), ids)


def delete_certificate(cert: CertificateId) -> Call:
    return "DeleteCertificate", {"certificateHashData": {
        "hashAlgorithm": cert.hash_algorithm, "issuerNameHash": cert.issuer_name_hash,
        "issuerKeyHash": cert.issuer_key_hash, "serialNumber": cert.serial_number}}


# --- the security profile change (2.0.1 use case A05) ---------------------------------------------
PRIORITY_KEY = "OCPPCommCtrlr/NetworkConfigurationPriority"
PROFILE_MESSAGE_TIMEOUT_S = 30


def slots(priority: str | None) -> list[int]:
    """The configuration slots of a NetworkConfigurationPriority value ("1,0"); a charger that
    does not say is taken to be on slot 0 (the variable is required, so that is rare)."""
    found = [int(p) for p in (priority or "").replace(" ", "").split(",") if p.isdigit()]
    return found or [0]


def free_slot(in_use: list[int]) -> int:
    """A slot the charger does not use now: SetNetworkProfile on the active one is refused."""
    return next(n for n in range(len(in_use) + 1) if n not in in_use)


def set_network_profile(slot: int, csms_url: str, profile: int) -> Call:
    """A05 step 1: a new connection profile in a free slot. The URL is the box's OCPP path
    without the charger's id: a 2.0.1 charger adds its identity itself (OCPP-J, part 4)."""
    return "SetNetworkProfile", {"configurationSlot": slot, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": csms_url,
        "messageTimeout": PROFILE_MESSAGE_TIMEOUT_S, "securityProfile": profile,
        "ocppInterface": "Wired0"}}


def network_priority(slot: int, in_use: list[int]) -> Call:
    """A05 step 2: the new slot first, the old ones after it (where the charger falls back)."""
    order = [slot, *(n for n in in_use if n != slot)]
    return change_configuration(PRIORITY_KEY, ",".join(str(n) for n in order))


def status(answer: dict[str, Any]) -> str:
    """The status word of an answer (SetVariables: its one variable's)."""
    results = answer.get("setVariableResult")
    if isinstance(results, list) and results and isinstance(results[0], dict):
        return str(results[0].get("attributeStatus", ""))
    return str(answer.get("status", ""))


def configuration(keys: list[str], answer: dict[str, Any]) -> Configuration:
    """GetVariables' answer, under the keys asked for (in their order)."""
    items: list[ConfigurationItem] = []
    unknown: list[str] = []
    results = [r for r in answer.get("getVariableResult") or [] if isinstance(r, dict)]
    for key, result in zip(keys, results, strict=False):
        if result.get("attributeStatus") == "Accepted":
            value = result.get("attributeValue")
            items.append(ConfigurationItem(key, None if value is None else str(value), False))
        else:
            unknown.append(key)
    return Configuration(items, unknown)


def raw_in_16_terms(action: str, payload: dict[str, Any]) -> Call | None:
    """A raw 2.0.1 command that the money and key rules look at, in the terms those rules read
    (1.6's): a remote start for a card, a local list. Raises for the station's password, which
    only the key rotation may change (it keeps the old key working until the new one is used)."""
    if action == "RequestStartTransaction":
        token = payload.get("idToken") or {}
        return "RemoteStartTransaction", {"idTag": token.get("idToken"),
                                          "connectorId": payload.get("evseId")}
    if action == "SendLocalList":
        return "SendLocalList", {"localAuthorizationList": [
            {"idTag": (e.get("idToken") or {}).get("idToken")}
            for e in payload.get("localAuthorizationList") or [] if isinstance(e, dict)]}
    if action == "SetVariables" and any(
            component_variable(f"{(d.get('component') or {}).get('name')}/"
                               f"{(d.get('variable') or {}).get('name')}")
            == KEYS["AuthorizationKey"]
            for d in payload.get("setVariableData") or [] if isinstance(d, dict)):
        raise InvalidInput("the BasicAuthPassword is changed with POST "
                           "/stations/{id}/rotate-key, which keeps the old key working until "
                           "the charger uses the new one")
    return None
