#!/usr/bin/env bash
# Installs everything the test suite needs on a Debian machine, then runs the whole suite.
# The README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# PC/SC daemon and the virtual reader driver (desk reader tests), the headers pyscard builds
# against, Debian's Chromium (browser tests), PostgreSQL (the second backend), socat and zbar,
# Debian's image tools for the box's root file system check, and HAProxy (the hosted tests).
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-venv libpcsclite-dev pcscd vsmartcard-vpcd chromium postgresql haproxy socat zbar-tools \
    mmdebstrap dosfstools mtools fdisk e2fsprogs >/dev/null

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'

# The box's image recipe, fast: its root file system built and checked in a chroot (about a
# minute; the full build-and-boot test is image/boot-test.sh, see image/README.md). It builds
# the appliance's wheel with the venv's pip.
if [ "${APPLIANCE_SKIP_IMAGE_CHECK:-}" != 1 ]; then
    as_root env PATH="$PWD/.venv/bin:$PATH" bash image/ci-check.sh
fi

# Lint first: a style slip or an import against the layers fails fast, before the long runs.
.venv/bin/ruff check appliance tests bench
.venv/bin/lint-imports  # the contracts in pyproject.toml; ARCHITECTURE.md explains them
.venv/bin/mypy appliance  # strict, as pyproject.toml configures it

# The suite on SQLite, then again on PostgreSQL: tests/pg.py starts a throwaway cluster
# (initdb + pg_ctl as the postgres user, 127.0.0.1, fsync off) and gives each test a fresh
# database; without the binaries that run skips and says why (-rs). Two workers share out whole
# files (pytest-xdist): half of a test's time is waiting on a server, a browser or a timer, and
# the one thing two tests may not share, the machine's pcscd, is used by one file only
# (tests/rfid/test_pcsc.py). APPLIANCE_TEST_WORKERS=0 runs in one process.
for backend in ${APPLIANCE_TEST_BACKENDS:-sqlite postgresql}; do
    echo "== tests on $backend"
    APPLIANCE_TEST_BACKEND=$backend .venv/bin/python -m pytest -q -rs \
        -n "${APPLIANCE_TEST_WORKERS:-2}" --dist loadfile --durations=15 "$@"
done
