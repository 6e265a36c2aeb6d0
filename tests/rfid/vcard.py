"""A virtual contactless card of our own for the vpcd driver: it speaks the driver's socket protocol
on 127.0.0.1 and answers the PC/SC "get UID" APDU, so tests tap cards on a real pcscd."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from types import TracebackType

# A MIFARE Classic 1K as a contactless reader presents it (PC/SC part 3 storage-card ATR).
MIFARE_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")


def _two_free_ports() -> tuple[int, int]:
    """Two neighbouring TCP ports nobody holds, below the kernel's ephemeral range: the driver's
    own default (35963) lies inside it, so on a busy machine an outgoing connection can hold it and
    pcscd comes up without readers ("Address already in use" in its log; seen in CI)."""
    low, high = 20000, 32000
    for offset in range(0, high - low, 2):
        first = low + (os.getpid() * 2 + offset) % (high - low)
        if all(_free(port) for port in (first, first + 1)):
            return first, first + 1
    raise RuntimeError(f"no two neighbouring free TCP ports between {low} and {high}")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


# One per virtual reader ("... 00 00" and "... 00 01"); the driver listens on CHANNELID and the
# next port, and the session's pcscd config is written with the first (tests/rfid/conftest.py).
VPCD_PORTS = _two_free_ports()
GET_UID = bytes.fromhex("FFCA000000")
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


class VirtualCard:
    """An open connection to the driver's port is a card on the reader; closing it removes it."""

    def __init__(
        self,
        uid: bytes,
        port: int = VPCD_PORTS[0],
        *,
        status: bytes = b"\x90\x00",
        atr: bytes = MIFARE_ATR,
    ) -> None:
        self.uid = uid
        self.port = port
        self.status = status  # anything but 90 00 plays a card that refuses to give its UID
        self.atr = atr
        self.apdus: list[bytes] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def insert(self, timeout: float = 10.0) -> VirtualCard:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=1.0)
                break
            except OSError:  # pcscd may still be loading the driver
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._serve, args=(self._sock,), daemon=True)
        self._thread.start()
        return self

    def remove(self) -> None:
        if self._sock is None:
            return
        # shutdown, not close, wakes the serving thread's recv without a closed-descriptor error
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the driver went first (pcscd stopped)
        if self._thread is not None:
            self._thread.join(5)
        self._sock.close()
        self._sock, self._thread = None, None

    def __enter__(self) -> VirtualCard:
        return self.insert()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                header = _recv_exact(sock, 2)
                if header is None:
                    return
                payload = _recv_exact(sock, struct.unpack(">H", header)[0])
                if payload is None:
                    return
                answer = self._answer(payload)
                if answer is not None:
                    sock.sendall(struct.pack(">H", len(answer)) + answer)
        except OSError:
            return  # the driver hung up: pcscd stopped under us

    def _answer(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:  # control: only "get ATR" wants an answer
            return self.atr if payload[0] == GET_ATR else None
        self.apdus.append(payload)
        if payload == GET_UID:
            return (self.uid if self.status == b"\x90\x00" else b"") + self.status
        return b"\x6d\x00"  # instruction not supported


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
