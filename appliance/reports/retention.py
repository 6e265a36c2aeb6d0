"""What every table that grows with traffic keeps, pruned by the nightly job. Meter samples have
their own rule (appliance.reports.prune, the site's `sample_retention_days`); the frame log is
bounded as it is written (about 1.5 x `frame_log_size` frames per station, see ocpp.hub);
failed logins live in memory, bounded per address (ocpp.endpoint.LoginLimiter); ended or
expired login sessions go after people.sessions.KEEP_ENDED."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from peewee import Field, Model

from appliance.db.database import Database
from appliance.db.models import SecurityEvent, StationNotice, UnknownTag
from appliance.db.models_money import IdempotencyRecord
from appliance.db.models_payments import PhoneCode
from appliance.db.models_people import AuditLog
from appliance.people import sessions

CHUNK = 5000  # rows per delete: a nightly writer job stays short


@dataclass(frozen=True)
class Rule:
    model: type[Model]
    moment: Field  # the row's time the retention counts from
    days: int
    why: str


RULES = (
    Rule(IdempotencyRecord, IdempotencyRecord.created_at, 30,
         "DESIGN.md: a money request's first answer is kept 30 days"),
    Rule(UnknownTag, UnknownTag.last_seen_at, 90, "a card nobody registered in 90 days"),
    Rule(StationNotice, StationNotice.received_at, 90, "charger notices are for support"),
    Rule(SecurityEvent, SecurityEvent.received_at, 400, "over a year of security history"),
    Rule(AuditLog, AuditLog.at, 730, "two years of who did what (money has its ledger)"),
    Rule(PhoneCode, PhoneCode.sent_at, 2, "SMS codes live ten minutes; the hour's limits "
         "need an hour of them"),
)
UNKNOWN_TAGS_MAX = 1000  # the newest kept, whatever their age: garbage tags cannot pile up


def _delete_chunk(rule: Rule, cutoff: datetime) -> int:
    model: Any = rule.model
    key = model._meta.primary_key
    rows = cast(Iterable[tuple[int]],
                model.select(key).where(rule.moment < cutoff).limit(CHUNK).tuples())
    return int(model.delete().where(key.in_([row[0] for row in rows])).execute())


def _unknown_tags_over_bound() -> int:
    rows = cast(Iterable[tuple[int]], UnknownTag.select(UnknownTag.id)
                .order_by(UnknownTag.last_seen_at.desc(), UnknownTag.id.desc())
                .offset(UNKNOWN_TAGS_MAX).limit(CHUNK).tuples())
    extra = [row[0] for row in rows]
    return int(UnknownTag.delete().where(UnknownTag.id.in_(extra)).execute()) if extra else 0


async def prune_growing(database: Database, now: datetime) -> dict[str, int]:
    """Every rule applied, in small writer jobs; rows deleted per table."""
    out: dict[str, int] = {}
    for rule in RULES:
        cutoff = now - timedelta(days=rule.days)
        gone = total = 0
        while (gone := await database.run(_delete_chunk, rule, cutoff)) > 0:
            total += gone
        out[rule.model._meta.table_name] = total
    while (gone := await database.run(_unknown_tags_over_bound)) > 0:
        out["unknown_tag"] += gone
    # Login sessions: ended or expired ones go 30 days later (people.sessions' own rule; a login
    # tidies only its own person's rows, so people who never log in again are swept here).
    out["login_session"] = await database.run(sessions.prune, now)
    return out
