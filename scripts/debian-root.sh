#!/usr/bin/env bash
# Creates the cached Debian bookworm root the Debian userland tests run in
# (scripts/debian-tests.sh), idempotently:
#   - if a valid root already exists at $DEBIAN_ROOT (default
#     /var/tmp/rvisor-debian-bookworm-v1), exit at once;
#   - else run debootstrap (installed with apt-get if missing).
# The root is built in a temporary sibling directory and renamed into place only once it is
# complete and checked, so an interrupted run never leaves a half root behind under the final
# name. Prints the root's path on stdout.
# Bump the -vN suffix when the package set changes, so old caches are not reused.
set -euo pipefail
root=${DEBIAN_ROOT:-/var/tmp/rvisor-debian-bookworm-v1}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=python3,gcc,libc6-dev,make

# The files the tests need: a root lacking any of them is not valid.
valid() {
    local d=$1 f
    for f in usr/bin/bash usr/bin/python3 usr/bin/gcc usr/bin/make usr/bin/dpkg-deb \
        usr/bin/dpkg usr/sbin/useradd usr/bin/su usr/bin/setpriv usr/bin/tar usr/bin/find \
        usr/bin/sort usr/bin/md5sum etc/debian_version var/lib/dpkg/status; do
        [ -e "$d/$f" ] || return 1
    done
    # gcc can find its cc1 and libc's headers (libc6-dev) only in a complete install.
    grep -q '^Package: libc6-dev$' "$d/var/lib/dpkg/status"
}

if valid "$root"; then
    echo "$root"
    exit 0
fi
if [ -e "$root" ]; then
    echo "debian-root: $root exists but is not a complete root; move it away" >&2
    exit 1
fi

tmp=$(mktemp -d "$root.tmp.XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
if ! command -v debootstrap >/dev/null; then
    echo "debian-root: installing debootstrap" >&2
    apt-get install -y debootstrap >&2 || { apt-get update >&2 && apt-get install -y debootstrap >&2; }
fi
echo "debian-root: debootstrap bookworm into $tmp/root (a few minutes)" >&2
debootstrap --variant=minbase --include="$packages" bookworm "$tmp/root" "$mirror" >&2
valid "$tmp/root" || { echo "debian-root: the new root is incomplete" >&2; exit 1; }
# Atomic: rename(2) of a directory onto a missing name. If another run won the race, keep
# its root and drop ours.
if ! mv -T "$tmp/root" "$root" 2>/dev/null; then
    valid "$root" || { echo "debian-root: could not install $root" >&2; exit 1; }
fi
echo "$root"
