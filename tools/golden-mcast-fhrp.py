#!/usr/bin/env python3
"""Exports tshark's view of IGMP/MLD membership and FHRP hellos for the multicast/ and
fhrp/ captures of ../shared/pcaps, as the expected values of tests/mcast_fhrp_golden.rs.

    tools/golden-mcast-fhrp.py > tests/golden/mcast-fhrp.json

Needs tshark (made with 4.0.17). Per file:
  joins/leaves: {group: [frame, ...]} from igmp.type 0x12/0x16 (reports), 0x17 (leave),
    0x22 records and MLD 131/132/143 records, with RFC 3376's reading of record types
    (2, 4, or 1/3/5 with sources: join; 1/3 without sources: leave), and PIM Join/Prune
    group entries (joined sources: join; pruned sources: leave);
  fhrp: [[frame, protocol, group, sender, state]] for every HSRP and GLBP hello and
    VRRP advertisement (VRRP has no state field: the sender is the master).
"""
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "pcaps")
HSRP_V1 = {"0": "Initial", "1": "Learn", "2": "Listen", "4": "Speak", "8": "Standby", "16": "Active"}
HSRP_V2 = {"0": "Disabled", "1": "Initial", "2": "Learn", "3": "Listen", "4": "Speak", "5": "Standby", "6": "Active"}
GLBP = {"4": "Listen", "8": "Speak", "16": "Standby", "32": "Active"}


def fields(path, *names):
    out = subprocess.run(
        ["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;"]
        + [x for n in names for x in ("-e", n)],
        capture_output=True, text=True, check=True, env={**os.environ, "WIRESHARK_CONFIG_DIR": "/nonexistent"},
    ).stdout
    for line in out.splitlines():
        yield [c.split(";") if c else [] for c in line.split("\t")]


def record_effect(rtype, nsrc):
    rtype, nsrc = int(rtype), int(nsrc)
    if rtype in (2, 4) or (rtype in (1, 3, 5) and nsrc > 0):
        return "join"
    if rtype in (1, 3) and nsrc == 0:
        return "leave"
    return None


def membership(path):
    joins, leaves = {}, {}
    add = lambda d, g, f: d.setdefault(g, []).append(f)
    for row in fields(path, "frame.number", "igmp.type", "igmp.maddr", "igmp.record_type", "igmp.num_src",
                      "icmpv6.type", "icmpv6.mld.multicast_address", "icmpv6.mldr.mar.record_type",
                      "icmpv6.mldr.mar.multicast_address", "icmpv6.mldr.mar.nb_sources",
                      "pim.type", "pim.group", "pim.group_ip6", "pim.numjoins", "pim.numprunes"):
        frame = int(row[0][0])
        itype = row[1][0] if row[1] else None
        if itype in ("0x12", "0x16"):
            add(joins, row[2][0], frame)
        elif itype == "0x17":
            add(leaves, row[2][0], frame)
        elif itype == "0x22":
            for rt, g, n in zip(row[3], row[2], row[4]):
                e = record_effect(rt, n)
                if e:
                    add(joins if e == "join" else leaves, g, frame)
        for v6type in row[5]:
            if v6type == "131":
                add(joins, row[6][0], frame)
            elif v6type == "132":
                add(leaves, row[6][0], frame)
            elif v6type == "143":
                for rt, g, n in zip(row[7], row[8], row[9]):
                    e = record_effect(rt, n)
                    if e:
                        add(joins if e == "join" else leaves, g, frame)
        # PIM Join/Prune (type 3): a group entry joining sources is a join, one
        # pruning sources a leave.
        if row[10] == ["3"]:
            for g, nj, np in zip(row[11] + row[12], row[13], row[14]):
                if int(nj) > 0:
                    add(joins, g, frame)
                if int(np) > 0:
                    add(leaves, g, frame)
    return joins, leaves


def fhrp(path):
    out = []
    for row in fields(path, "frame.number", "ip.src", "ipv6.src", "hsrp.version", "hsrp.state", "hsrp.group",
                      "hsrp2.state", "hsrp2.group", "hsrp.opcode", "hsrp2.opcode", "vrrp.virt_rtr_id", "vrrp.prio",
                      "glbp.group", "glbp.hello.vgstate"):
        frame = int(row[0][0])
        sender = (row[1] or row[2] or [""])[-1]
        if row[4] and row[8] and row[8][0] in ("0", "1", "2"):  # HSRPv1 hello/coup/resign
            for st, g in zip(row[4], row[5]):
                out.append([frame, "hsrp", int(g), sender, HSRP_V1.get(st, st)])
        for st, g, op in zip(row[6], row[7], row[9] or ["0"] * len(row[6])):
            out.append([frame, "hsrp", int(g), sender, HSRP_V2.get(st, st)])
        if row[10]:
            out.append([frame, "vrrp", int(row[10][0]), sender, "Resign" if row[11] and row[11][0] == "0" else "Master"])
        if row[12] and row[13]:
            out.append([frame, "glbp", int(row[12][0]), sender, GLBP.get(row[13][0], row[13][0])])
    return out


def main():
    result = {}
    for topic in ("multicast", "fhrp"):
        for name in sorted(os.listdir(os.path.join(ROOT, topic))):
            path = os.path.join(ROOT, topic, name)
            joins, leaves = membership(path)
            result[f"{topic}/{name}"] = {"joins": joins, "leaves": leaves, "fhrp": fhrp(path)}
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
