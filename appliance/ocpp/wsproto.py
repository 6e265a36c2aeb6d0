"""A charger's WebSocket served by a small asyncio protocol of our own, once aiohttp has done the
handshake (RFC 6455, server side, no extensions): frames parsed as they arrive, answers written
straight to the transport, one message handled at a time per connection, in order.

aiohttp would keep, for the whole life of every socket, the upgrade request (headers, URL, raw
message), its request handler (HTTP parser, message queue, two tasks) and its WebSocket reader,
writer and queue: about two thirds of an idle charger's memory. Here an idle socket is this
object, its transport and its connection; a task exists only while a message is handled.
`handover` is the one place that knows aiohttp's internals (pinned in setup.cfg; a test fails
loudly if a new aiohttp changes them)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

MAX_MESSAGE = 1 << 20  # a message (all its fragments) larger than this is closed with 1009
QUEUE_BYTES = 64 * 1024  # received messages waiting their turn: past this, reading pauses
CLOSE_TIMEOUT_S = 10.0  # how long a close waits for the charger's own close frame (aiohttp's)

# Opcodes and states.
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# Open; the peer has sent its close (our echo waits behind the messages before it); we have
# sent ours; the transport is closing or gone.
_OPEN, _PEER_CLOSED, _CLOSING, _CLOSED = 0, 1, 2, 3
# Close codes a peer may send (RFC 6455 7.4.1 and the IANA registry; 3000-4999 are for
# applications); 1005, 1006 and 1015 must never be on the wire.
_VALID_CLOSE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                          1014})


class ProtocolViolation(Exception):
    """The peer broke RFC 6455: close with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _unmask(payload: bytes | bytearray, mask: bytes | bytearray) -> bytes:
    """XOR with the 4-byte mask, as one big-integer operation (C speed, no per-byte loop)."""
    n = len(payload)
    if not n:
        return b""
    key = (bytes(mask) * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        n, "little")


try:  # aiohttp's compiled masking, when it has it (the same XOR, several times faster)
    from aiohttp._websocket.helpers import websocket_mask as _mask_in_place
except ImportError:  # pragma: no cover - another aiohttp: ours
    def _mask_in_place(mask: bytes, data: bytearray) -> None:
        data[:] = _unmask(data, mask)


def frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame: unmasked (a server's), or masked with `mask` (a client's, for tests)."""
    n = len(payload)
    first = bytes((0x80 | opcode,))
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head = first + bytes((bit | n,))
    elif n < 65536:
        head = first + bytes((bit | 126,)) + n.to_bytes(2, "big")
    else:
        head = first + bytes((bit | 127,)) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + _unmask(payload, mask)


class WebSocket(asyncio.Protocol):
    """The server side of one upgraded socket. Subclasses say what a message means
    (`handle`), what to do once the socket is gone (`ended`) and when the peer was last heard
    (`heard`). Until `start()`, bytes received are kept and nothing is handled."""

    __slots__ = ("transport", "_state", "_buf", "_frag", "_frag_op", "_queue", "_queued",
                 "_pump", "_paused", "_drain", "_closed", "_lost", "_started", "_reading",
                 "_close_timer", "_loop")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._state = _OPEN
        self._buf: bytearray | None = None  # bytes of a frame not complete yet
        self._frag: list[bytes] | None = None  # a fragmented message's parts so far
        self._frag_op = 0
        self._queue: deque[str | tuple[int, bytes]] | None = None  # messages (a close) waiting
        self._queued = 0  # their size in bytes
        self._pump: asyncio.Task[None] | None = None  # handles the queue, one message at a time
        self._paused = False  # writing paused by the transport (its buffer past high water)
        self._drain: asyncio.Future[None] | None = None  # a send waiting for resume_writing
        self._closed: asyncio.Future[None] | None = None  # set once the transport is gone
        self._lost = False
        self._started = False
        self._reading = False  # `handover` paused it; `start` resumes it
        self._close_timer: asyncio.TimerHandle | None = None
        # The loop, from `start` on: asking for the running loop costs a getpid() system call
        # each time (asyncio checks for a fork), and a task is made per burst of messages.
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- what a subclass says -----------------------------------------------------------------
    async def handle(self, message: str) -> bool:
        """Handle one text message; False closes the socket (the subclass has said why)."""
        raise NotImplementedError

    async def ended(self) -> None:
        """Once, when the socket is gone and no message is being handled any more."""

    def heard(self) -> None:
        """The peer sent something (any bytes)."""

    def gone(self) -> None:
        """The transport is gone (called at once; `ended` follows when nothing is handled)."""

    # --- taking the transport over ------------------------------------------------------------
    def attach(self, transport: asyncio.Transport, received: bytes, writing_paused: bool
               ) -> None:
        """Take the transport (reading paused by `handover`); `received` came after the
        upgrade request, before us."""
        self.transport = transport
        self._paused = writing_paused
        transport.set_protocol(self)
        if received:
            self.data_received(received)

    def start(self) -> None:
        """Handle what has come and what comes; if the socket is already gone, end it."""
        self._started = True
        loop = self._loop = asyncio.get_running_loop()
        if self._lost:
            if self._pump is None:
                self._pump = loop.create_task(self._run())
            return
        if self._queue and self._pump is None:
            self._pump = loop.create_task(self._run())
        self._resume_reading()

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass  # `attach` sets the transport: we never get a fresh connection

    def data_received(self, data: bytes) -> None:
        if self._state == _CLOSED:
            return
        self.heard()
        buf = self._buf
        if buf is not None:  # the rest of a frame begun before
            buf += data
        try:
            used = self._parse(data if buf is None else buf)
        except ProtocolViolation as err:
            self._buf = None
            log.info("closing a WebSocket (%d): %s", err.code, err.reason)
            self._fail(err.code, err.reason)
            return
        if buf is None:
            if used < len(data):
                self._buf = bytearray(data[used:])
        elif used == len(buf):
            self._buf = None
        else:
            del buf[:used]
        if self._queued > QUEUE_BYTES:
            self._pause_reading()

    def eof_received(self) -> bool | None:
        return None  # close the transport (connection_lost follows)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._state = _CLOSED
        self._buf = self._frag = None
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(ConnectionResetError("the socket closed"))
        self._drain = None
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self.gone()
        if self._started and self._pump is None and self._loop is not None:
            self._pump = self._loop.create_task(self._run())

    def pause_writing(self) -> None:
        self._paused = True
        self._pause_reading()  # what it sends (pings) must not make us queue answers

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain is not None:
            if not self._drain.done():
                self._drain.set_result(None)
            self._drain = None
        if self._queued <= QUEUE_BYTES:
            self._resume_reading()

    def _pause_reading(self) -> None:
        if self._reading and self.transport is not None and not self._lost:
            self._reading = False
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if not self._reading and self._started and not self._paused and not self._lost \
                and self.transport is not None:
            self._reading = True
            self.transport.resume_reading()

    # --- frames in ----------------------------------------------------------------------------
    def _parse(self, buf: bytes | bytearray) -> int:
        """Take every complete frame from `buf`; how many bytes were used."""
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b0 & 0x70:
                raise ProtocolViolation(1002, "reserved bits set (no extension negotiated)")
            if not b1 & 0x80:
                raise ProtocolViolation(1002, "a client's frame must be masked")
            opcode, length, head = b0 & 0x0F, b1 & 0x7F, 6
            if length == 126:
                if end - pos < 8:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 8
            elif length == 127:
                if end - pos < 14:
                    break
                length, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 14
            if opcode >= _CLOSE:
                if opcode > _PONG:
                    raise ProtocolViolation(1002, f"unknown opcode {opcode}")
                if length > 125 or not b0 & 0x80:
                    raise ProtocolViolation(1002, "a control frame is at most 125 bytes, whole")
            elif opcode > _BINARY:
                raise ProtocolViolation(1002, f"unknown opcode {opcode}")
            elif length + (sum(map(len, self._frag)) if self._frag else 0) > MAX_MESSAGE:
                raise ProtocolViolation(1009, "message too big")
            start = pos + head
            if end - start < length:
                break
            payload = bytearray(buf[start:start + length])
            _mask_in_place(bytes(buf[start - 4:start]), payload)
            pos = start + length
            if opcode == _TEXT and b0 & 0x80 and self._frag is None:  # the usual frame
                try:
                    text = payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtocolViolation(1007, "a text message that is not UTF-8") from None
                if self._state == _OPEN:
                    self._enqueue(text, length)
                continue
            self._frame(b0 & 0x80, opcode, bytes(payload))
            if self._state == _CLOSED:
                return end
        return pos

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode >= _CLOSE:
            if opcode == _PING:
                if self._state == _OPEN:
                    self._write(_PONG, payload)
            elif opcode == _CLOSE:
                self._on_close(payload)
            return  # a pong: nothing to do
        if opcode == _CONT:
            if self._frag is None:
                raise ProtocolViolation(1002, "a continuation frame with no message to continue")
            self._frag.append(payload)
            if not fin:
                return
            parts, self._frag = self._frag, None
            opcode, payload = self._frag_op, b"".join(parts)
        elif self._frag is not None:
            raise ProtocolViolation(1002, "a new message inside a fragmented one")
        elif not fin:
            self._frag, self._frag_op = [payload], opcode
            return
        if opcode == _TEXT:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolViolation(1007, "a text message that is not UTF-8") from None
        else:  # binary: OCPP-J is text; read it as text, as before
            text = payload.decode("utf-8", "replace")
        if self._state == _OPEN:
            self._enqueue(text, len(payload))

    def _on_close(self, payload: bytes) -> None:
        if len(payload) == 1:
            raise ProtocolViolation(1002, "a close frame with a one-byte body")
        if payload:
            code = int.from_bytes(payload[:2], "big")
            if code not in _VALID_CLOSE and not 3000 <= code <= 4999:
                raise ProtocolViolation(1002, f"close code {code}")
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolViolation(1007, "a close reason that is not UTF-8") from None
        if self._state == _CLOSING:  # the answer to our close: done
            self._finish()
            return
        if self._state != _OPEN:
            return
        # The peer closes: the messages before its close are handled first (their answers
        # still go out), then the close is echoed (its code) and the transport closed.
        self._state = _PEER_CLOSED
        if self._pump is None and not self._queue and self._started:
            self._write(_CLOSE, payload[:2])
            self._finish()
            return
        self._enqueue((int.from_bytes(payload[:2], "big") if payload else 0, b""), 0)

    def _enqueue(self, item: str | tuple[int, bytes], size: int) -> None:
        if self._queue is None:
            self._queue = deque()
        self._queue.append(item)
        self._queued += size
        if self._pump is None and self._started and self._loop is not None:
            self._pump = self._loop.create_task(self._run())

    async def _run(self) -> None:
        """Handle the queued messages in order, one at a time; the socket's end once it is
        gone. Runs only while there is something to do."""
        try:
            while self._queue and not self._lost:
                item = self._queue.popleft()
                if isinstance(item, tuple):  # the peer's close, after its messages
                    self._queue = None
                    self._queued = 0
                    code = item[0]
                    self._write(_CLOSE, code.to_bytes(2, "big") if code else b"")
                    self._finish()
                    break
                self._queued -= len(item)
                if self._state > _PEER_CLOSED:
                    continue
                try:
                    if not await self.handle(item):
                        break
                except ConnectionResetError:
                    break
                except Exception:
                    log.exception("handling a WebSocket message failed")
                    self._fail(1011, "internal error")
                    break
                if self._queued <= QUEUE_BYTES and not self._paused:
                    self._resume_reading()
        finally:
            self._pump = None
            if self._lost:
                self._pump = asyncio.current_task()  # never again: ended runs once
                await self.ended()
            elif self._queue and self._loop is not None:
                self._pump = self._loop.create_task(self._run())
            else:
                self._queue = None

    # --- frames out ---------------------------------------------------------------------------
    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self._lost:
            self.transport.write(frame(opcode, payload))

    async def send(self, message: str) -> None:
        """One text message to the peer (the `Transport` of `ocpp/protocol.py`). Waits while
        the transport's buffer is past its high-water mark: a peer that does not read cannot
        make us hold more than that and the message being sent."""
        if self._state > _PEER_CLOSED or self.transport is None:
            raise ConnectionResetError("the WebSocket is closing")
        self.transport.write(frame(_TEXT, message.encode()))
        if self._paused:
            if self._drain is None:
                self._drain = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drain)

    def _fail(self, code: int, reason: str) -> None:
        """Close at once, for a broken rule: our close frame, then our side of the TCP
        connection; what the peer still sends is read and dropped until it closes too (at most
        CLOSE_TIMEOUT_S). Closed with its bytes unread, the socket sent a reset, and a reset
        can reach the charger before it has read our close frame: it never learnt why (a
        message over 1 MiB, 1009; seen in tests/test_ocpp_wsproto.py once the connect path
        got faster)."""
        if self._state == _OPEN:
            self._write(_CLOSE, code.to_bytes(2, "big") + reason.encode()[:120])
        transport = self.transport
        if transport is None or self._lost or not transport.can_write_eof():
            self._finish()
            return
        self._state = _CLOSED  # data_received drops whatever comes now
        transport.write_eof()
        if self._close_timer is None:
            self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S,
                                                                      self._abort)
        self._resume_reading_for_close()

    def _finish(self) -> None:
        self._state = _CLOSED
        self._queue = None
        self._queued = 0
        if self.transport is not None and not self._lost:
            self.transport.close()

    async def close(self, code: int = 1000, reason: bytes = b"") -> None:
        """Our close: the close frame, then wait (at most CLOSE_TIMEOUT_S) for the peer's own
        close and the transport to go; messages received meanwhile are not handled."""
        if self._lost or self.transport is None:
            return
        if self._state == _PEER_CLOSED and self._close_timer is None:  # our echo is queued
            self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S,
                                                                      self._abort)
        elif self._state == _OPEN:
            self._state = _CLOSING
            self._write(_CLOSE, code.to_bytes(2, "big") + reason if code else b"")
            self._close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S,
                                                                      self._abort)
            self._resume_reading_for_close()
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._closed)

    def _resume_reading_for_close(self) -> None:
        """The peer's close must be read even if messages wait (they are dropped now)."""
        self._queue = None
        self._queued = 0
        if not self._reading and self.transport is not None:
            self._reading = True
            self.transport.resume_reading()

    def _abort(self) -> None:
        self._close_timer = None
        if self.transport is not None and not self._lost:
            self.transport.abort()

    @property
    def closed(self) -> bool:
        return self._state != _OPEN

    @property
    def buffered(self) -> int:
        """Bytes waiting on our side: queued messages and the transport's write buffer."""
        waiting = self.transport.get_write_buffer_size() if self.transport is not None \
            and not self._lost else 0
        return self._queued + waiting + (len(self._buf) if self._buf else 0)


class HandedOver(web.WebSocketResponse):
    """The response a handler returns once `handover` took the socket: aiohttp finishes the
    request without writing or closing anything."""

    async def write_eof(self) -> None:  # type: ignore[override]
        pass


async def handover(request: web.Request, ws: HandedOver, protocol: WebSocket) -> None:
    """aiohttp's upgrade (`ws.prepare`: handshake checks, 101, our response headers), then the
    transport taken from aiohttp for `protocol`. The request handler is forgotten by aiohttp's
    server once the handler returns (so the request, its handler and their tasks are freed);
    aiohttp neither writes to the transport nor closes it. Raises ConnectionResetError if the
    socket went before it was ours.

    The only code that knows aiohttp's internals (aiohttp 3.14; setup.cfg pins the range and
    tests/test_ocpp_wsproto.py fails if they change): RequestHandler's `transport` (public on
    its base, set to None), `_message_tail` (bytes after the upgrade request) and
    `_buffer_paused`; and that its `connection_lost`, called once the request is finished,
    only forgets (it closes no transport: it has none by then)."""
    handler: Any = request.protocol
    transport = handler.transport
    if transport is None:
        raise ConnectionResetError("the socket closed before the upgrade")
    received, handler._message_tail = handler._message_tail, b""
    transport.pause_reading()  # from here the kernel keeps what the charger sends
    handler._buffer_paused = False  # aiohttp must not resume reading when it sets its parser
    await ws.prepare(request)
    if handler.transport is not transport:
        raise ConnectionResetError("the socket closed during the upgrade")
    paused = bool(handler.writing_paused)
    handler.transport = None
    protocol.attach(transport, received, paused)
    # Once the handler has returned and aiohttp has finished the request, its request handler
    # is told the connection is lost (for it, it is): the server forgets it and it drops its
    # parsers, so it and the request are freed at once, not left to the cycle collector.
    task = asyncio.current_task()
    if task is not None:
        task.add_done_callback(lambda _: handler.connection_lost(None))
