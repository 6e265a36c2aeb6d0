"""The PC/SC backend against a real pcscd with the vpcd virtual readers and our virtual card: card
in, UID read, card out, a second card, a card that refuses, two readers, pcscd gone and back; and
the card desk in a real browser: a card tapped on the reader appears on the open issuing page, is
bound to a new driver, and then authorizes at a simulated charger.

Every test of the machine's one pcscd (/run/pcscd, the readers' fixed ports) lives in this file:
the suite runs on two workers that share out whole files (pytest-xdist, `--dist loadfile`), so
no two of them ever start, stop or read pcscd at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from appliance import keys
from appliance.events import Event, EventBus, ReaderState, TagSeen
from appliance.people.staff import create_staff
from appliance.rfid_reader.service import (
    ReaderService,
    ReaderSettings,
    reader_check,
    reader_service,
)
from tests.browser import browser, shoot_both  # noqa: F401
from tests.charger import connect_charger
from tests.conftest import Api, make_token

from .conftest import READER_NAMES, Pcscd
from .vcard import VPCD_PORTS, VirtualCard

pytestmark = pytest.mark.usefixtures("running_pcscd")

FIRST, SECOND = READER_NAMES


class Watch:
    """The bus as a test sees it: wait for the next event of a kind that matches."""

    def __init__(self, queue: asyncio.Queue[Event]) -> None:
        self.queue = queue

    async def next(self, kind: type[Event], **match: object) -> Event:
        async with asyncio.timeout(10):
            while True:
                event = await self.queue.get()
                if isinstance(event, kind) and all(
                    getattr(event, k) == v for k, v in match.items()
                ):
                    return event

    async def readers(self, present: bool, names: tuple[str, ...] = READER_NAMES) -> None:
        waiting = set(names)
        while waiting:
            event = await self.next(ReaderState, present=present)
            waiting.discard(event.reader)  # type: ignore[attr-defined]


@pytest.fixture
async def desk() -> AsyncIterator[tuple[ReaderService, Watch]]:
    bus = EventBus()
    async with (
        bus.subscribe() as queue,
        reader_service(ReaderSettings(backend="pcsc", repeat_s=0), bus) as service,
    ):
        watch = Watch(queue)
        await watch.readers(present=True)
        yield service, watch


async def test_card_in_read_out_and_a_second_card(
    desk: tuple[ReaderService, Watch],
) -> None:
    service, watch = desk
    assert service.readers == sorted(READER_NAMES)
    with VirtualCard(bytes.fromhex("04A1B2C3")):
        seen = await watch.next(TagSeen)
    assert (seen.id_tag, seen.source, seen.known) == ("04A1B2C3", "reader", False)  # type: ignore[attr-defined]
    with VirtualCard(bytes.fromhex("04112233445566")):  # a 7-byte UID (DESFire, NTAG)
        seen = await watch.next(TagSeen)
    assert seen.id_tag == "04112233445566"  # type: ignore[attr-defined]
    assert [r.reader for r in service.last_reads] == [FIRST, FIRST]
    assert service.status()["last_reads"][0]["uid"] == "04112233445566"


async def test_the_same_card_again_is_a_new_tap(desk: tuple[ReaderService, Watch]) -> None:
    service, watch = desk
    for _ in range(2):
        with VirtualCard(bytes.fromhex("0A0B0C0D")):
            await watch.next(TagSeen, id_tag="0A0B0C0D")
    assert len(service.last_reads) == 2


async def test_a_card_that_refuses_is_reported_not_fatal(
    desk: tuple[ReaderService, Watch],
) -> None:
    service, watch = desk
    with VirtualCard(bytes.fromhex("01020304"), status=b"\x6a\x81") as card:
        for _ in range(100):
            if service.last_error:
                break
            await asyncio.sleep(0.05)
        assert card.apdus  # it was asked
    assert service.last_error and "SW 6A81" in service.last_error
    with VirtualCard(bytes.fromhex("01020305"), port=VPCD_PORTS[1]):
        seen = await watch.next(TagSeen)
    assert seen.id_tag == "01020305"  # type: ignore[attr-defined]
    assert service.last_reads[-1].reader == SECOND


async def test_a_card_already_on_the_reader_at_start_is_read() -> None:
    with VirtualCard(bytes.fromhex("CAFE0001")):
        result = await reader_check(ReaderSettings(backend="pcsc"), timeout=10)
    assert result.readers == sorted(READER_NAMES)
    assert result.read is not None and result.read.id_tag == "CAFE0001"


async def test_pcscd_gone_and_back(
    desk: tuple[ReaderService, Watch], running_pcscd: Pcscd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="appliance.rfid_reader")
    service, watch = desk
    await asyncio.to_thread(running_pcscd.stop)
    await watch.readers(present=False)
    assert service.status()["present"] is False
    await asyncio.sleep(1.0)  # several reconnect attempts while pcscd is away
    await asyncio.to_thread(running_pcscd.start)
    await watch.readers(present=True)
    with VirtualCard(bytes.fromhex("0BADCAFE")):
        await watch.next(TagSeen, id_tag="0BADCAFE")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("PC/SC service lost" in m for m in messages) == 1
    assert sum("PC/SC service is back" in m for m in messages) == 1


async def test_no_pcscd_at_start(running_pcscd: Pcscd) -> None:
    await asyncio.to_thread(running_pcscd.stop)
    bus = EventBus()
    async with (
        bus.subscribe() as queue,
        reader_service(ReaderSettings(backend="pcsc"), bus) as service,
    ):
        await asyncio.sleep(0.5)
        assert service.status()["present"] is False
        await asyncio.to_thread(running_pcscd.start)
        await Watch(queue).readers(present=True)


# --- the card desk in a browser ----------------------------------------------------------------
@asynccontextmanager
async def tapped(uid: bytes) -> AsyncIterator[None]:
    """A card on the virtual reader; putting it down and lifting it block, so off the loop."""
    card = VirtualCard(uid)
    await asyncio.to_thread(card.insert)
    try:
        yield
    finally:
        await asyncio.to_thread(card.remove)


async def test_tap_on_the_desk_reader_issues_a_card(start_app: Any, make_settings: Any,
                                                    browser: Any) -> None:
    server = await start_app(make_settings(reader_backend="pcsc"))
    database = server.app[keys.DATABASE]
    await database.run(create_staff, "desk1", "desk", "desk-password-1")
    page = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
    await page.goto(str(server.make_url("/login")))
    await page.fill("#username", "desk1")
    await page.fill("#password", "desk-password-1")
    await page.click("main button[type=submit]")
    await page.goto(str(server.make_url("/desk")))
    for _ in range(100):  # the reader thread sees the virtual readers within a moment
        if server.app[keys.READER].readers:
            break
        await asyncio.sleep(0.05)
    await page.wait_for_timeout(300)  # the page's event stream is connected
    async with tapped(bytes.fromhex("04A1B2C3")):
        await page.wait_for_url(lambda url: url.endswith("/desk?id_tag=04A1B2C3"),
                                timeout=10_000)
    assert await page.get_attribute("#tap-result", "data-state") == "unknown"
    await shoot_both(page, "desk-tap")
    await page.click("#new-driver")
    assert await page.input_value("#tapped-tag") == "04A1B2C3"
    await page.fill("#name", "Ravi Shah")
    await page.select_option("#mode", "personal")
    await page.click("main form button[type=submit]")
    await page.wait_for_url("**/drivers/*")
    assert "04A1B2C3" in await page.locator("#driver-cards").text_content()
    # Tapping the card again opens its driver straight away.
    await page.goto(str(server.make_url("/desk")))
    await page.wait_for_timeout(1600)  # past the reader's repeat window: a new tap
    async with tapped(bytes.fromhex("04A1B2C3")):
        await page.wait_for_url(lambda url: "tapped=04A1B2C3" in url, timeout=10_000)
    await page.context.close()
    token = await make_token(server)
    async with aiohttp.ClientSession() as session:
        api = Api(session, str(server.make_url("")).rstrip("/"), token)
        await api.post("/stations", {"id": "DESKCP", "password": "secret-pass-1",
                                     "managed": False})
    async with connect_charger(server, "DESKCP", "secret-pass-1") as cp:
        await cp.boot()
        assert (await cp.authorize("04a1b2c3"))["status"] == "Accepted"
