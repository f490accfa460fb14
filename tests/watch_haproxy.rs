//! `netkit watch` live on the project's HAProxy lab (tests/lab/haproxy-websocket.sh:
//! a real HAProxy in front of a real RFC 6455 server, 3% random loss on the proxy's
//! inbound side), beside the lab's own tcpdump on the same interface with the same
//! filter. For every case (rejected, silently dropped, accepted, ignored, bad accept,
//! and the two iptables cases) the live verdicts equal `pcap analyze`'s on the
//! recording, and the live TCP flag counts equal the file's (at most one frame over
//! the run may be out-of-order in one capture and a retransmission in the other: see
//! [`compare_flags`]). Every rejected upgrade names its client process when watch
//! runs on its BPF path (root: `--attribution auto` picks it); on the sock-diag path
//! the count is only printed: the lab's client closes its socket within a millisecond
//! of the 403, before a sock_diag lookup can find it (tests/watch_owners.rs compares
//! the two paths on 250 such clients).
//!
//! Needs root, python3 and the lab's packages (haproxy, tcpdump, iproute2, ethtool,
//! iptables: the lab script installs them with apt-get when missing); otherwise says
//! why and skips. The lab removes its namespaces itself, also on failure.

mod common;

use common::{is_root, skip_reason};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The live TCP flag counts against the file's: equal, but for frames one capture
/// calls out-of-order and the other a retransmission. That call compares the gap
/// since the previous segment with the round trip, a few tens of microseconds on a
/// veth, and each packet socket stamps a sent frame itself when it receives it: two
/// captures of one interface differ by up to ~3 us on a frame (measured with two
/// tcpdumps side by side), which can tip it. Returns the frames so traded.
fn compare_flags(case: &str, live: &Value, file: &Value) -> u64 {
    const TIMING: [&str; 2] = ["out_of_order", "retransmission"];
    let (live_map, file_map) = (live.as_object().unwrap(), file.as_object().unwrap());
    assert_eq!(
        live_map.keys().collect::<Vec<_>>(),
        file_map.keys().collect::<Vec<_>>(),
        "{case}: flag keys"
    );
    for (k, v) in live_map {
        if !TIMING.contains(&k.as_str()) {
            assert_eq!(v, &file_map[k], "{case}: TCP flag {k}");
        }
    }
    let count = |m: &serde_json::Map<String, Value>, k: &str| m[k].as_u64().unwrap();
    let sum = |m| TIMING.iter().map(|k| count(m, k)).sum::<u64>();
    assert_eq!(
        sum(live_map),
        sum(file_map),
        "{case}: out-of-order + retransmission frames, live {live} and file {file}"
    );
    let traded = count(live_map, "out_of_order").abs_diff(count(file_map, "out_of_order"));
    if traded > 0 {
        eprintln!("watch_haproxy: {case}: {traded} frame(s) out-of-order in one capture, a retransmission in the other");
    }
    traded
}

fn client_port(v: &Value) -> u16 {
    let c = v["client"].as_str().unwrap_or_default();
    c.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

#[test]
fn live_watch_agrees_with_pcap_analyze_on_the_haproxy_lab() {
    if !is_root() {
        eprintln!("skipping watch_haproxy: needs root (namespaces, capture)");
        return;
    }
    if let Some(why) = skip_reason(&["python3", "apt-get"]) {
        eprintln!("skipping watch_haproxy: {why}");
        return;
    }
    let out = std::env::temp_dir().join(format!("netkit-watch-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/haproxy-websocket.sh");
    let lab = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .env("NKLAB_WATCH", env!("CARGO_BIN_EXE_netkit"))
        // The lab re-records a case until tshark counts this many retransmissions in
        // it (default 5, for the fixtures' sake). One is what a live comparison needs,
        // and 5 is out of reach too often: at 3% loss the accepted case counted 1-3 in
        // six attempts of a CI run that failed on it (mean 2.2; as a Poisson count,
        // P(>=5) is 7% an attempt and six attempts all miss 63% of the time).
        .env("NKLAB_MIN_RETRANS", "1")
        .output()
        .expect("run the lab");
    let log =
        String::from_utf8_lossy(&lab.stdout).to_string() + &String::from_utf8_lossy(&lab.stderr);
    if !lab.status.success() && log.contains("apt-get") && log.contains("Unable to locate") {
        eprintln!("skipping watch_haproxy: the lab's packages cannot be installed");
        return;
    }
    assert!(lab.status.success(), "lab failed:\n{log}");

    let mut cases = 0;
    let mut upgrades = 0;
    let mut retransmissions = 0;
    let mut traded = 0;
    let (mut rejected, mut named) = (0, 0);
    let mut all_bpf = true;
    let mut pcaps: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    pcaps.sort();
    for pcap in pcaps {
        let name = pcap.file_stem().unwrap().to_string_lossy().to_string();
        let events = common::ndjson_file(&out.join(format!("{name}.watch.ndjson")));
        let file = common::netkit()
            .args(["pcap", "analyze", "--json"])
            .arg(&pcap)
            .output()
            .unwrap();
        let file: Value = serde_json::from_slice(&file.stdout).unwrap();

        let from_file: BTreeMap<u16, String> = file["websocket"]["upgrades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (client_port(u), u["verdict"].as_str().unwrap().to_string()))
            .collect();
        let live: BTreeMap<u16, &Value> = events
            .iter()
            .filter(|e| e["event"] == "upgrade")
            .map(|e| (client_port(e), e))
            .collect();
        let live_verdicts: BTreeMap<u16, String> = live
            .iter()
            .map(|(p, e)| (*p, e["verdict"].as_str().unwrap().to_string()))
            .collect();
        assert!(!from_file.is_empty(), "{name}: no upgrade in the recording");
        assert_eq!(live_verdicts, from_file, "{name}: verdicts");
        for e in live.values().filter(|e| e["verdict"] == "rejected") {
            rejected += 1;
            if e["process"]["comm"] == "python3" {
                named += 1;
            }
        }
        let last = events
            .iter()
            .rev()
            .find(|e| e["event"] == "summary")
            .unwrap_or_else(|| panic!("{name}: no summary"));
        assert_eq!(last["last"], true, "{name}: the run did not end cleanly");
        all_bpf &= last["attribution"] == "bpf";
        assert_eq!(last["dropped"]["kernel"], 0, "{name}");
        traded += compare_flags(&name, &last["tcp"]["flags"], &file["tcp"]["flags"]);
        assert_eq!(last["tcp"]["streams"], file["tcp"]["streams"], "{name}");
        cases += 1;
        upgrades += from_file.len();
        retransmissions += file["tcp"]["flags"]["retransmission"].as_u64().unwrap_or(0);
    }
    assert!(cases >= 5, "only {cases} cases recorded:\n{log}");
    assert!(
        retransmissions > 0,
        "no retransmission in any recording, nothing compared:\n{log}"
    );
    if all_bpf {
        assert_eq!(named, rejected, "rejected upgrades named on the BPF path");
    }
    assert!(
        traded <= 1,
        "{traded} frames judged differently live and from the files"
    );
    eprintln!(
        "watch_haproxy: {cases} cases, {upgrades} upgrades with equal verdicts, \
         {retransmissions} retransmissions counted alike live and from the files; \
         {named} of {rejected} rejected upgrades named their client process; \
         {traded} frames out-of-order in one capture and retransmitted in the other"
    );
    let _ = std::fs::remove_dir_all(&out);
}
