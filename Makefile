# SPDX-License-Identifier: GPL-2.0
#
# qkdn: key management for QKD networks (ITU-T Q.4160) in the Linux kernel.
#
#   make          build the module (against Debian's packaged kernel) and tools
#   make demo     in a VM: keys supplied upon request between two nodes (I.1),
#                 the same over HTTPS (ETSI GS QKD 014, qkdn-kmed), then
#                 relayed across a chain of four nodes (I.5a)
#   make check    all tests: host unit tests + kselftests in the VM
#   make bench    benchmarks in the VM, one "BENCH name value op goal" a line
#   make vm-shell an interactive shell in the VM with the module loaded

KVER	?= $(shell scripts/kver.sh)
KDIR	?= /lib/modules/$(KVER)/build

all: module tools selftests

deps:
	scripts/deps.sh

module: deps
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

tools: deps
	$(MAKE) -C tools

selftests: tools
	$(MAKE) -C selftests
	$(MAKE) -C selftests/bench

check: all
	scripts/check.sh

demo: all
	scripts/demo.sh

bench: all
	scripts/bench.sh

vm-shell: all
	scripts/vm.sh shell

checkpatch: deps
	scripts/checkpatch.sh

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	$(MAKE) -C tools clean
	$(MAKE) -C selftests clean
	$(MAKE) -C selftests/bench clean

.PHONY: all deps module tools selftests check demo bench vm-shell checkpatch clean
