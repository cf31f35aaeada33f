#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A QKDN controller with fixed answers, for the kernel's Ck tests.

It does what qkdn-controllerd does on the netlink side (join the "ctrl"
group, answer the kernel's requests with QKDN_CMD_CTRL) from a fixed table
instead of a computed one, so a test can steer a relay exactly: send it
down a given path, into a depleted link, nowhere, or let it time out.

usage: ctrl_static.py [options] [DST=NEXT|DST=A,B,...,DST ...]
  DST=NEXT        answer "key relay next hop request" for DST with NEXT
  DST=A,B,...     answer "key relay request notification" for DST with
                  this full route
  --mode distributed|centralized   set the node's controller mode first
  --silent        never answer (the kernel times out)
  --error ERRNO:TEXT   answer every request with this error
  --peer NETNS    also the controller of node NETNS (/run/netns/NETNS) for
                  proactive key supply: session creation requests from
                  here are notified there, and its responses come back
  --count N       exit after N answers
  --log FILE      one line per message: "REQUEST msg=M ctrl-id=I dst=D"
                  then "ANSWER ..." or "ERROR errno: text" for the answer

Prints "ready" on stdout once it listens.
"""
import ctypes
import errno
import os
import random
import select
import struct
import sys

from qkdn_genl import (Genl, NlError, Q, attrs, nla, nla_strz, nla_u32,
                       NLA_F_NESTED, SOL_NETLINK)

CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_MCAST_GRP_ID = 2
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_NAME = 2
NETLINK_ADD_MEMBERSHIP = 1


def ctrl_group(nl):
    """The ID of the family's "ctrl" multicast group."""
    nl.fam, fam = 0x10, nl.fam
    try:
        msgs = nl.request(CTRL_CMD_GETFAMILY,
                          [nla_strz(CTRL_ATTR_FAMILY_NAME, "qkdn")])
    finally:
        nl.fam = fam
    for t, p in msgs[0]:
        if t != CTRL_ATTR_MCAST_GROUPS:
            continue
        for _, grp in attrs(p):
            g = dict(attrs(grp))
            name = g[CTRL_ATTR_MCAST_GRP_NAME].rstrip(b"\0").decode()
            if name == "ctrl":
                return struct.unpack("=I", g[CTRL_ATTR_MCAST_GRP_ID])[0]
    raise NlError(errno.ENOENT, "no ctrl group")


CLONE_NEWNET = 0x40000000


def genl_in(netns):
    """A Genl socket in network namespace /run/netns/NETNS."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/" + netns, os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns " + netns)
        g = Genl()
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(there)
    return g


def ctrl_msgs(g):
    """The QKDN_CMD_CTRL messages queued on g, as attribute dicts."""
    out = []
    n = g.s.recv_into(g.rbuf, len(g.rbuf))
    off = 0
    while off + 16 <= n:
        ln, mtype = struct.unpack_from("=IH", g.rbuf, off)
        if mtype == g.fam and g.rbuf[off + 16] == Q["QKDN_CMD_CTRL"]:
            out.append(dict(attrs(g.rbuf, off + 20, off + ln)))
        off += (ln + 3) & ~3
    return out


def u32(a, name):
    return struct.unpack("=I", a[Q[name]])[0]


def strz(a, name):
    return a[Q[name]].rstrip(b"\0").decode()


class Sessions:
    """Both ends of the I.2 session creation, for this node and a peer."""

    def __init__(self, nl, peer_ns, log):
        self.nl, self.log, self.waiting = nl, log, {}
        self.pnl = genl_in(peer_ns)
        self.pmc = genl_in(peer_ns)
        self.pmc.s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
                              ctrl_group(self.pnl))

    def say(self, text):
        if self.log:
            print(text, file=self.log)

    def created(self, cid, sid=0, err=0, text=""):
        out = [nla_u32(Q["QKDN_A_MSG"], Q["QKDN_MSG_SESSION_CREATION_RESPONSE"]),
               nla_u32(Q["QKDN_A_CTRL_ID"], cid)]
        if err:
            out += [nla_u32(Q["QKDN_A_ERRNO"], err),
                    nla_strz(Q["QKDN_A_ERRMSG"], text)]
        else:
            out.append(nla_u32(Q["QKDN_A_SESSION_ID"], sid))
        self.nl.request(Q["QKDN_CMD_CTRL"], out)
        self.say("SESSION-RESPONSE ctrl-id=%d session=%d errno=%d"
                 % (cid, sid, err))

    def request(self, a):
        """A session creation request from this node's kernel."""
        cid = u32(a, "QKDN_A_CTRL_ID")
        sid = random.randint(1, 0xFFFFFFFF)
        try:
            self.pnl.request(Q["QKDN_CMD_CTRL"], [
                nla_u32(Q["QKDN_A_MSG"],
                        Q["QKDN_MSG_SESSION_CREATION_NOTIFICATION"]),
                nla_u32(Q["QKDN_A_SESSION_ID"], sid),
                nla_strz(Q["QKDN_A_SRC_NODE_ID"], strz(a, "QKDN_A_SRC_NODE_ID")),
                nla_strz(Q["QKDN_A_MASTER_SAE_ID"],
                         strz(a, "QKDN_A_MASTER_SAE_ID")),
                nla_strz(Q["QKDN_A_SLAVE_SAE_ID"],
                         strz(a, "QKDN_A_SLAVE_SAE_ID"))])
        except NlError as e:
            self.say("NOTIFY-FAILED %s" % e)
            self.created(cid, err=e.err, text=e.msg or "refused")
            return
        self.say("NOTIFIED session=%d" % sid)
        self.waiting[sid] = cid

    def peer_response(self, a):
        if u32(a, "QKDN_A_MSG") != Q["QKDN_MSG_SESSION_NOTIFICATION_RESPONSE"]:
            return
        sid, err = u32(a, "QKDN_A_SESSION_ID"), u32(a, "QKDN_A_ERRNO")
        cid = self.waiting.pop(sid, None)
        if cid:
            self.created(cid, sid, err, "the slave SAE refused the session")


def main(argv):
    table, mode, silent, error, count, log = {}, None, False, None, 0, None
    peer = None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--mode":
            mode = args.pop(0)
        elif a == "--silent":
            silent = True
        elif a == "--error":
            e, _, text = args.pop(0).partition(":")
            error = (int(e), text)
        elif a == "--peer":
            peer = args.pop(0)
        elif a == "--count":
            count = int(args.pop(0))
        elif a == "--log":
            log = open(args.pop(0), "a", buffering=1)
        elif "=" in a:
            dst, _, val = a.partition("=")
            table[dst] = val.split(",")
        else:
            print(__doc__, file=sys.stderr)
            return 2

    nl = Genl()
    if mode:
        nl.request(Q["QKDN_CMD_NODE_SET"], [struct.pack(
            "=HHB3x", 5, Q["QKDN_A_CTRL_MODE"],
            Q["QKDN_CTRL_" + mode.upper()])])
    mc = Genl()
    mc.s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, ctrl_group(nl))
    sess = Sessions(nl, peer, log) if peer else None
    print("ready", flush=True)

    answered = 0
    socks = [mc.s] + ([sess.pmc.s] if sess else [])
    while not count or answered < count:
        ready, _, _ = select.select(socks, [], [])
        if sess and sess.pmc.s in ready:
            for a in ctrl_msgs(sess.pmc):
                sess.peer_response(a)
        if mc.s not in ready:
            continue
        for a in ctrl_msgs(mc):
            m = u32(a, "QKDN_A_MSG")
            if m == Q["QKDN_MSG_SESSION_CREATION_REQUEST"] and sess:
                sess.request(a)
            elif m != Q["QKDN_MSG_SESSION_CREATION_REQUEST"]:
                answered += handle(nl, a, table, silent, error, log)
    return 0


def handle(nl, a, table, silent, error, log):
    msg = struct.unpack("=I", a[Q["QKDN_A_MSG"]])[0]
    if Q["QKDN_A_CTRL_ID"] not in a:
        if log:
            print("NOTIFY msg=%d errno=%d" % (
                msg, struct.unpack("=I", a[Q["QKDN_A_ERRNO"]])[0]), file=log)
        return 0
    cid = struct.unpack("=I", a[Q["QKDN_A_CTRL_ID"]])[0]
    dst = a[Q["QKDN_A_DST_NODE_ID"]].rstrip(b"\0").decode()
    if log:
        print("REQUEST msg=%d ctrl-id=%d dst=%s" % (msg, cid, dst), file=log)
    if silent:
        return 1
    out = [nla_u32(Q["QKDN_A_CTRL_ID"], cid)]
    route = table.get(dst)
    if msg == Q["QKDN_MSG_NEXT_HOP_REQUEST"]:
        out.append(nla_u32(Q["QKDN_A_MSG"], Q["QKDN_MSG_NEXT_HOP_RESPONSE"]))
        if route and not error:
            out.append(nla_strz(Q["QKDN_A_NEXT_HOP"], route[0]))
    else:
        out.append(nla_u32(Q["QKDN_A_MSG"], Q["QKDN_MSG_KEY_RELAY_REQUEST"]))
        if route and not error:
            out.append(nla(Q["QKDN_A_ROUTE"] | NLA_F_NESTED, b"".join(
                nla_strz(Q["QKDN_A_ROUTE_NODE"], h) for h in route)))
    if error or not route:
        e, text = error or (errno.EHOSTUNREACH, "no route in the table")
        out.append(nla_u32(Q["QKDN_A_ERRNO"], e))
        out.append(nla_strz(Q["QKDN_A_ERRMSG"], text))
    try:
        nl.request(Q["QKDN_CMD_CTRL"], out)
        if log:
            print("ANSWER ctrl-id=%d %s" % (cid, ",".join(route or [])),
                  file=log)
    except NlError as e:
        if log:
            print("ERROR %s" % e, file=log)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
