# Shared by build.sh and ci-check.sh: one package list, one mmdebstrap call, one customize step,
# so the CI check builds the very root file system that the full image boots.
# shellcheck shell=bash

IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$IMAGE_DIR/.." && pwd)
SUITE=${APPLIANCE_SUITE:-bookworm}
# Debian's default mirror unless APPLIANCE_MIRROR names another (an apt sources line, or a URL).
MIRROR=${APPLIANCE_MIRROR:-}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# What every box has. Kernel and boot loader packages come from boot_packages().
base_packages() {
    local p=(
        systemd systemd-sysv udev dbus systemd-timesyncd systemd-resolved
        python3 python3-venv python3-pyscard tzdata
        pcscd avahi-daemon libnss-mdns nftables openssh-server
        netbase cloud-guest-utils fdisk iproute2 kmod procps less nano zstd
    )
    echo "${p[*]}"
}

boot_packages() {
    case $1 in
        amd64) echo "linux-image-amd64 systemd-boot-efi initramfs-tools" ;;
        arm64) echo "linux-image-arm64 raspi-firmware initramfs-tools" ;;
    esac
}

check_arch() {
    case $1 in
        amd64 | arm64) ;;
        *) die "architecture must be amd64 or arm64, not '$1'" ;;
    esac
}

# arm64 on an amd64 machine runs through qemu-user: binfmt_misc must be mounted and enabled.
prepare_foreign_arch() {
    local arch=$1
    [ "$arch" = "$(dpkg --print-architecture)" ] && return 0
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
    fi
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    arch-test "$arch" >/dev/null || die "cannot run $arch programs: install qemu-user-static binfmt-support arch-test"
}

# The appliance's wheel from this repository plus its dependencies as wheels for the target
# (manylinux, CPython 3.11: Debian bookworm's Python), so the image build needs no compiler.
make_wheels() {
    local arch=$1 dest=$2 machine plats=() v
    case $arch in amd64) machine=x86_64 ;; arm64) machine=aarch64 ;; esac
    rm -rf "$dest" && mkdir -p "$dest"
    if [ -n "${APPLIANCE_WHEEL:-}" ]; then
        log "using the appliance wheel $APPLIANCE_WHEEL"
        cp "$APPLIANCE_WHEEL" "$dest/"
    else
        log "building the appliance wheel"
        python3 -m pip wheel -q --no-deps -w "$dest" "$REPO_DIR" >&2
    fi
    # pip does not widen a --platform tag to older glibc versions by itself: list them.
    for v in 36 35 34 33 32 31 30 29 28 27 26 25 24 17; do
        plats+=(--platform "manylinux_2_${v}_${machine}")
    done
    plats+=(--platform "manylinux2014_${machine}" --platform "manylinux1_${machine}")
    log "downloading dependency wheels for $arch"
    python3 -m pip download -q --dest "$dest" --only-binary=:all: --python-version 3.11 \
        --implementation cp --abi cp311 --abi abi3 --abi none "${plats[@]}" \
        "$dest"/appliance-*.whl >&2
}

# mmdebstrap ARCH ROOTFS_DIR WHEEL_DIR FLAVOUR: FLAVOUR is "image" (with kernel and boot loader)
# or "rootfs" (the CI check: the same system without them).
make_rootfs() {
    local arch=$1 rootfs=$2 wheels=$3 flavour=$4 cache
    local pkgs
    pkgs="$(base_packages)"
    [ "$flavour" = image ] && pkgs="$pkgs $(boot_packages "$arch")"
    pkgs="$pkgs ${APPLIANCE_EXTRA_PACKAGES:-}"
    cache=${APPLIANCE_APT_CACHE:-$IMAGE_DIR/out/apt-cache-$arch}
    mkdir -p "$cache"
    local args=(
        --variant=minbase --arch="$arch" --mode=root --format=directory
        --components="main non-free-firmware"
        --include="$(echo "$pkgs" | tr -s ' ' ',' | sed 's/,$//')"
        --dpkgopt='path-exclude=/usr/share/man/*'
        --dpkgopt='path-exclude=/usr/share/doc/*'
        --dpkgopt='path-include=/usr/share/doc/*/copyright'
        --dpkgopt='path-exclude=/usr/share/locale/*'
        --dpkgopt='path-exclude=/usr/share/info/*'
        # A local cache of the .deb files makes the second build much faster.
        --skip=download/empty --skip=essential/unlink
        --setup-hook='mkdir -p "$1"/var/cache/apt/archives'
        --setup-hook="sync-in '$cache' /var/cache/apt/archives"
        --customize-hook="sync-out /var/cache/apt/archives '$cache'"
        --customize-hook="'$IMAGE_DIR/customize.sh' \"\$1\" $arch '$wheels' $flavour"
    )
    # raspi-firmware's hooks install the kernel and firmware into /boot/firmware.
    [ "$arch" = arm64 ] && args+=(--setup-hook='mkdir -p "$1"/boot/firmware')
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    log "mmdebstrap: Debian $SUITE $arch ($flavour)"
    if [ -n "$MIRROR" ]; then
        mmdebstrap "${args[@]}" "$SUITE" "$rootfs" "$MIRROR"
    else
        mmdebstrap "${args[@]}" "$SUITE" "$rootfs"
    fi
}
