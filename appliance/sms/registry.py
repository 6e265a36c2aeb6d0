"""The site's SMS provider, built from its stored settings (the token sealed with the payments'
key file) at its API base URL, a boot setting, so tests and a site's staging can point it at a
stand-in. At most one provider is enabled: the last one saved as enabled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from appliance.db.database import Database
from appliance.db.models import utcnow
from appliance.db.models_payments import SmsConfig
from appliance.errors import N_, InvalidInput, NotFound
from appliance.payments.secrets import SecretBox
from appliance.sms.msg91 import Msg91
from appliance.sms.provider import Sms, SmsKeys
from appliance.sms.twilio import Twilio

PROVIDERS = ("msg91", "twilio")


@dataclass(frozen=True)
class Stored:
    provider: str
    enabled: bool
    account: str
    secret_enc: str
    sender: str
    country_code: str


def load_all() -> list[Stored]:
    return [Stored(r.provider, r.enabled, r.account, r.secret_enc, r.sender, r.country_code)
            for r in SmsConfig.select().order_by(SmsConfig.provider)]


def save(stored: Stored, actor: str) -> None:
    """Store a provider's settings (an empty secret keeps the stored one); enabling one turns
    the other off: codes go out one way."""
    if stored.provider not in PROVIDERS:
        raise InvalidInput(N_("There is no SMS provider %(name)s."),
                           params={"name": stored.provider}, details={"field": "provider"})
    code = stored.country_code.strip().lstrip("+")
    if not (code.isdigit() and 1 <= len(code) <= 4):
        raise InvalidInput(N_("A country code is 1 to 4 digits, like 91."),
                           details={"field": "country_code"})
    row = SmsConfig.get_or_none(SmsConfig.provider == stored.provider) \
        or SmsConfig(provider=stored.provider)
    row.enabled, row.account = stored.enabled, stored.account.strip()[:200]
    row.sender, row.country_code = stored.sender.strip()[:40], code
    if stored.secret_enc:
        row.secret_enc = stored.secret_enc
    row.updated_by, row.updated_at = actor[:80], utcnow()
    with SmsConfig._meta.database.atomic():
        if stored.enabled:
            SmsConfig.update(enabled=False).where(SmsConfig.provider != stored.provider).execute()
        row.save()


class SmsRegistry:
    def __init__(self, database: Database, session: aiohttp.ClientSession, data_path: Path,
                 bases: dict[str, str]) -> None:
        self.database, self.session, self.bases = database, session, bases
        self.box = SecretBox(data_path)

    async def enabled(self) -> Sms | None:
        """The provider codes go out through, or None: then sign-up needs no code."""
        for stored in await self.database.read(load_all):
            if stored.enabled:
                return self.build(stored)
        return None

    async def get(self, name: str) -> Sms:
        for stored in await self.database.read(load_all):
            if stored.provider == name:
                return self.build(stored)
        raise NotFound(N_("The SMS provider %(name)s is not set up."), params={"name": name})

    def build(self, stored: Stored) -> Sms:
        keys = SmsKeys(stored.account, self.box.open(stored.secret_enc), stored.sender,
                       stored.country_code)
        if stored.provider == "twilio":
            return Twilio(self.session, self.bases["twilio"], keys)
        return Msg91(self.session, self.bases["msg91"], keys)

    async def save(self, provider: str, enabled: bool, account: str, secret: str, sender: str,
                   country_code: str, actor: str) -> None:
        stored = Stored(provider, enabled, account, self.box.seal(secret) if secret else "",
                        sender, country_code)
        await self.database.run(save, stored, actor)


@asynccontextmanager
async def sms_registry(database: Database, data_path: Path, bases: dict[str, str]
                       ) -> AsyncIterator[SmsRegistry]:
    async with aiohttp.ClientSession() as session:
        yield SmsRegistry(database, session, data_path, bases)
