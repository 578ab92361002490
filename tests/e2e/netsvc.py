#!/usr/bin/python3
"""netsvc: the services of the e2e testbed's lan namespace, and the clients
that exercise them through the tunnel.

  netsvc.py serve WWWDIR          HTTP :80 (files of WWWDIR), sha :9000, echo :9001,
                                  each on every address, IPv4 and IPv6
  netsvc.py parallel HOST PORT N  N echo connections held open at once; each
                                  sends its own payload, half-closes, checks the echo
  netsvc.py halfclose HOST PORT NBYTES
                                  send NBYTES random bytes to the sha server, shut
                                  down the write side, check the sha256 that comes back
  netsvc.py reset HOST PORT       connect, send nothing, expect a reset within 3 s
                                  (a clean EOF is how sshuttle reports a refusal)

The clients print one line saying what went wrong and exit 1 on failure.
"""
import hashlib
import http.server
import os
import signal
import socket
import socketserver
import sys
import threading
import time

BACKLOG = 1024  # 200 connections may arrive in one burst through the tunnel


class DualStack:
    """Mixin: one IPv6 socket that also takes IPv4 (v4-mapped)."""
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = BACKLOG

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class HTTPServer(DualStack, http.server.ThreadingHTTPServer):
    pass


class TCPServer(DualStack, socketserver.ThreadingTCPServer):
    pass


class ShaHandler(socketserver.BaseRequestHandler):
    """Read to EOF, answer with the hex sha256 of it: needs a working half-close."""

    def handle(self):
        h = hashlib.sha256()
        while True:
            b = self.request.recv(1 << 16)
            if not b:
                break
            h.update(b)
        self.request.sendall((h.hexdigest() + "\n").encode())


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(1 << 16)
            if not b:
                break
            self.request.sendall(b)


def serve(wwwdir):
    class Files(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=wwwdir, **kw)

    servers = [HTTPServer(("::", 80), Files), TCPServer(("::", 9000), ShaHandler),
               TCPServer(("::", 9001), EchoHandler)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def recv_all(s):
    out = []
    while True:
        b = s.recv(1 << 16)
        if not b:
            return b"".join(out)
        out.append(b)


def halfclose(host, port, nbytes):
    data = os.urandom(nbytes)
    want = hashlib.sha256(data).hexdigest()
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = recv_all(s).decode(errors="replace").strip()
    if got != want:
        print("sha mismatch: sent %s, got %r" % (want, got[:80]))
        return 1
    return 0


def reset(host, port):
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            b = s.recv(1)
    except ConnectionError:
        return 0
    except socket.timeout:
        print("no answer within 3 s")
        return 1
    print("got %s after %.1f s, want a reset" % ("EOF" if not b else "data", time.monotonic() - t0))
    return 1


def parallel(host, port, n):
    socks = []
    errors = []
    deadline = time.monotonic() + 30
    try:
        for i in range(n):
            socks.append(socket.create_connection((host, port), timeout=20))
        # All n are open now: each is a live stream through the tunnel at once.
        payloads = [("conn %d " % i).encode() * 100 for i in range(n)]
        for s, p in zip(socks, payloads):
            s.sendall(p)
        results = [None] * n

        def reader(i):
            try:
                socks[i].shutdown(socket.SHUT_WR)
                results[i] = recv_all(socks[i])
            except OSError as e:
                results[i] = e

        threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        for i in range(n):
            if results[i] != payloads[i]:
                errors.append("conn %d: %r" % (i, results[i] if not isinstance(results[i], bytes)
                                               else "%d bytes" % len(results[i])))
    except OSError as e:
        errors.append("after %d connections: %s" % (len(socks), e))
    finally:
        for s in socks:
            s.close()
    if errors:
        print("%d failed, first: %s" % (len(errors), errors[0]))
        return 1
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "serve":
        serve(argv[2])
    elif len(argv) == 5 and argv[1] == "parallel":
        return parallel(argv[2], int(argv[3]), int(argv[4]))
    elif len(argv) == 4 and argv[1] == "reset":
        return reset(argv[2], int(argv[3]))
    elif len(argv) == 5 and argv[1] == "halfclose":
        return halfclose(argv[2], int(argv[3]), int(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except OSError as e:
        print("error: %s" % e)
        sys.exit(1)
