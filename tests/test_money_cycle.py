"""A charged Authorize / StartTransaction / MeterValues / StopTransaction cycle on the writer:
the statements each call runs (pinned, so a change that reads the same rows again shows up
here, not only in bench/writer.py), and that nothing a decision read is kept past its call: a
top-up or a block between Authorize and the start changes the start's answer, and a site
setting saved while sessions run counts from the next watchdog batch on.

Against the test backend's real database (SQLite file or PostgreSQL), in-process."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from appliance.app import open_database
from appliance.billing import accounts, ledger, tariffs
from appliance.billing import authorize as auth
from appliance.charging import metering
from appliance.charging.admin import create_station
from appliance.db import kept_sessions
from appliance.db.models import Account, ChargingSession, Station
from appliance.db.models_money import LedgerEntry
from appliance.db.site import store_value

T0 = datetime(2026, 11, 3, 8, 0, 0)
# Statements per call of a charged cycle (round four: 12, 27 and 24). A call that reads a row it
# has read already, or runs a statement per session, breaks these.
AUTHORIZE, START, STOP = 4, 11, 13


def _ocpp_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _site(balance: int) -> tuple[int, int]:
    """A station, a tariff with a minimum to start of 50.00 and a driver with two commercial
    cards (C1, C2) and `balance`: (station id, driver id)."""
    tariff = tariffs.create_tariff({"name": "site", "energy_per_kwh": "20.00",
                                    "session_fee": "5.00", "min_to_start": 5000}, "INR")
    tariffs.assign(tariff["id"], None, None)
    create_station("CYCLE-1", {})
    station = Station.get(Station.cpid == "CYCLE-1")
    station.approved = True
    station.save()
    driver = accounts.create_driver({"name": "C", "phone": "+91 90000 11111"}, "INR")
    for tag in ("C1", "C2"):
        accounts.bind_card(driver["id"], tag, "commercial", None)
    if balance:
        accounts.topup(driver["id"], balance, "cash", "", "topup:c:0", "test", "")
    return station.id, driver["id"]


def _start(station_id: int, tag: str, connector: int, at: datetime) -> tuple[int, str]:
    tx, decision = auth.start_transaction(station_id, {
        "connectorId": connector, "idTag": tag, "meterStart": 1000,
        "timestamp": _ocpp_time(at)}, "{}", at, 300, [])
    return tx, decision.status


def _meter(station_id: int, tx: int, connector: int, wh: int, at: datetime
           ) -> tuple[Any, ...]:
    payload = {"connectorId": connector, "transactionId": tx, "meterValue": [{
        "timestamp": _ocpp_time(at), "sampledValue": [
            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"}]}]}
    return (station_id, payload, at, metering.parse_moments(payload["meterValue"]))


@contextlib.contextmanager
def _counted(db: Any) -> Iterator[list[str]]:
    """Every statement `db` runs meanwhile, in the list it yields."""
    statements: list[str] = []
    plain = db.execute_sql

    def counting(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return plain(sql, params, *args, **kwargs)

    db.execute_sql = counting
    try:
        yield statements
    finally:
        db.execute_sql = plain


def test_a_cycle_runs_its_pinned_statements(make_settings: Any) -> None:
    """Authorize, start, MeterValues and stop of a card charged to an account (which has another
    session running) run AUTHORIZE, START and STOP statements, and charge what they did."""
    database = open_database(make_settings())
    db = database.db

    def run() -> None:
        station_id, driver_id = _site(1_000_000)
        other, _ = _start(station_id, "C1", 1, T0)  # the account's other open session
        with _counted(db) as statements:
            def counted(call: Callable[[], Any]) -> tuple[Any, int]:
                statements.clear()  # (run_sync's transaction holds the calls, as the writer's)
                out = call()
                return out, len(statements)

            at = T0 + timedelta(minutes=1)
            decision, n_auth = counted(lambda: auth.authorize("C2", station_id, at))
            assert decision.status == "Accepted"
            (tx, status), n_start = counted(lambda: _start(station_id, "C2", 2, at))
            assert status == "Accepted"
            stops, _ = counted(lambda: auth.meter_values_many([
                _meter(station_id, tx, 2, 2500, at + timedelta(minutes=5)),
                _meter(station_id, other, 1, 2000, at + timedelta(minutes=5))]))
            assert [s for _, s in stops] == [False, False]
            end = at + timedelta(minutes=10)
            answer, n_stop = counted(lambda: auth.stop_transaction(station_id, {
                "transactionId": tx, "idTag": "C2", "meterStop": 4000,
                "timestamp": _ocpp_time(end), "reason": "Local"}, "{}", end, 300, 22_000))
            assert answer is not None and answer.status == "Accepted"
        assert (n_auth, n_start, n_stop) == (AUTHORIZE, START, STOP)
        session = ChargingSession.get(ChargingSession.transaction_id == tx)
        assert session.settled and session.fee_minor == 500 + 6000  # fee + 3 kWh at 20.00
        charge = LedgerEntry.get(LedgerEntry.reference == f"charge:{session.id}")
        account = Account.get(Account.driver == driver_id)
        assert charge.amount == -session.fee_minor == charge.balance_after - 1_000_000
        assert account.balance == 1_000_000 - session.fee_minor
        # The stop again (a replay): same session, no second charge.
        again = auth.stop_transaction(station_id, {
            "transactionId": tx, "idTag": "C2", "meterStop": 4000,
            "timestamp": _ocpp_time(end), "reason": "Local"}, "{}", end, 300, 22_000)
        assert again is not None
        assert Account.get(Account.driver == driver_id).balance == account.balance
        assert ledger.ledger_sums(account.id) == (account.balance, account.held)

    database.run_sync(run)
    db.close()


def test_what_changed_since_authorize_decides_the_start(make_settings: Any) -> None:
    """Authorize's answer is no promise: a top-up between it and the start lets the start in,
    a block or a spend between them keeps the start out."""
    database = open_database(make_settings())

    def run() -> None:
        station_id, driver_id = _site(0)
        at = T0
        assert auth.authorize("C1", station_id, at).status == "Blocked"  # nothing to spend
        accounts.topup(driver_id, 6000, "cash", "", "topup:c:1", "test", "")
        tx, status = _start(station_id, "C1", 1, at)
        assert status == "Accepted"
        # A spend between Authorize and the start: the first session's charge of 55.00.
        assert auth.authorize("C2", station_id, at).status == "Accepted"
        end = at + timedelta(minutes=10)
        auth.stop_transaction(station_id, {"transactionId": tx, "meterStop": 3500,
                                           "timestamp": _ocpp_time(end)}, "{}", end, 300,
                              22_000)
        assert Account.get(Account.driver == driver_id).balance == 6000 - 5500
        assert _start(station_id, "C2", 2, end)[1] == "Blocked"
        # A block between them.
        accounts.topup(driver_id, 100_000, "cash", "", "topup:c:2", "test", "")
        assert auth.authorize("C1", station_id, end).status == "Accepted"
        accounts.update_driver(driver_id, {"blocked": True})
        assert _start(station_id, "C1", 1, end + timedelta(seconds=5))[1] == "Blocked"

    database.run_sync(run)
    database.db.close()


def test_a_saved_setting_counts_from_the_next_watchdog_batch(make_settings: Any) -> None:
    """The site's default overdraft, saved while a session runs, decides the next MeterValues
    batch's running-out watchdog (nothing keeps the old value)."""
    database = open_database(make_settings())

    def run() -> None:
        station_id, driver_id = _site(6000)
        tx, status = _start(station_id, "C1", 1, T0)
        assert status == "Accepted"

        def batch(wh: int, minutes: int) -> bool:
            found = auth.meter_values_many([_meter(station_id, tx, 1, wh,
                                                   T0 + timedelta(minutes=minutes))])
            return bool(found[0][1])

        # 2.7 kWh at 20.00 + 5.00 is 59.00, plus a minute at 7.2 kW (2.40): over 60.00.
        assert batch(3700, 5)
        store_value(ledger.SITE_OVERDRAFT, 100_000, "test")
        assert not batch(3800, 6)  # 61.00 + 2.40 < 60.00 + 1,000.00 of overdraft
        store_value(ledger.SITE_OVERDRAFT, 0, "test")
        assert batch(3900, 7)
        assert Account.get(Account.driver == driver_id).balance == 6000

    database.run_sync(run)
    database.db.close()


def test_a_decision_near_the_limit_counts_the_other_session_at_its_exact_cost(
        make_settings: Any) -> None:
    """A decision counts the account's other open session from an upper bound of its cost when
    the watchdog priced it lately; at the limit, the bound (here some 2.40 above: the
    watchdog's price looks one sample ahead) must not refuse a start the exact cost allows,
    and a refusal names the exact figure."""
    database = open_database(make_settings())

    def run() -> None:
        station_id, driver_id = _site(7500)
        tx, status = _start(station_id, "C1", 1, T0)
        assert status == "Accepted"
        at = T0 + timedelta(minutes=5)
        # 1 kWh at 20.00 + 5.00: 25.00 so far; the watchdog prices it (and remembers it).
        assert not auth.meter_values_many([_meter(station_id, tx, 1, 2000, at)])[0][1]
        # 75.00 - 25.00 leaves exactly the 50.00 the tariff needs to start.
        assert auth.authorize("C2", station_id, at).status == "Accepted"
        ledger.post(ledger.Posting(Account.get(Account.driver == driver_id).id, -1,
                                   "adjustment", "adjust:c:1", actor="test"))
        refused = auth.decide("C2", station_id, at)
        assert refused.status == "Blocked"
        assert refused.reason == "balance too low: available 4999, needs 5000"

    database.run_sync(run)
    database.db.close()


def test_the_first_meter_values_after_a_start_cost_no_more_than_the_next(
        make_settings: Any) -> None:
    """A start prices its session at the start, so the watchdog bounds it from its first
    MeterValues on: the first batch of one of an account's two new sessions runs no more
    statements than the next batch, but for reading its own session (kept after it on SQLite);
    it used to read the account's other session whole too, to price both exactly. Both judge
    the same."""
    database = open_database(make_settings())
    db = database.db

    def run() -> None:
        station_id, _ = _site(1_000_000)
        one, _ = _start(station_id, "C1", 1, T0)
        _start(station_id, "C2", 2, T0 + timedelta(seconds=30))  # its MeterValues come later
        counts = []
        with _counted(db) as statements:
            for minute, wh in ((1, 1500), (2, 2000)):
                statements.clear()
                stops = auth.meter_values_many([_meter(station_id, one, 1, wh,
                                                       T0 + timedelta(minutes=minute))])
                assert [s for _, s in stops] == [False]
                counts.append(len(statements))
        keeps = kept_sessions.kept() is not None  # the second batch finds its session kept
        assert counts[0] - counts[1] == (1 if keeps else 0), counts

    database.run_sync(run)
    db.close()
