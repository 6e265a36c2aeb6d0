"""Property, for OCPP 2.0.1: any sequence of TransactionEvents for a set of transactions
(interleaved, duplicated, sent out of order as an offline queue may be, retried after a crash that
rolled back, restarts) leaves every balance equal to its ledger, bills each finished transaction
once (one charge, and at most one correction when its start came after its stop) and never
charges a personal card. Driven through the call the 2.0.1 handler makes, against a real
database, with the sites of the 1.6 property test."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.billing import accounts, ledger
from appliance.billing.check import _check
from appliance.billing.settlement import sweep
from appliance.db.database import Database
from appliance.db.models import ChargingSession, utcnow
from appliance.db.models_money import LedgerEntry
from appliance.ocpp import tx201
from tests.test_money_property import CARDS, COUNTER, Crash, Site, database, make_site

__all__ = ["database"]  # the module fixture, shared with the 1.6 property test


def payload(site: Site, msg: tuple[Any, ...], base: Any) -> dict[str, Any]:
    kind, i, card, value, seq = msg
    minutes = {"Started": 0, "Updated": value / 100, "Ended": 90}[kind]
    out: dict[str, Any] = {
        "eventType": kind, "seqNo": seq, "triggerReason": "Authorized",
        "timestamp": (base + timedelta(minutes=i + minutes)).isoformat() + "Z",
        "transactionInfo": {"transactionId": f"tx-{site.station_id}-{i}"},
        "evse": {"id": i + 1, "connectorId": 1},
        "meterValue": [{"timestamp": (base + timedelta(minutes=i + minutes)).isoformat() + "Z",
                        "sampledValue": [{"value": 1000 + value}]}]}
    if kind != "Updated":
        out["idToken"] = {"idToken": site.cards[card], "type": "ISO14443"}
    if kind == "Ended":
        out["transactionInfo"]["stoppedReason"] = "Local"
    return out


def send(site: Site, msg: tuple[Any, ...], base: Any) -> None:
    body = payload(site, msg, base)
    tx201.transaction_event(site.station_id, tx201.read_event(body), json.dumps(body),
                            utcnow(), 300, 400_000, [])


@st.composite
def scenarios(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Per transaction: Started, growing Updated readings, maybe Ended; each transaction's own
    events may be sent out of order (an offline queue); interleaved; with retries (duplicates
    later on), crashes (an event rolled back, then sent again) and restarts."""
    queues = []
    for i in range(draw(st.integers(1, 4))):
        card = draw(st.sampled_from(CARDS))
        readings = sorted(draw(st.lists(st.integers(0, 20_000), max_size=3)))
        msgs: list[tuple[Any, ...]] = [("Started", i, card, 0, 0)]
        msgs += [("Updated", i, card, r, n + 1) for n, r in enumerate(readings)]
        if draw(st.booleans()) or i == 0:
            msgs.append(("Ended", i, card, (readings[-1] if readings else 0)
                         + draw(st.integers(0, 5_000)), len(msgs)))
        if draw(st.booleans()):
            msgs = draw(st.permutations(msgs))
        queues.append(list(msgs))
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
def test_any_event_order_keeps_the_ledger_true(database: Database,
                                               script: list[tuple[Any, ...]]) -> None:
    site = database.run_sync(make_site, next(COUNTER))
    base = utcnow() - timedelta(hours=3)
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
    send(site, msg, base)
    raise Crash


def _assert_true(site: Site, script: list[tuple[Any, ...]]) -> None:
    assert all(ok for ok, _ in _check()), _check()
    sessions = list(ChargingSession.select().where(ChargingSession.station == site.station_id))
    # A transaction is a session once an event naming its card (Started or Ended) came.
    assert len(sessions) == len({m[1] for m in script if m[0] in ("Started", "Ended")})
    assert len({s.tx_ref for s in sessions}) == len(sessions)
    for s in sessions:
        rows = list(LedgerEntry.select().where(LedgerEntry.session == s.id))
        charges = [r.amount for r in rows if r.kind == "charge"]
        corrections = [r.amount for r in rows if r.kind == "adjustment"]
        if s.mode == "personal":
            assert not rows and s.fee_minor in (None, 0)
        elif s.state == "completed":
            assert s.settled and len(charges) <= 1 and len(corrections) <= 1
            assert sum(charges) + sum(corrections) == -(s.fee_minor or 0)
        else:
            assert not rows and not s.settled
    for name, driver_id in site.drivers.items():
        account_row = accounts.account_of(driver_id)
        fees = sum(s.fee_minor or 0 for s in sessions
                   if s.account_id == account_row.id and s.mode == "commercial" and s.settled)
        topped = 50_000 if name == "RICH" else 100
        assert ledger.ledger_sums(account_row.id) == (topped - fees, 0)
        assert account_row.balance == topped - fees
