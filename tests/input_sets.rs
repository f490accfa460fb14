//! Input sets through the built binary: directories and (quoted) glob patterns,
//! rotated sets ordered by first time stamp, `--merge`, and `--jobs`.
//!
//! - Every capture of the corpus (tests/fixtures, ../shared/pcaps when present) whose
//!   frames are in time order is cut into tcpdump -C style pieces (`trace.pcap`,
//!   `trace.pcap1`, ..., names that do not sort into time order) with netkit's own
//!   writer; `--merge` of the pieces, named by a quoted pattern, must give the same
//!   report as the whole file, and (where no two frames share a time stamp, see
//!   below) the same as the pieces put back together by Wireshark's `mergecap` when
//!   it is installed.
//! - A member that is not a capture is named on stderr, counted in the report, and
//!   the rest analysed.
//! - `--jobs 1` and `--jobs 2` over the whole corpus give byte-identical JSON.

mod common;

use netkit_os::capture::pcapng_writer::PcapngWriter;
use netkit_os::capture::CaptureFile;
use serde_json::Value;
use std::path::{Path, PathBuf};

struct RemoveDir(PathBuf);
impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> (PathBuf, RemoveDir) {
    let d = std::env::temp_dir().join(format!("nk19-sets-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    (d.clone(), RemoveDir(d))
}

fn corpus() -> Vec<PathBuf> {
    let mut files = common::captures_in(&common::fixtures_dir());
    if let Some(shared) = common::shared_pcaps() {
        files.extend(common::captures_in(&shared));
    }
    files
}

/// A frame as read: enough to write it again.
struct Frame {
    linktype: u16,
    ts_ns: i64,
    orig_len: u32,
    data: Vec<u8>,
}

/// The frames of a capture, or `None` when it cannot be split faithfully: damaged
/// (skipped records keep their numbers, a rewrite would not), out of time order
/// (a merge orders by time, as mergecap does), or too short to cut.
fn frames_to_split(path: &Path) -> Result<Vec<Frame>, &'static str> {
    let mut f = CaptureFile::open(path).map_err(|_| "unreadable")?;
    let mut frames = Vec::new();
    while let Some(r) = f.next_frame() {
        frames.push(Frame {
            linktype: r.linktype,
            ts_ns: r.ts_ns,
            orig_len: r.orig_len,
            data: r.data.to_vec(),
        });
    }
    if !f.warnings().is_empty() {
        return Err("damaged");
    }
    if f.interface_names().len() > 1 {
        // Interface numbers are each member's own in a merge.
        return Err("several interfaces");
    }
    if frames.len() < 3 {
        return Err("fewer than 3 frames");
    }
    if frames.windows(2).any(|w| w[1].ts_ns < w[0].ts_ns) {
        return Err("frames out of time order");
    }
    Ok(frames)
}

/// Cuts `frames` into `pieces` files named as tcpdump -C names them; `None` when two
/// pieces would start at the same instant (their order would then be a tie that no
/// time stamp decides).
fn write_rotated(frames: &[Frame], pieces: usize, dir: &Path) -> Option<Vec<PathBuf>> {
    let per = frames.len().div_ceil(pieces);
    let chunks: Vec<&[Frame]> = frames.chunks(per).collect();
    if chunks.windows(2).any(|w| w[0][0].ts_ns == w[1][0].ts_ns) {
        return None;
    }
    let mut paths = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let name = if i == 0 {
            "trace.pcap".to_string()
        } else {
            format!("trace.pcap{i}")
        };
        let path = dir.join(name);
        let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
        for f in *chunk {
            w.write(f.linktype, f.ts_ns, f.orig_len, &f.data).unwrap();
        }
        w.finish().unwrap();
        paths.push(path);
    }
    Some(paths)
}

fn analyze_json(args: &[&str]) -> (Value, String, Option<i32>) {
    let out = common::netkit()
        .args(["pcap", "analyze", "--json"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}; stderr: {stderr}"));
    (v, stderr, out.status.code())
}

/// The report without what names the input (file names, container format).
fn content(mut v: Value) -> Value {
    let c = v["capture"].as_object_mut().unwrap();
    for k in ["file", "files", "format", "unreadable_files"] {
        c.remove(k);
    }
    v
}

#[test]
fn merge_of_rotated_pieces_equals_the_whole_capture() {
    let (dir, _guard) = scratch("merge");
    let mergecap = common::have("mergecap");
    if !mergecap {
        eprintln!("mergecap not installed: the comparison with it is skipped");
    }
    let (mut equal, mut with_mergecap) = (0, 0);
    let mut skipped: Vec<String> = Vec::new();
    for path in corpus() {
        let frames = match frames_to_split(&path) {
            Ok(f) => f,
            Err(why) => {
                skipped.push(format!("{}: {why}", path.display()));
                continue;
            }
        };
        let set = dir.join("set");
        let _ = std::fs::remove_dir_all(&set);
        std::fs::create_dir_all(&set).unwrap();
        // 12 pieces where there are frames enough: trace.pcap10 and 11 then sort
        // by name before trace.pcap2, and only the time stamps put them last.
        let Some(pieces) = write_rotated(&frames, frames.len().min(12), &set) else {
            skipped.push(format!(
                "{}: pieces starting at the same instant",
                path.display()
            ));
            continue;
        };
        let pattern = set.join("trace.pcap*");
        let (merged, stderr, code) = analyze_json(&["--merge", pattern.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{}: {stderr}", path.display());
        assert_eq!(
            merged["capture"]["files"].as_array().unwrap().len(),
            pieces.len()
        );
        let (whole, _, _) = analyze_json(&[path.to_str().unwrap()]);
        assert_eq!(
            content(merged.clone()),
            content(whole),
            "--merge of {} pieces of {} differs from the whole file",
            pieces.len(),
            path.display()
        );
        equal += 1;
        // mergecap 4.0 breaks a tie between members by taking the later member's
        // frame first, so two frames at one instant on either side of a rotation
        // come out swapped; netkit keeps the set's order, which is the original.
        // Compared with mergecap only where no tie can arise.
        let strictly_increasing = frames.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns);
        if mergecap && strictly_increasing {
            let joined = dir.join("joined.pcapng");
            let mut cmd = std::process::Command::new("mergecap");
            cmd.arg("-w").arg(&joined).args(&pieces);
            assert!(cmd.status().unwrap().success());
            let (theirs, _, _) = analyze_json(&[joined.to_str().unwrap()]);
            assert_eq!(content(merged), content(theirs), "{}", path.display());
            with_mergecap += 1;
        }
    }
    eprintln!(
        "--merge equal to the whole file: {equal} captures ({with_mergecap} also equal to \
         mergecap's merge); {} not split:",
        skipped.len()
    );
    for s in &skipped {
        eprintln!("  {s}");
    }
    assert!(equal >= 50, "only {equal} captures could be compared");
}

#[test]
fn a_directory_with_an_unreadable_member_reports_the_rest() {
    let (dir, _guard) = scratch("dir");
    let whole = common::fixtures_dir().join("tcp/arkime__wireshark-retrans.pcap");
    let frames = frames_to_split(&whole).unwrap();
    write_rotated(&frames, 3, &dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a capture\n").unwrap();

    // File by file: three reports and the reason for the fourth; exit status 1.
    let (each, stderr, code) = analyze_json(&[dir.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let reports = each.as_array().unwrap();
    assert_eq!(reports.len(), 3);
    let frames_each: u64 = reports
        .iter()
        .map(|r| r["capture"]["frames"].as_u64().unwrap())
        .sum();
    assert_eq!(frames_each, frames.len() as u64);
    assert!(stderr.contains("notes.txt"), "{stderr}");

    // Merged: one report of everything readable, the member counted and named.
    let (merged, stderr, code) = analyze_json(&["--merge", dir.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(merged["capture"]["frames"], frames.len() as u64);
    assert_eq!(merged["capture"]["files"].as_array().unwrap().len(), 3);
    let unreadable = merged["capture"]["unreadable_files"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].as_str().unwrap().contains("notes.txt"));
    assert!(stderr.contains("notes.txt"), "{stderr}");

    // The human report ends with the sum of the files.
    let out = common::netkit()
        .args(["pcap", "analyze"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let total = text.lines().last().unwrap();
    assert!(
        total.starts_with("Total: 3 files analysed (1 unreadable, named on stderr), ")
            && total.contains(&format!("{} frames", frames.len())),
        "{total}"
    );

    // pcap show --merge: the frames of the whole file, numbered as in it.
    let show = |args: &[&str]| {
        let out = common::netkit()
            .args(["pcap", "show"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let pattern = dir.join("trace.pcap*");
    assert_eq!(
        show(&["--merge", pattern.to_str().unwrap()]),
        show(&[whole.to_str().unwrap()])
    );
}

#[test]
fn jobs_1_and_jobs_2_give_identical_reports_over_the_corpus() {
    let files: Vec<String> = corpus().iter().map(|p| p.display().to_string()).collect();
    let run = |jobs: &str| {
        let out = common::netkit()
            .args(["pcap", "analyze", "--json", "--jobs", jobs])
            .args(&files)
            .output()
            .unwrap();
        out.stdout
    };
    let one = run("1");
    let two = run("2");
    let reports: Vec<Value> = serde_json::from_slice(&one).unwrap();
    eprintln!(
        "--jobs 1 and --jobs 2: {} reports, {} bytes of JSON, identical: {}",
        reports.len(),
        one.len(),
        one == two
    );
    assert!(one == two, "--jobs 2 differs from --jobs 1");
    assert!(reports.len() >= 100);
}

/// `--jobs 2` on one capture splits the sections across threads: every capture of the
/// corpus on its own, and the whole corpus merged into one capture, must give the
/// report and the conn.log export of `--jobs 1`, byte for byte.
#[test]
fn one_capture_on_two_threads_is_the_same_as_on_one() {
    let (dir, _guard) = scratch("threads");
    let run = |jobs: &str, args: &[String]| {
        let export = dir.join(format!("flows-{jobs}.ndjson"));
        let out = common::netkit()
            .args(["pcap", "analyze", "--json", "--jobs", jobs, "--export"])
            .arg(&export)
            .args(args)
            .output()
            .unwrap();
        (out.stdout, std::fs::read(&export).unwrap())
    };
    let files: Vec<String> = corpus().iter().map(|p| p.display().to_string()).collect();
    let mut identical = 0;
    for f in &files {
        let one = run("1", std::slice::from_ref(f));
        let two = run("2", std::slice::from_ref(f));
        assert!(one == two, "{f}: --jobs 2 differs from --jobs 1");
        identical += 1;
    }
    let mut all = vec!["--merge".to_string()];
    all.extend(files.iter().cloned());
    let one = run("1", &all);
    let two = run("2", &all);
    assert!(
        one == two,
        "the merged corpus: --jobs 2 differs from --jobs 1"
    );
    let merged: Value = serde_json::from_slice(&one.0).unwrap();
    eprintln!(
        "one capture on 2 threads identical to 1 thread: {identical} captures, and the \
         merged corpus ({} frames, {} conn records)",
        merged["capture"]["frames"],
        one.1.iter().filter(|&&b| b == b'\n').count()
    );
}

/// `--jobs N` above 2 on one capture without `--export` splits the TCP engine by flow
/// hash (cmds/src/pcap/analyze/sharded.rs), `--jobs 2` the sections across two threads
/// (parallel.rs): every capture of the corpus, with its flagged frames listed
/// (`--frames`), under a capture filter (the rejected frames still number streams),
/// and the whole corpus merged into one capture, must give the report of `--jobs 1`
/// byte for byte, on two threads and with 3 and 4 shards (3: a count that is not a
/// power of two, so no hash happens to line up with an even split).
#[test]
fn one_capture_split_by_flow_is_the_same_as_on_one_thread() {
    let run = |jobs: &str, args: &[String]| {
        let out = common::netkit()
            .args(["pcap", "analyze", "--json", "--frames", "--jobs", jobs])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.code() != Some(101),
            "--jobs {jobs} {args:?} panicked: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let files: Vec<String> = corpus().iter().map(|p| p.display().to_string()).collect();
    let mut compared = 0;
    let mut streams = 0u64;
    for f in &files {
        for extra in [
            vec![],
            vec!["-f".to_string(), "tcp port 443 or udp".to_string()],
        ] {
            let mut args = extra.clone();
            args.push(f.clone());
            let one = run("1", &args);
            for jobs in ["2", "3", "4"] {
                assert!(
                    one == run(jobs, &args),
                    "{f} {extra:?}: --jobs {jobs} differs from --jobs 1"
                );
                compared += 1;
            }
            if extra.is_empty() {
                if let Ok(r) = serde_json::from_slice::<Value>(&one) {
                    streams += r["tcp"]["streams"].as_u64().unwrap_or(0);
                }
            }
        }
    }
    let mut all = vec!["--merge".to_string()];
    all.extend(files.iter().cloned());
    let one = run("1", &all);
    for jobs in ["2", "3", "4"] {
        assert!(
            one == run(jobs, &all),
            "the merged corpus: --jobs {jobs} differs from --jobs 1"
        );
        compared += 1;
    }
    let merged: Value = serde_json::from_slice(&one).unwrap();
    eprintln!(
        "two threads and split by flow identical to one thread: {compared} comparisons \
         over {} captures ({streams} TCP streams), and the merged corpus ({} frames, {} \
         streams, {} findings)",
        files.len(),
        merged["capture"]["frames"],
        merged["tcp"]["streams"],
        merged["findings"].as_array().map_or(0, |a| a.len())
    );
    assert!(compared >= 6 * files.len());
}

/// `--merge` of pcapng files with different interface tables: interfaces numbered as
/// mergecap lists them (the first file's, then the second's), so every frame keeps its
/// own interface and link type; an interface a file describes after its first packet
/// takes the next number free. Checked on the frames as the merged source hands them
/// out (what `pcap analyze --merge` and `pcap show --merge` read), each frame's bytes
/// naming the file and interface it was written on.
#[test]
fn merged_pcapng_frames_keep_their_interfaces() {
    use netkit_cmds::source::{FrameSource, MergedSource};
    let (dir, _guard) = scratch("ifaces");
    let write = |name: &str, tag: u8, ifaces: &[(u16, &str)], late: Option<(u16, &str)>| {
        let path = dir.join(name);
        let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
        let ids: Vec<u32> = ifaces
            .iter()
            .map(|(lt, n)| w.add_interface(*lt, Some(n), 0).unwrap())
            .collect();
        // Frames at tag, tag + 10, ...: the two files interleave.
        let mut ts = i64::from(tag);
        for round in 0..3u8 {
            for &id in &ids {
                w.write_packet(id, ts, 3, &[tag, id as u8, round]).unwrap();
                ts += 10;
            }
        }
        if let Some((lt, n)) = late {
            let id = w.add_interface(lt, Some(n), 0).unwrap();
            w.write_packet(id, ts, 3, &[tag, id as u8, 9]).unwrap();
        }
        drop(w);
        path
    };
    // File 1: Ethernet and raw IP. File 2: raw IP, Linux cooked, Ethernet, and a late
    // Ethernet interface after its frames.
    let a = write("a.pcapng", 1, &[(1, "a-eth"), (101, "a-raw")], None);
    let b = write(
        "b.pcapng",
        2,
        &[(101, "b-raw"), (113, "b-sll"), (1, "b-eth")],
        Some((1, "b-late")),
    );
    let members = [a, b]
        .iter()
        .map(|p| (p.display().to_string(), CaptureFile::open(p).unwrap()))
        .collect();
    let mut merged = MergedSource::new(members);
    let want_linktype = |file: u8, local: u8| -> u16 {
        match (file, local) {
            (1, 0) => 1,
            (1, 1) => 101,
            (2, 0) => 101,
            (2, 1) => 113,
            (2, 2) | (2, 3) => 1,
            _ => unreachable!(),
        }
    };
    let mut seen = std::collections::BTreeMap::new();
    let mut frames = 0;
    while let Some(f) = merged.next_frame() {
        let (file, local) = (f.data[0], f.data[1]);
        assert_eq!(f.linktype, want_linktype(file, local), "frame {}", f.number);
        let before = seen.insert((file, local), f.interface);
        assert!(
            before.is_none_or(|b| b == f.interface),
            "file {file} interface {local}: merged as {before:?} and {}",
            f.interface
        );
        frames += 1;
    }
    let got: Vec<((u8, u8), u32)> = seen.into_iter().collect();
    eprintln!("{frames} merged frames; (file, interface) -> merged interface: {got:?}");
    assert_eq!(
        got,
        vec![
            ((1, 0), 0),
            ((1, 1), 1),
            ((2, 0), 2),
            ((2, 1), 3),
            ((2, 2), 4),
            ((2, 3), 5)
        ]
    );
    assert_eq!(frames, 6 + 9 + 1);
}
