"""The walk-in payments' long-lived loop: it reconciles checkouts the box never confirmed with
the provider's records (at start-up, every one: the box may have been down while they were
paid), and gives back what sessions did not use, retrying a provider that fails with a growing
wait (staff see those until they are done)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime

from appliance.billing import online_topups, walkin
from appliance.db.database import Database
from appliance.db.models import utcnow
from appliance.db.models_payments import OnlinePayment, OnlineTopup
from appliance.errors import ApplianceError
from appliance.payments.provider import Paid
from appliance.payments.registry import Registry

log = logging.getLogger(__name__)


def _payment(payment_id: int) -> OnlinePayment:
    return OnlinePayment.get_by_id(payment_id)


async def give_back(database: Database, registry: Registry, payment_id: int,
                    at: datetime) -> bool:
    """Refund the rest, or capture the fee (cancel when it is nothing); then one ledger row."""
    step = await database.read(walkin.plan, payment_id)
    try:
        provider = await registry.get(step.provider, enabled_only=False)
        provider_id = step.payment_ref
        if step.manual_capture and step.keep > 0:
            await provider.capture(step.payment_ref, step.keep, step.reference)
        elif step.manual_capture:
            await provider.cancel(step.payment_ref, step.reference)
        elif step.give_back > 0:
            provider_id = await provider.refund(step.payment_ref, step.give_back, step.reference)
    except ApplianceError as err:
        log.warning("payment %s: giving back %s failed (retried later): %s", payment_id,
                    step.give_back, err.message)
        await database.run(walkin.record_failure, payment_id, err.message, at)
        return False
    await database.run(walkin.record_return, payment_id, provider_id, at)
    log.info("payment %s: gave back %s, kept %s (%s)", payment_id, step.give_back, step.keep,
             step.reference)
    return True


async def reconcile(database: Database, registry: Registry, at: datetime,
                    everything: bool) -> None:
    """Ask the provider about checkouts never confirmed: paid ones are booked and given back
    whole (the driver is long gone or the box restarted), unpaid old ones abandoned."""
    for payment_id in await database.read(walkin.unconfirmed, at, everything):
        p = await database.read(_payment, payment_id)
        try:
            provider = await registry.get(p.provider, enabled_only=False)
            conf = await provider.confirm(str(p.ref))
            if conf.status in (Paid.AUTHORIZED, Paid.CAPTURED):
                await database.run(walkin.book, payment_id, conf, 0.0, at, False)
                log.warning("payment %s was paid but never started: giving it back", p.id)
            elif conf.status == Paid.FAILED or at - p.created_at > walkin.PAY_WINDOW:
                if conf.status != Paid.FAILED:
                    await provider.abandon(str(p.ref))
                await database.run(walkin.abandon, payment_id, at)
        except ApplianceError as err:
            log.warning("payment %s: reconciling with %s failed: %s", p.id, p.provider,
                        err.message)


async def confirm_topup(database: Database, registry: Registry, topup_id: int,
                        at: datetime) -> OnlineTopup:
    """Ask the provider about an online top-up; capture an authorization whole (a top-up has
    no fee to wait for) and book it once. Errors are the provider's, for the caller."""
    t = await database.read(OnlineTopup.get_by_id, topup_id)
    if t.state != "created" or not t.ref:
        return t
    provider = await registry.get(t.provider, enabled_only=False)
    conf = await provider.confirm(str(t.ref))
    if conf.status == Paid.AUTHORIZED:
        await provider.capture(conf.payment_ref, conf.amount,
                               f"capture:{t.provider}:{conf.payment_ref}")
        conf = replace(conf, status=Paid.CAPTURED)
    if conf.status == Paid.CAPTURED:
        t = await database.run(online_topups.book, topup_id, conf, at)
        log.info("online top-up %s booked: %s %s", t.id, conf.amount, t.currency)
    elif conf.status == Paid.FAILED or at - t.created_at > walkin.PAY_WINDOW:
        if conf.status != Paid.FAILED:
            await provider.abandon(str(t.ref))
        await database.run(online_topups.abandon, topup_id, at)
    return await database.read(OnlineTopup.get_by_id, topup_id)


async def reconcile_topups(database: Database, registry: Registry, at: datetime,
                           everything: bool) -> None:
    for topup_id in await database.read(online_topups.unconfirmed, at, everything):
        try:
            await confirm_topup(database, registry, topup_id, at)
        except ApplianceError as err:
            log.warning("online top-up %s: reconciling failed: %s", topup_id, err.message)


async def tick(database: Database, registry: Registry, at: datetime,
               everything: bool = False) -> None:
    await reconcile(database, registry, at, everything)
    await reconcile_topups(database, registry, at, everything)
    for payment_id in await database.run(walkin.advance, at):
        await give_back(database, registry, payment_id, at)


async def run_forever(database: Database, registry: Registry, interval_s: float) -> None:
    everything = True  # the first round, at start-up, reconciles every unconfirmed checkout
    while True:
        try:
            await tick(database, registry, utcnow(), everything)
            everything = False
        except ApplianceError as err:
            log.warning("walk-in payments round failed: %s", err.message)
        await asyncio.sleep(interval_s)
