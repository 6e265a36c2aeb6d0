#!/bin/bash
# Builds a flashable disk image of the appliance from Debian's own tools and packages.
#   image/build.sh amd64 OUT.img   UEFI PC image (GPT: EFI partition at /boot, systemd-boot)
#   image/build.sh arm64 OUT.img   Raspberry Pi 4 image (MBR: firmware partition at /boot/firmware)
# Both go through the same steps (lib.sh, customize.sh): wheels, mmdebstrap, customize, then a
# FAT boot partition and an ext4 root partition made from directories, without loop devices.
# Needs root, mmdebstrap, dosfstools, mtools, fdisk, e2fsprogs; arm64 also qemu-user-static,
# binfmt-support and arch-test. Environment: APPLIANCE_MIRROR, APPLIANCE_EXTRA_PACKAGES,
# APPLIANCE_APT_CACHE, APPLIANCE_WORK_DIR, APPLIANCE_WHEEL (see README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || { echo "usage: $0 amd64|arm64 OUT.img" >&2; exit 2; }
ARCH=$1 OUT=$2
check_arch "$ARCH"
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap --mode=root, chroot)"
for tool in mmdebstrap mkfs.vfat mcopy sfdisk mkfs.ext4; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install mmdebstrap dosfstools mtools fdisk e2fsprogs"
done
prepare_foreign_arch "$ARCH"

START=$(date +%s)
WORK=${APPLIANCE_WORK_DIR:-$IMAGE_DIR/out/work-$ARCH}
rm -rf "$WORK" && mkdir -p "$WORK"
make_wheels "$ARCH" "$WORK/wheels"
make_rootfs "$ARCH" "$WORK/rootfs" "$WORK/wheels" image

R=$WORK/rootfs
if [ "$ARCH" = amd64 ]; then
    bootsrc=$R/boot boot_mib=512 label=gpt
    boot_type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B    # EFI system partition
    root_type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709    # Linux root (x86-64)
else
    bootsrc=$R/boot/firmware boot_mib=512 label=dos
    boot_type=c root_type=83                         # FAT32 (LBA), Linux
fi
[ -n "$(ls -A "$bootsrc")" ] || die "nothing to boot from in $bootsrc"

log "boot partition (FAT32, $boot_mib MiB) from ${bootsrc#"$WORK"/}"
rm -f "$WORK/boot.img"
mkfs.vfat -F 32 -n APPBOOT -C "$WORK/boot.img" $((boot_mib * 1024)) >/dev/null
mcopy -s -p -m -i "$WORK/boot.img" "$bootsrc"/* ::/
find "$bootsrc" -mindepth 1 -delete          # the root file system keeps an empty mount point

used_mib=$(du -sm "$R" | cut -f1)
root_mib=$(( (used_mib * 13 / 10 + 300 + 3) / 4 * 4 ))
log "root partition (ext4, $root_mib MiB, $used_mib MiB used); first boot grows it to the disk"
rm -f "$WORK/root.img"
truncate -s "${root_mib}M" "$WORK/root.img"
mkfs.ext4 -q -F -L APPROOT -d "$R" "$WORK/root.img"

log "disk image ($label partition table)"
total_mib=$((1 + boot_mib + root_mib + 1))
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT.partial"
truncate -s "${total_mib}M" "$OUT.partial"
if [ "$label" = gpt ]; then
    names=(', name="APPBOOT"' ', name="APPROOT"') boot_flag=''
else
    names=('' '') boot_flag=', bootable'
fi
sfdisk -q "$OUT.partial" <<TABLE
label: $label
start=1MiB, size=${boot_mib}MiB, type=$boot_type${names[0]}$boot_flag
start=$((1 + boot_mib))MiB, size=${root_mib}MiB, type=$root_type${names[1]}
TABLE
dd if="$WORK/boot.img" of="$OUT.partial" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$WORK/root.img" of="$OUT.partial" bs=1M seek=$((1 + boot_mib)) conv=notrunc,sparse status=none
mv "$OUT.partial" "$OUT"
[ -n "${APPLIANCE_KEEP_WORK:-}" ] || rm -rf "$WORK"

log "done: $OUT ($total_mib MiB) in $(( $(date +%s) - START )) s"
