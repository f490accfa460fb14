//! Repeated findings: the same WebSocket upgrade rejected the same way on several
//! connections is one line of the human report (count, streams, first and last time),
//! while the JSON keeps one finding per connection, tied together by `group`.
//!
//! No fixture repeats a finding, so the capture is built from one: the rejected
//! upgrade's connection of lab/upgrade-rejected-403.pcap, replayed six times from
//! other client ports, a quarter second apart.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The client port of the rejected upgrade in the fixture.
const CLIENT_PORT: u16 = 43692;
const COPIES: u16 = 6;

/// Writes `dir/name`: the frames of the fixture's rejected connection, `copies` times,
/// copy k from client port CLIENT_PORT + k and 250 ms * k later. (TCP checksums are
/// left as they were: the analysis, as Wireshark's by default, does not check them.)
fn replayed_rejections(dir: &Path, name: &str, copies: u16) -> PathBuf {
    let data = std::fs::read(common::fixtures_dir().join("lab/upgrade-rejected-403.pcap")).unwrap();
    assert_eq!(
        &data[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    // The connection's records: Ethernet, IPv4, TCP with the client port on one side.
    let mut records: Vec<Vec<u8>> = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32_at(&data, at + 8) as usize;
        let record = &data[at..at + 16 + caplen];
        at += 16 + caplen;
        let frame = &record[16..];
        if frame.len() < 14 + 20 + 4 || frame[12..14] != [0x08, 0x00] || frame[23] != 6 {
            continue;
        }
        let tcp = 14 + usize::from(frame[14] & 0x0f) * 4;
        let ports = [
            u16::from_be_bytes([frame[tcp], frame[tcp + 1]]),
            u16::from_be_bytes([frame[tcp + 2], frame[tcp + 3]]),
        ];
        if ports.contains(&CLIENT_PORT) {
            records.push(record.to_vec());
        }
    }
    assert_eq!(records.len(), 10, "the fixture's rejected connection");
    let mut out = data[..24].to_vec();
    for k in 0..copies {
        for r in &records {
            let mut r = r.clone();
            let micros = u64::from(u32_at(&r, 0)) * 1_000_000
                + u64::from(u32_at(&r, 4))
                + u64::from(k) * 250_000;
            r[0..4].copy_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
            r[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
            let tcp = 16 + 14 + usize::from(r[16 + 14] & 0x0f) * 4;
            for side in [tcp, tcp + 2] {
                if u16::from_be_bytes([r[side], r[side + 1]]) == CLIENT_PORT {
                    r[side..side + 2].copy_from_slice(&(CLIENT_PORT + k).to_be_bytes());
                }
            }
            out.extend_from_slice(&r);
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

fn analyze(args: &[&str], file: &Path) -> String {
    let out = common::netkit()
        .args(["pcap", "analyze"])
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn identical_rejections_are_one_line_and_one_json_group() {
    let dir = std::env::temp_dir().join(format!("netkit-groups-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let six = replayed_rejections(&dir, "six.pcap", COPIES);

    // JSON: one finding per connection, all with the same group.
    let report: Value = serde_json::from_str(&analyze(&["--json"], &six)).unwrap();
    let rejected: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "websocket_rejected")
        .collect();
    assert_eq!(rejected.len(), usize::from(COPIES));
    let group = rejected[0]["group"].as_str().unwrap();
    assert!(
        group.contains("403 Forbidden") && group.contains("10.99.1.1:8001"),
        "{group}"
    );
    assert!(
        !group.contains(&CLIENT_PORT.to_string()),
        "no client port: {group}"
    );
    assert!(rejected.iter().all(|f| f["group"] == group));
    let streams: Vec<u64> = rejected
        .iter()
        .map(|f| f["stream"].as_u64().unwrap())
        .collect();
    assert_eq!(streams, (0..u64::from(COPIES)).collect::<Vec<_>>());

    // Human: one ERROR line with the count, the streams abbreviated, first and last time.
    let text = analyze(&[], &six);
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    let line = errors[0];
    assert!(
        line.contains("WebSocket upgrade GET /socket (Host lab.example) to 10.99.1.1:8001 rejected: 403 Forbidden"),
        "{line}"
    );
    assert!(line.contains("6 times: streams 0,1,2 … +3"), "{line}");
    // The copies are 250 ms apart: the last request comes 1.25 s after the first.
    let times: Vec<f64> = ["first ", "last "]
        .iter()
        .map(|w| {
            let after = &line[line.find(w).unwrap_or_else(|| panic!("{line}")) + w.len()..];
            after.split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert!((times[1] - times[0] - 1.25).abs() < 0.001, "{line}");
    // The Wireshark filter of the group opens every one of the streams.
    assert!(
        text.contains("websocket_rejected           tcp.stream in {0 1 2 3 4 5}"),
        "{text}"
    );

    // ... and pasted into `pcap show -Y`, it shows the six connections.
    let out = common::netkit()
        .args(["pcap", "show", "-Y", "tcp.stream in {0 1 2 3 4 5}"])
        .arg(&six)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 60);

    // One rejection alone is printed in full, as before.
    let one = replayed_rejections(&dir, "one.pcap", 1);
    let text = analyze(&[], &one);
    let line = text.lines().find(|l| l.contains("ERROR")).unwrap();
    assert!(
        line.contains("from 10.99.1.2:43692 rejected") && !line.contains("times"),
        "{line}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn alike_resets_share_a_line_and_different_findings_do_not() {
    // The fixture's two resets are by the same side of connections to the same server,
    // the only other repeat among the fixtures: one group. Its JSON keeps both.
    let f = common::fixtures_dir().join("websocket/zeek__wstunnel-ssh.pcap");
    let report: Value = serde_json::from_str(&analyze(&["--json"], &f)).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0]["group"], findings[1]["group"]);
    let text = analyze(&[], &f);
    assert!(
        text.contains("connections to 127.0.0.1:8888 reset by the client (2 times: streams 0,1;"),
        "{text}"
    );
    // Findings of different kinds or peers each keep their own line and group.
    let f = common::fixtures_dir().join("lab/upgrade-silently-dropped.pcap");
    let report: Value = serde_json::from_str(&analyze(&["--json"], &f)).unwrap();
    let groups: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), 2);
    assert_ne!(groups[0], groups[1]);
}
