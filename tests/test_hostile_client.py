"""A hostile or broken charger (issue 15): hypothesis makes OCPP 1.6 frames (valid ones,
schema-valid ones with extreme values, and invalid ones) and sends them to a live server over one
real WebSocket. The connection survives every one, a schema-valid message never gets an
InternalError, and `appliance check` passes at the end.

Hypothesis runs in a worker thread; each exchange runs on the test's event loop, where the
server and the client socket live."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from importlib import resources
from typing import Any

import aiohttp
import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance import keys
from appliance.config import SETTING_FIELDS
from tests.charger import ws_url
from tests.conftest import Api, add_station, basic_auth, make_token
from tests.money_fixtures import driver_with_card, site_tariff

# --- what a charger may send --------------------------------------------------------------------
EXTREME = [-1, 2**31 - 1, 2**31, -(2**31), 2**53, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30]
# Extremes about half the time: they are what broke the server.
INTS = st.one_of(st.sampled_from(EXTREME), st.integers(0, 3), st.integers(-(2**70), 2**70))
TIMES = st.one_of(
    st.sampled_from(["2026-11-25T10:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-10:00", "", "soon",
                     "2026-02-30T10:00:00Z", "2026-11-25T10:00:00.123456789+05:30"]),
    st.datetimes().map(lambda d: d.isoformat() + "Z"))
NUMBERS = st.one_of(st.sampled_from(["1e19", "-1e19", "NaN", "Infinity", "-0", "1e308", "",
                                     "abc", "0x10", "9" * 400, str(2**63)]),
                    st.floats(allow_nan=True).map(str), INTS.map(str))
TAGS = st.one_of(st.sampled_from(["RICH1", "rich1", "OWN1", "NOBODY", "", "QR-1"]),
                 st.text(max_size=20))
CIS = st.text(max_size=25)  # CiString25 and friends
ENUM_STATUS = st.sampled_from(["Available", "Preparing", "Charging", "SuspendedEV",
                               "SuspendedEVSE", "Finishing", "Reserved", "Unavailable",
                               "Faulted"])
ENUM_ERROR = st.sampled_from(["NoError", "OtherError", "PowerMeterFailure"])
MEASURANDS = st.sampled_from(["Energy.Active.Import.Register", "Power.Active.Import",
                              "Current.Import", "Voltage", "SoC"])


def _sampled() -> Any:
    return st.fixed_dictionaries({"value": NUMBERS}, optional={
        "measurand": MEASURANDS, "unit": st.sampled_from(["Wh", "kWh", "W", "kW", "A", "V"]),
        "context": st.sampled_from(["Sample.Periodic", "Transaction.Begin", "Transaction.End"]),
        "phase": st.sampled_from(["L1", "L2", "L3", "L1-N"]),
        "format": st.sampled_from(["Raw", "SignedData"]),
        "location": st.sampled_from(["Outlet", "Body"])})


METER_VALUE = st.fixed_dictionaries({"timestamp": TIMES,
                                     "sampledValue": st.lists(_sampled(), min_size=1,
                                                              max_size=3)})

PAYLOADS: dict[str, Any] = {
    "Heartbeat": st.just({}),
    "BootNotification": st.fixed_dictionaries(
        {"chargePointVendor": CIS.map(lambda s: s[:20]), "chargePointModel": CIS.map(
            lambda s: s[:20])}, optional={"firmwareVersion": st.text(max_size=50)}),
    "StatusNotification": st.fixed_dictionaries(
        {"connectorId": INTS, "errorCode": ENUM_ERROR, "status": ENUM_STATUS},
        optional={"timestamp": TIMES, "info": st.text(max_size=50)}),
    "Authorize": st.fixed_dictionaries({"idTag": TAGS}),
    "StartTransaction": st.fixed_dictionaries(
        {"connectorId": INTS, "idTag": TAGS, "meterStart": INTS, "timestamp": TIMES},
        optional={"reservationId": INTS}),
    "StopTransaction": st.fixed_dictionaries(
        {"transactionId": INTS, "meterStop": INTS, "timestamp": TIMES},
        optional={"idTag": TAGS, "reason": st.sampled_from(["Local", "Remote", "PowerLoss"]),
                  "transactionData": st.lists(METER_VALUE, max_size=2)}),
    "MeterValues": st.fixed_dictionaries(
        {"connectorId": INTS, "meterValue": st.lists(METER_VALUE, min_size=1, max_size=2)},
        optional={"transactionId": INTS}),
    "DataTransfer": st.fixed_dictionaries({"vendorId": st.text(max_size=255)},
                                          optional={"data": st.text(max_size=100)}),
    "FirmwareStatusNotification": st.fixed_dictionaries(
        {"status": st.sampled_from(["Downloaded", "Installed", "Idle"])}),
}
JSON = st.recursive(st.one_of(st.none(), st.booleans(), INTS, st.floats(allow_nan=False),
                              st.text(max_size=10)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.text(max_size=8), inner,
                                                            max_size=3)), max_leaves=8)


def _call(action: str, payload: Any, unique_id: str = "h") -> str:
    return json.dumps([2, unique_id, action, payload])


VALID = st.sampled_from(sorted(PAYLOADS)).flatmap(
    lambda action: PAYLOADS[action].map(lambda p: _call(action, p)))
BROKEN = st.one_of(
    st.text(max_size=40),  # not JSON, mostly
    JSON.map(json.dumps),
    st.tuples(st.sampled_from(sorted(PAYLOADS)), JSON).map(lambda t: _call(*t)),
    st.tuples(st.sampled_from(sorted(PAYLOADS)), st.dictionaries(
        st.sampled_from(["connectorId", "idTag", "meterStart", "transactionId", "meterStop",
                         "timestamp", "status", "errorCode", "meterValue"]), JSON,
        max_size=5)).map(lambda t: _call(*t)),
    st.tuples(st.integers(-3, 9), st.text(max_size=40)).map(
        lambda t: json.dumps([t[0], t[1], "Heartbeat", {}])),
    st.text(min_size=37, max_size=60).map(lambda u: _call("Heartbeat", {}, u)),
    st.sampled_from(["[]", "[2]", "[3, \"nobody\", {}]", "[4, \"x\", \"E\", \"d\", {}]",
                     '[2, "x", "Heartbeat", {}, 1]', "[2, 5, \"Heartbeat\", {}]",
                     "[2, \"x\", \"FlyToTheMoon\", {}]", "[2, \"x\", \"Reset\", {}]"]))
FRAMES = st.one_of(VALID, VALID, BROKEN)  # mostly schema-valid: the answers matter most


def _schema_valid(frame: str) -> bool:
    """Judged by the library's own schema files, apart from our validators."""
    try:
        msg = json.loads(frame)
    except ValueError:
        return False
    if not (isinstance(msg, list) and len(msg) == 4 and msg[0] == 2 and isinstance(msg[1], str)
            and len(msg[1]) <= 36 and msg[2] in PAYLOADS):
        return False
    schema = json.loads(resources.files("ocpp.v16").joinpath(
        f"schemas/{msg[2]}.json").read_text(encoding="utf-8"))
    return bool(jsonschema.Draft4Validator(schema).is_valid(msg[3]))


class Link:
    """The one charger connection every frame goes over; a probe Heartbeat after each frame
    finds where that frame's answers end (a frame of unknown type gets none)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.n = 0

    async def exchange(self, frame: str) -> list[Any]:
        self.n += 1
        probe = f"probe-{self.n}"
        await self.ws.send_str(frame)
        await self.ws.send_str(_call("Heartbeat", {}, probe))
        answers = []
        while True:
            msg = await self.ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.TEXT, f"connection lost after {frame!r}: {msg}"
            answer = json.loads(msg.data)
            if answer[0] == 2:  # the server's own call (none expected: unmanaged)
                await self.ws.send_str(json.dumps([4, answer[1], "NotImplemented", "", {}]))
                continue
            if answer[1] == probe:
                assert answer[0] == 3, answer
                return answers
            answers.append(answer)


async def test_hostile_frames_never_break_the_connection_or_the_books(
        start_app: Any, make_settings: Any) -> None:
    # Not a test of the message budget: lift it (where the setting exists at all).
    budget = {"charger_message_rate": 100_000.0, "charger_message_burst": 100_000}
    app_settings = make_settings(**{k: v for k, v in budget.items() if k in SETTING_FIELDS})
    server = await start_app(app_settings)
    token = await make_token(server)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"), token)
        await add_station(api, "HOSTILE-1", "secret-pass-1")
        await site_tariff(api)
        await driver_with_card(api, "RICH1", balance=1_000_000)
        await driver_with_card(api, "OWN1", mode="personal", name="Own Card")
        async with session.ws_connect(ws_url(server, "HOSTILE-1"), protocols=("ocpp1.6",),
                                      headers={"Authorization": basic_auth(
                                          "HOSTILE-1", "secret-pass-1")}) as ws:
            link = Link(ws)

            @settings(max_examples=150, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(frames=st.lists(FRAMES, min_size=1, max_size=4))
            def hostile(frames: list[str]) -> None:
                for frame in frames:
                    answers = asyncio.run_coroutine_threadsafe(link.exchange(frame),
                                                               loop).result(30)
                    if _schema_valid(frame):
                        assert len(answers) == 1, (frame, answers)
                        assert answers[0][0] == 3 or answers[0][2] != "InternalError", \
                            (frame, answers)

            await asyncio.to_thread(hostile)
            assert not ws.closed
    code, out = await _appliance_check(server.app[keys.SETTINGS])
    assert code == 0, out


async def _appliance_check(settings: Any) -> tuple[int, str]:
    """`appliance check`, the command itself, on the server's data (while it serves)."""
    env = {**os.environ, "APPLIANCE_DATABASE_URL": settings.database_url or ""}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance", "check", "--data-dir", settings.data_dir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()
