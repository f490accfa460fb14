//! `ss`, `arp`, `route --all-netns` (and `ns list`, `mcast groups --all-netns`, which
//! walk the same namespaces) while namespaces come and go under them.
//!
//! Twenty namespaces this test builds: twelve are never touched again (each with a
//! veth pair, an address, two permanent neighbours, a static route, a TCP listener and
//! a UDP socket); eight, in four veth-linked pairs, are churned by a background thread
//! that deletes and re-creates whole pairs, deletes and re-adds their veth, and moves
//! a veth end into the other namespace and back. Meanwhile the five views run again
//! and again (bounded: 30 rounds or 20 s). Every run must exit 0 without a panic,
//! print valid JSON, show every untouched namespace with exactly the rows it had
//! before the churn began, show only rows that can really exist in a churned one, and
//! say anything it has to say on stderr as `netkit: warning: ...` lines that never
//! name an untouched namespace.
//!
//! Two smaller tests pin the races down deterministically through the library: a
//! namespace deleted and re-created under the same name between listing and entering
//! (a warning naming it, never the new namespace's rows under the old label), and a
//! namespace deleted while the worker is inside it (the kernel keeps it alive: its
//! rows are shown, no warning).
//!
//! Needs root and iproute2; otherwise each test says why and skips. Names carry a
//! per-run suffix; a Drop guard deletes every namespace, also after a failed assertion.

mod common;

use common::is_root;

use netkit_cmds::ns::{NsProblemKind, NsRows};
use netkit_cmds::route::{in_table, TableSpec};
use netkit_os::netlink::routes;
use netkit_os::netlink::{self as nldump, Links, NETLINK_ROUTE};
use netkit_os::netns::each as nsviews;
use netkit_os::netns::{self, Netns};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STABLE: usize = 12;
const PAIRS: usize = 4;
const MAX_ROUNDS: usize = 30;
const MAX_TIME: Duration = Duration::from_secs(20);

fn ip(args: &str) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip_ok(args: &str) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// The namespaces of one test, deleted on drop.
struct Lab {
    prefix: String,
    names: Mutex<BTreeSet<String>>,
}

impl Lab {
    /// `tag` keeps the names of tests running in parallel in one process apart.
    fn new(test: &str, tag: &str) -> Option<Lab> {
        if !is_root() {
            eprintln!("skipping {test}: needs root (network namespaces)");
            return None;
        }
        if Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipping {test}: iproute2 (`ip`) is not installed");
            return None;
        }
        let lab = Lab {
            prefix: format!("nkc{:x}{tag}", std::process::id() & 0xfffff),
            names: Mutex::new(BTreeSet::new()),
        };
        let probe = lab.name("probe");
        if let Err(e) = lab.add(&probe) {
            eprintln!("skipping {test}: cannot create a network namespace here: {e}");
            return None;
        }
        Some(lab)
    }

    fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    fn add(&self, name: &str) -> Result<(), String> {
        ip(&format!("netns add {name}"))?;
        self.names.lock().unwrap().insert(name.to_string());
        ip(&format!("-n {name} link set lo up"))
    }

    fn resolve(&self, name: &str) -> Netns {
        Netns::at(name, format!("{}/{name}", netns::NETNS_RUN_DIR)).expect("namespace")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        for n in names {
            let _ = ip(&format!("netns del {n}"));
        }
    }
}

/// A TCP listener and a UDP socket bound to `addr` inside `ns`. They live in the test
/// process, and keep the namespace alive for as long as they are open.
fn sockets_in(ns: &Netns, addr: &str) -> (TcpListener, UdpSocket) {
    let addr = addr.to_string();
    netns::run_in(ns, move || {
        (
            TcpListener::bind((addr.as_str(), 7000)).expect("tcp listener"),
            UdpSocket::bind((addr.as_str(), 7001)).expect("udp socket"),
        )
    })
    .expect("enter namespace")
}

fn stable_setup(lab: &Lab, i: usize) -> (TcpListener, UdpSocket) {
    let n = lab.name(&format!("s{i}"));
    lab.add(&n).unwrap();
    ip_ok(&format!("-n {n} link add a{i} type veth peer name b{i}"));
    ip_ok(&format!("-n {n} addr add 10.90.{i}.1/24 dev a{i}"));
    ip_ok(&format!("-n {n} link set a{i} up"));
    ip_ok(&format!("-n {n} link set b{i} up"));
    ip_ok(&format!(
        "-n {n} neigh add 10.90.{i}.2 lladdr 02:90:00:00:{i:02x}:02 dev a{i} nud permanent"
    ));
    ip_ok(&format!(
        "-n {n} neigh add 10.90.{i}.9 lladdr 02:90:00:00:{i:02x}:09 dev a{i} nud permanent"
    ));
    ip_ok(&format!(
        "-n {n} route add 10.190.{i}.0/24 via 10.90.{i}.2 dev a{i} proto static"
    ));
    sockets_in(&lab.resolve(&n), &format!("10.90.{i}.1"))
}

/// The rows an untouched namespace must show, as (view, key) pairs.
fn stable_keys(i: usize) -> BTreeSet<String> {
    [
        format!("ss tcp LISTEN 10.90.{i}.1:7000"),
        format!("ss udp UNCONN 10.90.{i}.1:7001"),
        format!("arp 10.90.{i}.2 02:90:00:00:{i:02x}:02 a{i} PERMANENT"),
        format!("arp 10.90.{i}.9 02:90:00:00:{i:02x}:09 a{i} PERMANENT"),
        format!("route 10.90.{i}.0/24 - a{i}"),
        format!("route 10.190.{i}.0/24 10.90.{i}.2 a{i}"),
        "ns lo".to_string(),
        format!("ns a{i}"),
        format!("ns b{i}"),
        "mcast lo 224.0.0.1".to_string(),
        format!("mcast a{i} 224.0.0.1"),
        format!("mcast b{i} 224.0.0.1"),
    ]
    .into_iter()
    .collect()
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(x) => x.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// One row reduced to what identifies it (the keys `stable_keys` uses); an `ns list`
/// row gives one key per interface.
fn keys(view: &str, r: &Value) -> Vec<String> {
    match view {
        "ss" => vec![format!(
            "ss {} {} {}",
            s(r, "proto"),
            s(r, "state"),
            s(r, "local")
        )],
        "arp" => vec![format!(
            "arp {} {} {} {}",
            s(r, "ip"),
            s(r, "mac"),
            s(r, "dev"),
            s(r, "state")
        )],
        "route" => vec![format!(
            "route {} {} {}",
            s(r, "dst"),
            s(r, "gateway"),
            s(r, "dev")
        )],
        "ns" => r["interfaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| format!("ns {}", i.as_str().unwrap_or("?")))
                    .collect()
            })
            .unwrap_or_default(),
        _ => vec![format!("mcast {} {}", s(r, "interface"), s(r, "group"))],
    }
}

const VIEWS: [&str; 5] = ["ss", "arp", "route", "ns", "mcast"];

/// The veth-linked pair `j` of churned namespaces: `x{j}` in the first, `y{j}` in the
/// second; what a churned namespace may show is a subset of this configuration.
struct Pair {
    j: usize,
    left: String,
    right: String,
    sockets: Vec<(TcpListener, UdpSocket)>,
}

impl Pair {
    fn veth(&self) -> Result<(), String> {
        let (j, l, r) = (self.j, &self.left, &self.right);
        ip(&format!(
            "-n {l} link add x{j} type veth peer name y{j} netns {r}"
        ))?;
        self.configure_left()?;
        ip(&format!("-n {r} addr add 10.91.{j}.2/24 dev y{j}"))?;
        ip(&format!("-n {r} link set y{j} up"))?;
        ip(&format!(
            "-n {r} neigh replace 10.91.{j}.1 lladdr 02:91:00:00:{j:02x}:01 dev y{j} nud permanent"
        ))?;
        ip(&format!(
            "-n {r} route replace 10.191.{j}.0/24 via 10.91.{j}.1 dev y{j}"
        ))
    }

    fn configure_left(&self) -> Result<(), String> {
        let (j, l) = (self.j, &self.left);
        ip(&format!("-n {l} addr add 10.91.{j}.1/24 dev x{j}"))?;
        ip(&format!("-n {l} link set x{j} up"))?;
        ip(&format!(
            "-n {l} neigh replace 10.91.{j}.2 lladdr 02:91:00:00:{j:02x}:02 dev x{j} nud permanent"
        ))?;
        ip(&format!(
            "-n {l} route replace 10.191.{j}.0/24 via 10.91.{j}.2 dev x{j}"
        ))
    }

    fn create(&mut self, lab: &Lab) -> Result<(), String> {
        lab.add(&self.left)?;
        lab.add(&self.right)?;
        self.veth()?;
        for (n, a) in [(&self.left, 1), (&self.right, 2)] {
            let ns = lab.resolve(n);
            self.sockets
                .push(sockets_in(&ns, &format!("10.91.{}.{a}", self.j)));
        }
        Ok(())
    }

    fn delete(&mut self, lab: &Lab) -> Result<(), String> {
        // Our sockets would keep the namespaces alive; a deleted namespace must die.
        self.sockets.clear();
        for n in [&self.left, &self.right] {
            ip(&format!("netns del {n}"))?;
            lab.names.lock().unwrap().remove(n.as_str());
        }
        Ok(())
    }

    /// Every row key either namespace of the pair can ever show.
    fn possible(&self, name: &str) -> BTreeSet<String> {
        let j = self.j;
        let mut keys = BTreeSet::new();
        let (me, peer, dev) = if name == self.left {
            (1, 2, format!("x{j}"))
        } else {
            (2, 1, format!("y{j}"))
        };
        {
            keys.insert(format!("ss tcp LISTEN 10.91.{j}.{me}:7000"));
            keys.insert(format!("ss udp UNCONN 10.91.{j}.{me}:7001"));
            keys.insert(format!(
                "arp 10.91.{j}.{peer} 02:91:00:00:{j:02x}:{peer:02x} {dev} PERMANENT"
            ));
            keys.insert(format!("route 10.91.{j}.0/24 - {dev}"));
            keys.insert(format!("route 10.191.{j}.0/24 10.91.{j}.{peer} {dev}"));
            // While x{j} visits the right namespace both ends are there.
            for i in ["lo".to_string(), format!("x{j}"), format!("y{j}")] {
                keys.insert(format!("ns {i}"));
                keys.insert(format!("mcast {i} 224.0.0.1"));
            }
        }
        keys
    }
}

/// One run of a view over every namespace: the exit status, the rows per namespace,
/// and stderr's lines.
struct ViewRun {
    code: Option<i32>,
    rows: BTreeMap<String, Vec<Value>>,
    stderr: Vec<String>,
}

/// A socket row with only this process among its owners: a child this test is
/// spawning holds copies of every descriptor between fork and exec, and `ss -p` rightly
/// lists it then too. That owner comes and goes; ours must always be there.
fn own_owner_only(mut r: Value) -> Value {
    if let Some(owners) = r.get_mut("process").and_then(Value::as_array_mut) {
        owners.retain(|o| o["pid"] == std::process::id());
    }
    r
}

/// What of an `ns list` row is fixed for an untouched namespace (its pid count is
/// not: a process may be looking in) and interfaces in a stable order.
fn ns_identity(r: &Value) -> Value {
    let mut interfaces: Vec<String> = r["interfaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    interfaces.sort();
    serde_json::json!({
        "name": r["name"], "inode": r["inode"], "source": r["source"],
        "vrf": r["vrf"], "interfaces": interfaces,
    })
}

fn run_view(view: &str) -> ViewRun {
    let args: &[&str] = match view {
        "ss" => &["ss", "--all-netns", "-a", "-4", "--json"],
        "arp" => &["arp", "--all-netns", "-4", "--json"],
        "route" => &["route", "--all-netns", "-4", "--json"],
        "ns" => &["ns", "list", "--json"],
        _ => &["mcast", "groups", "--all-netns", "--json"],
    };
    let out: Output = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(args)
        .output()
        .expect("run netkit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(101) && !stderr.contains("panicked"),
        "netkit {args:?} panicked: {stderr}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "netkit {args:?}: bad JSON ({e}); stderr: {stderr}; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let mut rows: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in json.as_array().expect("an array") {
        match view {
            "ns" => rows.entry(s(r, "name")).or_default().push(ns_identity(r)),
            // IPv6 groups follow addresses the kernel makes up; IPv4's are fixed.
            "mcast" if r["family"] != "ipv4" => {}
            _ => rows
                .entry(s(r, "netns"))
                .or_default()
                .push(own_owner_only(r.clone())),
        }
    }
    for list in rows.values_mut() {
        list.sort_by_key(|r| r.to_string());
    }
    ViewRun {
        code: out.status.code(),
        rows,
        stderr: stderr
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

#[test]
fn all_netns_views_survive_namespaces_vanishing_mid_dump() {
    let Some(lab) = Lab::new("all_netns_views_survive_namespaces_vanishing_mid_dump", "a") else {
        return;
    };
    let _stable_sockets: Vec<_> = (0..STABLE).map(|i| stable_setup(&lab, i)).collect();
    let stable: Vec<String> = (0..STABLE).map(|i| lab.name(&format!("s{i}"))).collect();
    let mut pairs: Vec<Pair> = (0..PAIRS)
        .map(|j| Pair {
            j,
            left: lab.name(&format!("c{}", 2 * j)),
            right: lab.name(&format!("c{}", 2 * j + 1)),
            sockets: Vec::new(),
        })
        .collect();
    for p in &mut pairs {
        p.create(&lab).unwrap();
    }
    let possible: BTreeMap<String, BTreeSet<String>> = pairs
        .iter()
        .flat_map(|p| {
            [
                (p.left.clone(), p.possible(&p.left)),
                (p.right.clone(), p.possible(&p.right)),
            ]
        })
        .collect();

    // Before any churn: every untouched namespace shows exactly its configuration;
    // these full rows are the baseline every later run must reproduce.
    let mut baseline: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for view in VIEWS {
        let run = run_view(view);
        assert_eq!(run.code, Some(0), "netkit {view}: {:?}", run.stderr);
        for (i, n) in stable.iter().enumerate() {
            let rows = run.rows.get(n).cloned().unwrap_or_default();
            let got: BTreeSet<String> = rows.iter().flat_map(|r| keys(view, r)).collect();
            let want: BTreeSet<String> = stable_keys(i)
                .into_iter()
                .filter(|k| k.starts_with(&format!("{view} ")))
                .collect();
            assert_eq!(got, want, "netkit {view} in {n} before the churn");
            if view == "ss" {
                assert!(
                    rows.iter()
                        .all(|r| r["process"][0]["pid"] == std::process::id()),
                    "the sockets' owner (this test) is not shown: {rows:?}"
                );
            }
            baseline.insert((view.to_string(), n.clone()), rows);
        }
    }

    let lab = Arc::new(lab);
    let stop = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicUsize::new(0));
    let churner = {
        let (lab, stop, deleted) = (Arc::clone(&lab), Arc::clone(&stop), Arc::clone(&deleted));
        std::thread::spawn(move || -> Result<usize, String> {
            let mut actions = 0;
            while !stop.load(Ordering::Relaxed) {
                let p = &mut pairs[actions % PAIRS];
                let (j, l, r) = (p.j, p.left.clone(), p.right.clone());
                match (actions / PAIRS) % 3 {
                    0 => {
                        p.delete(&lab)?;
                        deleted.fetch_add(2, Ordering::Relaxed);
                        p.create(&lab)?;
                    }
                    1 => {
                        // Deleting one end removes the peer too.
                        ip(&format!("-n {l} link del x{j}"))?;
                        p.veth()?;
                    }
                    _ => {
                        ip(&format!("-n {l} link set x{j} netns {r}"))?;
                        ip(&format!("-n {r} link set x{j} netns {l}"))?;
                        // A device that changes namespace loses its addresses,
                        // neighbours and routes.
                        p.configure_left()?;
                    }
                }
                actions += 1;
            }
            Ok(actions)
        })
    };

    let started = Instant::now();
    let mut rounds = 0;
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    let mut churned_rows = 0usize;
    let mut churned_absent = 0usize;
    let mut failure = None;
    while rounds < MAX_ROUNDS && started.elapsed() < MAX_TIME && failure.is_none() {
        rounds += 1;
        for view in VIEWS {
            let result = std::panic::catch_unwind(|| run_view(view));
            let run = match result {
                Ok(r) => r,
                Err(e) => {
                    failure = Some(format!("round {rounds}: {e:?}"));
                    break;
                }
            };
            let mut check = || -> Result<(), String> {
                if run.code != Some(0) {
                    return Err(format!(
                        "netkit {view} exited {:?}: {:?}",
                        run.code, run.stderr
                    ));
                }
                for line in &run.stderr {
                    let Some(w) = line.strip_prefix("netkit: warning: ") else {
                        return Err(format!("netkit {view}: not a warning: {line}"));
                    };
                    if let Some(n) = stable
                        .iter()
                        .find(|n| w.contains(&format!("{n} ")) || w.contains(&format!("{n}:")))
                    {
                        return Err(format!("netkit {view} warned about untouched {n}: {line}"));
                    }
                    if let Some(n) = possible.keys().find(|n| w.contains(n.as_str())) {
                        *warnings
                            .entry(format!("{view}: {}", w.replace(n.as_str(), "NS")))
                            .or_default() += 1;
                    }
                }
                for n in &stable {
                    let want = &baseline[&(view.to_string(), n.clone())];
                    let got = run.rows.get(n).cloned().unwrap_or_default();
                    if &got != want {
                        return Err(format!(
                            "netkit {view}: untouched {n} changed under churn:\n got {got:?}\nwant {want:?}\nstderr {:?}",
                            run.stderr
                        ));
                    }
                }
                for (n, allowed) in &possible {
                    match run.rows.get(n) {
                        Some(rows) => {
                            for r in rows {
                                for k in keys(view, r) {
                                    if !allowed.contains(&k) {
                                        return Err(format!("netkit {view}: {n} shows a row that cannot exist there: {k} ({r})"));
                                    }
                                }
                                churned_rows += 1;
                            }
                        }
                        None => churned_absent += 1,
                    }
                }
                Ok(())
            };
            if let Err(e) = check() {
                failure = Some(format!("round {rounds}: {e}"));
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let actions = churner.join().expect("churner thread");
    let took = started.elapsed();
    eprintln!(
        "netns churn: {rounds} rounds x {} views in {took:.1?}; {} churn actions, {} \
         namespaces deleted and re-created mid-run; {churned_rows} rows and {churned_absent} \
         absences seen for churned namespaces; warnings: {warnings:#?}",
        VIEWS.len(),
        actions.as_ref().map_or(0, |a| *a),
        deleted.load(Ordering::Relaxed)
    );
    if let Some(f) = failure {
        panic!("{f}");
    }
    let actions = actions.unwrap_or_else(|e| panic!("churn failed: {e}"));
    assert!(rounds >= 5, "only {rounds} rounds ran");
    assert!(actions >= PAIRS * 3, "only {actions} churn actions ran");
}

/// The routes of a namespace as `(label, dst)`, through the library's per-namespace
/// runner.
fn routes_of(list: &[Netns]) -> NsRows<(String, String)> {
    nsviews::each(list, |label| {
        let r = nldump::open(NETLINK_ROUTE)?;
        let links = Links::dump(&r)?;
        let rows = routes::dump(&r, &links)?;
        Ok(rows
            .into_iter()
            .map(|x| (label.to_string(), x.dst))
            .collect::<Vec<_>>())
    })
}

#[test]
fn a_namespace_replaced_after_listing_is_a_warning_not_another_namespaces_rows() {
    let Some(lab) = Lab::new("a_namespace_replaced_after_listing", "r") else {
        return;
    };
    let keep = lab.name("keep");
    let gone = lab.name("gone");
    lab.add(&keep).unwrap();
    lab.add(&gone).unwrap();
    ip_ok(&format!("-n {keep} route add blackhole 10.201.0.0/16"));
    ip_ok(&format!("-n {gone} route add blackhole 10.202.0.0/16"));
    let list = [lab.resolve(&keep), lab.resolve(&gone)];
    // Deleted, then a new namespace under the same name with other routes.
    ip_ok(&format!("netns del {gone}"));
    lab.add(&gone).unwrap();
    ip_ok(&format!("-n {gone} route add blackhole 10.203.0.0/16"));
    let got = routes_of(&list);
    assert!(got.rows.contains(&(keep.clone(), "10.201.0.0/16".into())));
    assert!(
        got.rows.iter().all(|(label, _)| label != &gone),
        "rows of the new namespace shown under the listed one's label: {:?}",
        got.rows
    );
    assert_eq!(got.problems.len(), 1, "{:?}", got.problems);
    let problem = &got.problems[0];
    assert!(
        problem.netns == gone
            && problem.kind == NsProblemKind::Gone
            && problem.message.contains(&gone)
            && problem.message.contains("vanished"),
        "{problem:?}"
    );
    // Only unmounted (the state `ip netns del` passes through): an empty file.
    let only_file = lab.resolve(&gone);
    let path = format!("{}/{gone}", netns::NETNS_RUN_DIR);
    let umount = Command::new("umount").arg(&path).status().expect("umount");
    assert!(umount.success());
    let got = routes_of(std::slice::from_ref(&only_file));
    assert_eq!(got.rows, Vec::<(String, String)>::new());
    assert!(
        got.problems.len() == 1
            && got.problems[0].kind == NsProblemKind::Gone
            && got.problems[0].message.contains("vanished"),
        "{:?}",
        got.problems
    );
}

#[test]
fn a_namespace_deleted_while_inside_it_is_still_read_whole() {
    let Some(lab) = Lab::new("a_namespace_deleted_while_inside_it", "d") else {
        return;
    };
    let doomed = lab.name("doomed");
    lab.add(&doomed).unwrap();
    ip_ok(&format!("-n {doomed} link add d0 type veth peer name d1"));
    ip_ok(&format!("-n {doomed} addr add 10.204.0.1/24 dev d0"));
    ip_ok(&format!("-n {doomed} link set d0 up"));
    ip_ok(&format!(
        "-n {doomed} route add 10.205.0.0/16 via 10.204.0.2 dev d0"
    ));
    let list = [lab.resolve(&doomed)];
    let name = doomed.clone();
    let got = nsviews::each(&list, move |label| {
        // Inside the namespace: delete it by name, then dump.
        // A failure here panics the worker, which `each` reports as a problem.
        ip(&format!("netns del {name}")).unwrap_or_else(|e| panic!("{e}"));
        let r = nldump::open(NETLINK_ROUTE)?;
        let links = Links::dump(&r)?;
        let rows = routes::dump(&r, &links)?;
        Ok(rows
            .into_iter()
            .filter(|x| x.family == "inet" && in_table(x, &TableSpec::Id(254)))
            .map(|x| (label.to_string(), x.dst, x.dev.unwrap_or_default()))
            .collect::<Vec<_>>())
    });
    assert_eq!(got.problems, Vec::new());
    assert_eq!(got.warnings, Vec::<String>::new());
    let mut rows = got.rows;
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (
                doomed.clone(),
                "10.204.0.0/24".to_string(),
                "d0".to_string()
            ),
            (
                doomed.clone(),
                "10.205.0.0/16".to_string(),
                "d0".to_string()
            ),
        ]
    );
    assert!(!std::path::Path::new(&format!("{}/{doomed}", netns::NETNS_RUN_DIR)).exists());
}
