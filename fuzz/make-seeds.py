#!/usr/bin/env python3
"""Writes seed inputs for the decoder fuzz targets into fuzz/seeds/TARGET/, taken from
the captures in tests/fixtures (and ../shared/pcaps when present), so libFuzzer starts
from real PDUs instead of random bytes.

    fuzz/make-seeds.py

dissect, top_classify, shard_route: one byte choosing the link type (index into the targets'
LINKTYPES) + a frame.
cdp/lldp/stp/fhrp/dns/http/websocket/tls_record: the payload the decoder takes;
tls_handshake: a handshake record's body. tls_cbc_record: two bytes (suite, EtM) and
application-data records. l2trace: the two
worked examples of the protocol note (no capture of that protocol exists).
btf_enum: the .BTF sections of bpf/*.bpf.o.
cgroup_path: /proc/PID/cgroup files of processes in containers and pods (CGROUP_FILES).
top_kernel: a socket owner, a flow key and two flow counters as bpf/top.bpf.c lays
them out (IPv4 and IPv6, open, closed and accepted sockets).
display_filter: each of DISPLAY_FILTERS, a newline, two bytes of TCP analysis flags
and an Ethernet frame of the fixtures.
"""
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Must match LINKTYPES in fuzz_targets/dissect.rs and top_classify.rs.
LINKTYPES = [1, 0, 9, 12, 50, 101, 104, 108, 113, 228, 276]
L2T_EXAMPLES = [
    # REQUEST_SRC 000b.5f73.0491 -> 000b.5f73.0480, VLAN 11, from 192.168.1.25 "Cat2960"
    bytes.fromhex("0201002905" "0208000b5f730491" "0108000b5f730480" "0304000b" "0e06c0a80119")
    + b"\x10\x0aCat2960\x00",
    # REPLY_SRC from Cat3550, status 2, next hop Cat2950 at 192.168.2.27
    bytes.fromhex("0401003c06") + b"\x04\x0aCat3550\x00" + b"\x05\x14cisco WS-C3550-24\x00"
    + bytes.fromhex("0606c0a8021a" "0f0302" "0d06c0a8021b") + b"\x10\x0aCat2950\x00",
]
# /proc/PID/cgroup as container runtimes leave it (docker, containerd in a pod, podman
# and its conmon, CRI-O with cgroupfs, nspawn), v2 and v1 layouts.
_ID = "3f4e5d6c7b8a99001122334455667788aabbccddeeff00112233445566778899"
_POD = "kubepods-besteffort-pod5d2c9a8e_7f61_4b3a_9c0d_1e2f3a4b5c6d.slice"
CGROUP_FILES = [
    f"0::/system.slice/docker-{_ID}.scope\n",
    f"12:memory:/docker/{_ID}\n1:name=systemd:/docker/{_ID}\n0::/\n",
    f"0::/kubepods.slice/kubepods-besteffort.slice/{_POD}/cri-containerd-{_ID}.scope\n",
    f"0::/machine.slice/libpod-{_ID}.scope/container\n",
    f"0::/machine.slice/libpod-conmon-{_ID}.scope\n",
    f"4:cpu:/kubepods/burstable/pod5d2c9a8e-7f61-4b3a-9c0d-1e2f3a4b5c6d/crio-{_ID}\n0::/\n",
    "0::/machine.slice/machine-web\\x2d01.scope/payload\n",
]
# Filters as users and the findings write them (pcap show -Y).
DISPLAY_FILTERS = [
    "tcp.stream eq 8 && (frame.number in {320 321})",
    "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.dst == 10.0.0.1 && tcp.dstport == 80",
    "(icmp.type == 3 && icmp.code == 4) || icmpv6.type == 2",
    "ip.flags.mf == 1 || ip.frag_offset > 0",
    "!(tcp.port == 22) and not udp or http.request.method == \"GET\"",
    "ip.src == 10.0.0.0/8 && http.host contains \"example\"",
    "tcp.analysis.retransmission || tcp.analysis.flags && !tcp.analysis.window_update",
    "ipv6.addr == fe80::1/64 && websocket",
    "http.response.code >= 400 && tcp.flags == 0x018",
]


def frames(path):
    """Yields (linktype, frame bytes) for pcap and pcapng files."""
    data = open(path, "rb").read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        lt = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
        off = 24
        while off + 16 <= len(data):
            incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
            yield lt, data[off + 16:off + 16 + incl]
            off += 16 + incl
    elif magic == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off, ifaces = 0, []
        while off + 12 <= len(data):
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if blen < 12:
                return
            body = data[off + 8:off + blen - 4]
            if btype == 1:
                ifaces.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6 and len(body) >= 20:
                iface, _, _, caplen = struct.unpack(e + "IIII", body[:16])
                if iface < len(ifaces):
                    yield ifaces[iface], body[20:20 + caplen]
            off += blen


def payloads(lt, f):
    """Yields (target, payload) for Ethernet frames, following VLAN tags."""
    if lt != 1 or len(f) < 14:
        return
    et, off = struct.unpack(">H", f[12:14])[0], 14
    while et in (0x8100, 0x88A8, 0x9100) and off + 4 <= len(f):
        et, off = struct.unpack(">H", f[off + 2:off + 4])[0], off + 4
    p = f[off:]
    if et <= 1500:
        if p[:8] == b"\xaa\xaa\x03\x00\x00\x0c\x20\x00":
            yield "cdp", p[8:et]
        elif p[:2] == b"\x42\x42":
            yield "stp", p[3:et]
    elif et == 0x88CC:
        yield "lldp", p
    elif et in (0x0800, 0x86DD):
        if et == 0x0800 and len(p) >= 20:
            proto, hl = p[9], (p[0] & 15) * 4
        elif et == 0x86DD and len(p) >= 40:
            proto, hl = p[6], 40
        else:
            return
        t = p[hl:]
        if proto == 112:
            yield "fhrp", t
        elif proto == 17 and len(t) >= 8:
            sport, dport = struct.unpack(">HH", t[:4])
            ports = {sport, dport}
            if ports & {1985, 2029, 3222}:
                yield "fhrp", t[8:]
            if ports & {53, 5353}:
                yield "dns", t[8:]
        elif proto == 6 and len(t) >= 20:
            body = t[(t[12] >> 4) * 4:]
            if body[:4] in (b"GET ", b"HTTP", b"POST"):
                yield "http", body
            elif body and body[0] in (0x81, 0x82, 0x88, 0x89, 0x8A, 0x01, 0x02, 0x00):
                yield "websocket", body
            if len(body) >= 5 and 20 <= body[0] <= 24 and body[1] == 3:
                yield "tls_record", body
                if body[0] == 23:
                    # Two bytes (suite index, encrypt-then-MAC) before real records.
                    yield "tls_cbc_record", bytes([2, body[5] & 1]) + body
                if body[0] == 22:
                    yield "tls_handshake", body[5:5 + struct.unpack(">H", body[3:5])[0]]


def main():
    dirs = [os.path.join(ROOT, "tests/fixtures"), os.path.join(ROOT, "../shared/pcaps")]
    written = {}
    for d in dirs:
        for base, _, files in os.walk(d):
            for name in files:
                if not name.endswith((".pcap", ".pcapng", ".cap")):
                    continue
                for lt, f in frames(os.path.join(base, name)):
                    if lt in LINKTYPES:
                        seed = bytes([LINKTYPES.index(lt)]) + f
                        write(written, "dissect", seed)
                        write(written, "top_classify", seed)
                        write(written, "shard_route", seed)
                    for target, p in payloads(lt, f):
                        write(written, target, p)
    for example in L2T_EXAMPLES:
        write(written, "l2trace", example)
    ethernet = [f for lt, f in frames(os.path.join(ROOT, "tests/fixtures/lab/upgrade-rejected-403.pcap")) if lt == 1]
    for i, text in enumerate(DISPLAY_FILTERS):
        frame = ethernet[(i * 37) % len(ethernet)] if ethernet else b""
        write(written, "display_filter", text.encode() + b"\n" + bytes([0, i]) + frame)
    for obj in sorted(os.listdir(os.path.join(ROOT, "bpf"))):
        if obj.endswith(".bpf.o"):
            with open(os.path.join(ROOT, "bpf", obj), "rb") as fh:
                write(written, "btf_enum", elf_section(fh.read(), ".BTF"))
    for text in CGROUP_FILES:
        write(written, "cgroup_path", text.encode())
    for seed in top_kernel_records():
        write(written, "top_kernel", seed)
    for t, n in sorted(written.items()):
        print(f"{t}: {n} seeds")


def top_kernel_records():
    """struct sock_owner + struct flow_key + 2 x struct flow_counts (native order)."""
    out = []
    for family, flags, pid in [(4, 0, 4242), (6, 1, 77), (4, 2, 0), (0, 0, 1)]:
        if family == 4:
            laddr = bytes([10, 233, 0, 1]) + bytes(12)
            raddr = bytes([10, 233, 0, 2]) + bytes(12)
        else:
            laddr = bytes(15) + b"\x01"
            raddr = bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 7])
        owner = struct.pack("=QQIIIIBBHHH16s16s16s", 0x1234, 99, pid, pid + 1, 1000,
                            flags, family, 6, 40000, 9100, 0, laddr, raddr, b"python3")
        key = struct.pack("=QQIBBHHH16s16sI", 0xABCD, 0x1234, 2, family, 17, 40000, 9101,
                          0, laddr, raddr, 0)
        counts = struct.pack("=QQQQ", 1028, 1, 1028, 1) + struct.pack("=QQQQ", 5000, 5, 0, 0)
        out.append(owner + key + counts)
    return out


def elf_section(elf, wanted):
    """The bytes of section `wanted` of a little-endian ELF64 file (b"" if absent)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return b""
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    def header(i):
        name, _, _, _, off, size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
        return name, off, size
    _, stroff, _ = header(shstrndx)
    for i in range(shnum):
        name, off, size = header(i)
        end = elf.index(b"\0", stroff + name)
        if elf[stroff + name:end].decode() == wanted:
            return elf[off:off + size]
    return b""


def write(written, target, blob):
    if not blob or len(blob) > 65536:
        return
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(blob).hexdigest()), "wb") as fh:
        fh.write(blob)
    written[target] = written.get(target, 0) + 1


if __name__ == "__main__":
    sys.exit(main())
