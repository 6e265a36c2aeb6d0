"""Property: any interleaving of webhook, redirect, the charger's answers, the deadline, the stop,
restarts and the give-back loop (whose provider may fail for a while) leaves, for every walk-in
payment, its ledger rows (`payment:`, `refund:`, `capture:`) equal to what the provider says the
site keeps (captured - refunded), which is the session's fee; nothing is both kept and refunded.

Driven through the same sync functions the pages and the loop run, against a real database. The
provider is the boundary: its records are a small model here (paid, captured, refunded), the
part its HTTP stand-ins play in the other tests."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.billing import authorize as auth
from appliance.billing import qr, tariffs, walkin
from appliance.billing.check import _check
from appliance.billing.settlement import sweep
from appliance.db import maintenance
from appliance.db.database import Database
from appliance.db.models import ChargingSession, Station, utcnow
from appliance.db.models_driver import QrStart
from appliance.db.models_money import LedgerEntry
from appliance.db.models_payments import OnlinePayment
from appliance.payments.provider import Confirmation, Paid
from tests.pg import backend

COUNTER = itertools.count()
STEPS = ("webhook", "redirect", "accept", "refuse", "deadline", "stop", "restart", "loop",
         "loop_fails")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Any:
    path = Path(tmp_path_factory.mktemp("walkin")) / "prop.db"
    cluster = request.getfixturevalue("pg_cluster") if backend() == "postgresql" else None
    url = cluster.create_database() if cluster else f"sqlite:///{path}"
    db = Database(url)
    from appliance.db.schema import ALL_MODELS

    db.db.bind(ALL_MODELS)
    maintenance.migrate(db, path.parent / "backups")
    yield db
    db.db.close()
    if cluster:
        cluster.drop_database(url)


@dataclass
class ProviderRecord:
    """The provider's side of one payment."""

    ref: str
    manual: bool
    paid: int
    captured: int = 0
    refunded: int = 0
    voided: bool = False


@dataclass
class World:
    station_id: int
    cpid: str
    payment_id: int
    record: ProviderRecord
    tx: int | None = None


def make_world(n: int, manual: bool, amount: int) -> World:
    cpid = f"W{n}"
    station = Station.create(cpid=cpid, key=cpid, approved=True, registration="Accepted",
                             num_connectors=1)
    tariff = tariffs.create_tariff({"name": "t", "energy_per_kwh": "20", "session_fee": "5",
                                    "session_fee_min_wh": 50, "min_to_start": 1000}, "INR")
    tariffs.assign(tariff["id"], cpid, None)
    p = walkin.open_payment("stripe" if manual else "razorpay", manual, cpid, 1, amount, "INR",
                            None, utcnow())
    walkin.set_checkout(p.id, f"chk{n}", "https://pay.example/x")
    record = ProviderRecord(f"pay{n}", manual, amount, captured=0 if manual else amount)
    return World(station.id, cpid, p.id, record)


def _confirm(w: World) -> Confirmation:
    status = Paid.AUTHORIZED if w.record.manual else Paid.CAPTURED
    return Confirmation(status, w.record.ref, w.record.paid, "INR")


def _start(w: World) -> QrStart | None:
    p = OnlinePayment.get_by_id(w.payment_id)
    return QrStart.get_by_id(p.qr_start_id) if p.qr_start_id else None


def _give_back(w: World, fails: bool) -> None:
    """The loop's round: the provider either does what is asked or fails."""
    for payment_id in walkin.advance(utcnow()):
        step = walkin.plan(payment_id)
        if fails:
            walkin.record_failure(payment_id, "provider down", utcnow() - timedelta(hours=2))
            continue
        if step.manual_capture:
            w.record.captured, w.record.voided = step.keep, step.keep == 0
        else:
            w.record.refunded += step.give_back
        walkin.record_return(payment_id, "x", utcnow())


def step(w: World, name: str) -> None:
    at = utcnow()
    start = _start(w)
    if name in ("webhook", "redirect"):
        _, moved = walkin.book(w.payment_id, _confirm(w), 600, at, True)
    elif name == "accept" and start is not None and start.state == "pending":
        payload = {"connectorId": 1, "idTag": start.id_tag, "meterStart": 0,
                   "timestamp": at.isoformat() + "Z"}
        w.tx, _ = auth.start_transaction(w.station_id, payload, json.dumps(payload), at, 300, [])
    elif name == "refuse" and start is not None and start.state == "pending":
        qr.fail(start.id, "The charger refused to start.", at)
    elif name == "deadline":
        qr.expire_overdue(at + timedelta(hours=1))
    elif name == "stop" and w.tx is not None:
        payload = {"transactionId": w.tx, "meterStop": 2500, "reason": "Local",
                   "timestamp": (at + timedelta(minutes=30)).isoformat() + "Z"}
        auth.stop_transaction(w.station_id, payload, json.dumps(payload), at, 300, 400_000)
    elif name == "restart":
        sweep()
        for payment_id in walkin.unconfirmed(at, True):
            walkin.book(payment_id, _confirm(w), 0, at, False)
    elif name in ("loop", "loop_fails"):
        _give_back(w, name == "loop_fails")


def drain(w: World) -> None:
    """Everything that eventually happens: the webhook arrives, the deadline passes, the car
    leaves, the provider recovers and the loop runs."""
    for name in ("webhook", "deadline", "stop", "loop", "loop"):
        step(w, name)


def _sum(refs: list[str]) -> int:
    return sum(e.amount for e in LedgerEntry.select().where(LedgerEntry.reference.in_(refs)))


def check(w: World, finished: bool) -> None:
    assert all(ok for ok, _ in _check()), _check()
    p = OnlinePayment.get_by_id(w.payment_id)
    kind = "capture" if w.record.manual else "refund"
    provider = "stripe" if w.record.manual else "razorpay"
    refs = [f"{k}:{provider}:{w.record.ref}" for k in ("payment", kind)]
    kept = w.record.captured - w.record.refunded
    assert w.record.refunded <= w.record.captured  # nothing refunded that was not taken
    if not finished:
        assert _sum(refs) >= (kept if p.state == "done" else 0)
        return
    assert p.state == "done", (p.state, p.message)
    assert _sum(refs) == kept
    fee = 0
    start = _start(w)
    if start is not None and start.session_id is not None:
        fee = int(ChargingSession.get_by_id(start.session_id).fee_minor or 0)
    assert kept == min(fee, w.record.paid)
    assert not (w.record.manual and w.record.voided and kept)


@st.composite
def scripts(draw: st.DrawFn) -> tuple[bool, int, list[str]]:
    manual = draw(st.booleans())
    amount = draw(st.sampled_from([1_000, 5_000, 20_000]))
    return manual, amount, draw(st.lists(st.sampled_from(STEPS), max_size=12))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(script=scripts())
def test_any_interleaving_keeps_payments_and_ledger_in_step(
        database: Database, script: tuple[bool, int, list[str]]) -> None:
    manual, amount, steps = script
    w = database.run_sync(make_world, next(COUNTER), manual, amount)
    for name in steps:
        if name == "restart":
            database.db.close()
        database.run_sync(step, w, name)
        database.run_sync(check, w, False)
    database.run_sync(drain, w)
    database.run_sync(check, w, True)
