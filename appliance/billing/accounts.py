"""Drivers and their accounts and cards as staff manage them: create, search by name, phone or
card, bind cards (personal or commercial), re-issue a lost card, retire. Sync functions."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from appliance.billing import ledger, settlement
from appliance.billing.cards import card_dict, check_id_tag
from appliance.billing.pricing import minor_exponent
from appliance.billing.tariffs import money
from appliance.db import fastsql
from appliance.db.models import (
    Account,
    ChargingSession,
    Driver,
    IdTag,
    UnknownTag,
    phone_key,
    utcnow,
)
from appliance.db.site import site_value
from appliance.errors import N_, Conflict, InvalidInput, NotFound

MODES = ("personal", "commercial")
TOPUP_MAX_DEFAULT = 100_000  # whole currency units, when the site has not set its own
TEXT_FIELDS = {"name": 120, "phone": 40, "email": 120, "note": 2000, "language": 16,
               "price_group": 40}


def _group_tag() -> str:
    # A form no card UID has: drivers' group tags are sent only as parentIdTag.
    return "GRP-" + secrets.token_hex(6).upper()


def driver_dict(d: Driver, now: datetime | None = None, *, account: Account | None = None,
                cards: list[IdTag] | None = None, state: dict[str, int] | None = None
                ) -> dict[str, Any]:
    """A driver as the API and pages show it; lists pass what they loaded in bulk. Alone, its
    reads are cached SQL: a desk top-up answers with it from the writer's page lane, where
    peewee building the same few queries again was most of the job's time."""
    account = account or _account(d.id)
    state = state or settlement.account_state(account, now or utcnow(), driver=d)
    if cards is None:
        cards = sorted(fastsql.fetch_in(IdTag, IdTag.driver, [d.id],
                                        f"{fastsql.col(IdTag.retired_at)} IS NULL"),
                       key=lambda t: int(t.id))
    cur = account.currency
    out: dict[str, Any] = {f: getattr(d, f) for f in TEXT_FIELDS}
    out.update({
        "id": d.id, "group_tag": d.group_tag, "blocked": d.blocked,
        "overdraft": money(state["overdraft"], cur) if d.overdraft_minor is not None else None,
        "created_at": d.created_at, "retired_at": d.retired_at,
        "account": {k: money(state[k], cur) for k in
                    ("balance", "held", "open_cost", "available", "overdraft", "debt")},
        "cards": [{"id_tag": t.id_tag, "mode": t.mode, "status": t.status} for t in cards],
    })
    return out


def _summaries(drivers: list[Driver], now: datetime) -> list[tuple[int, dict[str, Any]]]:
    """Many drivers in a few queries: only accounts with a running session are priced live."""
    ids = [d.id for d in drivers]
    accounts = {a.driver_id: a for a in Account.select().where(Account.driver.in_(ids))}
    cards: dict[int | None, list[IdTag]] = {}
    for tag in IdTag.select().where(IdTag.driver.in_(ids) & IdTag.retired_at.is_null()):
        cards.setdefault(tag.driver_id, []).append(tag)
    busy = {a for (a,) in ChargingSession.select(ChargingSession.account).where(
        (ChargingSession.state == "active") & ChargingSession.account.in_(
            [a.id for a in accounts.values()])).tuples()}
    site_overdraft = int(site_value("overdraft_default_minor", ledger.DEFAULT_OVERDRAFT_MINOR))
    out = []
    for d in drivers:
        account = accounts[d.id]
        if account.id in busy:
            state = settlement.account_state(account, now)
        else:
            overdraft = d.overdraft_minor if d.overdraft_minor is not None else site_overdraft
            state = {"balance": account.balance, "held": account.held, "open_cost": 0,
                     "available": account.balance - account.held, "overdraft": overdraft,
                     "debt": ledger.debt(account.balance, overdraft)}
        out.append((d.id, driver_dict(d, now, account=account, cards=cards.get(d.id, []),
                                      state=state)))
    return out


def _apply(d: Driver, fields: dict[str, Any]) -> None:
    for name, size in TEXT_FIELDS.items():
        if name in fields:
            value = fields[name]
            if not isinstance(value, str):
                raise InvalidInput(f"{name} must be text", details={"field": name})
            setattr(d, name, value.strip()[:size])
    if d.phone_key != phone_key(d.phone):  # with the phone, always: the look-ups go by it
        d.phone_key = phone_key(d.phone)
    d.price_group = (d.price_group or "").lower()  # groups compare like tags: any case
    if not d.name:
        raise InvalidInput(N_("A name is needed."), details={"field": "name"})
    if fields.get("phone"):
        _check_phone_free(d.phone, d.id)
    if "blocked" in fields:
        d.blocked = bool(fields["blocked"])
    if "overdraft" in fields:
        value = fields["overdraft"]
        if isinstance(value, dict):
            value = value.get("amount")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise InvalidInput(N_("The overdraft is a whole number of minor units, 0 or more."),
                               details={"field": "overdraft"})
        d.overdraft_minor = value


def _check_phone_free(phone: str, driver_id: int | None) -> None:
    """A phone number belongs to one driver: the phone login must never have to choose. By the
    indexed key, not by reading every driver."""
    key = phone_key(phone)
    if not key:
        return
    query = Driver.select(Driver.id, Driver.name, Driver.phone).where(
        (Driver.phone_key == key) & Driver.retired_at.is_null())
    if driver_id is not None:
        query = query.where(Driver.id != driver_id)
    other = query.order_by(Driver.id).first()
    if other is not None:
        raise Conflict(N_("The phone number %(phone)s already belongs to %(name)s "
                          "(driver %(id)s)."),
                       params={"phone": phone, "name": other.name, "id": other.id},
                       details={"field": "phone", "driver_id": other.id})


def create_driver(fields: dict[str, Any], currency: str) -> dict[str, Any]:
    d = Driver(group_tag=_group_tag(), name="")
    _apply(d, fields)
    d.save()
    Account.create(driver=d.id, currency=currency)
    return driver_dict(d)


def get_driver(driver_id: int) -> Driver:
    d = fastsql.get(Driver, Driver.id, driver_id)
    if d is None:
        raise NotFound(f"no driver {driver_id}")
    return d


def _account(driver_id: int) -> Account:
    found = fastsql.get(Account, Account.driver, driver_id)
    if found is None:
        raise Account.DoesNotExist(f"driver {driver_id} has no account")
    return found


def account_of(driver_id: int) -> Account:
    get_driver(driver_id)
    return _account(driver_id)


def update_driver(driver_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    d = get_driver(driver_id)
    _apply(d, fields)
    d.save()
    return driver_dict(d)


def retire_driver(driver_id: int) -> None:
    """History stays; the driver's cards stop working."""
    d = get_driver(driver_id)
    d.retired_at = utcnow()
    d.save()
    IdTag.update(status="Blocked", updated_at=utcnow()).where(IdTag.driver == d.id).execute()


def list_drivers(after: int | None, limit: int, q: str | None) -> list[tuple[int, dict[str, Any]]]:
    query = Driver.select().where(Driver.retired_at.is_null())
    if q:
        by_card = IdTag.select(IdTag.driver).where(IdTag.key.contains(q.upper()))
        query = query.where(Driver.name.contains(q) | Driver.phone.contains(q)
                            | Driver.id.in_(by_card))
    if after is not None:
        query = query.where(Driver.id > after)
    return _summaries(list(query.order_by(Driver.id).limit(limit)), utcnow())


def bind_card(driver_id: int, id_tag: str, mode: str, replaces: str | None) -> dict[str, Any]:
    """Give a card to a driver; with `replaces`, the new card takes over a lost one, which is
    Blocked from now on."""
    d = get_driver(driver_id)
    check_id_tag(id_tag)
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}", details={"field": "mode"})
    tag = IdTag.get_or_none(IdTag.key == id_tag.upper())
    if tag is not None and tag.retired_at is None and tag.driver_id not in (None, d.id):
        raise Conflict(N_("Card %(tag)s belongs to another driver."), params={"tag": id_tag},
                       details={"id_tag": id_tag})
    if replaces:
        old = IdTag.get_or_none((IdTag.key == replaces.upper()) & (IdTag.driver == d.id))
        if old is None:
            raise NotFound(N_("This driver has no card %(tag)s."), params={"tag": replaces},
                           details={"field": "replaces"})
        old.status, old.updated_at = "Blocked", utcnow()
        old.note = (old.note + f" replaced by {id_tag}").strip()
        old.save()
    if tag is None:
        tag = IdTag(id_tag=id_tag, key=id_tag.upper(), status="Accepted")
    elif tag.retired_at is not None:
        tag.retired_at, tag.status = None, "Accepted"
    tag.driver_id, tag.mode, tag.parent_id_tag = d.id, mode, d.group_tag
    tag.updated_at = utcnow()
    tag.save()
    UnknownTag.delete().where(UnknownTag.key == tag.key).execute()
    return {**card_dict(tag), "mode": tag.mode, "driver_id": d.id}


def driver_cards(driver_id: int) -> list[dict[str, Any]]:
    get_driver(driver_id)
    return [{**card_dict(t), "mode": t.mode, "last_refusal": t.last_refusal or None}
            for t in IdTag.select().where(IdTag.driver == driver_id).order_by(IdTag.id)]


def check_topup_cap(amount: int, currency: str, cap_major: int | None = None) -> None:
    """One top-up is at most the site's cap (a typo of a few zeros is refused, for pages and
    API alike). Pages pass the cap they already hold; the writer reads the stored one."""
    if cap_major is None:
        cap_major = int(site_value("topup_max", TOPUP_MAX_DEFAULT))
    if isinstance(amount, int) and amount > cap_major * 10 ** minor_exponent(currency):
        raise InvalidInput(N_("One top-up is at most %(cap)s %(currency)s (a site setting)."),
                           params={"cap": f"{cap_major:,}", "currency": currency},
                           details={"field": "amount"})


def topup(driver_id: int, amount: int, method: str, receipt_no: str, reference: str,
          actor: str, note: str) -> dict[str, Any]:
    driver = get_driver(driver_id)
    account = _account(driver_id)
    check_topup_cap(amount, account.currency)
    entry = ledger.topup(account.id, amount, method, receipt_no, reference, actor, note)
    return {"entry_id": entry.id, "amount": money(entry.amount, account.currency),
            "driver": driver_dict(driver)}


def correct(driver_id: int, kind: str, amount: int, reason: str, reference: str, actor: str,
            session_id: int | None) -> dict[str, Any]:
    driver = get_driver(driver_id)
    account = _account(driver_id)
    entry = ledger.correction(account.id, kind, amount, reason, reference, actor, session_id)
    return {"entry_id": entry.id, "kind": kind, "amount": money(entry.amount, account.currency),
            "driver": driver_dict(driver)}


def driver_ledger(driver_id: int, after: int | None, limit: int) -> list[dict[str, Any]]:
    account = account_of(driver_id)
    rows = ledger.entries(account.id, after, limit)
    for row in rows:
        row["amount"] = money(row["amount"], account.currency)
        row["balance_after"] = money(row["balance_after"], account.currency)
    return rows
