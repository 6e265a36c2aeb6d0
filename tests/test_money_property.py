"""Property: any sequence of charger messages for a set of sessions (interleaved, duplicated,
retried after a crash that rolled back, offline replays, restarts) leaves every balance equal to
its ledger, charges each finished transaction exactly once and never charges a personal card.

Driven through the same sync functions the OCPP handlers call, against a real SQLite file."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.billing import accounts, ledger, tariffs
from appliance.billing import authorize as auth
from appliance.billing.check import _check
from appliance.billing.settlement import sweep
from appliance.db import maintenance
from appliance.db.database import Database
from appliance.db.models import ChargingSession, Station, utcnow
from appliance.db.models_money import LedgerEntry
from tests.charger import now as charger_now
from tests.conftest import Api, add_station
from tests.money_fixtures import account, driver_with_card, site_tariff
from tests.pg import backend

CARDS = ("RICH", "POOR", "OWN")  # commercial with money, commercial nearly empty, personal
COUNTER = itertools.count()


class Crash(Exception):
    """The process died before the batch committed: nothing of the call is kept."""


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    path = Path(tmp_path_factory.mktemp("money")) / "prop.db"
    cluster = request.getfixturevalue("pg_cluster") if backend() == "postgresql" else None
    url = cluster.create_database() if cluster else f"sqlite:///{path}"
    db = Database(url)
    from appliance.db.schema import ALL_MODELS  # all of them: site settings are read too

    db.db.bind(ALL_MODELS)
    maintenance.migrate(db, path.parent / "backups")
    yield db
    db.db.close()
    if cluster:
        cluster.drop_database(url)


@dataclass
class Site:
    station_id: int
    cards: dict[str, str]
    drivers: dict[str, int]
    tx: dict[int, int] = field(default_factory=dict)


def make_site(n: int) -> Site:
    station = Station.create(cpid=f"P{n}", key=f"P{n}", approved=True, registration="Accepted")
    tariff = tariffs.create_tariff({"name": "t", "energy_per_kwh": "12.3456",
                                    "time_per_hour": "3", "session_fee": "5",
                                    "session_fee_min_wh": 50, "min_to_start": 2000,
                                    "tax_rate": "0.18"}, "INR")
    tariffs.assign(tariff["id"], f"P{n}", None)
    rich = accounts.create_driver({"name": "Rich", "overdraft": 1000}, "INR")
    poor = accounts.create_driver({"name": "Poor"}, "INR")
    cards = {c: f"{c}{n}" for c in CARDS}
    accounts.bind_card(rich["id"], cards["RICH"], "commercial", None)
    accounts.bind_card(rich["id"], cards["OWN"], "personal", None)
    accounts.bind_card(poor["id"], cards["POOR"], "commercial", None)
    accounts.topup(rich["id"], 50_000, "cash", "", f"topup:test:{n}", "test", "")
    accounts.topup(poor["id"], 100, "cash", "", f"topup:test:{n}p", "test", "")
    return Site(station.id, cards, {"RICH": rich["id"], "POOR": poor["id"]})


def send(site: Site, msg: tuple[Any, ...], base: Any) -> None:
    kind, i, card, value = msg
    at = utcnow()
    if kind == "start":
        payload = {"connectorId": i + 1, "idTag": site.cards[card], "meterStart": 1000,
                   "timestamp": (base + timedelta(minutes=i)).isoformat() + "Z"}
        tx, _ = auth.start_transaction(site.station_id, payload, json.dumps(payload), at, 300, [])
        site.tx[i] = tx
    elif kind == "meter":
        payload = {"connectorId": i + 1, "transactionId": site.tx[i], "meterValue": [
            {"timestamp": (base + timedelta(minutes=i + value / 100)).isoformat() + "Z",
             "sampledValue": [{"value": str(1000 + value)},
                              {"value": str(value % 7000), "measurand": "Power.Active.Import",
                               "unit": "W"}]}]}
        auth.meter_values(site.station_id, payload, at)
    else:
        payload = {"transactionId": site.tx[i], "meterStop": 1000 + value, "reason": "Local",
                   "timestamp": (base + timedelta(minutes=i + 90)).isoformat() + "Z"}
        auth.stop_transaction(site.station_id, payload, json.dumps(payload), at, 300, 400_000)


@st.composite
def scenarios(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Per session: start, growing meter readings, maybe a stop; interleaved; then retries
    (duplicates later on), crashes (a message rolled back, then sent again) and restarts."""
    queues = []
    for i in range(draw(st.integers(1, 4))):
        card = draw(st.sampled_from(CARDS))
        readings = sorted(draw(st.lists(st.integers(0, 20_000), max_size=3)))
        msgs: list[tuple[Any, ...]] = [("start", i, card, 0)]
        msgs += [("meter", i, card, r) for r in readings]
        if draw(st.booleans()) or i == 0:
            msgs.append(("stop", i, card, (readings[-1] if readings else 0)
                         + draw(st.integers(0, 5_000))))
        queues.append(msgs)
    out: list[tuple[Any, ...]] = []
    while any(queues):
        q = draw(st.sampled_from([q for q in queues if q]))
        msg = q.pop(0)
        mode = draw(st.sampled_from(["plain"] * 5 + ["dup", "crash", "restart"]))
        out += [("crash", msg)] if mode == "crash" else []
        out.append(msg)
        if mode == "dup":
            out.insert(draw(st.integers(len(out), len(out) + 3)), msg)
        if mode == "restart":
            out.append(("restart",))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(script=scenarios())
def test_any_message_order_keeps_the_ledger_true(database: Database,
                                                 script: list[tuple[Any, ...]]) -> None:
    site = database.run_sync(make_site, next(COUNTER))
    base = utcnow() - timedelta(hours=3)  # offline replays: charger times well in the past
    for msg in script:
        if msg[0] == "restart":
            database.db.close()
            database.run_sync(sweep)
        elif msg[0] == "crash":
            with pytest.raises(Crash):
                database.run_sync(_then_crash, site, msg[1], base)
        else:
            database.run_sync(send, site, msg, base)
    database.run_sync(_assert_true, site, script)


def _then_crash(site: Site, msg: tuple[Any, ...], base: Any) -> None:
    known = dict(site.tx)
    send(site, msg, base)
    site.tx = known  # the charger never got the answer
    raise Crash


def _assert_true(site: Site, script: list[tuple[Any, ...]]) -> None:
    assert all(ok for ok, _ in _check()), _check()
    sessions = list(ChargingSession.select().where(ChargingSession.station == site.station_id))
    assert len(sessions) == len({m[1] for m in script if m[0] == "start"})
    for s in sessions:
        charges = list(LedgerEntry.select().where((LedgerEntry.session == s.id)
                                                  & (LedgerEntry.kind == "charge")))
        if s.mode == "personal":
            assert not charges and s.fee_minor in (None, 0)
        elif s.state == "completed":
            assert s.settled and [c.amount for c in charges] == ([-s.fee_minor]
                                                                 if s.fee_minor else [])
        else:
            assert not charges and not s.settled
    for name, driver_id in site.drivers.items():
        account_row = accounts.account_of(driver_id)
        fees = sum(s.fee_minor or 0 for s in sessions
                   if s.account_id == account_row.id and s.mode == "commercial" and s.settled)
        topped = 50_000 if name == "RICH" else 100
        assert ledger.ledger_sums(account_row.id) == (topped - fees, 0)
        assert account_row.balance == topped - fees


async def test_end_to_end_retries_and_offline_replay(api: Api, charger: Any) -> None:
    """Over WebSockets: a repeated start gets the same id, a repeated stop charges nothing, an
    offline start with a card we would refuse is accepted as a report and billed into debt."""
    await add_station(api, "PROP-1")
    await site_tariff(api, energy_per_kwh="10", min_to_start=3000)
    poor = await driver_with_card(api, "POOR99", balance=1000)
    rich = await driver_with_card(api, "RICH99", balance=90_000, name="Rich")
    past = (utcnow() - timedelta(hours=2)).isoformat() + "Z"
    async with charger("PROP-1", "secret-pass-1") as cp:
        await cp.boot()
        offline = await cp.start_tx(1, "POOR99", meter_start=10, timestamp=past)
        assert offline.id_tag_info["status"] == "Blocked" and offline.transaction_id > 0
        stamp = charger_now()
        first = await cp.start_tx(2, "RICH99", meter_start=0, timestamp=stamp)
        again = await cp.start_tx(2, "RICH99", meter_start=0, timestamp=stamp)  # a retry
        assert again.transaction_id == first.transaction_id
        await cp.stop(offline.transaction_id, meter_stop=2010, timestamp=past)
        for _ in range(2):
            await cp.stop(first.transaction_id, meter_stop=3000)
    assert await account(api, poor["id"]) == {
        "balance": 1000 - 2000, "held": 0, "open_cost": 0, "available": -1000, "overdraft": 0,
        "debt": 1000}
    assert (await account(api, rich["id"]))["balance"] == 90_000 - 3000

