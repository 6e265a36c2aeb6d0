"""Authorization decisions for Authorize and StartTransaction, and the version-neutral
transaction calls that join charging's records to billing's rules in one database call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.billing import card_reads, offline, qr, running, settlement, tariffs, watch
from appliance.charging import batched, metering, sessions, superseding
from appliance.db import fastsql
from appliance.db.models import Account, ChargingSession, Driver, IdTag, Station, UnknownTag
from appliance.db.site import site_value

ACCEPTED = "Accepted"


@dataclass(frozen=True)
class Decision:
    status: str  # Accepted | Blocked | Expired | Invalid | ConcurrentTx
    parent_id_tag: str = ""
    expiry: datetime | None = None
    reason: str = ""

    def id_tag_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"status": self.status}
        if self.parent_id_tag:
            info["parentIdTag"] = self.parent_id_tag
        if self.expiry is not None:
            info["expiryDate"] = self.expiry.strftime("%Y-%m-%dT%H:%M:%S.") \
                + f"{self.expiry.microsecond // 1000:03d}Z"
        return info


def note_unknown(id_tag: str, station_id: int | None, connector_id: int | None, at: datetime,
                 source: str = "charger") -> None:
    """Remember a tag nobody knows, so staff can register the card a driver just tried."""
    key = id_tag.upper()
    (UnknownTag.insert(key=key, id_tag=id_tag, station=station_id, connector_id=connector_id,
                       source=source, first_seen_at=at, last_seen_at=at, count=1)
     .on_conflict(conflict_target=[UnknownTag.key],
                  update={UnknownTag.last_seen_at: at, UnknownTag.station: station_id,
                          UnknownTag.connector_id: connector_id, UnknownTag.source: source,
                          UnknownTag.count: UnknownTag.count + 1, UnknownTag.id_tag: id_tag})
     .execute())


def decide(id_tag: str, station_id: int, at: datetime, *, for_start: bool = False,
           connector_id: int | None = None, token_type: str | None = None,
           seen: card_reads.Seen | None = None) -> Decision:
    """The answer to an id tag at a station. ConcurrentTx only when starting. `token_type`:
    the kind of token it came as, when the charger says (a card pinned to another is refused).
    `seen` keeps what the decision read, for the rest of the same database call."""
    key = id_tag.upper()
    if qr.is_qr_tag(key):
        # A QR start's own tag: Accepted on its hold, never a card.
        answer = qr.decide(key, station_id, at, for_start)
        if answer is not None:
            return Decision(*answer)
    card = card_reads.card(key)
    if seen is not None:
        seen.card = card
    if card is None:
        note_unknown(id_tag, station_id, connector_id, at)
        return Decision("Invalid", reason="unknown card")
    tag = card.tag
    parent = tag.parent_id_tag
    if token_type and tag.token_type and token_type != tag.token_type:
        return Decision("Invalid", reason=f"card is a {tag.token_type} token")
    if tag.status != ACCEPTED:
        return Decision(tag.status, parent, tag.expiry, reason=f"card is {tag.status}")
    if tag.expiry is not None and tag.expiry <= at:
        return Decision("Expired", parent, tag.expiry, reason="card expired")
    station = card_reads.station(seen, station_id)
    if not station.approved:
        return Decision("Blocked", parent, reason="station not approved")
    if for_start and is_master_pass(tag, card):
        return Decision("Blocked", parent, reason=MASTER_PASS_START)
    if for_start and superseding.charging_elsewhere(key, station_id, connector_id):
        return Decision("ConcurrentTx", parent, tag.expiry, reason="card already charging")
    if tag.driver_id is not None:
        return _decide_for_driver(card, station, connector_id, at, seen)
    return Decision(ACCEPTED, parent, tag.expiry)


MASTER_PASS_START = "master pass card: it stops sessions, never starts one"


def card_group(tag: IdTag, driver: Driver | None = None) -> str:
    """The group a card answers with (its driver's group tag, else its own parent tag)."""
    if tag.driver_id is not None:
        if driver is None:
            driver = fastsql.get_by_id(Driver, tag.driver_id)
        return str(driver.group_tag or "")
    return str(tag.parent_id_tag or "")


def is_master_pass(tag: IdTag, card: card_reads.Card | None = None) -> bool:
    """A card of the site's master pass group (OCPP 2.0.1 MasterPassGroupId): it may stop any
    transaction on a charger, and start none. `card`: the card as the decision read it."""
    group = card_group(tag, card.driver if card is not None else None)
    if not group:
        return False
    master = card.masterpass if card is not None else \
        str(site_value(card_reads.MASTERPASS, "") or "")
    return bool(master) and group.upper() == master.upper()


def _refuse(tag: IdTag, parent: str, reason: str) -> Decision:
    # Kept on the card so staff and the driver can see why it was refused.
    IdTag.update(last_refusal=reason[:120]).where(IdTag.id == tag.id).execute()
    return Decision("Blocked", parent, reason=reason)


def _decide_for_driver(card: card_reads.Card, station: Station, connector_id: int | None,
                       at: datetime, seen: card_reads.Seen | None) -> Decision:
    """A driver's card: the driver's group tag is its parent; a commercial card needs money."""
    tag, driver = card.tag, card.driver
    if driver is None:
        raise Driver.DoesNotExist(f"Driver {tag.driver_id} does not exist")
    parent = driver.group_tag
    if driver.blocked or driver.retired_at is not None:
        return _refuse(tag, parent, "driver blocked")
    if tag.mode != "commercial":
        return Decision(ACCEPTED, parent, tag.expiry)
    account = card.account
    if account is None:
        raise Account.DoesNotExist(f"driver {driver.id} has no account")
    # The account's other open sessions from upper bounds of their cost first: nearly always
    # enough to accept; near the limit, or to refuse, from their exact cost.
    state = settlement.account_state(account, at, driver, card.site_overdraft, bound=True)
    if state["debt"] > 0:
        return _refuse(tag, parent, f"debt of {state['debt']} to clear")
    found = tariffs.resolve_scope(station.id, connector_id, driver.price_group, station.site_id)
    if seen is not None:
        seen.tariffs[(station.id, connector_id, str(driver.price_group or ""))] = found
    tariff = found[0]
    needed = tariff.min_to_start if tariff else 0
    if not _enough(state, needed):
        state = settlement.account_state(account, at, driver, card.site_overdraft)
        if not _enough(state, needed):
            return _refuse(tag, parent,
                           f"balance too low: available {state['available']}, needs {needed}")
    # Short expiry so chargers do not cache a commercial card for long.
    expiry = at + qr.EXPIRY_WINDOW  # one rule for cards and QR tags: cached briefly
    if tag.expiry is not None:
        expiry = min(expiry, tag.expiry)
    if tag.last_refusal:
        IdTag.update(last_refusal="").where(IdTag.id == tag.id).execute()
    return Decision(ACCEPTED, parent, expiry)


def _enough(state: dict[str, int], needed: int) -> bool:
    """Whether what the account has available covers the tariff's minimum to start, and
    is above nothing once its overdraft is counted."""
    return state["available"] >= needed and state["available"] + state["overdraft"] > 0


def authorize(id_tag: str, station_id: int, at: datetime, token_type: str | None = None
              ) -> Decision:
    return decide(id_tag, station_id, at, token_type=token_type)


def start_transaction(station_id: int, payload: dict[str, Any], raw: str, at: datetime,
                      skew_limit_s: int, flags: list[str], reference: str | None = None,
                      token_type: str | None = None) -> tuple[int, Decision]:
    """Record a StartTransaction with its decision. A repeat gets the same id and answer.
    `reference`: the charger's own transaction reference, when it has one."""
    seen = card_reads.Seen()
    decision = decide(str(payload.get("idTag", "")), station_id, at, for_start=True,
                      connector_id=payload.get("connectorId"), token_type=token_type,
                      seen=seen)
    station = card_reads.station(seen, station_id)
    clock = sessions.Clock(skew_limit_s, station.last_boot_at)
    extra = list(flags)
    if decision.status != ACCEPTED:
        extra.append(f"start_{decision.status.lower()}")
    session, created = sessions.record_start(station_id, payload, raw, at, clock,
                                             decision.status, extra, reference)
    if created:
        # Recorded and billed whatever we answered: an offline start happened all the same.
        session.auth_reason = decision.reason[:120]
        if qr.owns(session.id_tag_key):
            qr.capture(session, decision.status, at)  # the start's hold is bound to it
        else:
            _attach(session, seen)
            if offline.OFFLINE_FLAG in extra:
                offline.tariff_as_started(session)
        # A new transaction on the connector: whatever was left open there is over.
        for old in superseding.supersede(session, at):
            settlement.settle(old, "superseded")
    else:
        decision = Decision(session.start_status, decision.parent_id_tag, decision.expiry)
    return session.transaction_id, decision


def _attach(session: ChargingSession, seen: card_reads.Seen) -> None:
    """The session's payer and tariff, from what the decision read of them in this call when
    it read them (the same card, as the session keeps it), else read now."""
    card = seen.card
    if card is None or card.tag.key != session.id_tag_key:
        settlement.attach(session, fastsql.get(IdTag, IdTag.key, session.id_tag_key))
        return
    group = str(card.driver.price_group or "") if card.driver is not None else ""
    found = seen.tariffs.get((session.station_id, session.connector_id, group))
    if found is None and seen.station is not None and seen.station.id == session.station_id:
        found = tariffs.resolve_scope(session.station_id, session.connector_id, group,
                                      seen.station.site_id)
    settlement.attach(session, card.tag, driver=card.driver, account=card.account,
                      found=found)


def stop_transaction(station_id: int, payload: dict[str, Any], raw: str, at: datetime,
                     skew_limit_s: int, max_power_w: int) -> Decision | None:
    """Record a StopTransaction and settle its money in the same call, so a crash keeps both or
    neither. Returns the idTagInfo decision when the stop names a tag."""
    seen = card_reads.Seen()
    station = card_reads.station(seen, station_id)
    clock = sessions.Clock(skew_limit_s, station.last_boot_at)
    max_power_w = int(station.max_power_w) if station.max_power_w else max_power_w
    session, first = sessions.record_stop(station_id, payload, raw, at, clock, max_power_w)
    if session is not None and first:
        if session.settled:  # closed without its stop before: the stop corrects the charge
            settlement.correct(session, "charger")
        else:
            settlement.settle(session, "charger")
    id_tag = payload.get("idTag")
    if isinstance(id_tag, str) and id_tag:
        return decide(id_tag, station_id, at, seen=seen)
    return None


def late_start(session: ChargingSession, payload: dict[str, Any], raw: str, at: datetime,
               skew_limit_s: int, max_power_w: int) -> None:
    """A start that came after its stop (an offline queue out of order): the session takes the
    start's reading and time, and its price is corrected once, in the same call."""
    clock = sessions.station_clock(session.station_id, skew_limit_s)
    max_power_w = sessions.station_power(session.station_id) or max_power_w
    if sessions.record_late_start(session, payload, raw, at, clock, max_power_w) \
            and session.settled:
        settlement.correct(session, "charger", "start",
                           "its start came after its stop (sent out of order)")


def meter_values(station_id: int, payload: dict[str, Any], at: datetime,
                 moments: list[Any] | None = None) -> tuple[ChargingSession | None, bool]:
    """Record MeterValues and run the running-out watchdog. Returns (session, stop_needed):
    the caller sends RemoteStopTransaction after this call has committed."""
    session = batched.record_meter_values(station_id, payload, at, moments)
    if session is None:
        return None, False
    _follow_bands([session], [(station_id, payload, at, moments)])
    return session, watch.watchdog(session, at)


def _follow_bands(found: Sequence[ChargingSession | None],
                  reports: Sequence[tuple[Any, ...]]) -> None:
    """Move the running figure of each banded session of the batch on by its new samples."""
    todo = []
    for session, report in zip(found, reports, strict=True):
        if session is None or session.state != "active" or '"bands"' not in \
                session.tariff_snapshot:
            continue
        snapshot = tariffs.load_snapshot(session.tariff_snapshot, "INR")
        if not snapshot.get("bands"):
            continue
        moments = report[3] if len(report) > 3 and report[3] is not None else \
            metering.parse_moments(report[1].get("meterValue"))
        readings = [(m.timestamp or report[2], float(m.energy_wh))
                    for m in moments if m.energy_wh is not None]
        todo.append((session, snapshot, readings))
    if todo:
        running.follow(todo)


def meter_values_many(reports: Sequence[tuple[Any, ...]]
                      ) -> list[tuple[ChargingSession | None, bool]]:
    """`meter_values` for a batch of reports from many chargers, in a few statements (see
    charging.batched); the watchdog runs for each report's session, after all are recorded."""
    found = batched.record_meter_values_many(reports)
    _follow_bands(found, reports)
    checks = [(session, report[2]) for session, report in zip(found, reports, strict=True)
              if session is not None]
    stops = iter(watch.watchdog_many(checks))
    return [(None, False) if session is None else (session, next(stops)) for session in found]
