//! `pcap analyze --export` / `--export-notices` through the built binary, checked
//! against the tools people load them with:
//!
//! - `community_id` equals the reference implementation (the `communityid` Python
//!   package) on every connection of tests/fixtures and ../shared/pcaps;
//! - DuckDB (the `duckdb` Python package) reads the NDJSON and the Parquet export of
//!   every capture, the two hold the same rows, and a SQL top 10 of connections by
//!   `netkit.retransmissions` equals the report's own "worst streams" order and
//!   values;
//! - every record carries the conn.log fields, notices name their connection's uid.
//!
//! The Python packages are installed with pip when missing; without Python or network
//! those parts say so and skip.

mod common;

use common::python_with;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct RemoveDir(PathBuf);
impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> (PathBuf, RemoveDir) {
    let d = std::env::temp_dir().join(format!("netkit-export-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    (d.clone(), RemoveDir(d))
}

/// Runs a Python script with `input` on stdin; its stdout parsed as JSON.
fn python(script: &str, input: &str) -> Value {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_string();
    let feeder = std::thread::spawn(move || stdin.write_all(data.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `pcap analyze --json --export` of one capture: the report (None when netkit
/// refused the file) and the conn records.
fn export(capture: &Path, dest: &Path) -> (Option<Value>, Vec<Value>) {
    let out = common::netkit()
        .args(["pcap", "analyze", "--json", "--export"])
        .arg(dest)
        .arg(capture)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{}: {stderr}",
        capture.display()
    );
    if !out.status.success() {
        return (None, Vec::new());
    }
    let report = serde_json::from_slice(&out.stdout).unwrap();
    let text = std::fs::read_to_string(dest).unwrap();
    let records = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (Some(report), records)
}

fn corpus() -> Vec<PathBuf> {
    let mut files = common::captures_in(&common::fixtures_dir());
    if let Some(shared) = common::shared_pcaps() {
        files.extend(common::captures_in(&shared));
    }
    files
}

const CONN_FIELDS: [&str; 14] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "conn_state",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
];

#[test]
fn community_id_equals_the_reference_on_every_connection() {
    if !python_with("communityid", "communityid") {
        return;
    }
    let (dir, _guard) = scratch("cid");
    let dest = dir.join("flows.ndjson");
    let mut records = Vec::new();
    for f in corpus() {
        let (_, recs) = export(&f, &dest);
        for r in &recs {
            for k in CONN_FIELDS.iter().chain(&["community_id"]) {
                assert!(r.get(*k).is_some(), "{}: no {k} in {r}", f.display());
            }
        }
        records.extend(recs);
    }
    // The fixtures alone hold 272 connections; with ../shared/pcaps, 562.
    let least = if common::shared_pcaps().is_some() {
        500
    } else {
        250
    };
    assert!(records.len() > least, "only {} connections", records.len());
    let input: String = records
        .iter()
        .map(|r| {
            let mut s = serde_json::to_string(&serde_json::json!([
                r["proto"],
                r["id.orig_h"],
                r["id.resp_h"],
                r["id.orig_p"],
                r["id.resp_p"]
            ]))
            .unwrap();
            s.push('\n');
            s
        })
        .collect();
    // ICMP's orig_p and resp_p are the type and code, as Zeek logs them and as
    // make_icmp takes them.
    let reference = python(
        r#"
import json, sys, communityid
cid = communityid.CommunityID(seed=0)
out = []
for line in sys.stdin:
    proto, o, r, op, rp = json.loads(line)
    if proto == "tcp":
        t = communityid.FlowTuple.make_tcp(o, r, op, rp)
    elif proto == "udp":
        t = communityid.FlowTuple.make_udp(o, r, op, rp)
    elif ":" in o:
        t = communityid.FlowTuple.make_icmp6(o, r, op, rp)
    else:
        t = communityid.FlowTuple.make_icmp(o, r, op, rp)
    out.append(cid.calc(t))
print(json.dumps(out))
"#,
        &input,
    );
    let reference = reference.as_array().unwrap();
    assert_eq!(reference.len(), records.len());
    let mut by_proto: BTreeMap<String, usize> = BTreeMap::new();
    for (r, want) in records.iter().zip(reference) {
        assert_eq!(&r["community_id"], want, "{r}");
        *by_proto
            .entry(r["proto"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    eprintln!(
        "community_id equals the reference on {}/{} connections {by_proto:?}",
        records.len(),
        records.len()
    );
}

/// The report's "worst streams" by retransmissions, as `view` orders them (most
/// first, a stable sort so ties stay in stream order): (stream, retransmissions).
fn report_top10(report: &Value) -> Vec<(u64, u64)> {
    let mut streams: Vec<(u64, u64)> = report["tcp"]["streams_detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stream"].as_u64().unwrap(),
                s["retransmission"].as_u64().unwrap(),
            )
        })
        .filter(|s| s.1 > 0)
        .collect();
    streams.sort_by_key(|s| std::cmp::Reverse(s.1));
    streams.truncate(10);
    streams
}

/// The export's columns and their SQL types, as DuckDB is told to read the NDJSON.
const COLUMNS: &str = "{'ts': 'DOUBLE', 'uid': 'VARCHAR', 'id.orig_h': 'VARCHAR', \
    'id.orig_p': 'BIGINT', 'id.resp_h': 'VARCHAR', 'id.resp_p': 'BIGINT', \
    'proto': 'VARCHAR', 'service': 'VARCHAR', 'duration': 'DOUBLE', \
    'orig_bytes': 'BIGINT', 'resp_bytes': 'BIGINT', 'conn_state': 'VARCHAR', \
    'missed_bytes': 'BIGINT', 'history': 'VARCHAR', 'orig_pkts': 'BIGINT', \
    'orig_ip_bytes': 'BIGINT', 'resp_pkts': 'BIGINT', 'resp_ip_bytes': 'BIGINT', \
    'community_id': 'VARCHAR', 'netkit.tcp_stream': 'BIGINT', \
    'netkit.retransmissions': 'BIGINT', 'netkit.dup_acks': 'BIGINT', \
    'netkit.rtt_ms': 'DOUBLE', 'netkit.websocket': 'VARCHAR'}";

#[test]
fn duckdb_top10_by_retransmissions_equals_the_report() {
    if !python_with("duckdb", "duckdb") {
        return;
    }
    let (dir, _guard) = scratch("duckdb");
    let mut expected: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    let mut files = Vec::new();
    for (i, f) in corpus().into_iter().enumerate() {
        let dest = dir.join(format!("{i}.ndjson"));
        let (Some(report), records) = export(&f, &dest) else {
            continue;
        };
        if records.is_empty() {
            continue;
        }
        let parquet = dir.join(format!("{i}.parquet"));
        let out = common::netkit()
            .args(["pcap", "analyze", "--export"])
            .arg(&parquet)
            .arg(&f)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", f.display());
        expected.insert(dest.display().to_string(), report_top10(&report));
        files.push((dest.display().to_string(), parquet.display().to_string()));
    }
    let with_retrans = expected.values().filter(|t| !t.is_empty()).count();
    assert!(
        with_retrans >= 5,
        "only {with_retrans} captures with retransmissions"
    );
    // A stream split into several records (quiet past the TCP timeout) carries the
    // stream's counts in each: DISTINCT keeps one. Every Parquet row must equal its
    // NDJSON row.
    let script = r#"
import json, sys, duckdb
columns = sys.argv[1]
out = {}
top = """SELECT DISTINCT "netkit.tcp_stream" AS stream, "netkit.retransmissions" AS r
         FROM {src} WHERE "netkit.retransmissions" > 0
         ORDER BY r DESC, stream LIMIT 10"""
for nd, pq in json.load(sys.stdin):
    nd_src = f"read_ndjson('{nd}', columns={columns})"
    pq_src = f"read_parquet('{pq}')"
    names = ", ".join(f'"{c}"' for c in eval(columns))
    rows_nd = duckdb.sql(f"SELECT {names} FROM {nd_src} ORDER BY uid").fetchall()
    rows_pq = duckdb.sql(f"SELECT {names} FROM {pq_src} ORDER BY uid").fetchall()
    out[nd] = {
        "rows": len(rows_nd),
        "same": rows_nd == rows_pq,
        "ndjson": [[int(s), int(r)] for s, r in duckdb.sql(top.format(src=nd_src)).fetchall()],
        "parquet": [[int(s), int(r)] for s, r in duckdb.sql(top.format(src=pq_src)).fetchall()],
    }
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, COLUMNS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_string(&files).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rows = 0;
    for (nd, _) in &files {
        let g = &got[nd];
        assert_eq!(
            g["same"], true,
            "{nd}: Parquet rows differ from the NDJSON's"
        );
        rows += g["rows"].as_u64().unwrap();
        for format in ["ndjson", "parquet"] {
            let top: Vec<(u64, u64)> = g[format]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
                .collect();
            assert_eq!(&top, &expected[nd], "{nd} ({format})");
        }
    }
    eprintln!(
        "DuckDB: {rows} rows, Parquet equal to NDJSON on {} captures; the top 10 by \
         netkit.retransmissions equals the report's on all ({with_retrans} with \
         retransmissions)",
        files.len()
    );
}

#[test]
fn notices_name_their_connection() {
    let (dir, _guard) = scratch("notice");
    let f = common::fixtures_dir().join("tcp/arkime__wireshark-retrans.pcap");
    let flows = dir.join("flows.ndjson");
    let notices = dir.join("notices.ndjson");
    let out = common::netkit()
        .args(["pcap", "analyze", "--json", "--export"])
        .arg(&flows)
        .arg("--export-notices")
        .arg(&notices)
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let read = |p: &Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (flows, notices) = (read(&flows), read(&notices));
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(notices.len(), findings.len());
    assert!(!notices.is_empty(), "the fixture has findings");
    let uids: HashMap<&str, &Value> = flows
        .iter()
        .map(|r| (r["uid"].as_str().unwrap(), r))
        .collect();
    for (n, f) in notices.iter().zip(findings) {
        assert_eq!(n["msg"], f["summary"]);
        assert_eq!(n["netkit.group"], f["group"]);
        assert_eq!(
            n["note"],
            format!("Netkit::{}", f["code"].as_str().unwrap())
        );
        if let Some(stream) = f["stream"].as_u64() {
            let conn = uids[n["uid"].as_str().expect("a stream finding has a uid")];
            assert_eq!(conn["netkit.tcp_stream"], stream);
            assert_eq!(conn["id.orig_h"], n["id.orig_h"]);
            assert_eq!(conn["id.resp_p"], n["id.resp_p"]);
        }
    }
}

#[test]
fn notices_refuse_parquet_in_one_line() {
    let f = common::fixtures_dir().join("tcp/arkime__wireshark-retrans.pcap");
    let out = common::netkit()
        .args([
            "pcap",
            "analyze",
            "--export-notices",
            "/nonexistent/n.parquet",
        ])
        .arg(&f)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("NDJSON only"), "{stderr}");
}

/// An Ethernet/IPv4/TCP frame from 10.0.0.1:40000 (`from_client`) or 10.0.0.2:80.
fn tcp_frame(from_client: bool, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], 40000u16, 80u16)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 80, 40000)
    };
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A connection quiet for longer than Zeek's TCP inactivity timeout (5 min) is over:
/// the segment after the silence starts a second record, as in Zeek, on the same
/// netkit stream.
#[test]
fn a_quiet_connection_ends_after_the_tcp_timeout() {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let frames = [
        (0.0f64, tcp_frame(true, SYN, 100, 0, &[])),
        (0.001, tcp_frame(false, SYN | ACK, 500, 101, &[])),
        (0.002, tcp_frame(true, ACK, 101, 501, &[])),
        (400.0, tcp_frame(true, ACK | PSH, 101, 501, b"hello")),
        (400.001, tcp_frame(false, ACK, 501, 106, &[])),
    ];
    let mut pcap = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        pcap.extend_from_slice(&w.to_le_bytes());
    }
    for (t, f) in &frames {
        let us = (t * 1e6).round() as u64;
        let sec = 1_700_000_000 + (us / 1_000_000) as u32;
        for w in [sec, (us % 1_000_000) as u32, f.len() as u32, f.len() as u32] {
            pcap.extend_from_slice(&w.to_le_bytes());
        }
        pcap.extend_from_slice(f);
    }
    let (dir, _guard) = scratch("quiet");
    let capture = dir.join("quiet.pcap");
    std::fs::write(&capture, &pcap).unwrap();
    let (_, records) = export(&capture, &dir.join("flows.ndjson"));
    let got: Vec<(&str, &str, u64)> = records
        .iter()
        .map(|r| {
            (
                r["conn_state"].as_str().unwrap(),
                r["history"].as_str().unwrap(),
                r["netkit.tcp_stream"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("S1", "ShA", 0), ("OTH", "Da", 0)], "{records:?}");
}
