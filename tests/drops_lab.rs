//! `netkit drops` against drops made on purpose, in namespaces built here (issue 16):
//!
//! - iptables `statistic` drops 1% of an iperf3 transfer's segments on the receiver's
//!   INPUT chain: `drops --json` reports NETFILTER_DROP in that namespace, on the
//!   iperf3 flow, with a count within 1% of the rule's own packet counter;
//! - a tbf qdisc with a tiny limit overflowed by UDP: QDISC_DROP on that interface;
//! - a UDP socket that is never read, flooded: SOCKET_RCVBUFF with its process's PID;
//! - `kill -9` of a running `netkit drops` leaves none of its BPF programs or links.
//!
//! Needs root, iproute2, iptables, iperf3 and python3 (bpftool for the kill -9 test);
//! otherwise says why and skips. Namespaces are `nk16-*-PID`, removed on drop.

mod common;

use common::bpf::{assert_all_freed, held_ids, kernel_has};
use common::pair::{NsPair, Offloads};
use common::{netkit, skip_reason};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Two namespaces joined by a veth pair, offloads off: `a` (10.166.NET.1, sender)
/// and `b` (10.166.NET.2, receiver). `tag` (one letter) and `net` (a distinct subnet
/// octet) keep the labs of tests running side by side apart.
fn new_lab(tag: &str, net: u8) -> NsPair {
    NsPair::new("nk16", tag, &format!("10.166.{net}"), Offloads::Off)
}

/// Runs the FLOOD script from the sender namespace: `count` UDP datagrams of `size`
/// bytes to `port` of the receiver, to its end.
fn flood(lab: &NsPair, port: &str, count: &str, size: &str) {
    let out = lab
        .exec(&lab.a, "python3")
        .args(["-c", FLOOD, &lab.b_addr, port, count, size])
        .output()
        .expect("flood");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A one-shot iperf3 server on `port` in the receiver namespace, whose INPUT chain
/// drops that port's TCP segments of 1000 bytes or more at random with `probability`.
/// Only data segments: a dropped handshake or control message only delays the
/// transfer, and leaves fewer retransmissions than the loss rate suggests.
fn lossy_iperf3_server(lab: &NsPair, port: &str, probability: &str) -> std::process::Child {
    let ok = lab
        .exec(&lab.b, "iptables")
        .args(["-A", "INPUT", "-p", "tcp", "--dport", port])
        .args(["-m", "length", "--length", "1000:65535"])
        .args(["-m", "statistic", "--mode", "random", "--probability"])
        .args([probability, "-j", "DROP"])
        .status()
        .expect("iptables");
    assert!(ok.success(), "iptables rule");
    lab.exec(&lab.b, "iperf3")
        .args(["-s", "-1", "-p", port])
        .stdout(Stdio::null())
        .spawn()
        .expect("iperf3 -s")
}

/// A running `netkit drops --json`, started with `args`; ready once it has printed
/// its first object (the probe is attached by then).
struct Probe {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    first: Vec<String>,
}

impl Probe {
    fn start(args: &[&str]) -> Probe {
        let mut child = netkit()
            .arg("drops")
            .args(["--json", "--interval", "0.5"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("netkit drops");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => vec![l],
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "netkit drops printed nothing: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        Probe {
            child,
            lines,
            first,
        }
    }

    /// SIGINT (the last interval is printed), then every object printed.
    fn stop(mut self) -> Vec<Value> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait");
        let mut all = std::mem::take(&mut self.first);
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            all.push(l);
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        assert!(status.success(), "netkit drops: {status} {err}");
        common::ndjson(all.iter().map(String::as_str), &err)
    }
}

/// Every row of every interval.
fn rows(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .flat_map(|o| o["rows"].as_array().unwrap().iter())
        .collect()
}

fn count(rows: &[&Value]) -> u64 {
    rows.iter().map(|r| r["count"].as_u64().unwrap()).sum()
}

/// The packet counter of the first rule of `chain` in `ns` (`iptables -L -v -x -n`).
fn rule_packets(lab: &NsPair, ns: &str, chain: &str) -> u64 {
    let out = lab
        .exec(ns, "iptables")
        .args(["-L", chain, "-v", "-x", "-n"])
        .output()
        .expect("iptables -L");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(2)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rule counter in: {text}"))
}

#[test]
fn netfilter_drops_of_an_iperf3_transfer_match_the_rules_counter() {
    if let Some(why) = skip_reason(&["ip", "iptables", "iperf3"]) {
        eprintln!("skipping drops_lab netfilter: {why}");
        return;
    }
    let mut lab = new_lab("n", 1);
    let port = "5216";
    let server = lossy_iperf3_server(&lab, port, "0.01");
    lab.children.push(server);
    let probe = Probe::start(&["--netns", &lab.b.clone()]);
    std::thread::sleep(Duration::from_millis(300));
    let client = lab
        .exec(&lab.a, "iperf3")
        .args(["-c", &lab.b_addr, "-p", port, "-t", "3", "-b", "200M"])
        .output()
        .expect("iperf3 -c");
    assert!(
        client.status.success(),
        "iperf3: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    // The last segments' drops reach the next interval.
    std::thread::sleep(Duration::from_millis(1200));
    let objects = probe.stop();
    let expected = rule_packets(&lab, &lab.b, "INPUT");
    let all = rows(&objects);
    let netfilter: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|r| r["reason"] == "NETFILTER_DROP")
        .collect();
    let on_flow: Vec<&Value> = netfilter
        .iter()
        .copied()
        .filter(|r| {
            r["netns"] == lab.b.as_str()
                && r["ifname"] == lab.vb.as_str()
                && r["protocol"] == "TCP"
                && r["flow"]["dst"] == lab.b_addr.as_str()
                && r["flow"]["dport"] == 5216
        })
        .collect();
    let got = count(&on_flow);
    let with_pid = on_flow
        .iter()
        .filter(|r| r["process"]["pid"].is_i64())
        .count();
    eprintln!(
        "netfilter: iptables counter {expected}, drops on the iperf3 flow {got} \
         ({} NETFILTER_DROP rows, {with_pid} with a process)",
        netfilter.len()
    );
    assert!(expected > 20, "too few drops to compare: {expected}");
    let diff = got.abs_diff(expected) as f64 / expected as f64;
    assert!(
        diff <= 0.01,
        "drops reported {got}, the rule counted {expected} ({:.2}% apart)",
        diff * 100.0
    );
    // Each interval holds that interval's counts: they add up to the totals.
    let last_totals: u64 = objects
        .last()
        .map(|o| o["probe"]["total_seen"].as_u64().unwrap())
        .unwrap();
    let seen_sum: u64 = objects
        .iter()
        .map(|o| o["probe"]["seen"].as_u64().unwrap())
        .sum();
    assert_eq!(last_totals, seen_sum);
}

/// A UDP flood of `n` datagrams of `size` bytes from `ns` to `dst:port`.
const FLOOD: &str = r#"
import socket, sys
dst, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"x" * size
for _ in range(n):
    try:
        s.sendto(payload, (dst, port))
    except OSError:
        pass
"#;

#[test]
fn a_tbf_overflow_is_a_qdisc_drop_on_its_interface() {
    if let Some(why) = skip_reason(&["ip", "tc", "python3"]) {
        eprintln!("skipping drops_lab tbf: {why}");
        return;
    }
    let lab = new_lab("q", 2);
    let ok = lab
        .exec(&lab.a, "tc")
        .args([
            "qdisc", "add", "dev", &lab.va, "root", "tbf", "rate", "1mbit", "burst", "4k", "limit",
            "3000",
        ])
        .status()
        .expect("tc");
    assert!(ok.success(), "tc qdisc add tbf");
    let probe = Probe::start(&["--all-netns", "-i", &lab.va.clone()]);
    flood(&lab, "9", "3000", "1000");
    std::thread::sleep(Duration::from_millis(1200));
    let objects = probe.stop();
    let all = rows(&objects);
    let qdisc: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|r| r["reason"] == "QDISC_DROP")
        .collect();
    let got = count(&qdisc);
    eprintln!("tbf: {got} QDISC_DROP of 3000 datagrams");
    assert!(got >= 100, "qdisc drops: {got}; rows: {all:?}");
    for r in &qdisc {
        assert_eq!(r["ifname"], lab.va.as_str(), "{r}");
        assert_eq!(r["netns"], lab.a.as_str(), "{r}");
    }
    // -i keeps only that interface.
    assert!(
        all.iter().all(|r| r["ifname"] == lab.va.as_str()),
        "{all:?}"
    );
}

#[test]
fn a_udp_socket_never_read_shows_socket_rcvbuff_with_its_pid() {
    if let Some(why) = skip_reason(&["ip", "python3"]) {
        eprintln!("skipping drops_lab rcvbuf: {why}");
        return;
    }
    let mut lab = new_lab("r", 3);
    let sink = format!(
        "import socket, sys, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)\n\
         s.bind(('{}', 6016))\n\
         print('ready', flush=True)\n\
         time.sleep(120)\n",
        lab.b_addr
    );
    let mut receiver = lab
        .exec(&lab.b, "python3")
        .args(["-c", &sink])
        .stdout(Stdio::piped())
        .spawn()
        .expect("receiver");
    let pid = receiver.id();
    let mut line = String::new();
    BufReader::new(receiver.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    lab.children.push(receiver);
    let probe = Probe::start(&["--all-netns"]);
    flood(&lab, "6016", "2000", "500");
    std::thread::sleep(Duration::from_millis(1200));
    let objects = probe.stop();
    let all = rows(&objects);
    let rcvbuf: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|r| r["reason"] == "SOCKET_RCVBUFF" && r["flow"]["dport"] == 6016)
        .collect();
    let got = count(&rcvbuf);
    eprintln!("rcvbuf: {got} SOCKET_RCVBUFF of 2000 datagrams, receiver pid {pid}");
    assert!(got >= 100, "rcvbuf drops: {got}; rows: {all:?}");
    for r in &rcvbuf {
        assert_eq!(r["netns"], lab.b.as_str(), "{r}");
        assert_eq!(r["process"]["pid"].as_u64(), Some(u64::from(pid)), "{r}");
    }
}

#[test]
fn kill_9_leaves_no_program_and_no_link() {
    if let Some(why) = skip_reason(&["bpftool"]) {
        eprintln!("skipping drops_lab kill -9: {why}");
        return;
    }
    let probe = Probe::start(&[]);
    let pid = probe.child.id();
    let progs = held_ids(pid, "prog_id");
    let links = held_ids(pid, "link_id");
    assert!(!progs.is_empty(), "netkit drops holds no BPF program");
    assert!(!links.is_empty(), "netkit drops holds no BPF link");
    // Real ids, so that "gone" below means something.
    assert!(progs.iter().all(|&id| kernel_has("prog", id)), "{progs:?}");
    let Probe { mut child, .. } = probe;
    child.kill().expect("kill -9");
    child.wait().unwrap();
    assert_all_freed(&[("prog", &progs), ("link", &links)]);
    eprintln!("kill -9: programs {progs:?} and links {links:?} gone");
}

/// `watch` with BPF: a stream whose segments a firewall rule drops gets, beside its
/// retransmission finding, `tcp_drops_in_kernel` naming NETFILTER_DROP and the
/// namespace.
#[test]
fn watch_names_the_kernel_reason_of_a_lossy_streams_retransmissions() {
    if let Some(why) = skip_reason(&["ip", "iptables", "iperf3", "ethtool"]) {
        eprintln!("skipping drops_lab watch join: {why}");
        return;
    }
    let mut lab = new_lab("w", 4);
    let port = "5246";
    // 0.4 of the data segments: 16-24% of the stream's frames were retransmissions in
    // 12 runs, over the finding's share of a tenth (0.3 of all segments left 26 of 330
    // once).
    let server = lossy_iperf3_server(&lab, port, "0.4");
    lab.children.push(server);
    let watch = netkit()
        .args([
            "watch",
            "--netns",
            &lab.b,
            "-i",
            &lab.vb,
            "--json",
            "--duration",
            "14",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netkit watch");
    // Captures open and the probe attached.
    std::thread::sleep(Duration::from_secs(3));
    let _ = lab
        .exec(&lab.a, "timeout")
        .args(["9", "iperf3", "-c", &lab.b_addr, "-p", port, "-n", "200K"])
        .output()
        .expect("iperf3 -c");
    let out = watch.wait_with_output().expect("watch");
    let text = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "finding")
        .collect();
    let joined: Vec<&Value> = findings
        .iter()
        .filter(|f| f["code"] == "tcp_drops_in_kernel")
        .collect();
    eprintln!(
        "watch join: {} findings, {} tcp_drops_in_kernel: {:?}; retransmissions: {:?}",
        findings.len(),
        joined.len(),
        joined.first().map(|f| &f["summary"]),
        findings
            .iter()
            .find(|f| f["code"] == "tcp_retransmissions" || f["code"] == "tcp_rto_backoff")
            .map(|f| &f["summary"])
    );
    assert!(
        findings
            .iter()
            .any(|f| f["code"] == "tcp_retransmissions" || f["code"] == "tcp_rto_backoff"),
        "no retransmission finding: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = joined
        .first()
        .unwrap_or_else(|| panic!("no tcp_drops_in_kernel: {text}"))["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        summary.contains(&format!("NETFILTER_DROP in namespace {}", lab.b)),
        "{summary}"
    );
}
