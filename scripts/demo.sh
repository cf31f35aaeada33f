#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: in a VM, key supply upon request (ITU-T Q.4160 I.1) end to
# end between two QKD nodes, then a key relayed across a chain of four
# nodes with a QKDN controller in each (I.5a). Runs on the host: the VM
# boots Debian's kernel and runs scripts/demo-vm.sh inside it.
set -e
cd "$(dirname "$0")/.."
exec scripts/vm.sh run scripts/demo-vm.sh
