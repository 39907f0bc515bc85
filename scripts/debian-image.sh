#!/usr/bin/env bash
# scripts/debian-image.sh: builds and caches the real Debian 12 image the
# QEMU tests (test/e2e/qemu_debian_test.go) and bench/debian boot:
#
#   mmdebstrap --variant=minbase --include=PACKAGES bookworm RAW.tar
#
# from the Debian archive apt already uses (~4 min), then pruned of
# documentation, Debian's own initrds (gitboot's initrds boot the node) and
# the kernel modules a VM never loads (sound, GPU, media, Wi-Fi, staging,
# Bluetooth; the image's depmod runs again afterwards), so it is about 500 MB.
#
# Output: $GITBOOT_TEST_CACHE/debian12.tar (default /var/cache/gitboot-test),
# written atomically (a temporary file renamed into place), and
# debian12.stamp holding the recipe it was made with. Idempotent: when the
# stamp matches this recipe it does nothing. One run at a time (flock on
# $CACHE/.debian12.lock). The unpruned tar (debian12-raw.tar) is kept, so a
# change of the pruning alone does not download again; a complete raw tar
# made by hand with the same mmdebstrap command is reused.
#
# Root only: owners and modes of the image are kept (--numeric-owner).
#
#   sudo scripts/debian-image.sh          # prints the tar's path
#   sudo FORCE=1 scripts/debian-image.sh  # rebuild the pruned tar
set -euo pipefail

CACHE=${GITBOOT_TEST_CACHE:-/var/cache/gitboot-test}
OUT=$CACHE/debian12.tar
RAW=$CACHE/debian12-raw.tar
STAMP=$CACHE/debian12.stamp
SUITE=bookworm
PACKAGES=systemd-sysv,udev,kmod,iproute2,openssh-server,linux-image-amd64,ifupdown,isc-dhcp-client,procps
PRUNE_DIRS="usr/share/doc usr/share/man usr/share/locale usr/share/info"
PRUNE_MODULES="kernel/sound kernel/drivers/gpu kernel/drivers/media kernel/drivers/net/wireless kernel/drivers/staging kernel/drivers/bluetooth"
# Bump when the steps below change in a way the stamp cannot see.
RECIPE_VERSION=1
RECIPE="recipe=$RECIPE_VERSION suite=$SUITE variant=minbase include=$PACKAGES prune=${PRUNE_DIRS// /,} modules=${PRUNE_MODULES// /,}"

log() { echo "debian-image: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (the image's owners and modes must be kept)"
for c in mmdebstrap tar chroot flock; do
  command -v "$c" >/dev/null || die "needs $c (apt-get install mmdebstrap tar coreutils util-linux)"
done
mkdir -p "$CACHE"
exec 9>"$CACHE/.debian12.lock"
flock 9

if [ -z "${FORCE:-}" ] && [ -s "$OUT" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ]; then
  echo "$OUT"
  exit 0
fi

# open_by_other FILE: whether a process has FILE open (a raw tar still being
# written by an mmdebstrap started by hand).
open_by_other() {
  local f
  f=$(readlink -f "$1")
  for fd in /proc/[0-9]*/fd/*; do
    [ "$(readlink "$fd" 2>/dev/null)" = "$f" ] && return 0
  done
  return 1
}

# raw_complete: the raw tar exists, nothing writes it, and it lists the
# files a bootable image needs (a cut-off tar fails the listing).
raw_complete() {
  [ -s "$RAW" ] || return 1
  if open_by_other "$RAW"; then
    log "$RAW is still being written; waiting for the writer"
    while open_by_other "$RAW"; do sleep 5; done
  fi
  local list
  list=$(tar -tf "$RAW" 2>/dev/null) || return 1
  for want in ./usr/lib/systemd/systemd ./usr/sbin/sshd ./usr/sbin/ifup ./var/lib/dpkg/status; do
    grep -qxF "$want" <<<"$list" || { log "$RAW has no $want"; return 1; }
  done
  grep -q '^\./boot/vmlinuz-' <<<"$list" || { log "$RAW has no kernel"; return 1; }
}

tmpdir=$(mktemp -d "$CACHE/.debian12-build.XXXXXX")
trap 'rm -rf "$tmpdir"' EXIT

if ! raw_complete; then
  log "mmdebstrap $SUITE (~4 min)"
  start=$(date +%s)
  mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "$SUITE" "$tmpdir/raw.tar"
  mv "$tmpdir/raw.tar" "$RAW"
  log "mmdebstrap took $(($(date +%s) - start)) s"
fi

root=$tmpdir/root
mkdir "$root"
tar -x --numeric-owner -p -f "$RAW" -C "$root"
for d in $PRUNE_DIRS; do
  rm -rf "${root:?}/$d"
done
# Debian's initrds and the root links to them: gitboot's initrds boot the node.
rm -f "$root"/boot/initrd.img* "$root"/initrd.img "$root"/initrd.img.old
kvers=()
for m in "$root"/usr/lib/modules/*/; do
  kver=$(basename "$m")
  for p in $PRUNE_MODULES; do
    rm -rf "${m:?}$p"
  done
  # The image's own depmod (its kmod), for its own kernel.
  chroot "$root" /usr/sbin/depmod "$kver"
  kvers+=("$kver")
done
((${#kvers[@]})) || die "$RAW has no /usr/lib/modules/KVER"

tar -c --numeric-owner -f "$tmpdir/out.tar" -C "$root" .
mv "$tmpdir/out.tar" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
printf '%s\n' "$RECIPE" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
log "wrote $OUT ($(du -m "$OUT" | cut -f1) MB, kernel ${kvers[*]})"
echo "$OUT"
