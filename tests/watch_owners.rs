//! `netkit watch`'s owner lookups on its BPF path (top's probe, bpf/top.bpf.c, owners
//! only) against the sock-diag path, on real traffic between two namespaces joined by
//! a veth:
//! - 250 clients, each its own short-lived process (forked by a driver in the client
//!   namespace, a few in flight, no pacing), connect to a server that rejects every
//!   WebSocket upgrade with 403, send one upgrade request and close at once, then
//!   exit: each is gone, or nearly, when its upgrade is judged. `watch --json
//!   --attribution bpf` and `--attribution sock-diag` run at the same time in the
//!   client namespace; the share of rejected upgrades naming the right PID is printed
//!   for both, the BPF one required >= 99.5%.
//! - Without CAP_SYS_ADMIN, `--attribution auto` says so in one line and runs on
//!   sock-diag; `--attribution bpf` fails with that line and exit 1.
//! - The probe watch loads has no program on the packet path (no cgroup_skb, checked
//!   with bpftool when installed), and `kill -9` leaves none of its programs, links
//!   or maps.
//!
//! Needs root, iproute2, python3 (and setpriv for the second); otherwise says why and
//! skips. Names are prefixed nkwo- and removed by Drop guards, also when an assertion
//! fails. Every step is bounded in time.

mod common;

use common::bpf::{assert_all_freed, held_ids};
use common::pair::{NsPair, Offloads};
use common::{have, skip_reason};
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Forks N children, 8 in flight; each connects, sends one upgrade request, closes
/// and exits at once. Prints "pid local_port" per child once it exited.
const DRIVER: &str = r#"
import os, socket, sys
n = int(sys.argv[1]); inflight = 8
REQ = (b"GET /deny HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
running = {}
def reap():
    pid, status = os.wait()
    r = running.pop(pid)
    port = os.read(r, 16).decode().strip() or "0"
    os.close(r)
    print(pid, port, flush=True)
for i in range(n):
    if len(running) >= inflight:
        reap()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        s = socket.create_connection(("10.235.0.2", 8080), timeout=5)
        port = s.getsockname()[1]
        s.sendall(REQ)
        s.close()
        os.write(w, str(port).encode())
        os._exit(0)
    os.close(w)
    running[pid] = r
while running:
    reap()
"#;

/// The tests of this file load BPF programs seen by the whole machine and time
/// things: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running `netkit watch --json`, killed on drop.
struct Watch(Option<Child>);

impl Watch {
    fn start(ns: &str, iface: &str, attribution: &str) -> Watch {
        let child = Command::new(env!("CARGO_BIN_EXE_netkit"))
            .args(["watch", "--json", "--netns", ns, "-i", iface])
            .args(["--summary-every", "2", "--duration", "60"])
            .args(["--attribution", attribution])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("netkit watch");
        Watch(Some(child))
    }

    /// SIGTERM (the last summary is printed), then every event and stderr.
    fn finish(mut self) -> (Vec<Value>, String) {
        let child = self.0.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().expect("watch");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "watch failed: {err}");
        let events = common::ndjson(String::from_utf8_lossy(&out.stdout).lines(), &err);
        (events, err)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Of the rejected upgrades, how many name the PID of the child that used their
/// client port (`clients`: port -> pid), how many another process, how many none.
fn named(events: &[Value], clients: &HashMap<u16, i64>) -> (usize, usize, usize) {
    let (mut right, mut wrong, mut none) = (0, 0, 0);
    for e in events
        .iter()
        .filter(|e| e["event"] == "upgrade" && e["verdict"] == "rejected")
    {
        let port: u16 = e["client"]
            .as_str()
            .and_then(|c| c.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("client port");
        match e["process"]["pid"].as_i64() {
            None => none += 1,
            Some(pid) if clients.get(&port) == Some(&pid) => {
                right += 1;
                // Gone by the time it was judged (or still there): either way named
                // after what the kernel recorded.
                assert_eq!(e["process"]["comm"], "python3", "{e}");
            }
            Some(_) => {
                eprintln!("wrong process: {e}");
                wrong += 1;
            }
        }
    }
    (right, wrong, none)
}

fn last_summary(events: &[Value]) -> &Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "summary")
        .expect("a summary")
}

#[test]
fn bpf_names_the_clients_of_sub_millisecond_rejected_upgrades() {
    if let Some(why) = skip_reason(&["ip", "python3"]) {
        eprintln!("skipping watch_owners: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = NsPair::ipv4_only("nkwo", "x", "10.235.0", Offloads::Kept);
    let b = lab.b.clone();
    // Rejects each upgrade (/deny) as soon as its head is in, then closes.
    lab.start_lab_server(&b, "upgrade_server.py", &["8080", "0"]);
    let bpf = Watch::start(&lab.a, &lab.va, "bpf");
    let diag = Watch::start(&lab.a, &lab.va, "sock-diag");
    // Both captures open and the probe attached (watch says nothing on stdout
    // until its first summary).
    std::thread::sleep(Duration::from_millis(1500));

    let n = 250;
    let started = Instant::now();
    let out = lab
        .exec(&lab.a, "python3")
        .args(["-c", DRIVER, &n.to_string()])
        .output()
        .expect("driver");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elapsed = started.elapsed();
    let clients: HashMap<u16, i64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let pid = it.next()?.parse().ok()?;
            let port = it.next()?.parse().ok()?;
            Some((port, pid))
        })
        .collect();
    assert_eq!(clients.len(), n, "every child reported its port");
    eprintln!(
        "{n} clients in {:.2} s ({:.1} ms each, 8 in flight)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / n as f64
    );
    // The last answers judged.
    std::thread::sleep(Duration::from_millis(1500));
    let (bpf_events, bpf_err) = bpf.finish();
    let (diag_events, diag_err) = diag.finish();

    let mut shares = Vec::new();
    for (path, events, err) in [
        ("bpf", &bpf_events, &bpf_err),
        ("sock-diag", &diag_events, &diag_err),
    ] {
        let s = last_summary(events);
        assert_eq!(s["attribution"], path, "{s}\n{err}");
        assert_eq!(
            s["websocket"]["rejected"], n,
            "every upgrade judged: {s}\n{err}"
        );
        assert_eq!(s["owners"]["evicted"], 0, "{s}");
        assert_eq!(s["owners"]["kernel_evicted"], 0, "{s}");
        let (right, wrong, none) = named(events, &clients);
        let share = right as f64 / n as f64;
        eprintln!(
            "{path}: {right}/{n} rejected upgrades name the right PID ({:.1}%), {wrong} \
             another, {none} none; owners {}",
            share * 100.0,
            s["owners"]
        );
        assert_eq!(wrong, 0, "{path}: a client named after another process");
        shares.push(share);
    }
    assert!(
        shares[0] >= 0.995,
        "the BPF path named {:.1}% of the clients (sock-diag {:.1}%)",
        shares[0] * 100.0,
        shares[1] * 100.0
    );
}

/// Runs `netkit ARGS` as root without CAP_SYS_ADMIN (bounding set): the capture
/// works (CAP_NET_RAW), the probe cannot be loaded.
fn without_sys_admin(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("setpriv")
        .args(["--inh-caps=-sys_admin", "--bounding-set=-sys_admin"])
        .arg(env!("CARGO_BIN_EXE_netkit"))
        .args(args)
        .output()
    {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("skipping: setpriv not available ({e})");
            None
        }
    }
}

#[test]
fn without_cap_sys_admin_auto_falls_back_and_bpf_fails() {
    if let Some(why) = skip_reason(&["ip"]) {
        eprintln!("skipping watch_owners: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let watch = ["watch", "--json", "-i", "lo", "--duration", "0.5"];
    let Some(auto) = without_sys_admin(&[&watch[..], &["--attribution", "auto"]].concat()) else {
        return;
    };
    let err = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("attribution")).collect();
    assert_eq!(
        lines,
        [
            "watch: BPF attribution needs CAP_SYS_ADMIN (a cgroup2 mount and cgroup BPF hooks): \
          using sock-diag attribution"
        ],
        "{err}"
    );
    let last: Value = String::from_utf8_lossy(&auto.stdout)
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).expect("summary"))
        .expect("a summary");
    assert_eq!(last["attribution"], "sock-diag", "{last}");

    let bpf = without_sys_admin(&[&watch[..], &["--attribution", "bpf"]].concat()).unwrap();
    let err = String::from_utf8_lossy(&bpf.stderr);
    assert_eq!(bpf.status.code(), Some(1), "{err}");
    assert!(
        err.lines().any(|l| l.contains("needs CAP_SYS_ADMIN")),
        "{err}"
    );
    // The environment chooses too.
    let env = Command::new("setpriv")
        .args(["--inh-caps=-sys_admin", "--bounding-set=-sys_admin"])
        .arg(env!("CARGO_BIN_EXE_netkit"))
        .args(watch)
        .env("NETKIT_WATCH_ATTRIBUTION", "bpf")
        .output()
        .unwrap();
    assert_eq!(
        env.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&env.stderr)
    );
}

#[test]
fn the_owner_probe_counts_no_packet_and_kill_9_frees_it() {
    if let Some(why) = skip_reason(&["ip"]) {
        eprintln!("skipping watch_owners: {why}");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut watch = Watch::start("host", "lo", "bpf");
    let child = watch.0.as_mut().unwrap();
    let pid = child.id();
    // The probe is loaded after the captures open; a loaded machine makes that late.
    let loaded = Instant::now() + Duration::from_secs(15);
    while held_ids(pid, "link_id").len() < 2 && Instant::now() < loaded {
        assert!(child.try_wait().unwrap().is_none(), "watch exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(child.try_wait().unwrap().is_none(), "watch exited early");
    let (progs, links, maps) = (
        held_ids(pid, "prog_id"),
        held_ids(pid, "link_id"),
        held_ids(pid, "map_id"),
    );
    eprintln!("watch holds programs {progs:?}, links {links:?}, maps {maps:?}");
    // sock_create and sockops at least (the drop-reason probe may add its own).
    assert!(links.len() >= 2, "links: {links:?}");
    if have("bpftool") {
        let types: Vec<String> = progs
            .iter()
            .filter_map(|id| {
                let out = Command::new("bpftool")
                    .args(["-j", "prog", "show", "id", &id.to_string()])
                    .output()
                    .ok()?;
                let v: Value = serde_json::from_slice(&out.stdout).ok()?;
                Some(v["type"].as_str()?.to_string())
            })
            .collect();
        eprintln!("program types: {types:?}");
        assert!(types.iter().any(|t| t == "sock_ops"), "{types:?}");
        assert!(!types.iter().any(|t| t == "cgroup_skb"), "{types:?}");
    }
    child.kill().expect("kill -9");
    child.wait().unwrap();
    assert_all_freed(&[("prog", &progs), ("link", &links), ("map", &maps)]);
}
