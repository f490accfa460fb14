//! `pcap analyze`'s `protocols` census against tshark 4.0.17's per-file counts
//! (MANIFEST.tsv), on the captures shipped in tests/fixtures and, when present, on
//! the whole corpus in ../shared/pcaps. Every disagreement must be one explained
//! below, and overall agreement must stay at or above 98% of (file, protocol) pairs.

mod common;

use netkit::commands::pcap::analyze_path;
use netkit_cmds::pcap::analyze::AnalyzeOptions;
use std::path::Path;

/// netkit's census key -> MANIFEST column (tshark display filter in tools/tshark-truth.sh).
const COLUMNS: &[(&str, &str)] = &[
    ("vlan", "vlan"),
    ("mpls", "mpls"),
    ("gre", "gre"),
    ("vxlan", "vxlan"),
    ("esp", "esp"),
    ("cdp", "cdp"),
    ("lldp", "lldp"),
    ("igmp", "igmp"),
    ("mld", "mld"),
    ("hsrp", "hsrp"),
    ("vrrp", "vrrp"),
    ("glbp", "glbp"),
    ("l2trace", "udp2228"),
    ("websocket", "ws_frames"),
];

/// Known, explained differences: (file suffix, key, netkit's count, why).
const EXPLAINED: &[(&str, &str, u64, &str)] = &[];

struct Tally {
    pairs: usize,
    agree: usize,
    unexplained: Vec<String>,
}

fn check_dir(dir: &Path, tally: &mut Tally) {
    for row in common::manifest(dir) {
        let file = dir.join(&row["file"]);
        let report = analyze_path(&file, None, &AnalyzeOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(
            report.capture.frames.to_string(),
            row["frames"],
            "{}: frame count",
            row["file"]
        );
        for (key, column) in COLUMNS {
            let want: u64 = row[*column].parse().expect("count");
            let got = report.protocols.get(key).copied().unwrap_or(0);
            tally.pairs += 1;
            if got == want {
                tally.agree += 1;
                continue;
            }
            let explained = EXPLAINED
                .iter()
                .any(|(f, k, n, _)| row["file"].ends_with(f) && k == key && *n == got);
            if !explained {
                tally.unexplained.push(format!(
                    "{}: {key}: netkit {got}, tshark {want}",
                    row["file"]
                ));
            }
        }
    }
}

fn assert_tally(what: &str, t: &Tally) {
    let pct = 100.0 * t.agree as f64 / t.pairs as f64;
    eprintln!(
        "{what}: {}/{} (file, protocol) pairs agree with tshark ({pct:.2}%)",
        t.agree, t.pairs
    );
    assert!(
        t.unexplained.is_empty(),
        "{what}: unexplained differences:\n{}",
        t.unexplained.join("\n")
    );
    assert!(pct >= 98.0, "{what}: agreement {pct:.2}% is below 98%");
}

#[test]
fn census_agrees_with_tshark_on_shipped_fixtures() {
    let mut t = Tally {
        pairs: 0,
        agree: 0,
        unexplained: vec![],
    };
    check_dir(&common::fixtures_dir(), &mut t);
    assert!(t.pairs > 1000, "fixtures MANIFEST lost rows");
    assert_tally("tests/fixtures", &t);
}

#[test]
fn census_agrees_with_tshark_on_shared_corpus() {
    let Some(dir) = common::shared_pcaps() else {
        return;
    };
    let mut t = Tally {
        pairs: 0,
        agree: 0,
        unexplained: vec![],
    };
    check_dir(&dir, &mut t);
    assert_eq!(t.pairs, 114 * COLUMNS.len());
    assert_tally("../shared/pcaps", &t);
}

#[test]
fn vxlan_on_8472_needs_decode_as_like_tshark() {
    let file = common::fixtures_dir().join("encap/tcpdump__vxlan_port_8472.pcap");
    let plain = analyze_path(&file, None, &AnalyzeOptions::default()).unwrap();
    // tshark decodes VXLAN on 4789 only; MANIFEST says 0 without Decode As, 10 with.
    assert_eq!(plain.protocols["vxlan"], 0);
    let mut opts = AnalyzeOptions::default();
    opts.dissect.add_decode_as("udp.port=8472:vxlan").unwrap();
    let decoded = analyze_path(&file, None, &opts).unwrap();
    assert_eq!(decoded.protocols["vxlan"], 10);
    // the inner frames are decoded like outer ones
    assert!(decoded.protocols["ipv4"] > plain.protocols["ipv4"] - 1);
    assert_eq!(decoded.protocols.get("eth").copied(), Some(10));
}
