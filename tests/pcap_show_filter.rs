//! tshark's habits in `pcap show`: `-r FILE`, `-Y` display filters over the fixtures
//! (checked against `pcap analyze`'s own counts, which tests/truth.rs checks against
//! tshark), several files in one run, and unreadable files that do not hide the rest.

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(rel: &str) -> PathBuf {
    common::fixtures_dir().join(rel)
}

fn run(args: &[&str], files: &[&Path]) -> Output {
    common::netkit().args(args).args(files).output().unwrap()
}

/// The frame numbers `pcap show --json -Y filter` prints for `file`.
fn shown(file: &Path, filter: &str) -> Vec<u64> {
    let out = run(&["pcap", "show", "--json", "-Y", filter], &[file]);
    assert!(
        out.status.success(),
        "{} -Y '{filter}': {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["frame"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn analyze_json(file: &Path) -> Value {
    let out = run(&["pcap", "analyze", "--json"], &[file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every capture under tests/fixtures of the given topics.
fn fixtures(topics: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for t in topics {
        for e in std::fs::read_dir(fixture(t)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn r_reads_a_file_as_tshark_does() {
    let f = fixture("lab/upgrade-rejected-403.pcap");
    let positional = run(&["pcap", "show", "-c", "5"], &[&f]);
    let mut cmd = common::netkit();
    let with_r = cmd
        .args(["pcap", "show", "-c", "5", "-r"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        with_r.status.success(),
        "{}",
        String::from_utf8_lossy(&with_r.stderr)
    );
    assert_eq!(with_r.stdout, positional.stdout);
    assert_eq!(String::from_utf8_lossy(&with_r.stdout).lines().count(), 5);

    // analyze takes it too, so the habit works on both.
    let out = common::netkit()
        .args(["pcap", "analyze", "--json", "-r"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["code"], "websocket_rejected");
}

#[test]
fn analysis_flags_and_websocket_match_the_analyzer() {
    // `pcap analyze` counts tcp.flags.<flag> as tshark's `tcp.analysis.<flag>` filter
    // matches (tests/truth.rs holds it to tshark's numbers); -Y must select as many.
    let flags = [
        "retransmission",
        "fast_retransmission",
        "spurious_retransmission",
        "out_of_order",
        "duplicate_ack",
        "lost_segment",
        "zero_window",
        "keep_alive",
        "window_update",
    ];
    let mut nonzero = 0;
    for f in fixtures(&["tcp", "websocket"]) {
        let report = analyze_json(&f);
        for flag in flags {
            let want = report["tcp"]["flags"][flag].as_u64().unwrap();
            let got = shown(&f, &format!("tcp.analysis.{flag}")).len() as u64;
            assert_eq!(got, want, "{} tcp.analysis.{flag}", f.display());
            nonzero += usize::from(want > 0);
        }
        let ws = report["protocols"]["websocket"].as_u64().unwrap_or(0);
        assert_eq!(
            shown(&f, "websocket").len() as u64,
            ws,
            "{} websocket",
            f.display()
        );
    }
    assert!(nonzero > 10, "the fixtures should exercise the flags");
}

#[test]
fn every_finding_filter_runs_and_shows_its_frames() {
    // The findings print Wireshark filters; pasted into -Y they must work here too.
    let mut checked = 0;
    for f in fixtures(&["lab", "tcp", "websocket", "encap"]) {
        let report = analyze_json(&f);
        for finding in report["findings"].as_array().unwrap() {
            let filter = finding["wireshark_filter"].as_str().unwrap();
            let code = finding["code"].as_str().unwrap();
            let frames: BTreeSet<u64> = shown(&f, filter).into_iter().collect();
            assert!(
                !frames.is_empty(),
                "{} {code}: '{filter}' shows nothing",
                f.display()
            );
            // These findings' frames are what their filter selects (tcp_rto_backoff's
            // also hold the original segment, which is no retransmission).
            let exact = [
                "tcp_reset",
                "tcp_reset_late",
                "tcp_retransmissions",
                "syn_unanswered",
            ];
            if code.starts_with("websocket_") || exact.contains(&code) {
                for n in finding["frames"].as_array().unwrap() {
                    let n = n.as_u64().unwrap();
                    assert!(
                        frames.contains(&n),
                        "{} {code}: frame {n} not shown by '{filter}'",
                        f.display()
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} findings checked");
}

#[test]
fn fields_operators_and_negation_select_as_wireshark() {
    let f = fixture("lab/upgrade-rejected-403.pcap");
    let all = shown(&f, "frame.number >= 1");
    assert_eq!(all.len(), 325);
    // The rejected upgrade's connection, named three ways.
    let stream = shown(&f, "tcp.stream == 8");
    assert!(!stream.is_empty());
    assert_eq!(
        shown(&f, "tcp.port == 43692 && ip.addr == 10.99.1.1"),
        stream
    );
    assert_eq!(
        shown(
            &f,
            "ip.src == 10.99.1.0/24 and tcp.srcport eq 43692 or tcp.dstport eq 43692"
        ),
        stream
    );
    // Under -f the stream numbers stay those of the whole capture, as in analyze.
    let out = run(
        &[
            "pcap",
            "show",
            "--json",
            "-f",
            "tcp port 8001",
            "-Y",
            "tcp.stream == 8",
        ],
        &[&f],
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        stream.len()
    );
    // `!` and `!=` complement.
    let others = shown(&f, "!(tcp.stream == 8)");
    assert_eq!(others.len() + stream.len(), all.len());
    assert_eq!(shown(&f, "tcp.stream != 8"), others);
    // HTTP fields.
    assert_eq!(
        shown(
            &f,
            "http.request.method == \"GET\" && http.request.uri contains \"sock\""
        ),
        vec![320]
    );
    assert_eq!(shown(&f, "http.response.code == 403"), vec![321]);
    assert_eq!(
        shown(&f, "http.response.code >= 400 && http.host"),
        Vec::<u64>::new()
    );
    assert_eq!(
        shown(&f, "http.host == \"lab.example\" && tcp.stream in {8}"),
        vec![320]
    );
    // A SYN without ACK opens each stream.
    let syns = shown(&f, "tcp.flags.syn == 1 && tcp.flags.ack == 0");
    assert!(syns.contains(&stream[0]));
    // -c counts the frames shown, not the frames read.
    let out = run(&["pcap", "show", "-c", "1", "-Y", "http.response"], &[&f]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn an_unknown_field_is_a_usage_error_naming_it() {
    let f = fixture("lab/upgrade-rejected-403.pcap");
    for (filter, says) in [
        (
            "tcp.analysis.nonsense",
            "unknown display-filter field 'tcp.analysis.nonsense'",
        ),
        (
            "sip.method == \"INVITE\"",
            "unknown display-filter field 'sip.method'",
        ),
        ("tcp.port == http", "'tcp.port' takes a number"),
        ("(tcp.stream == 1", "expected ')'"),
    ] {
        let out = run(&["pcap", "show", "-Y", filter], &[&f]);
        assert_eq!(out.status.code(), Some(2), "{filter}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("netkit: -Y: ") && err.contains(says),
            "{err}"
        );
        if says.starts_with("unknown") {
            assert!(
                err.contains("tcp.stream") && err.contains("websocket"),
                "{err}"
            );
        }
    }
}

#[test]
fn several_files_are_shown_and_an_unreadable_one_named() {
    let a = fixture("lab/upgrade-rejected-403.pcap");
    let b = fixture("lab/bad-accept.pcap");
    let missing = Path::new("/nonexistent/missing.pcap");
    let not_capture = fixture("README.md");
    let out = run(
        &["pcap", "show", "--json", "-c", "2"],
        &[&a, missing, &b, &not_capture],
    );
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["file"].as_str().unwrap().to_string(),
                l["frame"].as_u64().unwrap(),
            )
        })
        .collect();
    let (a, b) = (a.display().to_string(), b.display().to_string());
    assert_eq!(
        seen,
        vec![
            (a.clone(), 1),
            (a.clone(), 2),
            (b.clone(), 1),
            (b.clone(), 2)
        ],
        "each file numbered from 1"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let err: Vec<&str> = err.lines().collect();
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(err[0].starts_with("netkit: /nonexistent/missing.pcap: cannot open"));
    assert!(err[1].contains("README.md: not a capture file"), "{err:?}");

    // The text form heads each file's frames with its name; an unreadable file gets
    // no heading, only its line on stderr.
    let text = run(
        &["pcap", "show", "-c", "1"],
        &[Path::new(&a), missing, Path::new(&b)],
    );
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    assert!(!stdout.contains("missing.pcap"), "{stdout}");
    let text = run(
        &["pcap", "show", "-c", "1", "-r"],
        &[Path::new(&b), Path::new(&b)],
    );
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.matches(&b).count(), 2, "{text}");
}

#[test]
fn analyze_reports_the_readable_files_and_names_the_others() {
    let good = fixture("lab/upgrade-rejected-403.pcap");
    let missing = Path::new("/nonexistent/missing.pcap");
    let not_capture = fixture("README.md");
    for json in [false, true] {
        let mut args = vec!["pcap", "analyze"];
        if json {
            args.push("--json");
        }
        let out = run(&args, &[missing, &good, &not_capture]);
        assert_eq!(out.status.code(), Some(1), "json={json}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if json {
            let v: Value = serde_json::from_str(&stdout).unwrap();
            let reports = v
                .as_array()
                .expect("an array: several files were asked for");
            assert_eq!(reports.len(), 1);
            assert_eq!(reports[0]["capture"]["file"], good.display().to_string());
        } else {
            assert!(stdout.starts_with(&good.display().to_string()), "{stdout}");
            assert!(stdout.contains("websocket_rejected"), "{stdout}");
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let err: Vec<&str> = err.lines().collect();
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err[0].starts_with("netkit: /nonexistent/missing.pcap: cannot open: "));
        assert!(err[1].starts_with(&format!("netkit: {}: not a capture", not_capture.display())));
    }
    // Nothing readable at all: the reasons only, exit 1.
    let out = run(&["pcap", "analyze", "--json"], &[missing, &not_capture]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 2);
}
