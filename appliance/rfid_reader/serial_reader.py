"""The serial desk reader backend: a pyserial port read from the event loop (`loop.add_reader` on
its non-blocking descriptor), decoded by `frames`, and reopened with backoff when it vanishes."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

import serial

from appliance.errors import ReaderError
from appliance.rfid_reader.frames import FrameError, LineBase, SerialFormat, StreamDecoder
from appliance.rfid_reader.uid import TagRead

log = logging.getLogger(__name__)

READ_CHUNK = 256


class SerialPortLost(ReaderError):
    code = "reader_port_lost"


class SerialReader:
    """One serial port. `run()` owns it until cancelled: open, read, and when the port goes away
    (unplugged, a pty closed) report it absent and try again, doubling the wait up to a limit."""

    def __init__(
        self,
        port: str,
        baud: int,
        fmt: SerialFormat,
        base: LineBase,
        *,
        on_read: Callable[[TagRead], None],
        on_state: Callable[[str, bool], None],
        on_error: Callable[[ReaderError], None],
        backoff_min: float = 0.2,
        backoff_max: float = 5.0,
        check_interval: float = 2.0,
    ) -> None:
        self.port = port
        self.baud = baud
        self.fmt = fmt
        self.base = base
        self._on_read = on_read
        self._on_state = on_state
        self._on_error = on_error
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        # A removed USB adapter usually wakes the reader with EIO, but not every driver does:
        # checking the device path now and then catches the rest.
        self._check_interval = check_interval
        self._present: bool | None = None

    def _set_present(self, present: bool) -> None:
        if present != self._present:
            self._present = present
            self._on_state(self.port, present)

    def _open(self) -> serial.Serial:
        # timeout=0 makes reads non-blocking, so the loop's reader callback never waits;
        # exclusive: a second program on the same port would steal half of the bytes.
        return serial.Serial(port=self.port, baudrate=self.baud, timeout=0, exclusive=True)

    async def run(self) -> None:
        """Read the port until cancelled; never returns otherwise."""
        delay = self._backoff_min
        missing_logged = False
        while True:
            try:
                port = self._open()
            except (serial.SerialException, OSError, ValueError) as err:
                if not missing_logged:
                    log.warning("serial reader %s is not available: %s", self.port, err)
                    missing_logged = True
                self._set_present(False)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            delay = self._backoff_min
            if missing_logged:
                log.info("serial reader %s is back", self.port)
                missing_logged = False
            else:
                log.info("serial reader %s opened at %d baud", self.port, self.baud)
            self._set_present(True)
            try:
                reason = await self._read_until_lost(port)
            finally:
                port.close()
            log.warning("serial reader %s lost: %s", self.port, reason)
            missing_logged = True
            self._set_present(False)
            self._on_error(SerialPortLost(f"serial reader {self.port} lost: {reason}"))

    async def _read_until_lost(self, port: serial.Serial) -> str:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        decoder = StreamDecoder(self.fmt, self.base, reader=self.port, on_error=self._frame_error)
        fd = port.fileno()

        def readable() -> None:
            try:
                data = port.read(READ_CHUNK)
            except (serial.SerialException, OSError) as err:
                loop.remove_reader(fd)  # a dead descriptor stays "readable": stop the spin now
                if not lost.done():
                    lost.set_result(str(err))
                return
            for read in decoder.feed(data):
                self._on_read(read)

        loop.add_reader(fd, readable)
        try:
            while True:
                done, _ = await asyncio.wait({lost}, timeout=self._check_interval)
                if done:
                    return lost.result()
                if not await asyncio.to_thread(os.path.exists, self.port):
                    return "the device path disappeared"
        finally:
            loop.remove_reader(fd)

    def _frame_error(self, err: FrameError) -> None:
        log.warning("serial reader %s: %s", self.port, err.message)
        self._on_error(err)
