//! Tunnel and path-MTU findings on captures the project made from real Linux networking
//! (tests/lab/tunnels-mtu.sh: VXLAN between namespaces, a 1300-byte link in the middle
//! of a path, the same with ICMP fragmentation-needed dropped).

mod common;

use netkit_cmds::pcap::analyze::Report;

fn analyze(name: &str) -> Report {
    common::analyze_fixture(&format!("lab/{name}"))
}

fn codes(r: &Report) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn vxlan_with_linux_source_port_hashing_has_entropy() {
    let r = analyze("vxlan-inner-flows.pcap");
    assert_eq!(r.tunnels.ecmp.len(), 1);
    let e = &r.tunnels.ecmp[0];
    assert_eq!(e.kinds, vec!["vxlan"]);
    // 8 TCP flows (plus the overlay's own ND/MLD traffic), each hashed to its own port
    assert!(e.inner_flows >= 8, "{e:?}");
    assert!(e.source_ports.unwrap() >= 8, "{e:?}");
    assert!(e.outer_flows_per_direction >= 8, "{e:?}");
    assert!(!codes(&r).contains(&"ecmp_single_outer_flow"));
    assert!(!codes(&r).contains(&"tunnel_low_entropy"));
    assert!(r
        .tunnels
        .outer_flows
        .iter()
        .all(|o| o.id.as_deref() == Some("vni 42")));
}

#[test]
fn vxlan_pinned_to_one_source_port_is_one_outer_flow() {
    let r = analyze("vxlan-one-source-port.pcap");
    let e = &r.tunnels.ecmp[0];
    assert_eq!(e.source_ports, Some(1));
    assert_eq!(e.outer_flows_per_direction, 1);
    assert!(e.inner_flows >= 8);
    let c = codes(&r);
    assert!(c.contains(&"ecmp_single_outer_flow"), "{c:?}");
    assert!(c.contains(&"tunnel_low_entropy"), "{c:?}");
}

#[test]
fn pmtud_shows_the_router_and_the_mtu() {
    let r = analyze("pmtud.pcap");
    let icmp = &r.paths.mtu.icmp;
    assert!(!icmp.is_empty());
    assert_eq!(
        (icmp[0].router.as_str(), icmp[0].mtu),
        ("10.201.1.254", 1300)
    );
    assert_eq!(icmp[0].packet_dst.as_deref(), Some("10.201.2.1"));
    // The sender adapts: no black hole, and nothing too big a second after the report.
    let c = codes(&r);
    assert!(c.contains(&"pmtu_reported"), "{c:?}");
    assert!(!c.contains(&"pmtu_black_hole"), "{c:?}");
    assert!(r.paths.mtu.df_too_big_frames.is_empty());
}

#[test]
fn filtered_icmp_makes_a_black_hole_and_it_comes_first() {
    let r = analyze("pmtu-black-hole.pcap");
    assert!(r.paths.mtu.icmp.is_empty(), "the router's ICMP was dropped");
    let first = r.findings.first().expect("a finding");
    assert_eq!(first.code.as_str(), "pmtu_black_hole");
    assert_eq!(
        serde_json::to_value(first.severity).unwrap(),
        serde_json::json!("error")
    );
    let t = &r.paths.mtu.tcp[0];
    assert!(t.large_retransmissions >= 3 && !t.large_acked, "{t:?}");
}
