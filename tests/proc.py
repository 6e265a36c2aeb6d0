"""Run the real `appliance` command in a subprocess, for tests that kill and restart it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(data_dir: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "appliance", *args, "--data-dir", str(data_dir)],
                         check=True, capture_output=True, text=True, timeout=60)
    return out.stdout


class ApplianceProcess:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.proc: subprocess.Popen[str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {**os.environ, "APPLIANCE_ADMIN_PASSWORD": "a-test-password"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "serve", "--data-dir", str(self.data_dir),
             "--host", "127.0.0.1", "--port", str(self.port),
             "--tls-port", str(free_port())],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(self.base + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.proc.poll() is not None:
                    output, _ = self.proc.communicate()
                    self.proc = None
                    raise RuntimeError(f"appliance exited: {output}")
                await asyncio.sleep(0.05)
        raise RuntimeError("appliance did not start")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None
        return code
