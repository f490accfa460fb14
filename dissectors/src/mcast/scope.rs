//! Where a group belongs: the IANA block of an IPv4 group, the scope nibble and flags
//! of an IPv6 group.

use serde::{Serialize, Serializer};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

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

pub fn ipv6_scope_of_nibble(nibble: u8) -> Scope {
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

pub fn ipv6_detail(group: Ipv6Addr) -> Ipv6GroupDetail {
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
pub fn ipv6_is_ssm(group: Ipv6Addr) -> bool {
    let b = group.octets();
    b[0] == 0xff && b[1] >> 4 == 0x3 && b[2] == 0 && b[3] == 0
}
