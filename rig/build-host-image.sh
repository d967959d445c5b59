#!/usr/bin/env bash
# Build the local Debian 12 systemd host image the rig and Molecule use (no registry is reachable
# here). The tag is a hash of rig/host-packages.txt, so changing the package list builds a new image.
# Idempotent: does nothing when the image exists. Prints the image name last.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TAG="$(sha256sum "$HERE/host-packages.txt" | cut -c1-12)"
IMAGE="${1:-localhost/camkit-host:$TAG}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$HERE/containers.conf}"
if ! podman image exists "$IMAGE"; then
    ROOTFS="$(mktemp -d /tmp/camkit-rootfs.XXXXXX)"
    trap 'rm -rf "$ROOTFS"' EXIT
    PACKAGES="$(grep -v '^#' "$HERE/host-packages.txt" | paste -sd, -)"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" http://deb.debian.org/debian >/dev/null
    # packages must not start their services at build time; systemd starts what is enabled at boot
    tar -C "$ROOTFS" -c . | podman import --change 'CMD ["/sbin/init"]' - "$IMAGE" >/dev/null
fi
echo "$IMAGE"
