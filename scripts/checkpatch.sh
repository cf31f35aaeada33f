#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# checkpatch.pl --strict on the kernel sources and the uapi header, with
# the checkpatch of Debian's linux-source-6.1 (see scripts/deps.sh).
# Nothing is ignored.  Prints one line per problem; exit status 0 only
# when there is no error, warning or check.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

CP=.cache/linux-source-6.1/scripts/checkpatch.pl
if [ ! -x "$CP" ]; then
	scripts/deps.sh || exit 1
fi

# Our sources, not the *.mod.c files modpost generates.
files=()
for f in kernel/*.c kernel/*.h uapi/linux/qkdn.h; do
	case "$f" in
	*.mod.c) continue ;;
	esac
	[ -e "$f" ] && files+=("$f")
done
if [ ${#files[@]} -eq 0 ]; then
	echo "checkpatch: no files to check" >&2
	exit 1
fi

# --no-tree: an out-of-tree module; -f: whole files, not a patch.
if perl "$CP" --no-tree --strict --terse --showfile --color=never \
	--summary-file -f "${files[@]}"; then
	echo "checkpatch: ${#files[@]} files clean"
else
	echo "checkpatch: problems found (${#files[@]} files checked)"
	exit 1
fi
