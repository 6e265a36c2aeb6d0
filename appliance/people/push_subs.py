"""Drivers' Web Push subscriptions: saved from the driver's own page, one row per push endpoint
(a phone that logs in as someone else moves to them), dropped when the push service says the
subscription is gone. Sync functions for the database seam."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from appliance.db import fastsql
from appliance.db.models import ChargingSession
from appliance.db.models_payments import PushSubscription
from appliance.errors import N_, InvalidInput
from appliance.push.webpush import Subscription, unb64url


def save(driver_id: int, sub: Subscription, at: datetime) -> None:
    parts = urlsplit(sub.endpoint)
    try:
        sizes = (len(unb64url(sub.p256dh)), len(unb64url(sub.auth)))
    except ValueError:
        sizes = (0, 0)
    if parts.scheme not in ("https", "http") or not parts.netloc or len(sub.endpoint) > 1000 \
            or sizes != (65, 16):
        raise InvalidInput(N_("That is not a push subscription."))
    row = PushSubscription.get_or_none(PushSubscription.endpoint == sub.endpoint)
    if row is None:
        PushSubscription.create(driver=driver_id, endpoint=sub.endpoint, p256dh=sub.p256dh,
                                auth=sub.auth, created_at=at)
        return
    row.driver_id, row.p256dh, row.auth = driver_id, sub.p256dh, sub.auth
    row.save()


def _to_tell_sql(p: str, in_list: str) -> str:
    s, ps = ChargingSession, PushSubscription
    t, sub = fastsql.table(s), fastsql.table(ps)
    return (f"SELECT {t}.{fastsql.col(s.id)} FROM {t} "
            f"WHERE {fastsql.col(s.transaction_id)} IN ({in_list}) "
            f"AND EXISTS (SELECT 1 FROM {sub} WHERE {sub}.{fastsql.col(ps.driver)} = "
            f"{t}.{fastsql.col(s.driver)})")


def sessions_to_tell(transaction_ids: list[int]) -> list[int]:
    """The ids of the sessions of these transactions whose driver has a phone to tell: one
    indexed statement for all the stops of a moment (a busy site stops some 60 sessions a
    second, and most drivers never subscribe)."""
    rows = fastsql.query_in("push:to-tell", 1, _to_tell_sql, transaction_ids)
    return sorted(int(row[0]) for row in rows)


def remove(driver_id: int, endpoint: str) -> None:
    PushSubscription.delete().where((PushSubscription.driver == driver_id)
                                    & (PushSubscription.endpoint == endpoint)).execute()


def of_driver(driver_id: int) -> list[Subscription]:
    rows = PushSubscription.select().where(PushSubscription.driver == driver_id)
    return [Subscription(r.endpoint, r.p256dh, r.auth) for r in rows.order_by(PushSubscription.id)]


def sent(endpoint: str, at: datetime) -> None:
    PushSubscription.update(last_sent_at=at).where(PushSubscription.endpoint == endpoint).execute()


def gone(endpoint: str) -> None:
    PushSubscription.delete().where(PushSubscription.endpoint == endpoint).execute()
