//! `netkit watch --export FLOWS.ndjson` on live traffic between two namespaces joined
//! by a veth, against `pcap analyze --export` of a tcpdump capture of the same
//! interface taken at the same time: the same conn.log records.
//!
//! Traffic: TCP connections closed cleanly, one reset (SO_LINGER 0), UDP request and
//! reply pairs, and pings, all in the first seconds of a 22 s watch, so the closed TCP
//! connections (over after 10 s of quiet, as in Zeek) are written while watch still
//! runs: the test reads the file before watch ends and finds them there.
//!
//! Allowed differences, each checked rather than skipped:
//! - `netkit.namespace` and `netkit.interface` are watch's own (the capture point);
//! - `netkit.tcp_stream` counts from each capture's own start: compared as the
//!   order of the streams, not the numbers;
//! - `ts` and `duration` within 1 ms, `netkit.rtt_ms` within 0.1 ms: each packet
//!   socket (watch's ring, tcpdump's) has the kernel stamp the packet for it, a few
//!   microseconds apart; `uid`, which hashes the first packet's time stamp, then
//!   differs too (counted and printed).
//!
//! Every other field, bytes, packets, `history`, `conn_state`, `community_id`,
//! retransmissions, duplicate ACKs, must be equal.
//!
//! Needs root, iproute2, tcpdump, python3 and ping; otherwise says why and skips.
//! Names start with nk19s-; a Drop guard removes the namespaces and kills every process
//! started, also after a failed assertion. Every step is bounded in time.

mod common;

use common::pair::{NsPair, Offloads};
use common::skip_reason;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// TCP: reads until the client's FIN, answers 1000 bytes, closes. UDP: echoes.
const SERVER: &str = r#"
import socket, threading
def tcp(c):
    with c:
        c.settimeout(5)
        try:
            while c.recv(65536):
                pass
            c.sendall(b"r" * 1000)
        except OSError:
            pass
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 9999))
    while True:
        d, a = u.recvfrom(65536)
        u.sendto(d[:100], a)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=tcp, args=(c,), daemon=True).start()
"#;

/// 6 clean TCP connections, 1 reset, 4 UDP exchanges.
const CLIENT: &str = r#"
import socket, struct, time
for i in range(6):
    s = socket.create_connection(("10.234.0.2", 8080), timeout=5)
    s.sendall(b"q" * (3000 + i))
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
    time.sleep(0.05)
s = socket.create_connection(("10.234.0.2", 8080), timeout=5)
s.sendall(b"abort")
time.sleep(0.1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
for i in range(4):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    u.sendto(b"u" * (200 + i), ("10.234.0.2", 9999))
    try:
        u.recvfrom(65536)
    except OSError:
        pass
    u.close()
print("done", flush=True)
"#;

struct RemoveFiles(Vec<std::path::PathBuf>);

impl Drop for RemoveFiles {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// A record's connection: protocol and both ends.
fn key(r: &Value) -> String {
    format!(
        "{} {}:{} > {}:{}",
        r["proto"], r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"]
    )
}

#[test]
fn watch_streams_the_records_pcap_analyze_exports_of_the_same_traffic() {
    if let Some(why) = skip_reason(&["ip", "tcpdump", "python3", "ping"]) {
        eprintln!("skipping watch_export: {why}");
        return;
    }
    let mut lab = NsPair::ipv4_only("nk19s", "x", "10.234.0", Offloads::Kept);
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let live = dir.join(format!("nk19s-live-{id}.ndjson"));
    let pcap = dir.join(format!("nk19s-{id}.pcap"));
    let from_file = dir.join(format!("nk19s-file-{id}.ndjson"));
    let _files = RemoveFiles(vec![live.clone(), pcap.clone(), from_file.clone()]);

    let b = lab.b.clone();
    lab.start_ready_server(&b, SERVER);

    let tcpdump = lab
        .exec(&lab.a, "tcpdump")
        .args(["-i", &lab.va, "-s", "0", "-U", "-w"])
        .arg(&pcap)
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    lab.children.push(tcpdump);
    let started = Instant::now();
    let watch = common::netkit()
        .args(["watch", "--json", "--netns", &lab.a, "-i", &lab.va])
        .args(["--duration", "22", "--summary-every", "1", "--export"])
        .arg(&live)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netkit watch");
    std::thread::sleep(Duration::from_millis(1500));

    let client = lab
        .exec(&lab.a, "python3")
        .args(["-c", CLIENT])
        .output()
        .expect("client");
    assert_eq!(String::from_utf8_lossy(&client.stdout).trim(), "done");
    let pings = lab
        .exec(&lab.a, "ping")
        .args(["-c", "3", "-i", "0.2", "-W", "1", "10.234.0.2"])
        .output()
        .expect("ping");
    assert!(pings.status.success(), "ping");
    // Watch still runs: the TCP connections, over and quiet for 10 s (and a summary
    // of 1 s later), are in the file already; the UDP and ICMP ones (60 s) are not
    // yet. Timed from the end of the traffic, which a loaded machine makes late.
    let look_at =
        started.elapsed().max(Duration::from_millis(2500)) + Duration::from_millis(11_500);
    assert!(
        look_at < Duration::from_secs(20),
        "traffic too slow: the streaming check below needs its 10 s of quiet before watch ends"
    );
    while started.elapsed() < look_at {
        std::thread::sleep(Duration::from_millis(200));
    }
    let early = common::ndjson_file(&live);
    let watch = watch.wait_with_output().expect("watch");
    assert!(
        watch.status.success(),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    let early_tcp = early.iter().filter(|r| r["proto"] == "tcp").count();
    eprintln!(
        "records in the file {look_at:?} in (watch still running): {} ({early_tcp} TCP)",
        early.len()
    );
    assert_eq!(
        early_tcp, 7,
        "TCP records streamed before the end: {early:?}"
    );

    for c in &mut lab.children {
        let _ = Command::new("kill")
            .args(["-INT", &c.id().to_string()])
            .status();
    }
    std::thread::sleep(Duration::from_millis(500));
    let analyzed = common::netkit()
        .args(["pcap", "analyze", "--json", "--export"])
        .arg(&from_file)
        .arg(&pcap)
        .output()
        .expect("pcap analyze");
    assert!(analyzed.status.success());

    let live = common::ndjson_file(&live);
    let file = common::ndjson_file(&from_file);
    let by_key = |rs: &[Value]| -> BTreeMap<String, Value> {
        rs.iter().map(|r| (key(r), r.clone())).collect()
    };
    let (mut live_map, mut file_map) = (by_key(&live), by_key(&file));
    assert_eq!(live_map.len(), live.len(), "one record per connection");
    assert_eq!(
        live_map.keys().collect::<Vec<_>>(),
        file_map.keys().collect::<Vec<_>>(),
        "the same connections"
    );
    // The stream numbers: the same order of streams.
    let order = |m: &BTreeMap<String, Value>| -> Vec<String> {
        let mut tcp: Vec<(u64, String)> = m
            .iter()
            .filter_map(|(k, r)| Some((r["netkit.tcp_stream"].as_u64()?, k.clone())))
            .collect();
        tcp.sort();
        tcp.into_iter().map(|(_, k)| k).collect()
    };
    assert_eq!(order(&live_map), order(&file_map));
    let mut worst_apart = 0f64;
    let mut uids_apart = 0;
    for (k, l) in live_map.iter_mut() {
        let f = file_map.get_mut(k).unwrap();
        let l = l.as_object_mut().unwrap();
        let f = f.as_object_mut().unwrap();
        assert!(l
            .remove("netkit.namespace")
            .is_some_and(|v| v == lab.a.as_str()));
        assert!(l
            .remove("netkit.interface")
            .is_some_and(|v| v == lab.va.as_str()));
        l.remove("netkit.tcp_stream");
        f.remove("netkit.tcp_stream");
        // Each packet socket stamps a packet itself: microseconds apart at most.
        for field in ["ts", "duration"] {
            let (a, b) = (l.remove(field), f.remove(field));
            let (a, b) = (a.and_then(|v| v.as_f64()), b.and_then(|v| v.as_f64()));
            assert_eq!(a.is_some(), b.is_some(), "{k}: {field}");
            let apart = (a.unwrap_or(0.0) - b.unwrap_or(0.0)).abs();
            worst_apart = worst_apart.max(apart);
            assert!(apart < 0.001, "{k}: {field} {a:?} and {b:?}");
        }
        // The handshake RTT, from the same stamps (milliseconds).
        let (a, b) = (l.remove("netkit.rtt_ms"), f.remove("netkit.rtt_ms"));
        let (a, b) = (a.and_then(|v| v.as_f64()), b.and_then(|v| v.as_f64()));
        assert_eq!(a.is_some(), b.is_some(), "{k}: rtt");
        assert!(
            (a.unwrap_or(0.0) - b.unwrap_or(0.0)).abs() < 0.1,
            "{k}: rtt {a:?} ms and {b:?} ms"
        );
        // The uid hashes the first packet's time stamp with the ends.
        let (lu, fu) = (l.remove("uid"), f.remove("uid"));
        if lu != fu {
            uids_apart += 1;
        }
        assert_eq!(l, f, "{k}");
    }
    let count = |proto: &str| live.iter().filter(|r| r["proto"] == proto).count();
    eprintln!(
        "watch --export equals pcap analyze --export: {} records ({} tcp, {} udp, {} icmp); \
         time stamps at most {:.1} us apart, {uids_apart} uids different because of them",
        live.len(),
        count("tcp"),
        count("udp"),
        count("icmp"),
        worst_apart * 1e6
    );
    assert!(count("tcp") == 7 && count("udp") >= 4 && count("icmp") >= 1);
    let states: Vec<&str> = live
        .iter()
        .filter(|r| r["proto"] == "tcp")
        .filter_map(|r| r["conn_state"].as_str())
        .collect();
    assert!(states.contains(&"SF"), "{states:?}");
    assert!(states.iter().any(|s| s.starts_with("RST")), "{states:?}");
}
