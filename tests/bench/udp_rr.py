#!/usr/bin/python3
"""udp_rr: UDP request/response round trips, one at a time, for the bench.

  udp_rr.py HOST PORT SECONDS

Sends a 64-byte datagram to an echo server and waits for its answer (1 s at
most) before sending the next, for SECONDS. An answer to an earlier request
(one that came after its wait ran out) is skipped. Prints one line:

  rr PER_SECOND ANSWERED LOST
"""
import socket
import sys
import time


def main(host, port, secs):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((host, port))
    answered = lost = seq = 0
    start = time.monotonic()
    end = start + secs
    while time.monotonic() < end:
        seq += 1
        tag = seq.to_bytes(8, "big")
        s.send(tag + bytes(56))
        while True:
            try:
                got = s.recv(2048)
            except socket.timeout:
                lost += 1
                break
            except OSError:
                lost += 1
                time.sleep(0.01)
                break
            if got[:8] == tag:
                answered += 1
                break
    took = time.monotonic() - start
    print("rr %.0f %d %d" % (answered / took, answered, lost))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
