//! The `multicast` and `fhrp` sections against tshark 4.0.17 on every multicast and FHRP
//! capture of ../shared/pcaps: IGMP/MLD joins and leaves per group by frame, and the
//! FHRP state changes per router implied by tshark's per-frame hsrp.state /
//! glbp.hello.vgstate / VRRP senders. Expected values: tests/golden/mcast-fhrp.json,
//! made by tools/golden-mcast-fhrp.py. Skips when ../shared is absent.

mod common;

use netkit::commands::pcap::analyze_path;
use serde_json::Value;
use std::collections::BTreeMap;

/// State changes per (protocol, group id): (frame, router, new state).
type Changes = BTreeMap<(String, u16), Vec<(u64, String, String)>>;

/// The first frames of a list, as the report keeps them (bounded lists).
const LISTED: usize = 100;

#[test]
fn membership_and_fhrp_states_match_tshark_on_the_corpus() {
    let Some(dir) = common::shared_pcaps() else {
        return;
    };
    let golden: BTreeMap<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mcast-fhrp.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut checked = (0, 0, 0);
    for (file, want) in &golden {
        let r = analyze_path(&dir.join(file), None, &Default::default()).unwrap();
        // Joins and leaves, group by group.
        for (kind, key) in [("joins", 0), ("leaves", 1)] {
            let want: BTreeMap<String, Vec<u64>> =
                serde_json::from_value(want[kind].clone()).unwrap();
            let mut got: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for g in &r.multicast.groups {
                let frames = if key == 0 {
                    &g.join_frames
                } else {
                    &g.leave_frames
                };
                if !frames.is_empty() {
                    got.insert(g.group.clone(), frames.clone());
                }
            }
            let want: BTreeMap<String, Vec<u64>> = want
                .into_iter()
                .map(|(g, mut f)| {
                    f.truncate(LISTED);
                    (g, f)
                })
                .collect();
            assert_eq!(got, want, "{file}: {kind}");
            checked.0 += want.len();
        }
        // FHRP: replay tshark's per-frame states into changes with the engine's rule
        // (a router's first hello, and every change of its state).
        let rows: Vec<(u64, String, u16, String, String)> =
            serde_json::from_value(want["fhrp"].clone()).unwrap();
        let mut last: BTreeMap<(String, u16, String), String> = BTreeMap::new();
        let mut want_changes = Changes::new();
        for (frame, proto, group, sender, state) in rows {
            let k = (proto.clone(), group, sender.clone());
            if last.get(&k) != Some(&state) {
                last.insert(k, state.clone());
                want_changes
                    .entry((proto, group))
                    .or_default()
                    .push((frame, sender, state));
            }
        }
        let mut got_changes = Changes::new();
        for g in &r.fhrp.groups {
            let e = got_changes
                .entry((g.protocol.to_string(), g.group_id))
                .or_default();
            for c in &g.state_changes {
                e.push((c.frame, c.router.clone(), c.to.clone()));
            }
            e.sort();
        }
        for v in want_changes.values_mut() {
            v.sort();
        }
        assert_eq!(got_changes, want_changes, "{file}: FHRP state changes");
        checked.1 += want_changes.values().map(Vec::len).sum::<usize>();
        checked.2 += 1;
    }
    eprintln!(
        "{} files: {} groups with joins/leaves and {} FHRP state changes equal tshark's",
        checked.2, checked.0, checked.1
    );
    assert_eq!(checked.2, 27);
}
