//! `netkit ns list|exec`, `ss`, `arp`, `route` on real namespaces named like the
//! platforms that use them (Arista `ns-VRF1`, SR Linux `srbase-mgmt`, IOS XR `vrf-blue`),
//! each view compared with iproute2's own output on the same namespaces.
//!
//! Needs root and iproute2; otherwise each test says why and skips. Names carry a
//! per-run suffix, and a Drop guard removes namespaces and /etc/netns files even when an
//! assertion fails.

mod common;

use common::is_root;

use netkit_cmds::ns::NsProblemKind;
use netkit_os::netns::each as nsviews;
use netkit_os::netns::{self, Netns};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn netkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(args)
        .env("COLUMNS", "250")
        .output()
        .expect("run netkit")
}

fn netkit_json(args: &[&str]) -> Value {
    let out = netkit(args);
    assert!(
        out.status.success(),
        "netkit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "netkit {args:?}: bad JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn sh(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &str) -> Result<String, String> {
    sh("ip", &args.split_whitespace().collect::<Vec<_>>())
}

fn ip_ok(args: &str) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

fn ip_json(args: &str) -> Value {
    let text = ip(&format!("-j {args}")).unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Array(Vec::new()))
}

/// Namespaces and files made for one test, removed on drop (also after a failed
/// assertion, since unwinding runs Drop).
struct Lab {
    suffix: String,
    namespaces: Vec<String>,
    etc_dirs: Vec<PathBuf>,
}

impl Lab {
    /// None (with the reason printed) when this machine cannot run namespace tests.
    fn new(test: &str) -> Option<Lab> {
        if !is_root() {
            eprintln!("skipping {test}: needs root (network namespaces)");
            return None;
        }
        if Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipping {test}: iproute2 (`ip`) is not installed");
            return None;
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let suffix = format!("{:x}", (std::process::id() << 12) ^ nanos)
            .chars()
            .rev()
            .take(5)
            .collect();
        let mut lab = Lab {
            suffix,
            namespaces: Vec::new(),
            etc_dirs: Vec::new(),
        };
        let probe = lab.name("nk-probe");
        if let Err(e) = lab.add(&probe) {
            eprintln!("skipping {test}: cannot create a network namespace here: {e}");
            return None;
        }
        Some(lab)
    }

    fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.suffix)
    }

    fn add(&mut self, name: &str) -> Result<(), String> {
        ip(&format!("netns add {name}"))?;
        self.namespaces.push(name.to_string());
        ip(&format!("-n {name} link set lo up"))?;
        Ok(())
    }

    fn etc_file(&mut self, ns: &str, file: &str, text: &str) {
        let dir = PathBuf::from("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        self.etc_dirs.push(dir.clone());
        std::fs::write(dir.join(file), text).unwrap();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = ip(&format!("netns del {ns}"));
        }
        for d in &self.etc_dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// ns-VRF1 <-(et1 / e1-1)-> srbase-mgmt, ns-VRF1 <-(et2 / Gi0_0_0_0)-> vrf-blue, with
/// addresses, static neighbours and routes in several tables.
struct Topo {
    vrf1: String,
    mgmt: String,
    blue: String,
    mpls: bool,
}

fn build(lab: &mut Lab) -> Topo {
    let vrf1 = lab.name("ns-VRF1");
    let mgmt = lab.name("srbase-mgmt");
    let blue = lab.name("vrf-blue");
    for n in [&vrf1, &mgmt, &blue] {
        lab.add(n).unwrap();
    }
    ip_ok(&format!(
        "-n {vrf1} link add et1 type veth peer name e1-1 netns {mgmt}"
    ));
    ip_ok(&format!(
        "-n {vrf1} link add et2 type veth peer name Gi0_0_0_0 netns {blue}"
    ));
    for (ns, dev, v4, v6) in [
        (&vrf1, "et1", "10.61.0.1/24", "fd61::1/64"),
        (&mgmt, "e1-1", "10.61.0.2/24", "fd61::2/64"),
        (&vrf1, "et2", "10.62.0.1/24", "fd62::1/64"),
        (&blue, "Gi0_0_0_0", "10.62.0.2/24", "fd62::2/64"),
    ] {
        ip_ok(&format!("-n {ns} addr add {v4} dev {dev}"));
        ip_ok(&format!("-n {ns} addr add {v6} dev {dev} nodad"));
        ip_ok(&format!("-n {ns} link set {dev} up"));
    }
    ip_ok(&format!(
        "-n {vrf1} neigh add 10.61.0.9 lladdr 02:00:5e:00:01:09 dev et1 nud permanent"
    ));
    ip_ok(&format!(
        "-n {vrf1} neigh add fd61::9 lladdr 02:00:5e:00:01:0a dev et1 nud permanent"
    ));
    ip_ok(&format!(
        "-n {blue} neigh add 10.62.0.9 lladdr 02:00:5e:00:02:09 dev Gi0_0_0_0 nud permanent"
    ));
    // main, a VRF-style table > 255, multipath, a nexthop object and a group, IPv6.
    ip_ok(&format!(
        "-n {vrf1} route add 10.100.0.0/16 via 10.61.0.2 proto static"
    ));
    ip_ok(&format!(
        "-n {vrf1} route add 10.101.0.0/16 via 10.61.0.2 table 1001 metric 20"
    ));
    ip_ok(&format!(
        "-n {vrf1} route add 10.102.0.0/16 nexthop via 10.61.0.2 dev et1 weight 2 \
         nexthop via 10.62.0.2 dev et2"
    ));
    ip_ok(&format!(
        "-n {vrf1} nexthop add id 40 via 10.61.0.2 dev et1"
    ));
    ip_ok(&format!(
        "-n {vrf1} nexthop add id 41 via 10.62.0.2 dev et2"
    ));
    ip_ok(&format!("-n {vrf1} nexthop add id 42 group 40/41,3"));
    ip_ok(&format!(
        "-n {vrf1} route add 10.103.0.0/16 nhid 40 proto bgp"
    ));
    ip_ok(&format!(
        "-n {vrf1} route add 10.104.0.0/16 nhid 42 proto bgp"
    ));
    ip_ok(&format!(
        "-n {vrf1} route add fd99::/64 via fd61::2 metric 512"
    ));
    ip_ok(&format!("-n {blue} route add default via 10.62.0.1"));
    // MPLS push and the label table only where the kernel has mpls_router.
    let _ = sh("modprobe", &["mpls_router"]);
    let mpls = ip(&format!(
        "-n {vrf1} route add 10.105.0.0/16 encap mpls 100/200 via 10.61.0.2 dev et1"
    ))
    .and_then(|_| {
        sh(
            "ip",
            &[
                "netns",
                "exec",
                &vrf1,
                "sysctl",
                "-qw",
                "net.mpls.platform_labels=1000",
            ],
        )
    })
    .and_then(|_| {
        ip(&format!(
            "-n {vrf1} -f mpls route add 300 as 400 via inet 10.61.0.2"
        ))
    });
    if let Err(e) = &mpls {
        eprintln!("skipping the MPLS part: the kernel has no MPLS support here ({e})");
    }
    Topo {
        vrf1,
        mgmt,
        blue,
        mpls: mpls.is_ok(),
    }
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// (dst, table, type, dev, gateway, metric, nexthops) as both tools report them.
type RouteKey = (String, String, String, String, String, String, String);

fn ip_route_keys(ns: &str, family: &str) -> BTreeSet<RouteKey> {
    let v = ip_json(&format!("-n {ns} {family} route show table all"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let table = match s(r, "table") {
                t if t.is_empty() => "main".to_string(),
                t => t,
            };
            let kind = match s(r, "type") {
                t if t.is_empty() => "unicast".to_string(),
                t => t,
            };
            let hops = r
                .get("nexthops")
                .and_then(Value::as_array)
                .map(|hs| {
                    hs.iter()
                        .map(|h| format!("{}/{}/{}", s(h, "gateway"), s(h, "dev"), s(h, "weight")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            (
                s(r, "dst"),
                table,
                kind,
                s(r, "dev"),
                s(r, "gateway"),
                s(r, "metric"),
                hops,
            )
        })
        .collect()
}

fn netkit_route_keys(rows: &[Value], ns: &str, family: &str) -> BTreeSet<RouteKey> {
    rows.iter()
        .filter(|r| s(r, "netns") == ns && s(r, "family") == family)
        .map(|r| {
            // ip lists a nexthop group's members; a lone nexthop object is shown on the
            // route itself (via/dev), as netkit does too.
            let hops: Vec<&Value> = r["nexthops"].as_array().unwrap().iter().collect();
            let hops = if hops.len() > 1 || r["nhid"].is_null() && !hops.is_empty() {
                hops.iter()
                    .map(|h| format!("{}/{}/{}", s(h, "gateway"), s(h, "dev"), s(h, "weight")))
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                String::new()
            };
            (
                s(r, "dst"),
                s(r, "table"),
                s(r, "type"),
                s(r, "dev"),
                s(r, "gateway"),
                s(r, "metric"),
                hops,
            )
        })
        .collect()
}

/// Routes appear while IPv6 settles (link-local, multicast): compare a few times.
fn eventually_equal<T: PartialEq + std::fmt::Debug>(what: &str, mut f: impl FnMut() -> (T, T)) {
    let mut last = f();
    for _ in 0..5 {
        if last.0 == last.1 {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
        last = f();
    }
    assert_eq!(last.0, last.1, "{what}: netkit (left) vs iproute2 (right)");
}

#[test]
fn route_and_arp_match_iproute2() {
    let Some(mut lab) = Lab::new("route_and_arp_match_iproute2") else {
        return;
    };
    let t = build(&mut lab);
    for ns in [&t.vrf1, &t.mgmt, &t.blue] {
        for (fam, flag) in [("inet", "-4"), ("inet6", "-6")] {
            eventually_equal(&format!("routes {fam} in {ns}"), || {
                let rows = netkit_json(&["route", "--netns", ns, "--table", "all", "--json"]);
                (
                    netkit_route_keys(rows.as_array().unwrap(), ns, fam),
                    ip_route_keys(ns, flag),
                )
            });
        }
    }
    // Details iproute2's comparison above does not pin down.
    let rows = netkit_json(&["route", "--netns", &t.vrf1, "--table", "all", "--json"]);
    let rows = rows.as_array().unwrap();
    let find = |dst: &str| {
        rows.iter()
            .find(|r| s(r, "dst") == dst)
            .unwrap_or_else(|| panic!("no route {dst}"))
    };
    assert_eq!(s(find("10.101.0.0/16"), "table"), "1001");
    assert_eq!(s(find("10.101.0.0/16"), "metric"), "20");
    assert_eq!(s(find("10.100.0.0/16"), "proto"), "static");
    let nh = find("10.103.0.0/16");
    assert_eq!((s(nh, "nhid"), s(nh, "proto")), ("40".into(), "bgp".into()));
    assert_eq!(s(nh, "gateway"), "10.61.0.2");
    let group = find("10.104.0.0/16");
    let weights: Vec<String> = group["nexthops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{}:{}", s(h, "dev"), s(h, "weight")))
        .collect();
    assert_eq!(weights, ["et1:1", "et2:3"]);
    let ecmp = find("10.102.0.0/16");
    assert_eq!(ecmp["nexthops"].as_array().unwrap().len(), 2);
    // The default `--table main` leaves out table 1001 and the local table.
    let main = netkit_json(&["route", "--netns", &t.vrf1, "--json"]);
    assert!(main
        .as_array()
        .unwrap()
        .iter()
        .all(|r| s(r, "table") == "main"));
    let only_1001 = netkit_json(&["route", "--netns", &t.vrf1, "--table", "1001", "--json"]);
    assert_eq!(only_1001.as_array().unwrap().len(), 1);
    if t.mpls {
        assert_eq!(s(find("10.105.0.0/16"), "encap"), "mpls 100/200");
        let label = rows
            .iter()
            .find(|r| s(r, "family") == "mpls" && s(r, "dst") == "300")
            .expect("MPLS label route 300");
        assert_eq!(s(label, "encap"), "as to 400");
        assert_eq!(s(label, "gateway"), "10.61.0.2");
    }

    // Neighbours: every entry iproute2 shows, with the same MAC and device; the static
    // ones with the same state (dynamic ones may change state between the two dumps).
    for ns in [&t.vrf1, &t.mgmt, &t.blue] {
        eventually_equal(&format!("neighbours in {ns}"), || {
            let ours = netkit_json(&["arp", "--netns", ns, "--json"]);
            let ours: BTreeSet<(String, String, String, String)> = ours
                .as_array()
                .unwrap()
                .iter()
                .map(|n| {
                    let st = s(n, "state");
                    (
                        s(n, "ip"),
                        s(n, "dev"),
                        s(n, "mac"),
                        if st == "PERMANENT" { st } else { String::new() },
                    )
                })
                .collect();
            let theirs: BTreeSet<(String, String, String, String)> =
                ip_json(&format!("-n {ns} neigh show"))
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| {
                        let st = n["state"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .unwrap_or_default();
                        (
                            s(n, "dst"),
                            s(n, "dev"),
                            s(n, "lladdr"),
                            if st == "PERMANENT" { st } else { String::new() },
                        )
                    })
                    .collect();
            (ours, theirs)
        });
    }
    let v4only = netkit_json(&["arp", "--netns", &t.vrf1, "-4", "--json"]);
    let ips: BTreeSet<String> = v4only
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(n, "ip"))
        .collect();
    assert!(
        ips.contains("10.61.0.9") && !ips.contains("fd61::9"),
        "{ips:?}"
    );

    // All namespaces at once: one merged table, rows tagged with their namespace.
    let all = netkit_json(&["arp", "--all-netns", "--json"]);
    let tagged: BTreeSet<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (s(n, "netns"), s(n, "ip")))
        .collect();
    assert!(
        tagged.contains(&(t.vrf1.clone(), "10.61.0.9".into())),
        "{tagged:?}"
    );
    assert!(
        tagged.contains(&(t.blue.clone(), "10.62.0.9".into())),
        "{tagged:?}"
    );
    let all_routes = netkit_json(&["route", "--all-netns", "--table", "1001", "--json"]);
    assert!(all_routes
        .as_array()
        .unwrap()
        .iter()
        .any(|r| s(r, "netns") == t.vrf1 && s(r, "dst") == "10.101.0.0/16"));
    let human = netkit(&["route", "--all-netns", "--table", "all"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("NETNS") && text.contains(&t.blue), "{text}");
}

/// `ss -tanp` lines: (state, local, peer) and the pids in `users:(...)`.
fn parse_ss(text: &str) -> (BTreeSet<(String, String, String)>, BTreeSet<String>) {
    let mut socks = BTreeSet::new();
    let mut pids = BTreeSet::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let norm = |a: &str| {
            let a = a.replace(":*", ":0");
            // `addr%dev:port` -> `addr:port`: netkit reports the device separately.
            match (a.find('%'), a.rfind(':')) {
                (Some(p), Some(c)) if p < c => format!("{}{}", &a[..p], &a[c..]),
                _ => a,
            }
        };
        let state = if f[0] == "UNCONN" { "UNCONN" } else { f[0] };
        socks.insert((state.to_string(), norm(f[3]), norm(f[4])));
        for part in line.split("pid=").skip(1) {
            pids.insert(part.chars().take_while(char::is_ascii_digit).collect());
        }
    }
    (socks, pids)
}

#[test]
fn ss_matches_iproute2_and_shows_tcp_info() {
    let Some(mut lab) = Lab::new("ss_matches_iproute2_and_shows_tcp_info") else {
        return;
    };
    let t = build(&mut lab);
    let vrf1 = netns::resolve(&t.vrf1).unwrap();
    let mgmt = netns::resolve(&t.mgmt).unwrap();
    // A BGP-like listener in ns-VRF1, a session from srbase-mgmt, bytes both ways; a
    // UDP socket. They live in this test process, so `process` must name this pid.
    let listener = netns::run_in(&vrf1, || TcpListener::bind("10.61.0.1:179"))
        .unwrap()
        .unwrap();
    let udp = netns::run_in(&vrf1, || UdpSocket::bind("[::]:4789"))
        .unwrap()
        .unwrap();
    let mut client = netns::run_in(&mgmt, || TcpStream::connect("10.61.0.1:179"))
        .unwrap()
        .unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(&[7u8; 3000]).unwrap();
    let mut buf = [0u8; 3000];
    server.read_exact(&mut buf).unwrap();
    server.write_all(b"OPEN").unwrap();
    let mut four = [0u8; 4];
    client.read_exact(&mut four).unwrap();
    let me = std::process::id().to_string();

    for ns in [&t.vrf1, &t.mgmt] {
        // Another test of this binary that spawns a process at the same moment holds
        // this process's sockets between its fork and its exec, so one of the two
        // views can catch an extra owner for a moment: a real difference persists,
        // a fork does not, so a differing view is taken again (at most three times).
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The same flags as the iproute2 side, as people type them (`-N` as `ss -N`).
            let ours = netkit_json(&["ss", "-tanp", "-N", ns, "--json"]);
            let rows = ours.as_array().unwrap();
            let ours_set: BTreeSet<(String, String, String)> = rows
                .iter()
                .map(|r| (s(r, "state"), s(r, "local"), s(r, "peer")))
                .collect();
            let theirs = sh("ip", &["netns", "exec", ns, "ss", "-tanp"]).unwrap();
            let (theirs_set, their_pids) = parse_ss(&theirs);
            let our_pids: BTreeSet<String> = rows
                .iter()
                .flat_map(|r| r["process"].as_array().unwrap().iter().map(|p| s(p, "pid")))
                .collect();
            if attempt < 3 && (ours_set != theirs_set || our_pids != their_pids) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
            assert_eq!(ours_set, theirs_set, "ss -tanp in {ns}:\n{theirs}");
            assert_eq!(our_pids, their_pids, "owning processes in {ns}");
            assert!(our_pids.contains(&me));
            break;
        }
    }

    let rows = netkit_json(&["ss", "--netns", &t.vrf1, "-t", "--json"]);
    let rows = rows.as_array().unwrap();
    // Without -a or -l, listeners are left out, as `ss` does.
    assert!(rows.iter().all(|r| s(r, "state") != "LISTEN"));
    let est = rows
        .iter()
        .find(|r| s(r, "local") == "10.61.0.1:179")
        .expect("established BGP-side socket");
    assert_eq!(s(est, "state"), "ESTAB");
    assert_eq!(s(est, "proto"), "tcp");
    let ti = &est["tcp_info"];
    assert_eq!(ti["bytes_received"].as_u64(), Some(3000));
    assert!(ti["cwnd"].as_u64().unwrap() > 0);
    assert!(ti["rtt_ms"].as_f64().unwrap() > 0.0);
    assert!(!s(ti, "congestion").is_empty());
    assert_eq!(ti["md5"], Value::Bool(false)); // root sees MD5 keys; there are none
                                               // The client's 3000 bytes (and its SYN) were acknowledged by the segment that
                                               // carried "OPEN", which it has read; so these counters are settled.
    let client_side = netkit_json(&["ss", "--netns", &t.mgmt, "-t", "--json"]);
    let c = client_side
        .as_array()
        .unwrap()
        .iter()
        .find(|r| s(r, "peer") == "10.61.0.1:179")
        .expect("client-side socket");
    assert_eq!(c["tcp_info"]["bytes_acked"].as_u64(), Some(3001));
    assert_eq!(c["tcp_info"]["bytes_received"].as_u64(), Some(4));
    let listening = netkit_json(&["ss", "--netns", &t.vrf1, "-l", "--json"]);
    let l: BTreeSet<(String, String, String)> = listening
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (s(r, "proto"), s(r, "state"), s(r, "local")))
        .collect();
    assert!(
        l.contains(&("tcp".into(), "LISTEN".into(), "10.61.0.1:179".into())),
        "{l:?}"
    );
    assert!(
        l.contains(&("udp".into(), "UNCONN".into(), "[::]:4789".into())),
        "{l:?}"
    );

    // All namespaces: the two ends of the session, each tagged with its namespace.
    let all = netkit_json(&["ss", "--all-netns", "-t", "--json"]);
    let ends: BTreeSet<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| s(r, "local").ends_with(":179") || s(r, "peer").ends_with(":179"))
        .map(|r| (s(r, "netns"), s(r, "local")))
        .collect();
    assert!(
        ends.contains(&(t.vrf1.clone(), "10.61.0.1:179".into())),
        "{ends:?}"
    );
    assert!(
        ends.iter()
            .any(|(ns, l)| ns == &t.mgmt && l.starts_with("10.61.0.2:")),
        "{ends:?}"
    );
    drop((client, server, listener, udp));

    // TCP-MD5 (RFC 2385), as BGP sessions use it: a keyed listener and session in
    // vrf-blue, made by python3 (std has no TCP_MD5SIG), compared with `ss -tani`.
    // `ip netns exec` execs python itself, so killing the child ends it; it also ends
    // on its own after 30 s.
    let script = r#"
import socket, struct, sys, time
def md5(sock, peer, key):
    addr = (struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0)
            + socket.inet_aton(peer)).ljust(128, b"\0")
    sock.setsockopt(socket.IPPROTO_TCP, 14,
                    addr + struct.pack("=BBHI", 0, 0, len(key), 0) + key.ljust(80, b"\0"))
l = socket.socket(); l.bind(("10.62.0.2", 179)); md5(l, "10.62.0.2", b"bgp-secret"); l.listen()
c = socket.socket(); md5(c, "10.62.0.2", b"bgp-secret"); c.connect(("10.62.0.2", 179))
s, _ = l.accept()
print("ready", flush=True)
time.sleep(30)
"#;
    let spawned = Command::new("ip")
        .args(["netns", "exec", &t.blue, "python3", "-c", script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut py) = spawned else {
        eprintln!("skipping the TCP-MD5 part: python3 could not be started");
        return;
    };
    let mut line = String::new();
    let ready = py.stdout.take().map(|o| {
        use std::io::BufRead;
        std::io::BufReader::new(o).read_line(&mut line)
    });
    if !matches!(ready, Some(Ok(_))) || line.trim() != "ready" {
        let _ = py.kill();
        let out = py.wait_with_output().ok();
        eprintln!(
            "skipping the TCP-MD5 part: no TCP_MD5SIG here ({})",
            out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default()
                .trim()
        );
        return;
    }
    let ours = netkit_json(&["ss", "--netns", &t.blue, "-t", "-a", "--json"]);
    let theirs = sh("ip", &["netns", "exec", &t.blue, "ss", "-tani"]).unwrap();
    let _ = py.kill();
    let _ = py.wait();
    let keyed: Vec<(String, String)> = ours
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tcp_info"]["md5"] == Value::Bool(true))
        .map(|r| (s(r, "state"), s(r, "local")))
        .collect();
    assert_eq!(
        keyed.len(),
        theirs.matches("md5keys:").count(),
        "{keyed:?}\n{theirs}"
    );
    assert_eq!(keyed.len(), 3, "{keyed:?}");
    assert!(
        keyed.contains(&("LISTEN".into(), "10.62.0.2:179".into())),
        "{keyed:?}"
    );
}

#[test]
fn ns_list_resolve_and_exec() {
    let Some(mut lab) = Lab::new("ns_list_resolve_and_exec") else {
        return;
    };
    let t = build(&mut lab);
    lab.etc_file(&t.vrf1, "hosts", "10.61.0.2 spine1-mgmt\n");

    // ns list: each of ours once, VRF by convention, interfaces; every inode once.
    // An nsid for one of them, so both "assigned" and "none" are compared below.
    let _ = ip(&format!("netns set {} 77", t.blue));
    let list = netkit_json(&["ns", "list", "--json"]);
    let list = list.as_array().unwrap();
    let inodes: Vec<u64> = list.iter().map(|n| n["inode"].as_u64().unwrap()).collect();
    let unique: BTreeSet<u64> = inodes.iter().copied().collect();
    assert_eq!(unique.len(), inodes.len(), "an inode listed twice");
    let suffix = lab.suffix.clone();
    for (name, vrf, iface) in [
        (&t.vrf1, format!("VRF1-{suffix}"), "et1"),
        (&t.mgmt, format!("mgmt-{suffix}"), "e1-1"),
        (&t.blue, format!("blue-{suffix}"), "Gi0_0_0_0"),
    ] {
        let e = list
            .iter()
            .find(|n| &s(n, "name") == name)
            .unwrap_or_else(|| panic!("{name} not in ns list"));
        assert_eq!(s(e, "vrf"), vrf);
        assert_eq!(s(e, "source"), "netns");
        let ifs: Vec<&str> = e["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            ifs.contains(&"lo") && ifs.contains(&iface),
            "{name}: {ifs:?}"
        );
        let inode = std::fs::metadata(format!("/run/netns/{name}"))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap();
        assert_eq!(e["inode"].as_u64(), Some(inode));
    }
    // nsids as `ip netns list` shows them: `NAME (id: N)`, or no id.
    let ip_list = ip("netns list").unwrap();
    for name in [&t.vrf1, &t.mgmt, &t.blue] {
        let theirs = ip_list
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .and_then(|l| l.split("(id: ").nth(1))
            .map(|id| id.trim_end_matches(')').to_string())
            .unwrap_or_default();
        let ours = list.iter().find(|n| &s(n, "name") == name).unwrap();
        assert_eq!(s(ours, "nsid"), theirs, "nsid of {name}");
    }
    let blue = list.iter().find(|n| s(n, "name") == t.blue).unwrap();
    assert_eq!(s(blue, "nsid"), "77");
    let ours = list.iter().find(|n| s(n, "name") == t.vrf1).unwrap();
    assert_eq!(ours["etc_netns"], Value::Bool(true));
    // An unnamed namespace held only by a process (what a container is) shows as pid:N.
    if let Ok(mut held) = Command::new("unshare")
        .args(["--net", "sleep", "20"])
        .spawn()
    {
        std::thread::sleep(Duration::from_millis(300));
        let pid = held.id();
        let list = netkit_json(&["ns", "list", "--json"]);
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["pid"].as_u64() == Some(u64::from(pid)));
        let _ = held.kill();
        let _ = held.wait();
        let found = found.expect("the unshare'd namespace is listed");
        assert_eq!(s(found, "source"), "process");
        assert_eq!(s(found, "name"), format!("pid:{pid}"));
        assert_eq!(found["pids"].as_u64(), Some(1));
    }

    // NS resolution: VRF name by convention, pid:N, ambiguity, unknown.
    let by_vrf = netkit_json(&["arp", "--netns", &format!("VRF1-{suffix}"), "--json"]);
    assert!(by_vrf
        .as_array()
        .unwrap()
        .iter()
        .any(|n| s(n, "ip") == "10.61.0.9"));
    let twin = lab.name("vrf-VRF1");
    lab.add(&twin).unwrap();
    let amb = netkit(&["arp", "--netns", &format!("VRF1-{suffix}")]);
    assert_eq!(amb.status.code(), Some(1));
    let err = String::from_utf8_lossy(&amb.stderr);
    assert!(
        err.contains("ambiguous") && err.contains(&t.vrf1) && err.contains(&twin),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let unknown = netkit(&["route", "--netns", &lab.name("no-such")]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown namespace"));

    // ns exec: /etc/netns files bound over /etc, a fresh /sys, the status passed through.
    let out = netkit(&["ns", "exec", &t.vrf1, "--", "cat", "/etc/hosts"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "10.61.0.2 spine1-mgmt\n"
    );
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    assert!(
        !host_hosts.contains("spine1-mgmt"),
        "the bind leaked to the host"
    );
    let out = netkit(&[
        "ns",
        "exec",
        &format!("mgmt-{suffix}"),
        "ls",
        "/sys/class/net",
    ]);
    let sys: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(sys, BTreeSet::from(["e1-1".to_string(), "lo".to_string()]));
    let theirs = sh("ip", &["netns", "exec", &t.mgmt, "ls", "/sys/class/net"]).unwrap();
    let theirs: BTreeSet<String> = theirs.split_whitespace().map(str::to_string).collect();
    assert_eq!(sys, theirs);
    let out = netkit(&["ns", "exec", &t.blue, "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = netkit(&["ns", "exec", &t.blue, "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + 15));
    let out = netkit(&["ns", "exec", &lab.name("no-such"), "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let by_pid = netkit(&[
        "ns",
        "exec",
        &format!("pid:{}", std::process::id()),
        "--",
        "true",
    ]);
    assert!(by_pid.status.success());
}

#[test]
fn a_namespace_that_vanishes_is_a_warning_not_a_failure() {
    let Some(mut lab) = Lab::new("a_namespace_that_vanishes_is_a_warning_not_a_failure") else {
        return;
    };
    let keep = lab.name("ns-KEEP");
    let gone = lab.name("ns-GONE");
    lab.add(&keep).unwrap();
    lab.add(&gone).unwrap();
    ip_ok(&format!("-n {keep} route add blackhole 10.200.0.0/16"));
    // Both were listed when the view started; one is deleted before it is entered.
    let list: Vec<Netns> = [&keep, &gone]
        .iter()
        .map(|n| netns::resolve(n).unwrap())
        .collect();
    ip_ok(&format!("netns del {gone}"));
    let got = nsviews::each(&list, |label| {
        let r = netkit_os::netlink::open(netkit_os::netlink::NETLINK_ROUTE)?;
        let links = netkit_os::netlink::Links::dump(&r)?;
        let rows = netkit_os::netlink::routes::dump(&r, &links)?;
        Ok(rows
            .into_iter()
            .map(|x| (label.to_string(), x.dst))
            .collect::<Vec<_>>())
    });
    assert!(got
        .rows
        .contains(&(keep.clone(), "10.200.0.0/16".to_string())));
    assert_eq!(got.problems.len(), 1, "{:?}", got.problems);
    let problem = &got.problems[0];
    assert!(
        problem.netns == gone
            && problem.kind == NsProblemKind::Gone
            && problem.message.contains(&gone),
        "{problem:?}"
    );
    // Through the CLI, every remaining namespace is still shown.
    let all = netkit_json(&["route", "--all-netns", "--json"]);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|r| s(r, "netns") == keep && s(r, "dst") == "10.200.0.0/16"));
}

/// Issue 21 item 1: every name `ns list --json` prints (the root namespace's `host`
/// too) is accepted back by `--netns` and `-N` on every command that takes a
/// namespace, so a script looping over the list does not break on the first row.
#[test]
fn every_name_ns_list_prints_is_accepted_by_netns_and_dash_n() {
    let Some(mut lab) = Lab::new("every_name_ns_list_prints_is_accepted_by_netns_and_dash_n")
    else {
        return;
    };
    let mine = lab.name("nk-loop");
    lab.add(&mine).unwrap();
    // An interface up for `neighbors` to listen on (it refuses a namespace with only lo).
    ip_ok(&format!("-n {mine} link add a0 type veth peer name a1"));
    ip_ok(&format!("-n {mine} link set a0 up"));
    ip_ok(&format!("-n {mine} link set a1 up"));
    let list = netkit_json(&["ns", "list", "--json"]);
    let names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(n, "name"))
        .filter(|n| n == "host" || n == &mine)
        .collect();
    assert_eq!(names, ["host".to_string(), mine.clone()], "ns list: {list}");
    for name in &names {
        for flag in ["--netns", "-N"] {
            for cmd in [
                vec!["ss", "-ta"],
                vec!["arp"],
                vec!["route", "--table", "all"],
                vec!["mcast", "groups"],
                vec!["top", "--count", "1", "--interval", "0.1"],
                vec!["neighbors", "--wait", "1"],
            ] {
                let mut args = cmd.clone();
                args.extend([flag, name.as_str(), "--json"]);
                let out = netkit(&args);
                assert!(
                    out.status.success(),
                    "netkit {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    // `host` is the root namespace: its rows are labelled `host`, the same rows as
    // netkit's own namespace (this test runs in the root namespace).
    let host_routes = netkit_json(&["route", "-N", "host", "--table", "all", "--json"]);
    let rows = host_routes.as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| s(r, "netns") == "host"),
        "{host_routes}"
    );
    let own = netkit_json(&["route", "--table", "all", "--json"]);
    assert_eq!(own.as_array().unwrap().len(), rows.len());
}

/// Issue 21 item 2: an unknown `--table` is an error (as `ip route show table nosuch`),
/// never "no routes" with exit 0; `route get ADDR` answers as `ip route get` does, in
/// one namespace or across all.
#[test]
fn unknown_tables_are_errors_and_route_get_matches_ip_route_get() {
    let Some(mut lab) = Lab::new("unknown_tables_are_errors_and_route_get_matches_ip_route_get")
    else {
        return;
    };
    let ns = lab.name("nk-rget");
    lab.add(&ns).unwrap();
    ip_ok(&format!("-n {ns} link add g0 type veth peer name g1"));
    ip_ok(&format!("-n {ns} link set g0 up"));
    ip_ok(&format!("-n {ns} link set g1 up"));
    ip_ok(&format!("-n {ns} addr add 10.77.0.1/24 dev g0"));
    ip_ok(&format!(
        "-n {ns} route add 10.78.0.0/16 via 10.77.0.2 dev g0"
    ));
    ip_ok(&format!(
        "-n {ns} route add 10.79.0.0/16 via 10.77.0.3 table 1001"
    ));

    for (table, code) in [("nosuch", 1), ("g0", 1), ("99999999999", 2), ("", 2)] {
        let out = netkit(&["route", "-N", &ns, "--table", table]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "--table {table:?}: {stderr}");
        assert!(out.stdout.is_empty(), "--table {table:?} printed rows");
        assert!(stderr.contains(table), "--table {table:?}: {stderr}");
    }
    let out = netkit(&["route", "--all-netns", "--table", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    // Tables that exist (even empty ones, as with iproute2) are not errors.
    for table in ["1001", "4294967295", "all", "local"] {
        let out = netkit(&["route", "-N", &ns, "--table", table, "--json"]);
        assert!(out.status.success(), "--table {table}");
    }

    // route get: the kernel's answer, the same as iproute2's.
    for (to, via) in [("10.78.1.1", Some("10.77.0.2")), ("10.77.0.9", None)] {
        let want = ip_json(&format!("-n {ns} route get {to}"));
        let want = &want[0];
        for args in [
            vec!["route", "get", to, "-N", &ns, "--json"],
            vec!["route", "-N", &ns, "get", to, "--json"],
        ] {
            let got = netkit_json(&args);
            let got = &got[0];
            assert_eq!(s(got, "netns"), ns);
            assert_eq!(s(got, "dev"), s(want, "dev"), "{args:?}");
            assert_eq!(s(got, "prefsrc"), s(want, "prefsrc"), "{args:?}");
            assert_eq!(got["gateway"].as_str(), via, "{args:?}");
            assert_eq!(got["gateway"].as_str(), want["gateway"].as_str());
        }
    }
    // No route in one namespace: an error naming the destination (exit 1).
    let out = netkit(&["route", "get", "192.0.2.99", "-N", &ns]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("192.0.2.99") && stderr.contains("unreachable"),
        "{stderr}"
    );
    // Across all namespaces: one row per namespace, ours with its gateway.
    let all = netkit_json(&["route", "get", "10.78.1.1", "--all-netns", "--json"]);
    let ours: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| s(r, "netns") == ns)
        .collect();
    assert_eq!(ours.len(), 1, "{all}");
    assert_eq!(s(ours[0], "gateway"), "10.77.0.2");
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|r| s(r, "netns") == "host"));
}

/// `netkit ARGS` on a terminal COLUMNS wide (through `script`, so stdout is a tty):
/// its lines, or None when `script` (util-linux) is missing.
fn on_terminal(columns: u16, args: &[&str]) -> Option<Vec<String>> {
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_netkit").to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("COLUMNS", columns.to_string())
        .env("NO_COLOR", "1")
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect(),
    )
}

/// Issue 21 item 4: at 80 columns `ss -tanp` fits the terminal by leaving out the
/// columns of least value (and saying which), never by cutting an address or a PID.
#[test]
fn ss_at_80_columns_fits_without_cutting_addresses_or_pids() {
    let Some(mut lab) = Lab::new("ss_at_80_columns_fits_without_cutting_addresses_or_pids") else {
        return;
    };
    let a = lab.name("nk-ssw-a");
    let b = lab.name("nk-ssw-b");
    lab.add(&a).unwrap();
    lab.add(&b).unwrap();
    let peer = format!("w{}", lab.suffix);
    ip_ok(&format!(
        "-n {a} link add sw0 type veth peer name {peer} netns {b}"
    ));
    ip_ok(&format!("-n {a} addr add 10.99.0.1/24 dev sw0"));
    ip_ok(&format!("-n {b} addr add 10.99.0.2/24 dev {peer}"));
    ip_ok(&format!(
        "-n {a} addr add fd00:99:1234:5678::1/64 dev sw0 nodad"
    ));
    ip_ok(&format!(
        "-n {b} addr add fd00:99:1234:5678::2/64 dev {peer} nodad"
    ));
    ip_ok(&format!("-n {a} link set sw0 up"));
    ip_ok(&format!("-n {b} link set {peer} up"));
    let ns_a = netns::resolve(&a).unwrap();
    let ns_b = netns::resolve(&b).unwrap();
    let listener = netns::run_in(&ns_a, || TcpListener::bind("[fd00:99:1234:5678::1]:8080"))
        .unwrap()
        .unwrap();
    let client = netns::run_in(&ns_b, || TcpStream::connect("[fd00:99:1234:5678::1]:8080"))
        .unwrap()
        .unwrap();
    let (_server, _) = listener.accept().unwrap();
    // The issue's case: IPv4 10.99.0.x, `ss -tanp` at 80 columns.
    let listener4 = netns::run_in(&ns_a, || TcpListener::bind("10.99.0.1:8080"))
        .unwrap()
        .unwrap();
    let client4 = netns::run_in(&ns_b, || TcpStream::connect("10.99.0.1:8080"))
        .unwrap()
        .unwrap();
    let (_server4, _) = listener4.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();
    let client4_port = client4.local_addr().unwrap().port();
    let me = std::process::id().to_string();
    let whole = [
        "10.99.0.1:8080".to_string(),
        format!("10.99.0.2:{client4_port}"),
        format!("({me})"),
    ];
    let whole6 = [
        "[fd00:99:1234:5678::1]:8080".to_string(),
        format!("[fd00:99:1234:5678::2]:{client_port}"),
    ];
    let Some(wide) = on_terminal(250, &["ss", "-tanp", "-N", &a]) else {
        eprintln!("skipping: script (util-linux) is not installed");
        return;
    };
    assert!(wide.iter().any(|l| l.contains("TCP INFO")), "{wide:#?}");
    assert!(wide.iter().all(|l| !l.contains("not shown")), "{wide:#?}");
    let narrow = on_terminal(80, &["ss", "-tanp", "-4", "-N", &a]).unwrap();
    let text = narrow.join("\n");
    assert!(
        narrow.iter().all(|l| l.chars().count() <= 80),
        "wider than 80:\n{text}"
    );
    for w in &whole {
        assert!(text.contains(w.as_str()), "{w} cut or missing:\n{text}");
    }
    assert!(
        text.replace('\n', " ")
            .contains("(not shown at this width: TCP INFO"),
        "no word about the columns left out:\n{text}"
    );
    // Across every namespace (the host's rows too), IPv6 too: addresses and PID whole.
    let all = on_terminal(80, &["ss", "-tanp", "--all-netns"])
        .unwrap()
        .join("\n");
    for w in whole.iter().chain(&whole6) {
        assert!(all.contains(w.as_str()), "{w} cut or missing:\n{all}");
    }
}

/// Issue 21 item 3: iproute2 habits. `ss` filter words (`state`, `dst`, `sport = :N`),
/// `-s`, `-o`, `-e`, `-A QUERY` as ss's socket tables; `arp -an`; `addr` as `ip -br a`.
/// Each compared with iproute2 on the same namespaces.
#[test]
fn iproute2_habits_ss_filters_summary_arp_an_and_brief_addresses() {
    let Some(mut lab) = Lab::new("iproute2_habits_ss_filters_summary_arp_an_and_brief_addresses")
    else {
        return;
    };
    let a = lab.name("nk-hab-a");
    let b = lab.name("nk-hab-b");
    lab.add(&a).unwrap();
    lab.add(&b).unwrap();
    let peer = format!("h{}", lab.suffix);
    ip_ok(&format!(
        "-n {a} link add hb0 type veth peer name {peer} netns {b}"
    ));
    ip_ok(&format!("-n {a} addr add 10.98.0.1/24 dev hb0"));
    ip_ok(&format!("-n {b} addr add 10.98.0.2/24 dev {peer}"));
    ip_ok(&format!("-n {a} link set hb0 up"));
    ip_ok(&format!("-n {b} link set {peer} up"));
    let ns_a = netns::resolve(&a).unwrap();
    let ns_b = netns::resolve(&b).unwrap();
    let web = netns::run_in(&ns_a, || TcpListener::bind("10.98.0.1:8080"))
        .unwrap()
        .unwrap();
    let _other = netns::run_in(&ns_a, || TcpListener::bind("0.0.0.0:9090"))
        .unwrap()
        .unwrap();
    let _udp = netns::run_in(&ns_a, || UdpSocket::bind("10.98.0.1:5353"))
        .unwrap()
        .unwrap();
    let client = netns::run_in(&ns_b, || TcpStream::connect("10.98.0.1:8080"))
        .unwrap()
        .unwrap();
    let (_server, _) = web.accept().unwrap();
    let cport = client.local_addr().unwrap().port();

    let keys = |rows: &Value| -> BTreeSet<(String, String, String)> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| (s(r, "state"), s(r, "local"), s(r, "peer")))
            .collect()
    };
    let ends = |set: BTreeSet<(String, String, String)>| -> BTreeSet<(String, String)> {
        set.into_iter().map(|(_, l, p)| (l, p)).collect()
    };
    // iproute2 leaves out the State column when `state` is given: (local, peer).
    let their_ends = |text: &str| -> BTreeSet<(String, String)> {
        let with_state = text.starts_with("State");
        text.lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let at = if with_state { 3 } else { 2 };
                let norm = |a: &str| a.replace(":*", ":0");
                Some((norm(f.get(at)?), norm(f.get(at + 1)?)))
            })
            .collect()
    };
    // The same words to both tools; iproute2's rows parsed as in the ss test above.
    for (ns, words) in [
        (&a, "state established"),
        (&a, "sport = :8080"),
        (&a, "state listening"),
        (&b, "dst 10.98.0.1"),
        (&b, "dport eq :8080"),
        (&a, "state all exclude listening"),
    ] {
        let mut args = vec!["ss", "-tan", "-N", ns.as_str(), "--json"];
        args.extend(words.split_whitespace());
        let ours = ends(keys(&netkit_json(&args)));
        let mut theirs_args = vec!["netns", "exec", ns.as_str(), "ss", "-tan"];
        theirs_args.extend(words.split_whitespace());
        let theirs = sh("ip", &theirs_args).unwrap();
        assert_eq!(
            ours,
            their_ends(&theirs),
            "ss -tan {words} in {ns}:\n{theirs}"
        );
        assert!(
            !ours.is_empty(),
            "ss -tan {words} in {ns}: nothing to compare"
        );
    }
    let est = keys(&netkit_json(&[
        "ss",
        "-N",
        &b,
        "state",
        "established",
        "--json",
    ]));
    assert!(est.contains(&(
        "ESTAB".to_string(),
        format!("10.98.0.2:{cport}"),
        "10.98.0.1:8080".to_string()
    )));

    // -s: counts per namespace (two listeners, one session, one UDP socket).
    let sum = netkit_json(&["ss", "-s", "-N", &a, "--json"]);
    let sum = &sum[0];
    assert_eq!(s(sum, "netns"), a);
    assert_eq!(
        (s(sum, "tcp_listen"), s(sum, "tcp_estab"), s(sum, "udp")),
        ("2".into(), "1".into(), "1".into()),
        "{sum}"
    );
    let human = netkit(&["ss", "-s", "-N", &a]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("TIME-WAIT"));

    // -o and -e add the timer and uid/inode columns; --json carries both always.
    let out = netkit(&["ss", "-tanoe", "-N", &a]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("TIMER") && text.contains("UID/INODE"),
        "{text}"
    );
    let rows = netkit_json(&["ss", "-tan", "-N", &a, "--json"]);
    let ino = s(&rows[0], "inode");
    assert!(text.contains(&format!("ino:{ino}")), "{text}");
    assert!(rows[0].get("timer").is_some());

    // -A as ss's socket tables, not "all namespaces".
    let udp_only = netkit_json(&["ss", "-a", "-A", "udp", "-N", &a, "--json"]);
    assert!(udp_only
        .as_array()
        .unwrap()
        .iter()
        .all(|r| s(r, "proto") == "udp"));
    assert_eq!(udp_only.as_array().unwrap().len(), 1);
    let unix = netkit(&["ss", "-A", "unix"]);
    assert_eq!(unix.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unix.stderr).contains("TCP and UDP sockets only"));
    let bad = netkit(&["ss", "state", "nosuch"]);
    assert_eq!(bad.status.code(), Some(2));

    // arp -an (BSD/Linux net-tools habit) works.
    let out = netkit(&["arp", "-an", "-N", &a]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // addr: the same interfaces, states and addresses as `ip -br a`. The kernel
    // settles a link that was just set up in the background (its operstate goes UP
    // and its IPv6 link-local address is added when linkwatch runs, up to a second
    // later), so the two snapshots, taken one after the other, may straddle that
    // moment: they are compared again until they agree.
    for ns in [&a, &b] {
        eventually_equal(&format!("addr in {ns}"), || {
            let ours: BTreeSet<(String, String, Vec<String>)> =
                netkit_json(&["addr", "-N", ns, "--json"])
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let addrs = r["addrs"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|a| a.as_str().unwrap().to_string())
                            .collect();
                        (s(r, "dev"), s(r, "state"), addrs)
                    })
                    .collect();
            let theirs: BTreeSet<(String, String, Vec<String>)> =
                ip_json(&format!("-n {ns} -br a"))
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let addrs = r["addr_info"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|a| format!("{}/{}", s(a, "local"), s(a, "prefixlen")))
                            .collect();
                        (s(r, "ifname"), s(r, "operstate"), addrs)
                    })
                    .collect();
            (ours, theirs)
        });
    }
}

/// Issue 21 item 17: `ss` skips the tables sockstat says a namespace has nothing in,
/// and dumps TCP once for both families. What it still must see: a namespace whose
/// only TCP socket is in TIME-WAIT (not "in use"), IPv6-only TCP, IPv6-only UDP, each
/// as iproute2's ss sees them.
#[test]
fn skipping_empty_tables_loses_no_socket() {
    let Some(mut lab) = Lab::new("skipping_empty_tables_loses_no_socket") else {
        return;
    };
    let tw = lab.name("nk-tw");
    let v6 = lab.name("nk-v6");
    lab.add(&tw).unwrap();
    lab.add(&v6).unwrap();
    let ns_tw = netns::resolve(&tw).unwrap();
    let ns_v6 = netns::resolve(&v6).unwrap();
    // TIME-WAIT only: the client closes first, then everything else goes away.
    netns::run_in(&ns_tw, || {
        let l = TcpListener::bind("127.0.0.1:7070").unwrap();
        let c = TcpStream::connect("127.0.0.1:7070").unwrap();
        let (mut s, _) = l.accept().unwrap();
        drop(c);
        let mut buf = [0u8; 1];
        let _ = s.read(&mut buf);
    })
    .unwrap();
    let stat = sh("ip", &["netns", "exec", &tw, "cat", "/proc/net/sockstat"]).unwrap();
    assert!(stat.contains("TCP: inuse 0"), "{stat}");
    let _l6 = netns::run_in(&ns_v6, || TcpListener::bind("[::1]:7071"))
        .unwrap()
        .unwrap();
    let _u6 = netns::run_in(&ns_v6, || UdpSocket::bind("[::1]:7072"))
        .unwrap()
        .unwrap();
    for (ns, flags) in [(&tw, "-tan"), (&v6, "-tuan")] {
        let ours: BTreeSet<(String, String)> = netkit_json(&["ss", flags, "-N", ns, "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (s(r, "local"), s(r, "peer")))
            .collect();
        let theirs = sh("ip", &["netns", "exec", ns, "ss", "-H", flags]).unwrap();
        let theirs: BTreeSet<(String, String)> = theirs
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // -H: [Netid] State Recv-Q Send-Q Local Peer
                let at = if flags == "-tuan" { 4 } else { 3 };
                let norm = |a: &str| a.replace(":*", ":0");
                Some((norm(f.get(at)?), norm(f.get(at + 1)?)))
            })
            .collect();
        assert!(!theirs.is_empty(), "{ns}: nothing to compare");
        assert_eq!(ours, theirs, "ss {flags} in {ns}");
    }
}
