"""The SQLite writer keeps what the running-out watchdog read of each account between
MeterValues batches (`watch._read_batch`, `kept_sessions.KeptSessions.accounts`): what
it hands the watchdog is exactly what reading the accounts again gives, whatever changed them
meanwhile -- a top-up, a charge, an adjustment, a hold placed, bound and released, a QR start's kWh
limit, the driver's or the site's overdraft, a stop and a new start of another card, a
rolled-back savepoint, a commit of another connection.

SQLite only: on PostgreSQL nothing is kept (several processes write the accounts)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import apsw
import pytest

from appliance.app import open_database
from appliance.billing import accounts, ledger, tariffs, watch
from appliance.billing import authorize as auth
from appliance.charging import batched, metering
from appliance.charging.admin import create_station
from appliance.db import kept_sessions
from appliance.db.models import Account, ChargingSession, Station
from appliance.db.models_driver import QrStart
from appliance.db.models_money import Hold
from appliance.db.site import store_value

T0 = datetime(2026, 11, 3, 8, 0, 0)
CARDS = {"A": ("A1", "A2", "A3"), "B": ("B1", "B2"), "C": ("C1",)}


class _Undo(Exception):
    """Raised inside a savepoint to roll it back."""


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _view(batch: Any) -> dict[str, Any]:
    """A `_Batch` as plain values (open sessions by id, energy, start and tariff)."""
    return {"accounts": dict(batch.accounts), "overdrafts": dict(batch.overdrafts),
            "holds": dict(batch.holds), "limits": dict(batch.limits_wh),
            "open": {a: sorted((o.id, o.energy_wh, o.started_at, o.tariff_snapshot)
                               for o in found)
                     for a, found in batch.open_by_account.items() if found}}


def _compare(sessions: list[ChargingSession]) -> int:
    """What the watchdog gets for these sessions' accounts, kept against read, in the same
    state (the kept path first: it may read and keep)."""
    sessions = [s for s in sessions if s.state == "active" and s.account_id is not None]
    if not sessions:
        return 0
    kept = _view(watch._read_batch(sessions))
    watch.KEEP_ACCOUNTS = False
    try:
        read = _view(watch._read_batch(sessions))
    finally:
        watch.KEEP_ACCOUNTS = True
    assert kept == read
    return 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_accounts_are_what_reading_them_gives(make_settings: Any, seed: int) -> None:
    database = open_database(make_settings())
    if not database.is_sqlite:
        database.db.close()
        pytest.skip("accounts are kept on SQLite only")
    path = database.db.database
    rng = random.Random(seed)

    def run() -> int:
        tariff = tariffs.create_tariff({"name": "site", "energy_per_kwh": "20.00",
                                        "session_fee": "5.00"}, "INR")
        tariffs.assign(tariff["id"], None, None)
        stations = []
        for n in (1, 2):
            create_station(f"KA-{n}", {})
            station = Station.get(Station.cpid == f"KA-{n}")
            station.approved = True
            station.save()
            stations.append(station.id)
        drivers = {}
        for name, cards in CARDS.items():
            phone = f"+91 90000 1000{len(drivers)}"
            driver = accounts.create_driver({"name": name, "phone": phone}, "INR")
            for card in cards:
                accounts.bind_card(driver["id"], card, "commercial", None)
            accounts.topup(driver["id"], 500_000, "cash", "", f"topup:{name}:0", "test", "")
            drivers[name] = driver["id"]
        cards = [card for group in CARDS.values() for card in group]
        connectors = [(s, c) for s in stations for c in (1, 2)]
        tx: dict[tuple[int, int], int] = {}
        register: dict[tuple[int, int], int] = {}
        at = T0
        for i, where in enumerate(connectors):
            tx[where], _ = auth.start_transaction(where[0], {
                "connectorId": where[1], "idTag": cards[i], "meterStart": 1000,
                "timestamp": _time(at)}, "{}", at, 300, [])
            register[where] = 1000
        compared = 0
        qr_id = 0
        for step in range(60):
            at = T0 + timedelta(minutes=step + 1)
            name = rng.choice(list(drivers))
            account = Account.get(Account.driver == drivers[name])
            session_of = {w: ChargingSession.get(ChargingSession.transaction_id == t)
                          for w, t in tx.items()}
            action = rng.randrange(10)
            if action == 0:
                accounts.topup(drivers[name], rng.randint(1, 9000), "cash", "",
                               f"topup:{name}:{step}", "test", "")
            elif action == 1:
                ledger.post(ledger.Posting(account.id, -rng.randint(1, 900), "adjustment",
                                           f"adjust:{step}", actor="test"))
            elif action == 2:
                accounts.update_driver(drivers[name], {"overdraft": rng.choice(
                    [None, 0, 100_000, 700_000])})
            elif action == 3:
                store_value(ledger.SITE_OVERDRAFT, rng.choice([0, 5000, 900_000]), "test")
            elif action == 4:  # a hold placed (a QR start's), bound to no session yet
                ledger.place_hold(account.id, rng.randint(100, 50_000))
            elif action == 5:  # a hold bound to a session of its account (captured), or all
                # of a session's released
                session = rng.choice(list(session_of.values()))
                unbound = Hold.get_or_none((Hold.account == session.account_id)
                                           & Hold.session.is_null() & (Hold.state == "open"))
                if unbound is not None and rng.random() < 0.7:
                    unbound.session = session.id
                    unbound.state = "captured"
                    unbound.save()
                else:
                    ledger.release_holds(session.id, "test")
            elif action == 6:
                session = rng.choice(list(session_of.values()))
                if session.account_id is not None:
                    qr_id += 1
                    found = QrStart.get_or_none(QrStart.session == session.id)
                    if found is None:
                        QrStart.create(driver=session.driver_id, account=session.account_id,
                                       station=session.station_id,
                                       connector_id=session.connector_id, id_tag=f"QR{qr_id}",
                                       idem_key=f"qr:{qr_id}", amount=0, state="started",
                                       limit_wh=rng.randint(5_000, 90_000), session=session.id)
                    else:
                        found.limit_wh = rng.randint(5_000, 90_000)
                        found.save()
            elif action == 7:  # a stop, and another card starts on the connector
                where = rng.choice(connectors)
                register[where] += 500
                auth.stop_transaction(where[0], {
                    "transactionId": tx[where], "meterStop": register[where],
                    "timestamp": _time(at)}, "{}", at, 300, 22_000)
                tx[where], _ = auth.start_transaction(where[0], {
                    "connectorId": where[1], "idTag": rng.choice(cards),
                    "meterStart": register[where], "timestamp": _time(at)}, "{}", at, 300, [])
            elif action == 8:  # undone: nothing of it may stay
                try:
                    with database.db.atomic():
                        accounts.topup(drivers[name], 77_777, "cash", "", f"undo:{step}",
                                       "test", "")
                        accounts.update_driver(drivers[name], {"overdraft": 123_456})
                        raise _Undo
                except _Undo:
                    pass
            else:  # another connection changes the driver's overdraft and commits
                database.db.commit()
                other = apsw.Connection(path)
                other.execute("PRAGMA busy_timeout=5000")
                other.execute("UPDATE driver SET overdraft_minor = ? WHERE id = ?",
                              (rng.choice([0, 250_000]), drivers[name]))
                other.close()
                database.db.begin()
            # Right after the change, no batch having looked (sessions read, not the kept ones).
            ask = rng.sample(connectors, rng.randint(1, len(connectors)))
            compared += _compare([ChargingSession.get(ChargingSession.transaction_id == tx[w])
                                  for w in ask])
            # A MeterValues batch for some connectors: the watchdog reads (and keeps) accounts.
            chosen = rng.sample(connectors, rng.randint(1, len(connectors)))
            reports = []
            for where in chosen:
                register[where] += rng.randint(10, 900)
                payload = {"connectorId": where[1], "transactionId": tx[where], "meterValue": [{
                    "timestamp": _time(at), "sampledValue": [
                        {"value": str(register[where]), "unit": "Wh",
                         "measurand": "Energy.Active.Import.Register"},
                        {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"}]}]}
                reports.append((where[0], payload, at,
                                metering.parse_moments(payload["meterValue"])))
            auth.meter_values_many(reports)
            ask = rng.sample(connectors, rng.randint(1, len(connectors)))
            compared += _compare(list(batched.sessions_by_transaction(
                [tx[w] for w in ask]).values()))
        found = kept_sessions.kept()
        assert found is not None and found.accounts  # something was kept at the end
        return compared

    try:
        assert database.run_sync(run) > 80
    finally:
        database.db.close()
