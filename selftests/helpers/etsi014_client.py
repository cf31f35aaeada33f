#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# Clients of the ETSI GS QKD 014 gateway (qkdn-kmed) that are not ours:
# Python's requests (Debian's python3-requests) and plain sockets.  For the
# etsi014_* selftests, run in a node's network namespace; kme-N is
# 10.77.1.N:8443, certificates are DIR/NAME.crt and DIR/NAME.key, the CA
# DIR/ca.crt.  Each command prints one JSON object that the test checks.
#
#   keys DIR                enc_keys (POST, then GET) at kme-1 as sae-ga for
#                           sae-gb, dec_keys (POST, then GET) at kme-2 as
#                           sae-gb, and the status at kme-1, with requests
#   hold DIR N SECONDS FLAG N connections to kme-1 that never finish a
#                           request: a quarter idle TCP, a quarter sending a
#                           TLS ClientHello a byte at a time, a quarter idle
#                           after the TLS handshake, a quarter sending a
#                           request a byte at a time. Once all are open, a
#                           line "open", and a wait for file FLAG (the
#                           caller's own request meanwhile); then a normal
#                           request (requests), and how long each
#                           connection lasted until the gateway closed it
#                           (at most SECONDS); the JSON on the last line
#   session DIR FLAG        a keep-alive requests session at kme-1: a
#                           status, "ready" on stdout, then once file FLAG
#                           exists another status on the same session
#   cap DIR N               N keep-alive TLS connections to kme-1, each with
#                           one answered request, then one more client
#                           (requests, in a thread): whether it is answered
#                           while the N are open, and once one closes
#
# The environment's CA bundles (REQUESTS_CA_BUNDLE ...) are not used: every
# request names the test CA itself.

import json
import os
import select
import socket
import ssl
import sys
import threading
import time

import requests

PORT = int(os.environ.get("ETSI014_PORT", "8443"))
_getaddrinfo = socket.getaddrinfo


def _resolve(host, *args, **kwargs):
    """kme-N is 10.77.1.N, as curl's --resolve in helpers/kmed.sh (or
    $ETSI014_ADDR, to try the client elsewhere)."""
    if host.startswith("kme-") and host[4:].isdigit():
        host = os.environ.get("ETSI014_ADDR", "10.77.1." + host[4:])
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _resolve


class Sae:
    """An SAE: its certificate, and a requests session without the
    environment's proxies and CA bundles."""

    def __init__(self, certs, name):
        self.certs = certs
        self.cert = (os.path.join(certs, name + ".crt"),
                     os.path.join(certs, name + ".key"))
        self.ca = os.path.join(certs, "ca.crt")
        self.s = requests.Session()
        self.s.trust_env = False

    def url(self, node, path):
        return "https://kme-%d:%d/api/v1/keys/%s" % (node, PORT, path)

    def get(self, node, path, **kw):
        return self.s.get(self.url(node, path), cert=self.cert,
                          verify=self.ca, timeout=30, **kw)

    def post(self, node, path, body, **kw):
        return self.s.post(self.url(node, path), json=body, cert=self.cert,
                           verify=self.ca, timeout=30, **kw)


def tls_ctx(certs, name="sae-ga"):
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
    ctx.load_cert_chain(os.path.join(certs, name + ".crt"),
                        os.path.join(certs, name + ".key"))
    return ctx


def cmd_keys(certs):
    ga, gb = Sae(certs, "sae-ga"), Sae(certs, "sae-gb")
    out = {}
    st = ga.get(1, "sae-gb/status")
    out["status"] = [st.status_code, st.json()]
    # POST, two keys of 128 bits; then GET, one of the default size
    enc = ga.post(1, "sae-gb/enc_keys", {"number": 2, "size": 128})
    out["enc_post"] = [enc.status_code, enc.headers.get("Content-Type"),
                       enc.json()]
    enc_get = ga.get(1, "sae-gb/enc_keys", params={"number": 1})
    out["enc_get"] = [enc_get.status_code, enc_get.json()]
    ids = [{"key_ID": k["key_ID"]} for k in enc.json()["keys"]]
    dec = gb.post(2, "sae-ga/dec_keys", {"key_IDs": ids})
    out["dec_post"] = [dec.status_code, dec.json()]
    kid = enc_get.json()["keys"][0]["key_ID"]
    dec_get = gb.get(2, "sae-ga/dec_keys", params={"key_ID": kid})
    out["dec_get"] = [dec_get.status_code, dec_get.json()]
    st = ga.get(1, "sae-gb/status")
    out["status_after"] = [st.status_code, st.json()]
    print(json.dumps(out))


def _closed(s):
    """Whether the peer closed s (EOF or reset), without blocking."""
    try:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        return s.recv(4096) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except (OSError, ssl.SSLError):
        return True


class Holder(threading.Thread):
    """One connection that never finishes a request; closed_after is how
    long it lasted, from its connect, until the gateway closed it."""

    HELLO = bytes.fromhex("16030100c4010000c00303") + bytes(32)
    REQUEST = b"GET /api/v1/keys/sae-gb/status HTTP/1.1\r\nHost: kme-1\r\n"

    def __init__(self, ctx, kind, limit):
        super().__init__(daemon=True)
        self.ctx, self.kind, self.limit = ctx, kind, limit
        self.closed_after = None
        self.sent = 0
        self.error = None
        self.s = None
        self.t0 = None
        self.ready = threading.Event()

    def open(self):
        self.t0 = time.monotonic()
        s = socket.create_connection(("kme-1", PORT), timeout=10)
        if self.kind in ("tls-idle", "tls-drip"):
            s = self.ctx.wrap_socket(s, server_hostname="kme-1")
        s.setblocking(False)
        self.s = s

    def run(self):
        try:
            self.open()
        except (OSError, ssl.SSLError) as e:
            self.error = repr(e)
            self.ready.set()
            return
        self.ready.set()
        drip = self.HELLO if self.kind == "tcp-drip" else self.REQUEST
        while time.monotonic() - self.t0 < self.limit:
            if _closed(self.s):
                self.closed_after = time.monotonic() - self.t0
                break
            if self.kind.endswith("drip") and self.sent < len(drip):
                try:
                    self.s.send(drip[self.sent:self.sent + 1])
                    self.sent += 1
                except (ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except (OSError, ssl.SSLError):
                    self.closed_after = time.monotonic() - self.t0
                    break
            time.sleep(0.25)
        self.s.close()


def cmd_hold(certs, n, limit, flag):
    ctx = tls_ctx(certs)
    kinds = ["tcp-idle", "tcp-drip", "tls-idle", "tls-drip"]
    hs = [Holder(ctx, kinds[i % 4], limit) for i in range(n)]
    t0 = time.monotonic()
    for h in hs:
        h.start()
    for h in hs:
        h.ready.wait()
    opened = time.monotonic() - t0
    errors = [h.error for h in hs if h.error]
    print("open", flush=True)
    while not os.path.exists(flag) and time.monotonic() - t0 < limit:
        time.sleep(0.02)
    open_at_flag = sum(1 for h in hs
                       if h.closed_after is None and not h.error)
    # A normal request while they are all open.
    t1 = time.monotonic()
    try:
        r = Sae(certs, "sae-ga").get(1, "sae-gb/status")
        status = r.status_code
    except requests.RequestException as e:
        status = repr(e)
    normal_ms = (time.monotonic() - t1) * 1000
    open_after = sum(1 for h in hs if h.closed_after is None and not h.error)
    for h in hs:
        h.join()
    print(json.dumps({
        "opened": n - len(errors), "errors": errors,
        "open_seconds": opened, "still_open_at_flag": open_at_flag,
        "normal_status": status, "normal_ms": normal_ms,
        "still_open_after_normal": open_after,
        "closed_after": {k: [h.closed_after for h in hs if h.kind == k]
                         for k in kinds},
        "drip_bytes": {k: [h.sent for h in hs if h.kind == k]
                       for k in ("tcp-drip", "tls-drip")},
    }))


def cmd_session(certs, flag):
    ga = Sae(certs, "sae-ga")
    r = ga.get(1, "sae-gb/status")
    print("ready %d" % r.status_code, flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.1)
    r = ga.get(1, "sae-gb/status")
    print("after %d" % r.status_code, flush=True)


def cmd_cap(certs, n):
    ctx = tls_ctx(certs)
    conns = []
    for _ in range(n):
        s = ctx.wrap_socket(socket.create_connection(("kme-1", PORT),
                                                     timeout=30),
                            server_hostname="kme-1")
        s.sendall(Holder.REQUEST + b"\r\n")
        head = s.recv(64)
        conns.append((s, head.split(b"\r\n")[0].decode()))
    res = {"held": [h for _, h in conns]}

    t0 = time.monotonic()

    def fifth():
        try:
            r = Sae(certs, "sae-ga").get(1, "sae-gb/status")
            res["fifth_status"] = r.status_code
        except requests.RequestException as e:
            res["fifth_status"] = repr(e)
        res["fifth_at"] = time.monotonic() - t0

    th = threading.Thread(target=fifth, daemon=True)
    th.start()
    th.join(3)
    res["answered_while_full"] = not th.is_alive()
    conns[0][0].close()
    res["closed_one_at"] = time.monotonic() - t0
    th.join(20)
    res["answered_after_close"] = not th.is_alive()
    for s, _ in conns[1:]:
        s.close()
    print(json.dumps(res))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "keys":
        cmd_keys(args[0])
    elif cmd == "hold":
        cmd_hold(args[0], int(args[1]), float(args[2]), args[3])
    elif cmd == "session":
        cmd_session(args[0], args[1])
    elif cmd == "cap":
        cmd_cap(args[0], int(args[1]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
