#!/bin/bash
# The full check of the amd64 image: build it, boot it under qemu-system-x86_64 (UEFI firmware
# from Debian's ovmf, KVM when it is there, else software emulation), reach the appliance through
# a port forwarded to 127.0.0.1, check /healthz (and /login when the app has it), the TLS port
# with the site CA first boot made (downloaded from the box's /ca.pem), then power the box off and
# check what first boot left behind (the CA key readable by the service user alone).
#   image/boot-test.sh [IMAGE]   boot IMAGE instead of building one
# Needs root for the build, qemu-system-x86, ovmf, mtools (and build.sh's tools).
# Environment: BOOT_TEST_ACCEL=kvm|tcg to force one, BOOT_TEST_TIMEOUT (seconds to /healthz),
# BOOT_TEST_SOAK (seconds the box runs after /healthz answered, default 45: past the watchdog).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

START=$(date +%s)
OUT=$IMAGE_DIR/out/boot-test
mkdir -p "$OUT"
IMG=${1:-}
if [ -z "$IMG" ]; then
    IMG=$OUT/appliance-amd64.img
    "$IMAGE_DIR/build.sh" amd64 "$IMG"
fi
BUILT=$(date +%s)

for tool in qemu-system-x86_64 mtype python3; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install qemu-system-x86 ovmf mtools"
done
CODE=/usr/share/OVMF/OVMF_CODE_4M.fd VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
[ -f "$CODE" ] || die "no UEFI firmware: apt-get install ovmf"

# A copy of the image on a bigger disk: first boot must grow the root partition into it.
DISK=$OUT/disk.img
cp --sparse=always "$IMG" "$DISK"
truncate -s +1G "$DISK"
cp "$VARS" "$OUT/vars.fd"
# As an installer would: an empty file named `ssh` on the boot partition switches SSH on.
touch "$OUT/ssh"
mcopy -o -i "$DISK@@1M" "$OUT/ssh" ::/ssh
CONSOLE=$OUT/console.log QMP=$OUT/qmp.sock
rm -f "$CONSOLE" "$QMP"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port) SSH_PORT=$(free_port) TLS_PORT=$(free_port)

QEMU_PID=
cleanup() { [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true; }
trap cleanup EXIT

start_vm() {
    # Under KVM, qemu's default CPU model: "-cpu host" aborted on MSRs in a nested VM here.
    local cpu=(-cpu max)
    [ "$1" = kvm ] && cpu=()
    qemu-system-x86_64 -machine q35 -accel "$1" -m 1024 -smp 2 "${cpu[@]}" \
        -drive if=pflash,format=raw,readonly=on,file="$CODE" \
        -drive if=pflash,format=raw,file="$OUT/vars.fd" \
        -drive file="$DISK",format=raw,if=virtio \
        -nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:"$PORT"-:8080,hostfwd=tcp:127.0.0.1:"$SSH_PORT"-:22,hostfwd=tcp:127.0.0.1:"$TLS_PORT"-:8443 \
        -display none -serial file:"$CONSOLE" -qmp unix:"$QMP",server=on,wait=off \
        >"$OUT/qemu.log" 2>&1 &
    QEMU_PID=$!
    sleep 2
    kill -0 "$QEMU_PID" 2>/dev/null
}

# KVM can start and still not run a guest (in some nested VMs the firmware's first instructions
# fail): it must print on the serial console within 30 s, or the test goes on with software
# emulation.
kvm_boots() {
    for _ in $(seq 30); do
        kill -0 "$QEMU_PID" 2>/dev/null || return 1
        grep -q 'KVM internal error' "$OUT/qemu.log" && return 1
        [ -s "$CONSOLE" ] && return 0
        sleep 1
    done
    return 1
}

ACCEL=${BOOT_TEST_ACCEL:-}
if [ "$ACCEL" != tcg ] && [ -w /dev/kvm ] && start_vm kvm && kvm_boots; then
    ACCEL=kvm
else
    [ "$ACCEL" = kvm ] && die "KVM was asked for but does not boot: $(tail -n 3 "$OUT/qemu.log")"
    if [ -n "$QEMU_PID" ]; then
        log "KVM does not run this guest here ($(grep -m 1 -E 'error|Assertion' "$OUT/qemu.log" || echo 'no console output')): software emulation"
        kill "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
        QEMU_PID=
        rm -f "$CONSOLE" "$QMP"
        cp "$VARS" "$OUT/vars.fd"
    fi
    ACCEL=tcg
    start_vm tcg || die "qemu did not start: $(cat "$OUT/qemu.log")"
fi
if [ "$ACCEL" = kvm ]; then limit=${BOOT_TEST_TIMEOUT:-240}; else limit=${BOOT_TEST_TIMEOUT:-600}; fi
log "booting with -accel $ACCEL; the box's port 8080 is 127.0.0.1:$PORT (console: $CONSOLE)"

# GET PATH -> prints the HTTP status, or 000 when nothing answers.
http_status() {
    python3 - "http://127.0.0.1:$PORT$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
}

failures=0
check() { if "$@"; then log "ok: $CHECK"; else log "FAILED: $CHECK"; failures=$((failures + 1)); fi; }

BOOT_START=$(date +%s)
healthy=
while :; do
    if [ "$(http_status /healthz)" = 200 ]; then healthy=1; break; fi
    kill -0 "$QEMU_PID" 2>/dev/null || die "the VM stopped: $(tail -n 20 "$CONSOLE")"
    [ $(( $(date +%s) - BOOT_START )) -lt "$limit" ] || break
    sleep 2
done
UP=$(date +%s)
CHECK="/healthz answered 200, $((UP - BOOT_START)) s after power-on"
if [ -n "$healthy" ]; then
    check true
    login=$(http_status /login)
    case $login in
        200) CHECK="/login answered 200"; check true ;;
        404) log "skipped: /login answered 404 (this build of the app has no login page yet)" ;;
        *) CHECK="/login answered $login"; check false ;;
    esac
    # The site CA from the plain port, then the TLS port checked against it: the box's server
    # certificate names 127.0.0.1 and appliance.local (among its other names and addresses).
    CHECK="https:// on the TLS port verifies with the site CA from /ca.pem (127.0.0.1, appliance.local)"
    check python3 - "$PORT" "$TLS_PORT" "$OUT/site-ca.pem" <<'PY'
import socket, ssl, sys, urllib.request
plain, tls, ca_file = sys.argv[1:4]
with urllib.request.urlopen(f"http://127.0.0.1:{plain}/ca.pem", timeout=10) as r:
    open(ca_file, "wb").write(r.read())
ctx = ssl.create_default_context(cafile=ca_file)
with urllib.request.urlopen(f"https://127.0.0.1:{tls}/healthz", context=ctx, timeout=10) as r:
    assert r.status == 200, r.status
with socket.create_connection(("127.0.0.1", int(tls)), timeout=10) as raw, \
        ctx.wrap_socket(raw, server_hostname="appliance.local") as s:
    print(f"TLS: {s.version()} {s.cipher()[0]}", file=sys.stderr)
PY
    CHECK="SSH answers (switched on by the boot partition's ssh file)"
    check python3 - "$SSH_PORT" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
            if s.recv(64).startswith(b"SSH-2.0-"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(2)
sys.exit(1)
PY
else
    CHECK="/healthz did not answer within $limit s (the box's journal follows)"; check false
fi

# Past the 30 s watchdog: the service must still answer and must not have been restarted.
if [ -n "$healthy" ]; then
    sleep "${BOOT_TEST_SOAK:-45}"
    CHECK="/healthz still answers ${BOOT_TEST_SOAK:-45} s later"
    check test "$(http_status /healthz)" = 200
fi
sleep 3   # let the console catch up
TEXT=$OUT/console.txt
sed 's/\x1b\[[0-9;]*m//g' "$CONSOLE" | tr -d '\r' >"$TEXT"
CHECK="first boot printed the admin password on the console"
check grep -aq 'admin login: user admin, password ' "$TEXT"
CHECK="first boot grew the root partition"
check grep -aq 'root file system grown' "$TEXT"
CHECK="no unit failed"
check bash -c "! grep -a 'FAILED' '$TEXT'"

log "powering off"
OFF=$(date +%s)
python3 - "$QMP" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "system_powerdown"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush(); f.readline()
PY
for _ in $(seq 90); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 1; done
if kill -0 "$QEMU_PID" 2>/dev/null; then
    CHECK="clean power-off within 90 s"; check false
    kill "$QEMU_PID"
fi
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
DOWN=$(date +%s)

password=$(grep -a -o 'admin login: user admin, password [A-Za-z0-9]*' "$TEXT" | head -n 1 | awk '{print $NF}')
CHECK="the boot partition holds the same admin password"
check bash -c "mtype -i '$DISK@@1M' ::/appliance-admin-password.txt | grep -q 'password: ${password:-none}\$'"

CHECK="the ssh file was used up"
check bash -c "! mdir -i '$DISK@@1M' ::/ssh >/dev/null 2>&1"

# The box's journal, read from its root partition (513 MiB in: after the 512 MiB EFI partition).
JOURNAL=$OUT/journal
rm -rf "$JOURNAL" "$OUT/root.img"
python3 - "$DISK" "$OUT/root.img" <<'PY'
import sys
with open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as dst:
    src.seek(513 << 20)
    while chunk := src.read(16 << 20):
        if chunk.count(0) == len(chunk):
            dst.seek(len(chunk), 1)
        else:
            dst.write(chunk)
    dst.truncate()
PY
if debugfs -R "rdump /var/log/journal $OUT" "$OUT/root.img" >/dev/null 2>&1; then
    mv "$OUT/journal" "$JOURNAL" 2>/dev/null || true
    log "the appliance's journal on the box:"
    journalctl -D "$JOURNAL" -u appliance.service -o short-monotonic --no-pager | tail -n 25 >&2 || true
    # systemd logs "Started" only once the app sent READY=1 (Type=notify). The journal, not the
    # console: the console stops showing unit status once the login prompt is up.
    CHECK="systemd started appliance.service (READY=1 came)"
    check bash -c "journalctl -D '$JOURNAL' -o cat --no-pager | grep -q 'Started appliance.service'"
    CHECK="no Python traceback in the appliance's journal"
    check bash -c "! journalctl -D '$JOURNAL' -u appliance.service -o cat --no-pager | grep -q Traceback"
    CHECK="systemd neither timed out the start nor fired the watchdog"
    check bash -c "! journalctl -D '$JOURNAL' -u appliance.service -o cat --no-pager | grep -Eqi 'watchdog timeout|start operation timed out|scheduled restart'"
else
    CHECK="the box's journal could be read"; check false
fi
CHECK="first start made the site CA; its key is the appliance user's alone (mode 0600)"
check bash -c "debugfs -R 'stat /var/lib/appliance/pki/ca.key' '$OUT/root.img' 2>/dev/null | grep -Eq 'Mode: +0600'"
CHECK="the CA the box served is the one on its disk"
check bash -c "debugfs -R 'cat /var/lib/appliance/pki/ca.pem' '$OUT/root.img' 2>/dev/null | cmp -s - '$OUT/site-ca.pem'"
CHECK="the first-boot password file for the app is gone from /etc/appliance"
check bash -c "debugfs -R 'stat /etc/appliance/firstboot.env' '$OUT/root.img' 2>&1 | grep -q 'File not found'"
rm -f "$OUT/root.img"

log "build $((BUILT - START)) s, boot to /healthz $((UP - BOOT_START)) s (accel $ACCEL)," \
    "checks $((OFF - UP)) s, power-off $((DOWN - OFF)) s; total $(( $(date +%s) - START )) s"
[ "$failures" = 0 ] || die "$failures check(s) failed"
log "boot test passed"
