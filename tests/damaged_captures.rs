//! Damaged and hostile files through the built binary (`netkit pcap analyze --json`):
//! every capture of tests/fixtures (and ../shared/pcaps when present) cut in the middle
//! of records, with bits flipped inside records, with absurd snap and record lengths,
//! with pcapng blocks of wrong lengths; plus files that are not captures at all.
//!
//! The contract (CLI.md): never a panic; a damaged file gives its partial results and
//! a `netkit: warning:` line naming the frame and byte offset where reading stopped
//! (also in `capture.errors`), exit 0; an unusable file gives one clear line, exit 1.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::XorShift;

/// One record (pcap) or block (pcapng) of a capture: where it starts and how long it is.
#[derive(Clone, Copy, Debug)]
struct Record {
    offset: usize,
    len: usize,
    /// Carries a frame (every pcap record; pcapng EPB, SPB and the obsolete PB).
    packet: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Pcap { little: bool },
    Pcapng { little: bool },
}

fn rd32(b: &[u8], at: usize, little: bool) -> Option<usize> {
    let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if little {
        u32::from_le_bytes(w)
    } else {
        u32::from_be_bytes(w)
    } as usize)
}

fn wr32(b: &mut [u8], at: usize, v: u32, little: bool) {
    let w = if little {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    b[at..at + 4].copy_from_slice(&w);
}

/// The records of a well-formed capture, or None when the file is not one this test
/// can cut exactly (unknown magic, trailing bytes, a damaged original).
fn parse(b: &[u8]) -> Option<(Kind, Vec<Record>)> {
    let magic = b.get(..4)?;
    let kind = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => Kind::Pcap { little: true },
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => Kind::Pcap { little: false },
        [0x0a, 0x0d, 0x0d, 0x0a] => Kind::Pcapng {
            little: b.get(8..12)? == [0x4d, 0x3c, 0x2b, 0x1a],
        },
        _ => return None,
    };
    let mut recs = Vec::new();
    match kind {
        Kind::Pcap { little } => {
            let mut at = 24;
            while at < b.len() {
                let len = 16 + rd32(b, at + 8, little)?;
                recs.push(Record {
                    offset: at,
                    len,
                    packet: true,
                });
                at += len;
            }
            (at == b.len()).then_some((kind, recs))
        }
        Kind::Pcapng { little } => {
            let mut at = 0;
            while at < b.len() {
                let ty = rd32(b, at, little)?;
                let len = rd32(b, at + 4, little)?;
                if len < 12 || len % 4 != 0 {
                    return None;
                }
                recs.push(Record {
                    offset: at,
                    len,
                    packet: matches!(ty, 2 | 3 | 6),
                });
                at += len;
            }
            (at == b.len()).then_some((kind, recs))
        }
    }
}

/// What a run must show.
#[derive(Debug)]
enum Expect {
    /// Any clean outcome: exit 0 with a report (warnings allowed), or exit 1 with one line.
    Clean,
    /// Exit 0 with a report of `frames` frames and a read warning stopping at frame
    /// `frames + 1`, byte offset `offset`.
    StopsAt { frames: u64, offset: usize },
    /// Exit 0 with a report (the file header is intact).
    Report,
    /// Exit 1 with one line on stderr.
    Unusable,
}

struct Case {
    name: String,
    bytes: Vec<u8>,
    expect: Expect,
}

fn case(name: String, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        bytes,
        expect,
    }
}

/// The damaged copies of one capture.
fn damage(name: &str, bytes: &[u8], rng: &mut XorShift) -> Vec<Case> {
    let mut out = Vec::new();
    let Some((kind, recs)) = parse(bytes) else {
        return out;
    };
    let little = match kind {
        Kind::Pcap { little } | Kind::Pcapng { little } => little,
    };
    // pcapng's first block is the section header: damage starts after it.
    let first = usize::from(matches!(kind, Kind::Pcapng { .. }));
    if recs.len() <= first {
        return out;
    }
    let packets_before = |i: usize| recs[..i].iter().filter(|r| r.packet).count() as u64;
    let mut picks = vec![first, (first + recs.len()) / 2, recs.len() - 1];
    picks.push(first + rng.below(recs.len() - first));
    picks.push(first + rng.below(recs.len() - first));
    picks.sort_unstable();
    picks.dedup();

    // Cut inside a record: in its header, and half-way through.
    for &i in &picks {
        let r = recs[i];
        for cut in [r.offset + 5, r.offset + r.len / 2] {
            if cut <= r.offset || cut >= r.offset + r.len {
                continue;
            }
            out.push(case(
                format!("{name}: cut at byte {cut} (inside record {i})"),
                bytes[..cut].to_vec(),
                Expect::StopsAt {
                    frames: packets_before(i),
                    offset: r.offset,
                },
            ));
        }
    }

    // Bits flipped inside records (after the file or section header).
    let body = recs[first].offset;
    for (copy, flips) in [1, 4, 16, 64, 256].into_iter().enumerate() {
        let mut b = bytes.to_vec();
        for _ in 0..flips {
            let at = body + rng.below(b.len() - body);
            b[at] ^= 1 << rng.below(8);
        }
        out.push(case(
            format!("{name}: {flips} bit(s) flipped (copy {copy})"),
            b,
            Expect::Report,
        ));
    }

    // A damaged section header leaves nothing readable.
    if let Kind::Pcapng { .. } = kind {
        for (at, bad) in [(4, 0xffff_fff0u32), (4, 8), (8, 0x0102_0304)] {
            let mut b = bytes.to_vec();
            wr32(&mut b, at, bad, little);
            out.push(case(
                format!("{name}: section header word {at} = {bad:#x}"),
                b,
                Expect::Unusable,
            ));
        }
    }

    let mid = picks[picks.len() / 2];
    let m = recs[mid];
    match kind {
        Kind::Pcap { .. } => {
            // Snap length: absurd (4 GiB) and zero, in the file header.
            for snap in [u32::MAX, 0] {
                let mut b = bytes.to_vec();
                wr32(&mut b, 16, snap, little);
                out.push(case(format!("{name}: snaplen {snap}"), b, Expect::Report));
            }
            // A record claiming 4 GiB, and one claiming more on the wire than captured
            // is fine, but one capturing more than the wire length is odd: no panic.
            let mut b = bytes.to_vec();
            wr32(&mut b, m.offset + 8, 0xffff_fff0, little);
            out.push(case(
                format!("{name}: record {mid} claims 4 GiB"),
                b,
                Expect::StopsAt {
                    frames: packets_before(mid),
                    offset: m.offset,
                },
            ));
            let mut b = bytes.to_vec();
            wr32(&mut b, m.offset + 12, 0, little);
            out.push(case(
                format!("{name}: record {mid} wire length 0"),
                b,
                Expect::Report,
            ));
        }
        Kind::Pcapng { .. } => {
            // The length at the start of a block: zero, too small, unaligned, absurd,
            // longer than the file.
            for bad in [0u32, 8, 13, 0xffff_fff0, (bytes.len() + 64) as u32] {
                let mut b = bytes.to_vec();
                wr32(&mut b, m.offset + 4, bad, little);
                out.push(case(
                    format!("{name}: block {mid} length {bad}"),
                    b,
                    Expect::StopsAt {
                        frames: packets_before(mid),
                        offset: m.offset,
                    },
                ));
            }
            // The trailing copy of the length disagrees.
            let mut b = bytes.to_vec();
            wr32(&mut b, m.offset + m.len - 4, (m.len + 4) as u32, little);
            out.push(case(
                format!("{name}: block {mid} trailing length wrong"),
                b,
                Expect::Report,
            ));
            // An interface description with an absurd snap length (bytes 12..16).
            if let Some(idb) = recs
                .iter()
                .find(|r| rd32(bytes, r.offset, little) == Some(1))
            {
                let mut b = bytes.to_vec();
                wr32(&mut b, idb.offset + 12, u32::MAX, little);
                out.push(case(
                    format!("{name}: IDB snaplen 4 GiB"),
                    b,
                    Expect::Report,
                ));
            }
        }
    }
    out
}

/// Files that are no capture at all, or too little of one.
fn not_captures(rng: &mut XorShift) -> Vec<Case> {
    let mut out = vec![
        case("empty".into(), Vec::new(), Expect::Unusable),
        case(
            "text".into(),
            b"GET / HTTP/1.1\r\nHost: example\r\n\r\nthis is not a capture\n".to_vec(),
            Expect::Unusable,
        ),
        case(
            "pcap header cut at 10 bytes".into(),
            vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0],
            Expect::Unusable,
        ),
        case(
            "pcapng section header cut at 10 bytes".into(),
            vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c],
            Expect::Unusable,
        ),
        case(
            "pcap with version 7.1".into(),
            [0xd4, 0xc3, 0xb2, 0xa1, 7, 0, 1, 0]
                .into_iter()
                .chain([0u8; 16])
                .collect(),
            Expect::Clean,
        ),
    ];
    // An ELF binary: the test runner itself (its first 64 KiB).
    if let Ok(exe) = std::env::current_exe().and_then(std::fs::read) {
        let head = exe[..exe.len().min(65536)].to_vec();
        out.push(case("ELF binary".into(), head, Expect::Unusable));
    }
    for len in [1usize, 3, 4, 23, 24, 100, 4096, 65536] {
        let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Random bytes that happen to start with a capture magic are a damaged capture.
        out.push(case(format!("{len} random bytes"), b, Expect::Clean));
    }
    // Capture magics followed by garbage.
    for magic in [
        [0xd4u8, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ] {
        for len in [64usize, 4096] {
            let b: Vec<u8> = magic
                .into_iter()
                .chain((4..len).map(|_| rng.next() as u8))
                .collect();
            out.push(case(
                format!("magic {magic:02x?} + {len} random bytes"),
                b,
                Expect::Clean,
            ));
        }
    }
    out
}

/// The files under `dir`, recursively, in name order.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every distinct capture file (by content, whatever its name): the fixtures, then the
/// shared corpus's other files.
fn originals() -> Vec<(String, Vec<u8>)> {
    let mut dirs = vec![common::fixtures_dir()];
    dirs.extend(common::shared_pcaps());
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for dir in dirs {
        let mut files = Vec::new();
        walk(&dir, &mut files);
        for path in files {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let magic = bytes.get(..4).unwrap_or_default();
            let capture = [
                [0xd4, 0xc3, 0xb2, 0xa1],
                [0x4d, 0x3c, 0xb2, 0xa1],
                [0xa1, 0xb2, 0xc3, 0xd4],
                [0xa1, 0xb2, 0x3c, 0x4d],
                [0x0a, 0x0d, 0x0d, 0x0a],
            ]
            .iter()
            .any(|m| m == magic);
            if capture && seen.insert(bytes.clone()) {
                let name = path.strip_prefix(&dir).unwrap_or(&path);
                out.push((name.display().to_string(), bytes));
            }
        }
    }
    out
}

fn run(path: &Path) -> Output {
    common::netkit()
        .args(["pcap", "analyze", "--json"])
        .arg(path)
        .output()
        .expect("run netkit")
}

/// Checks one outcome against the contract; returns what is wrong.
fn check(c: &Case, path: &Path, out: &Output) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    if code == Some(101) || stderr.contains("panicked") {
        return Err(format!("PANIC (exit {code:?}): {stderr}"));
    }
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let unusable = |why: &str| -> Result<(), String> {
        let fine = out.stdout.is_empty()
            && lines.len() == 1
            && lines[0].starts_with("netkit: ")
            && lines[0].contains(&path.display().to_string());
        if fine {
            Ok(())
        } else {
            Err(format!(
                "{why}: exit 1 must be one line naming the file: {stderr}"
            ))
        }
    };
    let report = || -> Result<serde_json::Value, String> {
        if let Some(l) = lines.iter().find(|l| !l.starts_with("netkit: warning: ")) {
            return Err(format!("exit 0 with a stderr line not a warning: {l}"));
        }
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("exit 0 but stdout is not JSON: {e}"))?;
        let errors = json["capture"]["errors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for e in errors.iter().filter(|e| e["kind"] == "read") {
            let msg = e["message"].as_str().unwrap_or("");
            let named = format!("frame {}, byte offset {}", e["frame"], e["offset"]);
            if !msg.contains(&named) {
                return Err(format!("read error does not name frame and offset: {e}"));
            }
            if !lines.iter().any(|l| l.contains(msg)) {
                return Err(format!("read error without a warning line: {msg}"));
            }
        }
        Ok(json)
    };
    match (&c.expect, code) {
        // Damage before the first record leaves nothing readable: exit 1, one line.
        (Expect::StopsAt { frames: 0, offset }, Some(1)) => {
            unusable("nothing readable")?;
            let named = format!("nothing readable: stopped at frame 1, byte offset {offset}");
            if lines[0].contains(&named) {
                Ok(())
            } else {
                Err(format!("expected '{named}': {stderr}"))
            }
        }
        (Expect::StopsAt { frames: 0, .. }, code) => Err(format!(
            "damage before any record must be exit 1 (nothing readable), got {code:?}: {stderr}"
        )),
        // Flipped bits may hit the first record: nothing readable is then exit 1.
        (Expect::Report, Some(1)) if stderr.contains(": nothing readable: ") => {
            unusable("nothing readable")
        }
        (Expect::Unusable, Some(1)) => unusable("unusable file"),
        (Expect::Clean, Some(1)) => unusable("refused file"),
        (Expect::Clean | Expect::Report, Some(0)) => report().map(|_| ()),
        (Expect::StopsAt { frames, offset }, Some(0)) => {
            let json = report()?;
            let got = json["capture"]["frames"].as_u64();
            if got != Some(*frames) {
                return Err(format!(
                    "expected {frames} frames before the damage, got {got:?}"
                ));
            }
            let errors = json["capture"]["errors"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let stop = errors.iter().find(|e| {
                e["kind"] == "read"
                    && e["frame"].as_u64() == Some(frames + 1)
                    && e["offset"].as_u64() == Some(*offset as u64)
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("stopped at"))
            });
            // The damage is a finding too, naming the same place.
            let finding = json["findings"].as_array().and_then(|fs| {
                fs.iter()
                    .find(|f| f["code"] == "capture_damaged" && f["severity"] == "warning")
            });
            match finding {
                Some(f) if f["frames"][0].as_u64() == Some(frames + 1) => {}
                other => {
                    return Err(format!(
                        "no capture_damaged finding for frame {}: {other:?}",
                        frames + 1
                    ))
                }
            }
            match stop {
                Some(_) => Ok(()),
                None => Err(format!(
                    "no warning 'stopped at frame {}, byte offset {offset}': {errors:?}",
                    frames + 1
                )),
            }
        }
        (e, code) => Err(format!("expected {e:?}, got exit {code:?}: {stderr}")),
    }
}

struct Tally {
    tried: usize,
    stopped: usize,
    refused: usize,
    failures: Vec<String>,
}

fn run_cases(cases: &[Case], dir: &Path, worker: usize) -> Tally {
    let mut t = Tally {
        tried: 0,
        stopped: 0,
        refused: 0,
        failures: Vec::new(),
    };
    let path: PathBuf = dir.join(format!("damaged-{worker}.pcap"));
    for c in cases {
        std::fs::write(&path, &c.bytes).expect("write a damaged copy");
        let out = run(&path);
        t.tried += 1;
        match out.status.code() {
            Some(1) => t.refused += 1,
            Some(0) if out.stderr.starts_with(b"netkit: warning:") => t.stopped += 1,
            _ => {}
        }
        if let Err(why) = check(c, &path, &out) {
            t.failures.push(format!("{}: {why}", c.name));
        }
    }
    t
}

#[test]
fn damaged_and_foreign_files_never_panic_and_say_where_reading_stopped() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let originals = originals();
    let mut cases = not_captures(&mut rng);
    let mut cut_exactly = 0;
    for (name, bytes) in &originals {
        let damaged = damage(name, bytes, &mut rng);
        cut_exactly += usize::from(!damaged.is_empty());
        cases.extend(damaged);
    }
    let dir = std::env::temp_dir().join(format!("netkit-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Two workers: the machine has two cores, and each run is a separate process.
    let half = cases.len() / 2;
    let (a, b) = cases.split_at(half);
    let (ta, tb) = std::thread::scope(|s| {
        let ha = s.spawn(|| run_cases(a, &dir, 0));
        let tb = run_cases(b, &dir, 1);
        (ha.join().expect("worker"), tb)
    });
    let _ = std::fs::remove_dir_all(&dir);
    let tried = ta.tried + tb.tried;
    let failures: Vec<String> = ta.failures.into_iter().chain(tb.failures).collect();
    let panics = failures.iter().filter(|f| f.contains("PANIC")).count();
    eprintln!(
        "damaged captures: {} originals ({cut_exactly} parsed and damaged), {tried} files tried, \
         {} gave partial results with a warning, {} refused (exit 1), {} failures, {panics} panics",
        originals.len(),
        ta.stopped + tb.stopped,
        ta.refused + tb.refused,
        failures.len()
    );
    for f in failures.iter().take(30) {
        eprintln!("  {f}");
    }
    assert!(
        cut_exactly >= 80,
        "only {cut_exactly} captures could be damaged"
    );
    assert!(
        failures.is_empty(),
        "{} files broke the contract",
        failures.len()
    );
}
