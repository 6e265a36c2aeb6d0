"""Serial frame parsers: known frames, and for any bytes cut anywhere the decoder finds the same
reads and never raises; bad frames are reported and the stream goes on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.rfid_reader.frames import (
    FrameError,
    LineBase,
    SerialFormat,
    StreamDecoder,
    parse_em4100,
    parse_line,
)
from appliance.rfid_reader.uid import TagRead


def em4100(data: bytes, crlf: bool = False, checksum: int | None = None) -> bytes:
    """The frame an RDM6300-style reader sends for `data` (5 bytes)."""
    if checksum is None:
        checksum = 0
        for byte in data:
            checksum ^= byte
    body = (data.hex() + f"{checksum:02x}").upper().encode()
    return b"\x02" + body + (b"\r\n" if crlf else b"") + b"\x03"


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def test_em4100_frame() -> None:
    frame = b"\x020100562630" + b"41\x03"  # 01^00^56^26^30 = 0x41
    assert parse_em4100(frame) == TagRead(uid=bytes.fromhex("0100562630"))
    assert parse_em4100(em4100(bytes(5), crlf=True)).uid == bytes(5)


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x02\x03",
        b"\x020100562630" + b"72\x03",
        b"\x02010056263071",
        b"\x02 10056263071\x03",
        b"\x020100562630710\x03",
        b"\x0201005626307G\x03",
    ],
)
def test_bad_em4100_frames(frame: bytes) -> None:
    with pytest.raises(FrameError):
        parse_em4100(frame)


@pytest.mark.parametrize(
    ("line", "base", "uid"),
    [
        (b"04A1B2C3\r\n", LineBase.HEX, "04A1B2C3"),
        (b"04:a1:b2:c3\n", LineBase.HEX, "04A1B2C3"),
        (b"\x0204A1B2C3D4E5F6\x03", LineBase.HEX, "04A1B2C3D4E5F6"),
        (b"0077705923\r", LineBase.DEC, "04A1B2C3"),
        (b"12\r", LineBase.DEC, "0000000C"),
        (b"16145763\r\n", LineBase.DEC8, "A1B2C3"),
        (b"161,45763\r\n", LineBase.DEC8, "A1B2C3"),
    ],
)
def test_lines(line: bytes, base: LineBase, uid: str) -> None:
    assert parse_line(line, base).uid == bytes.fromhex(uid)


@pytest.mark.parametrize(
    ("line", "base"),
    [
        (b"\r\n", LineBase.HEX),
        (b"04A1B2C", LineBase.HEX),
        (b"hello", LineBase.HEX),
        (b"00" * 11, LineBase.HEX),
        (b"12a", LineBase.DEC),
        (b"9" * 30, LineBase.DEC),
        (b"1234567", LineBase.DEC8),
        (b"99999999", LineBase.DEC8),
        (b"\xff\xfe", LineBase.DEC),
    ],
)
def test_bad_lines(line: bytes, base: LineBase) -> None:
    with pytest.raises(FrameError):
        parse_line(line, base)


def test_decoder_reports_a_bad_checksum_and_goes_on() -> None:
    errors: list[FrameError] = []
    decoder = StreamDecoder(SerialFormat.EM4100, reader="ttyX", on_error=errors.append)
    good = bytes.fromhex("0A0B0C0D0E")
    stream = b"noise" + em4100(good) + em4100(good, checksum=0) + b"\x02123" + em4100(good, True)
    reads = [r for byte in stream for r in decoder.feed(bytes([byte]))]
    assert reads == [TagRead(uid=good, reader="ttyX")] * 2
    assert len(errors) == 2 and decoder.error_count == 2  # the checksum and the cut frame


def test_line_decoder_with_noise_and_overlong_junk() -> None:
    errors: list[FrameError] = []
    decoder = StreamDecoder(SerialFormat.LINE, on_error=errors.append)
    reads = decoder.feed(b"\r\n\r\nzz\r\n" + b"x" * 100 + b"\n04A1B2C3\r\n")
    reads += decoder.feed(b"0102")
    reads += decoder.feed(b"0304\n")
    assert [r.uid.hex() for r in reads] == ["04a1b2c3", "01020304"]
    assert len(errors) == 3  # "zz", the junk past the line limit, then what is left of it


bases = st.sampled_from(LineBase)
formats = st.sampled_from(SerialFormat)
cut_points = st.lists(st.integers(min_value=0, max_value=400), max_size=20)


@given(st.binary(max_size=80), bases)
def test_any_line_parses_or_raises_our_error(data: bytes, base: LineBase) -> None:
    try:
        read = parse_line(data, base)
    except FrameError:
        return
    assert 1 <= len(read.uid) <= 10


@given(st.binary(max_size=40))
def test_any_em4100_frame_parses_or_raises_our_error(data: bytes) -> None:
    try:
        read = parse_em4100(data)
    except FrameError:
        return
    assert len(read.uid) == 5


@given(st.binary(max_size=300), formats, bases, cut_points)
def test_decoder_is_the_same_however_the_stream_is_cut(
    data: bytes, fmt: SerialFormat, base: LineBase, cuts: list[int]
) -> None:
    whole = StreamDecoder(fmt, base)
    expected = whole.feed(data)
    pieces = StreamDecoder(fmt, base)
    got = [read for chunk in split(data, cuts) for read in pieces.feed(chunk)]
    assert got == expected and pieces.error_count == whole.error_count


@given(
    st.lists(st.tuples(st.binary(min_size=5, max_size=5), st.booleans()), max_size=8),
    st.binary(max_size=10).filter(lambda noise: b"\x02" not in noise),
    cut_points,
)
def test_em4100_frames_survive_noise_and_cuts(
    cards: list[tuple[bytes, bool]], noise: bytes, cuts: list[int]
) -> None:
    stream = b"".join(noise + em4100(uid, crlf) for uid, crlf in cards)
    decoder = StreamDecoder(SerialFormat.EM4100)
    reads = [read for chunk in split(stream, cuts) for read in decoder.feed(chunk)]
    assert [read.uid for read in reads] == [uid for uid, _ in cards]
    assert decoder.error_count == 0


@given(st.lists(st.binary(min_size=1, max_size=10), max_size=8), cut_points)
def test_hex_lines_round_trip(uids: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(uid.hex().encode() + b"\r\n" for uid in uids)
    decoder = StreamDecoder(SerialFormat.LINE, LineBase.HEX)
    reads = [read for chunk in split(stream, cuts) for read in decoder.feed(chunk)]
    assert [read.uid for read in reads] == uids


@given(st.binary(min_size=4, max_size=4))
def test_decimal_lines_round_trip(uid: bytes) -> None:
    line = f"{int.from_bytes(uid, 'big'):010d}\r\n".encode()
    assert parse_line(line, LineBase.DEC).uid == uid
