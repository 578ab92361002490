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

For the load tests (test_load.sh, test_rekey.sh): a second server and its
clients. Their data is a deterministic pseudo-random pattern (the seed and
the offset give every byte), so gigabytes need neither files nor memory, and
a byte out of place is found where it is.

  netsvc.py serve-load PATTERN_PORT HOLD_PORT
                    PATTERN_PORT reads one request line:
                      "get SEED N"    N pattern bytes, then their hex sha256 on a line
                      "sink NAME"     read nothing until "release NAME" arrives on
                                      another connection, then read to EOF and
                                      answer the sha256 of it all
                      "release NAME"  answers "ok"
                    HOLD_PORT: echo for thousands of connections (one thread)
  netsvc.py fetch HOST PORT SEED N [--read M] [--wait FILE] [--ready FILE] [--timeout S] [--idle S]
                    "get SEED N"; touch --ready; read nothing until --wait FILE
                    exists; then read M bytes (default: all, and the sha line),
                    check every byte against the pattern and the server's sha256
  netsvc.py upload HOST PORT SEED N [--timeout S] [--idle S]
                    N pattern bytes to the sha server, check its answer;
                    --idle S: the data must not stop for S seconds (1 MiB steps)
  netsvc.py sink HOST PORT NAME SEED N [--ready FILE] [--timeout S]
                    "sink NAME", then N pattern bytes; touch --ready once a send
                    has been blocked for a second (the stream is stalled); check
                    the sha256 answer after the release
  netsvc.py release HOST PORT NAME
  netsvc.py hold HOST PORT N --ready FILE --go FILE [--timeout S]
                    N connections to the hold server, echo on a few of them,
                    write --ready, wait for --go, then one echo round trip on
                    every connection, all in flight at once

A load client that succeeds prints one line starting with "ok".

The clients print one line saying what went wrong and exit 1 on failure.
"""
import argparse
import hashlib
import http.server
import os
import random
import resource
import selectors
import signal
import socket
import socketserver
import struct
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


# --- load tests: the pattern, serve-load and its clients ---------------------

PATTERN_BLOCK = 1 << 20  # the pattern is made and checked a block at a time
PATTERN_CHUNK = 1 << 16  # each chunk starts with (seed, chunk number): bytes out of place show
SINK_MAX_WAIT = 600      # a sink never released gives up after this long
_pattern_bases = {}


def pattern_block(seed, k):
    """Block k of the pattern for seed: chunks of one random base at scattered offsets."""
    base = _pattern_bases.get(seed)
    if base is None:
        base = random.Random(seed).randbytes(PATTERN_BLOCK + PATTERN_CHUNK)
        _pattern_bases[seed] = base
    per = PATTERN_BLOCK // PATTERN_CHUNK
    parts = []
    for c in range(k * per, (k + 1) * per):
        off = (c * 40503) % PATTERN_BLOCK
        parts.append(struct.pack("<QQ", seed, c))
        parts.append(base[off:off + PATTERN_CHUNK - 16])
    return b"".join(parts)


def pattern_blocks(seed, n):
    """The first n bytes of the pattern, a block at a time."""
    k = 0
    while n > 0:
        b = pattern_block(seed, k)
        if n < len(b):
            b = b[:n]
        yield b
        n -= len(b)
        k += 1


class PatternCheck:
    """Compares a received byte stream with the pattern; remembers the first bad offset."""

    def __init__(self, seed):
        self.seed = seed
        self.sha = hashlib.sha256()
        self.buf = bytearray()
        self.pos = 0
        self.k = 0
        self.bad = None

    def feed(self, data):
        self.sha.update(data)
        self.buf += data
        while len(self.buf) >= PATTERN_BLOCK:
            self._check(PATTERN_BLOCK)

    def _check(self, n):
        if self.bad is None:
            want = pattern_block(self.seed, self.k)[:n]
            got = bytes(self.buf[:n])
            if got != want:
                self.bad = self.pos + next(i for i in range(n) if got[i] != want[i])
        del self.buf[:n]
        self.pos += n
        self.k += 1

    def finish(self):
        if self.buf:
            self._check(len(self.buf))
        return self.bad


class LoadError(Exception):
    pass


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


class LoadHandler(socketserver.BaseRequestHandler):
    sinks = {}  # name -> threading.Event, set by "release NAME"
    lock = threading.Lock()

    @classmethod
    def sink_event(cls, name):
        with cls.lock:
            return cls.sinks.setdefault(name, threading.Event())

    def handle(self):
        try:
            self.serve_one()
        except OSError:
            pass  # the client went away, maybe on purpose (it read only a prefix)

    def serve_one(self):
        buf = b""
        while b"\n" not in buf:
            b = self.request.recv(4096)
            if not b or len(buf) > 256:
                return
            buf += b
        line, rest = buf.split(b"\n", 1)
        words = line.decode(errors="replace").split()
        if len(words) == 3 and words[0] == "get":
            h = hashlib.sha256()
            for b in pattern_blocks(int(words[1]), int(words[2])):
                h.update(b)
                self.request.sendall(b)
            self.request.sendall((h.hexdigest() + "\n").encode())
        elif len(words) == 2 and words[0] == "sink":
            if not self.sink_event(words[1]).wait(SINK_MAX_WAIT):
                return
            h = hashlib.sha256(rest)
            while True:
                b = self.request.recv(1 << 18)
                if not b:
                    break
                h.update(b)
            self.request.sendall((h.hexdigest() + "\n").encode())
        elif len(words) == 2 and words[0] == "release":
            self.sink_event(words[1]).set()
            self.request.sendall(b"ok\n")


def hold_server(port):
    """Echo for thousands of connections in one thread; at most 1 MiB queued per connection."""
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind(("::", port))
    ls.listen(BACKLOG)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)

    def drop(c):
        sel.unregister(c)
        c.close()

    while True:
        for key, ev in sel.select():
            if key.data is None:
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # out of fds: the connection waits in the backlog
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, bytearray())
                continue
            c, pending = key.fileobj, key.data
            if ev & selectors.EVENT_READ:
                try:
                    b = c.recv(1 << 16)
                except BlockingIOError:
                    b = None
                except OSError:
                    b = b""
                if b == b"":
                    drop(c)
                    continue
                if b:
                    pending += b
            if pending:
                try:
                    del pending[:c.send(pending)]
                except BlockingIOError:
                    pass
                except OSError:
                    drop(c)
                    continue
            mask = selectors.EVENT_READ if len(pending) < (1 << 20) else 0
            if pending:
                mask |= selectors.EVENT_WRITE
            if mask != key.events:
                sel.modify(c, mask, pending)


def serve_load(pattern_port, hold_port):
    raise_nofile(1 << 16)
    srv = TCPServer(("::", pattern_port), LoadHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    threading.Thread(target=hold_server, args=(hold_port,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def wait_file(path, deadline):
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise LoadError("%s did not appear in time" % path)
        time.sleep(0.05)


def touch(path):
    with open(path, "w") as f:
        f.write("ready\n")


def left(deadline):
    t = deadline - time.monotonic()
    if t <= 0:
        raise LoadError("out of time")
    return t


def step(deadline, idle):
    """The time one socket call may take: what is left, or less with an idle limit."""
    t = left(deadline)
    return min(t, idle) if idle else t


def recv_line(s, deadline, limit=256):
    out = b""
    while not out.endswith(b"\n") and len(out) < limit:
        s.settimeout(left(deadline))
        b = s.recv(limit)
        if not b:
            break
        out += b
    return out.decode(errors="replace").strip()


def load_fetch(a):
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    with socket.create_connection((a.host, a.port), timeout=a.timeout) as s:
        s.sendall(b"get %d %d\n" % (a.seed, a.n))
        if a.ready:
            touch(a.ready)
        if a.wait:
            wait_file(a.wait, deadline)
        whole = a.read is None or a.read >= a.n
        want = a.n if whole else a.read
        chk = PatternCheck(a.seed)
        got = 0
        while got < want:
            s.settimeout(step(deadline, a.idle))
            try:
                b = s.recv(min(1 << 18, want - got))
            except TimeoutError:
                raise LoadError("stalled after %d of %d bytes" % (got, want))
            if not b:
                raise LoadError("EOF after %d of %d bytes" % (got, want))
            chk.feed(b)
            got += len(b)
        bad = chk.finish()
        if bad is not None:
            raise LoadError("byte %d differs from the pattern" % bad)
        if whole:
            theirs = recv_line(s, deadline)
            if theirs != chk.sha.hexdigest():
                raise LoadError("sha256 %s, the server sent %r" % (chk.sha.hexdigest(), theirs[:80]))
    print("ok %d bytes in %.1f s" % (want, time.monotonic() - t0))


def load_upload(a):
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    h = hashlib.sha256()
    with socket.create_connection((a.host, a.port), timeout=a.timeout) as s:
        sent = 0
        for b in pattern_blocks(a.seed, a.n):
            h.update(b)
            s.settimeout(step(deadline, a.idle))
            try:
                s.sendall(b)
            except TimeoutError:
                raise LoadError("stalled after about %d of %d bytes" % (sent, a.n))
            sent += len(b)
        s.shutdown(socket.SHUT_WR)
        theirs = recv_line(s, deadline)
    if theirs != h.hexdigest():
        raise LoadError("sent sha256 %s, the server said %r" % (h.hexdigest(), theirs[:80]))
    print("ok %d bytes in %.1f s" % (a.n, time.monotonic() - t0))


def load_sink(a):
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    h = hashlib.sha256()
    stalled = False
    with socket.create_connection((a.host, a.port), timeout=a.timeout) as s:
        s.sendall(b"sink %s\n" % a.name.encode())
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_WRITE)
        s.setblocking(False)
        for b in pattern_blocks(a.seed, a.n):
            h.update(b)
            mv = memoryview(b)
            while mv:
                if not sel.select(timeout=min(1.0, left(deadline))):
                    # Not writable for a second: everything between here and
                    # the sink is full.
                    if not stalled and a.ready:
                        touch(a.ready)
                    stalled = True
                    continue
                try:
                    mv = mv[s.send(mv):]
                except BlockingIOError:
                    pass
        sel.close()
        s.setblocking(True)
        s.shutdown(socket.SHUT_WR)
        theirs = recv_line(s, deadline)
    if not stalled:
        raise LoadError("%d bytes went out without ever stalling" % a.n)
    if theirs != h.hexdigest():
        raise LoadError("sent sha256 %s, the server said %r" % (h.hexdigest(), theirs[:80]))
    print("ok %d bytes in %.1f s" % (a.n, time.monotonic() - t0))


def load_release(a):
    with socket.create_connection((a.host, a.port), timeout=10) as s:
        s.sendall(b"release %s\n" % a.name.encode())
        got = recv_line(s, time.monotonic() + 10)
    if got != "ok":
        raise LoadError("release answered %r" % got[:80])
    print("ok")


def echo_round(s, payload, deadline):
    s.settimeout(left(deadline))
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        s.settimeout(left(deadline))
        b = s.recv(len(payload) - len(got))
        if not b:
            raise LoadError("EOF after %d of %d echoed bytes" % (len(got), len(payload)))
        got += b
    if got != payload:
        raise LoadError("the echo differs")


def load_hold(a):
    raise_nofile(a.n + 256)
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    socks = []
    try:
        for i in range(a.n):
            try:
                socks.append(socket.create_connection((a.host, a.port), timeout=left(deadline)))
            except OSError as e:
                raise LoadError("connection %d: %s" % (i, e))
        # Traffic on a few while all are open.
        for i in range(0, a.n, max(1, a.n // 10)):
            try:
                echo_round(socks[i], os.urandom(1 << 16), deadline)
            except OSError as e:
                raise LoadError("echo on connection %d: %s" % (i, e))
        with open(a.ready, "w") as f:
            f.write("ready %d %.1f\n" % (len(socks), time.monotonic() - t0))
        wait_file(a.go, deadline)
        # Every one of them is still alive: a round trip on each, all in flight at once.
        payloads = [b"conn %d\n" % i for i in range(a.n)]
        for s, p in zip(socks, payloads):
            s.settimeout(left(deadline))
            s.sendall(p)
        for i, (s, p) in enumerate(zip(socks, payloads)):
            got = b""
            while len(got) < len(p):
                s.settimeout(left(deadline))
                try:
                    b = s.recv(len(p) - len(got))
                except OSError as e:
                    raise LoadError("connection %d after the hold: %s" % (i, e))
                if not b:
                    raise LoadError("connection %d closed during the hold" % i)
                got += b
            if got != p:
                raise LoadError("connection %d echoed %r" % (i, got[:40]))
    finally:
        for s in socks:
            s.close()
    print("ok %d connections in %.1f s" % (a.n, time.monotonic() - t0))


def load_main(argv):
    """The load modes; None when argv names none of them."""
    p = argparse.ArgumentParser(prog="netsvc.py")
    sub = p.add_subparsers(dest="mode")
    c = sub.add_parser("serve-load")
    c.add_argument("pattern_port", type=int)
    c.add_argument("hold_port", type=int)
    for name, fn in (("fetch", load_fetch), ("upload", load_upload), ("sink", load_sink),
                     ("release", load_release), ("hold", load_hold)):
        c = sub.add_parser(name)
        c.set_defaults(fn=fn)
        c.add_argument("host")
        c.add_argument("port", type=int)
        if name in ("sink", "release"):
            c.add_argument("name")
        if name in ("fetch", "upload", "sink"):
            c.add_argument("seed", type=int)
            c.add_argument("n", type=int)
        if name == "hold":
            c.add_argument("n", type=int)
            c.add_argument("--ready", required=True)
            c.add_argument("--go", required=True)
        if name == "fetch":
            c.add_argument("--read", type=int)
            c.add_argument("--wait")
        if name in ("fetch", "sink"):
            c.add_argument("--ready")
        if name in ("fetch", "upload"):
            c.add_argument("--idle", type=float, help="fail when the data stops this long")
        c.add_argument("--timeout", type=float, default=120)
    if len(argv) < 2 or argv[1] not in sub.choices:
        return None
    a = p.parse_args(argv[1:])
    if a.mode == "serve-load":
        serve_load(a.pattern_port, a.hold_port)
        return 0
    try:
        a.fn(a)
    except (LoadError, OSError) as e:
        print("%s: %s" % (a.mode, e))
        return 1
    return 0


def main(argv):
    rc = load_main(argv)
    if rc is not None:
        return rc
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
