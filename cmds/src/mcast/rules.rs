//! The advice `mcast` gives about groups: the flooding traps and notable properties of
//! a group ([`classify`]'s warnings, each with a stable code), and which groups of a
//! plan share a MAC ([`MacCollisions`]). The arithmetic and registries they rest on
//! are `netkit_dissectors::mcast`.

use netkit_dissectors::link::Mac;
use netkit_dissectors::mcast::*;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

fn ipv4_warnings(g: Ipv4Addr, scope: Scope, mac: Mac, out: &mut Vec<Warning>) {
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
        // 239.192.0.0/14 (organization-local) is the range these warnings recommend:
        // a plan that follows the advice gets no warning for it.
        Scope::AdminOrganizationLocal => {}
        Scope::AdminLocalScope | Scope::AdminLocalScopeExpansion | Scope::AdminReserved => {
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
fn shared_with_well_known(group: IpAddr, mac: Mac, out: &mut Vec<Warning>) {
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

fn ipv6_warnings(g: Ipv6Addr, d: &Ipv6GroupDetail, mac: Mac, out: &mut Vec<Warning>) {
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
    pub mac: Mac,
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

/// Groups that share one MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collision {
    pub mac: Mac,
    pub groups: Vec<IpAddr>,
}

/// Accumulates groups (from a plan, from /proc, or from frames in a capture) and reports
/// the MACs that more than one distinct group maps to.
#[derive(Debug, Default, Clone)]
pub struct MacCollisions {
    by_mac: BTreeMap<Mac, Vec<IpAddr>>,
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

    fn mac(s: &str) -> Mac {
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
        assert_eq!(codes("239.192.1.1"), Vec::<&str>::new());
        assert_eq!(codes("239.195.255.255"), Vec::<&str>::new());
        assert_eq!(codes("239.252.0.1"), vec!["admin_scoped"]);
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
}
