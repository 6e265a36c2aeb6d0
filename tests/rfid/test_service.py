"""The reader service: settings (documented, validated), taps turned into TagSeen in the configured
UID form, repeats folded, status for the pages, and `reader_check` over a serial port."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from types import SimpleNamespace

import pytest

from appliance.errors import ConfigError
from appliance.events import EventBus, ReaderState, TagSeen
from appliance.rfid_reader.service import (
    ReaderService,
    ReaderSettings,
    reader_check,
    reader_service,
)
from appliance.rfid_reader.uid import TagRead

from .conftest import PtyPort
from .test_frames import em4100

CARD = bytes.fromhex("04A1B2C3")


def test_every_setting_has_a_default_and_help() -> None:
    defaults = ReaderSettings()
    for f in fields(ReaderSettings):
        assert f.metadata.get("help"), f.name
        assert getattr(defaults, f.name) is not None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backend": "usb"},
        {"backend": "serial"},
        {"serial_baud": 0},
        {"serial_format": "wiegand"},
        {"serial_line_base": "octal"},
        {"uid_encoding": "base64"},
        {"uid_prefix": "A B"},
        {"repeat_s": -1},
    ],
)
def test_bad_settings_refuse_to_start(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="reader"):
        ReaderSettings(**kwargs)  # type: ignore[arg-type]


def test_from_prefixed_settings() -> None:
    app_settings = SimpleNamespace(
        reader_backend="serial",
        reader_serial_port="/dev/ttyUSB0",
        reader_uid_encoding="dec10",
        database_url="sqlite://",
    )
    settings = ReaderSettings.from_prefixed(app_settings)
    assert (settings.backend, settings.serial_port, settings.uid_encoding) == (
        "serial",
        "/dev/ttyUSB0",
        "dec10",
    )
    assert settings.serial_baud == 9600


async def test_taps_become_tag_seen_in_the_configured_form() -> None:
    bus = EventBus()
    service = ReaderService(ReaderSettings(uid_encoding="dec10", repeat_s=60), bus)
    async with bus.subscribe() as queue:
        service.on_reader("desk", True)
        service.on_read(TagRead(CARD, "desk"))
        service.on_read(TagRead(CARD, "desk"))  # still lying there: one tap
        service.on_read(TagRead(bytes(11), "desk"))  # not a UID: an error, not an event
        events = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [type(e) for e in events] == [ReaderState, TagSeen]
    assert events[1] == TagSeen(id_tag="0077705923", source="reader", known=False, at=events[1].at)
    status = service.status()
    assert status["readers"] == ["desk"] and status["present"] is True
    assert status["last_reads"][0]["uid"] == "04A1B2C3"
    assert status["last_reads"][0]["at"].endswith("Z")
    assert "1 to 10 bytes" in (status["last_error"] or "")


async def test_no_backend_runs_nothing() -> None:
    async with reader_service(ReaderSettings(), EventBus()) as service:
        assert service.status()["present"] is False
    with pytest.raises(ConfigError):
        await reader_check(ReaderSettings(), timeout=0.1)


async def test_serial_service_publishes_and_folds_repeats(pty_port: PtyPort) -> None:
    bus = EventBus()
    settings = ReaderSettings(
        backend="serial",
        serial_port=str(pty_port.link),
        serial_format="em4100",
        uid_encoding="dec10",
    )
    async with bus.subscribe() as queue, reader_service(settings, bus) as service:
        state = await asyncio.wait_for(queue.get(), 5)
        assert (
            isinstance(state, ReaderState) and state.present and state.reader == str(pty_port.link)
        )
        card = bytes.fromhex("0100562630")
        pty_port.send(em4100(card) * 3)  # RDM6300s repeat while the card lies on them
        seen = await asyncio.wait_for(queue.get(), 5)
        assert isinstance(seen, TagSeen) and seen.id_tag == "0005645872"
        await asyncio.sleep(0.2)
        assert queue.empty() and len(service.last_reads) == 1


async def test_reader_check_over_serial(pty_port: PtyPort) -> None:
    lines: list[str] = []
    settings = ReaderSettings(backend="serial", serial_port=str(pty_port.link))

    async def tap_later() -> None:
        await asyncio.sleep(0.3)
        pty_port.send(b"04A1B2C3\r\n")

    tapper = asyncio.create_task(tap_later())
    result = await reader_check(settings, timeout=5, report=lines.append)
    await tapper
    assert result.readers == [str(pty_port.link)]
    assert result.read is not None and result.read.id_tag == "04A1B2C3"
    assert lines == [f"reader present: {pty_port.link}"]


async def test_reader_check_times_out_without_a_card(pty_port: PtyPort) -> None:
    settings = ReaderSettings(backend="serial", serial_port=str(pty_port.link))
    result = await reader_check(settings, timeout=0.3)
    assert result.read is None and result.readers == [str(pty_port.link)]
