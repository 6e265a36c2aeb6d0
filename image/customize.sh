#!/bin/bash
# mmdebstrap's customize hook: turns a minimal Debian into the appliance. Runs on the build host
# with the new root file system in $1 (mmdebstrap has mounted /proc, /dev and /sys in it).
# Usage: customize.sh ROOTFS ARCH WHEEL_DIR FLAVOUR(image|rootfs)
set -euo pipefail
R=$1 ARCH=$2 WHEELS=$3 FLAVOUR=$4
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
in_root() { chroot "$R" "$@"; }
copy_tree() { tar -C "$1" --owner=0 --group=0 -cf - . | tar -C "$R" --no-overwrite-dir -xf -; }

echo "customize: units, udev rule, system user"
install -m 644 "$REPO/systemd/appliance.service" "$REPO/systemd/appliance-firstboot.service" \
    "$REPO/systemd/appliance-ssh-switch.service" "$R/usr/lib/systemd/system/"
install -m 644 "$REPO/systemd/99-appliance-rfid.rules" "$R/usr/lib/udev/rules.d/"
install -D -m 644 "$REPO/systemd/appliance.sysusers" "$R/usr/lib/sysusers.d/appliance.conf"
install -D -m 644 "$HERE/README.md" "$R/usr/share/doc/appliance/README.md"
copy_tree "$HERE/files"
[ -d "$HERE/files-$ARCH" ] && copy_tree "$HERE/files-$ARCH"
chmod 600 "$R/etc/nftables.conf"
in_root systemd-sysusers /usr/lib/sysusers.d/appliance.conf

echo "customize: the appliance in /opt/appliance/venv"
# --system-site-packages: pyscard comes from Debian (python3-pyscard), built for this Python.
in_root python3 -m venv --system-site-packages /opt/appliance/venv
mkdir -p "$R/tmp/appliance-wheels"
cp "$WHEELS"/*.whl "$R/tmp/appliance-wheels/"
in_root /opt/appliance/venv/bin/pip install -q --no-index --no-cache-dir \
    --disable-pip-version-check --find-links /tmp/appliance-wheels appliance
rm -rf "$R/tmp/appliance-wheels"
site=$(echo "$R"/opt/appliance/venv/lib/python3*/site-packages/appliance)
if ! grep -rqsE 'NOTIFY_SOCKET|sd_notify|sdnotify|READY=1' "$site"; then
    # Until the app sends READY=1 and WATCHDOG=1 itself, Type=notify would kill it after
    # TimeoutStartSec. This drop-in goes away by itself once a wheel that notifies is built.
    echo "customize: WARNING: this appliance wheel does not talk to systemd (no sd_notify);" \
        "installing a Type=exec, no-watchdog drop-in"
    install -D -m 644 /dev/stdin "$R/etc/systemd/system/appliance.service.d/50-no-sd-notify.conf" <<'UNIT'
# Installed by image/customize.sh because the appliance wheel in this image does not send
# READY=1/WATCHDOG=1 to systemd. Delete this file once it does.
[Service]
Type=exec
WatchdogSec=0
UNIT
fi

echo "customize: host name, machine id, services"
echo appliance >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tappliance\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
# Empty: each box makes its own machine id at first boot.
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
in_root systemctl enable appliance.service appliance-firstboot.service \
    appliance-ssh-switch.service systemd-networkd.service systemd-resolved.service \
    systemd-timesyncd.service nftables.service avahi-daemon.service pcscd.socket
# SSH stays off until a file named `ssh` on the boot partition asks for it; host keys are made
# per box at first boot.
in_root systemctl disable ssh.service
rm -f "$R"/etc/ssh/ssh_host_*

if [ "$ARCH" = amd64 ]; then
    boot_mount=/boot
else
    boot_mount=/boot/firmware
fi
cat >"$R/etc/fstab" <<FSTAB
# The image's two partitions, found by label (see image/build.sh).
LABEL=APPROOT  /  ext4  defaults,noatime,errors=remount-ro  0  1
LABEL=APPBOOT  $boot_mount  vfat  defaults,noatime,fmask=0077,dmask=0077  0  2
FSTAB

if [ "$FLAVOUR" = image ] && [ "$ARCH" = amd64 ]; then
    echo "customize: systemd-boot on the EFI partition (/boot)"
    install -D -m 644 "$R/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$R/boot/EFI/BOOT/BOOTX64.EFI"
    mkdir -p "$R/boot/loader/entries"
    printf 'default appliance.conf\ntimeout 0\neditor no\n' >"$R/boot/loader/loader.conf"
    cat >"$R/boot/loader/entries/appliance.conf" <<'ENTRY'
title   Appliance (Debian)
linux   /vmlinuz
initrd  /initrd.img
options root=LABEL=APPROOT rw console=tty0 console=ttyS0,115200
ENTRY
    in_root /usr/lib/appliance/update-efi-boot
fi

if [ "$ARCH" = arm64 ] && [ -f "$R/etc/default/raspi-firmware" ]; then
    echo "customize: Raspberry Pi boot files (raspi-firmware) with the root found by label"
    cat >>"$R/etc/default/raspi-firmware" <<'CFG'

# The appliance image (image/customize.sh): root by label; the screen last, so it shows the boot.
ROOTPART=LABEL=APPROOT
CONSOLES="ttyS1,115200 tty0"
CFG
    in_root env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware
fi

in_root apt-get clean
rm -f "$R"/var/cache/apt/archives/*.deb
rm -rf "$R"/var/lib/apt/lists/*_Packages* "$R"/tmp/* "$R"/var/tmp/*
echo "customize: done"
