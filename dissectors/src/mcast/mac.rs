//! What a MAC address is: an IPv4 or IPv6 multicast mapping, a first-hop-redundancy
//! virtual MAC (HSRP, VRRP, GLBP), an IEEE or Cisco control address, or unicast.

use super::mapping::ipv4_candidates;
use super::registry::well_known_for_mac;
use crate::link::Mac;
use serde::{Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    pub mac: Mac,
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
pub fn classify_mac(mac: Mac) -> MacInfo {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
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
