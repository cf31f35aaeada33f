#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run commands in a QEMU VM that boots Debian's packaged kernel with the
# host root file system mounted read-only over virtio-9p, so every host
# binary (and this project's build output) is there.
#
#   scripts/vm.sh run 'CMD'   boot, run CMD as root in the project directory,
#                             stream its output, power off, exit with its
#                             status (non-zero too if the kernel log shows a
#                             BUG/WARNING/Oops/...)
#   scripts/vm.sh shell       interactive shell on the console with qkdn.ko
#                             and qkdsim.ko loaded if built (Ctrl-A x quits)
#
# Environment: VM_MEM (2G), VM_SMP (2), VM_TIMEOUT (seconds, 1800),
# VM_ACCEL (tcg), VM_APPEND (more kernel parameters), VM_OUT (keep the exchange directory there: the command,
# its status, the guest's dmesg and the console log), KVER.  TESTS,
# TEST_TIMEOUT, CI and the variables named in VM_ENV are passed to CMD.
#
# Inside the guest: / is the host root (read-only); /tmp, /run, /var/tmp,
# /dev/shm are tmpfs; debugfs is on /sys/kernel/debug; the exchange
# directory is /run/vm; HOME=/tmp.
set -euo pipefail

PROJ=$(cd "$(dirname "$0")/.." && pwd -P)
KVER=${KVER:-$("$PROJ/scripts/kver.sh")}
VM_MEM=${VM_MEM:-2G}
VM_SMP=${VM_SMP:-2}
VM_TIMEOUT=${VM_TIMEOUT:-1800}
VM_ACCEL=${VM_ACCEL:-tcg}
CACHE=$PROJ/.cache/vm
KIMG=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER

# What the initramfs must load before it can mount the host root.
INITRD_MODULES="virtio_pci 9pnet_virtio 9p virtio_console"

# Kernel log lines that fail a run.
BAD_RE='BUG:|WARNING:|Oops|general protection|UBSAN|KASAN|kmemleak|refcount_t|list_add corruption|INFO: task .* blocked'

die() {
	echo "vm.sh: $*" >&2
	exit 2
}

usage() {
	echo "usage: $0 run 'CMD' | $0 shell" >&2
	exit 2
}

# /init of the initramfs.  Reads its orders from the exchange share.
gen_init() {
	cat <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

while read -r m; do
	insmod "/modules/$m" || echo "init: insmod $m failed"
done </modules.list

R=/newroot
O="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$O,ro,cache=loose" hostroot $R || {
	echo "init: cannot mount the host root"
	poweroff -f
}
mkdir -p /xfer /proj
mount -t 9p -o "$O" xfer /xfer || {
	echo "init: cannot mount the exchange share"
	poweroff -f
}
# The project directory may be below a directory that gets a tmpfs
# (/tmp): hold it aside and put it back at its place at the end.
P=$(cat /xfer/proj)
mount --bind "$R$P" /proj

mount -t tmpfs -o mode=0755 run $R/run
mkdir -p $R/run/vm $R/run/netns $R/run/lock
mount --move /xfer $R/run/vm
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t tmpfs -o mode=1777 vartmp $R/var/tmp
mount -t debugfs debugfs $R/sys/kernel/debug
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
[ -e $R/dev/fd ] || ln -s /proc/self/fd $R/dev/fd
mkdir -p "$R$P" 2>/dev/null
mount --move /proj "$R$P"

# The kernel's module autoloading (request_module(): xfrm_user, esp4, the
# crypto templates...) runs modprobe in this root: have it run the host's
# modprobe in the host root, as on a real system.
printf '#!/bin/sh\nexec chroot %s /sbin/modprobe "$@"\n' $R >/bin/modprobe-host
chmod 755 /bin/modprobe-host
echo /bin/modprobe-host >/proc/sys/kernel/modprobe

hostname qkdn-vm
export HOME=/tmp TERM=${TERM:-linux} LANG=C.UTF-8
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
chroot $R ip link set lo up

mode=$(cat $R/run/vm/mode)
if [ "$mode" = shell ]; then
	size=$(cat $R/run/vm/size 2>/dev/null)
	case "$size" in
	[1-9]*" "[1-9]*) stty -F /dev/ttyS0 rows ${size% *} cols ${size#* } ;;
	esac
	export TERM=$(cat $R/run/vm/term 2>/dev/null || echo linux)
	setsid -c chroot $R /bin/bash /run/vm/cmd.sh \
		</dev/ttyS0 >/dev/ttyS0 2>&1
	rc=$?
else
	# The command's output goes to the virtio console (hvc0).
	i=0
	while [ ! -e /dev/hvc0 ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	# hvc resets its settings on each first open: keep it open.
	exec 3<>/dev/hvc0
	stty raw -echo -opost <&3
	setsid chroot $R /bin/bash /run/vm/cmd.sh </dev/null >&3 2>&3 3>&-
	rc=$?
	# Wait until everything written to the console has left it.
	stty raw -echo -opost <&3
fi
echo $rc >$R/run/vm/rc

kill -TERM -1 2>/dev/null
sleep 0.2
kill -KILL -1 2>/dev/null
dmesg >$R/run/vm/dmesg.txt
sync
umount $R/run/vm
poweroff -f
EOF
}

# Load order (modules.dep order, dependencies first) of $INITRD_MODULES:
# one path relative to $MODDIR per line.
module_order() {
	awk -v want="$INITRD_MODULES" '
	function name(p) {
		sub(/.*\//, "", p); sub(/\.ko.*$/, "", p); gsub(/-/, "_", p)
		return p
	}
	function add(p) { if (!(p in seen)) { seen[p] = 1; order[n++] = p } }
	BEGIN { split(want, w, " "); for (i in w) wanted[w[i]] = 1 }
	{
		mod = $1; sub(/:$/, "", mod)
		if (!(name(mod) in wanted)) next
		for (i = NF; i >= 2; i--) add($i)
		add(mod); found[name(mod)] = 1
	}
	END {
		for (m in wanted) if (!(m in found)) {
			print "missing module " m > "/dev/stderr"; exit 1
		}
		for (i = 0; i < n; i++) print order[i]
	}' "$MODDIR/modules.dep"
}

# Build .cache/vm/initramfs-$KVER.cpio if any of its inputs changed.
build_initramfs() {
	local busybox mods stamp key img tmp m base
	busybox=$(command -v busybox || true)
	[ -n "$busybox" ] || die "busybox not found (scripts/deps.sh)"
	mods=$(module_order) || die "cannot resolve initramfs modules for $KVER"
	img=$CACHE/initramfs-$KVER.cpio
	stamp=$img.stamp
	key=$({
		gen_init
		echo "$KVER $INITRD_MODULES"
		stat -L -c '%n %s %Y' "$busybox"
		for m in $mods; do stat -L -c '%n %s %Y' "$MODDIR/$m"; done
	} | sha256sum | cut -d' ' -f1)
	if [ -s "$img" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
		return
	fi

	mkdir -p "$CACHE"
	tmp=$(mktemp -d "$CACHE/initramfs.XXXXXX")
	mkdir -p "$tmp"/{bin,proc,sys,dev,modules,newroot}
	cp "$busybox" "$tmp/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$tmp/bin/$a"
	done
	: >"$tmp/modules.list"
	for m in $mods; do
		base=${m##*/}
		case "$base" in
		*.ko.xz) xz -dc "$MODDIR/$m" >"$tmp/modules/${base%.xz}" ;;
		*.ko.zst) zstd -qdc "$MODDIR/$m" >"$tmp/modules/${base%.zst}" ;;
		*.ko.gz) gzip -dc "$MODDIR/$m" >"$tmp/modules/${base%.gz}" ;;
		*) cp "$MODDIR/$m" "$tmp/modules/$base" ;;
		esac
		echo "${base%.ko*}.ko" >>"$tmp/modules.list"
	done
	gen_init >"$tmp/init"
	chmod 755 "$tmp/init"
	(cd "$tmp" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$tmp.img"
	mv -f "$tmp.img" "$img"
	echo "$key" >"$stamp"
	rm -rf "$tmp"
}

# Kernel log check: print offending lines, return 1 if there are any.
check_log() {
	local log=$1 hits
	[ -s "$log" ] || return 0
	hits=$(grep -aE "$BAD_RE" "$log" || true)
	[ -z "$hits" ] && return 0
	echo "vm.sh: the kernel log ($log) shows problems:" >&2
	sed 's/^/vm.sh:   /' <<<"$hits" >&2
	return 1
}

[ $# -ge 1 ] || usage
mode=$1
case "$mode" in
run)
	[ $# -eq 2 ] || usage
	cmd=$2
	;;
shell)
	[ $# -eq 1 ] || usage
	cmd=
	;;
*) usage ;;
esac

if [ "$KVER" = none ] || [ ! -r "$KIMG" ]; then
	die "no Debian kernel image (KVER=$KVER)"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (scripts/deps.sh)"
build_initramfs

if [ -n "${VM_OUT:-}" ]; then
	out=$VM_OUT
	mkdir -p "$out"
	rm -f "$out"/{mode,proj,cmd.sh,rc,dmesg.txt,console.log,size,term}
	keep=1
else
	out=$(mktemp -d /tmp/qkdn-vm.XXXXXX)
	keep=0
fi
qemu_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	if [ "$keep" -eq 0 ]; then
		rm -rf "$out"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "$mode" >"$out/mode"
echo "$PROJ" >"$out/proj"
{
	printf 'cd %q || exit 125\n' "$PROJ"
	for v in TESTS TEST_TIMEOUT CI ${VM_ENV:-}; do
		[ -n "${!v+set}" ] && printf 'export %s=%q\n' "$v" "${!v}"
	done
	if [ "$mode" = shell ]; then
		cat <<'EOF'
if [ -e kernel/qkdn.ko ]; then
	modprobe veth
	for d in $(modinfo -F depends kernel/qkdn.ko | tr ',' ' '); do
		modprobe "$d"
	done
	insmod kernel/qkdn.ko && echo "qkdn.ko loaded"
	[ -e kernel/qkdsim.ko ] && insmod kernel/qkdsim.ko && echo "qkdsim.ko loaded"
fi
echo "qkdn VM: $(uname -r), project in $PWD; exit or Ctrl-D powers off (Ctrl-A x kills)"
PS1='qkdn-vm:\w# ' exec bash --norc -i
EOF
	else
		printf '%s\n' "$cmd"
	fi
} >"$out/cmd.sh"

# The console (console.log, or the terminal in shell mode) gets warnings
# and worse; the whole kernel log is saved at the end (dmesg.txt).
append="console=ttyS0 loglevel=5 log_buf_len=8M rdinit=/init panic=-1"
append="$append mitigations=off ${VM_APPEND:-}"
# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
qemu=(qemu-system-x86_64 -accel "$VM_ACCEL" -cpu max -smp "$VM_SMP" -m "$VM_MEM"
	-nodefaults -no-reboot -vga none -display none -nic none
	-kernel "$KIMG" -initrd "$CACHE/initramfs-$KVER.cpio"
	-fsdev "local,id=r,path=/,readonly=on,security_model=none,multidevs=remap"
	-device virtio-9p-pci,fsdev=r,mount_tag=hostroot
	-fsdev "local,id=x,path=$out,security_model=none"
	-device virtio-9p-pci,fsdev=x,mount_tag=xfer)

if [ "$mode" = shell ]; then
	stty size 2>/dev/null >"$out/size" || true
	echo "${TERM:-linux}" >"$out/term"
	"${qemu[@]}" -append "$append" \
		-chardev stdio,id=con,mux=on,signal=off \
		-serial chardev:con -mon chardev=con,mode=readline || true
	rc=$(cat "$out/rc" 2>/dev/null || echo 1)
	check_log "$out/dmesg.txt" || true
	exit "$rc"
fi

# Run mode: the kernel console goes to console.log, the command's output
# to a virtio console, which is our stdout.
start=$(date +%s)
timeout -k 10 "$VM_TIMEOUT" "${qemu[@]}" -append "$append" \
	-serial "file:$out/console.log" \
	-device virtio-serial-pci -chardev stdio,id=out,signal=off \
	-device virtconsole,chardev=out </dev/null &
qemu_pid=$!
set +e
wait $qemu_pid
qrc=$?
set -e
qemu_pid=
elapsed=$(($(date +%s) - start))

mkdir -p "$CACHE"
cp -f "$out/console.log" "$CACHE/last-console.log" 2>/dev/null || true
cp -f "$out/dmesg.txt" "$CACHE/last-dmesg.txt" 2>/dev/null || true

if [ ! -s "$out/rc" ]; then
	if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
		echo "vm.sh: timed out after ${VM_TIMEOUT}s" >&2
	else
		echo "vm.sh: the VM stopped without a result (qemu status $qrc)" >&2
	fi
	echo "vm.sh: last console lines ($CACHE/last-console.log):" >&2
	tail -n 40 "$out/console.log" 2>/dev/null | sed 's/^/vm.sh:   /' >&2
	check_log "$out/console.log" || true
	exit 3
fi
rc=$(cat "$out/rc")
if [ -s "$out/dmesg.txt" ]; then
	log=$out/dmesg.txt
else
	log=$out/console.log
fi
if ! check_log "$log"; then
	[ "$rc" -ne 0 ] || rc=1
fi
echo "vm.sh: status $rc after ${elapsed}s" >&2
exit "$rc"
