//! The graphs' numbers against tshark on the same captures: `pcap graph --kind rtt
//! --csv` against `tcp.analysis.ack_rtt` frame by frame (>= 99% of the samples either
//! side equal), and `pcap graph --kind throughput --interval S --csv` against
//! `tshark -q -z io,stat,S` bin by bin (every bin equal). The committed fixtures
//! always; ../shared/pcaps too when present. Skips (saying why) without tshark.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Streams per capture compared (each is one `pcap graph` run).
const STREAMS_PER_FILE: usize = 25;
/// Captures longer than this are left out of the io,stat comparison: tshark prints
/// one row per interval of the whole duration (a file with a years-long gap between
/// two frames is millions of rows).
const MAX_IO_DURATION_S: f64 = 4000.0;

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().expect("tshark");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn captures() -> Vec<PathBuf> {
    let mut files = common::captures_in(&common::fixtures_dir());
    if let Some(shared) = common::shared_pcaps() {
        files.extend(common::captures_in(&shared));
    }
    files
}

/// (samples compared, equal) for one capture.
fn rtt_agreement(file: &Path) -> (u64, u64) {
    let f = file.to_str().unwrap();
    let mut reference: BTreeMap<u32, BTreeMap<u64, f64>> = BTreeMap::new();
    let text = tshark(&[
        "-r",
        f,
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.analysis.ack_rtt",
        "-Y",
        "tcp.analysis.ack_rtt",
    ]);
    for line in text.lines() {
        let p: Vec<&str> = line.split('\t').collect();
        if let [frame, stream, rtt] = p[..] {
            if let (Ok(frame), Ok(stream), Ok(rtt)) = (frame.parse(), stream.parse(), rtt.parse()) {
                reference.entry(stream).or_default().insert(frame, rtt);
            }
        }
    }
    let (mut compared, mut equal) = (0u64, 0u64);
    for (stream, frames) in reference.iter().take(STREAMS_PER_FILE) {
        let out = common::netkit()
            .args([
                "pcap",
                "graph",
                f,
                "--stream",
                &stream.to_string(),
                "--kind",
                "rtt",
                "--csv",
            ])
            .output()
            .unwrap();
        let mut mine: BTreeMap<u64, f64> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
            let p: Vec<&str> = line.split(',').collect();
            mine.insert(p[0].parse().unwrap(), p[3].parse().unwrap());
        }
        let all: BTreeSet<u64> = frames.keys().chain(mine.keys()).copied().collect();
        for frame in all {
            compared += 1;
            match (frames.get(&frame), mine.get(&frame)) {
                (Some(a), Some(b)) if (a - b).abs() < 1e-9 => equal += 1,
                _ => {}
            }
        }
    }
    (compared, equal)
}

#[test]
fn rtt_samples_equal_tsharks_ack_rtt() {
    if !common::have("tshark") {
        eprintln!("skipping: needs tshark installed (test.sh installs it)");
        return;
    }
    let (mut compared, mut equal) = (0, 0);
    for file in captures() {
        let (c, e) = rtt_agreement(&file);
        if c != e {
            eprintln!("{}: {e} of {c} RTT samples equal", file.display());
        }
        compared += c;
        equal += e;
    }
    let pct = 100.0 * equal as f64 / compared.max(1) as f64;
    eprintln!("RTT samples: {equal} of {compared} equal to tshark's ack_rtt ({pct:.2}%)");
    assert!(compared > 1000, "too few samples compared: {compared}");
    assert!(pct >= 99.0, "{pct:.2}% < 99%");
}

/// tshark's io,stat rows as (frames, bytes).
fn io_stat(file: &str, interval: &str) -> Vec<(u64, u64)> {
    let text = tshark(&["-r", file, "-q", "-z", &format!("io,stat,{interval}")]);
    text.lines()
        .filter(|l| l.contains("<>"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((cells.get(2)?.parse().ok()?, cells.get(3)?.parse().ok()?))
        })
        .collect()
}

fn duration_s(file: &str) -> Option<f64> {
    let out = common::netkit()
        .args(["pcap", "analyze", "--json", file])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["capture"]["duration_s"].as_f64()
}

#[test]
fn throughput_bins_equal_tsharks_io_stat() {
    if !common::have("tshark") {
        eprintln!("skipping: needs tshark installed (test.sh installs it)");
        return;
    }
    let (mut bins, mut equal, mut files, mut no_rows) = (0usize, 0usize, 0, 0);
    for file in captures() {
        let f = file.to_str().unwrap();
        let Some(d) = duration_s(f) else { continue };
        if d > MAX_IO_DURATION_S {
            continue;
        }
        for interval in ["0.1", "1"] {
            let reference = io_stat(f, interval);
            if reference.is_empty() {
                // tshark prints no interval at all for a zero-length capture.
                no_rows += 1;
                continue;
            }
            let out = common::netkit()
                .args([
                    "pcap",
                    "graph",
                    f,
                    "--kind",
                    "throughput",
                    "--interval",
                    interval,
                    "--csv",
                ])
                .output()
                .unwrap();
            let mine: Vec<(u64, u64)> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .skip(1)
                .map(|l| {
                    let p: Vec<&str> = l.split(',').collect();
                    (p[1].parse().unwrap(), p[2].parse().unwrap())
                })
                .collect();
            // tshark runs its rows to the end of the last interval; netkit stops at
            // the last frame's bin: the rows beyond must be empty.
            let n = reference.len().max(mine.len());
            let mut same = 0;
            for i in 0..n {
                let a = reference.get(i).copied().unwrap_or((0, 0));
                let b = mine.get(i).copied().unwrap_or((0, 0));
                same += usize::from(a == b);
            }
            if same != n {
                eprintln!("{f} @ {interval}s: {same} of {n} bins equal");
            }
            bins += n;
            equal += same;
            files += 1;
        }
    }
    eprintln!(
        "io,stat: {equal} of {bins} bins equal over {files} capture/interval pairs ({no_rows} pairs where tshark printed no interval)"
    );
    assert!(bins > 1000, "too few bins compared: {bins}");
    assert_eq!(equal, bins);
}
