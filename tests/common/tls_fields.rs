//! The `tls` section's per-connection fields (hello frames, version, SNI, ALPN,
//! clear-text alerts) from netkit without keys and from tshark on the same capture,
//! compared stream by stream. Shared by tests/tls_tshark.rs (fixtures and
//! ../shared/pcaps) and tests/lab_tls.rs (the HAProxy TLS lab's captures).

use netkit_dissectors::app::tls::alert_name;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct StreamTls {
    pub client_hello_frame: Option<u64>,
    pub server_hello_frame: Option<u64>,
    pub version: Option<u16>,
    pub sni: BTreeSet<String>,
    pub alpn: BTreeSet<String>,
    /// (frame, description number) of clear-text alerts.
    pub alerts: Vec<(u64, u8)>,
}

pub fn tshark(path: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(path)
        .args(["-Y", filter, "-T", "fields", "-E", "separator=/t"])
        .args(["-E", "occurrence=a", "-E", "aggregator=,"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn list(s: &str) -> Vec<&str> {
    s.split(',').filter(|x| !x.is_empty()).collect()
}

pub fn from_tshark(path: &Path) -> BTreeMap<u32, StreamTls> {
    let rows = tshark(
        path,
        "tls.handshake.type or tls.alert_message",
        &[
            "frame.number",
            "tcp.stream",
            "tls.handshake.type",
            "tls.handshake.extensions_server_name",
            "tls.handshake.extensions_alpn_str",
            "tls.alert_message.desc",
            "tls.handshake.extensions.supported_version",
            "tls.handshake.version",
        ],
    );
    let mut out: BTreeMap<u32, StreamTls> = BTreeMap::new();
    for r in rows {
        let get = |i: usize| r.get(i).map(String::as_str).unwrap_or("");
        let (Some(frame), Some(stream)) = (parse_num(get(0)), parse_num(get(1))) else {
            continue;
        };
        let s = out.entry(stream as u32).or_default();
        let types: Vec<u64> = list(get(2)).into_iter().filter_map(parse_num).collect();
        if types.contains(&1) && s.client_hello_frame.is_none() {
            s.client_hello_frame = Some(frame);
        }
        if types.contains(&2) {
            // The last ServerHello (after a HelloRetryRequest, the real one).
            s.server_hello_frame = Some(frame);
            let supported: Vec<u64> = list(get(6)).into_iter().filter_map(parse_num).collect();
            let legacy = list(get(7)).into_iter().filter_map(parse_num).next_back();
            s.version = supported.last().copied().or(legacy).map(|v| v as u16);
        }
        s.sni.extend(list(get(3)).into_iter().map(str::to_string));
        s.alpn.extend(list(get(4)).into_iter().map(str::to_string));
        for d in list(get(5)).into_iter().filter_map(parse_num) {
            s.alerts.push((frame, d as u8));
        }
    }
    out.retain(|_, s| s.client_hello_frame.is_some() || s.server_hello_frame.is_some());
    out
}

fn version_number(name: &str) -> Option<u16> {
    Some(match name {
        "SSL 3.0" => 0x0300,
        "TLS 1.0" => 0x0301,
        "TLS 1.1" => 0x0302,
        "TLS 1.2" => 0x0303,
        "TLS 1.3" => 0x0304,
        other => parse_num(other)? as u16,
    })
}

pub fn from_netkit(path: &Path) -> BTreeMap<u32, StreamTls> {
    let report = netkit::commands::pcap::analyze_path(path, None, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for c in report.tls.connections {
        let Some(stream) = c.stream else { continue };
        let mut alpn: BTreeSet<String> = c.alpn_offered.iter().cloned().collect();
        alpn.extend(c.alpn.clone());
        let alerts = c
            .alerts
            .iter()
            .map(|a| {
                let d = (0..=255u8)
                    .find(|d| alert_name(*d) == a.description)
                    .expect("a named alert");
                (a.frame, d)
            })
            .collect();
        out.insert(
            stream,
            StreamTls {
                client_hello_frame: c.client_hello_frame,
                server_hello_frame: c.server_hello_frame,
                version: c.version.as_deref().and_then(version_number),
                sni: c.sni.into_iter().collect(),
                alpn,
                alerts,
            },
        );
    }
    out
}

#[derive(Default)]
pub struct Tally {
    pub captures: usize,
    pub streams: usize,
    pub versions: usize,
    pub sni: usize,
    pub alpn: usize,
    pub alerts: usize,
    pub netkit_only: usize,
}

pub fn compare(path: &Path, tally: &mut Tally) {
    let theirs = from_tshark(path);
    let ours = from_netkit(path);
    if theirs.is_empty() && ours.is_empty() {
        return;
    }
    tally.captures += 1;
    for (stream, t) in &theirs {
        let n = ours.get(stream).unwrap_or_else(|| {
            panic!(
                "{}: tshark has a TLS hello on stream {stream} ({t:?}), netkit none",
                path.display()
            )
        });
        assert_eq!(n, t, "{} stream {stream}: netkit vs tshark", path.display());
        tally.streams += 1;
        tally.versions += usize::from(t.version.is_some());
        tally.sni += t.sni.len();
        tally.alpn += t.alpn.len();
        tally.alerts += t.alerts.len();
    }
    for (stream, n) in ours.iter().filter(|(s, _)| !theirs.contains_key(s)) {
        let frames: Vec<String> = n
            .client_hello_frame
            .into_iter()
            .chain(n.server_hello_frame)
            .map(|f| f.to_string())
            .collect();
        let flagged = tshark(
            path,
            &format!(
                "frame.number in {{{}}} && tcp.analysis.flags",
                frames.join(" ")
            ),
            &["frame.number"],
        );
        assert!(
            !flagged.is_empty(),
            "{} stream {stream}: netkit decoded a hello ({n:?}) that tshark did not, on frames tshark does not flag",
            path.display()
        );
        eprintln!(
            "{} stream {stream}: hello decoded by netkit only (tshark flags frame(s) {} with a TCP analysis problem)",
            path.display(),
            frames.join(", ")
        );
        tally.netkit_only += 1;
    }
}
