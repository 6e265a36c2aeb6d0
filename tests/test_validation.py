"""The compiled validators reject exactly what the library's own validator rejects."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from appliance.ocpp import validation

ACTIONS = sorted(validation.actions("1.6"))


def _library_validator(action: str, response: bool) -> Draft4Validator:
    name = f"{action}Response.json" if response else f"{action}.json"
    return Draft4Validator(json.loads(
        resources.files("ocpp.v16").joinpath("schemas", name).read_text()))


T0 = "2026-01-01T00:00:00Z"
INFO = {"status": "Accepted", "expiryDate": T0, "parentIdTag": "G1"}

# One valid payload for every charger -> central system action of OCPP 1.6 (core, firmware,
# security extension), with the optional fields filled in so that mutations reach them.
EXAMPLES: dict[str, dict[str, Any]] = {
    "BootNotification": {"chargePointVendor": "V", "chargePointModel": "M",
                         "chargePointSerialNumber": "S", "firmwareVersion": "1", "iccid": "",
                         "meterType": "T"},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                           "timestamp": T0, "info": "i", "vendorId": "v"},
    "StartTransaction": {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": T0,
                         "reservationId": 3},
    "StopTransaction": {"transactionId": 1, "meterStop": 5, "timestamp": T0, "idTag": "T",
                        "reason": "Local", "transactionData": [
                            {"timestamp": T0, "sampledValue": [{"value": "5", "unit": "Wh"}]}]},
    "MeterValues": {"connectorId": 1, "transactionId": 7, "meterValue": [{
        "timestamp": T0, "sampledValue": [{"value": "1", "context": "Sample.Periodic",
                                           "measurand": "Power.Active.Import", "unit": "W",
                                           "phase": "L1", "location": "Outlet",
                                           "format": "Raw"}]}]},
    "Authorize": {"idTag": "T"},
    "Heartbeat": {},
    "DataTransfer": {"vendorId": "V", "messageId": "m", "data": "d"},
    "DiagnosticsStatusNotification": {"status": "Uploaded"},
    "FirmwareStatusNotification": {"status": "Installed"},
    "LogStatusNotification": {"status": "Uploaded", "requestId": 1},
    "SecurityEventNotification": {"type": "StartupOfTheDevice", "timestamp": T0,
                                  "techInfo": "t"},
    "SignCertificate": {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
    "SignedFirmwareStatusNotification": {"status": "Installed", "requestId": 1},
}

# The answers the central system sends to each of them.
RESPONSES: dict[str, dict[str, Any]] = {
    "BootNotification": {"status": "Accepted", "currentTime": T0, "interval": 300},
    "StatusNotification": {},
    "StartTransaction": {"transactionId": 1, "idTagInfo": INFO},
    "StopTransaction": {"idTagInfo": INFO},
    "MeterValues": {},
    "Authorize": {"idTagInfo": INFO},
    "Heartbeat": {"currentTime": T0},
    "DataTransfer": {"status": "UnknownVendorId", "data": "d"},
    "DiagnosticsStatusNotification": {},
    "FirmwareStatusNotification": {},
    "LogStatusNotification": {},
    "SecurityEventNotification": {},
    "SignCertificate": {"status": "Rejected"},
    "SignedFirmwareStatusNotification": {},
}
CASES = [(a, False) for a in sorted(EXAMPLES)] + [(a, True) for a in sorted(RESPONSES)]

KEYS = sorted({"connectorId", "value", "idTag", "status", "errorCode", "meterValue",
               "sampledValue", "timestamp", "unit", "x", "idTagInfo", "interval",
               "transactionId", "expiryDate", "requestId", "type", "vendorId", "data"})
_leaf = (st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, width=32)
         | st.text(max_size=25) | st.text(min_size=18, max_size=60)
         | st.sampled_from(["Available", "Wh", "NoError", "Sample.Periodic",
                            "Power.Active.Import", "Accepted", "Rejected", "Installed",
                            "Uploaded", T0]))
# Two levels of nesting, spelled out (no st.recursive: its self-check warns now and then).
_level = _leaf | st.lists(_leaf, max_size=2) | st.dictionaries(st.sampled_from(KEYS), _leaf,
                                                                max_size=4)
mutations = _level | st.lists(_level, max_size=2) | st.dictionaries(st.sampled_from(KEYS),
                                                                     _level, max_size=3)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a payload where a mutation can go: object keys and list items."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((*prefix, key))
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.append((*prefix, index))
            out.extend(_paths(item, (*prefix, index)))
    return out


def _mutate(payload: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    payload = json.loads(json.dumps(payload))  # a deep copy
    paths = _paths(payload)
    path = data.draw(st.sampled_from([*paths, ("extra",)]) if paths else st.just(("extra",)))
    parent: Any = payload
    for step in path[:-1]:
        parent = parent[step]
    how = data.draw(st.sampled_from(["replace", "drop", "add"]))
    if how == "drop" and isinstance(parent, dict) and path[-1] in parent:
        del parent[path[-1]]
    elif how == "add" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(KEYS))] = data.draw(mutations)
    else:
        parent[path[-1]] = data.draw(mutations)
    return payload


def _verdicts(action: str, response: bool, payload: Any) -> tuple[bool, bool]:
    library_ok = _library_validator(action, response).is_valid(payload)
    try:
        validation.validate("1.6", action, payload, response=response)
        ours_ok = True
    except Exception:
        ours_ok = False
    return ours_ok, library_ok


def test_every_charger_action_has_an_example_and_an_answer() -> None:
    sent_by_chargers = {"Authorize", "BootNotification", "DataTransfer",
                        "DiagnosticsStatusNotification", "FirmwareStatusNotification",
                        "Heartbeat", "MeterValues", "StartTransaction", "StatusNotification",
                        "StopTransaction", "LogStatusNotification", "SecurityEventNotification",
                        "SignCertificate", "SignedFirmwareStatusNotification"}
    assert sent_by_chargers <= set(ACTIONS)
    assert set(EXAMPLES) == sent_by_chargers == set(RESPONSES)


@pytest.mark.parametrize(("action", "response"), CASES)
def test_the_examples_pass_both(action: str, response: bool) -> None:
    payload = (RESPONSES if response else EXAMPLES)[action]
    assert _verdicts(action, response, payload) == (True, True)


@pytest.mark.parametrize(("action", "response"), CASES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_same_verdict_as_the_library(action: str, response: bool, data: st.DataObject) -> None:
    payload = _mutate((RESPONSES if response else EXAMPLES)[action], data)
    ours_ok, library_ok = _verdicts(action, response, payload)
    assert ours_ok == library_ok, payload


@pytest.mark.parametrize("action", ACTIONS)
def test_every_schema_compiles_and_accepts_an_empty_answer_the_same(action: str) -> None:
    for response in (False, True):
        ours = validation.validator("1.6", action, response)
        library = _library_validator(action, response)
        try:
            ours({})
            ours_ok = True
        except Exception:
            ours_ok = False
        assert ours_ok == library.is_valid({})


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_quick_meter_values_check_says_yes_only_to_what_the_schema_allows(
        data: st.DataObject) -> None:
    # The quick yes for MeterValues (validation._meter_values_16) must never pass what the
    # compiled validator refuses; one or two mutations of a full example each time.
    quick = validation._QUICK[("1.6", "MeterValues")]
    payload = _mutate(EXAMPLES["MeterValues"], data)
    if data.draw(st.booleans()):
        payload = _mutate(payload, data)
    if quick(payload):
        validation.validator("1.6", "MeterValues")(payload)  # raises if the quick yes was wrong
        assert _library_validator("MeterValues", False).is_valid(payload), payload


def test_the_quick_meter_values_check_knows_a_chargers_usual_report() -> None:
    quick = validation._QUICK[("1.6", "MeterValues")]
    assert quick(EXAMPLES["MeterValues"])
    assert quick({"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [
        {"value": "10"}, {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"}]}]})
    assert not quick({"connectorId": True, "meterValue": [{"timestamp": T0,
                                                          "sampledValue": [{"value": "1"}]}]})
    assert not quick({"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [
        {"value": "1", "unit": "Celsius", "phase": "L4"}]}]})
