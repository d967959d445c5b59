#!/usr/bin/env bash
# Build the local Debian 12 systemd host image the rig and Molecule use (no registry is reachable
# here). The tag is a hash of rig/host-packages.txt and of this script, so changing either builds a
# new image. Packages are there to save apt time; their services start disabled, as on a server that
# never had them (a role enables what the host is for).
# Idempotent: does nothing when the image exists. Prints the image name last.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TAG="$(cat "$HERE/host-packages.txt" "$HERE/build-host-image.sh" | sha256sum | cut -c1-12)"
IMAGE="${1:-localhost/camkit-host:$TAG}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$HERE/containers.conf}"
if ! podman image exists "$IMAGE"; then
    ROOTFS="$(mktemp -d /tmp/camkit-rootfs.XXXXXX)"
    trap 'rm -rf "$ROOTFS"' EXIT
    PACKAGES="$(grep -v '^#' "$HERE/host-packages.txt" | paste -sd, -)"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" http://deb.debian.org/debian >/dev/null
    chroot "$ROOTFS" systemctl disable freeradius >/dev/null 2>&1
    tar -C "$ROOTFS" -c . | podman import --change 'CMD ["/sbin/init"]' - "$IMAGE" >/dev/null
fi
echo "$IMAGE"
