//! The `tunnels` and `paths` sections on shipped captures; expected values read off
//! tshark 4.0.17 for the same frames (ip.src/ip.dst/ports inside the tunnel,
//! icmp.mpls.label, vxlan.vni, geneve.vni).

mod common;

use common::analyze_fixture as analyze;

#[test]
fn gre_carrying_six_inner_flows_on_one_outer_flow_is_an_ecmp_finding() {
    let r = analyze("encap/zeek__gre-sample.pcap");
    let gre = &r.tunnels.outer_flows[0];
    assert_eq!(gre.kind, "gre");
    assert_eq!(gre.frames, 40);
    // tshark: ntp x3, dns, ssh and icmp between the inner hosts
    assert_eq!(gre.inner_flows, Some(6));
    // outer IPv4 (20) + GRE (4): what every inner packet pays
    assert_eq!(gre.overhead_bytes, Some(24));
    let f = r
        .findings
        .iter()
        .find(|f| f.code.as_str() == "ecmp_single_outer_flow")
        .expect("ECMP finding");
    assert!(
        f.summary.starts_with("6 inner flows ride 1 outer flow"),
        "{}",
        f.summary
    );
}

#[test]
fn mpls_traceroute_hops_with_their_label_stacks() {
    let r = analyze("encap/tcpdump__mpls-traceroute.pcap");
    assert_eq!(r.paths.traceroutes.len(), 1);
    let t = &r.paths.traceroutes[0];
    assert_eq!(
        (t.source.as_str(), t.destination.as_str()),
        ("12.4.4.4", "12.1.1.1")
    );
    let hops: Vec<(Option<u8>, &str, Vec<u32>)> = t
        .hops
        .iter()
        .map(|h| {
            (
                h.ttl,
                h.router.as_str(),
                h.mpls.iter().map(|l| l.label).collect(),
            )
        })
        .collect();
    // tshark: icmp.mpls.label 100704 from 10.5.0.1, 102672 from 10.4.0.2, none at the end
    assert_eq!(
        hops,
        vec![
            (Some(1), "10.5.0.1", vec![100704]),
            (Some(2), "10.4.0.2", vec![102672]),
            (Some(3), "12.1.1.1", vec![]),
        ]
    );
    assert_eq!(t.hops[0].mpls[0].ttl, 1);
    assert_eq!(t.hops[0].frames, vec![2, 4, 6]);
}

#[test]
fn vxlan_and_geneve_overhead_and_source_ports() {
    let r = analyze("encap/tcpdump__vxlan.pcap");
    let v: Vec<_> = r
        .tunnels
        .outer_flows
        .iter()
        .filter(|o| o.kind == "vxlan")
        .collect();
    assert_eq!(v.len(), 4);
    assert!(v.iter().all(|o| o.id.as_deref() == Some("vni 100")));
    // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
    assert!(v.iter().filter_map(|o| o.overhead_bytes).all(|b| b == 50));
    assert_eq!(r.tunnels.ecmp[0].source_ports, Some(4));

    let g = analyze("encap/zeek__geneve.pcap");
    let over: Vec<Option<u32>> = g
        .tunnels
        .outer_flows
        .iter()
        .map(|o| o.overhead_bytes)
        .collect();
    // one direction carries 8 bytes of Geneve options
    assert_eq!(over, vec![Some(58), Some(50)]);
}

#[test]
fn encrypted_esp_has_no_inner_flows_but_nat_t_is_named() {
    let r = analyze("encap/tcpdump__espudp1.pcap");
    let e = &r.tunnels.outer_flows[0];
    assert_eq!(
        (e.kind, e.id.as_deref()),
        ("esp-natt", Some("spi 0x12345678"))
    );
    assert_eq!(e.inner_flows, None);
    assert_eq!(e.outer, "udp 192.1.2.23:4500 <-> 192.1.2.45:4500");
}

#[test]
fn erspan_sessions_name_the_outer_flow() {
    // tshark: erspan.spanid 100 (zeek) and 20 (arkime, with VXLAN inside the mirror)
    let r = analyze("encap/zeek__erspanII.pcap");
    let e = &r.tunnels.outer_flows[0];
    assert_eq!(
        (e.kind, e.id.as_deref()),
        ("erspan", Some("type 2 session 100"))
    );
    assert_eq!(e.frames, 4);
    let r = analyze("encap/arkime__gre-erspan-vxlan.pcap");
    assert_eq!(
        r.tunnels.outer_flows[0].id.as_deref(),
        Some("type 2 session 20")
    );
}

#[test]
fn vxlan_on_8472_is_a_tunnel_only_with_decode_as() {
    let f = common::fixtures_dir().join("encap/tcpdump__vxlan_port_8472.pcap");
    let plain = netkit::commands::pcap::analyze_path(&f, None, &Default::default()).unwrap();
    assert!(plain.tunnels.outer_flows.is_empty());
    let mut opts = netkit_cmds::pcap::analyze::AnalyzeOptions::default();
    opts.dissect.add_decode_as("udp.port=8472:vxlan").unwrap();
    let r = netkit::commands::pcap::analyze_path(&f, None, &opts).unwrap();
    // tshark -d udp.port==8472,vxlan: vxlan.vni 100 in all 10 frames
    let frames: u64 = r.tunnels.outer_flows.iter().map(|o| o.frames).sum();
    assert_eq!(frames, 10);
    assert!(r
        .tunnels
        .outer_flows
        .iter()
        .all(|o| o.id.as_deref() == Some("vni 100")));
}

#[test]
fn esp_over_ipv6_one_spi_per_peer() {
    let r = analyze("encap/zeek__ip6_esp.pcap");
    let spis: Vec<&str> = r
        .tunnels
        .outer_flows
        .iter()
        .filter_map(|o| o.id.as_deref())
        .collect();
    // tshark: esp.spi 0xa, 0xb, 0xc, 0xd ... one per 3ffe::1 <-> 3ffe::N pair
    assert!(
        spis.starts_with(&["spi 0x0000000a", "spi 0x0000000b", "spi 0x0000000c"]),
        "{spis:?}"
    );
    assert!(r
        .tunnels
        .outer_flows
        .iter()
        .all(|o| o.kind == "esp" && o.inner_flows.is_none()));
}

#[test]
fn mpls_in_udp_is_a_labelled_outer_flow() {
    let r = analyze("encap/tcpdump__mpls-over-udp.pcap");
    let ids: Vec<&str> = r
        .tunnels
        .outer_flows
        .iter()
        .filter_map(|o| o.id.as_deref())
        .collect();
    // tshark: mpls.label 21 and 46 over udp.port 6635
    assert_eq!(ids, vec!["labels 21", "labels 46"]);
    // outer IPv4 20 + UDP 8 + one label 4
    assert!(r
        .tunnels
        .outer_flows
        .iter()
        .all(|o| o.overhead_bytes == Some(32)));
}
