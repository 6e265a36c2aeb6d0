"""The 1.6 California pricing messages checked by a real charger firmware's own parser, not by
our own test charger: MicroOcpp's California pricing service (its pull request #439, not yet in a
release nor in MicroOcppSimulator, whose pinned MicroOcpp answers every DataTransfer Rejected)
built around `tests/interop/mo_california_probe.cpp`, a 1.6 charger over mongoose's WebSocket
client that prints what the firmware would show as JSON lines. It boots, taps a card (Authorize ->
our SetUserPrice), charges, sends MeterValues when asked (-> RunningCost) and stops (-> FinalCost).

Opt-in: skipped unless MICROOCPP_CALIFORNIA_PROBE names the built probe. The firmware is not
part of this project: build it by hand outside the repository from MicroOcpp at the pull
request's head, ArduinoJson 6.20 and mongoose 7.15 (mongoose.c/.h), every MicroOcpp .cpp plus
mongoose.c plus the probe, with MO_PLATFORM=MO_PLATFORM_UNIX MO_ENABLE_CALIFORNIA=1
MO_ENABLE_V201=0 MO_ENABLE_MBEDTLS=0 MG_TLS=MG_TLS_NONE MO_ENABLE_TIMESTAMP_MILLISECONDS=1
MO_ENABLE_FILE_INDEX=0 MO_NUM_EVSEID=2 MO_ENABLE_DIAGNOSTICS=0 (C++14; about 4 minutes on 2
cores)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.charging.control import Trigger
from tests.charger import ws_url
from tests.conftest import Api, add_station, eventually
from tests.money_fixtures import driver_with_card, site_tariff

PROBE = os.environ.get("MICROOCPP_CALIFORNIA_PROBE", "")
pytestmark = pytest.mark.skipif(
    not (PROBE and Path(PROBE).is_file() and os.access(PROBE, os.X_OK)),
    reason="MICROOCPP_CALIFORNIA_PROBE does not name a built MicroOcpp California probe")


async def _run_probe(server: TestServer, cpid: str, password: str, id_tag: str, seconds: int
                     ) -> tuple[list[tuple[str, Any]], list[str]]:
    """Run the probe to its end; once the driver's price is on its display, ask it for
    MeterValues (TriggerMessage) so that RunningCost follows within the short run."""
    auth = "Basic " + base64.b64encode(f"{cpid}:{password}".encode()).decode()
    proc = await asyncio.create_subprocess_exec(
        PROBE, ws_url(server, cpid), auth, id_tag, str(seconds),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    shown: list[tuple[str, Any]] = []
    log: list[str] = []
    triggers: list[asyncio.Task[str]] = []
    try:
        async with asyncio.timeout(seconds + 40):
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                log.append(line)
                print(line)  # the firmware's own log, shown when the test fails
                if line.startswith('{"probe"'):
                    item = json.loads(line)
                    shown.append((item["probe"], item["value"]))
                    if item["probe"] == "priceText" and not triggers:
                        triggers.append(asyncio.create_task(server.app[keys.CONTROL].trigger(
                            cpid, Trigger.METER_VALUES, 1)))
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, "\n".join(log[-60:])
    assert [await t for t in triggers] == ["Accepted"]
    return shown, log


async def test_microocpp_firmware_shows_our_prices(server: TestServer, api: Api) -> None:
    await add_station(api, "MOCAL-1", managed=True)
    await site_tariff(api, energy_per_kwh="12.5", session_fee="5", min_to_start=0,
                      idle_per_hour="60", idle_grace_min=15)
    await driver_with_card(api, "MOCAL01", balance=50_000)
    shown, log = await _run_probe(server, "MOCAL-1", "secret-pass-1", "MOCAL01", 6)

    async def settled() -> bool:
        items = (await api.get("/sessions?station_id=MOCAL-1"))["items"]
        return bool(items) and items[0]["state"] == "completed"

    await eventually(settled)
    session = (await api.get("/sessions?station_id=MOCAL-1"))["items"][0]
    fee = session["fee"]["amount"] / 100
    # SetUserPrice: the driver's price, parsed and put on the display.
    assert ("priceText", "₹12.50/kWh · +₹5.00 per session · idle ₹60.00/h after 15 min") \
        in shown, shown
    # RunningCost: parsed, accepted and shown: the unit price, charging, and the cost we sent
    # (the firmware then counts on from its own meter between our messages).
    running = _sent(log, "RunningCost")
    assert running and [v for k, v in shown if k == "kWhPrice"][:1] == [12.5], shown
    assert ("charging", True) in shown
    assert abs([v for k, v in shown if k == "cost"][0] - running[0]) < 0.005, (shown, running)
    assert _answers(log, "RunningCost") == ["result"] * len(running)
    # FinalCost: sent with the bill's amount. This firmware cannot show it (its handler wants
    # a qrCodeText, reads priceText as priceTextExtra JSON, shows a cost only while the
    # transaction runs, and answers Rejected whatever it did), so only what reached it counts.
    assert _sent(log, "FinalCost") == [fee]


COST = re.compile(r'\\"cost\\": ([0-9.]+)')


def _sent(log: list[str], message_id: str) -> list[float]:
    """The cost of each of our DataTransfers of a kind, as the firmware logged receiving them."""
    return [float(found.group(1)) for line in log
            if '"DataTransfer"' in line and f'"messageId":"{message_id}"' in line
            for found in [COST.search(line)] if found]


def _answers(log: list[str], message_id: str) -> list[str]:
    """How the firmware answered each of our DataTransfers of a kind: "result" (it parsed it;
    this firmware's result always says Rejected) or "error" (a CALLERROR: it could not)."""
    out = []
    for line in log:
        if "Recv [2," in line and f'"messageId":"{message_id}"' in line:
            call_id = line.split("Recv [2,", 1)[1].split('"')[1]
            out += ["result" for sent in log if f'Send [3,"{call_id}"' in sent]
            out += ["error" for sent in log if f'Send [4,"{call_id}"' in sent]
    return out
