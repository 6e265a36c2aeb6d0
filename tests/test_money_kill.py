"""Kill -9 around a settlement: after restart the ledger agrees (`appliance check` exits 0) and
the charger's retried StopTransaction charges nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.charger import ClientTransport, SimCharger
from tests.conftest import basic_auth
from tests.proc import ApplianceProcess, cli, free_port

# The appliance runs in a subprocess here; the test drives it with blocking calls.
pytestmark = pytest.mark.allow_loop_stall


async def _api(app: ApplianceProcess, token: str, method: str, path: str,
               body: Any = None) -> Any:
    async with aiohttp.ClientSession() as session, session.request(
            method, app.base + "/api/v1" + path, json=body,
            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json()


@contextlib.asynccontextmanager
async def _charger(app: ApplianceProcess) -> AsyncIterator[SimCharger]:
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": basic_auth("KILL-M", "pw-12345678")}
        ws = await session.ws_connect(f"ws://127.0.0.1:{app.port}/ocpp/KILL-M",
                                      protocols=("ocpp1.6",), headers=auth)
        cp = SimCharger("KILL-M", ClientTransport(ws))
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
            await ws.close()


async def test_kill_9_during_settlement(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = ApplianceProcess(data, free_port())
    await app.start()
    token = cli(data, "token", "create", "--name", "t").strip()
    await _api(app, token, "POST", "/stations", {"id": "KILL-M", "password": "pw-12345678"})
    tariff = await _api(app, token, "POST", "/tariffs", {"name": "t", "energy_per_kwh": "10"})
    await _api(app, token, "POST", f"/tariffs/{tariff['id']}/assignments", {})
    driver = await _api(app, token, "POST", "/drivers", {"name": "Kay"})
    await _api(app, token, "POST", f"/drivers/{driver['id']}/cards",
               {"id_tag": "KILL01", "mode": "commercial"})
    await _api(app, token, "POST", f"/drivers/{driver['id']}/topups",
               {"amount": 100_000, "method": "cash"})
    stops = []
    for delay in (0.0, 0.005, 0.02):  # killed before, around and after the stop's commit
        async with _charger(app) as cp:
            await cp.boot()
            started = await cp.start_tx(1, "KILL01", meter_start=0)
            stop = {"transaction_id": started.transaction_id, "meter_stop": 1500,
                    "timestamp": "2030-01-01T00:00:00Z"}
            stops.append(stop)
            pending = asyncio.create_task(cp.stop(**stop))
            await asyncio.sleep(delay)
            app.kill(signal.SIGKILL)
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        await app.start()
        async with _charger(app) as cp:  # the charger sends its unanswered stop again
            await cp.boot()
            await cp.stop(**stop)
    app.kill(signal.SIGTERM)
    check = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "appliance", "check", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "0 sessions charged more than once" in check.stdout
    await app.start()
    ledger = (await _api(app, token, "GET", f"/drivers/{driver['id']}/ledger"))["items"]
    charges = [r for r in ledger if r["kind"] == "charge"]
    assert len(charges) == 3 and {r["amount"]["amount"] for r in charges} == {-1500}
    assert ledger[-1]["balance_after"]["amount"] == 100_000 - 3 * 1500
    app.kill(signal.SIGTERM)
