#!/usr/bin/env python3
"""Seed a bench site straight into an appliance's database before it serves, through the
appliance's own functions (the ones the JSON API calls): the stations (Basic auth, not
managed), a site tariff, and per charger a driver with a balance and its two tags as commercial
cards. What `load.py`'s `setup_site` does through the API, in seconds instead of minutes at
10,000 chargers: one transaction per few hundred chargers, no HTTP, no per-call commit.

Run by `load.py` (`--setup seed`, the default) as `python bench/seed.py --data-dir DIR` with
PYTHONPATH at the tree under test, so each target seeds with its own code; the charger ids come
on stdin as a JSON list. The server must not be running yet (the API path is for that:
`--setup api`). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from load import BALANCE_MINOR, BENCH_TARIFF, PASSWORD, tags_of  # the same site as the API path

CHUNK = 500  # chargers per transaction
ACTOR = "bench"


def seed(data_dir: str, ids: list[str]) -> float:
    from appliance.app import open_database
    from appliance.billing import accounts, tariffs
    from appliance.charging import admin
    from appliance.config import load_settings
    from appliance.db.models import Driver
    from appliance.db.site import DEFAULT_SITE, defaults_from, load_site

    settings = load_settings(None, overrides={"data_dir": data_dir})
    database = open_database(settings)  # migrated, as `serve` finds it
    t0 = time.monotonic()
    try:
        currency = database.run_sync(load_site, defaults_from(settings)).currency

        def tariff() -> None:
            made = tariffs.create_tariff(dict(BENCH_TARIFF), currency, ACTOR, DEFAULT_SITE)
            tariffs.assign(made["id"], None, None)

        database.run_sync(tariff)
        position = {cpid: n for n, cpid in enumerate(ids)}  # one phone number per driver

        def chunk(part: list[str]) -> None:
            for cpid in part:
                admin.create_station(cpid, {"password": PASSWORD, "managed": False})
                phone = f"+91 9{position[cpid]:09d}"
                if hasattr(Driver, "phone_key"):  # the check that no other driver has it: indexed
                    driver: dict[str, Any] = accounts.create_driver(
                        {"name": f"Bench driver {cpid}", "phone": phone}, currency)
                else:
                    # code from before the key: its check that no other driver has the number
                    # reads every driver (quadratic over 10,000); the numbers are unique here
                    driver = accounts.create_driver({"name": f"Bench driver {cpid}"}, currency)
                    Driver.update(phone=phone).where(Driver.id == driver["id"]).execute()
                for tag in tags_of(cpid):
                    accounts.bind_card(driver["id"], tag, "commercial", None)
                accounts.topup(driver["id"], BALANCE_MINOR, "cash", "", f"topup:seed-{cpid}",
                               ACTOR, "")

        for start in range(0, len(ids), CHUNK):
            database.run_sync(chunk, ids[start:start + CHUNK])
    finally:
        database.db.close()
    return time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    ids = json.load(sys.stdin)
    took = seed(args.data_dir, ids)
    print(f"seeded {len(ids)} stations, drivers and cards in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
