"""Provider keys on the settings page: sealed at rest with a key file only the service user can
read (never in the database or the audit in clear), "test connection" against the stand-in, and
without a provider the connector page says plainly that only the balance route is open."""

from __future__ import annotations

import stat
from typing import Any

from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.db.models_payments import PaymentProviderConfig
from appliance.db.models_people import AuditLog
from appliance.payments.secrets import key_path
from tests.conftest import Api
from tests.driver_fixtures import site_with_charger
from tests.payments_fixtures import razorpay, settings, stripe
from tests.staff_client import staff_client
from tests.standin_razorpay import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, RazorpayStandin

__all__ = ["razorpay", "stripe", "settings"]


def _stored() -> tuple[str, str]:
    row = PaymentProviderConfig.get(PaymentProviderConfig.provider == "razorpay")
    audit = " ".join(str(a.detail) for a in AuditLog.select())
    return row.secret_enc + row.webhook_secret_enc, audit


async def test_keys_are_sealed_and_tested(server: TestServer, razorpay: RazorpayStandin) -> None:
    async with staff_client(server) as staff:
        status, html = await staff.get("/settings/payments")
        assert status == 200 and "Test connection" in html
        status, html = await staff.post("/settings/payments/razorpay", {
            "enabled": "on", "key_id": KEY_ID, "secret": KEY_SECRET,
            "webhook_secret": WEBHOOK_SECRET}, from_page="/settings/payments")
        assert status == 200 and "Saved." in html
        status, html = await staff.post("/settings/payments/razorpay/test", {},
                                         from_page="/settings/payments")
        assert status == 200 and "connected, the keys work" in html
        # A wrong secret: the test says so; an empty one keeps the stored secret.
        await staff.post("/settings/payments/razorpay", {"enabled": "on", "key_id": "rzp_x"},
                         from_page="/settings/payments")
        status, html = await staff.post("/settings/payments/razorpay/test", {},
                                        from_page="/settings/payments")
        assert status == 502 and "Authentication failed" in html
    sealed, audit = await server.app[keys.DATABASE].read(_stored)
    assert KEY_SECRET not in sealed and WEBHOOK_SECRET not in sealed and sealed
    assert KEY_SECRET not in audit and "secret_changed" in audit
    mode = key_path(server.app[keys.SETTINGS].data_path).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


async def test_no_provider_says_so_plainly(server: TestServer, api: Api, charger: Any) -> None:
    await site_with_charger(api, "NO-1")
    async with charger("NO-1", "secret-pass-1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        async with staff_client(server, "desk") as phone:
            _, html = await phone.get("/c/NO-1/1")
    assert "Online payment is not available at this site" in html
    assert "pay-razorpay" not in html
