#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks on keys handed out by two KMs, for the selftests.

Key files hold one key a line: "KEYID HEX [SIZE_BITS]" (qkdn_genl.py's
output; other words, and lines of another form, are ignored).

usage:
  keycheck.py unique FILE...
      no key ID twice and no key bytes twice across all the files
  keycheck.py pairs MASTER_FILE SLAVE_FILE
      the master end handed out keys, every one was supplied exactly once
      at the slave end, with the same bytes, and the slave end supplied
      nothing else
  keycheck.py tile SEED BLOCKS FILE... [--block-size N] [--from OFFSET]
               [--whole]
      the keys of the FILEs, taken in any order, are consecutive pieces of
      the qkdsim stream made of blocks BLOCKS (a comma-separated list of
      numbers and FIRST:LAST:STEP ranges), covering it from OFFSET (0)
      without a gap or an overlap; with --whole, up to its end

Prints what it found, one line per problem (at most 10), and exits 1 if
anything is wrong.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from splitmix import block  # noqa: E402


KEY_LINE = re.compile(r"^([0-9a-fA-F-]{36})\s+([0-9a-fA-F]+)(\s|$)")


def load(path):
    keys = []
    with open(path) as f:
        for ln in f:
            m = KEY_LINE.match(ln)
            if m:
                keys.append((m.group(1).lower(), m.group(2).lower()))
    return keys


def report(problems, summary):
    for p in problems[:10]:
        print(p)
    if len(problems) > 10:
        print("... and %d more" % (len(problems) - 10))
    print(("FAIL " if problems else "PASS ") + summary)
    return 1 if problems else 0


def cmd_unique(files):
    seen_id = {}
    seen_bytes = {}
    problems = []
    n = 0
    for path in files:
        for kid, hx in load(path):
            n += 1
            if kid in seen_id:
                problems.append("key ID %s twice (%s, %s)" %
                                (kid, seen_id[kid], path))
            seen_id[kid] = path
            if hx in seen_bytes:
                problems.append("same bytes for %s and %s" %
                                (seen_bytes[hx], kid))
            seen_bytes[hx] = kid
    return report(problems, "%d keys, %d IDs, %d distinct byte strings" %
                  (n, len(seen_id), len(seen_bytes)))


def cmd_pairs(master, slave):
    m = load(master)
    s = load(slave)
    problems = [] if m else ["no key handed out by the master end"]
    got = {}
    for kid, hx in s:
        if kid in got:
            problems.append("key %s supplied twice at the slave end" % kid)
        got[kid] = hx
    mids = set()
    for kid, hx in m:
        mids.add(kid)
        if kid not in got:
            problems.append("key %s not supplied at the slave end" % kid)
        elif got[kid] != hx:
            problems.append("key %s differs: master %s... slave %s..." %
                            (kid, hx[:16], got[kid][:16]))
    for kid in got:
        if kid not in mids:
            problems.append("key %s supplied at the slave end only" % kid)
    return report(problems, "%d master keys, %d slave keys" %
                  (len(m), len(s)))


def parse_blocks(spec):
    out = []
    for item in spec.split(","):
        if ":" in item:
            a, b, c = (int(x, 0) for x in item.split(":"))
            out += list(range(a, b + 1, c))
        else:
            out.append(int(item, 0))
    return out


def cmd_tile(seed, spec, paths, block_size=4096, start=0, whole=False):
    stream = b"".join(block(seed, n, block_size) for n in parse_blocks(spec))
    where = {}
    for off in range(0, len(stream) - 7, 8):
        where.setdefault(stream[off:off + 8], off)
    problems = []
    spans = []
    for kid, hx in [k for path in paths for k in load(path)]:
        data = bytes.fromhex(hx)
        off = where.get(data[:8])
        if off is None or stream[off:off + len(data)] != data:
            problems.append("key %s is not a piece of the stream" % kid)
            continue
        spans.append((off, off + len(data), kid))
    spans.sort()
    pos = start
    for a, b, kid in spans:
        if a < pos:
            problems.append("key %s at %d overlaps the key before (ends %d)"
                            % (kid, a, pos))
        elif a > pos:
            problems.append("gap of %d bytes before key %s at %d" %
                            (a - pos, kid, a))
        pos = max(pos, b)
    if whole and pos != len(stream):
        problems.append("the keys end at %d, the stream at %d" %
                        (pos, len(stream)))
    return report(problems, "%d keys cover stream bytes %d..%d of %d" %
                  (len(spans), start, pos, len(stream)))


def main(argv):
    if len(argv) < 3:
        sys.stdout.write(__doc__)
        return 2
    args = argv[2:]
    if argv[1] == "unique":
        return cmd_unique(args)
    if argv[1] == "pairs" and len(args) == 2:
        return cmd_pairs(*args)
    if argv[1] == "tile":
        bs = 4096
        start = 0
        if "--block-size" in args:
            i = args.index("--block-size")
            bs = int(args[i + 1])
            del args[i:i + 2]
        if "--from" in args:
            i = args.index("--from")
            start = int(args[i + 1])
            del args[i:i + 2]
        whole = "--whole" in args
        if whole:
            args.remove("--whole")
        return cmd_tile(int(args[0], 0), args[1], args[2:], bs, start, whole)
    sys.stdout.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
