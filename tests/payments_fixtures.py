"""Walk-in payment tests: the providers' stand-ins on 127.0.0.1, the box pointed at them, and a
phone that pays without an account (plain HTTP, cookies, following the providers' redirects)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance import keys
from appliance.config import Settings
from appliance.db.models_money import LedgerEntry
from appliance.db.models_payments import OnlinePayment
from tests import standin_razorpay, standin_stripe
from tests.driver_fixtures import CSRF
from tests.standin_razorpay import RazorpayStandin
from tests.standin_stripe import StripeStandin


@pytest.fixture
async def razorpay(aiohttp_server: Any) -> RazorpayStandin:
    standin = RazorpayStandin()
    served = await aiohttp_server(standin.app(), host="127.0.0.1")
    standin.base = str(served.make_url("")).rstrip("/")
    return standin


@pytest.fixture
async def stripe(aiohttp_server: Any) -> StripeStandin:
    standin = StripeStandin()
    served = await aiohttp_server(standin.app(), host="127.0.0.1")
    standin.base = str(served.make_url("")).rstrip("/")
    return standin


@pytest.fixture
def settings(make_settings: Callable[..., Settings], razorpay: RazorpayStandin,
             stripe: StripeStandin) -> Settings:
    return make_settings(razorpay_api_base=razorpay.base, stripe_api_base=stripe.base,
                         payment_retry_s=0.1)


async def enable_providers(server: TestServer, *names: str) -> None:
    payments = server.app[keys.PAYMENTS]
    if "razorpay" in names:
        await payments.save("razorpay", True, standin_razorpay.KEY_ID, standin_razorpay.KEY_SECRET,
                            standin_razorpay.WEBHOOK_SECRET, "test")
    if "stripe" in names:
        await payments.save("stripe", True, "", standin_stripe.SECRET_KEY,
                            standin_stripe.WEBHOOK_SECRET, "test")


class WalkIn:
    """A phone with no account: the connector page, the provider's checkout, back to the box."""

    def __init__(self, session: aiohttp.ClientSession, server: TestServer) -> None:
        self.session, self.server = session, server

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, url: str) -> tuple[int, str, str]:
        async with self.session.get(url if url.startswith("http") else self.url(url)) as resp:
            return resp.status, await resp.text(), str(resp.url)

    async def checkout(self, cpid: str, connector: int, provider: str, limit: str,
                       kind: str = "amount") -> tuple[int, str]:
        """Fill the connector page's pay form; (status, where it leads) without following."""
        _, html, _ = await self.get(f"/c/{cpid}/{connector}")
        token = CSRF.search(html)
        assert token, html[:300]
        form = {"csrf_token": token.group(1), "provider": provider, "limit_kind": kind,
                "limit": limit}
        async with self.session.post(self.url(f"/c/{cpid}/{connector}/pay"), data=form,
                                     allow_redirects=False) as resp:
            return resp.status, resp.headers.get("Location", "") or await resp.text()

    async def pay_hosted(self, checkout_url: str, path: str, form: dict[str, str]
                         ) -> tuple[int, str, str]:
        """Pay on the provider's page; follow its redirect back to the box."""
        async with self.session.post(checkout_url.rsplit("/", 2)[0] + path, data=form) as resp:
            return resp.status, await resp.text(), resp.url.path


async def post_webhook(server: TestServer, provider: str, body: bytes,
                       headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session, session.post(
            server.make_url(f"/pay/hooks/{provider}"), data=body, headers=headers) as resp:
        return resp.status


def _payments() -> list[dict[str, Any]]:
    return [{"state": p.state, "amount": p.amount, "give_back": p.return_amount,
             "attempts": p.attempts, "payment_ref": p.payment_ref, "message": p.message}
            for p in OnlinePayment.select().order_by(OnlinePayment.id)]


async def payments(server: TestServer) -> list[dict[str, Any]]:
    return await server.app[keys.DATABASE].read(_payments)


def _money_rows() -> list[tuple[str, int, str]]:
    return [(e.kind, e.amount, re.sub(r":[^:]+$", "", e.reference))
            for e in LedgerEntry.select().order_by(LedgerEntry.id)]


async def money_rows(server: TestServer) -> list[tuple[str, int, str]]:
    """(kind, amount, reference without its id) of every ledger row, oldest first."""
    return await server.app[keys.DATABASE].read(_money_rows)
