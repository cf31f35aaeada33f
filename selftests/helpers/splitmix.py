#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""qkdsim's deterministic key stream (Documentation/qkdsim.md).

usage: splitmix.py SEED BLOCK OFFSET LENGTH [BLOCK_SIZE]
prints, as hex, LENGTH bytes of the stream of block number BLOCK from OFFSET.
"""
import sys

M = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


def block(seed, n, size=4096):
    out = bytearray()
    for j in range(size // 8):
        out += splitmix64((seed + (n << 32) + j) & M).to_bytes(8, "little")
    return bytes(out)


if __name__ == "__main__":
    seed, n, off, length = (int(a, 0) for a in sys.argv[1:5])
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 4096
    print(block(seed, n, size)[off:off + length].hex())
