//! Well-known multicast groups by name (IANA and vendor assignments).

use super::mapping::group_mac;
use super::scope::ipv6_detail;
use crate::link::Mac;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Who assigned a well-known group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Registry {
    Iana,
    Cisco,
}

/// One entry of the curated name table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WellKnown {
    pub group: IpAddr,
    /// For IPv6 "variable scope" assignments (`ff0X::fb`): matches every scope with
    /// flags 0 and the same group ID; `group` holds the link-local form.
    pub any_scope: bool,
    pub name: &'static str,
    pub registry: Registry,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, name: &'static str, registry: Registry) -> WellKnown {
    WellKnown {
        group: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        any_scope: false,
        name,
        registry,
    }
}

const fn v6(scope: u16, tail: [u16; 3], name: &'static str, any_scope: bool) -> WellKnown {
    WellKnown {
        group: IpAddr::V6(Ipv6Addr::new(
            0xff00 | scope,
            0,
            0,
            0,
            0,
            tail[0],
            tail[1],
            tail[2],
        )),
        any_scope,
        name,
        registry: Registry::Iana,
    }
}

/// Curated from the IANA "IPv4 Multicast Address Space Registry"
/// (https://www.iana.org/assignments/multicast-addresses/) and "IPv6 Multicast Address
/// Space Registry" (https://www.iana.org/assignments/ipv6-multicast-addresses/), as
/// summarised in the project note netns-vrf-and-multicast.md §B1/B5 (registry state of
/// 2026). Entries marked `Cisco` are Cisco assignments documented in Cisco configuration
/// guides (HSRPv2/GLBP on 224.0.0.102, HSRP for IPv6 on ff02::66) rather than IANA's
/// names. Solicited-node and node-information groups are recognised by pattern, not here.
pub const WELL_KNOWN: &[WellKnown] = &[
    v4(224, 0, 0, 0, "Base Address (reserved)", Registry::Iana),
    v4(224, 0, 0, 1, "All Systems on this Subnet", Registry::Iana),
    v4(
        224,
        0,
        0,
        2,
        "All Routers on this Subnet (also HSRPv1)",
        Registry::Iana,
    ),
    v4(224, 0, 0, 4, "DVMRP Routers", Registry::Iana),
    v4(224, 0, 0, 5, "OSPF AllSPFRouters", Registry::Iana),
    v4(224, 0, 0, 6, "OSPF AllDRouters", Registry::Iana),
    v4(224, 0, 0, 9, "RIPv2 Routers", Registry::Iana),
    v4(224, 0, 0, 10, "EIGRP (IGRP) Routers", Registry::Iana),
    v4(224, 0, 0, 12, "DHCP Server / Relay Agent", Registry::Iana),
    v4(224, 0, 0, 13, "All PIM Routers", Registry::Iana),
    v4(224, 0, 0, 14, "RSVP-ENCAPSULATION", Registry::Iana),
    v4(224, 0, 0, 18, "VRRP (also CARP)", Registry::Iana),
    v4(224, 0, 0, 19, "IS-IS over IP: All L1 ISs", Registry::Iana),
    v4(224, 0, 0, 20, "IS-IS over IP: All L2 ISs", Registry::Iana),
    v4(224, 0, 0, 21, "IS-IS over IP: All ISs", Registry::Iana),
    v4(224, 0, 0, 22, "IGMPv3 reports", Registry::Iana),
    v4(224, 0, 0, 102, "HSRPv2 / GLBP", Registry::Cisco),
    v4(224, 0, 0, 106, "All-Snoopers (MRD)", Registry::Iana),
    v4(224, 0, 0, 107, "PTP peer delay", Registry::Iana),
    v4(224, 0, 0, 251, "mDNS", Registry::Iana),
    v4(224, 0, 0, 252, "LLMNR", Registry::Iana),
    v4(224, 0, 0, 253, "Teredo", Registry::Iana),
    v4(224, 0, 1, 1, "NTP", Registry::Iana),
    v4(
        224,
        0,
        1,
        39,
        "Cisco Auto-RP announce (cisco-rp-announce)",
        Registry::Iana,
    ),
    v4(
        224,
        0,
        1,
        40,
        "Cisco Auto-RP discovery (cisco-rp-discovery)",
        Registry::Iana,
    ),
    v4(224, 0, 1, 129, "PTP primary", Registry::Iana),
    v4(224, 0, 1, 130, "PTP alternate 1", Registry::Iana),
    v4(224, 0, 1, 131, "PTP alternate 2", Registry::Iana),
    v4(224, 0, 1, 132, "PTP alternate 3", Registry::Iana),
    v4(224, 2, 127, 254, "SAPv1 announcements", Registry::Iana),
    v4(239, 255, 255, 250, "SSDP", Registry::Iana),
    v4(239, 255, 255, 253, "SLPv2 (SRVLOC)", Registry::Iana),
    v6(0x01, [0, 0, 1], "All Nodes (interface-local)", false),
    v6(0x02, [0, 0, 1], "All Nodes", false),
    v6(0x01, [0, 0, 2], "All Routers (interface-local)", false),
    v6(0x02, [0, 0, 2], "All Routers", false),
    v6(0x05, [0, 0, 2], "All Routers (site-local)", false),
    v6(0x02, [0, 0, 5], "OSPFv3 AllSPFRouters", false),
    v6(0x02, [0, 0, 6], "OSPFv3 AllDRouters", false),
    v6(0x02, [0, 0, 9], "RIPng Routers", false),
    v6(0x02, [0, 0, 0xa], "EIGRP Routers", false),
    v6(0x02, [0, 0, 0xd], "All PIM Routers", false),
    v6(0x02, [0, 0, 0x12], "VRRP", false),
    v6(
        0x02,
        [0, 0, 0x16],
        "All MLDv2-capable routers (MLDv2 reports)",
        false,
    ),
    WellKnown {
        group: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x66)),
        any_scope: false,
        name: "HSRP for IPv6",
        registry: Registry::Cisco,
    },
    v6(0x02, [0, 0, 0x6b], "PTP peer delay", false),
    v6(
        0x02,
        [0, 1, 2],
        "All DHCPv6 Relay Agents and Servers",
        false,
    ),
    v6(0x02, [0, 1, 3], "LLMNR", false),
    v6(0x05, [0, 1, 3], "All DHCPv6 Servers (site-local)", false),
    v6(0x02, [0, 0, 0xc], "SSDP", true),
    v6(0x02, [0, 0, 0xfb], "mDNSv6", true),
    v6(0x02, [0, 0, 0x101], "NTP", true),
];

/// The IANA/vendor name of a group, including solicited-node and node-information
/// groups recognised by pattern.
pub fn well_known_name(group: IpAddr) -> Option<&'static str> {
    if let Some(w) = WELL_KNOWN.iter().find(|w| matches_entry(w, group)) {
        return Some(w.name);
    }
    if let IpAddr::V6(g) = group {
        let d = ipv6_detail(g);
        if d.solicited_node_for.is_some() {
            return Some("Solicited-Node");
        }
        if d.node_information {
            return Some("Node Information Queries");
        }
    }
    None
}

fn matches_entry(w: &WellKnown, group: IpAddr) -> bool {
    match (w.group, group) {
        (IpAddr::V6(entry), IpAddr::V6(g)) if w.any_scope => {
            let (e, g) = (entry.octets(), g.octets());
            // Same group ID and flags 0; the scope nibble is free.
            g[0] == 0xff && g[1] >> 4 == 0 && e.get(2..) == g.get(2..)
        }
        (entry, g) => entry == g,
    }
}

/// Well-known groups that share `mac` (every matching IPv4 entry; every IPv6 entry with
/// the same low 32 bits, plus the solicited-node group for 33:33:ff:xx:xx:xx).
pub fn well_known_for_mac(mac: Mac) -> Vec<(IpAddr, &'static str)> {
    let mut out: Vec<(IpAddr, &'static str)> = WELL_KNOWN
        .iter()
        .filter(|w| group_mac(w.group) == Some(mac))
        .map(|w| (w.group, w.name))
        .collect();
    let [m0, m1, m2, m3, m4, m5] = mac.0;
    if [m0, m1, m2] == [0x33, 0x33, 0xff] {
        let g = Ipv6Addr::new(
            0xff02,
            0,
            0,
            0,
            0,
            1,
            0xff00 | u16::from(m3),
            u16::from_be_bytes([m4, m5]),
        );
        out.push((IpAddr::V6(g), "Solicited-Node"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn well_known_names() {
        for (g, n) in [
            ("224.0.0.1", "All Systems on this Subnet"),
            ("224.0.0.2", "All Routers on this Subnet (also HSRPv1)"),
            ("224.0.0.5", "OSPF AllSPFRouters"),
            ("224.0.0.6", "OSPF AllDRouters"),
            ("224.0.0.9", "RIPv2 Routers"),
            ("224.0.0.10", "EIGRP (IGRP) Routers"),
            ("224.0.0.13", "All PIM Routers"),
            ("224.0.0.18", "VRRP (also CARP)"),
            ("224.0.0.22", "IGMPv3 reports"),
            ("224.0.0.102", "HSRPv2 / GLBP"),
            ("224.0.0.251", "mDNS"),
            ("224.0.0.252", "LLMNR"),
            ("224.0.1.1", "NTP"),
            ("224.0.1.39", "Cisco Auto-RP announce (cisco-rp-announce)"),
            ("224.0.1.40", "Cisco Auto-RP discovery (cisco-rp-discovery)"),
            ("239.255.255.250", "SSDP"),
            ("ff02::1", "All Nodes"),
            ("ff02::5", "OSPFv3 AllSPFRouters"),
            ("ff02::a", "EIGRP Routers"),
            ("ff02::d", "All PIM Routers"),
            ("ff02::12", "VRRP"),
            ("ff02::16", "All MLDv2-capable routers (MLDv2 reports)"),
            ("ff02::66", "HSRP for IPv6"),
            ("ff02::1:2", "All DHCPv6 Relay Agents and Servers"),
            ("ff02::1:3", "LLMNR"),
            ("ff05::1:3", "All DHCPv6 Servers (site-local)"),
            ("ff02::fb", "mDNSv6"),
            ("ff05::fb", "mDNSv6"),
            ("ff0e::101", "NTP"),
            ("ff05::c", "SSDP"),
        ] {
            assert_eq!(well_known_name(ip(g)), Some(n), "{g}");
        }
        assert_eq!(well_known_name(ip("239.1.1.1")), None);
        // Variable-scope entries need flags 0.
        assert_eq!(well_known_name(ip("ff15::fb")), None);
        assert_eq!(well_known_name(ip("ff05::1")), None);
    }
}
