"""Money and card rules that still hold for the raw command endpoint: a remote start for a
commercial card is decided like a tap, and commercial cards go into a charger's local
authorization list only where a manager allowed them offline (a charger offline would let them
charge without money)."""

from __future__ import annotations

from typing import Any

from appliance.billing.authorize import decide
from appliance.charging.admin import get_station
from appliance.db.models import IdTag, utcnow
from appliance.db.site import site_value
from appliance.errors import Conflict, InvalidInput


def check_raw_command(cpid: str, action: str, payload: dict[str, Any]) -> None:
    """Raise when a raw OCPP command would get around the money rules."""
    if action == "RemoteStartTransaction" and isinstance(payload.get("idTag"), str):
        tag = IdTag.get_or_none(IdTag.key == payload["idTag"].upper())
        if tag is not None and tag.mode == "commercial":
            station = get_station(cpid)
            decision = decide(tag.id_tag, station.id, utcnow(), for_start=True,
                              connector_id=payload.get("connectorId"))
            if decision.status != "Accepted":
                raise Conflict(f"card {tag.id_tag} may not start: {decision.reason}",
                               details={"status": decision.status})
    if action == "SendLocalList" and not site_value("offline_commercial", False):
        listed = [str(e.get("idTag", "")).upper() for e in payload.get("localAuthorizationList")
                  or [] if isinstance(e, dict)]
        commercial = [t.id_tag for t in IdTag.select().where(
            IdTag.key.in_(listed) & (IdTag.mode == "commercial"))] if listed else []
        if commercial:
            raise InvalidInput("commercial cards never go into a local authorization list: "
                               + ", ".join(sorted(commercial)))
