"""Shared helpers for the money tests: a tariff, a driver with a commercial card and a balance."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import Api

_PHONES = itertools.count(43210)  # a phone number belongs to one driver
INR_TARIFF = {"name": "Standard", "energy_per_kwh": "20", "time_per_hour": "0",
              "session_fee": "0", "min_to_start": 5000, "tax_rate": "0.18"}


async def site_tariff(api: Api, **fields: Any) -> dict[str, Any]:
    tariff = await api.post("/tariffs", {**INR_TARIFF, **fields})
    await api.post(f"/tariffs/{tariff['id']}/assignments", {"station_id": None})
    return dict(tariff)


async def driver_with_card(api: Api, id_tag: str, balance: int = 0, mode: str = "commercial",
                           overdraft: int | None = None, name: str = "Asha Patel"
                           ) -> dict[str, Any]:
    driver = await api.post("/drivers", {"name": name, "phone": f"+91 98765 {next(_PHONES):05d}",
                                         "overdraft": overdraft})
    await api.post(f"/drivers/{driver['id']}/cards", {"id_tag": id_tag, "mode": mode})
    if balance:
        await api.post(f"/drivers/{driver['id']}/topups", {"amount": balance, "method": "cash"})
    return dict(driver)


async def account(api: Api, driver_id: int) -> dict[str, int]:
    driver = await api.get(f"/drivers/{driver_id}")
    return {k: v["amount"] for k, v in driver["account"].items()}
