"""The serial backend over a pseudo-terminal pair: whole, split and byte-at-a-time frames, noise,
bad checksums, and a port that vanishes and comes back (logged once each way)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.errors import ReaderError
from appliance.rfid_reader.frames import FrameError, LineBase, SerialFormat
from appliance.rfid_reader.serial_reader import SerialPortLost, SerialReader
from appliance.rfid_reader.uid import TagRead

from .conftest import PtyPort
from .test_frames import em4100


class Sink:
    """What the backend hands to its owner, as queues a test can wait on."""

    def __init__(self) -> None:
        self.reads: asyncio.Queue[TagRead] = asyncio.Queue()
        self.states: asyncio.Queue[bool] = asyncio.Queue()
        self.errors: list[ReaderError] = []

    def on_state(self, port: str, present: bool) -> None:
        self.states.put_nowait(present)

    async def read(self) -> TagRead:
        return await asyncio.wait_for(self.reads.get(), 5)

    async def state(self) -> bool:
        return await asyncio.wait_for(self.states.get(), 5)


@contextlib.asynccontextmanager
async def running(
    port: Path, fmt: SerialFormat = SerialFormat.LINE, base: LineBase = LineBase.HEX
) -> AsyncIterator[Sink]:
    sink = Sink()
    reader = SerialReader(
        str(port),
        9600,
        fmt,
        base,
        on_read=sink.reads.put_nowait,
        on_state=sink.on_state,
        on_error=sink.errors.append,
        backoff_min=0.05,
        backoff_max=0.2,
        check_interval=0.2,
    )
    task = asyncio.create_task(reader.run())
    try:
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_line_reader(pty_port: PtyPort) -> None:
    async with running(pty_port.link) as sink:
        assert await sink.state() is True
        pty_port.send(b"04A1B2C3\r\n")
        read = await sink.read()
        assert read == TagRead(uid=bytes.fromhex("04A1B2C3"), reader=str(pty_port.link))


async def test_em4100_byte_at_a_time_with_noise_and_a_bad_checksum(pty_port: PtyPort) -> None:
    card = bytes.fromhex("0100562630")
    stream = b"\x00\xff" + em4100(card, checksum=0x00) + b"zz" + em4100(card, crlf=True)
    async with running(pty_port.link, SerialFormat.EM4100) as sink:
        assert await sink.state() is True
        for byte in stream:
            pty_port.send(bytes([byte]))
            await asyncio.sleep(0.001)
        assert (await sink.read()).uid == card
        assert [type(err) for err in sink.errors] == [FrameError]
        assert sink.reads.empty()


async def test_frames_split_across_writes(pty_port: PtyPort) -> None:
    stream = b"".join(f"{n:08X}\r\n".encode() for n in range(1, 6))
    async with running(pty_port.link) as sink:
        assert await sink.state() is True
        for start in range(0, len(stream), 7):
            pty_port.send(stream[start : start + 7])
            await asyncio.sleep(0.01)
        uids = [(await sink.read()).uid for _ in range(5)]
        assert uids == [n.to_bytes(4, "big") for n in range(1, 6)]


async def test_port_vanishes_and_comes_back(
    pty_port: PtyPort, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="appliance.rfid_reader")
    async with running(pty_port.link) as sink:
        assert await sink.state() is True
        pty_port.unplug()
        assert await sink.state() is False
        await asyncio.sleep(0.6)  # several reopen attempts while it is away
        pty_port.plug()
        assert await sink.state() is True
        pty_port.send(b"0A0B0C0D\n")
        assert (await sink.read()).uid == bytes.fromhex("0A0B0C0D")
    assert any(isinstance(err, SerialPortLost) for err in sink.errors)
    messages = [r.getMessage() for r in caplog.records]
    assert sum(" lost: " in m for m in messages) == 1
    assert sum(m.endswith(" is back") for m in messages) == 1


async def test_no_port_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="appliance.rfid_reader")
    port = PtyPort(tmp_path / "ttyLATE")
    async with running(port.link) as sink:
        assert await sink.state() is False
        await asyncio.sleep(0.5)
        port.plug()
        try:
            assert await sink.state() is True
            port.send(b"\x02010056263041\x03")  # a line reader also takes STX ... ETX
            assert (await sink.read()).uid == bytes.fromhex("010056263041")
        finally:
            port.unplug()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("is not available" in m for m in messages) == 1
    assert sum(m.endswith(" is back") for m in messages) == 1
