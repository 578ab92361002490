"""UDP helpers for the e2e suites (test_udp, test_router).

  udp.py echo PORT...            answer every datagram on these ports (IPv4 and
                                 IPv6 on each) with its own bytes, until killed
  udp.py check HOST PORT COUNT [TOP [TIMEOUT]]
                                 COUNT datagrams of many sizes up to TOP bytes
                                 (default 65000), each to be answered with the
                                 same bytes within TIMEOUT seconds (default 3);
                                 prints "ok COUNT" or what went wrong, and
                                 exits non-zero then
"""
import os
import selectors
import socket
import sys

SIZES = (0, 1, 2, 100, 512, 1200, 1400, 1472, 1473, 4000, 8192, 30000, 65000)


def echo(ports):
    sel = selectors.DefaultSelector()
    binds = [(socket.AF_INET, "0.0.0.0", p) for p in ports]
    binds += [(socket.AF_INET6, "::", p) for p in ports]
    for fam, addr, port in binds:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            data, peer = key.fileobj.recvfrom(65535)
            key.fileobj.sendto(data, peer)


def check(host, port, count, top, timeout):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect((host, port))
    sizes = [n for n in SIZES if n <= top]
    for i in range(count):
        data = os.urandom(sizes[i % len(sizes)])
        s.send(data)
        try:
            got = s.recv(65535)
        except OSError as e:
            print("no answer to datagram %d (%d bytes): %s" % (i, len(data), e))
            return 1
        if got != data:
            print("datagram %d came back different (%d bytes, got %d)" % (i, len(data), len(got)))
            return 1
    print("ok", count)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "echo":
        echo([int(p) for p in sys.argv[2:]])
    elif len(sys.argv) in (5, 6, 7) and sys.argv[1] == "check":
        a = sys.argv[2:]
        sys.exit(check(a[0], int(a[1]), int(a[2]), int(a[3]) if len(a) > 3 else 65000,
                       float(a[4]) if len(a) > 4 else 3.0))
    else:
        sys.exit(__doc__)
