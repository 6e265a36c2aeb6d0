"""The desk reader as one small interface: `ReaderSettings`, the `reader_service` async context that
runs the chosen backend and publishes `TagSeen`/`ReaderState` on the bus, and `reader_check`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from appliance import background
from appliance.errors import ConfigError, ReaderError
from appliance.events import EventBus, ReaderState, TagSeen
from appliance.rfid_reader.frames import LineBase, SerialFormat
from appliance.rfid_reader.uid import (
    ByteOrder,
    Case,
    Encoding,
    TagRead,
    UidForm,
    UidFormError,
    format_uid,
)

log = logging.getLogger(__name__)

BACKENDS = ("none", "pcsc", "serial")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class ReaderSettings:
    """Settings of the desk reader; `config.Settings` carries them as `reader_<name>`."""

    backend: str = field(
        default="none",
        metadata=_help("Desk card reader: none, pcsc (USB CCID readers through pcscd) or serial."),
    )
    serial_port: str = field(
        default="",
        metadata=_help(
            "Serial port of a serial reader, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/ path."
        ),
    )
    serial_baud: int = field(default=9600, metadata=_help("Baud rate of a serial reader."))
    serial_format: str = field(
        default="line",
        metadata=_help(
            "What a serial reader sends: line (one UID per line) or em4100 (STX, 10 hex, checksum, "
            "ETX; RDM6300-style 125 kHz readers)."
        ),
    )
    serial_line_base: str = field(
        default="hex",
        metadata=_help(
            "Digits of a line reader: hex, dec (the UID as a number) or dec8 (facility + card)."
        ),
    )
    uid_encoding: str = field(
        default="hex",
        metadata=_help(
            "Id tag form of a UID: hex, dec10 (last 4 bytes, 10 digits), dec8 (8H10D) or dec."
        ),
    )
    uid_case: str = field(default="upper", metadata=_help("Hex letters: upper or lower."))
    uid_byte_order: str = field(
        default="normal",
        metadata=_help(
            "UID byte order: normal (as the card gives it) or reversed (as some chargers send it)."
        ),
    )
    uid_prefix: str = field(default="", metadata=_help("Fixed text before the UID in an id tag."))
    uid_suffix: str = field(default="", metadata=_help("Fixed text after the UID in an id tag."))
    repeat_s: float = field(
        default=1.5,
        metadata=_help(
            "Seconds in which the same card on the same reader counts as one tap (125 kHz readers "
            "repeat while a card lies on them)."
        ),
    )

    def __post_init__(self) -> None:
        def refuse(name: str, value: Any, allowed: str) -> None:
            raise ConfigError(f"reader_{name} = {value!r} is not valid; use {allowed}")

        if self.backend not in BACKENDS:
            refuse("backend", self.backend, " or ".join(BACKENDS))
        if self.backend == "serial" and not self.serial_port:
            refuse("serial_port", self.serial_port, "the reader's port when the backend is serial")
        if not isinstance(self.serial_baud, int) or self.serial_baud <= 0:
            refuse("serial_baud", self.serial_baud, "a positive whole number such as 9600")
        if self.serial_format not in set(SerialFormat):
            refuse("serial_format", self.serial_format, " or ".join(SerialFormat))
        if self.serial_line_base not in set(LineBase):
            refuse("serial_line_base", self.serial_line_base, " or ".join(LineBase))
        if self.repeat_s < 0:
            refuse("repeat_s", self.repeat_s, "zero or more seconds")
        for name, kind in (
            ("uid_encoding", Encoding),
            ("uid_case", Case),
            ("uid_byte_order", ByteOrder),
        ):
            if getattr(self, name) not in set(kind):
                refuse(name, getattr(self, name), " or ".join(kind))
        try:
            self.uid_form()
        except UidFormError as err:
            raise ConfigError(f"reader settings: {err.message}") from err

    def uid_form(self) -> UidForm:
        return UidForm(
            Encoding(self.uid_encoding),
            Case(self.uid_case),
            ByteOrder(self.uid_byte_order),
            self.uid_prefix,
            self.uid_suffix,
        )

    @classmethod
    def from_prefixed(cls, source: object, prefix: str = "reader_") -> ReaderSettings:
        """Pick `reader_<field>` attributes off a bigger settings object; missing ones default."""
        values = {
            f.name: getattr(source, prefix + f.name)
            for f in fields(cls)
            if hasattr(source, prefix + f.name)
        }
        return cls(**values)


@dataclass(frozen=True)
class ReadRecord:
    """A tap as the desk pages show it: raw UID (for "learn from a charger") and the id tag."""

    at: datetime
    reader: str
    uid: str  # upper-case hex, card order
    id_tag: str


class ReaderService:
    """State of the desk reader, fed by a backend on the event loop; publishes to the bus."""

    def __init__(self, settings: ReaderSettings, bus: EventBus, history: int = 20) -> None:
        self.settings = settings
        self._bus = bus
        self._form = settings.uid_form()
        self.last_reads: deque[ReadRecord] = deque(maxlen=history)
        self.last_error: str | None = None
        self._readers: dict[str, bool] = {}
        self._recent: dict[tuple[str, bytes], float] = {}

    def on_read(self, read: TagRead) -> None:
        now = time.monotonic()
        key = (read.reader, read.uid)
        seen = self._recent.get(key)
        self._recent = {k: t for k, t in self._recent.items() if now - t < self.settings.repeat_s}
        self._recent[key] = now
        if seen is not None and now - seen < self.settings.repeat_s:
            return  # the same card still lying on the reader
        try:
            id_tag = format_uid(read.uid, self._form)
        except UidFormError as err:
            self.on_error(err)
            return
        record = ReadRecord(datetime.now(UTC), read.reader, read.uid.hex().upper(), id_tag)
        self.last_reads.append(record)
        log.info("card %s (UID %s) on %s", id_tag, record.uid, read.reader)
        self._bus.publish(TagSeen(id_tag=id_tag, source="reader", known=False))

    def on_reader(self, name: str, present: bool) -> None:
        if self._readers.get(name) == present:
            return
        self._readers[name] = present
        self._bus.publish(ReaderState(reader=name, present=present))

    def on_error(self, err: ReaderError) -> None:
        self.last_error = err.message

    @property
    def form(self) -> UidForm:
        return self._form

    def set_form(self, form: UidForm) -> None:
        """Staff confirmed another form ("learn from a charger"): taps use it from now on."""
        self._form = form

    @property
    def readers(self) -> list[str]:
        """Readers present now."""
        return sorted(name for name, present in self._readers.items() if present)

    def status(self) -> dict[str, Any]:
        """JSON-ready state for the pages and the API."""
        return {
            "backend": self.settings.backend,
            "readers": self.readers,
            "present": bool(self.readers),
            "last_error": self.last_error,
            "last_reads": [
                {
                    "at": r.at.isoformat().replace("+00:00", "Z"),
                    "reader": r.reader,
                    "uid": r.uid,
                    "id_tag": r.id_tag,
                }
                for r in reversed(self.last_reads)
            ],
        }


@contextlib.asynccontextmanager
async def reader_service(settings: ReaderSettings, bus: EventBus) -> AsyncIterator[ReaderService]:
    """Run the configured backend for the life of the context (an `app.cleanup_ctx` room)."""
    service = ReaderService(settings, bus)
    if settings.backend == "pcsc":
        async with _pcsc_backend(service):
            yield service
    elif settings.backend == "serial":
        async with _serial_backend(service):
            yield service
    else:
        yield service


@contextlib.asynccontextmanager
async def _pcsc_backend(service: ReaderService) -> AsyncIterator[None]:
    try:
        from appliance.rfid_reader.pcsc import PcscMonitor
    except ImportError as err:
        raise ConfigError(
            "reader_backend = 'pcsc' needs pyscard: install the appliance with its [pcsc] extra "
            "(Debian: apt-get install libpcsclite-dev pcscd first)"
        ) from err
    monitor = PcscMonitor(
        asyncio.get_running_loop(),
        on_read=service.on_read,
        on_reader=service.on_reader,
        on_error=service.on_error,
    )
    monitor.start()
    try:
        yield
    finally:
        await asyncio.to_thread(monitor.stop)


@contextlib.asynccontextmanager
async def _serial_backend(service: ReaderService) -> AsyncIterator[None]:
    from appliance.rfid_reader.serial_reader import SerialReader

    settings = service.settings
    reader = SerialReader(
        settings.serial_port,
        settings.serial_baud,
        SerialFormat(settings.serial_format),
        LineBase(settings.serial_line_base),
        on_read=service.on_read,
        on_state=service.on_reader,
        on_error=service.on_error,
    )
    async with background.running(reader.run(), "serial-reader"):
        yield


@dataclass(frozen=True)
class ReaderCheck:
    readers: list[str]
    read: ReadRecord | None


async def reader_check(
    settings: ReaderSettings,
    timeout: float,  # noqa: ASYNC109 - the CLI hands over the seconds its user typed
    report: Callable[[str], None] | None = None,
) -> ReaderCheck:
    """For installers: run the reader, tell `report` about readers as they appear, and return the
    readers present and the first card tapped within `timeout` seconds (None if none was)."""
    if settings.backend == "none":
        raise ConfigError("no desk reader configured: set reader_backend to pcsc or serial")
    say = report or (lambda line: None)
    bus = EventBus()
    async with bus.subscribe() as queue, reader_service(settings, bus) as service:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    event = await queue.get()
                    if isinstance(event, ReaderState):
                        say(f"reader {'present' if event.present else 'gone'}: {event.reader}")
                    elif isinstance(event, TagSeen):
                        break
        read = service.last_reads[-1] if service.last_reads else None
        return ReaderCheck(readers=service.readers, read=read)
