//! `netkit top` when things change under it (issue 8) and `--write` (issue 6), on real
//! traffic: "spoke" namespaces each joined by a veth to a "hub" namespace, a ping in
//! every spoke (so each spoke has a process whose bytes are counted under its name).
//!
//! - `--all-netns --json`: a spoke deleted mid-run gives one warning (stderr and the
//!   snapshot's `warnings`), the run goes on and the other spokes keep counting; a
//!   spoke created mid-run is picked up and counted.
//! - `--netns X -i IFACE --json`: IFACE deleted mid-run gives the warning, a last
//!   object, and exit 1 ("nothing left to watch").
//! - `--write` in the TUI (key `w`, twice) and with `--json` (SIGUSR1, then the end of
//!   the run after SIGINT): valid pcapng files that netkit's reader (and tshark when
//!   installed) read, holding the lab's frames on interfaces named `namespace/iface`;
//!   the TUI's status line then tells that its namespace was deleted, and stays up.
//!
//! Needs root, iproute2 and ping (tmux for the TUI test); otherwise each test says why
//! and skips. Namespaces carry a per-run suffix; a Drop guard kills every process the
//! test started and removes the namespaces, even when an assertion fails. Every wait
//! is bounded.

mod common;

use common::tmux::{tmux, wait_pane, TmuxSession};
use common::{have, ip, skip_reason};

use netkit_os::capture::CaptureFile;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tests share two CPUs and the packet rings: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct Spoke {
    ns: String,
    dev: String,
    addr: String,
    hub_addr: String,
    /// The ping running inside.
    ping: Option<Child>,
}

/// A hub namespace and spokes joined to it by veths; everything removed on drop.
struct Lab {
    tag: String,
    net: u8,
    hub: String,
    spokes: Vec<Spoke>,
}

impl Lab {
    fn new(tag: &str, net: u8) -> Lab {
        let lab = Lab {
            tag: tag.to_string(),
            net,
            hub: format!("nkf-{tag}h-{}", std::process::id()),
            spokes: Vec::new(),
        };
        ip(&["netns", "add", &lab.hub]);
        ip(&["-n", &lab.hub, "link", "set", "lo", "up"]);
        lab
    }

    /// Adds spoke `i` (10.`net`.`i`.1, the hub's end .2) with a ping to the hub.
    fn add_spoke(&mut self, i: u8) -> usize {
        let pid = std::process::id() % 100_000;
        let spoke = Spoke {
            ns: format!("nkf-{}{i}-{}", self.tag, std::process::id()),
            dev: format!("nkf{}{i}s{pid}", self.tag),
            addr: format!("10.{}.{i}.1", self.net),
            hub_addr: format!("10.{}.{i}.2", self.net),
            ping: None,
        };
        let hub_dev = format!("nkf{}{i}h{pid}", self.tag);
        ip(&["netns", "add", &spoke.ns]);
        ip(&[
            "link", "add", &spoke.dev, "netns", &spoke.ns, "type", "veth", "peer", "name",
            &hub_dev, "netns", &self.hub,
        ]);
        ip(&[
            "-n",
            &spoke.ns,
            "addr",
            "add",
            &format!("{}/24", spoke.addr),
            "dev",
            &spoke.dev,
        ]);
        ip(&[
            "-n",
            &self.hub,
            "addr",
            "add",
            &format!("{}/24", spoke.hub_addr),
            "dev",
            &hub_dev,
        ]);
        for (ns, dev) in [(&spoke.ns, &spoke.dev), (&self.hub, &hub_dev)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", &spoke.ns, "link", "set", "lo", "up"]);
        self.spokes.push(spoke);
        self.spokes.len() - 1
    }

    fn start_ping(&mut self, s: usize) {
        let spoke = &mut self.spokes[s];
        let child = Command::new("ip")
            .args(["netns", "exec", &spoke.ns, "ping", "-q", "-i", "0.2"])
            .args(["-s", "500", &spoke.hub_addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ping");
        spoke.ping = Some(child);
    }

    /// Deletes a spoke as deleting a VRF does: its processes end, then the namespace.
    fn delete_spoke(&mut self, s: usize) {
        let spoke = &mut self.spokes[s];
        if let Some(mut p) = spoke.ping.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
        ip(&["netns", "del", &spoke.ns]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &mut self.spokes {
            if let Some(mut p) = s.ping.take() {
                let _ = p.kill();
                let _ = p.wait();
            }
            let _ = Command::new("ip")
                .args(["netns", "del", &s.ns])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.hub])
            .status();
    }
}

/// A running `netkit top` whose stdout and stderr lines are collected as they come;
/// killed on drop.
struct Top {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            l.lock().unwrap().push(line);
        }
    });
    lines
}

impl Top {
    fn start(args: &[&str]) -> Top {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netkit"))
            .arg("top")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start netkit top");
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Top { child, out, err }
    }

    fn out(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    fn err(&self) -> Vec<String> {
        self.err.lock().unwrap().clone()
    }

    /// Waits (at most `secs`) until `pred` holds for (stdout, stderr) lines.
    fn wait(&self, secs: u64, pred: impl Fn(&[String], &[String]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if pred(&self.out(), &self.err()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        pred(&self.out(), &self.err())
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits (bounded) for the exit status.
    fn exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Top {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Bytes counted for processes of namespace `ns` in the objects `lines[from..]`.
fn bytes_of(lines: &[String], from: usize, ns: &str) -> u64 {
    lines
        .iter()
        .skip(from)
        .map(|l| parse(l))
        .flat_map(|v| v["processes"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["netns"] == ns)
        .map(|p| p["tx_bytes"].as_u64().unwrap() + p["rx_bytes"].as_u64().unwrap())
        .sum()
}

#[test]
fn all_netns_outlives_a_deleted_namespace_and_picks_up_a_new_one() {
    if let Some(why) = skip_reason(&["ip", "ping"]) {
        eprintln!("skipping top_faults: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new("a", 241);
    for i in 1..=3 {
        let s = lab.add_spoke(i);
        lab.start_ping(s);
    }
    let mut top = Top::start(&["--all-netns", "--json", "--interval", "1"]);
    let (ns1, ns2, ns3) = (
        lab.spokes[0].ns.clone(),
        lab.spokes[1].ns.clone(),
        lab.spokes[2].ns.clone(),
    );
    // All three counted.
    let counted = |ns: &str, from: usize| {
        let ns = ns.to_string();
        move |out: &[String], _: &[String]| bytes_of(out, from, &ns) > 0
    };
    for ns in [&ns1, &ns2, &ns3] {
        assert!(
            top.wait(15, counted(ns, 0)),
            "{ns} not counted; stderr: {:?}",
            top.err()
        );
    }
    lab.delete_spoke(1);
    let warning = format!("top: namespace {ns2} was deleted; stopped counting it");
    assert!(
        top.wait(6, |_, err| err.contains(&warning)),
        "no warning; stderr: {:?}",
        top.err()
    );
    let after = top.out().len();
    // The run goes on and the other spokes keep counting.
    for ns in [&ns1, &ns3] {
        assert!(
            top.wait(6, counted(ns, after)),
            "{ns} no longer counted after {ns2} was deleted"
        );
    }
    assert!(top.child.try_wait().unwrap().is_none(), "top exited");
    // A namespace created now is picked up within a second or two.
    let s4 = lab.add_spoke(4);
    lab.start_ping(s4);
    let ns4 = lab.spokes[s4].ns.clone();
    let appeared = format!("top: namespace {ns4} appeared; counting it");
    assert!(
        top.wait(6, |_, err| err.contains(&appeared)),
        "new namespace not picked up; stderr: {:?}",
        top.err()
    );
    assert!(
        top.wait(8, counted(&ns4, after)),
        "new namespace {ns4} not counted"
    );
    // SIGINT ends a --json run cleanly.
    top.signal("INT");
    let status = top.exit(10).expect("top did not stop on SIGINT");
    assert!(status.success(), "exit {status:?}; stderr {:?}", top.err());
    let err = top.err();
    assert_eq!(
        err.iter().filter(|l| **l == warning).count(),
        1,
        "warning told once: {err:?}"
    );
    // The warning is also in exactly one object's `warnings`.
    let out = top.out();
    let flagged: Vec<Value> = out
        .iter()
        .map(|l| parse(l))
        .flat_map(|v| v["warnings"].as_array().cloned().unwrap())
        .filter(|w| w["netns"] == ns2.as_str())
        .collect();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0]["kind"], "netns_gone");
    // Nothing counted for the deleted namespace once its capture stopped (one
    // interval of grace for frames already in the ring).
    let stopped_at = out
        .iter()
        .position(|l| l.contains(&format!("\"netns\":\"{ns2}\",\"kind\"")))
        .unwrap();
    assert_eq!(bytes_of(&out, stopped_at + 2, &ns2), 0);
}

#[test]
fn a_deleted_interface_stops_its_capture_and_the_run_exits_1() {
    if let Some(why) = skip_reason(&["ip", "ping"]) {
        eprintln!("skipping top_faults: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new("i", 242);
    let s = lab.add_spoke(1);
    lab.start_ping(s);
    let (ns, dev) = (lab.spokes[s].ns.clone(), lab.spokes[s].dev.clone());
    let mut top = Top::start(&["--netns", &ns, "-i", &dev, "--json", "--interval", "1"]);
    assert!(
        top.wait(15, |out, _| bytes_of(out, 0, &ns) > 0),
        "not counted; stderr: {:?}",
        top.err()
    );
    ip(&["-n", &ns, "link", "del", &dev]);
    let status = top.exit(8).expect("top kept running with nothing to watch");
    assert_eq!(status.code(), Some(1));
    let err = top.err();
    assert_eq!(
        err,
        vec![
            format!("top: interface {dev} disappeared from namespace {ns}; stopped counting it"),
            "netkit: nothing left to watch: every capture stopped (see the warnings above)"
                .to_string(),
        ]
    );
    let out = top.out();
    let last = parse(out.last().unwrap());
    assert_eq!(last["warnings"][0]["kind"], "interface_gone");
    assert_eq!(last["warnings"][0]["netns"], ns.as_str());
    // Every line before it is a complete object too.
    for l in &out {
        parse(l);
    }
}

/// Frames of a pcapng file: (interface name, IPv4 source and destination) of each.
fn read_capture(path: &Path) -> Vec<(String, String, String)> {
    let mut f = CaptureFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let names = f.interface_names();
    let mut frames = Vec::new();
    while let Some(fr) = f.next_frame() {
        // SLL2: 20-byte header, then IPv4 (protocol 0x0800 in the first two bytes).
        let name = names
            .get(fr.interface as usize)
            .cloned()
            .flatten()
            .unwrap_or_default();
        assert_eq!(fr.linktype, 276);
        let (src, dst) = if fr.data.get(0..2) == Some(&[0x08, 0x00]) && fr.data.len() >= 40 {
            let a = |o: usize| {
                format!(
                    "{}.{}.{}.{}",
                    fr.data[o],
                    fr.data[o + 1],
                    fr.data[o + 2],
                    fr.data[o + 3]
                )
            };
            (a(32), a(36))
        } else {
            (String::new(), String::new())
        };
        frames.push((name, src, dst));
    }
    assert!(f.warnings().is_empty(), "{:?}", f.warnings());
    frames
}

/// tshark's view of the file (source, destination of each IPv4 frame), when installed.
fn tshark_pairs(path: &Path) -> Option<Vec<(String, String)>> {
    if !have("tshark") {
        eprintln!("top_faults: tshark not installed; its part of the check skipped");
        return None;
    }
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-Y", "ip"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut it = l.split('\t');
                Some((it.next()?.to_string(), it.next()?.to_string()))
            })
            .collect(),
    )
}

/// Checks a dump holds the spoke's ping frames, on an interface named
/// "namespace/device", as netkit and tshark read it.
fn check_dump(path: &Path, frames_said: u64, spoke: &Spoke) {
    let frames = read_capture(path);
    assert_eq!(frames.len() as u64, frames_said, "{}", path.display());
    let ours = frames
        .iter()
        .filter(|(_, s, d)| {
            (s == &spoke.addr && d == &spoke.hub_addr) || (s == &spoke.hub_addr && d == &spoke.addr)
        })
        .count();
    assert!(ours >= 4, "only {ours} ping frames in {}", path.display());
    let iface = format!("{}/{}", spoke.ns, spoke.dev);
    assert!(
        frames
            .iter()
            .any(|(n, s, _)| *n == iface && s == &spoke.addr),
        "no frame on an interface named {iface}: {:?}",
        frames
            .iter()
            .map(|f| &f.0)
            .collect::<std::collections::BTreeSet<_>>()
    );
    // `netkit pcap analyze` reads it too.
    let out = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(["pcap", "analyze", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["capture"]["format"], "pcapng");
    assert_eq!(report["capture"]["frames"].as_u64(), Some(frames_said));
    if let Some(pairs) = tshark_pairs(path) {
        let t = pairs
            .iter()
            .filter(|(s, d)| s == &spoke.addr && d == &spoke.hub_addr)
            .count();
        assert!(
            t >= 2,
            "tshark sees {t} echo requests in {}",
            path.display()
        );
    }
}

/// "wrote N frames (X MB, last S s) to PATH" -> (N, PATH).
fn wrote(line: &str) -> Option<(u64, PathBuf)> {
    let rest = line.split("wrote ").nth(1)?;
    let n = rest.split_whitespace().next()?.parse().ok()?;
    let path = rest.split(" to ").nth(1)?.trim();
    Some((n, PathBuf::from(path)))
}

struct TmpDir(PathBuf);

impl TmpDir {
    fn new(name: &str) -> TmpDir {
        let d = std::env::temp_dir().join(format!("nkf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TmpDir(d)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn json_write_dumps_on_sigusr1_and_at_the_end() {
    if let Some(why) = skip_reason(&["ip", "ping"]) {
        eprintln!("skipping top_faults: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new("w", 243);
    let s = lab.add_spoke(1);
    lab.start_ping(s);
    let dir = TmpDir::new("json");
    let path = dir.0.join("spike.pcapng");
    let ns = lab.spokes[s].ns.clone();
    let mut top = Top::start(&[
        "--netns",
        &ns,
        "--json",
        "--write",
        path.to_str().unwrap(),
        "--write-ring-mb",
        "4",
    ]);
    assert!(
        top.wait(15, |out, _| bytes_of(out, 0, &ns) > 0),
        "not counted; stderr: {:?}",
        top.err()
    );
    std::thread::sleep(Duration::from_secs(2));
    top.signal("USR1");
    assert!(
        top.wait(8, |_, err| err.iter().any(|l| wrote(l).is_some())),
        "no dump on SIGUSR1: {:?}",
        top.err()
    );
    assert!(top.child.try_wait().unwrap().is_none(), "SIGUSR1 ended top");
    std::thread::sleep(Duration::from_secs(1));
    top.signal("INT");
    let status = top.exit(10).expect("top did not end on SIGINT");
    assert!(status.success(), "{status:?}: {:?}", top.err());
    let dumps: Vec<(u64, PathBuf)> = top.err().iter().filter_map(|l| wrote(l)).collect();
    assert_eq!(dumps.len(), 2, "{:?}", top.err());
    assert_eq!(dumps[0].1, path);
    // The dump at the end does not overwrite the first.
    assert_eq!(dumps[1].1, dir.0.join("spike-1.pcapng"));
    assert!(dumps[1].0 > dumps[0].0, "{dumps:?}");
    for (n, p) in &dumps {
        check_dump(p, *n, &lab.spokes[s]);
    }
    eprintln!(
        "top_faults: dumps {:?}, sizes {:?}",
        dumps,
        dumps
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len())
            .collect::<Vec<_>>()
    );
}

#[test]
fn tui_key_w_writes_the_ring_and_the_status_line_tells_faults() {
    if let Some(why) = skip_reason(&["ip", "ping", "tmux"]) {
        eprintln!("skipping top_faults TUI: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new("t", 244);
    let s = lab.add_spoke(1);
    lab.start_ping(s);
    let dir = TmpDir::new("tui");
    let path = dir.0.join("spike.pcapng");
    let session = format!("nkf{}", std::process::id());
    let _guard = TmuxSession::start(&session, 200, 40);
    let cmd = format!(
        "{} top --netns {} --write {}; echo QUIT-DONE",
        env!("CARGO_BIN_EXE_netkit"),
        lab.spokes[s].ns,
        path.display()
    );
    tmux(&["send-keys", "-t", &session, &cmd, "Enter"]);
    let pane = wait_pane(&session, "ping");
    assert!(pane.contains("ping"), "ping not shown:\n{pane}");
    std::thread::sleep(Duration::from_secs(2));
    let mut dumps = Vec::new();
    for expected in [path.clone(), dir.0.join("spike-1.pcapng")] {
        tmux(&["send-keys", "-t", &session, "w"]);
        let needle = format!("to {}", expected.display());
        let pane = wait_pane(&session, &needle);
        let line = pane
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no status line for {}:\n{pane}", expected.display()));
        let (n, p) = wrote(line).unwrap_or_else(|| panic!("{line}"));
        assert_eq!(p, expected);
        dumps.push((n, p));
        std::thread::sleep(Duration::from_millis(1500));
    }
    // The namespace deleted under the screen: said on the status line, and the screen
    // stays up (nothing left to watch, but the numbers can still be read).
    lab.delete_spoke(s);
    let gone = format!(
        "namespace {} was deleted; stopped counting it",
        lab.spokes[s].ns
    );
    let pane = wait_pane(&session, "nothing left to watch");
    assert!(
        pane.contains(&gone) && pane.contains("nothing left to watch (q quits)"),
        "no status line for the deleted namespace:\n{pane}"
    );
    assert!(pane.contains("PROCESS"), "the screen went away:\n{pane}");
    tmux(&["send-keys", "-t", &session, "q"]);
    let pane = wait_pane(&session, "QUIT-DONE");
    assert!(pane.contains("QUIT-DONE"), "top did not quit:\n{pane}");
    for (n, p) in &dumps {
        check_dump(p, *n, &lab.spokes[s]);
    }
}
