"""The compiled validators reject exactly what the library's own validator rejects."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from jsonschema import Draft4Validator

from appliance.ocpp import validation

ACTIONS = sorted(validation.actions("1.6"))


def _library_validator(action: str, response: bool) -> Draft4Validator:
    name = f"{action}Response.json" if response else f"{action}.json"
    return Draft4Validator(json.loads(
        resources.files("ocpp.v16").joinpath("schemas", name).read_text()))


EXAMPLES: dict[str, dict[str, Any]] = {
    "BootNotification": {"chargePointVendor": "V", "chargePointModel": "M"},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    "StartTransaction": {"connectorId": 1, "idTag": "T", "meterStart": 0,
                         "timestamp": "2026-01-01T00:00:00Z"},
    "StopTransaction": {"transactionId": 1, "meterStop": 5, "timestamp": "2026-01-01T00:00:00Z"},
    "MeterValues": {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z",
                                                      "sampledValue": [{"value": "1"}]}]},
    "Authorize": {"idTag": "T"},
    "Heartbeat": {},
}

mutations = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=25)
    | st.sampled_from(["Available", "Wh", "NoError", "Sample.Periodic", "Power.Active.Import"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(
        st.sampled_from(["connectorId", "value", "idTag", "status", "errorCode", "meterValue",
                         "sampledValue", "timestamp", "unit", "x"]), inner, max_size=4),
    max_leaves=12)


@pytest.mark.parametrize("action", sorted(EXAMPLES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_same_verdict_as_the_library(action: str, data: st.DataObject) -> None:
    payload = dict(EXAMPLES[action])
    key = data.draw(st.sampled_from([*payload.keys(), "extra"]))
    payload[key] = data.draw(mutations)
    if data.draw(st.booleans()) and payload:
        payload.pop(data.draw(st.sampled_from(sorted(payload))))
    library_ok = _library_validator(action, False).is_valid(payload)
    try:
        validation.validate("1.6", action, payload)
        ours_ok = True
    except Exception:
        ours_ok = False
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
