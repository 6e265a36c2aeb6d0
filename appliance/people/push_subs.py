"""Drivers' Web Push subscriptions: saved from the driver's own page, one row per push endpoint
(a phone that logs in as someone else moves to them), dropped when the push service says the
subscription is gone. Sync functions for the database seam."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

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
