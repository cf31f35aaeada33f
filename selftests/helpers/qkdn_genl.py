#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A small client of the qkdn generic netlink family for the selftests.

One process, one socket, many requests: what a test needs when it must send
hundreds of key requests (a qkdnctl run costs a process start each time,
which is slow in an emulated VM). Command and attribute numbers are read
from uapi/linux/qkdn.h, so this follows the contract.

usage:
  qkdn_genl.py get MASTER SLAVE COUNT [--sizes BITS[,BITS...]] [--number N]
               [--go FILE] [--sleep SECONDS]
      COUNT key requests (size cycling through --sizes, 256 by default),
      one "KEYID HEX SIZE_BITS" line per key on stdout, flushed after each
      request. COUNT 0 means "until the --go FILE is removed".
      With --go, waits until FILE exists before the first request; with
      --sleep, pauses that long after each request.
  qkdn_genl.py drain MASTER SLAVE BYTES
      key requests taking exactly BYTES (a multiple of 8) of key, in as few
      requests as the limits allow; output as for get
  qkdn_genl.py relink LINK_ID PEER DEVICE
      delete link LINK_ID and add it again (to PEER, fed by DEVICE) at
      once, two requests back to back (needs CAP_NET_ADMIN)
  qkdn_genl.py session MASTER SLAVE [--get N] [--number K]
      "session creation request" (Q.4160 I.2); prints "session ID", then
      N "key request with session ID" of K keys each, output as for get
  qkdn_genl.py get-by-id MASTER SLAVE [--batch N]
      key IDs from stdin (the first word of each line) as they come, at most
      N (128) per request; one "KEYID HEX SIZE_BITS" line per key on stdout.

Failed requests are reported on stderr as "error ERRNO: MESSAGE [KEYIDS]";
the exit status is then 1. Key bytes go to stdout only.
"""
import errno
import os
import re
import select
import socket
import struct
import sys
import time
import uuid

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "..", "..", "uapi", "linux", "qkdn.h")


def uapi_enums(path=HEADER):
    """{NAME: value} of the numeric macros and enumerators of the header."""
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    vals = {}
    for name, num in re.findall(r"#define\s+(\w+)\s+(\d+)\s*$", text,
                                flags=re.M):
        vals[name] = int(num)
    for body in re.findall(r"enum\s+\w+\s*\{(.*?)\}", text, flags=re.S):
        nxt = 0
        for item in body.split(","):
            item = item.strip()
            if not item:
                continue
            m = re.match(r"(\w+)\s*(?:=\s*(.+))?$", item, flags=re.S)
            name, expr = m.group(1), m.group(2)
            if expr is not None:
                nxt = eval(expr, {}, dict(vals))  # names and small sums
            vals[name] = nxt
            nxt += 1
    return vals


Q = uapi_enums()


class NlError(Exception):
    def __init__(self, err, msg):
        super().__init__(err, msg)
        self.err = err
        self.msg = msg

    def __str__(self):
        name = errno.errorcode.get(self.err, str(self.err))
        return "%s: %s" % (name, self.msg or os.strerror(self.err))


def nla(atype, payload):
    ln = 4 + len(payload)
    return struct.pack("=HH", ln, atype) + payload + b"\0" * (-ln % 4)


def nla_strz(atype, s):
    return nla(atype, s.encode() + b"\0")


def nla_u32(atype, v):
    return nla(atype, struct.pack("=I", v))


def attrs(buf, off=0, end=None):
    """[(type, payload memoryview)] of the attributes in buf[off:end]."""
    end = len(buf) if end is None else end
    out = []
    while off + 4 <= end:
        ln, atype = struct.unpack_from("=HH", buf, off)
        if ln < 4 or off + ln > end:
            break
        out.append((atype & NLA_TYPE_MASK, bytes(buf[off + 4:off + ln])))
        off += (ln + 3) & ~3
    return out


class Genl:
    def __init__(self, family="qkdn"):
        s = socket.socket(socket.AF_NETLINK,
                          socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                          NETLINK_GENERIC)
        s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((0, 0))
        self.s = s
        self.seq = int(time.time()) & 0xFFFF
        self.rbuf = bytearray(1 << 21)
        self.fam = GENL_ID_CTRL
        msgs = self.request(CTRL_CMD_GETFAMILY,
                            [nla_strz(CTRL_ATTR_FAMILY_NAME, family)])
        for t, p in msgs[0]:
            if t == CTRL_ATTR_FAMILY_ID:
                self.fam = struct.unpack("=H", p[:2])[0]
        if self.fam == GENL_ID_CTRL:
            raise NlError(errno.ENOENT, "family %s not found" % family)

    def request(self, cmd, attr_list, dump=False):
        """Send one request; returns the attributes of each reply."""
        self.seq += 1
        flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_DUMP if dump else 0)
        payload = struct.pack("=BBH", cmd, 1, 0) + b"".join(attr_list)
        self.s.send(struct.pack("=IHHII", 16 + len(payload), self.fam,
                                flags, self.seq, 0) + payload)
        replies = []
        while True:
            n = self.s.recv_into(self.rbuf, len(self.rbuf), socket.MSG_TRUNC)
            if n > len(self.rbuf):
                raise NlError(errno.EMSGSIZE, "reply larger than the buffer")
            buf = self.rbuf
            off = 0
            while off + 16 <= n:
                ln, mtype, mflags, seq, _ = struct.unpack_from("=IHHII",
                                                               buf, off)
                if ln < 16 or off + ln > n:
                    break
                body = off + 16
                nxt = off + ((ln + 3) & ~3)
                if seq != self.seq:
                    off = nxt
                    continue
                if mtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", buf, body)[0]
                    if err == 0:
                        return replies
                    msg = ""
                    if mflags & NLM_F_ACK_TLVS:
                        toff = body + 4
                        if mflags & NLM_F_CAPPED:
                            toff += 16
                        else:
                            toff += (struct.unpack_from("=I", buf, body + 4)[0]
                                     + 3) & ~3
                        for t, p in attrs(buf, toff, off + ln):
                            if t == NLMSGERR_ATTR_MSG:
                                msg = p.rstrip(b"\0").decode(errors="replace")
                    raise NlError(err, msg)
                if mtype == NLMSG_DONE:
                    return replies
                if mtype == self.fam:
                    replies.append(attrs(buf, body + 4, off + ln))
                off = nxt

    def keys(self, msgs):
        """[(uuid text, bytes)] of the KEY nests of replies."""
        out = []
        for msg in msgs:
            for t, p in msg:
                if t != Q["QKDN_A_KEY"]:
                    continue
                kid = data = None
                for kt, kp in attrs(p):
                    if kt == Q["QKDN_A_KEY_ID"]:
                        kid = str(uuid.UUID(bytes=kp))
                    elif kt == Q["QKDN_A_KEY_DATA"]:
                        data = kp
                out.append((kid, data))
        return out

    def key_get(self, master, slave, number=1, bits=256, session=0):
        return self.keys(self.request(Q["QKDN_CMD_KEY_GET"], [
            nla_strz(Q["QKDN_A_MASTER_SAE_ID"], master),
            nla_strz(Q["QKDN_A_SLAVE_SAE_ID"], slave),
            nla_u32(Q["QKDN_A_KEY_NUMBER"], number),
            nla_u32(Q["QKDN_A_KEY_SIZE"], bits)] + ([
            nla_u32(Q["QKDN_A_SESSION_ID"], session)] if session else [])))

    def session_new(self, master, slave):
        msgs = self.request(Q["QKDN_CMD_SESSION_NEW"], [
            nla_strz(Q["QKDN_A_MASTER_SAE_ID"], master),
            nla_strz(Q["QKDN_A_SLAVE_SAE_ID"], slave)])
        for t, p in msgs[0]:
            if t == Q["QKDN_A_SESSION_ID"]:
                return struct.unpack("=I", p)[0]
        raise NlError(errno.EPROTO, "no session ID in the reply")

    def key_get_by_id(self, master, slave, ids):
        nests = [nla(Q["QKDN_A_KEY"] | NLA_F_NESTED,
                     nla(Q["QKDN_A_KEY_ID"], uuid.UUID(i).bytes)) for i in ids]
        return self.keys(self.request(Q["QKDN_CMD_KEY_GET_BY_ID"], [
            nla_strz(Q["QKDN_A_MASTER_SAE_ID"], master),
            nla_strz(Q["QKDN_A_SLAVE_SAE_ID"], slave)] + nests))


def opt(args, name, default):
    if name in args:
        i = args.index(name)
        val = args[i + 1]
        del args[i:i + 2]
        return val
    return default


def put(keys):
    for kid, data in keys:
        sys.stdout.write("%s %s %d\n" % (kid, data.hex(), len(data) * 8))
    sys.stdout.flush()


def cmd_get(nl, args):
    sizes = [int(x) for x in opt(args, "--sizes", "256").split(",")]
    number = int(opt(args, "--number", "1"))
    go = opt(args, "--go", None)
    pause = float(opt(args, "--sleep", "0"))
    master, slave, count = args[0], args[1], int(args[2])
    if go:
        while not os.path.exists(go):
            time.sleep(0.01)
    failed = 0
    i = 0
    while (count and i < count) or (not count and os.path.exists(go)):
        try:
            put(nl.key_get(master, slave, number, sizes[i % len(sizes)]))
        except NlError as e:
            failed += 1
            sys.stderr.write("error %s\n" % e)
        i += 1
        if pause:
            time.sleep(pause)
    return 1 if failed else 0


def cmd_drain(nl, args):
    master, slave, left = args[0], args[1], int(args[2])
    kmax = Q["QKDN_KEY_SIZE_MAX"] // 8
    nmax = Q["QKDN_KEYS_PER_REQUEST"]
    while left:
        if left >= kmax:
            number, kb = min(nmax, left // kmax), kmax
        else:
            number, kb = 1, left
        try:
            put(nl.key_get(master, slave, number, kb * 8))
        except NlError as e:
            sys.stderr.write("error %s\n" % e)
            return 1
        left -= number * kb
    return 0


def cmd_relink(nl, args):
    lid = nla_u32(Q["QKDN_A_LINK_ID"], int(args[0]))
    try:
        nl.request(Q["QKDN_CMD_LINK_DEL"], [lid])
        nl.request(Q["QKDN_CMD_LINK_NEW"], [
            lid, nla_strz(Q["QKDN_A_PEER_NODE_ID"], args[1]),
            nla_strz(Q["QKDN_A_DEVICE"], args[2])])
    except NlError as e:
        sys.stderr.write("error %s\n" % e)
        return 1
    return 0


def cmd_get_by_id(nl, args):
    batch = int(opt(args, "--batch", "128"))
    master, slave = args[0], args[1]
    failed = 0
    pending = []
    rest = b""
    eof = False

    def fetch(ids):
        nonlocal failed
        try:
            put(nl.key_get_by_id(master, slave, ids))
        except NlError as e:
            failed += 1
            sys.stderr.write("error %s %s\n" % (e, " ".join(ids)))

    while not eof or pending:
        ready = True
        if not eof:
            # Block for input only when nothing is waiting to be fetched.
            ready = bool(select.select([0], [], [], 0 if pending else None)[0])
        if ready and not eof:
            chunk = os.read(0, 65536)
            if not chunk:
                eof = True
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop() if chunk else b""
            if eof and lines == [b""]:
                lines = []
            for ln in lines:
                w = ln.split()
                if w:
                    pending.append(w[0].decode())
            if eof and rest.strip():
                pending.append(rest.split()[0].decode())
            if not eof and len(pending) < batch:
                continue
        while pending:
            fetch(pending[:batch])
            del pending[:batch]
    return 1 if failed else 0


def cmd_session(nl, args):
    gets = int(opt(args, "--get", "0"))
    number = int(opt(args, "--number", "1"))
    try:
        sid = nl.session_new(args[0], args[1])
        sys.stdout.write("session %d\n" % sid)
        sys.stdout.flush()
        for _ in range(gets):
            put(nl.key_get(args[0], args[1], number, 256, sid))
    except NlError as e:
        sys.stderr.write("error %s\n" % e)
        return 1
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    cmds = {"get": cmd_get, "get-by-id": cmd_get_by_id, "drain": cmd_drain,
            "relink": cmd_relink, "session": cmd_session}
    if argv[1] not in cmds:
        sys.stderr.write("unknown command %s\n" % argv[1])
        return 2
    try:
        nl = Genl()
    except (OSError, NlError) as e:
        sys.stderr.write("error %s\n" % e)
        return 1
    return cmds[argv[1]](nl, list(argv[2:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
