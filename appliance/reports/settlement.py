"""The nightly reconciliation of online money: for each enabled provider, what it recorded in
the day (captured payments, refunds) against what our ledger booked (`payment:`, `refund:`,
`capture:{provider}:{id}` rows), netted per payment. A payment still going on (held, or giving
back) is in flight and not compared; one that moved across midnight can show on both days."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from appliance.db.database import Database
from appliance.db.models_money import LedgerEntry
from appliance.db.models_payments import OnlinePayment
from appliance.errors import ApplianceError
from appliance.payments import config
from appliance.payments.registry import bases_from, registry

log = logging.getLogger(__name__)
PREFIXES = ("payment:", "refund:", "capture:")


def ours(window: tuple[datetime, datetime]) -> dict[str, dict[str, int]]:
    """provider -> payment id -> what the ledger kept of it in the window."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    query = (LedgerEntry.select(LedgerEntry.reference, LedgerEntry.amount)
             .where((LedgerEntry.created_at >= window[0]) & (LedgerEntry.created_at < window[1])
                    & (LedgerEntry.reference.startswith(PREFIXES[0])
                       | LedgerEntry.reference.startswith(PREFIXES[1])
                       | LedgerEntry.reference.startswith(PREFIXES[2]))))
    for reference, amount in query.tuples():
        _, provider, payment_ref = reference.split(":", 2)
        out[provider][payment_ref] += int(amount)
    return out


def in_flight() -> set[str]:
    rows = OnlinePayment.select(OnlinePayment.payment_ref).where(
        OnlinePayment.state.in_(("held", "returning")) & OnlinePayment.payment_ref.is_null(False))
    return {str(r.payment_ref) for r in rows}


def _utc(naive: datetime) -> datetime:
    return naive.replace(tzinfo=UTC)


async def reconcile_day(database: Database, settings: Any, window: tuple[datetime, datetime]
                        ) -> dict[str, Any] | None:
    """{"providers": [{provider, status, items, mismatches, error}], "mismatches": [...]},
    or None when no provider is enabled."""
    enabled = [s for s in await database.read(config.load_all) if s.enabled]
    if not enabled:
        return None
    booked, flying = await database.read(ours, window), await database.read(in_flight)
    result: dict[str, Any] = {"providers": [], "mismatches": []}
    async with registry(database, settings.data_path, bases_from(settings)) as providers:
        for sealed in enabled:
            try:
                items = await providers.build(sealed).list_settlement(
                    _utc(window[0]), _utc(window[1]))
            except ApplianceError as err:
                log.warning("reconciling %s failed: %s", sealed.provider, err.message)
                result["providers"].append({"provider": sealed.provider,
                                            "status": "unavailable", "items": 0,
                                            "mismatches": 0, "error": err.message[:150]})
                continue
            theirs: dict[str, int] = defaultdict(int)
            for item in items:
                theirs[item.payment_ref] += item.amount
            mine = booked.get(sealed.provider, {})
            wrong = [{"provider": sealed.provider, "payment_ref": ref,
                      "ours_minor": mine.get(ref, 0), "theirs_minor": theirs.get(ref, 0)}
                     for ref in sorted((set(theirs) | set(mine)) - flying)
                     if mine.get(ref, 0) != theirs.get(ref, 0)]
            result["mismatches"] += wrong
            result["providers"].append({"provider": sealed.provider,
                                        "status": "mismatch" if wrong else "ok",
                                        "items": len(items), "mismatches": len(wrong),
                                        "error": ""})
    return result


def anomalies(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    if result is None:
        return []
    out = [{"kind": "settlement_mismatch", "session_id": None, "station": "",
            "detail": f"{m['provider']} {m['payment_ref']}: ledger {m['ours_minor']}, "
                      f"provider {m['theirs_minor']}"} for m in result["mismatches"]]
    out += [{"kind": "settlement_unchecked", "session_id": None, "station": "",
             "detail": f"{p['provider']}: {p['error']}"}
            for p in result["providers"] if p["status"] == "unavailable"]
    return out
