//! Multicast group <-> MAC arithmetic, scopes, well-known groups and virtual MACs.
//!
//! Pure functions, no I/O. Engineers map groups to MACs by hand and get it wrong in
//! predictable ways, so besides the mapping this module knows the traps:
//!
//! * IPv4 (RFC 1112 §6.4): `01:00:5e` + a zero bit + the low 23 bits of the group. The
//!   5 bits after the `1110` prefix are dropped, so 32 groups share every MAC.
//! * IPv6 (RFC 2464 §7): `33:33` + the low 32 bits of the group; 96 bits are dropped.
//! * 224.0.0.0/24 is never constrained by IGMP snooping (RFC 4541 §2.1.2), and every
//!   group `X.0.0.Y` / `X.128.0.Y` shares its MAC with `224.0.0.Y`, so switches that
//!   snoop by MAC flood it the same way.
//!
//! Reverse lookups also recognise first-hop-redundancy virtual MACs (HSRP, VRRP, GLBP)
//! and the IEEE/Cisco control addresses that show up in captures.

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::link::{Mac as MacAddr, MacParseError};

/// Parses a MAC in any common notation (see [`MacAddr::from_str`]).
pub fn parse_mac(s: &str) -> Result<MacAddr, MacParseError> {
    s.parse()
}

// ---------------------------------------------------------------------------------
// Forward mapping

/// RFC 1112 §6.4: `01:00:5e` + 0 + low 23 bits. `None` unless the group is in 224/4.
pub fn ipv4_group_mac(group: Ipv4Addr) -> Option<MacAddr> {
    if !group.is_multicast() {
        return None;
    }
    let o = group.octets();
    Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
}

/// RFC 2464 §7: `33:33` + the last four octets, verbatim. `None` unless in ff00::/8.
pub fn ipv6_group_mac(group: Ipv6Addr) -> Option<MacAddr> {
    if !group.is_multicast() {
        return None;
    }
    let o = group.octets();
    Some(MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]))
}

pub fn group_mac(group: IpAddr) -> Option<MacAddr> {
    match group {
        IpAddr::V4(g) => ipv4_group_mac(g),
        IpAddr::V6(g) => ipv6_group_mac(g),
    }
}

/// The 32 IPv4 groups that map to `mac`, in numeric order (224.b3.b4.b5,
/// 224.(b3+128).b4.b5, 225.b3.b4.b5, ... 239.(b3+128).b4.b5). `None` unless `mac` is in
/// the IPv4 range 01:00:5e:00:00:00 - 01:00:5e:7f:ff:ff; the upper half of 01:00:5e is
/// MPLS multicast and documentation space (RFC 5332, RFC 7042 §2.1), not IPv4.
pub fn ipv4_candidates(mac: MacAddr) -> Option<[Ipv4Addr; 32]> {
    let [m0, m1, m2, b3, b4, b5] = mac.0;
    if [m0, m1, m2] != [0x01, 0x00, 0x5e] || b3 >= 0x80 {
        return None;
    }
    let low = (u32::from(b3) << 16) | (u32::from(b4) << 8) | u32::from(b5);
    let mut out = [Ipv4Addr::UNSPECIFIED; 32];
    for (i, slot) in (0u32..).zip(out.iter_mut()) {
        *slot = Ipv4Addr::from(0xE000_0000 | (i << 23) | low);
    }
    Some(out)
}

// ---------------------------------------------------------------------------------
// Scope / block classification

/// Where a group belongs: for IPv4 the IANA block (RFC 5771, RFC 2365 for 239/8), for
/// IPv6 the scope nibble (RFC 4291 §2.7, RFC 7346). Serialized as the snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// 224.0.0.0/24 Local Network Control Block; IPv6 scope 2.
    LinkLocal,
    /// 224.0.1.0/24 Internetwork Control Block.
    InternetworkControl,
    /// AD-HOC blocks I-III.
    AdHoc,
    /// 224.2.0.0/16 SDP/SAP block.
    SdpSap,
    /// IANA-reserved IPv4 space; IPv6 scope 0 and f.
    Reserved,
    /// 232.0.0.0/8 Source-Specific Multicast (RFC 4607).
    Ssm,
    /// 233.0.0.0 - 233.251.255.255 GLOP (RFC 3180).
    Glop,
    /// 233.252.0.0/24 MCAST-TEST-NET (RFC 6676).
    Documentation,
    /// 234.0.0.0/8 unicast-prefix-based (RFC 6034).
    UnicastPrefixBased,
    /// 239.255.0.0/16, RFC 2365's IPv4 Local Scope (IANA: Site-Local Scope).
    AdminLocalScope,
    /// 239.252.0.0 - 239.254.255.255, kept for the Local Scope to grow into.
    AdminLocalScopeExpansion,
    /// 239.192.0.0 - 239.251.255.255 Organization-Local Scope.
    AdminOrganizationLocal,
    /// 239.0.0.0 - 239.191.255.255, reserved (RFC 2365 expansion space).
    AdminReserved,
    /// IPv6 scope 1.
    InterfaceLocal,
    /// IPv6 scope 3 (RFC 7346).
    RealmLocal,
    /// IPv6 scope 4.
    AdminLocal,
    /// IPv6 scope 5.
    SiteLocal,
    /// IPv6 scope 8.
    OrganizationLocal,
    /// IPv6 scope e.
    Global,
    /// IPv6 scopes 6, 7, 9-d.
    Unassigned,
}

impl Scope {
    pub fn code(self) -> &'static str {
        match self {
            Scope::LinkLocal => "link_local",
            Scope::InternetworkControl => "internetwork_control",
            Scope::AdHoc => "ad_hoc",
            Scope::SdpSap => "sdp_sap",
            Scope::Reserved => "reserved",
            Scope::Ssm => "ssm",
            Scope::Glop => "glop",
            Scope::Documentation => "documentation",
            Scope::UnicastPrefixBased => "unicast_prefix_based",
            Scope::AdminLocalScope => "admin_local_scope",
            Scope::AdminLocalScopeExpansion => "admin_local_scope_expansion",
            Scope::AdminOrganizationLocal => "admin_organization_local",
            Scope::AdminReserved => "admin_reserved",
            Scope::InterfaceLocal => "interface_local",
            Scope::RealmLocal => "realm_local",
            Scope::AdminLocal => "admin_local",
            Scope::SiteLocal => "site_local",
            Scope::OrganizationLocal => "organization_local",
            Scope::Global => "global",
            Scope::Unassigned => "unassigned",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Scope::LinkLocal => "link-local (never routed)",
            Scope::InternetworkControl => "Internetwork Control Block (routed)",
            Scope::AdHoc => "AD-HOC block",
            Scope::SdpSap => "SDP/SAP block",
            Scope::Reserved => "reserved",
            Scope::Ssm => "Source-Specific Multicast (RFC 4607)",
            Scope::Glop => "GLOP (RFC 3180)",
            Scope::Documentation => "documentation (RFC 6676)",
            Scope::UnicastPrefixBased => "unicast-prefix-based (RFC 6034)",
            Scope::AdminLocalScope => "administratively scoped, IPv4 Local Scope (RFC 2365)",
            Scope::AdminLocalScopeExpansion => {
                "administratively scoped, Local Scope expansion (RFC 2365)"
            }
            Scope::AdminOrganizationLocal => {
                "administratively scoped, Organization-Local Scope (RFC 2365)"
            }
            Scope::AdminReserved => "administratively scoped, reserved range (RFC 2365)",
            Scope::InterfaceLocal => "interface-local (loopback only)",
            Scope::RealmLocal => "realm-local (RFC 7346)",
            Scope::AdminLocal => "admin-local",
            Scope::SiteLocal => "site-local",
            Scope::OrganizationLocal => "organization-local",
            Scope::Global => "global",
            Scope::Unassigned => "unassigned scope",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// IPv4 block of a multicast group; `None` for non-multicast addresses.
pub fn ipv4_scope(group: Ipv4Addr) -> Option<Scope> {
    if !group.is_multicast() {
        return None;
    }
    let o = group.octets();
    Some(match o[0] {
        224 => match (o[1], o[2]) {
            (0, 0) => Scope::LinkLocal,
            (0, 1) => Scope::InternetworkControl,
            (0, _) => Scope::AdHoc,
            (2, _) => Scope::SdpSap,
            (3 | 4, _) => Scope::AdHoc,
            _ => Scope::Reserved,
        },
        232 => Scope::Ssm,
        233 => match (o[1], o[2]) {
            (0..=251, _) => Scope::Glop,
            (252, 0) => Scope::Documentation,
            _ => Scope::AdHoc,
        },
        234 => Scope::UnicastPrefixBased,
        239 => match o[1] {
            255 => Scope::AdminLocalScope,
            252..=254 => Scope::AdminLocalScopeExpansion,
            192..=251 => Scope::AdminOrganizationLocal,
            _ => Scope::AdminReserved,
        },
        _ => Scope::Reserved,
    })
}

/// GLOP (RFC 3180): 233.X.Y.0/24 belongs to the 16-bit AS X*256+Y.
pub fn glop_as(group: Ipv4Addr) -> Option<u16> {
    let o = group.octets();
    (o[0] == 233 && o[1] <= 251).then(|| u16::from_be_bytes([o[1], o[2]]))
}

fn ipv6_scope_of_nibble(nibble: u8) -> Scope {
    match nibble {
        1 => Scope::InterfaceLocal,
        2 => Scope::LinkLocal,
        3 => Scope::RealmLocal,
        4 => Scope::AdminLocal,
        5 => Scope::SiteLocal,
        8 => Scope::OrganizationLocal,
        0xe => Scope::Global,
        0 | 0xf => Scope::Reserved,
        _ => Scope::Unassigned,
    }
}

/// The parts of an IPv6 group address beyond its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipv6GroupDetail {
    /// The 4-bit scope field (2 = link-local, e = global, ...).
    pub scope_nibble: u8,
    /// T flag: not permanently assigned by IANA.
    pub transient: bool,
    /// P flag: unicast-prefix-based (RFC 3306).
    pub prefix_based: bool,
    /// R flag: embedded RP (RFC 3956).
    pub embedded_rp: bool,
    /// The unicast prefix of a prefix-based group, e.g. `2001:db8:beef::/48`.
    pub unicast_prefix: Option<String>,
    /// The RP address carried by an embedded-RP group.
    pub rp_address: Option<Ipv6Addr>,
    /// For ff02::1:ffXX:XXXX: the low 24 bits a unicast address must end in
    /// (`xx:xxxx`) to listen on this solicited-node group.
    pub solicited_node_for: Option<String>,
    /// ff02::2:ffXX:XXXX node-information query group (RFC 4620).
    pub node_information: bool,
}

fn ipv6_detail(group: Ipv6Addr) -> Ipv6GroupDetail {
    let b = group.octets();
    let flags = b[1] >> 4;
    let scope_nibble = b[1] & 0x0f;
    let transient = flags & 0x1 != 0;
    let prefix_based = flags & 0x2 != 0;
    let embedded_rp = flags & 0x4 != 0;
    let plen = b[3];
    let prefix64 = u64::from_be_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]);
    let masked_prefix = |plen: u8| -> Option<u128> {
        if plen == 0 || plen > 64 {
            return None;
        }
        let mask = u64::MAX << (64 - u32::from(plen));
        Some(u128::from(prefix64 & mask) << 64)
    };
    let unicast_prefix = if prefix_based && !embedded_rp {
        masked_prefix(plen).map(|p| format!("{}/{}", Ipv6Addr::from(p), plen))
    } else {
        None
    };
    // RFC 3956 §3: the RP is the first plen bits of the prefix, zeros, then the 4-bit
    // RIID as the last bits. R is only valid with P and T set.
    let rp_address = if flags == 0x7 {
        masked_prefix(plen).map(|p| Ipv6Addr::from(p | u128::from(b[2] & 0x0f)))
    } else {
        None
    };
    let middle_zero = b.get(2..11).is_some_and(|m| m.iter().all(|&x| x == 0));
    let solicited_node_for = (b[1] == 0x02 && middle_zero && b[11] == 0x01 && b[12] == 0xff)
        .then(|| format!("{:02x}:{:02x}{:02x}", b[13], b[14], b[15]));
    let node_information = b[1] == 0x02 && middle_zero && b[11] == 0x02 && b[12] == 0xff;
    Ipv6GroupDetail {
        scope_nibble,
        transient,
        prefix_based,
        embedded_rp,
        unicast_prefix,
        rp_address,
        solicited_node_for,
        node_information,
    }
}

/// SSM (RFC 4607): ff3x::/32, i.e. P and T set with a zero prefix length.
fn ipv6_is_ssm(group: Ipv6Addr) -> bool {
    let b = group.octets();
    b[0] == 0xff && b[1] >> 4 == 0x3 && b[2] == 0 && b[3] == 0
}

// ---------------------------------------------------------------------------------
// Well-known groups

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
pub fn well_known_for_mac(mac: MacAddr) -> Vec<(IpAddr, &'static str)> {
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

// ---------------------------------------------------------------------------------
// Warnings

/// A trap or notable property of a group; `code` is stable, `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub code: WarningCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WarningCode {
    /// 224.0.0.0/24: RFC 4541 §2.1.2 makes snooping switches flood it to every port.
    LinkLocalUnconstrained,
    /// X.0.0.Y / X.128.0.Y outside 224.0.0.0/24: same MAC as 224.0.0.Y, so switches that
    /// snoop by MAC flood it too (HP/Cisco documentation, note §B3 rule 2).
    MacSharedWithLinkLocal,
    /// Same MAC as a different well-known group outside 224.0.0.0/24 (e.g. SSDP, or
    /// ff02::1:3 vs ff05::1:3): receivers of one get the other's frames at L2.
    MacSharedWithWellKnown,
    /// ff02::1 all-nodes: hosts never send MLD reports for it (RFC 3810 §6), so MLD
    /// snooping cannot constrain it.
    AllNodesUnconstrained,
    /// ff01::/16: interface-local, never sent on a link.
    InterfaceLocalOnly,
    /// 232/8: joining needs IGMPv3 (source-specific joins, RFC 4607).
    SsmRequiresIgmpv3,
    /// ff3x::/32: joining needs MLDv2.
    SsmRequiresMldv2,
    /// 239/8: administratively scoped (RFC 2365); must stay inside a boundary.
    AdminScoped,
    /// IANA-reserved space, or an IPv6 reserved scope/flag/group ID.
    Reserved,
    /// 233.252.0.0/24 or ff0X::db8:0:0/96 (RFC 6676): documentation only.
    DocumentationRange,
    /// R flag set without P and T, or a prefix length an RP cannot have (RFC 3956).
    InvalidEmbeddedRp,
}

impl WarningCode {
    pub fn code(self) -> &'static str {
        match self {
            WarningCode::LinkLocalUnconstrained => "link_local_unconstrained",
            WarningCode::MacSharedWithLinkLocal => "mac_shared_with_link_local",
            WarningCode::MacSharedWithWellKnown => "mac_shared_with_well_known",
            WarningCode::AllNodesUnconstrained => "all_nodes_unconstrained",
            WarningCode::InterfaceLocalOnly => "interface_local_only",
            WarningCode::SsmRequiresIgmpv3 => "ssm_requires_igmpv3",
            WarningCode::SsmRequiresMldv2 => "ssm_requires_mldv2",
            WarningCode::AdminScoped => "admin_scoped",
            WarningCode::Reserved => "reserved",
            WarningCode::DocumentationRange => "documentation_range",
            WarningCode::InvalidEmbeddedRp => "invalid_embedded_rp",
        }
    }
}

impl fmt::Display for WarningCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for WarningCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

fn warn(code: WarningCode, message: String) -> Warning {
    Warning { code, message }
}

fn named(group: IpAddr) -> String {
    match well_known_name(group) {
        Some(name) => format!("{group} ({name})"),
        None => group.to_string(),
    }
}

fn ipv4_warnings(g: Ipv4Addr, scope: Scope, mac: MacAddr, out: &mut Vec<Warning>) {
    let o = g.octets();
    if scope == Scope::LinkLocal {
        out.push(warn(
            WarningCode::LinkLocalUnconstrained,
            format!(
                "{g} is in 224.0.0.0/24: never routed and never constrained by IGMP \
                 snooping (RFC 4541), flooded to every port in the VLAN"
            ),
        ));
    } else if mac.0[3] == 0 && mac.0[4] == 0 {
        let twin = IpAddr::V4(Ipv4Addr::new(224, 0, 0, o[3]));
        out.push(warn(
            WarningCode::MacSharedWithLinkLocal,
            format!(
                "{g} maps to {mac}, the MAC of {}: switches that snoop by MAC may flood it \
                 to every port like 224.0.0.0/24; pick a group whose second and third \
                 octets are not 0.0 or 128.0",
                named(twin)
            ),
        ));
    }
    shared_with_well_known(IpAddr::V4(g), mac, out);
    match scope {
        Scope::Ssm => out.push(warn(
            WarningCode::SsmRequiresIgmpv3,
            format!(
                "{g} is in 232.0.0.0/8 (SSM, RFC 4607): receivers must join (S,G) with \
                 IGMPv3; IGMPv2 joins are ignored"
            ),
        )),
        Scope::AdminLocalScope
        | Scope::AdminLocalScopeExpansion
        | Scope::AdminOrganizationLocal
        | Scope::AdminReserved => {
            let extra = match scope {
                Scope::AdminReserved => {
                    "; this part of 239/8 is kept for scope expansion, \
                     239.192.0.0/14 is the organization-local space to use"
                }
                Scope::AdminLocalScopeExpansion => {
                    "; 239.252.0.0-239.254.255.255 is kept for the Local Scope to grow \
                     into, use 239.255.0.0/16 first"
                }
                _ => "",
            };
            out.push(warn(
                WarningCode::AdminScoped,
                format!(
                    "{g} is administratively scoped (RFC 2365): keep it inside a multicast \
                     boundary, the same group may mean something else elsewhere{extra}"
                ),
            ));
        }
        Scope::Reserved => out.push(warn(
            WarningCode::Reserved,
            format!("{g} is in IANA-reserved multicast space"),
        )),
        Scope::Documentation => out.push(warn(
            WarningCode::DocumentationRange,
            format!("{g} is MCAST-TEST-NET (233.252.0.0/24, RFC 6676), for documentation only"),
        )),
        _ => {}
    }
    if u32::from(g) == 0xE000_0000 {
        out.push(warn(
            WarningCode::Reserved,
            "224.0.0.0 is the reserved base address, never assigned to a group".to_string(),
        ));
    }
}

/// Other well-known groups on the same MAC. IPv4 groups whose twin is in 224.0.0.0/24
/// already got `mac_shared_with_link_local`, which names it.
fn shared_with_well_known(group: IpAddr, mac: MacAddr, out: &mut Vec<Warning>) {
    let others: Vec<String> = well_known_for_mac(mac)
        .into_iter()
        .filter(|(g, _)| *g != group)
        .filter(|(g, _)| match g {
            IpAddr::V4(v) => ipv4_scope(*v) != Some(Scope::LinkLocal),
            IpAddr::V6(_) => true,
        })
        .map(|(g, name)| format!("{g} ({name})"))
        .collect();
    if !others.is_empty() {
        out.push(warn(
            WarningCode::MacSharedWithWellKnown,
            format!(
                "{group} shares MAC {mac} with {}: receivers of either get both at layer 2",
                others.join(", ")
            ),
        ));
    }
}

fn ipv6_warnings(g: Ipv6Addr, d: &Ipv6GroupDetail, mac: MacAddr, out: &mut Vec<Warning>) {
    let b = g.octets();
    if g == Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1) {
        out.push(warn(
            WarningCode::AllNodesUnconstrained,
            "ff02::1 (All Nodes) is never reported by MLD (RFC 3810), so MLD snooping \
             cannot constrain it: flooded to every port"
                .to_string(),
        ));
    }
    if d.scope_nibble == 1 {
        out.push(warn(
            WarningCode::InterfaceLocalOnly,
            format!("{g} is interface-local: it never leaves the host"),
        ));
    }
    if ipv6_is_ssm(g) {
        out.push(warn(
            WarningCode::SsmRequiresMldv2,
            format!("{g} is in ff3x::/32 (SSM, RFC 4607): receivers must join (S,G) with MLDv2"),
        ));
    }
    let group_id_zero = b.get(2..).is_some_and(|r| r.iter().all(|&x| x == 0));
    if matches!(d.scope_nibble, 0 | 0xf) {
        out.push(warn(
            WarningCode::Reserved,
            format!("{g} uses reserved scope {:x} (RFC 4291)", d.scope_nibble),
        ));
    } else if group_id_zero {
        out.push(warn(
            WarningCode::Reserved,
            format!("{g} is a reserved multicast address, never assigned (RFC 4291)"),
        ));
    }
    if b[1] & 0x80 != 0 {
        out.push(warn(
            WarningCode::Reserved,
            format!("{g} sets the reserved high flag bit"),
        ));
    }
    if d.embedded_rp && d.rp_address.is_none() {
        out.push(warn(
            WarningCode::InvalidEmbeddedRp,
            format!(
                "{g} sets the R flag but is not a valid embedded-RP group (RFC 3956 needs \
                 flags 7 and a prefix length of 1-64)"
            ),
        ));
    }
    let documentation = b[1] >> 4 == 0
        && b.get(2..10).is_some_and(|m| m.iter().all(|&x| x == 0))
        && b[10] == 0x0d
        && b[11] == 0xb8;
    if documentation {
        out.push(warn(
            WarningCode::DocumentationRange,
            format!("{g} is in ff0X::db8:0:0/96 (RFC 6676), for documentation only"),
        ));
    }
    shared_with_well_known(IpAddr::V6(g), mac, out);
}

// ---------------------------------------------------------------------------------
// Classification

/// The address is not a multicast group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotMulticast(pub IpAddr);

impl fmt::Display for NotMulticast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) if a.is_broadcast() => write!(
                f,
                "{a} is the limited broadcast address (MAC ff:ff:ff:ff:ff:ff), not a multicast group"
            ),
            IpAddr::V4(a) => write!(f, "{a} is not a multicast group (IPv4 groups are 224.0.0.0/4)"),
            IpAddr::V6(a) => write!(f, "{a} is not a multicast group (IPv6 groups are ff00::/8)"),
        }
    }
}

impl std::error::Error for NotMulticast {}

/// Everything known about one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupInfo {
    pub group: IpAddr,
    pub mac: MacAddr,
    pub scope: Scope,
    /// True for SSM groups of either family (232/8, ff3x::/32).
    pub ssm: bool,
    /// AS number of a GLOP group.
    pub glop_as: Option<u16>,
    pub ipv6: Option<Ipv6GroupDetail>,
    pub name: Option<&'static str>,
    pub warnings: Vec<Warning>,
}

pub fn classify(group: IpAddr) -> Result<GroupInfo, NotMulticast> {
    let mac = group_mac(group).ok_or(NotMulticast(group))?;
    let mut warnings = Vec::new();
    let info = match group {
        IpAddr::V4(g) => {
            let scope = ipv4_scope(g).ok_or(NotMulticast(group))?;
            ipv4_warnings(g, scope, mac, &mut warnings);
            GroupInfo {
                group,
                mac,
                scope,
                ssm: scope == Scope::Ssm,
                glop_as: glop_as(g),
                ipv6: None,
                name: well_known_name(group),
                warnings,
            }
        }
        IpAddr::V6(g) => {
            let detail = ipv6_detail(g);
            ipv6_warnings(g, &detail, mac, &mut warnings);
            GroupInfo {
                group,
                mac,
                scope: ipv6_scope_of_nibble(detail.scope_nibble),
                ssm: ipv6_is_ssm(g),
                glop_as: None,
                ipv6: Some(detail),
                name: well_known_name(group),
                warnings,
            }
        }
    };
    Ok(info)
}

// ---------------------------------------------------------------------------------
// Reverse classification of a MAC

/// What a MAC address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacKind {
    Ipv4Multicast,
    Ipv6Multicast,
    HsrpV1,
    HsrpV2,
    HsrpIpv6,
    VrrpIpv4,
    VrrpIpv6,
    Glbp,
    Broadcast,
    /// IEEE/Cisco control addresses, and the non-IPv4 half of 01:00:5e.
    Reserved,
    /// Any other group address.
    Multicast,
    Unicast,
}

impl MacKind {
    pub fn code(self) -> &'static str {
        match self {
            MacKind::Ipv4Multicast => "ipv4_multicast",
            MacKind::Ipv6Multicast => "ipv6_multicast",
            MacKind::HsrpV1 => "hsrp_v1",
            MacKind::HsrpV2 => "hsrp_v2",
            MacKind::HsrpIpv6 => "hsrp_ipv6",
            MacKind::VrrpIpv4 => "vrrp_ipv4",
            MacKind::VrrpIpv6 => "vrrp_ipv6",
            MacKind::Glbp => "glbp",
            MacKind::Broadcast => "broadcast",
            MacKind::Reserved => "reserved",
            MacKind::Multicast => "multicast",
            MacKind::Unicast => "unicast",
        }
    }
}

impl fmt::Display for MacKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for MacKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// The outcome of a reverse lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MacInfo {
    pub mac: MacAddr,
    pub kind: MacKind,
    /// IPv4: all 32 candidates. IPv6: the well-known groups with these low 32 bits
    /// (or the solicited-node group). FHRP: the protocol's control group.
    pub groups: Vec<IpAddr>,
    /// HSRP group, VRRP VRID, GLBP group.
    pub group_id: Option<u16>,
    /// GLBP forwarder number (1-4).
    pub forwarder: Option<u8>,
    pub note: String,
}

/// IEEE 802.1Q / 802.3 reserved group addresses and Cisco control addresses. Sources:
/// IEEE 802.1Q (the 01:80:c2:00:00:0X block bridges never forward), IEEE 802.1AB (LLDP),
/// ISO 10589 (IS-IS), IEEE 1588 Annex F (PTP), Cisco CDP/PVST+/UplinkFast/CGMP
/// documentation; checked against the well-known address file (`wka`) of Wireshark 4.0.
const RESERVED_MACS: &[([u8; 6], &str)] = &[
    (
        [0x01, 0x80, 0xc2, 0, 0, 0x00],
        "STP/RSTP/MSTP BPDUs (IEEE 802.1D bridge group)",
    ),
    (
        [0x01, 0x80, 0xc2, 0, 0, 0x01],
        "IEEE 802.3 MAC Control (PAUSE)",
    ),
    (
        [0x01, 0x80, 0xc2, 0, 0, 0x02],
        "IEEE 802.3 Slow Protocols (LACP, Marker, OAM)",
    ),
    (
        [0x01, 0x80, 0xc2, 0, 0, 0x03],
        "IEEE 802.1X PAE (nearest non-TPMR bridge)",
    ),
    ([0x01, 0x80, 0xc2, 0, 0, 0x07], "MEF Forum E-LMI"),
    (
        [0x01, 0x80, 0xc2, 0, 0, 0x08],
        "Provider bridge group (IEEE 802.1ad STP)",
    ),
    ([0x01, 0x80, 0xc2, 0, 0, 0x0d], "Provider bridge MVRP"),
    (
        [0x01, 0x80, 0xc2, 0, 0, 0x0e],
        "LLDP (nearest bridge); also PTP peer delay",
    ),
    (
        [0x01, 0x80, 0xc2, 0, 0, 0x10],
        "IEEE 802.1 all-LANs bridge management group",
    ),
    ([0x01, 0x80, 0xc2, 0, 0, 0x14], "IS-IS All Level-1 ISs"),
    ([0x01, 0x80, 0xc2, 0, 0, 0x15], "IS-IS All Level-2 ISs"),
    ([0x01, 0x80, 0xc2, 0, 0, 0x20], "GMRP (IEEE 802.1D GARP)"),
    ([0x01, 0x80, 0xc2, 0, 0, 0x21], "GVRP/MVRP"),
    (
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc],
        "Cisco CDP / VTP / DTP / PAgP / UDLD",
    ),
    (
        [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcd],
        "Cisco PVST+ / Rapid-PVST+ BPDUs (SSTP)",
    ),
    (
        [0x01, 0x00, 0x0c, 0xcd, 0xcd, 0xcd],
        "Cisco STP UplinkFast dummy multicasts (also the gratuitous ARPs HSRP sends on takeover)",
    ),
    (
        [0x01, 0x00, 0x0c, 0xcd, 0xcd, 0xce],
        "Cisco VLAN bridge STP",
    ),
    (
        [0x01, 0x00, 0x0c, 0xcd, 0xcd, 0xd0],
        "Cisco GBPT (L2 protocol tunnelling)",
    ),
    ([0x01, 0x00, 0x0c, 0xdd, 0xdd, 0xdd], "Cisco CGMP"),
    ([0x01, 0x1b, 0x19, 0, 0, 0], "PTP (IEEE 1588) over Ethernet"),
];

fn fhrp_control(a: [u8; 4]) -> Vec<IpAddr> {
    vec![IpAddr::V4(Ipv4Addr::from(a))]
}

/// Classifies a MAC: multicast mapping, FHRP virtual MAC, control address or unicast.
pub fn classify_mac(mac: MacAddr) -> MacInfo {
    let [b0, b1, b2, b3, b4, b5] = mac.0;
    let info = |kind, groups, group_id: Option<u16>, note: String| MacInfo {
        mac,
        kind,
        groups,
        group_id,
        forwarder: None,
        note,
    };
    if mac.is_broadcast() {
        return info(
            MacKind::Broadcast,
            Vec::new(),
            None,
            "Ethernet broadcast".into(),
        );
    }
    if let Some(c) = ipv4_candidates(mac) {
        return info(
            MacKind::Ipv4Multicast,
            c.iter().copied().map(IpAddr::V4).collect(),
            None,
            format!(
                "IPv4 multicast (RFC 1112): 32 groups share this MAC, first octet 224-239 and \
                 second octet {b3} or {}",
                u16::from(b3) + 128
            ),
        );
    }
    if [b0, b1, b2] == [0x01, 0x00, 0x5e] {
        let note = match b3 {
            0x80..=0x8f => "MPLS multicast (RFC 5332, RFC 7042), not an IPv4 mapping",
            0x90 if b4 == 0x10 => "IANA documentation range (RFC 7042), not an IPv4 mapping",
            _ => "IANA OUI 01:00:5e upper half, unassigned; not an IPv4 mapping",
        };
        return info(MacKind::Reserved, Vec::new(), None, note.into());
    }
    if [b0, b1] == [0x33, 0x33] {
        let wk: Vec<IpAddr> = well_known_for_mac(mac)
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        let note = if b2 == 0xff {
            format!(
                "IPv6 multicast (RFC 2464): solicited-node group for unicast addresses \
                 ending in {b3:02x}:{b4:02x}{b5:02x}; any group ending in \
                 {b2:02x}{b3:02x}:{b4:02x}{b5:02x} maps here"
            )
        } else {
            format!(
                "IPv6 multicast (RFC 2464): any group ending in {b2:02x}{b3:02x}:{b4:02x}{b5:02x} \
                 maps here, the upper 96 bits are lost"
            )
        };
        return info(MacKind::Ipv6Multicast, wk, None, note);
    }
    if [b0, b1, b2, b3, b4] == [0x00, 0x00, 0x0c, 0x07, 0xac] {
        return info(
            MacKind::HsrpV1,
            fhrp_control([224, 0, 0, 2]),
            Some(u16::from(b5)),
            format!("HSRPv1 virtual MAC, group {b5} (0x{b5:02x}); hellos to 224.0.0.2 UDP 1985"),
        );
    }
    if [b0, b1, b2, b3] == [0x00, 0x00, 0x0c, 0x9f] && b4 & 0xf0 == 0xf0 {
        let g = u16::from_be_bytes([b4 & 0x0f, b5]);
        return info(
            MacKind::HsrpV2,
            fhrp_control([224, 0, 0, 102]),
            Some(g),
            format!("HSRPv2 virtual MAC, group {g} (0x{g:03x}); hellos to 224.0.0.102 UDP 1985"),
        );
    }
    if [b0, b1, b2, b3] == [0x00, 0x05, 0x73, 0xa0] && b4 & 0xf0 == 0 {
        let g = u16::from_be_bytes([b4, b5]);
        return info(
            MacKind::HsrpIpv6,
            vec![IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x66))],
            Some(g),
            format!(
                "HSRP for IPv6 virtual MAC, group {g} (0x{g:03x}); hellos to ff02::66 UDP 2029"
            ),
        );
    }
    if [b0, b1, b2, b3, b4] == [0x00, 0x00, 0x5e, 0x00, 0x01] {
        return info(
            MacKind::VrrpIpv4,
            fhrp_control([224, 0, 0, 18]),
            Some(u16::from(b5)),
            format!(
                "VRRP IPv4 virtual MAC (RFC 5798), VRID {b5}; also CARP VHID {b5}, \
                 which collides with VRRP VRID {b5} on the same LAN"
            ),
        );
    }
    if [b0, b1, b2, b3, b4] == [0x00, 0x00, 0x5e, 0x00, 0x02] {
        return info(
            MacKind::VrrpIpv6,
            vec![IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12))],
            Some(u16::from(b5)),
            format!("VRRP IPv6 virtual MAC (RFC 5798), VRID {b5}"),
        );
    }
    if [b0, b1, b2] == [0x00, 0x07, 0xb4] && b3 & 0xfc == 0 {
        let g = u16::from_be_bytes([b3 & 0x03, b4]);
        let mut out = info(
            MacKind::Glbp,
            fhrp_control([224, 0, 0, 102]),
            Some(g),
            format!("GLBP virtual MAC, group {g}, forwarder {b5}; hellos to 224.0.0.102 UDP 3222"),
        );
        out.forwarder = Some(b5);
        return out;
    }
    if let Some((_, what)) = RESERVED_MACS.iter().find(|(m, _)| *m == mac.0) {
        return info(MacKind::Reserved, Vec::new(), None, (*what).to_string());
    }
    if [b0, b1, b2, b3] == [0x01, 0x00, 0x0c, 0x00] && b4 == 0x00 {
        return info(
            MacKind::Reserved,
            Vec::new(),
            None,
            "Cisco ISL frame destination (01:00:0c:00:00:xx)".into(),
        );
    }
    if [b0, b1, b2, b3, b4] == [0x01, 0x80, 0xc2, 0x00, 0x00] && b5 <= 0x0f {
        return info(
            MacKind::Reserved,
            Vec::new(),
            None,
            "IEEE 802.1 reserved link-local group (01:80:c2:00:00:00-0f), never forwarded by bridges"
                .into(),
        );
    }
    if mac.is_group() {
        return info(
            MacKind::Multicast,
            Vec::new(),
            None,
            "group address outside the IP mappings and known control addresses".into(),
        );
    }
    let note = if b0 & 0x02 != 0 {
        "unicast, locally administered"
    } else {
        "unicast, globally unique (OUI assigned)"
    };
    info(MacKind::Unicast, Vec::new(), None, note.into())
}

// ---------------------------------------------------------------------------------
// Collisions

/// Groups that share one MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collision {
    pub mac: MacAddr,
    pub groups: Vec<IpAddr>,
}

/// Accumulates groups (from a plan, from /proc, or from frames in a capture) and reports
/// the MACs that more than one distinct group maps to.
#[derive(Debug, Default, Clone)]
pub struct MacCollisions {
    by_mac: BTreeMap<MacAddr, Vec<IpAddr>>,
}

impl MacCollisions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a group and says whether it was recorded: non-multicast addresses and
    /// interface-local IPv6 groups (ff01::/16, which never reach a link, so cannot
    /// collide on one) are left out.
    pub fn add(&mut self, group: IpAddr) -> bool {
        let Some(mac) = group_mac(group) else {
            return false;
        };
        if let IpAddr::V6(g) = group {
            if g.octets()[1] & 0x0f == 1 {
                return false;
            }
        }
        let groups = self.by_mac.entry(mac).or_default();
        if !groups.contains(&group) {
            groups.push(group);
        }
        true
    }

    /// Collisions ordered by MAC, groups within one in numeric order.
    pub fn collisions(&self) -> Vec<Collision> {
        self.by_mac
            .iter()
            .filter(|(_, g)| g.len() > 1)
            .map(|(mac, groups)| {
                let mut groups = groups.clone();
                groups.sort();
                Collision { mac: *mac, groups }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    fn codes(group: &str) -> Vec<&'static str> {
        classify(ip(group))
            .unwrap()
            .warnings
            .iter()
            .map(|w| w.code.code())
            .collect()
    }

    #[test]
    fn mac_notations() {
        let want = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x05]);
        for s in [
            "01:00:5e:00:00:05",
            "01-00-5E-00-00-05",
            "0100.5e00.0005",
            "01005e000005",
            " 1:0:5e:0:0:5 ",
        ] {
            assert_eq!(parse_mac(s), Ok(want), "{s}");
        }
        assert_eq!(want.to_string(), "01:00:5e:00:00:05");
        assert_eq!(
            parse_mac("01:00:5e:00:05"),
            Err(MacParseError::WrongOctetCount(5))
        );
        assert_eq!(
            parse_mac("01:00:5e:00:00:05:07"),
            Err(MacParseError::WrongOctetCount(7))
        );
        assert_eq!(
            parse_mac("01005e00000"),
            Err(MacParseError::WrongDigitCount(11))
        );
        assert_eq!(
            parse_mac("0100.5e00.005"),
            Err(MacParseError::BadDottedGroups)
        );
        assert_eq!(
            parse_mac("01:00:5g:00:00:05"),
            Err(MacParseError::BadHex("5g".into()))
        );
        assert_eq!(
            parse_mac("01:00:5e:00:00:005"),
            Err(MacParseError::BadHex("005".into()))
        );
        assert_eq!(parse_mac(""), Err(MacParseError::WrongDigitCount(0)));
        assert_eq!(
            parse_mac("01:00-5e:00:00:05"),
            Err(MacParseError::WrongOctetCount(5))
        );
        assert!(parse_mac("é1005e000005").is_err());
    }

    #[test]
    fn ipv4_forward_mapping_table() {
        for (g, m) in [
            ("224.0.0.1", "01:00:5e:00:00:01"),
            ("224.0.0.2", "01:00:5e:00:00:02"),
            ("224.0.0.5", "01:00:5e:00:00:05"),
            ("224.0.0.10", "01:00:5e:00:00:0a"),
            ("224.0.0.18", "01:00:5e:00:00:12"),
            ("224.0.0.102", "01:00:5e:00:00:66"),
            ("224.0.0.251", "01:00:5e:00:00:fb"),
            ("224.0.1.39", "01:00:5e:00:01:27"),
            ("224.0.1.40", "01:00:5e:00:01:28"),
            ("224.0.1.129", "01:00:5e:00:01:81"),
            ("239.255.255.250", "01:00:5e:7f:ff:fa"),
            ("239.255.255.253", "01:00:5e:7f:ff:fd"),
            ("239.0.0.1", "01:00:5e:00:00:01"),
            ("239.128.0.1", "01:00:5e:00:00:01"),
            ("224.0.0.0", "01:00:5e:00:00:00"),
            ("239.255.255.255", "01:00:5e:7f:ff:ff"),
            ("232.129.2.3", "01:00:5e:01:02:03"),
        ] {
            assert_eq!(group_mac(ip(g)), Some(mac(m)), "{g}");
        }
        for not in [
            "223.255.255.255",
            "240.0.0.0",
            "255.255.255.255",
            "10.1.1.1",
        ] {
            assert_eq!(group_mac(ip(not)), None, "{not}");
        }
    }

    #[test]
    fn ipv6_forward_mapping_uses_low_32_bits_verbatim() {
        for (g, m) in [
            ("ff02::1", "33:33:00:00:00:01"),
            ("ff02::2", "33:33:00:00:00:02"),
            ("ff02::16", "33:33:00:00:00:16"),
            ("ff02::66", "33:33:00:00:00:66"),
            ("ff02::fb", "33:33:00:00:00:fb"),
            ("ff02::1:2", "33:33:00:01:00:02"),
            ("ff02::1:3", "33:33:00:01:00:03"),
            ("ff05::1:3", "33:33:00:01:00:03"),
            ("ff02::1:ff12:3456", "33:33:ff:12:34:56"),
            ("ff3e::8000:1234", "33:33:80:00:12:34"),
            ("ff0e::ffff:ffff", "33:33:ff:ff:ff:ff"),
        ] {
            assert_eq!(group_mac(ip(g)), Some(mac(m)), "{g}");
        }
        assert_eq!(group_mac(ip("fe80::1")), None);
        assert_eq!(group_mac(ip("2001:db8::1")), None);
    }

    #[test]
    fn all_32_candidates_for_ospf_mac() {
        let c = ipv4_candidates(mac("01:00:5e:00:00:05")).unwrap();
        let got: Vec<String> = c.iter().map(|a| a.to_string()).collect();
        let mut want = Vec::new();
        for first in 224..=239 {
            want.push(format!("{first}.0.0.5"));
            want.push(format!("{first}.128.0.5"));
        }
        assert_eq!(got, want);
        assert_eq!(got.len(), 32);
        assert_eq!(got[0], "224.0.0.5");
        assert_eq!(got[1], "224.128.0.5");
        assert_eq!(got[31], "239.128.0.5");
    }

    #[test]
    fn all_32_candidates_for_ssdp_mac_written_out() {
        let c = ipv4_candidates(mac("0100.5e7f.fffa")).unwrap();
        let got: Vec<String> = c.iter().map(|a| a.to_string()).collect();
        let want = [
            "224.127.255.250",
            "224.255.255.250",
            "225.127.255.250",
            "225.255.255.250",
            "226.127.255.250",
            "226.255.255.250",
            "227.127.255.250",
            "227.255.255.250",
            "228.127.255.250",
            "228.255.255.250",
            "229.127.255.250",
            "229.255.255.250",
            "230.127.255.250",
            "230.255.255.250",
            "231.127.255.250",
            "231.255.255.250",
            "232.127.255.250",
            "232.255.255.250",
            "233.127.255.250",
            "233.255.255.250",
            "234.127.255.250",
            "234.255.255.250",
            "235.127.255.250",
            "235.255.255.250",
            "236.127.255.250",
            "236.255.255.250",
            "237.127.255.250",
            "237.255.255.250",
            "238.127.255.250",
            "238.255.255.250",
            "239.127.255.250",
            "239.255.255.250",
        ];
        assert_eq!(got, want);
        // Every candidate maps back to the MAC.
        for g in c {
            assert_eq!(ipv4_group_mac(g), Some(mac("01:00:5e:7f:ff:fa")));
        }
    }

    #[test]
    fn upper_half_of_01005e_is_not_ipv4() {
        assert_eq!(ipv4_candidates(mac("01:00:5e:80:00:01")), None);
        assert_eq!(ipv4_candidates(mac("01:00:5f:00:00:01")), None);
        let i = classify_mac(mac("01:00:5e:80:00:01"));
        assert_eq!(i.kind, MacKind::Reserved);
        assert!(i.note.starts_with("MPLS multicast"));
        assert!(i.groups.is_empty());
        let i = classify_mac(mac("01:00:5e:90:10:00"));
        assert_eq!(i.kind, MacKind::Reserved);
        assert!(i.note.starts_with("IANA documentation"));
    }

    #[test]
    fn ipv4_scopes() {
        for (g, s) in [
            ("224.0.0.0", Scope::LinkLocal),
            ("224.0.0.255", Scope::LinkLocal),
            ("224.0.1.1", Scope::InternetworkControl),
            ("224.0.2.0", Scope::AdHoc),
            ("224.0.255.255", Scope::AdHoc),
            ("224.1.0.1", Scope::Reserved),
            ("224.2.127.254", Scope::SdpSap),
            ("224.3.0.1", Scope::AdHoc),
            ("224.4.255.255", Scope::AdHoc),
            ("224.5.0.0", Scope::Reserved),
            ("231.255.255.255", Scope::Reserved),
            ("232.1.1.1", Scope::Ssm),
            ("233.0.0.1", Scope::Glop),
            ("233.251.255.255", Scope::Glop),
            ("233.252.0.1", Scope::Documentation),
            ("233.252.1.1", Scope::AdHoc),
            ("233.255.255.255", Scope::AdHoc),
            ("234.1.2.3", Scope::UnicastPrefixBased),
            ("235.0.0.1", Scope::Reserved),
            ("238.255.255.255", Scope::Reserved),
            ("239.0.0.1", Scope::AdminReserved),
            ("239.191.255.255", Scope::AdminReserved),
            ("239.192.0.1", Scope::AdminOrganizationLocal),
            ("239.251.255.255", Scope::AdminOrganizationLocal),
            ("239.252.0.1", Scope::AdminLocalScopeExpansion),
            ("239.254.255.255", Scope::AdminLocalScopeExpansion),
            ("239.255.0.1", Scope::AdminLocalScope),
            ("239.255.255.250", Scope::AdminLocalScope),
        ] {
            assert_eq!(classify(ip(g)).unwrap().scope, s, "{g}");
        }
        assert_eq!(
            Scope::AdminOrganizationLocal.code(),
            "admin_organization_local"
        );
    }

    #[test]
    fn glop_as_decoding() {
        assert_eq!(glop_as(Ipv4Addr::new(233, 252, 0, 1)), None);
        assert_eq!(glop_as(Ipv4Addr::new(233, 0, 0, 1)), Some(0));
        // AS 5662 = 0x161e = 22.30 (the RFC 3180 example).
        assert_eq!(glop_as(Ipv4Addr::new(233, 22, 30, 7)), Some(5662));
        assert_eq!(glop_as(Ipv4Addr::new(233, 251, 255, 0)), Some(64511));
        assert_eq!(glop_as(Ipv4Addr::new(232, 22, 30, 7)), None);
        let info = classify(ip("233.252.0.9")).unwrap();
        assert_eq!(info.glop_as, None);
        let info = classify(ip("233.1.2.3")).unwrap();
        assert_eq!((info.scope, info.glop_as), (Scope::Glop, Some(258)));
    }

    #[test]
    fn ipv6_scopes_and_flags() {
        for (g, s) in [
            ("ff01::1", Scope::InterfaceLocal),
            ("ff02::1", Scope::LinkLocal),
            ("ff03::1", Scope::RealmLocal),
            ("ff04::1", Scope::AdminLocal),
            ("ff05::1:3", Scope::SiteLocal),
            ("ff08::1", Scope::OrganizationLocal),
            ("ff0e::101", Scope::Global),
            ("ff00::1", Scope::Reserved),
            ("ff0f::1", Scope::Reserved),
            ("ff06::1", Scope::Unassigned),
            ("ff1e::1234", Scope::Global),
        ] {
            assert_eq!(classify(ip(g)).unwrap().scope, s, "{g}");
        }
        let d = classify(ip("ff1e::1234")).unwrap().ipv6.unwrap();
        assert!(d.transient && !d.prefix_based && !d.embedded_rp);
        assert_eq!(d.scope_nibble, 0xe);

        let ssm = classify(ip("ff3e::8000:1")).unwrap();
        assert!(ssm.ssm);
        assert_eq!(ssm.scope, Scope::Global);
        assert_eq!(
            codes("ff3e::8000:1"),
            vec!["ssm_requires_mldv2"],
            "SSM group"
        );
        // Prefix-based (RFC 3306 example layout): ff3e:0030:2001:0db8:beef::1234 /48.
        let pb = classify(ip("ff3e:30:2001:db8:beef::1234")).unwrap();
        assert!(!pb.ssm);
        let d = pb.ipv6.unwrap();
        assert!(d.prefix_based && d.transient && !d.embedded_rp);
        assert_eq!(d.unicast_prefix.as_deref(), Some("2001:db8:beef::/48"));
        assert_eq!(d.rp_address, None);
    }

    #[test]
    fn embedded_rp() {
        // RFC 3956 §3 example: ff7e:0140:1234:5678:9abc:def0:0000:2345 -> RP
        // 1234:5678:9abc::1 (prefix /64 = 0x40, RIID 1).
        let d = classify(ip("ff7e:140:1234:5678:9abc:def0:0:2345"))
            .unwrap()
            .ipv6
            .unwrap();
        assert!(d.embedded_rp && d.prefix_based && d.transient);
        assert_eq!(
            d.rp_address,
            Some("1234:5678:9abc:def0::1".parse().unwrap())
        );
        // /32 prefix: only the first 32 bits survive.
        let d = classify(ip("ff7e:520:2001:db8:ffff::42"))
            .unwrap()
            .ipv6
            .unwrap();
        assert_eq!(d.rp_address, Some("2001:db8::5".parse().unwrap()));
        // Prefix length 65 is invalid.
        assert_eq!(
            codes("ff7e:141:1234:5678:9abc:def0:0:2345"),
            vec!["invalid_embedded_rp"]
        );
        // R without P and T.
        assert_eq!(codes("ff4e::1234"), vec!["invalid_embedded_rp"]);
    }

    #[test]
    fn solicited_node_and_node_information() {
        let info = classify(ip("ff02::1:ff12:3456")).unwrap();
        assert_eq!(info.name, Some("Solicited-Node"));
        assert_eq!(info.scope, Scope::LinkLocal);
        assert_eq!(
            info.ipv6.unwrap().solicited_node_for.as_deref(),
            Some("12:3456")
        );
        assert!(info.warnings.is_empty(), "{:?}", info.warnings);
        let info = classify(ip("ff02::2:ff00:1")).unwrap();
        assert_eq!(info.name, Some("Node Information Queries"));
        assert!(info.ipv6.unwrap().node_information);
        // Not solicited-node: wrong scope.
        let info = classify(ip("ff05::1:ff12:3456")).unwrap();
        assert_eq!(info.name, None);
        assert_eq!(info.ipv6.unwrap().solicited_node_for, None);
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

    #[test]
    fn link_local_and_shared_mac_warnings() {
        assert_eq!(codes("224.0.0.5"), vec!["link_local_unconstrained"]);
        assert_eq!(
            codes("239.0.0.1"),
            vec!["mac_shared_with_link_local", "admin_scoped"]
        );
        assert_eq!(
            codes("239.128.0.1"),
            vec!["mac_shared_with_link_local", "admin_scoped"]
        );
        assert_eq!(
            codes("225.0.0.5"),
            vec!["mac_shared_with_link_local", "reserved"]
        );
        let w = &classify(ip("225.0.0.5")).unwrap().warnings[0];
        assert_eq!(
            w.message,
            "225.0.0.5 maps to 01:00:5e:00:00:05, the MAC of 224.0.0.5 (OSPF AllSPFRouters): \
             switches that snoop by MAC may flood it to every port like 224.0.0.0/24; pick \
             a group whose second and third octets are not 0.0 or 128.0"
        );
        // 232.0.0.1 is SSM and also on 224.0.0.1's MAC.
        assert_eq!(
            codes("232.0.0.1"),
            vec!["mac_shared_with_link_local", "ssm_requires_igmpv3"]
        );
        // 224.0.1.1 (NTP) is routable and its MAC is 01:00:5e:00:01:01: no trap.
        assert!(codes("224.0.1.1").is_empty());
        assert_eq!(codes("239.192.1.1"), vec!["admin_scoped"]);
        assert_eq!(codes("239.1.0.0"), vec!["admin_scoped"]);
        assert_eq!(codes("233.22.30.7"), Vec::<&str>::new());
        assert_eq!(codes("233.252.0.7"), vec!["documentation_range"]);
        assert_eq!(
            codes("224.0.0.0"),
            vec!["link_local_unconstrained", "reserved"]
        );
    }

    #[test]
    fn shared_with_well_known_warnings() {
        assert_eq!(
            codes("239.127.255.250"),
            vec!["mac_shared_with_well_known", "admin_scoped"]
        );
        let w = &classify(ip("239.127.255.250")).unwrap().warnings[0];
        assert_eq!(
            w.message,
            "239.127.255.250 shares MAC 01:00:5e:7f:ff:fa with 239.255.255.250 (SSDP): \
             receivers of either get both at layer 2"
        );
        // The well-known group itself does not warn about itself.
        assert_eq!(codes("239.255.255.250"), vec!["admin_scoped"]);
        // IPv6: ff02::1:3 and ff05::1:3 share 33:33:00:01:00:03.
        assert_eq!(codes("ff02::1:3"), vec!["mac_shared_with_well_known"]);
        let w = &classify(ip("ff02::1:3")).unwrap().warnings[0];
        assert_eq!(
            w.message,
            "ff02::1:3 shares MAC 33:33:00:01:00:03 with ff05::1:3 (All DHCPv6 Servers \
             (site-local)): receivers of either get both at layer 2"
        );
        assert_eq!(codes("ff02::16"), Vec::<&str>::new());
    }

    #[test]
    fn ipv6_warnings() {
        assert_eq!(
            codes("ff02::1"),
            vec!["all_nodes_unconstrained", "mac_shared_with_well_known"]
        );
        assert_eq!(
            codes("ff01::2"),
            vec!["interface_local_only", "mac_shared_with_well_known"]
        );
        assert_eq!(codes("ff00::1234"), vec!["reserved"]);
        assert_eq!(codes("ff0e::"), vec!["reserved"]);
        assert_eq!(codes("ff8e::1234"), vec!["reserved"]);
        assert_eq!(codes("ff0e::db8:1234:5678"), vec!["documentation_range"]);
        // Its low 32 bits are those of ff02::1:2, hence the second warning.
        assert_eq!(
            codes("ff0e::db8:1:2"),
            vec!["documentation_range", "mac_shared_with_well_known"]
        );
    }

    #[test]
    fn not_multicast_is_an_error() {
        let e = classify(ip("10.0.0.1")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "10.0.0.1 is not a multicast group (IPv4 groups are 224.0.0.0/4)"
        );
        let e = classify(ip("255.255.255.255")).unwrap_err();
        assert!(e.to_string().contains("broadcast"));
        assert!(classify(ip("240.0.0.0")).is_err());
        assert!(classify(ip("223.255.255.255")).is_err());
        assert!(classify(ip("fe80::1")).is_err());
    }

    #[test]
    fn reverse_fhrp_macs() {
        let i = classify_mac(mac("0000.0c07.ac0a"));
        assert_eq!((i.kind, i.group_id), (MacKind::HsrpV1, Some(10)));
        assert_eq!(i.groups, vec![ip("224.0.0.2")]);
        let i = classify_mac(mac("00:00:0c:9f:f0:0a"));
        assert_eq!((i.kind, i.group_id), (MacKind::HsrpV2, Some(10)));
        let i = classify_mac(mac("00:00:0c:9f:ff:ff"));
        assert_eq!((i.kind, i.group_id), (MacKind::HsrpV2, Some(4095)));
        assert_eq!(
            i.note,
            "HSRPv2 virtual MAC, group 4095 (0xfff); hellos to 224.0.0.102 UDP 1985"
        );
        // 00:00:0c:9f:e0:01 is not in the HSRPv2 range.
        assert_eq!(
            classify_mac(mac("00:00:0c:9f:e0:01")).kind,
            MacKind::Unicast
        );
        let i = classify_mac(mac("00-05-73-a0-0f-ff"));
        assert_eq!((i.kind, i.group_id), (MacKind::HsrpIpv6, Some(4095)));
        assert_eq!(i.groups, vec![ip("ff02::66")]);
        assert_eq!(
            classify_mac(mac("00:05:73:a0:10:00")).kind,
            MacKind::Unicast
        );
        let i = classify_mac(mac("00:00:5e:00:01:07"));
        assert_eq!((i.kind, i.group_id), (MacKind::VrrpIpv4, Some(7)));
        assert!(i.note.contains("CARP"));
        let i = classify_mac(mac("00:00:5e:00:02:ff"));
        assert_eq!((i.kind, i.group_id), (MacKind::VrrpIpv6, Some(255)));
        assert_eq!(i.groups, vec![ip("ff02::12")]);
        // GLBP: 6 zero bits + 10-bit group, then forwarder.
        let i = classify_mac(mac("00:07:b4:03:ff:02"));
        assert_eq!(
            (i.kind, i.group_id, i.forwarder),
            (MacKind::Glbp, Some(1023), Some(2))
        );
        let i = classify_mac(mac("0007.b400.0101"));
        assert_eq!(
            (i.kind, i.group_id, i.forwarder),
            (MacKind::Glbp, Some(1), Some(1))
        );
        assert_eq!(
            classify_mac(mac("00:07:b4:04:00:01")).kind,
            MacKind::Unicast
        );
    }

    #[test]
    fn reverse_control_broadcast_unicast() {
        for (m, note_start) in [
            ("01:80:c2:00:00:00", "STP"),
            ("01:80:c2:00:00:02", "IEEE 802.3 Slow"),
            ("01:80:c2:00:00:0e", "LLDP"),
            ("01:80:c2:00:00:05", "IEEE 802.1 reserved"),
            ("01:00:0c:cc:cc:cc", "Cisco CDP"),
            ("01:00:0c:cc:cc:cd", "Cisco PVST+"),
            ("01:00:0c:cd:cd:cd", "Cisco STP UplinkFast"),
            ("01:00:0c:dd:dd:dd", "Cisco CGMP"),
            ("01:00:0c:00:00:00", "Cisco ISL"),
        ] {
            let i = classify_mac(mac(m));
            assert_eq!(i.kind, MacKind::Reserved, "{m}");
            assert!(i.note.starts_with(note_start), "{m}: {}", i.note);
        }
        assert_eq!(
            classify_mac(mac("ff:ff:ff:ff:ff:ff")).kind,
            MacKind::Broadcast
        );
        let i = classify_mac(mac("00:1c:73:00:00:99"));
        assert_eq!(i.kind, MacKind::Unicast);
        assert_eq!(i.note, "unicast, globally unique (OUI assigned)");
        assert_eq!(
            classify_mac(mac("02:00:00:00:00:01")).note,
            "unicast, locally administered"
        );
        assert_eq!(
            classify_mac(mac("03:bf:0a:00:00:01")).kind,
            MacKind::Multicast
        );
    }

    #[test]
    fn reverse_multicast_macs() {
        let i = classify_mac(mac("01:00:5e:00:00:05"));
        assert_eq!(i.kind, MacKind::Ipv4Multicast);
        assert_eq!(i.groups.len(), 32);
        assert_eq!(i.groups[31], ip("239.128.0.5"));
        assert_eq!(
            i.note,
            "IPv4 multicast (RFC 1112): 32 groups share this MAC, first octet 224-239 and \
             second octet 0 or 128"
        );
        let i = classify_mac(mac("33:33:00:00:00:01"));
        assert_eq!(i.kind, MacKind::Ipv6Multicast);
        assert_eq!(i.groups, vec![ip("ff01::1"), ip("ff02::1")]);
        let i = classify_mac(mac("33:33:00:01:00:03"));
        assert_eq!(i.groups, vec![ip("ff02::1:3"), ip("ff05::1:3")]);
        let i = classify_mac(mac("33:33:ff:12:34:56"));
        assert_eq!(i.groups, vec![ip("ff02::1:ff12:3456")]);
        assert_eq!(
            i.note,
            "IPv6 multicast (RFC 2464): solicited-node group for unicast addresses ending \
             in 12:3456; any group ending in ff12:3456 maps here"
        );
        let i = classify_mac(mac("33:33:00:00:00:fb"));
        assert_eq!(i.groups, vec![ip("ff02::fb")]);
        assert_eq!(
            classify_mac(mac("33:33:80:00:00:01")).groups,
            Vec::<IpAddr>::new()
        );
    }

    #[test]
    fn collisions_accumulator() {
        let mut c = MacCollisions::new();
        for g in [
            "239.1.1.1",
            "239.129.1.1",
            "225.1.1.1",
            "239.1.1.1",
            "239.1.1.2",
        ] {
            assert!(c.add(ip(g)));
        }
        assert!(!c.add(ip("10.0.0.1")));
        assert!(!c.add(ip("ff01::1")));
        assert!(c.add(ip("ff02::1")));
        c.add(ip("ff02::1:3"));
        c.add(ip("ff05::1:3"));
        let got = c.collisions();
        assert_eq!(
            got,
            vec![
                Collision {
                    mac: mac("01:00:5e:01:01:01"),
                    groups: vec![ip("225.1.1.1"), ip("239.1.1.1"), ip("239.129.1.1")],
                },
                Collision {
                    mac: mac("33:33:00:01:00:03"),
                    groups: vec![ip("ff02::1:3"), ip("ff05::1:3")],
                },
            ]
        );
    }
    /// (IP destination, Ethernet destination) pairs as tshark 4.0 shows them in the
    /// captures of shared/pcaps/multicast and fhrp (arkime__igmp, pcapplusplus__IgmpPackets,
    /// suricata-verify__wireshark-wiki-IGMP-dataset, tcpdump__IGMP_V1/V2,
    /// tcpdump__PIM-SM_join_prune, zeek__icmp6-nd-options, networklessons__hsrpv2-election,
    /// ndpi__hsrp2_ipv6, libpcap__vrrp): the senders' NICs applied the same mapping.
    #[test]
    fn forward_mapping_matches_captured_frames() {
        for (group, eth_dst) in [
            ("224.0.0.22", "01:00:5e:00:00:16"),
            ("239.5.1.1", "01:00:5e:05:01:01"),
            ("239.7.3.3", "01:00:5e:07:03:03"),
            ("224.0.0.252", "01:00:5e:00:00:fc"),
            ("224.0.0.25", "01:00:5e:00:00:19"),
            ("224.0.1.24", "01:00:5e:00:01:18"),
            ("224.0.1.40", "01:00:5e:00:01:28"),
            ("224.0.1.60", "01:00:5e:00:01:3c"),
            ("239.255.255.254", "01:00:5e:7f:ff:fe"),
            ("225.10.10.10", "01:00:5e:0a:0a:0a"),
            ("224.0.0.13", "01:00:5e:00:00:0d"),
            ("224.0.0.102", "01:00:5e:00:00:66"),
            ("224.0.0.18", "01:00:5e:00:00:12"),
            ("ff02::16", "33:33:00:00:00:16"),
            ("ff02::1:3", "33:33:00:01:00:03"),
            ("ff02::1:ff0e:4c67", "33:33:ff:0e:4c:67"),
            ("ff02::1:fff5:0", "33:33:ff:f5:00:00"),
            ("ff02::66", "33:33:00:00:00:66"),
            ("ff02::12", "33:33:00:00:00:12"),
        ] {
            assert_eq!(group_mac(ip(group)), Some(mac(eth_dst)), "{group}");
        }
    }

    /// Virtual MACs as source addresses next to the group/VRID tshark decodes from the
    /// same frame: ndpi__hsrp0 (hsrp.group), networklessons__hsrpv2-election and
    /// ndpi__hsrp2_ipv6 (hsrp2.group), libpcap__vrrp and ndpi__vrrp3 (vrrp.virt_rtr_id),
    /// packetlife__GLBP_election (glbp.group, glbp.reqresp.forwarder).
    #[test]
    fn fhrp_macs_match_captured_groups() {
        for (src, kind, id, fwd) in [
            ("00:00:0c:07:ac:0a", MacKind::HsrpV1, 10, None),
            ("00:00:0c:07:ac:0d", MacKind::HsrpV1, 13, None),
            ("00:00:0c:9f:f0:01", MacKind::HsrpV2, 1, None),
            ("00:05:73:a0:00:10", MacKind::HsrpIpv6, 16, None),
            ("00:00:5e:00:01:2a", MacKind::VrrpIpv4, 42, None),
            ("00:00:5e:00:02:2e", MacKind::VrrpIpv6, 46, None),
            ("00:00:5e:00:02:24", MacKind::VrrpIpv6, 36, None),
            ("00:07:b4:00:01:01", MacKind::Glbp, 1, Some(1)),
            ("00:07:b4:00:01:03", MacKind::Glbp, 1, Some(3)),
        ] {
            let i = classify_mac(mac(src));
            assert_eq!(
                (i.kind, i.group_id, i.forwarder),
                (kind, Some(id), fwd),
                "{src}"
            );
        }
    }
}
