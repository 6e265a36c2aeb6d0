"""The site's providers, built from their stored settings: one HTTP client session for all of
them, each provider at its API base URL (a boot setting, so tests and a site's staging can point
it at a stand-in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from appliance.db.database import Database
from appliance.errors import N_, NotFound
from appliance.payments import config
from appliance.payments.provider import Keys, Provider
from appliance.payments.razorpay import Razorpay
from appliance.payments.secrets import SecretBox
from appliance.payments.stripe import Stripe


def bases_from(settings: Any) -> dict[str, str]:
    """Each provider's API base URL from the boot settings."""
    return {"razorpay": settings.razorpay_api_base, "stripe": settings.stripe_api_base}


class Registry:
    def __init__(self, database: Database, session: aiohttp.ClientSession, data_path: Path,
                 bases: dict[str, str]) -> None:
        self.database, self.session, self.bases = database, session, bases
        self.box = SecretBox(data_path)

    def build(self, sealed: config.Sealed) -> Provider:
        keys = Keys(sealed.key_id, self.box.open(sealed.secret_enc),
                    self.box.open(sealed.webhook_secret_enc))
        if sealed.provider == "razorpay":
            return Razorpay(self.session, self.bases["razorpay"], keys)
        return Stripe(self.session, self.bases["stripe"], keys)

    async def get(self, name: str, enabled_only: bool = True) -> Provider:
        sealed = await self.database.read(config.load, name)
        if sealed is None or (enabled_only and not sealed.enabled):
            raise NotFound(N_("The payment provider %(name)s is not set up."),
                           params={"name": name})
        return self.build(sealed)

    async def enabled(self) -> list[str]:
        return [s.provider for s in await self.database.read(config.load_all) if s.enabled]

    async def save(self, provider: str, enabled: bool, key_id: str, secret: str,
                   webhook_secret: str, actor: str) -> None:
        sealed = config.Sealed(provider, enabled, key_id, self.box.seal(secret),
                               self.box.seal(webhook_secret))
        await self.database.run(config.save, sealed, actor)


@asynccontextmanager
async def registry(database: Database, data_path: Path, bases: dict[str, str]
                   ) -> AsyncIterator[Registry]:
    async with aiohttp.ClientSession() as session:
        yield Registry(database, session, data_path, bases)
