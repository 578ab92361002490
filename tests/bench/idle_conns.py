#!/usr/bin/python3
"""idle_conns: open N idle TCP connections and hold them, for the bench's
"client RSS at N connections" row.

  idle_conns.py HOST PORT N [HOLD_SECONDS]

Connects N sockets (non-blocking, in waves, so the listener's backlog is not
flooded), sends nothing, and prints one line once every connect has finished
or the connect phase ran out of time:

  ready OK FAILED SECONDS [WHY:COUNT,...]

Then it holds the connections until SIGTERM or SIGINT arrives or HOLD_SECONDS
(default 60) pass, closes them and exits. A connection that the far end
closed while held is counted on a last line, "dropped N".
"""
import collections
import errno
import resource
import selectors
import signal
import socket
import sys
import time

WAVE = 500           # connects in flight at once
CONNECT_BUDGET = 30  # seconds for the whole connect phase


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def connect_all(host, port, n, sel, why):
    """Returns (connected sockets, failures); why counts the failures by errno name."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    done, failed, pending = [], 0, {}
    started = 0
    deadline = time.monotonic() + CONNECT_BUDGET
    while (started < n or pending) and time.monotonic() < deadline:
        while started < n and len(pending) < WAVE:
            started += 1
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
            except OSError as e:
                why[errno.errorcode.get(e.errno, "socket")] += 1
                failed += 1
                continue
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            if rc == 0:
                done.append(s)
            elif rc == errno.EINPROGRESS:
                pending[s.fileno()] = s
                sel.register(s, selectors.EVENT_WRITE)
            else:
                why[errno.errorcode.get(rc, str(rc))] += 1
                failed += 1
                s.close()
        for key, _ in sel.select(timeout=0.5):
            s = pending.pop(key.fd)
            sel.unregister(s)
            rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if rc == 0:
                done.append(s)
            else:
                why[errno.errorcode.get(rc, str(rc))] += 1
                failed += 1
                s.close()
    for s in pending.values():
        sel.unregister(s)
        s.close()
    if pending or started < n:
        why["timeout"] += len(pending) + (n - started)
    failed += len(pending) + (n - started)
    return done, failed


class Stop(Exception):
    pass


def on_signal(signum, frame):
    raise Stop()


def hold(socks, seconds, sel):
    """Waits for a signal or the time limit; returns how many the far end closed."""
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    dropped = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            events = sel.select(timeout=min(1.0, max(0.0, end - time.monotonic())))
        except Stop:
            break
        for key, _ in events:
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                dropped += 1
                sel.unregister(s)
    return dropped


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    hold_s = float(sys.argv[4]) if len(sys.argv) == 5 else 60.0
    raise_nofile(n)
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    why = collections.Counter()
    socks, failed = connect_all(host, port, n, sel, why)
    # Only now: a signal during the connect phase just ends the process.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("ready %d %d %.2f %s" % (len(socks), failed, time.monotonic() - t0,
                                   ",".join("%s:%d" % kv for kv in sorted(why.items()))), flush=True)
    dropped = hold(socks, hold_s, sel)
    print("dropped %d" % dropped, flush=True)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
