#!/usr/bin/env python3
"""rate.py: the rate of what arrives on stdin, for the raw SSH channel rows.

    rate.py OMIT SECONDS

Reads stdin; from OMIT seconds after the first byte, counts SECONDS of it,
prints Mbit/s and exits (the writer then sees its pipe close). An EOF
earlier ends the count there; with nothing counted it prints "error: ...".
"""
import os
import sys
import time


def main(argv):
    omit, seconds = float(argv[1]), float(argv[2])
    fd = sys.stdin.fileno()
    t0 = start = None
    n = 0
    while True:
        d = os.read(fd, 1 << 20)
        now = time.monotonic()
        if not d:
            break
        if t0 is None:
            t0 = now
        if start is None:
            if now - t0 < omit:
                continue
            start = now
            continue
        n += len(d)
        if now - start >= seconds:
            break
    if start is None or n == 0 or now <= start:
        print("error: %s" % ("no data" if t0 is None else "ended within %.1f s" % omit))
        return 1
    print("%.0f" % (n * 8 / (now - start) / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
