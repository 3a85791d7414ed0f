#!/usr/bin/env bash
# Build the image the Molecule scenarios run: Debian 12 with systemd as PID 1 and python3,
# tagged $MOLECULE_IMAGE (localhost/debian-systemd:bookworm). No container registry is reachable,
# so the root filesystem comes from debootstrap and the Debian mirror apt already uses on this host.
# Does nothing when the image exists (FORCE=1 rebuilds it). ~1 min.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

IMAGE=${MOLECULE_IMAGE:-localhost/debian-systemd:bookworm}
SUITE=bookworm
# packages in the image besides minbase: systemd as init, python3 (+ python3-apt for ansible's apt
# module), iproute2/procps (ss, ps: used by init scripts and tests)
INCLUDE=systemd-sysv,dbus,python3,python3-apt,iproute2,procps

if [ -z "${FORCE:-}" ] && podman image exists "$IMAGE"; then
  echo "molecule image: $IMAGE exists"
  exit 0
fi
for t in podman debootstrap; do
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || { echo "molecule image: $t missing (make deps)" >&2; exit 1; }
done

# The mirror this host's apt uses (deb822 sources first, then the one-line format).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
mirror=${MIRROR:-${mirror:-http://deb.debian.org/debian}}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/molecule-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/rootfs
echo "molecule image: debootstrap $SUITE from $mirror (log: $WORK/debootstrap.log)"
if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
  tail -30 "$WORK/debootstrap.log" >&2
  exit 1
fi

# Same apt sources as the host (suite updates + security), and the same Valid-Until policy.
if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
  rm -f "$ROOTFS/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/*.sources "$ROOTFS/etc/apt/sources.list.d/"
fi
if apt-config dump 2>/dev/null | grep -q '^Acquire::Check-Valid-Until "false";'; then
  echo 'Acquire::Check-Valid-Until "false";' > "$ROOTFS/etc/apt/apt.conf.d/99no-check-valid-until"
fi
# debootstrap copies the build host's identity files: the container gets its own.
rm -f "$ROOTFS/etc/hostname" "$ROOTFS/etc/resolv.conf" "$ROOTFS/etc/machine-id"
: > "$ROOTFS/etc/machine-id"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOTFS/etc/hosts"
# Units that only slow a container's boot or fail in it.
for u in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  rm -f "$ROOTFS/etc/systemd/system/"*.wants/"$u"
done
rm -rf "$ROOTFS/var/lib/apt/lists/"* "$ROOTFS/var/cache/apt/archives/"*.deb
# The image has no package lists: make them look ancient, or ansible's apt module with
# `update_cache: true` + `cache_valid_time` would trust the fresh directory mtime and skip the update.
touch -d @0 "$ROOTFS/var/lib/apt/lists"

old_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if ! out=$(tar -C "$ROOTFS" --numeric-owner -c . | podman import \
      --change 'CMD ["/lib/systemd/systemd"]' \
      --change 'STOPSIGNAL SIGRTMIN+3' \
      --change 'ENV container=podman' \
      - "$IMAGE" 2>&1); then
  echo "$out" >&2
  exit 1
fi
if [ -n "$old_id" ] && [ "$old_id" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  podman image rm "$old_id" >/dev/null 2>&1 || true   # the replaced image (FORCE=1), unless in use
fi
echo "molecule image: built $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
