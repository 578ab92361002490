# capture.py: drives one privileged part as the user's sluice would, for
# test_capture.sh. Runs in the client namespace as root.
#   capture.py SLUICE DIR full   INSTALL, TUN, then the capture checks, each
#                                a line "RESULT name ok" or "RESULT name why";
#                                waits for DIR/go before each phase
#   capture.py SLUICE DIR hold   INSTALL and TUN, then wait to be killed
#   capture.py SLUICE DIR start  INSTALL, then close the channel
#   capture.py SLUICE DIR owner  INSTALL with --user 0 and TUN, then the
#                                owner checks (RESULT lines), no waiting
# DIR/state gets "PARTPID DEVICE" once the device is there.
import fcntl, os, select, socket, struct, subprocess, sys, time

sluice, d, mode = sys.argv[1:4]
a, b = socket.socketpair()
part = subprocess.Popen([sluice, "--privileged"], stdin=b, stdout=b,
                        stderr=open(os.path.join(d, "part.%s.log" % mode), "ab"))
b.close()

def result(name, ok, why=""):
    print("RESULT %s %s" % (name, "ok" if ok else why), flush=True)

def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = a.recv(n - len(buf))
        if not chunk:
            raise SystemExit("channel closed")
        buf += chunk
    return buf

def read_msg():
    n = struct.unpack(">I", read_exact(4))[0]
    return read_exact(n)

def msg(body):
    return struct.pack(">I", len(body)) + body

def subnet(addr, prefix):
    return bytes([4, prefix]) + socket.inet_aton(addr) + b"\0" * 12 + struct.pack(">HH", 0, 65535)

def wait_go(tag):
    path = os.path.join(d, "go." + tag)
    while not os.path.exists(path):
        time.sleep(0.05)

hello = read_msg()
assert hello[0] == 0x40, hello
part_pid = struct.unpack(">I", hello[5:9])[0]
label = b"capture-e2e"
# In owner mode by_uid (PRIV_F_BY_UID) with uid 0: this driver's own sockets.
install = (bytes([1]) + struct.pack(">HHBIIHHH", 12300, 0, 2 if mode == "owner" else 0, 0, 0,
                                    1, 1, 0)
           + subnet("198.51.100.0", 24) + subnet("198.51.100.128", 25)
           + bytes([len(label)]) + label)
a.sendall(msg(install))
rep = read_msg()
st = struct.unpack(">i", rep[2:6])[0]
if st != 0:
    raise SystemExit("INSTALL refused: %d" % st)
if mode == "start":
    a.close()
    part.wait()
    sys.exit(0)

a.sendall(msg(b"\x06"))
# The descriptor comes with the reply's first byte; the rest may follow.
data, fds, _, _ = socket.recv_fds(a, 4096, 4)
if len(data) < 4:
    data += read_exact(4 - len(data))
data += read_exact(4 + struct.unpack(">I", data[:4])[0] - len(data))
st = struct.unpack(">i", data[6:10])[0]
name = data[10:].decode()
if st != 0 or len(fds) != 1:
    raise SystemExit("TUN: status %d, %d descriptors" % (st, len(fds)))
tun = fds[0]
with open(os.path.join(d, "state.tmp"), "w") as f:
    f.write("%d %s\n" % (part_pid, name))
os.rename(os.path.join(d, "state.tmp"), os.path.join(d, "state"))
if mode == "hold":
    while True:
        time.sleep(1)

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff

def tun_packets(secs):
    """What comes out of the TUN within secs."""
    out, end = [], time.time() + secs
    while True:
        left = end - time.time()
        if left <= 0:
            return out
        r, _, _ = select.select([tun], [], [], left)
        if r:
            out.append(os.read(tun, 65535))

def udp_to(pkts, dst, port, payload):
    for p in pkts:
        if p[0] >> 4 == 4 and p[9] == 17 and socket.inet_ntoa(p[16:20]) == dst:
            ihl = (p[0] & 15) * 4
            if struct.unpack(">H", p[ihl + 2:ihl + 4])[0] == port and p[ihl + 8:] == payload:
                return True
    return False

def owner_checks():
    """--user 0: root's sockets are captured, the kernel's own UDP (VXLAN) is not."""
    tun_packets(0.2)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"mine", ("198.51.100.2", 9999))
    pk = tun_packets(1.5)
    result("owner_socket_captured", udp_to(pk, "198.51.100.2", 9999, b"mine"),
           "UDP from a socket of uid 0 did not come out of the TUN")
    # A kernel socket has no owner to read: VXLAN's encapsulation of an ARP
    # request (for 10.199.0.2) goes to 198.51.100.2:4789, a routed address.
    # A table of the test's own counts it on output, whichever way it goes.
    sh = lambda c: subprocess.run(c, shell=True, check=True, stdout=subprocess.DEVNULL)
    sh("nft add table inet capturetest; nft add chain inet capturetest out "
       "'{ type filter hook output priority 0; }'; "
       "nft add rule inet capturetest out udp dport 4789 counter")
    sh("ip link add capvx0 type vxlan id 42 remote 198.51.100.2 dstport 4789 && "
       "ip addr add 10.199.0.1/24 dev capvx0 && ip link set capvx0 up")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        u.sendto(b"x", ("10.199.0.2", 9))
        time.sleep(0.3)
    pk = tun_packets(1.5)
    out = subprocess.run("nft list chain inet capturetest out", shell=True,
                         capture_output=True, text=True).stdout
    sent = int(out.split("packets ")[1].split()[0]) if "packets " in out else 0
    sh("ip link del capvx0; nft delete table inet capturetest")
    result("kernel_udp_sent", sent > 0, "no VXLAN datagram left at all (counter %d)" % sent)
    leaked = [p for p in pk if p[0] >> 4 == 4 and p[9] == 17 and
              struct.unpack(">H", p[(p[0] & 15) * 4 + 2:(p[0] & 15) * 4 + 4])[0] == 4789]
    result("kernel_udp_not_captured", not leaked,
           "%d VXLAN datagrams of a kernel socket came out of the TUN" % len(leaked))

if mode == "owner":
    owner_checks()
    a.close()
    os.close(tun)
    part.wait()
    print("EXIT %d" % part.returncode, flush=True)
    sys.exit(0)

wait_go("capture")
tun_packets(0.2)  # whatever came before
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"routed", ("198.51.100.2", 9999))
pk = tun_packets(2)
result("udp_routed_read_from_tun", udp_to(pk, "198.51.100.2", 9999, b"routed"),
       "no UDP to 198.51.100.2:9999 came out of the TUN (%d packets)" % len(pk))
s.sendto(b"excluded", ("198.51.100.200", 9999))
s.sendto(b"other", ("192.0.2.2", 9999))
pk = tun_packets(1.5)
result("udp_excluded_not_captured", not udp_to(pk, "198.51.100.200", 9999, b"excluded"),
       "UDP to the excluded 198.51.100.200 came out of the TUN")
result("udp_unrouted_not_captured", not udp_to(pk, "192.0.2.2", 9999, b"other"),
       "UDP to the unrouted 192.0.2.2 came out of the TUN")
# An echo request as ping sends it (a raw socket: ping may not be installed).
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
echo_req = struct.pack(">BBHHH", 8, 0, 0, 0x5151, 1) + b"sluice"
icmp.sendto(echo_req[:2] + struct.pack(">H", csum(echo_req)) + echo_req[4:], ("198.51.100.3", 0))
pk = tun_packets(1.5)
echo = any(p[0] >> 4 == 4 and p[9] == 1 and socket.inet_ntoa(p[16:20]) == "198.51.100.3"
           and p[(p[0] & 15) * 4] == 8 for p in pk)
result("ping_routed_read_from_tun", echo, "no echo request to 198.51.100.3 came out of the TUN")

def udp_packet(src, dst, sport, dport, payload, proto=17):
    l4 = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack(">H", csum(hdr)) + hdr[12:]
    return hdr + l4

r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("192.0.2.1", 40000))
r.setblocking(False)

def delivered(secs):
    got = []
    end = time.time() + secs
    while time.time() < end:
        rr, _, _ = select.select([r], [], [], end - time.time())
        if rr:
            got.append(r.recvfrom(65535))
    return got

wait_go("inject")
# Nothing was sent from 192.0.2.1:40000 yet: a datagram "answering" it is forged.
os.write(tun, udp_packet("198.51.100.2", "192.0.2.1", 9999, 40000, b"unasked"))
got = delivered(1.5)
result("tun_without_flow_dropped", not any(g[0] == b"unasked" for g in got),
       "a UDP packet from 198.51.100.2 to a port that sent nothing was delivered")
# Now a real flow out (captured into the TUN), and its reply comes back.
r.sendto(b"ask", ("198.51.100.2", 9999))
tun_packets(0.5)
os.write(tun, udp_packet("198.51.100.2", "192.0.2.1", 9999, 40000, b"answer"))
got = delivered(2)
result("tun_reply_from_routed_delivered",
       any(g == (b"answer", ("198.51.100.2", 9999)) for g in got),
       "a UDP reply from 198.51.100.2 written into the TUN never reached the socket (%r)" % got)
os.write(tun, udp_packet("203.0.113.5", "192.0.2.1", 9999, 40000, b"spoofed"))
os.write(tun, udp_packet("198.51.100.200", "192.0.2.1", 9999, 40000, b"excluded"))
got = delivered(1.5)
result("tun_unrouted_source_dropped", not any(g[0] == b"spoofed" for g in got),
       "a packet from 203.0.113.5 written into the TUN was delivered")
result("tun_excluded_source_dropped", not any(g[0] == b"excluded" for g in got),
       "a packet from the excluded 198.51.100.200 written into the TUN was delivered")

def icmp_unreach(src, orig):
    """An ICMP port unreachable from src quoting orig (IP header and 8 bytes)."""
    quote = orig[:(orig[0] & 15) * 4 + 8]
    body = struct.pack(">BBHI", 3, 3, 0, 0) + quote
    body = body[:2] + struct.pack(">H", csum(body)) + body[4:]
    return ip_packet(src, socket.inet_ntoa(orig[12:16]), 1, body)

def ip_packet(src, dst, proto, l4):
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + struct.pack(">H", csum(hdr)) + hdr[12:] + l4

def refused(sock, secs):
    end = time.time() + secs
    while time.time() < end:
        try:
            sock.recv(100)
        except BlockingIOError:
            time.sleep(0.05)
        except ConnectionRefusedError:
            return True
    return False

# A port unreachable about a flow that went out is delivered: the app sees ECONNREFUSED.
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(("198.51.100.4", 7777))
c.setblocking(False)
tun_packets(0.2)
c.send(b"knock")
orig = [p for p in tun_packets(1) if udp_to([p], "198.51.100.4", 7777, b"knock")]
if not orig:
    result("tun_icmp_error_of_flow_delivered", False, "the datagram never came out of the TUN")
else:
    os.write(tun, icmp_unreach("198.51.100.4", orig[0]))
    result("tun_icmp_error_of_flow_delivered", refused(c, 2),
           "no ECONNREFUSED after a port unreachable quoting the flow")
# One quoting a datagram that never went out (a connected socket that sent nothing) is not.
c2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c2.connect(("198.51.100.5", 7778))
c2.setblocking(False)
lip, lport = c2.getsockname()
fake = ip_packet(lip, "198.51.100.5", 17, struct.pack(">HHHH", lport, 7778, 13, 0) + b"knock")
os.write(tun, icmp_unreach("198.51.100.5", fake))
result("tun_icmp_error_without_flow_dropped", not refused(c2, 1.5),
       "a port unreachable quoting no flow of ours reached the socket")
# As a hostile user's side would: keep the device past its descriptor
# (TUNSETPERSIST, no privilege needed). Closing must take it away all the same.
try:
    fcntl.ioctl(tun, 0x400454cb, 1)  # TUNSETPERSIST
    result("tun_persisted_by_holder", True)
except OSError as e:
    result("tun_persisted_by_holder", False, "TUNSETPERSIST: %s" % e)
wait_go("close")
a.close()
os.close(tun)
part.wait()
print("EXIT %d" % part.returncode, flush=True)
