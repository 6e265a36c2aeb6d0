"""A throwaway PostgreSQL cluster for the test suite, and the backend switch.

`APPLIANCE_TEST_BACKEND=postgresql` runs the suite on PostgreSQL: one cluster per test session
(Debian's `initdb` and `pg_ctl`, as the `postgres` user when we are root, since both refuse to
run as root; a free 127.0.0.1 port; `fsync=off`; a temporary data directory removed at the end)
and a fresh database per test, made from `template0` and dropped after it. Without the binaries
the PostgreSQL run skips, saying why."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.proc import free_port

BACKEND_ENV = "APPLIANCE_TEST_BACKEND"
BACKENDS = ("sqlite", "postgresql")
SERVER_OPTIONS = (
    # Durability is worthless for a throwaway cluster and costs most of its time.
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c listen_addresses=127.0.0.1 "
    # Two test processes that deadlock on purpose should not wait the default second.
    "-c deadlock_timeout=100ms"
)


class ClusterUnavailable(Exception):
    """No PostgreSQL cluster can be started here; the message says why."""


def backend() -> str:
    """The backend this test run uses: `sqlite` (the default) or `postgresql`."""
    value = os.environ.get(BACKEND_ENV, "sqlite").strip().lower() or "sqlite"
    if value not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}, not {value!r}")
    return value


def find_bindir() -> Path | None:
    """Where `initdb` and `pg_ctl` live: on PATH, else Debian's newest versioned directory."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    return versions[-1].parent if versions else None


def _as_owner(argv: list[str]) -> list[str]:
    """initdb and pg_ctl refuse root: run them as `postgres` then; as ourselves otherwise."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser") is None:
        raise ClusterUnavailable("running as root without `runuser` to become postgres")
    return ["runuser", "-u", "postgres", "--", *argv]


@dataclass
class Cluster:
    """A running throwaway cluster; `create_database` gives each test a fresh one."""

    bindir: Path
    root: Path
    port: int

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self) -> object:
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)

    def create_database(self) -> str:
        """A new empty database (from template0); returns its URL."""
        name = "t_" + uuid.uuid4().hex[:16]
        with self._admin() as conn:  # type: ignore[attr-defined]
            # PostgreSQL 15 WAL-logs a new database block by block; copying the files of the
            # tiny template0 was about twice as fast here (no fsync to pay for).
            strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0{strategy}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a test's database, ending any connection a test left behind."""
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def open_connections(self, url: str) -> int:
        """How many connections are open to a test's database (a leak check)."""
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:  # type: ignore[attr-defined]
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                               (name,)).fetchone()
        return int(row[0])

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(_as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                                      "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=30, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """initdb + pg_ctl start on a free port; raises ClusterUnavailable with the reason."""
    bindir = find_bindir()
    if bindir is None:
        raise ClusterUnavailable("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError as err:
        raise ClusterUnavailable("psycopg is not installed (pip install -e '.[test]')") from err
    root = Path(tempfile.mkdtemp(prefix="appliance-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = Cluster(bindir, root, free_port())
    try:
        _run(_as_owner([str(bindir / "initdb"), "-D", str(cluster.datadir), "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]))
        _run(_as_owner([str(bindir / "pg_ctl"), "-D", str(cluster.datadir), "-w", "-t", "60",
                        "-l", str(root / "server.log"), "-o",
                        f"-p {cluster.port} -k {root} {SERVER_OPTIONS}", "start"]))
    except ClusterUnavailable:
        cluster.stop()
        raise
    return cluster


def _run(argv: list[str]) -> None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        raise ClusterUnavailable(f"{argv[0]} failed: {err}") from err
    if out.returncode != 0:
        raise ClusterUnavailable(f"{' '.join(argv)} exited {out.returncode}: "
                                 f"{(out.stderr or out.stdout).strip()[-600:]}")


@contextlib.contextmanager
def cluster_session() -> Iterator[Cluster]:
    """A cluster for the length of a `with` block, stopped and removed after it."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


# --- fixtures (imported by tests/conftest.py) ----------------------------------------------------
@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's cluster; every test needing it skips, with the reason, when there is none."""
    try:
        cluster = start_cluster()
    except ClusterUnavailable as err:
        pytest.skip(f"PostgreSQL backend unavailable: {err}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session", autouse=True)
def pg_cluster_first(request: pytest.FixtureRequest) -> None:
    """On the PostgreSQL run, the cluster starts before any test's own fixtures: its initdb and
    start take seconds of sync work, which the first test's loop-stall guard took for a stall."""
    if backend() != "postgresql":
        return
    try:
        request.getfixturevalue("pg_cluster")
    except pytest.skip.Exception:
        pass  # the tests that need it skip with the reason; the others run


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A fresh, empty database for one test, dropped after it."""
    url = pg_cluster.create_database()
    try:
        yield url
    finally:
        pg_cluster.drop_database(url)


@pytest.fixture
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """The database URL of this test's app: None on the SQLite run (the data dir's file), a
    fresh PostgreSQL database on the PostgreSQL run. `make_settings` asks for it, so tests
    without a database (parsers, settings, frames) cost nothing extra."""
    if backend() == "sqlite":
        return None
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("SQLite only: " + str(request.node.get_closest_marker("sqlite_only").args))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(autouse=True)
def backend_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that run the real command in a subprocess (through tests.proc) get their database
    through APPLIANCE_DATABASE_URL, which the subprocess inherits."""
    if backend() == "sqlite" or request.module is None:
        return
    drives_cli = any(getattr(v, "__module__", None) == "tests.proc"
                     for v in vars(request.module).values())
    if drives_cli or request.node.get_closest_marker("sqlite_only"):
        url = request.getfixturevalue("backend_url")
        monkeypatch.setenv("APPLIANCE_DATABASE_URL", url)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): about SQLite itself (its files, restore); skipped on "
                   "the PostgreSQL run")
