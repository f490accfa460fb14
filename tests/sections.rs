//! The `multicast` and `fhrp` sections of `pcap analyze` on shipped captures, with
//! expected values read off tshark 4.0.17 for the same frames (igmp.type/igmp.maddr,
//! icmpv6.mldr.mar.*, hsrp.state, vrrp.prio, ip.src).

mod common;

use common::analyze_fixture as analyze;

#[test]
fn igmpv2_joins_and_leaves_match_tshark() {
    let r = analyze("multicast/tcpdump__IGMP_V2.pcap");
    let g = |addr: &str| {
        r.multicast
            .groups
            .iter()
            .find(|g| g.group == addr)
            .unwrap_or_else(|| panic!("group {addr} missing"))
    };
    // tshark: igmp.type 0x16 (v2 report) and 0x17 (leave) with igmp.maddr
    assert_eq!(g("225.1.1.3").join_frames, vec![4]);
    assert_eq!(g("225.1.1.3").leave_frames, vec![5]);
    assert_eq!(g("225.1.1.4").join_frames, vec![7, 8, 9]);
    assert_eq!(g("225.1.1.4").leave_frames, vec![10]);
    assert_eq!(g("225.1.1.5").join_frames, vec![12, 13, 14, 18]);
    assert_eq!(g("225.10.10.10").join_frames, vec![3, 16]);
    assert_eq!(g("239.255.255.250").join_frames, vec![2, 17]);
    assert_eq!(g("239.255.255.250").mac.to_string(), "01:00:5e:7f:ff:fa");
}

#[test]
fn mldv2_records_are_joins_and_leaves() {
    let r = analyze("multicast/tcpdump__icmpv6.pcap");
    let g = |addr: &str| r.multicast.groups.iter().find(|g| g.group == addr).unwrap();
    // frame 2: CHANGE_TO_EXCLUDE; frame 4: four MODE_IS_EXCLUDE; frame 5: CHANGE_TO_INCLUDE {}
    assert_eq!(g("ff02::db8:1122:3344").join_frames, vec![2, 4]);
    assert_eq!(g("ff02::db8:1122:3344").leave_frames, vec![5]);
    assert_eq!(g("ff02::1:ffcc:e546").join_frames, vec![4]);
    assert_eq!(g("ff02::16").frames, 3, "three reports sent to ff02::16");
}

#[test]
fn hsrp_failover_states_match_tshark() {
    let r = analyze("fhrp/tcpdump__HSRP_failover.pcap");
    assert_eq!(r.fhrp.groups.len(), 1);
    let g = &r.fhrp.groups[0];
    assert_eq!((g.protocol, g.group_id), ("hsrp", 1));
    assert_eq!(g.virtual_ip, vec!["192.168.0.1"]);
    assert_eq!(g.virtual_mac[0].to_string(), "00:00:0c:07:ac:01");
    // tshark hsrp.state per sender: .10 Active(16) at 1, .30 Standby(8) at 4,
    // .20 Speak(4) at 15, .30 Active at 17, .20 Standby at 26; .10 falls silent.
    let changes: Vec<(u64, &str, &str)> = g
        .state_changes
        .iter()
        .map(|c| (c.frame, c.router.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(
        changes,
        vec![
            (1, "192.168.0.10", "Active"),
            (4, "192.168.0.30", "Standby"),
            (15, "192.168.0.20", "Speak"),
            (17, "192.168.0.30", "Active"),
            (26, "192.168.0.20", "Standby"),
        ]
    );
    assert_eq!(g.active.as_deref(), Some("192.168.0.30"));
    assert_eq!(g.standby.as_deref(), Some("192.168.0.20"));
    let old = g.routers.iter().find(|r| r.ip == "192.168.0.10").unwrap();
    assert!(
        old.last_frame < 17,
        "the failed active's last hello is before the takeover"
    );
}

#[test]
fn vrrp_groups_by_vrid_and_family() {
    let r = analyze("fhrp/libpcap__vrrp.pcap");
    let ids: Vec<(&str, u16)> = r
        .fhrp
        .groups
        .iter()
        .map(|g| (g.family, g.group_id))
        .collect();
    // tshark: vrrp.virt_rtr_id 42, 43, 44 over IPv4 and 45, 46 over IPv6
    assert_eq!(
        ids,
        vec![
            ("ipv4", 42),
            ("ipv4", 43),
            ("ipv4", 44),
            ("ipv6", 45),
            ("ipv6", 46)
        ]
    );
    let g42 = &r.fhrp.groups[0];
    assert_eq!(g42.virtual_ip, vec!["10.4.42.1", "10.4.42.2", "10.4.42.3"]);
    assert_eq!(g42.virtual_mac[0].to_string(), "00:00:5e:00:01:2a");
    let g46 = &r.fhrp.groups[4];
    assert_eq!(g46.virtual_mac[0].to_string(), "00:00:5e:00:02:2e");
}
