"""Kill the process and start it again: nothing that was answered is lost. SIGTERM stops cleanly."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.charger import ClientTransport, SimCharger
from tests.conftest import basic_auth
from tests.proc import ApplianceProcess, cli, free_port

# The appliance runs in a subprocess here; the test drives it with blocking calls.
pytestmark = pytest.mark.allow_loop_stall


async def _api(session: aiohttp.ClientSession, app: ApplianceProcess, token: str, method: str,
               path: str, body: Any = None) -> Any:
    async with session.request(method, app.base + "/api/v1" + path, json=body,
                               headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json()


async def _charger_run(app: ApplianceProcess, n: int) -> list[int]:
    """Boot, then n answered transactions, the last one left open. Returns transaction ids."""
    import asyncio
    import contextlib

    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"ws://127.0.0.1:{app.port}/ocpp/KILL-1",
                                      protocols=("ocpp1.6",),
                                      headers={"Authorization": basic_auth("KILL-1",
                                                                           "secret-pass-1")})
        cp = SimCharger("KILL-1", ClientTransport(ws))
        task = asyncio.create_task(cp.start())
        await cp.boot()
        txs = []
        for i in range(n):
            started = await cp.start_tx(1, "CARD1", meter_start=i * 1000)
            txs.append(started.transaction_id)
            await cp.meter(1, started.transaction_id, i * 1000 + 400)
            if i < n - 1:
                await cp.stop(started.transaction_id, meter_stop=i * 1000 + 500)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task
        await ws.close()
        return txs


async def test_kill_9_loses_nothing_answered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = ApplianceProcess(data, free_port())
    await app.start()
    token = cli(data, "token", "create", "--name", "t").strip()
    async with aiohttp.ClientSession() as session:
        await _api(session, app, token, "POST", "/stations",
                   {"id": "KILL-1", "password": "secret-pass-1"})
        await _api(session, app, token, "POST", "/cards", {"id_tag": "CARD1"})
    txs = await _charger_run(app, 5)
    app.kill(signal.SIGKILL)  # right after the last answer: no clean shutdown
    await app.start()
    async with aiohttp.ClientSession() as session:
        sessions = (await _api(session, app, token, "GET", "/sessions?station_id=KILL-1"))["items"]
        by_tx = {s["transaction_id"]: s for s in sessions}
        assert sorted(by_tx) == sorted(txs)
        for tx in txs[:-1]:
            assert by_tx[tx]["state"] == "completed" and by_tx[tx]["energy_wh"] == 500
        assert by_tx[txs[-1]]["state"] == "active" and by_tx[txs[-1]]["energy_wh"] == 400
        # Transaction ids are never reused after a restart.
        more = await _charger_run(app, 1)
        assert more[0] > max(txs)
    assert app.kill(signal.SIGTERM) == 0
    assert "ok    integrity_check" in cli(data, "check")
