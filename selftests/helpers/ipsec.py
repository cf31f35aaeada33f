#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Helpers of the IPsec selftests and benchmark.

  ipsec.py sas                      `ip -s xfrm state` on stdin -> JSON list
  ipsec.py sink ADDR PORT           accept one TCP connection, read to EOF;
                                    print {"bytes", "sha256", "error"}
  ipsec.py source SRC DST PORT SECS [BYTES]
                                    send random data from SRC for SECS
                                    seconds (or BYTES bytes); print
                                    {"bytes", "sha256", "seconds", "error"}
"""

import hashlib
import json
import os
import re
import socket
import sys
import time


def sas(text):
    out = []
    cur = None
    for line in text.splitlines():
        m = re.match(r'^src (\S+) dst (\S+)', line)
        if m:
            cur = {'src': m.group(1), 'dst': m.group(2)}
            out.append(cur)
            continue
        if cur is None:
            continue
        m = re.search(r'proto (\S+) spi (0x[0-9a-f]+).*reqid (\d+)', line)
        if m:
            cur.update(proto=m.group(1), spi=int(m.group(2), 16),
                       reqid=int(m.group(3)))
        m = re.search(r'^\s+aead (\S+) 0x([0-9a-f]+) \((\d+) bits\) (\d+)',
                      line)
        if m:
            cur.update(aead=m.group(1), key=m.group(2),
                       key_bits=int(m.group(3)), icv_bits=int(m.group(4)))
        m = re.search(r'^\s+(\d+)\(bytes\), (\d+)\(packets\)', line)
        if m:
            cur.update(bytes=int(m.group(1)), packets=int(m.group(2)))
        m = re.search(r'expire add: soft (\d+)\(sec\), hard (\d+)\(sec\)',
                      line)
        if m:
            cur.update(hard_seconds=int(m.group(2)))
    return out


def sink(addr, port):
    res = {'bytes': 0, 'sha256': '', 'error': ''}
    h = hashlib.sha256()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    srv.settimeout(60)
    print('listening', flush=True, file=sys.stderr)
    try:
        conn, _ = srv.accept()
        conn.settimeout(60)
    except OSError as e:
        res['error'] = 'accept: %s' % e
        print(json.dumps(res), flush=True)
        return
    try:
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            h.update(b)
            res['bytes'] += len(b)
    except OSError as e:
        res['error'] = str(e)
    res['sha256'] = h.hexdigest()
    print(json.dumps(res), flush=True)


def source(src, dst, port, secs, limit):
    res = {'bytes': 0, 'sha256': '', 'seconds': 0.0, 'error': ''}
    h = hashlib.sha256()
    block = os.urandom(1 << 16)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    start = time.monotonic()
    try:
        s.connect((dst, port))
        while time.monotonic() - start < secs:
            n = len(block)
            if limit:
                n = min(n, limit - res['bytes'])
                if n <= 0:
                    break
            s.sendall(block[:n])
            h.update(block[:n])
            res['bytes'] += n
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
    except OSError as e:
        res['error'] = str(e)
    res['seconds'] = time.monotonic() - start
    res['sha256'] = h.hexdigest()
    print(json.dumps(res), flush=True)


def main():
    a = sys.argv[1:]
    if a[:1] == ['sas']:
        print(json.dumps(sas(sys.stdin.read())))
    elif a[:1] == ['sink'] and len(a) == 3:
        sink(a[1], int(a[2]))
    elif a[:1] == ['source'] and len(a) in (5, 6):
        source(a[1], a[2], int(a[3]), float(a[4]),
               int(a[5]) if len(a) == 6 else 0)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
