"""OCPP 2.0.1's transaction reports in the terms of the version-neutral session calls: a
TransactionEvent (Started, Updated, Ended) becomes the start, meter values and stop that
`billing.authorize` records and bills for 1.6, keyed by the charger's own transaction id.

Why one call per event: whatever order the events come in (offline replays, repeats), the
session is found by (station, reference) before anything is written, so it is started once,
stopped once and charged once; the money commits with the event, before its answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appliance.billing import authorize as auth
from appliance.charging import metering, sessions, stations
from appliance.db.models import ChargingSession

# A session opened by an Ended event knows nothing of its start. (One opened by an Updated is
# the usual plug-in-then-authorize order: the transaction began before anyone was named.)
START_FLAGS = {"Ended": "started_from_ended_event"}


def sampled_value16(sv: dict[str, Any]) -> dict[str, Any]:
    """A 2.0.1 sampledValue in the form the metering room reads (1.6's): the value as text in
    the unit, its multiplier applied; the signed meter value kept beside it."""
    unit = sv.get("unitOfMeasure") or {}
    value = sv.get("value")
    multiplier = unit.get("multiplier", 0) if isinstance(unit, dict) else 0
    if isinstance(value, int | float) and not isinstance(value, bool) and multiplier:
        value = value * 10.0 ** int(multiplier)
    out: dict[str, Any] = {k: sv[k] for k in ("context", "measurand", "phase", "location")
                           if k in sv}
    out["value"] = "" if value is None else str(value)
    if isinstance(unit, dict) and unit.get("unit"):
        out["unit"] = unit["unit"]
    if "signedMeterValue" in sv:
        out["signedMeterValue"] = sv["signedMeterValue"]
    return out


def meter_values16(meter_value: Any) -> list[dict[str, Any]]:
    return [{"timestamp": mv.get("timestamp"),
             "sampledValue": [sampled_value16(sv) for sv in mv.get("sampledValue") or []
                              if isinstance(sv, dict)]}
            for mv in meter_value or [] if isinstance(mv, dict)]


@dataclass(frozen=True)
class Event:
    """What a TransactionEvent says, read once on the event loop."""

    kind: str  # Started | Updated | Ended
    reference: str
    evse: int | None
    plug: int | None  # the EVSE's connector, when the event names it
    id_token: str | None
    token_type: str | None
    timestamp: Any
    trigger: str
    offline: bool
    seq_no: int | None
    stopped_reason: str | None
    reservation_id: Any
    meter_value: list[dict[str, Any]] = field(default_factory=list)

    @property
    def energy_readings(self) -> list[float]:
        return [m.energy_wh for m in metering.parse_moments(self.meter_value)
                if m.energy_wh is not None]


def read_event(payload: dict[str, Any]) -> Event:
    info = payload.get("transactionInfo") or {}
    evse = payload.get("evse") or {}
    token = payload.get("idToken") or {}
    return Event(
        kind=str(payload.get("eventType", "")), reference=str(info.get("transactionId", "")),
        evse=evse.get("id") if isinstance(evse.get("id"), int) else None,
        plug=evse.get("connectorId") if isinstance(evse.get("connectorId"), int) else None,
        id_token=str(token["idToken"]) if isinstance(token.get("idToken"), str) else None,
        token_type=str(token["type"]) if isinstance(token.get("type"), str) else None,
        timestamp=payload.get("timestamp"), trigger=str(payload.get("triggerReason", "")),
        offline=payload.get("offline") is True,
        seq_no=payload.get("seqNo") if isinstance(payload.get("seqNo"), int) else None,
        stopped_reason=info.get("stoppedReason"), reservation_id=payload.get("reservationId"),
        meter_value=meter_values16(payload.get("meterValue")))


@dataclass
class Outcome:
    session: ChargingSession | None = None
    decision: auth.Decision | None = None
    started: bool = False
    stop_needed: bool = False  # out of money: RequestStopTransaction after the answer


def start16(event: Event) -> dict[str, Any]:
    """The event as the start the session room records."""
    readings = event.energy_readings
    start: dict[str, Any] = {"connectorId": event.evse or 1, "idTag": event.id_token or "",
                             "timestamp": event.timestamp}
    if readings:
        start["meterStart"] = int(round(readings[0]))
    if event.reservation_id is not None:
        start["reservationId"] = event.reservation_id
    return start


def _start(station_id: int, event: Event, raw: str, at: Any, skew: int, flags: list[str]
           ) -> tuple[ChargingSession, auth.Decision]:
    start = start16(event)
    extra = [*flags, *(["offline"] if event.offline else [])]
    if event.kind in START_FLAGS:
        extra.append(START_FLAGS[event.kind])
    if event.evse is None:
        extra.append("no_evse")
    _, decision = auth.start_transaction(station_id, start, raw, at, skew, extra,
                                         reference=event.reference,
                                         token_type=event.token_type)
    session = sessions.find_by_reference(station_id, event.reference)
    assert session is not None  # written just now, or by the same reference before
    return session, decision


def transaction_event(station_id: int, event: Event, raw: str, at: Any, skew: int,
                      max_power_w: int, flags: list[str]) -> Outcome:
    """On the writer: one TransactionEvent, recorded and billed by the 1.6 rules."""
    out = Outcome(session=sessions.find_by_reference(station_id, event.reference))
    if out.session is None:
        if event.id_token is None and event.kind != "Ended":
            # Plugged in, not yet authorized: the session (and its bill) starts with the
            # first event that names whose it is.
            stations.record_notice(station_id, "transaction_without_token",
                                   {"transactionId": event.reference, "eventType": event.kind,
                                    "triggerReason": event.trigger}, at)
            return out
        out.session, out.decision = _start(station_id, event, raw, at, skew, flags)
        out.started = True
    session = out.session
    if event.plug is not None and session.plug is None:
        # The socket it ran on: (EVSE, connector), once an event names the connector.
        ChargingSession.update(plug=event.plug).where(ChargingSession.id == session.id).execute()
    if event.kind == "Started" and not out.started and session.state == "completed" \
            and START_FLAGS["Ended"] in session.flags.split(","):
        auth.late_start(session, start16(event), raw, at, skew, max_power_w)
    # A stopped session's register is final: a replayed or late Updated is history, not a
    # reading that went backwards (its frame is in the frame log).
    if event.meter_value and (session.state != "completed" or event.kind == "Ended"):
        found, out.stop_needed = auth.meter_values(
            station_id, {"connectorId": session.connector_id,
                         "transactionId": session.transaction_id,
                         "meterValue": event.meter_value}, at)
        session = found or session
    if event.offline and not out.started:
        sessions.mark_flag(session.id, "offline")
    if event.kind == "Ended":
        out.stop_needed = False
        readings = event.energy_readings
        meter_stop = int(round(readings[-1])) if readings else session.last_register_wh
        stop: dict[str, Any] = {"transactionId": session.transaction_id,
                                "timestamp": event.timestamp,
                                "reason": event.stopped_reason or "Local"}
        if meter_stop is not None:
            stop["meterStop"] = meter_stop
        if event.id_token:
            stop["idTag"] = event.id_token
        decision = auth.stop_transaction(station_id, stop, raw, at, skew, max_power_w)
        out.decision = out.decision or _as_started(session, event, decision)
    elif event.id_token and out.decision is None:
        out.decision = _as_started(session, event, auth.authorize(
            event.id_token, station_id, at, event.token_type))
    out.session = sessions.find_by_reference(station_id, event.reference)
    return out


def _as_started(session: ChargingSession, event: Event, decision: auth.Decision | None
                ) -> auth.Decision | None:
    """The start's own token, named again later in the transaction (a repeated Started, an
    Updated), gets the answer its start got: a balance that the running session itself has
    used up must not read as a refusal that makes the charger stop it."""
    if decision is None or (event.id_token or "").upper() != session.id_tag_key:
        return decision
    return auth.Decision(session.start_status, decision.parent_id_tag, decision.expiry)
