"""Id tags (cards) as staff manage them, and the list of unknown tags seen at chargers.
Plain synchronous functions for `database.run` / `database.read`."""

from __future__ import annotations

import re
from typing import Any

from peewee import JOIN, IntegrityError

from appliance.db.models import Driver, IdTag, Station, UnknownTag, utcnow
from appliance.errors import N_, Conflict, InvalidInput, NotFound

STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
# The kinds of token a card may be pinned to (OCPP 2.0.1's IdTokenEnumType); "" is any kind.
TOKEN_TYPES = ("", "ISO14443", "ISO15693", "Central", "eMAID", "KeyCode", "Local",
               "MacAddress", "NoAuthorization")
ID_TAG_RE = re.compile(r"[\x21-\x7e]{1,20}")  # CiString20: printable ASCII, no spaces


def check_id_tag(value: Any, field: str = "id_tag") -> str:
    if not isinstance(value, str) or not ID_TAG_RE.fullmatch(value):
        raise InvalidInput(N_("A card number is 1 to 20 letters and digits, without spaces."),
                           details={"field": field})
    return value


def card_dict(tag: IdTag) -> dict[str, Any]:
    return {"id_tag": tag.id_tag, "status": tag.status, "expiry": tag.expiry,
            "parent_id_tag": tag.parent_id_tag or None, "note": tag.note,
            "token_type": tag.token_type or None,
            "created_at": tag.created_at, "updated_at": tag.updated_at}


def _apply(tag: IdTag, fields: dict[str, Any]) -> None:
    if "status" in fields:
        if fields["status"] not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                               details={"field": "status"})
        tag.status = fields["status"]
    if "expiry" in fields:
        tag.expiry = fields["expiry"]
    if "parent_id_tag" in fields:
        parent = fields["parent_id_tag"]
        tag.parent_id_tag = check_id_tag(parent, "parent_id_tag") if parent else ""
    if "note" in fields:
        tag.note = str(fields["note"] or "")[:2000]
    if "token_type" in fields:
        if fields["token_type"] not in TOKEN_TYPES:
            raise InvalidInput(f"token_type must be one of {', '.join(TOKEN_TYPES[1:])}",
                               details={"field": "token_type"})
        tag.token_type = fields["token_type"]
    tag.updated_at = utcnow()


def get_card(id_tag: str) -> IdTag:
    tag = IdTag.get_or_none((IdTag.key == id_tag.upper()) & IdTag.retired_at.is_null())
    if tag is None:
        raise NotFound(f"no card {id_tag}", details={"id_tag": id_tag})
    return tag


def token_type_of(id_tag: str, default: str = "Central") -> str:
    """The kind of token a card comes as (2.0.1's IdToken type), for a command that names the
    card to a charger; `default` for a card that names none, or no card."""
    tag = IdTag.get_or_none((IdTag.key == id_tag.upper()) & IdTag.retired_at.is_null())
    return str(tag.token_type) if tag is not None and tag.token_type else default


def create_card(id_tag: str, fields: dict[str, Any]) -> dict[str, Any]:
    check_id_tag(id_tag)
    tag = IdTag.get_or_none(IdTag.key == id_tag.upper())
    if tag is not None and tag.retired_at is None:
        raise Conflict(N_("Card %(tag)s is already registered."), params={"tag": id_tag},
                       details={"id_tag": id_tag})
    if tag is None:
        tag = IdTag(id_tag=id_tag, key=id_tag.upper())
    tag.retired_at = None
    tag.status = "Accepted"
    _apply(tag, fields)
    try:
        with IdTag._meta.database.atomic():
            tag.save()
    except IntegrityError as err:
        raise Conflict(N_("Card %(tag)s is already registered."), params={"tag": id_tag},
                       details={"id_tag": id_tag}) from err
    UnknownTag.delete().where(UnknownTag.key == tag.key).execute()
    return card_dict(tag)


def update_card(id_tag: str, fields: dict[str, Any]) -> dict[str, Any]:
    tag = get_card(id_tag)
    _apply(tag, fields)
    tag.save()
    return card_dict(tag)


def retire_card(id_tag: str) -> None:
    tag = get_card(id_tag)
    tag.retired_at = utcnow()
    tag.status = "Invalid"
    tag.save()


def list_cards(after: int | None, limit: int, q: str | None, status: str | None
               ) -> list[tuple[int, dict[str, Any]]]:
    query = IdTag.select().where(IdTag.retired_at.is_null())
    if q:
        query = query.where(IdTag.key.contains(q.upper()) | IdTag.note.contains(q))
    if status:
        query = query.where(IdTag.status == status)
    if after is not None:
        query = query.where(IdTag.id > after)
    joined = query.select(IdTag, Driver.id, Driver.name).join(Driver, JOIN.LEFT_OUTER)
    return [(t.id, {**card_dict(t), "driver_id": t.driver_id, "mode": t.mode,
                    "driver_name": t.driver.name if t.driver is not None else None})
            for t in joined.order_by(IdTag.id).limit(limit)]


def list_unknown(limit: int) -> list[dict[str, Any]]:
    rows: Any  # UnknownTags that carry the joined `cpid` too (objects()), which no type knows
    rows = (UnknownTag.select(UnknownTag, Station.cpid.alias("cpid"))
            .join(Station, JOIN.LEFT_OUTER).objects()
            .order_by(UnknownTag.last_seen_at.desc()).limit(limit))
    return [{"id_tag": r.id_tag, "first_seen_at": r.first_seen_at,
             "last_seen_at": r.last_seen_at, "count": r.count, "source": r.source,
             "station_id": r.cpid,
             "connector_id": r.connector_id} for r in rows]
