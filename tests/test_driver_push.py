"""Web Push when charging ends, against a local push-service stand-in that checks the VAPID JWT
and decrypts the payload as a browser would: the driver's phone subscribes from its page, the
session stops, the phone is told (in the driver's words), and a subscription the push service
says is gone is dropped; hosted, a stop is told once."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models_payments import PushSubscription
from appliance.web.driver import push
from appliance.web.driver.push import TELL_GATHER_S
from tests.charger import ClientTransport, SimCharger
from tests.conftest import Api, basic_auth, eventually
from tests.driver_fixtures import CSRF, driver_with_pin, phone, site_with_charger
from tests.pg import backend
from tests.proc import ApplianceProcess, free_port
from tests.standin_push import PushStandin


@pytest.fixture
async def push_service(aiohttp_server: Any) -> PushStandin:
    standin = PushStandin()
    served = await aiohttp_server(standin.app(), host="127.0.0.1")
    standin.base = str(served.make_url("")).rstrip("/")
    return standin


def _endpoints() -> list[str]:
    return [r.endpoint for r in PushSubscription.select().order_by(PushSubscription.id)]


async def _subscribed_driver(server: TestServer, api: Api, push_service: PushStandin,
                             cpid: str, number: str, card: str) -> None:
    """A site with charger `cpid`, a driver (phone `number`) with a commercial `card`, and
    the driver's phone subscribed to pushes from its page."""
    await site_with_charger(api, cpid)
    driver = await driver_with_pin(server, api, number, balance=50_000)
    await api.post(f"/drivers/{driver['id']}/cards", {"id_tag": card, "mode": "commercial"})
    async with phone(server) as p:
        await p.login(number.replace("+91", "").replace(" ", ""))
        async with p.session.get(p.url("/me/push/key")) as resp:
            key = (await resp.json())["key"]
        _, html, _ = await p.get("/me")
        async with p.session.post(p.url("/me/push"), json=push_service.subscribe(key),
                                  headers={"X-CSRF-Token": CSRF.search(html)[1]}) as resp:
            assert resp.status == 200


async def test_the_phone_is_told_when_charging_ends(server: TestServer, api: Api, charger: Any,
                                                    push_service: PushStandin) -> None:
    await site_with_charger(api, "PUSH-1")
    driver = await driver_with_pin(server, api, "+91 90000 00081", balance=50_000)
    await api.post(f"/drivers/{driver['id']}/cards", {"id_tag": "PUSHCARD", "mode": "commercial"})
    async with phone(server) as p:
        await p.login("9000000081")
        async with p.session.get(p.url("/me/push/key")) as resp:
            key = (await resp.json())["key"]
        _, html, _ = await p.get("/me")
        assert 'id="push-on"' in html
        csrf = {"X-CSRF-Token": CSRF.search(html)[1]}
        live, gone = push_service.subscribe(key), push_service.subscribe(key)
        for sub in (live, gone, {"endpoint": "ftp://x", "keys": {"p256dh": "", "auth": ""}}):
            async with p.session.post(p.url("/me/push"), json=sub, headers=csrf) as resp:
                assert resp.status == (400 if sub["endpoint"] == "ftp://x" else 200)
    push_service.gone.add(gone["endpoint"].rsplit("/", 1)[1])
    async with charger("PUSH-1", "secret-pass-1") as cp:
        await cp.boot()
        started = await cp.start_tx(1, "PUSHCARD", meter_start=0)
        await cp.stop(started.transaction_id, meter_stop=2_500, reason="EVDisconnected")

        async def told() -> bool:
            return bool(push_service.received)

        await eventually(told)
    assert push_service.refused == []
    (got,) = push_service.received
    assert got["message"]["title"] == "Charging has ended"
    assert got["message"]["body"] == "PUSH-1: 2.50 kWh · ₹50.00"
    assert got["message"]["url"].startswith("/me/receipts/")

    async def dropped() -> bool:
        return await server.app[keys.DATABASE].read(_endpoints) == [live["endpoint"]]

    await eventually(dropped)


async def test_a_stop_just_before_shutdown_is_still_told(server: TestServer, api: Api,
                                                         charger: Any, push_service: PushStandin,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The box shut down while the push loop was gathering stops: the phone is told all the
    same (it was dropped with the loop)."""
    monkeypatch.setattr(push, "TELL_GATHER_S", 60.0)  # the shutdown comes within it, surely
    await _subscribed_driver(server, api, push_service, "PUSH-LAST", "+91 90000 00083",
                             "LASTCARD")
    async with charger("PUSH-LAST", "secret-pass-1") as cp:
        await cp.boot()
        started = await cp.start_tx(1, "LASTCARD", meter_start=0)
        await cp.stop(started.transaction_id, meter_stop=1_000, reason="EVDisconnected")
    assert push_service.received == []  # still gathering
    await server.close()
    assert [m["message"]["body"] for m in push_service.received] == ["PUSH-LAST: 1.00 kWh · ₹20.00"]


@pytest.mark.skipif(backend() != "postgresql", reason="many processes need PostgreSQL")
async def test_a_hosted_installation_tells_a_stop_once(server: TestServer, api: Api,
                                                       settings: Any, tmp_path: Path,
                                                       push_service: PushStandin) -> None:
    """Hosted: a second `appliance serve` on the same database (with the first's keys, as the
    README's set-up copies them) holds the charger. Its stop reaches the first process's bus
    too, and the phone is told once, by the process that answered the stop (each process told
    it: a driver had one notice per process)."""
    other = ApplianceProcess(tmp_path / "second", free_port())
    other.data_dir.mkdir()
    for name in ("secret.key", "payments.key", "vapid.pem"):
        if (settings.data_path / name).exists():
            shutil.copy2(settings.data_path / name, other.data_dir / name)
    await other.start()
    try:
        await _subscribed_driver(server, api, push_service, "PUSH-2", "+91 90000 00082",
                                 "PUSHCARD2")
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"ws://127.0.0.1:{other.port}/ocpp/PUSH-2",
                                          protocols=("ocpp1.6",),
                                          headers={"Authorization": basic_auth(
                                              "PUSH-2", "secret-pass-1")})
            cp = SimCharger("PUSH-2", ClientTransport(ws))
            task = asyncio.create_task(cp.start())
            try:
                await cp.boot()
                started = await cp.start_tx(1, "PUSHCARD2", meter_start=0)
                await cp.stop(started.transaction_id, meter_stop=1_000, reason="EVDisconnected")

                async def told() -> bool:
                    return bool(push_service.received)

                await eventually(told, timeout=10)
                await asyncio.sleep(3 * TELL_GATHER_S)  # what the first process would tell
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await task
                await ws.close()
    finally:
        other.kill(signal.SIGTERM)
    assert push_service.refused == []
    assert len(push_service.received) == 1
    assert push_service.received[0]["message"]["body"] == "PUSH-2: 1.00 kWh · ₹20.00"
