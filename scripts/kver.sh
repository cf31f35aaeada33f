#!/bin/sh
# The Debian-packaged kernel the module is built for and the VM boots:
# the newest /lib/modules entry that has a build tree and a /boot image.
for d in $(ls -1 /lib/modules 2>/dev/null | sort -rV); do
	if [ -e "/lib/modules/$d/build/Makefile" ] && [ -e "/boot/vmlinuz-$d" ]; then
		echo "$d"
		exit 0
	fi
done
echo "none"
