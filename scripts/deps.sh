#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what building and testing qkdn needs on Debian 12 (run as root).
# Idempotent: when everything is present it only checks, in well under a
# second.  Also extracts checkpatch.pl and its data files from Debian's
# linux-source package into .cache/linux-source-6.1/.
set -euo pipefail

cd "$(dirname "$0")/.."

PKGS=(
	linux-image-amd64 linux-headers-amd64 linux-source-6.1
	qemu-system-x86 busybox-static kmod cpio
	libmnl-dev libssl-dev pkg-config libevent-dev libjansson-dev
	iproute2 iputils-ping openssl python3 python3-yaml python3-requests curl jq keyutils
	nginx-light wrk
	gcc make xz-utils
)

missing=()
status=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PKGS[@]}" 2>/dev/null || true)
for p in "${PKGS[@]}"; do
	if ! grep -q "^$p ii" <<<"$status"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing packages: ${missing[*]} (run as root)" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The kernel the module is built for and the VM boots must be the Debian
# one: the newest /lib/modules entry with a build tree and /boot image.
kver=$(scripts/kver.sh)
case "$kver" in
*-amd64) ;;
*)
	echo "deps: no Debian kernel with headers found (kver.sh: $kver)" >&2
	exit 1
	;;
esac

# checkpatch.pl and the data files it reads, out of the source tarball.
SRC=/usr/src/linux-source-6.1.tar.xz
DST=.cache/linux-source-6.1
FILES=(scripts/checkpatch.pl scripts/spelling.txt scripts/const_structs.checkpatch)
need=0
for f in "${FILES[@]}"; do
	[ -s "$DST/$f" ] || need=1
done
if [ $need -eq 1 ]; then
	echo "deps: extracting checkpatch from $SRC"
	mkdir -p .cache
	tmp=$(mktemp -d .cache/linux-source.XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
	tar -xJf "$SRC" -C "$tmp" --strip-components=1 \
		"${FILES[@]/#/linux-source-6.1/}"
	mkdir -p "$DST/scripts"
	for f in "${FILES[@]}"; do
		mv -f "$tmp/$f" "$DST/$f"
	done
	chmod +x "$DST/scripts/checkpatch.pl"
fi
