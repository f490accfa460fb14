//! The `tls` section without keys against tshark on the same captures: for every TCP
//! stream tshark decodes a hello in, the ClientHello and ServerHello frames, the
//! negotiated version, the SNI, the ALPN names (offered and selected) and the clear-text
//! alerts must be tshark's. Captures: tests/fixtures/tls (real OpenSSL handshakes made
//! by tests/lab/tls-fixtures.sh) and every capture of ../shared/pcaps with TCP in it
//! (the TLS ones are those where tshark finds a handshake; the counts are printed).
//!
//! A hello netkit decodes where tshark does not is allowed only on a frame tshark
//! itself flags with a TCP analysis problem (its reassembly gave up there); each one
//! is printed.

mod common;

use netkit_dissectors::app::tls::alert_name;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

#[derive(Debug, Default, PartialEq, Eq)]
struct StreamTls {
    client_hello_frame: Option<u64>,
    server_hello_frame: Option<u64>,
    version: Option<u16>,
    sni: BTreeSet<String>,
    alpn: BTreeSet<String>,
    /// (frame, description number) of clear-text alerts.
    alerts: Vec<(u64, u8)>,
}

fn tshark(path: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
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

fn from_tshark(path: &Path) -> BTreeMap<u32, StreamTls> {
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

fn from_netkit(path: &Path) -> BTreeMap<u32, StreamTls> {
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
struct Tally {
    captures: usize,
    streams: usize,
    versions: usize,
    sni: usize,
    alpn: usize,
    alerts: usize,
    netkit_only: usize,
}

fn compare(path: &Path, tally: &mut Tally) {
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

#[test]
fn tls_fields_equal_tsharks_on_fixtures_and_shared_captures() {
    if !common::have("tshark") {
        eprintln!("skipping: needs tshark installed");
        return;
    }
    let mut fixtures = Tally::default();
    for f in common::captures_in(&common::fixtures_dir().join("tls")) {
        compare(&f, &mut fixtures);
    }
    assert!(fixtures.captures >= 7, "the tls fixtures are all TLS");
    eprintln!(
        "fixtures: {} captures, {} streams equal (versions {}, SNI {}, ALPN names {}, alerts {})",
        fixtures.captures,
        fixtures.streams,
        fixtures.versions,
        fixtures.sni,
        fixtures.alpn,
        fixtures.alerts
    );
    let Some(dir) = common::shared_pcaps() else {
        return;
    };
    let mut shared = Tally::default();
    for row in common::manifest(&dir) {
        if row.get("tcp_streams").and_then(|s| s.parse::<u64>().ok()) == Some(0) {
            continue;
        }
        compare(&dir.join(&row["file"]), &mut shared);
    }
    eprintln!(
        "../shared/pcaps: {} TLS captures, {} streams equal (versions {}, SNI {}, ALPN names {}, alerts {}); {} hello(s) netkit-only on frames tshark flags",
        shared.captures,
        shared.streams,
        shared.versions,
        shared.sni,
        shared.alpn,
        shared.alerts,
        shared.netkit_only
    );
}

/// The findings each fixture must raise (and the good ones none), without tshark.
#[test]
fn tls_findings_on_the_fixtures() {
    let cases: [(&str, &[&str]); 7] = [
        ("tls13-http11.pcapng", &[]),
        ("tls13-chacha.pcapng", &[]),
        ("tls12-gcm.pcapng", &[]),
        ("tls12-chacha.pcapng", &[]),
        ("version-alert.pcapng", &["tls_fatal_alert"]),
        ("unknown-ca.pcapng", &["tls_fatal_alert"]),
        (
            "tls12-expired.pcapng",
            &["tls_cert_expired", "tls_cert_name_mismatch"],
        ),
    ];
    for (file, want) in cases {
        let r = common::analyze_fixture(&format!("tls/{file}"));
        let mut codes: Vec<String> = r
            .findings
            .iter()
            .filter(|f| f.code.as_str().starts_with("tls_"))
            .map(|f| f.code.as_str().to_string())
            .collect();
        codes.sort();
        assert_eq!(codes, want, "{file}: {:#?}", r.findings);
        let c = &r.tls.connections[0];
        assert_eq!(
            c.completed,
            want.is_empty() || want[0] != "tls_fatal_alert",
            "{file}"
        );
        if c.completed {
            assert!(c.handshake_ms >= c.handshake_rtt_ms, "{file}");
        }
    }
    let r = common::analyze_fixture("tls/version-alert.pcapng");
    let a = &r.tls.connections[0].alerts[0];
    assert_eq!(
        (a.from, a.level, a.description),
        ("server", "fatal", "protocol_version")
    );
    let r = common::analyze_fixture("tls/unknown-ca.pcapng");
    let a = &r.tls.connections[0].alerts[0];
    assert_eq!((a.from, a.description), ("client", "unknown_ca"));
}
