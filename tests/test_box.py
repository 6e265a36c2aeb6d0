"""What the box's service relies on: systemd readiness and watchdog pings, one server per data
dir, and restore of a backup (checked first, the replaced database kept, ids moved far ahead)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.proc import ApplianceProcess, cli, free_port

# The appliance runs in a subprocess here; the test drives it with blocking calls.
pytestmark = pytest.mark.allow_loop_stall


async def test_ready_and_watchdog_reach_systemd(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000",
           "APPLIANCE_ADMIN_PASSWORD": "a-test-password"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--data-dir",
                             str(tmp_path / "data"), "--host", "127.0.0.1", "--port", str(port),
                             "--tls-port", str(free_port())],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        messages = [sock.recv(100).decode() for _ in range(3)]
        assert messages[0] == "READY=1" and messages[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        while (message := sock.recv(100).decode()) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


@pytest.mark.sqlite_only("restores a SQLite file; PostgreSQL restores with pg_restore")
async def test_one_server_per_data_dir_and_restore(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ApplianceProcess(data, free_port())
    await first.start()
    token = cli(data, "token", "create", "--name", "before").strip()
    backup = tmp_path / "backup.db"
    cli(data, "backup", str(backup))
    cli(data, "token", "create", "--name", "after")
    second = ApplianceProcess(data, free_port())
    with pytest.raises(RuntimeError, match="another appliance process"):
        await second.start()
    refused = subprocess.run([sys.executable, "-m", "appliance", "restore", str(backup),
                              "--data-dir", str(data)], capture_output=True, text=True)
    assert refused.returncode == 2 and "stop it first" in refused.stderr
    first.kill(signal.SIGTERM)
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 100)
    refused = subprocess.run([sys.executable, "-m", "appliance", "restore", str(broken),
                              "--data-dir", str(data)], capture_output=True, text=True)
    assert refused.returncode == 2 and "not a readable SQLite database" in refused.stderr
    out = cli(data, "restore", str(backup))
    assert "restored" in out and "pre-restore-" in out
    names = cli(data, "token", "list")
    assert "before" in names and "after" not in names
    assert "FAIL" not in cli(data, "check")
    await first.start()
    async with aiohttp.ClientSession() as session:
        async with session.get(first.base + "/api/v1/cards",
                               headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
    first.kill(signal.SIGTERM)


@pytest.mark.sqlite_only("restores a SQLite file; PostgreSQL restores with pg_restore")
async def test_backup_and_restore_on_a_new_box_keep_the_site_ca(tmp_path: Path) -> None:
    """Chargers and browsers trust the site CA: a restore on a new box must bring it back,
    its key still readable by the service user alone."""
    from appliance.pki.store import SiteTls

    old, new = tmp_path / "old", tmp_path / "new"
    cli(old, "token", "create", "--name", "old-box")
    old_ca = SiteTls(old / "pki")
    old_ca.start("Old site", ["127.0.0.1"])
    backup = tmp_path / "site.db"
    out = cli(old, "backup", str(backup))
    archive = tmp_path / "site.db.pki.tar"
    assert str(archive) in out and (archive.stat().st_mode & 0o777) == 0o600
    new_ca = SiteTls(new / "pki")
    new_ca.start("New box", ["127.0.0.1"])  # a new box made a CA of its own at first start
    assert new_ca.ca_fingerprint != old_ca.ca_fingerprint
    out = cli(new, "restore", str(backup))
    assert "restored the site CA" in out and "pki.pre-restore-" in out
    assert "old-box" in cli(new, "token", "list")
    restored = SiteTls(new / "pki")
    restored.start("New box", ["127.0.0.1", "appliance.local"])
    assert restored.ca_fingerprint == old_ca.ca_fingerprint
    assert ((new / "pki" / "ca.key").stat().st_mode & 0o777) == 0o600
    assert ((new / "pki").stat().st_mode & 0o777) == 0o700
    [kept] = list(new.glob("pki.pre-restore-*"))
    assert SiteTls(kept).ensure_ca("x").cert_pem == new_ca.ca_pem  # the replaced CA, kept
    # A backup without the archive beside it restores the database and keeps the box's CA.
    archive.unlink()
    assert "keeps its own CA" in cli(new, "restore", str(backup))
    assert SiteTls(new / "pki").ensure_ca("x").cert_pem == restored.ca_pem
