#!/usr/bin/env python3
"""echo.py: keystroke echo times through a command that echoes its input.

    echo.py SECONDS INTERVAL_MS CMD...

Runs CMD (e.g. `ssh lanhost cat`) with pipes, waits until a line comes back
(at most 30 s: the login). With ECHO_READY=PATH in the environment it then
creates PATH and waits (at most 30 s) until PATH.go exists, so that a
caller can start a load after the login. Then for SECONDS it writes one short line every
INTERVAL_MS, on a fixed clock as typing is (a late echo does not hold back
the next line), and times each line's echo. Prints one line:

    n N p50 MS p99 MS max MS lost N

or "error: why" and exits 1.
"""
import os
import selectors
import subprocess
import sys
import time

READY_LIMIT = 30.0
DRAIN_LIMIT = 3.0
WARMUP = 10  # lines sent and echoed before the timed ones


def pct(v, p):
    """The p-th percentile, nearest rank."""
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))
    return v[k]


def main(argv):
    if len(argv) < 4:
        print("usage: echo.py SECONDS INTERVAL_MS CMD...", file=sys.stderr)
        return 2
    seconds, interval = float(argv[1]), float(argv[2]) / 1000
    p = subprocess.Popen(argv[3:], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, bufsize=0)
    out, inp = p.stdout, p.stdin
    sel = selectors.DefaultSelector()
    sel.register(out, selectors.EVENT_READ)
    buf = b""
    sent = {}
    times = []
    samples = []  # (when sent, ms), for ECHO_SAMPLES

    def pump(timeout):
        """Reads what is there within timeout; records the echo of each whole line."""
        nonlocal buf
        if not sel.select(max(0.0, timeout)):
            return True
        now = time.monotonic()
        d = os.read(out.fileno(), 65536)
        if not d:
            return False
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            t = sent.pop(line, None)
            if t is not None and not line.startswith(b"w"):
                times.append((now - t) * 1000)
                samples.append((t, (now - t) * 1000))
        return True

    def send(tag):
        sent[tag] = time.monotonic()
        inp.write(tag + b"\n")

    try:
        # The login: until a first line comes back.
        end = time.monotonic() + READY_LIMIT
        send(b"w0")
        while sent and time.monotonic() < end:
            if not pump(end - time.monotonic()):
                print("error: the command ended before it echoed")
                return 1
        if sent:
            print("error: no echo within %.0f s" % READY_LIMIT)
            return 1
        ready = os.environ.get("ECHO_READY")
        if ready:
            open(ready, "w").close()
            end = time.monotonic() + READY_LIMIT
            while not os.path.exists(ready + ".go"):
                if time.monotonic() > end:
                    print("error: %s.go did not appear" % ready)
                    return 1
                time.sleep(0.01)
        n = 0
        t_next = time.monotonic()
        end = t_next + seconds + WARMUP * interval
        while True:
            now = time.monotonic()
            if now >= t_next:
                if now >= end:
                    break
                send((b"w%d" if n < WARMUP else b"k%d") % n)
                n += 1
                t_next += interval
                continue
            if not pump(t_next - now):
                print("error: the command ended")
                return 1
        end = time.monotonic() + DRAIN_LIMIT
        while sent and time.monotonic() < end:
            if not pump(min(0.1, end - time.monotonic())):
                break
        lost = sum(1 for k in sent if k.startswith(b"k"))
        dump = os.environ.get("ECHO_SAMPLES")
        if dump and samples:
            with open(dump, "w") as f:
                for t, ms in samples:
                    f.write("%.3f %.3f\n" % ((t - samples[0][0]) * 1000, ms))
        times.sort()
        print("n %d p50 %.2f p99 %.2f max %.2f lost %d" %
              (len(times), pct(times, 50), pct(times, 99), times[-1] if times else 0, lost))
        return 0
    except OSError as e:
        print("error: %s" % e)
        return 1
    finally:
        try:
            inp.close()
        except OSError:
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
