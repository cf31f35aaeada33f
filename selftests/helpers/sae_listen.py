#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The destination application of Q.4160 I.2 (proactive key supply).

usage: sae_listen.py SAE [--refuse ERRNO] [--take N] [--silent]

Listens for SAE (QKDN_CMD_SAE_LISTEN; run it as the SAE's uid), answers
every "session creation notification" (accepting, or refusing with
ERRNO), and answers every "proactive key supply" with the IDs of the first
N keys (all by default). With --silent it answers nothing. Prints:
  ready
  session ID MASTER SLAVE SRC_NODE
  key SESSION KEYID HEX           (one line per key it takes)
Key bytes go to stdout only.
"""
import struct
import sys
import uuid

from qkdn_genl import (Genl, NlError, Q, attrs, nla, nla_strz, nla_u32,
                       NLA_F_NESTED, NLMSG_ERROR)


class Listener(Genl):
    def __init__(self):
        super().__init__()
        self.queue = []

    def answer(self, cmd, attr_list):
        """Send a request; keep the kernel's own messages that arrive."""
        self.seq += 1
        payload = struct.pack("=BBH", cmd, 1, 0) + b"".join(attr_list)
        self.s.send(struct.pack("=IHHII", 16 + len(payload), self.fam,
                                0x1 | 0x4, self.seq, 0) + payload)
        while True:
            for seq, mtype, body in self.read():
                if mtype == NLMSG_ERROR and seq == self.seq:
                    err = -struct.unpack_from("=i", body, 0)[0]
                    if err:
                        raise NlError(err, "")
                    return
                if mtype == self.fam:
                    self.queue.append(body)

    def read(self):
        n = self.s.recv_into(self.rbuf, len(self.rbuf))
        off, out = 0, []
        while off + 16 <= n:
            ln, mtype, _, seq, _ = struct.unpack_from("=IHHII", self.rbuf,
                                                      off)
            out.append((seq, mtype, bytes(self.rbuf[off + 16:off + ln])))
            off += (ln + 3) & ~3
        return out

    def next(self):
        while not self.queue:
            for _, mtype, body in self.read():
                if mtype == self.fam:
                    self.queue.append(body)
        return self.queue.pop(0)


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    sae, refuse, take, silent = argv[0], 0, None, False
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a == "--refuse":
            refuse = int(args.pop(0))
        elif a == "--take":
            take = int(args.pop(0))
        elif a == "--silent":
            silent = True
        else:
            print(__doc__, file=sys.stderr)
            return 2

    nl = Listener()
    nl.answer(Q["QKDN_CMD_SAE_LISTEN"], [nla_strz(Q["QKDN_A_SAE_ID"], sae)])
    print("ready", flush=True)
    while True:
        body = nl.next()
        cmd = body[0]
        a = {}
        keys = []
        for t, p in attrs(body, 4):
            if t == Q["QKDN_A_KEY"]:
                k = dict(attrs(p))
                keys.append((k[Q["QKDN_A_KEY_ID"]], k[Q["QKDN_A_KEY_DATA"]]))
            else:
                a[t] = p
        sid = struct.unpack("=I", a[Q["QKDN_A_SESSION_ID"]])[0]
        if cmd == Q["QKDN_CMD_SESSION"]:
            print("session %d %s %s %s" % (sid, *(
                a[Q[n]].rstrip(b"\0").decode() for n in (
                    "QKDN_A_MASTER_SAE_ID", "QKDN_A_SLAVE_SAE_ID",
                    "QKDN_A_SRC_NODE_ID"))), flush=True)
            if silent:
                continue
            out = [nla_u32(Q["QKDN_A_SESSION_ID"], sid)]
            if refuse:
                out.append(nla_u32(Q["QKDN_A_ERRNO"], refuse))
            nl.answer(Q["QKDN_CMD_SESSION"], out)
        elif cmd == Q["QKDN_CMD_KEY_SUPPLY"]:
            if silent:
                continue
            took = keys if take is None else keys[:take]
            for kid, data in took:
                print("key %d %s %s" % (sid, uuid.UUID(bytes=kid), data.hex()),
                      flush=True)
            nl.answer(Q["QKDN_CMD_KEY_SUPPLY"], [
                nla_u32(Q["QKDN_A_SESSION_ID"], sid)] + [
                nla(Q["QKDN_A_KEY"] | NLA_F_NESTED, nla(Q["QKDN_A_KEY_ID"], k))
                for k, _ in took])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
