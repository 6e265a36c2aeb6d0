"""Managed configuration after an Accepted boot, and the status trigger after a reconnect."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models import StationNotice
from appliance.ocpp import endpoint
from tests.conftest import Api, add_station, eventually


async def _notices(server: TestServer) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        return [json.loads(n.payload) for n in StationNotice.select()
                .where(StationNotice.kind == "managed_configuration")]

    return await server.app[keys.DATABASE].read(read)


async def test_profile_applied_and_refusals_kept(server: TestServer, api: Api,
                                                 charger: Any) -> None:
    await add_station(api, "MAN-1", managed=True)
    async with charger("MAN-1", "secret-pass-1") as cp:
        cp.configuration.update({"StopTransactionOnInvalidId": "TRUE",
                                 "MaxEnergyOnInvalidId": "500",
                                 "MeterValueSampleInterval": "900",
                                 "MeterValuesSampledData": "Energy.Active.Import.Register"})
        await cp.boot()

        async def done() -> bool:
            return bool(await _notices(server))

        await eventually(done)
    [notice] = await _notices(server)
    assert notice["outcome"] == {
        "StopTransactionOnInvalidId": "already set", "MaxEnergyOnInvalidId": "Accepted",
        "AllowOfflineTxForUnknownId": "unknown to the charger",
        "MeterValueSampleInterval": "Accepted", "MeterValuesSampledData": "Accepted"}
    assert notice["refused"] == ["AllowOfflineTxForUnknownId"]
    assert cp.configuration["MeterValueSampleInterval"] == "60"
    assert cp.configuration["MeterValuesSampledData"] == (
        "Energy.Active.Import.Register,Power.Active.Import")


async def test_unmanaged_station_is_left_alone(server: TestServer, api: Api,
                                               charger: Any) -> None:
    await add_station(api, "MAN-2", managed=False)
    async with charger("MAN-2", "secret-pass-1") as cp:
        await cp.boot()
        await api.post("/stations/MAN-2/ocpp/ClearCache", {}, expect=200)
        assert [a for a, _ in cp.received] == ["ClearCache"]  # nothing else was sent


async def test_reconnect_without_boot_asks_for_status(server: TestServer, api: Api,
                                                      charger: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(endpoint, "RECONNECT_TRIGGER_DELAY_S", 0.2)
    await add_station(api, "MAN-3", managed=True)
    async with charger("MAN-3", "secret-pass-1") as cp:
        await cp.boot()  # Accepted once
    async with charger("MAN-3", "secret-pass-1") as cp:
        async def triggered() -> bool:
            return ("TriggerMessage", {"requested_message": "StatusNotification"}) in cp.received

        await eventually(triggered)
