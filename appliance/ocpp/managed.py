"""Managed configuration: the station profile prepaid money needs, applied after an Accepted boot
to stations whose `managed` switch is on; what a charger refuses is kept for its page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from appliance.charging import stations
from appliance.db.models import utcnow
from appliance.db.site import site_value
from appliance.errors import ApplianceError
from appliance.ocpp.protocol import Connection

log = logging.getLogger(__name__)

PROFILE_16: dict[str, str] = {
    "StopTransactionOnInvalidId": "true",
    "MaxEnergyOnInvalidId": "0",
    "AllowOfflineTxForUnknownId": "false",
    "MeterValueSampleInterval": "60",
    "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
}


# The local list profile (issue 23), set only on chargers that have it (they report
# LocalAuthListEnabled): cards in the list charge while the box is away, unknown ones never.
LOCAL_16: dict[str, str] = {
    "LocalAuthListEnabled": "true",
    "LocalAuthorizeOffline": "true",
    "LocalPreAuthorize": "true",
    "AllowOfflineTxForUnknownId": "false",
}


def profile_for(current: dict[str, Any], local_lists: bool) -> dict[str, str]:
    """The keys to apply: the money profile, plus the local list keys per the site's policy
    when the charger has a local list."""
    profile = dict(PROFILE_16)
    if "LocalAuthListEnabled" in current:
        local = dict(LOCAL_16)
        if not local_lists:
            local.update({"LocalAuthListEnabled": "false", "LocalAuthorizeOffline": "false"})
        profile.update(local)
    return profile


def same(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    if wanted in ("true", "false"):
        return current.strip().lower() == wanted
    if "," in wanted:
        return [p.strip() for p in current.split(",")] == wanted.split(",")
    return current.strip() == wanted


async def apply_profile(conn: Connection, database: Any,
                        seen: Callable[[dict[str, Any]], None] | None = None) -> dict[str, str]:
    """Read the configuration (handed to `seen`), change what differs; returns key ->
    outcome."""
    outcome: dict[str, str] = {}
    try:
        answer = await conn.call("GetConfiguration", {})
        current = {k.get("key"): k.get("value") for k in answer.get("configurationKey") or []}
        if seen is not None:
            seen(current)
        await _note_connectors(conn, database, current.get("NumberOfConnectors"))
        local_lists = bool(await database.read(site_value, "local_lists", True))
        for key, wanted in profile_for(current, local_lists).items():
            if key not in current:
                outcome[key] = "unknown to the charger"
            elif same(current[key], wanted):
                outcome[key] = "already set"
            else:
                result = await conn.call("ChangeConfiguration", {"key": key, "value": wanted})
                outcome[key] = str(result.get("status", ""))
    except ApplianceError as err:
        log.warning("%s: managed configuration stopped: %s", conn.id, err.message)
        outcome["error"] = err.message
    refused = sorted(k for k, v in outcome.items()
                     if v not in ("already set", "Accepted", "RebootRequired"))
    await database.run(stations.record_notice, conn.station_id, "managed_configuration",
                       {"outcome": outcome, "refused": refused}, utcnow())
    if refused:
        log.info("%s: refused managed keys: %s", conn.id, ", ".join(refused))
    return outcome


async def _note_connectors(conn: Connection, database: Any, value: str | None) -> None:
    """The charger's own connector count bounds the connector ids it may name from now on."""
    count = stations.declared_connector_count(value) if value is not None else None
    if count is not None:
        conn.connector_limit = count
        await database.run(stations.declare_connectors, conn.station_id, count)
