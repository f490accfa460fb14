//! Group <-> MAC arithmetic: RFC 1112 for IPv4, RFC 2464 for IPv6, and the 32 IPv4
//! groups behind every IPv4 multicast MAC.

use crate::link::Mac;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RFC 1112 §6.4: `01:00:5e` + 0 + low 23 bits. `None` unless the group is in 224/4.
pub fn ipv4_group_mac(group: Ipv4Addr) -> Option<Mac> {
    if !group.is_multicast() {
        return None;
    }
    let o = group.octets();
    Some(Mac([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
}

/// RFC 2464 §7: `33:33` + the last four octets, verbatim. `None` unless in ff00::/8.
pub fn ipv6_group_mac(group: Ipv6Addr) -> Option<Mac> {
    if !group.is_multicast() {
        return None;
    }
    let o = group.octets();
    Some(Mac([0x33, 0x33, o[12], o[13], o[14], o[15]]))
}

pub fn group_mac(group: IpAddr) -> Option<Mac> {
    match group {
        IpAddr::V4(g) => ipv4_group_mac(g),
        IpAddr::V6(g) => ipv6_group_mac(g),
    }
}

/// The 32 IPv4 groups that map to `mac`, in numeric order (224.b3.b4.b5,
/// 224.(b3+128).b4.b5, 225.b3.b4.b5, ... 239.(b3+128).b4.b5). `None` unless `mac` is in
/// the IPv4 range 01:00:5e:00:00:00 - 01:00:5e:7f:ff:ff; the upper half of 01:00:5e is
/// MPLS multicast and documentation space (RFC 5332, RFC 7042 §2.1), not IPv4.
pub fn ipv4_candidates(mac: Mac) -> Option<[Ipv4Addr; 32]> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcast::*;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
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
}
