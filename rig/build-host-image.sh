#!/usr/bin/env bash
# Build the local systemd host image the rig and Molecule use (no registry can be reached here).
# Idempotent: does nothing when the image exists. Usage: rig/build-host-image.sh [IMAGE]
set -euo pipefail
IMAGE="${1:-localhost/camkit-host:systemd}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "$0")" && pwd)/containers.conf}"
if podman image exists "$IMAGE"; then
    echo "$IMAGE exists"
    exit 0
fi
ROOTFS="$(mktemp -d /tmp/camkit-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase \
    --include=python3,openssh-server,iproute2,nftables,systemd,systemd-sysv,dbus,iputils-ping \
    bookworm "$ROOTFS" http://deb.debian.org/debian >/dev/null
tar -C "$ROOTFS" -c . | podman import --change 'CMD ["/sbin/init"]' - "$IMAGE" >/dev/null
echo "built $IMAGE"
