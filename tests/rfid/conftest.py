"""Fixtures of the desk reader tests: one real pcscd per test session with the vpcd virtual reader
driver (skipped, with the reason printed, only where pcscd cannot run) and pseudo-terminal ports."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from .vcard import VPCD_PORTS

DATA = Path(__file__).parent / "data"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PCSCD_RUN = Path("/run/pcscd")
PCSCD_SOCKET = PCSCD_RUN / "pcscd.comm"
PCSCD_PIDFILE = PCSCD_RUN / "pcscd.pid"
# Our pcscd's config dir is named with this marker and the pytest PID, so a later session can
# tell a leftover of ours (its session is dead) from a pcscd that belongs to someone else.
MARKER = "appliance-rfid-pcscd-"
READER_NAMES = ("Appliance Test Reader 00 00", "Appliance Test Reader 00 01")

_skip_reasons: list[str] = []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return Path(f"/proc/{pid}").exists() and "zombie" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return ""


def _running_pcscd() -> int | None:
    try:
        pid = int(PCSCD_PIDFILE.read_text().strip("\0 \n"))  # pcscd ends it with a NUL
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _leftover_of_ours(pid: int) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    for arg in args:
        found = re.search(re.escape(MARKER) + r"(\d+)-", arg)
        if found:
            return not _pid_alive(int(found.group(1)))
    return False


def _wait_until(check: object, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False


class Pcscd:
    """Our own pcscd, in the foreground, with only our reader config; stopped by its PID."""

    def __init__(self, conf_dir: Path, log_path: Path) -> None:
        self.conf_dir = conf_dir
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [shutil.which("pcscd") or "pcscd", "-f", "-c", str(self.conf_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if not _wait_until(self._ready, 20):
            self.stop()
            log_tail = self.log_path.read_text()[-2000:]
            raise RuntimeError(f"pcscd came up without its readers; its log ends:\n{log_tail}")

    def _ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"pcscd exited: {self.log_path.read_text()[-2000:]}")
        from smartcard import scard

        hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            return False
        try:
            hr, readers = scard.SCardListReaders(context, [])
            return hr == scard.SCARD_S_SUCCESS and set(READER_NAMES) <= set(readers)
        finally:
            scard.SCardReleaseContext(context)

    def wait_empty(self, timeout: float = 5.0) -> bool:
        """Wait until pcscd has seen every virtual card go (it polls the driver)."""
        from smartcard import scard

        hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            return False
        try:
            states = [(name, scard.SCARD_STATE_UNAWARE) for name in READER_NAMES]

            def empty() -> bool:
                hr, result = scard.SCardGetStatusChange(context, 0, states)
                return hr == 0 and not any(s & scard.SCARD_STATE_PRESENT for _, s, _ in result)

            return _wait_until(empty, timeout)
        finally:
            scard.SCardReleaseContext(context)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
        _wait_until(lambda: not PCSCD_SOCKET.exists(), 5)


def _why_pcscd_cannot_run() -> str | None:
    if shutil.which("pcscd") is None:
        return "pcscd is not installed (Debian: apt-get install pcscd)"
    if not VPCD_DRIVER.exists():
        return "the vpcd driver is not installed (Debian: apt-get install vsmartcard-vpcd)"
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        return "pyscard is not installed (pip install pyscard; needs libpcsclite-dev)"
    parent = PCSCD_RUN if PCSCD_RUN.exists() else PCSCD_RUN.parent
    if not os.access(parent, os.W_OK):
        return f"pcscd needs to write {PCSCD_RUN}; run the tests as root"
    return None


def _clear_the_way() -> str | None:
    """Stop a pcscd our own dead session left behind; wait a little for anyone else's."""
    pid = _running_pcscd()
    if pid is not None and _leftover_of_ours(pid):
        os.kill(pid, signal.SIGTERM)
        _wait_until(lambda: not _pid_alive(pid), 5)
    if not _wait_until(lambda: _running_pcscd() is None, 15, 0.2):
        return f"another pcscd (PID {_running_pcscd()}) runs here, and only one can run at a time"
    if PCSCD_SOCKET.exists():  # a socket without a live daemon makes pcscd refuse to start
        PCSCD_SOCKET.unlink()
    return None


@pytest.fixture(scope="session")
def pcscd() -> Iterator[Pcscd]:
    """A real pcscd with two virtual readers for the whole session; skips where it cannot run."""
    reason = _why_pcscd_cannot_run() or _clear_the_way()
    if reason:
        _skip_reasons.append(reason)
        pytest.skip(f"PC/SC tests need a pcscd of their own: {reason}")
    work = Path(tempfile.mkdtemp(prefix=f"{MARKER}{os.getpid()}-"))
    conf_dir = work / "reader.conf.d"  # pcscd reads every file here: nothing else may be in it
    conf_dir.mkdir()
    template = (DATA / "vpcd.reader.conf").read_text()
    (conf_dir / "vpcd.conf").write_text(template.format(port=VPCD_PORTS[0]))
    daemon = Pcscd(conf_dir, work / "pcscd.log")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def running_pcscd(pcscd: Pcscd) -> Iterator[Pcscd]:
    """The session's pcscd, started again if a test stopped it, and with no card left on its
    readers when the test ends, so the next test starts from empty readers."""
    if pcscd.process is None:
        pcscd.start()
    yield pcscd
    if pcscd.process is not None:
        pcscd.wait_empty()


class PtyPort:
    """A serial port made of a pseudo-terminal pair, reached through a symlink of our own so it
    can vanish (unplugged) and come back (plugged in again) under the same name."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self._slave: int | None = None

    def plug(self) -> PtyPort:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR -> LF: bytes go through as a UART sends them
        self.link.symlink_to(os.ttyname(self._slave))
        return self

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = None

    def send(self, data: bytes) -> None:
        assert self.master is not None, "the port is unplugged"
        os.write(self.master, data)


@pytest.fixture
def pty_port(tmp_path: Path) -> Iterator[PtyPort]:
    port = PtyPort(tmp_path / "ttyREADER").plug()
    try:
        yield port
    finally:
        port.unplug()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for reason in sorted(set(_skip_reasons)):
        terminalreporter.write_line(f"rfid: PC/SC tests skipped: {reason}", yellow=True)
