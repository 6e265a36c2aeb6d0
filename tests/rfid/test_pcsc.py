"""The PC/SC backend against a real pcscd with the vpcd virtual readers and our virtual card: card
in, UID read, card out, a second card, a card that refuses, two readers, pcscd gone and back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from appliance.events import Event, EventBus, ReaderState, TagSeen
from appliance.rfid_reader.service import (
    ReaderService,
    ReaderSettings,
    reader_check,
    reader_service,
)

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
