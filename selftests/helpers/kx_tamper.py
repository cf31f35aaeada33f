#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A link daemon that changes what it carries, for the relay selftests.

The link daemons are untrusted carriers (Documentation/relay-security.md):
this one stands in for qkdn-linkd in several nodes at once. The nodes are
network namespaces of one machine, so instead of TLS between daemons it
binds as the Kx daemon (QKDN_CMD_KX_BIND) in each of them, reports the
channel of every link between two of them up (QKDN_CMD_KX_CHANNEL), and
hands each QKDN_CMD_KX_FRAME a kernel sends to the kernel at the link's
other end. When told to, it flips one bit of "key relay" frames (Kx type
4, layout in Documentation/procedure-i3.md) on one link, and it reports
every frame a kernel refuses.

usage: kx_tamper.py N...
  N: the nodes, network namespaces qkdnN; their link daemons must be
  stopped first. Commands, one a line, on stdin:
    tamper LINK [COUNT [WHERE]]
        flip one bit in the next COUNT "key relay" frames carried on link
        LINK, either way (COUNT 0: every one until "clean"; default 1).
        WHERE: ct (the ciphertext; the tag on a first hop, which has
        none), tag, or id (the first key ID); default ct
    clean
        stop changing frames
    quit
  Output, one line per event, flushed:
    ready NODE:LINK,... ...        bound, every channel reported up
    ok COMMAND                     a command was taken
    relay link=L from=A to=B relay=R hop=H count=C size=S ids=ID,...
                                   a "key relay" frame, the first time
                                   it is carried on that link
    tampered link=L relay=R where=W
    refused link=L node=B errno=NAME msg=TEXT
                                   the receiving kernel refused a frame
    done link=L from=A relay=R errno=E at=NODE
    abort link=L from=A relay=R
  Never key bytes: the first hop carries none, later ones only
  ciphertext, and neither is printed.
"""
import errno
import os
import select
import socket
import struct
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qkdn_genl import NlError, Q, attrs, nla, nla_u32  # noqa: E402
from ctrl_static import genl_in  # noqa: E402

HDR = 32			# Kx header
RELAY_FIXED = 296		# struct qkdn_kx_relay
ID_MAX = 64
MAC_LEN = 16
KX_RELAY, KX_RELAY_DONE, KX_RELAY_ABORT = 4, 5, 6
SO_RCVBUFFORCE = 33


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cstr(b):
    return b.split(b"\0", 1)[0].decode(errors="replace")


class Node:
    def __init__(self, n):
        self.ns = "qkdn%s" % n
        self.cmd = genl_in(self.ns)
        self.ev = genl_in(self.ns)
        self.ev.s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        a = dict(self.cmd.request(Q["QKDN_CMD_NODE_GET"], [])[0])
        self.id = cstr(a[Q["QKDN_A_NODE_ID"]])
        self.links = {}		# peer node ID -> link ID
        for msg in self.cmd.request(Q["QKDN_CMD_LINK_GET"], [], dump=True):
            m = dict(msg)
            peer = cstr(m[Q["QKDN_A_PEER_NODE_ID"]])
            lid = struct.unpack("=I", m[Q["QKDN_A_LINK_ID"]])[0]
            self.links.setdefault(peer, lid)

    def bind(self):
        self.ev.request(Q["QKDN_CMD_KX_BIND"], [])

    def channel(self, lid, up):
        self.cmd.request(Q["QKDN_CMD_KX_CHANNEL"], [
            nla_u32(Q["QKDN_A_LINK_ID"], lid),
            nla(Q["QKDN_A_LINK_UP"], struct.pack("=B", up))])

    def frames(self):
        """(link ID, peer node ID, frame) of the KX_FRAMEs queued."""
        out = []
        g = self.ev
        try:
            n = g.s.recv_into(g.rbuf, len(g.rbuf), socket.MSG_DONTWAIT)
        except BlockingIOError:
            return out
        except OSError as e:
            if e.errno == errno.ENOBUFS:	# the kernel sends again
                say("overflow node=%s" % self.id)
                return out
            raise
        off = 0
        while off + 16 <= n:
            ln, mtype = struct.unpack_from("=IH", g.rbuf, off)
            if ln < 16:
                break
            if mtype == g.fam and g.rbuf[off + 16] == Q["QKDN_CMD_KX_FRAME"]:
                a = dict(attrs(g.rbuf, off + 20, off + ln))
                out.append((struct.unpack("=I", a[Q["QKDN_A_LINK_ID"]])[0],
                            cstr(a[Q["QKDN_A_PEER_NODE_ID"]]),
                            a[Q["QKDN_A_KX_FRAME"]]))
            off += (ln + 3) & ~3
        return out


class Carrier:
    def __init__(self, nodes):
        self.nodes = {nd.id: nd for nd in nodes}
        self.tamper_link = 0
        self.tamper_left = 0		# -1: every frame
        self.tamper_where = "ct"
        self.seen = set()

    def relay_fields(self, f):
        b = f[HDR:]
        kb, count = struct.unpack_from("=HH", b, 284)
        hop, flags, nroute = b[288], b[289], b[290]
        ids = RELAY_FIXED + nroute * ID_MAX
        ct = ids + count * MAC_LEN
        tag = ct + (count * kb if hop > 1 else 0)
        return {"relay": str(uuid.UUID(bytes=bytes(b[:16]))),
                "src": cstr(b[16:80]), "dst": cstr(b[80:144]),
                "kb": kb, "count": count, "hop": hop, "flags": flags,
                "ids": [str(uuid.UUID(bytes=bytes(b[ids + 16 * i:
                                                    ids + 16 * i + 16])))
                        for i in range(count)],
                "ct": HDR + ct, "tag": HDR + tag,
                "id0": HDR + ids}

    def change(self, lid, f, r):
        if self.tamper_link != lid or not self.tamper_left:
            return f
        where = self.tamper_where
        if where == "ct" and r["hop"] == 1:
            where = "tag"
        pos = {"ct": r["ct"] + 3, "tag": r["tag"] + 5,
               "id": r["id0"] + 7}[where]
        f = bytearray(f)
        f[pos] ^= 0x10
        if self.tamper_left > 0:
            self.tamper_left -= 1
        say("tampered link=%d relay=%s where=%s" % (lid, r["relay"], where))
        return bytes(f)

    def carry(self, src, lid, peer, f):
        dst = self.nodes.get(peer)
        if not dst or src.id not in dst.links:
            return
        dlid = dst.links[src.id]
        ftype = f[1] if len(f) > 1 else 0
        if ftype == KX_RELAY and len(f) >= HDR + RELAY_FIXED:
            r = self.relay_fields(f)
            key = (lid, src.id, r["relay"])
            if key not in self.seen:
                self.seen.add(key)
                say("relay link=%d from=%s to=%s relay=%s hop=%d count=%d "
                    "size=%d ids=%s" % (lid, src.id, peer, r["relay"],
                                        r["hop"], r["count"], r["kb"] * 8,
                                        ",".join(r["ids"])))
            f = self.change(lid, f, r)
        elif ftype == KX_RELAY_DONE and len(f) >= HDR + 212:
            b = f[HDR:]
            key = (lid, src.id, bytes(b[:16]), "done")
            if key not in self.seen:
                self.seen.add(key)
                say("done link=%d from=%s relay=%s errno=%d at=%s" % (
                    lid, src.id, uuid.UUID(bytes=bytes(b[:16])),
                    struct.unpack_from("=I", b, 16)[0], cstr(b[20:84])))
        elif ftype == KX_RELAY_ABORT and len(f) >= HDR + 16:
            b = f[HDR:]
            key = (lid, src.id, bytes(b[:16]), "abort")
            if key not in self.seen:
                self.seen.add(key)
                say("abort link=%d from=%s relay=%s" % (
                    lid, src.id, uuid.UUID(bytes=bytes(b[:16]))))
        try:
            dst.cmd.request(Q["QKDN_CMD_KX_FRAME"], [
                nla_u32(Q["QKDN_A_LINK_ID"], dlid),
                nla(Q["QKDN_A_KX_FRAME"], f)])
        except NlError as e:
            say("refused link=%d node=%s errno=%s msg=%s" % (
                dlid, dst.id, errno.errorcode.get(e.err, str(e.err)),
                e.msg))

    def command(self, line):
        w = line.split()
        if not w:
            return True
        if w[0] == "tamper" and len(w) >= 2 and (
                len(w) < 4 or w[3] in ("ct", "tag", "id")):
            self.tamper_link = int(w[1])
            count = int(w[2]) if len(w) > 2 else 1
            self.tamper_left = count if count > 0 else -1
            self.tamper_where = w[3] if len(w) > 3 else "ct"
        elif w[0] == "clean":
            self.tamper_left = 0
        elif w[0] == "quit":
            say("ok quit")
            return False
        else:
            say("error unknown command: %s" % line)
            return True
        say("ok " + " ".join(w))
        return True


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    try:
        nodes = [Node(n) for n in argv[1:]]
        for nd in nodes:
            nd.bind()
        car = Carrier(nodes)
        ready = []
        for nd in nodes:
            for peer, lid in sorted(nd.links.items()):
                if peer in car.nodes:
                    nd.channel(lid, 1)
                    ready.append("%s:%d" % (nd.id, lid))
    except (OSError, NlError) as e:
        sys.stderr.write("error %s\n" % e)
        return 1
    say("ready " + " ".join(ready))

    by_fd = {nd.ev.s.fileno(): nd for nd in nodes}
    rest = b""
    stdin_open = True
    while True:
        fds = list(by_fd) + ([0] if stdin_open else [])
        ready, _, _ = select.select(fds, [], [])
        for fd in ready:
            if fd == 0:
                chunk = os.read(0, 4096)
                if not chunk:
                    stdin_open = False
                    continue
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for ln in lines:
                    if not car.command(ln.decode(errors="replace")):
                        return 0
                continue
            nd = by_fd[fd]
            for lid, peer, f in nd.frames():
                car.carry(nd, lid, peer, f)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
