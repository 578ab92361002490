"""UDP helpers for the e2e suites (test_udp, test_router).

  udp.py echo PORT...            answer every datagram on these ports (IPv4 and
                                 IPv6 on each) with its own bytes, until killed
  udp.py check HOST PORT COUNT [TOP [TIMEOUT]]
                                 COUNT datagrams of many sizes up to TOP bytes
                                 (default 65000), each to be answered with the
                                 same bytes within TIMEOUT seconds (default 3);
                                 prints "ok COUNT" or what went wrong, and
                                 exits non-zero then
  udp.py sized PORT              answer a datagram holding a number N (in
                                 decimal) with pattern(N), N bytes, until killed
  udp.py ask HOST PORT N...      ask a sized server for each N in turn; prints
                                 "ok" when each answer is pattern(N), or what
                                 went wrong, and exits non-zero then
"""
import os
import selectors
import socket
import sys

SIZES = (0, 1, 2, 100, 512, 1200, 1400, 1472, 1473, 4000, 8192, 30000, 65000)


def listen(ports):
    """A selector over UDP sockets on every port, IPv4 and IPv6 apart."""
    sel = selectors.DefaultSelector()
    for port in ports:
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
            sel.register(s, selectors.EVENT_READ)
    return sel


def echo(ports):
    sel = listen(ports)
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


def pattern(n):
    return bytes((i * 7 + n) & 255 for i in range(n))


def sized(port):
    sel = listen([port])
    while True:
        for key, _ in sel.select():
            data, peer = key.fileobj.recvfrom(65535)
            try:
                n = int(data)
            except ValueError:
                continue
            if 0 <= n <= 65507:
                key.fileobj.sendto(pattern(n), peer)


def ask(host, port, sizes):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect((host, port))
    for n in sizes:
        s.send(str(n).encode())
        try:
            got = s.recv(65535)
        except OSError as e:
            print("no answer of %d bytes: %s" % (n, e))
            return 1
        if got != pattern(n):
            print("the answer of %d bytes came back different (%d bytes)" % (n, len(got)))
            return 1
    print("ok")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "echo":
        echo([int(p) for p in sys.argv[2:]])
    elif len(sys.argv) in (5, 6, 7) and sys.argv[1] == "check":
        a = sys.argv[2:]
        sys.exit(check(a[0], int(a[1]), int(a[2]), int(a[3]) if len(a) > 3 else 65000,
                       float(a[4]) if len(a) > 4 else 3.0))
    elif len(sys.argv) == 3 and sys.argv[1] == "sized":
        sized(int(sys.argv[2]))
    elif len(sys.argv) > 4 and sys.argv[1] == "ask":
        sys.exit(ask(sys.argv[2], int(sys.argv[3]), [int(n) for n in sys.argv[4:]]))
    else:
        sys.exit(__doc__)
