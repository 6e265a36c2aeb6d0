"""Pure parsers for what serial desk readers send: `bytes -> TagRead` or FrameError, and a stream
decoder that finds those frames in a byte stream cut anywhere and sprinkled with noise."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from appliance.errors import ReaderError
from appliance.rfid_reader.uid import UID_MAX_BYTES, TagRead

STX, ETX, CR, LF = 0x02, 0x03, 0x0D, 0x0A
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
DEC_DIGITS = frozenset(b"0123456789")
# Separators some line readers put between bytes ("04:A1:B2:C3", "04 A1 B2 C3", "119,45763").
SEPARATORS = b" :-.,"
# Longest line worth keeping: 10 bytes as hex with separators is 29 characters.
MAX_LINE = 64
EM4100_BODY = 12  # 10 hex data characters + 2 hex checksum characters
MAX_EM4100_FRAME = 1 + EM4100_BODY + 2 + 1  # STX, body, optional CR LF, ETX


class FrameError(ReaderError):
    """Bytes from a serial reader that are not a card read (noise, a cut frame, a bad checksum)."""

    code = "reader_frame"


class SerialFormat(StrEnum):
    LINE = "line"  # one UID per line, ended by CR and/or LF
    EM4100 = "em4100"  # RDM6300-style STX + 10 hex + 2 hex XOR checksum + ETX


class LineBase(StrEnum):
    HEX = "hex"  # "04A1B2C3"
    DEC = "dec"  # "0077702659": the UID as an unsigned integer (10-digit readers)
    DEC8 = "dec8"  # 8H10D "11945763" or "119,45763": facility (3 digits) + card (5 digits)


def _int_to_uid(value: int) -> bytes:
    # At least 4 bytes: a 10-digit reader drops leading zero bytes of a 4-byte UID.
    length = max(4, (value.bit_length() + 7) // 8)
    if length > UID_MAX_BYTES:
        raise FrameError(f"decimal UID {value} is longer than {UID_MAX_BYTES} bytes")
    return value.to_bytes(length, "big")


def parse_line(line: bytes, base: LineBase = LineBase.HEX) -> TagRead:
    """One line from a line-based reader (terminator included or not) -> TagRead."""
    text = line.strip(b"\r\n\t \x02\x03")
    for sep in SEPARATORS:
        text = text.replace(bytes([sep]), b"")
    if not text:
        raise FrameError("empty line")
    if len(text) > MAX_LINE:
        raise FrameError(f"line of {len(text)} characters is too long for a UID")
    if base is LineBase.HEX:
        if not set(text) <= HEX_DIGITS or len(text) % 2:
            raise FrameError(f"not an even number of hex digits: {text!r}")
        if len(text) // 2 > UID_MAX_BYTES:
            raise FrameError(f"hex UID {text!r} is longer than {UID_MAX_BYTES} bytes")
        return TagRead(uid=bytes.fromhex(text.decode("ascii")))
    if not set(text) <= DEC_DIGITS:
        raise FrameError(f"not a decimal number: {text!r}")
    if base is LineBase.DEC:
        return TagRead(uid=_int_to_uid(int(text)))
    if len(text) != 8:
        raise FrameError(f"an 8H10D number has 8 digits, not {len(text)}: {text!r}")
    facility, card = int(text[:3]), int(text[3:])
    if facility > 0xFF or card > 0xFFFF:
        raise FrameError(f"facility {facility} or card {card} out of range in {text!r}")
    return TagRead(uid=bytes([facility]) + card.to_bytes(2, "big"))


def parse_em4100(frame: bytes) -> TagRead:
    """One whole STX ... ETX frame of a 125 kHz reader -> TagRead with the 5 data bytes."""
    if len(frame) < 2 or frame[0] != STX or frame[-1] != ETX:
        raise FrameError("an EM4100 frame starts with STX and ends with ETX")
    body = frame[1:-1].rstrip(b"\r\n")
    if len(body) != EM4100_BODY or not set(body) <= HEX_DIGITS:
        raise FrameError(f"an EM4100 frame holds {EM4100_BODY} hex characters, got {body!r}")
    data, checksum = bytes.fromhex(body[:10].decode()), int(body[10:], 16)
    computed = 0
    for byte in data:
        computed ^= byte
    if computed != checksum:
        raise FrameError(f"EM4100 checksum {checksum:02X} != {computed:02X} for {data.hex()}")
    return TagRead(uid=data)


ErrorSink = Callable[[FrameError], None]


class StreamDecoder:
    """Turns a serial byte stream into TagReads. Bad frames go to `on_error` and the stream goes
    on: a reader keeps talking after a bad read, so one glitch must not stop the desk."""

    def __init__(
        self,
        fmt: SerialFormat = SerialFormat.LINE,
        base: LineBase = LineBase.HEX,
        reader: str = "",
        on_error: ErrorSink | None = None,
    ) -> None:
        self.fmt = SerialFormat(fmt)
        self.base = LineBase(base)
        self.reader = reader
        self.error_count = 0
        self._on_error = on_error
        self._buf = bytearray()
        self._in_frame = False  # EM4100 only: inside STX ... ETX

    def feed(self, data: bytes) -> list[TagRead]:
        """Everything `data` completes; a partial frame waits for the next call."""
        reads: list[TagRead] = []
        step = self._line_byte if self.fmt is SerialFormat.LINE else self._em4100_byte
        for byte in data:
            frame = step(byte)
            if frame is not None:
                self._parse(frame, reads)
        return reads

    def _parse(self, frame: bytes, reads: list[TagRead]) -> None:
        try:
            if self.fmt is SerialFormat.LINE:
                read = parse_line(frame, self.base)
            else:
                read = parse_em4100(frame)
        except FrameError as err:
            self._error(err)
            return
        reads.append(TagRead(uid=read.uid, reader=self.reader))

    def _error(self, err: FrameError) -> None:
        self.error_count += 1
        if self._on_error is not None:
            self._on_error(err)

    def _line_byte(self, byte: int) -> bytes | None:
        if byte in (CR, LF, ETX):  # some line readers end with ETX instead of CR LF
            line, self._buf = bytes(self._buf), bytearray()
            # CR LF, or a blank line between reads, is not an error: only text is parsed.
            return line if line.strip(b"\x02 \t") else None
        self._buf.append(byte)
        if len(self._buf) > MAX_LINE:
            self._buf.clear()
            self._error(FrameError(f"no line end within {MAX_LINE} bytes"))
        return None

    def _em4100_byte(self, byte: int) -> bytes | None:
        if byte == STX:
            if self._in_frame:
                self._error(FrameError("EM4100 frame cut short by a new STX"))
            self._in_frame, self._buf = True, bytearray([STX])
            return None
        if not self._in_frame:
            return None  # noise between frames: nothing was promised, nothing to report
        self._buf.append(byte)
        if byte == ETX:
            self._in_frame = False
            return bytes(self._buf)
        if len(self._buf) >= MAX_EM4100_FRAME:
            self._in_frame = False
            self._error(FrameError(f"EM4100 frame longer than {MAX_EM4100_FRAME} bytes"))
        return None
