//! `pcap compare` in a lab (root only): client - router - server namespaces joined
//! by veth pairs, tcpdump on both router interfaces, and an iptables rule in the
//! router's FORWARD chain that drops 2% of the server's TCP segments at random. One
//! bounded HTTP download (python3 -m http.server, curl) crosses the router; `compare`
//! must put the missing segments on the server -> client direction, as many as the
//! rule's packet counter says it dropped. Run twice: plain routing (flows matched by
//! Community ID) and with MASQUERADE on the router (matched by payload hashes).

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const NS: [&str; 3] = ["nk19-c", "nk19-r", "nk19-s"];

/// Removes the namespaces (and with them the veths, rules and processes' sockets)
/// and the scratch directory, also when the test fails.
struct Lab {
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in NS {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sh(ns: &str, cmd: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{ns}: {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn build(tag: &str) -> Lab {
    for ns in NS {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
    let dir = std::env::temp_dir().join(format!("nk19-compare-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lab = Lab {
        dir,
        children: Vec::new(),
    };
    for ns in NS {
        common::ip(&["netns", "add", ns]);
        sh(ns, "ip link set lo up");
    }
    common::ip(&[
        "link", "add", "nk19-c0", "netns", "nk19-c", "type", "veth", "peer", "name", "nk19-rc",
        "netns", "nk19-r",
    ]);
    common::ip(&[
        "link", "add", "nk19-s0", "netns", "nk19-s", "type", "veth", "peer", "name", "nk19-rs",
        "netns", "nk19-r",
    ]);
    sh(
        "nk19-c",
        "ip addr add 10.19.1.2/24 dev nk19-c0 && ip link set nk19-c0 up && \
         ip route add default via 10.19.1.1",
    );
    sh(
        "nk19-s",
        "ip addr add 10.19.2.2/24 dev nk19-s0 && ip link set nk19-s0 up && \
         ip route add default via 10.19.2.1",
    );
    sh(
        "nk19-r",
        "ip addr add 10.19.1.1/24 dev nk19-rc && ip link set nk19-rc up && \
         ip addr add 10.19.2.1/24 dev nk19-rs && ip link set nk19-rs up && \
         sysctl -qw net.ipv4.ip_forward=1",
    );
    // Segmentation offloads off: otherwise the router forwards super-segments that
    // the two capture points see cut differently, and one segment at A is several
    // at B (MTU-sized frames, as on a real link).
    for (ns, dev) in [
        ("nk19-c", "nk19-c0"),
        ("nk19-r", "nk19-rc"),
        ("nk19-r", "nk19-rs"),
        ("nk19-s", "nk19-s0"),
    ] {
        sh(
            ns,
            &format!("ethtool -K {dev} tso off gso off gro off >/dev/null 2>&1 || true"),
        );
    }
    lab
}

/// tcpdump in the router on `dev`, writing `pcap`; its summary lines go to `log`.
fn tcpdump(dev: &str, pcap: &Path, log: &Path) -> Child {
    Command::new("ip")
        .args([
            "netns", "exec", "nk19-r", "tcpdump", "-U", "-n", "-B", "16384",
        ])
        .args(["-i", dev, "-w"])
        .arg(pcap)
        .arg("tcp")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// "N packets dropped by kernel" from tcpdump's exit summary.
fn kernel_drops(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .find(|l| l.contains("dropped by kernel"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no kernel drop count in tcpdump's output: {text}"))
}

/// What one run of the lab measured.
struct Measured {
    compare: Value,
    /// The DROP rule's packet counter.
    dropped: u64,
    /// Packets each tcpdump lost itself (kernel buffer full): [A, B].
    capture_drops: [u64; 2],
}

/// Runs the lab once.
fn run(tag: &str, nat: bool) -> Measured {
    let mut lab = build(tag);
    let dir = lab.dir.clone();
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    // 3 MB of bytes that differ from segment to segment, so no two payloads hash alike.
    let blob: Vec<u8> = (0u32..3_000_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(www.join("blob"), blob).unwrap();
    sh(
        "nk19-r",
        "iptables -A FORWARD -i nk19-rs -p tcp -m statistic --mode random \
         --probability 0.02 -j DROP",
    );
    if nat {
        sh(
            "nk19-r",
            "iptables -t nat -A POSTROUTING -o nk19-rs -j MASQUERADE",
        );
    }
    let a = dir.join("client-side.pcap");
    let b = dir.join("server-side.pcap");
    let pa = a.to_str().unwrap();
    let pb = b.to_str().unwrap();
    let (la, lb) = (dir.join("a.log"), dir.join("b.log"));
    lab.children.push(tcpdump("nk19-rc", &a, &la));
    lab.children.push(tcpdump("nk19-rs", &b, &lb));
    let server = Command::new("ip")
        .args(["netns", "exec", "nk19-s", "python3", "-m", "http.server"])
        .args(["--bind", "10.19.2.2", "8019", "--directory"])
        .arg(&www)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    lab.children.push(server);
    // The server listening, checked from its own namespace so nothing crosses the
    // router before the captures run.
    let mut ready = false;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let out = sh("nk19-s", "ss -ltn 'sport = :8019' | tail -n +2");
        let caps = std::fs::metadata(&a).is_ok() && std::fs::metadata(&b).is_ok();
        if !out.trim().is_empty() && caps {
            ready = true;
            break;
        }
    }
    assert!(ready, "http.server or tcpdump did not start");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let got = sh(
        "nk19-c",
        "curl -s --max-time 60 -o /dev/null -w '%{size_download}' http://10.19.2.2:8019/blob",
    );
    assert_eq!(got.trim(), "3000000", "the download did not complete");
    // On a loaded machine tcpdump lags behind the kernel's ring, and on SIGINT it
    // leaves what it has not read yet (without counting it as dropped): wait until
    // both files have stopped growing.
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut last = (size(&a), size(&b));
    let mut still = 0;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = (size(&a), size(&b));
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still == 4 {
            break;
        }
    }
    // tcpdump writes its last buffer on SIGINT.
    for c in lab.children.iter().take(2) {
        let _ = Command::new("kill")
            .args(["-INT", &c.id().to_string()])
            .status();
    }
    for c in lab.children.iter_mut().take(2) {
        let _ = c.wait();
    }
    let rules = sh("nk19-r", "iptables -L FORWARD -v -x -n");
    let dropped: u64 = rules
        .lines()
        .find(|l| l.contains("DROP") && l.contains("statistic"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter in {rules}"));
    let out = common::netkit()
        .args(["pcap", "compare", "--json", pa, pb])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let human = common::netkit()
        .args(["pcap", "compare", pa, pb])
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&human.stdout));
    keep_if_asked(&dir, tag);
    Measured {
        compare: serde_json::from_slice(&out.stdout).unwrap(),
        dropped,
        capture_drops: [kernel_drops(&la), kernel_drops(&lb)],
    }
}

/// NK19_KEEP=DIR keeps the lab's captures for a look in Wireshark.
fn keep_if_asked(dir: &Path, tag: &str) {
    if let Some(keep) = std::env::var_os("NK19_KEEP") {
        let to = Path::new(&keep).join(tag);
        let _ = std::fs::create_dir_all(&to);
        for f in ["client-side.pcap", "server-side.pcap"] {
            let _ = std::fs::copy(dir.join(f), to.join(f));
        }
    }
}

fn check(m: &Measured, matched_by: &str) {
    let (c, dropped) = (&m.compare, m.dropped);
    let flows = c["flows"].as_array().unwrap();
    let transfer = flows
        .iter()
        .find(|f| f["at_a"].as_str().unwrap().ends_with("10.19.2.2:8019"))
        .unwrap_or_else(|| panic!("the download's flow is not matched: {c}"));
    assert_eq!(transfer["matched_by"], matched_by);
    let [to_server, to_client] = [&transfer["directions"][0], &transfer["directions"][1]];
    eprintln!(
        "{matched_by}: iptables dropped {dropped}; compare: server -> client seen at B \
         and missing at A {}, seen at A and missing at B {}; client -> server missing \
         {}/{}; delay ms {}; tcpdump's own drops at A {}, at B {}",
        to_client["missing_at_a"],
        to_client["missing_at_b"],
        to_server["missing_at_b"],
        to_server["missing_at_a"],
        to_client["delay_ms"],
        m.capture_drops[0],
        m.capture_drops[1]
    );
    // Reordering is printed, not asserted: between the router's two taps it varied
    // from 0 to 60 of ~1,200 of the client's ACKs over runs (0 in most), and 0-4 of
    // the server's segments, with no NAT or qdisc that reorders. Not explained yet:
    // the client's ACKs leave from either CPU, and each tap's packet socket may queue
    // two CPUs' packets in another order than the router forwards them; until that is
    // understood, a count here is not evidence of reordering on the path.
    eprintln!(
        "reordered: client -> server {}, server -> client {}",
        to_server["reordered"], to_client["reordered"]
    );
    assert!(
        dropped > 0,
        "the rule dropped nothing: the test proves nothing"
    );
    // The server's segments reach B (server side) first: tB - tA is negative.
    assert!(to_client["delay_ms"]["max"].as_f64().unwrap() <= 0.0);
    if m.capture_drops != [0, 0] {
        // A capture that lost packets itself (a loaded machine) makes segments look
        // missing that were not: the counts can then only be bounded, and the test
        // says so rather than pretending to an exact match.
        let extra = m.capture_drops[0] + m.capture_drops[1];
        let at_a = to_client["missing_at_a"].as_u64().unwrap();
        eprintln!(
            "the captures themselves dropped {extra} packets: compare's {at_a} is checked \
             to be within {extra} of the rule's {dropped}, not equal"
        );
        assert!(at_a.abs_diff(dropped) <= extra);
        return;
    }
    assert_eq!(to_client["missing_at_a"], dropped);
    assert_eq!(to_client["missing_at_b"], 0);
    assert_eq!(to_server["missing_at_a"], 0);
    assert_eq!(to_server["missing_at_b"], 0);
    assert_eq!(c["totals"]["missing_at_a"], dropped);
}

#[test]
fn compare_puts_the_routers_drops_on_the_direction_it_dropped() {
    if let Some(why) = common::skip_reason(&["tcpdump", "iptables", "curl", "python3", "ethtool"]) {
        eprintln!("skipping: {why}");
        return;
    }
    check(&run("routed", false), "community_id");
    check(&run("nat", true), "payload");
}

/// Without root: a capture against a copy of itself with every 7th TCP segment taken
/// out (rewritten with netkit's writer). Every removed segment must be counted missing
/// at B, on its own direction, nothing else; delays are 0.
#[test]
fn compare_counts_segments_taken_out_of_a_copy() {
    use netkit_os::capture::{pcapng_writer::PcapngWriter, CaptureFile};
    let a = common::fixtures_dir().join("tcp/arkime__wireshark-retrans.pcap");
    let dir = std::env::temp_dir().join(format!("nk19-compare-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let b = dir.join("thinned.pcapng");
    let mut file = CaptureFile::open(&a).unwrap();
    let mut w = PcapngWriter::new(std::fs::File::create(&b).unwrap()).unwrap();
    let (mut tcp_seen, mut removed) = (0u64, 0u64);
    while let Some(f) = file.next_frame() {
        let frame = netkit_dissectors::dissect(f.linktype, f.data, &Default::default());
        let is_tcp = frame
            .own_layers()
            .iter()
            .any(|l| matches!(l, netkit_dissectors::Layer::Tcp(_)));
        if is_tcp {
            tcp_seen += 1;
            if tcp_seen % 7 == 0 {
                removed += 1;
                continue;
            }
        }
        w.write(f.linktype, f.ts_ns, f.orig_len, f.data).unwrap();
    }
    w.finish().unwrap();
    let out = common::netkit()
        .args(["pcap", "compare", "--json"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(removed > 0);
    assert_eq!(c["totals"]["missing_at_b"], removed, "{c}");
    assert_eq!(c["totals"]["missing_at_a"], 0);
    assert_eq!(c["totals"]["reordered"], 0);
    for f in c["flows"].as_array().unwrap() {
        assert_eq!(f["matched_by"], "community_id");
        for d in f["directions"].as_array().unwrap() {
            if d["matched"].as_u64().unwrap() > 0 {
                assert_eq!(d["delay_ms"]["max"], 0.0);
            }
        }
    }
    eprintln!("{removed} of {tcp_seen} TCP segments taken out: all counted missing at B");
}
