#!/bin/bash
# The fast check of the image recipe, for CI: the same wheels, package list and customize step as
# build.sh, without the kernel, boot loader, disk image or boot. Then, inside the root file
# system: the units pass `systemd-analyze verify`, they are enabled, the user exists with its
# groups, the firewall rules parse, the venv's `appliance --help` runs.
#   image/ci-check.sh [amd64|arm64]     (default: this machine's architecture)
# Exits 0 with "skipped: ..." only when mmdebstrap is not installed. Needs root and the network
# to Debian's archive and PyPI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ARCH=${1:-$(dpkg --print-architecture)}
check_arch "$ARCH"
if ! command -v mmdebstrap >/dev/null; then
    echo "skipped: mmdebstrap is not installed (apt-get install mmdebstrap)"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap --mode=root, chroot)"
prepare_foreign_arch "$ARCH"

START=$(date +%s)
WORK=${APPLIANCE_WORK_DIR:-$IMAGE_DIR/out/ci-$ARCH}
R=$WORK/rootfs
rm -rf "$WORK" && mkdir -p "$WORK"
make_wheels "$ARCH" "$WORK/wheels"
make_rootfs "$ARCH" "$R" "$WORK/wheels" rootfs
BUILT=$(date +%s)

passed=0 failed=0
check() {
    local name=$1; shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1)); log "ok: $name"
    else
        failed=$((failed + 1)); log "FAILED: $name"; printf '%s\n' "$out" | tail -n 20 >&2
    fi
}
in_root() { chroot "$R" "$@"; }
units=(appliance.service appliance-firstboot.service appliance-ssh-switch.service)

check "systemd-analyze verify of the units, inside the image" \
    in_root systemd-analyze verify --man=no "${units[@]/#//usr/lib/systemd/system/}"
for unit in "${units[@]}" systemd-networkd.service systemd-timesyncd.service nftables.service \
    avahi-daemon.service pcscd.socket; do
    check "$unit is enabled" bash -c "[ \"\$(systemctl --root='$R' is-enabled $unit)\" = enabled ]"
done
check "ssh.service is off until the boot partition asks" \
    bash -c "! systemctl --root='$R' is-enabled --quiet ssh.service"
check "the appliance system user exists" in_root getent passwd appliance
check "the appliance user is in dialout" bash -c "chroot '$R' id -nG appliance | grep -qw dialout"
check "the box's config file is there" test -s "$R/etc/appliance/appliance.toml"
check "no SSH host keys are baked into the image" bash -c "! ls '$R'/etc/ssh/ssh_host_* 2>/dev/null"
check "the machine id is left for first boot" test ! -s "$R/etc/machine-id"
udev_test() {
    local out
    out=$(chroot "$R" udevadm test --action=add /sys/class/tty/tty 2>&1) || true
    grep -q 'Reading rules file: .*99-appliance-rfid.rules' <<<"$out" &&
        ! grep '99-appliance-rfid.rules:[0-9]' <<<"$out"
}
check "udev reads the reader rule without complaint" udev_test
if nft list tables >/dev/null 2>&1; then
    check "the firewall rules parse" in_root nft -c -f /etc/nftables.conf
else
    log "skipped: the firewall rules check (this kernel has no nf_tables for nft -c)"
fi
for script in /usr/lib/appliance/firstboot /usr/lib/appliance/ssh-switch \
    /usr/local/sbin/appliance-upgrade /usr/local/sbin/appliance-restore /usr/local/bin/appliance; do
    check "$script is executable and parses" bash -c "test -x '$R$script' && chroot '$R' sh -n '$script'"
done
check "the venv's appliance --help runs" in_root /opt/appliance/venv/bin/appliance --help
check "the whole app imports (every subpackage is in the wheel)" \
    in_root /opt/appliance/venv/bin/python -c "import appliance.app"
check "the box's appliance wrapper runs as the appliance user" \
    in_root /usr/local/bin/appliance --help
check "the appliance settings load from the box's config" \
    in_root /opt/appliance/venv/bin/python -c \
    "from appliance.config import load_settings; s = load_settings('/etc/appliance/appliance.toml'); assert s.port == 8080 and s.tls_port == 8443, s"
check "pyscard (Debian's) is importable in the venv" \
    in_root /opt/appliance/venv/bin/python -c "import smartcard"

[ -n "${APPLIANCE_KEEP_WORK:-}" ] || rm -rf "$WORK"
log "root file system built in $((BUILT - START)) s, checked in $(( $(date +%s) - BUILT )) s"
echo "image: $passed passed, $failed failed"
[ "$failed" = 0 ]
