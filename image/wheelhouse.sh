#!/bin/bash
# A folder of wheels to upgrade boxes without internet: the appliance from this repository and
# its dependencies for the box's architecture. Copy it to the box (USB stick, scp) and run
# `appliance-upgrade FOLDER` there.
#   image/wheelhouse.sh amd64|arm64 FOLDER
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: $0 amd64|arm64 FOLDER" >&2; exit 2; }
check_arch "$1"
make_wheels "$1" "$2"
log "wheels for $1 in $2: $(find "$2" -name '*.whl' | wc -l) files"
