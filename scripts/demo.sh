#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: two QKD nodes in a VM, key supply upon request (ITU-T Q.4160
# I.1) end to end. Runs on the host: the VM boots Debian's kernel and runs
# scripts/demo-vm.sh inside it.
set -e
cd "$(dirname "$0")/.."
exec scripts/vm.sh run scripts/demo-vm.sh
