"""The PC/SC desk reader backend: one thread of our own around `SCardGetStatusChange` that follows
readers coming and going, reads each new card's UID with `FF CA 00 00 00` and hands results to the
event loop. It outlives pcscd restarts: when the service goes, it waits and comes back with it."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from smartcard import scard

from appliance.errors import ReaderError
from appliance.rfid_reader.uid import TagRead, UidFormError, check_uid

log = logging.getLogger(__name__)

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
GET_UID_APDU = [0xFF, 0xCA, 0x00, 0x00, 0x00]
SW_OK = [0x90, 0x00]
# The context is gone: pcscd stopped or restarted. Anything else is a hiccup on a live service.
SERVICE_LOST = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_F_COMM_ERROR,
    scard.SCARD_E_INVALID_HANDLE,
}
GONE = {scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD} | SERVICE_LOST
READ_ATTEMPTS = 3
RETRY_PAUSE = 0.2  # seconds between attempts at reading one card


class CardError(ReaderError):
    """A card on a PC/SC reader did not give its UID; reported, never fatal."""

    code = "reader_card_error"


class CardGone(CardError):
    """The card left (or pcscd went) before its UID was read."""

    code = "reader_card_gone"


class CardRefused(CardError):
    """The card answered the UID request with an error status word."""

    code = "reader_card_refused"


def _message(hr: int) -> str:
    return f"{scard.SCardGetErrorMessage(hr)} (0x{hr & 0xFFFFFFFF:08X})"


def _is_new_card(old: int | None, new: int) -> bool:
    """True when `new` shows a card that `old` did not: inserted, or swapped between two polls."""
    if not new & scard.SCARD_STATE_PRESENT or new & scard.SCARD_STATE_MUTE:
        return False
    if old is None or old == scard.SCARD_STATE_UNAWARE or not old & scard.SCARD_STATE_PRESENT:
        return True
    return (old >> 16) != (new >> 16)  # the insertion counter moved: another card went on


class PcscMonitor:
    """Watches every PC/SC reader from one thread. Callbacks run on `loop`, never on the thread."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        on_read: Callable[[TagRead], None],
        on_reader: Callable[[str, bool], None],
        on_error: Callable[[ReaderError], None],
        poll_ms: int = 1000,
        backoff_min: float = 0.25,
        backoff_max: float = 5.0,
    ) -> None:
        self._loop = loop
        self._on_read = on_read
        self._on_reader = on_reader
        self._on_error = on_error
        self._poll_ms = poll_ms
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards _context against stop() racing the thread
        self._context: int | None = None
        self._readers: set[str] = set()  # touched by the thread only
        self._service_up: bool | None = None
        self._thread = threading.Thread(target=self._run, name="pcsc-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Wake the thread with SCardCancel and wait for it; blocking, so call it off the loop."""
        self._stop.set()
        with self._lock:
            if self._context is not None:
                scard.SCardCancel(self._context)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("PC/SC monitor thread did not stop within %.1f s", timeout)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop is closed: the app is going down and nobody is listening any more

    def _run(self) -> None:
        delay = self._backoff_min
        while not self._stop.is_set():
            hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hr != scard.SCARD_S_SUCCESS:
                self._service_state(False, _message(hr))
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            delay = self._backoff_min
            self._service_state(True, "")
            with self._lock:
                self._context = context
            try:
                self._watch(context)
            except Exception:  # a bug here must not leave the desk without a reader for good
                log.exception("PC/SC monitor failed; starting over")
                self._stop.wait(self._backoff_max)
            finally:
                with self._lock:
                    self._context = None
                scard.SCardReleaseContext(context)
                self._forget_readers()

    def _service_state(self, up: bool, why: str) -> None:
        """Log once when pcscd goes away and once when it is back, not on every retry."""
        if up == self._service_up:
            return
        if up:
            log.info("PC/SC service %s", "is back" if self._service_up is False else "connected")
        elif self._service_up is None:
            log.warning("PC/SC service is not available: %s; retrying", why)
        else:
            log.warning("PC/SC service lost: %s; retrying", why)
        self._service_up = up

    def _watch(self, context: int) -> None:
        states: dict[str, int] = {PNP_NOTIFICATION: scard.SCARD_STATE_UNAWARE}
        self._sync_readers(context, states)
        while not self._stop.is_set():
            hr, result = scard.SCardGetStatusChange(context, self._poll_ms, list(states.items()))
            if hr in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
                continue
            if hr in SERVICE_LOST:
                self._service_state(False, _message(hr))
                return
            if hr != scard.SCARD_S_SUCCESS:  # e.g. a reader left between listing and waiting
                log.debug("SCardGetStatusChange: %s", _message(hr))
                self._sync_readers(context, states)
                self._stop.wait(self._backoff_min)
                continue
            if self._apply(context, states, result):
                self._sync_readers(context, states)

    def _apply(self, context: int, states: dict[str, int], result: list[Any]) -> bool:
        """Take in one status change; True when the reader list must be read again."""
        relist = False
        for name, event, atr in result:
            old = states.get(name)
            states[name] = event & ~scard.SCARD_STATE_CHANGED
            if name == PNP_NOTIFICATION:
                relist = relist or bool(event & scard.SCARD_STATE_CHANGED)
            elif event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                relist = True
            elif event & scard.SCARD_STATE_MUTE and not (old or 0) & scard.SCARD_STATE_MUTE:
                self._post(self._on_error, CardError(f"{name}: the card does not answer"))
            elif _is_new_card(old, event):
                log.debug("card on %s, ATR %s", name, bytes(atr).hex())
                self._read_card(context, name)
        return relist

    def _sync_readers(self, context: int, states: dict[str, int]) -> None:
        hr, names = scard.SCardListReaders(context, [])
        if hr == scard.SCARD_E_NO_READERS_AVAILABLE:
            names = []
        elif hr != scard.SCARD_S_SUCCESS:
            log.debug("SCardListReaders: %s", _message(hr))
            return
        for name in sorted(self._readers - set(names)):
            states.pop(name, None)
            log.info("PC/SC reader gone: %s", name)
            self._post(self._on_reader, name, False)
        for name in sorted(set(names) - self._readers):
            states[name] = scard.SCARD_STATE_UNAWARE  # learn its state, and read a card on it
            log.info("PC/SC reader present: %s", name)
            self._post(self._on_reader, name, True)
        self._readers = set(names)

    def _forget_readers(self) -> None:
        for name in sorted(self._readers):
            self._post(self._on_reader, name, False)
        self._readers = set()

    def _read_card(self, context: int, name: str) -> None:
        # A card swapped quickly can meet the reader mid-reset: a failed transfer is tried again
        # shortly; a card that answers with a refusal is not (it will say the same again).
        for attempt in range(READ_ATTEMPTS):
            try:
                uid = read_uid(context, name)
            except CardRefused as err:
                self._report(err)
                return
            except CardGone as err:
                log.debug("%s", err.message)  # lifted before we could read it: not a fault
                return
            except CardError as err:
                if attempt == READ_ATTEMPTS - 1 or self._stop.wait(RETRY_PAUSE):
                    self._report(err)
                    return
                log.debug("retrying: %s", err.message)
                continue
            self._post(self._on_read, TagRead(uid=uid, reader=name))
            return

    def _report(self, err: ReaderError) -> None:
        log.warning("%s", err.message)
        self._post(self._on_error, err)

    @property
    def readers(self) -> list[str]:
        return sorted(self._readers)


def read_uid(context: int, reader: str) -> bytes:
    """The UID of the card on `reader`, by the PC/SC "get data" APDU; CardError otherwise."""
    hr, handle, protocol = scard.SCardConnect(
        context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
    )
    if hr in GONE:
        raise CardGone(f"{reader}: the card left before it was read: {_message(hr)}")
    if hr != scard.SCARD_S_SUCCESS:
        raise CardError(f"{reader}: cannot connect to the card: {_message(hr)}")
    try:
        hr, response = scard.SCardTransmit(handle, protocol, GET_UID_APDU)
        if hr != scard.SCARD_S_SUCCESS:
            raise CardError(f"{reader}: reading the UID failed: {_message(hr)}")
        if len(response) < 2 or list(response[-2:]) != SW_OK:
            status = bytes(response[-2:]).hex().upper()
            raise CardRefused(f"{reader}: the card refused the UID request (SW {status})")
        try:
            return check_uid(bytes(response[:-2]))
        except UidFormError as err:
            raise CardError(f"{reader}: {err.message}") from err
    finally:
        scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
