//! `netkit mcast` end to end: the binary's JSON and exit codes, and `mcast groups`
//! checked against `ip maddr show` inside namespaces this test creates and in which it
//! joins groups itself (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP from a thread that entered
//! the namespace). The namespace tests need CAP_SYS_ADMIN and CAP_NET_ADMIN and the
//! `ip` tool; without them they say so and skip. Namespaces are deleted at the end,
//! also when an assertion fails (the guard's Drop runs during unwinding).

use netkit_os::netns;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::process::{Command, Output};

fn netkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(args)
        .output()
        .expect("run netkit")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "netkit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("netkit printed JSON")
}

/// JSON printed by a run that ended with `code` (mcast check exits 1 on findings).
fn json_with_status(out: &Output, code: i32) -> Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "netkit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("netkit printed JSON")
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------
// Unprivileged: map / reverse / check through the binary

#[test]
fn map_reverse_check_through_the_binary() {
    let v = json_of(&netkit(&[
        "mcast",
        "map",
        "239.0.0.1",
        "ff02::1:ff12:3456",
        "--json",
    ]));
    assert_eq!(v[0]["mac"], "01:00:5e:00:00:01");
    assert_eq!(v[0]["warnings"][0]["code"], "mac_shared_with_link_local");
    assert_eq!(v[1]["mac"], "33:33:ff:12:34:56");
    assert_eq!(v[1]["name"], "Solicited-Node");

    let out = netkit(&["mcast", "map", "224.0.0.1", "192.0.2.1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out),
        "netkit: 192.0.2.1 is not a multicast group (IPv4 groups are 224.0.0.0/4)\n"
    );

    let v = json_of(&netkit(&["mcast", "reverse", "01005e000005", "--json"]));
    assert_eq!(v["kind"], "ipv4_multicast");
    assert_eq!(v["groups"].as_array().map(Vec::len), Some(32));
    assert_eq!(v["groups"][31], "239.128.0.5");

    let out = netkit(&["mcast", "reverse", "01:00:5e:00:05"]);
    assert_eq!(out.status.code(), Some(1));

    let plan = std::env::temp_dir().join(format!("nk-mcast-plan-{}", std::process::id()));
    std::fs::write(&plan, "239.1.1.1 feed A\n# comment\n239.129.1.1 feed B\n").unwrap();
    let v = json_with_status(
        &netkit(&[
            "mcast",
            "check",
            "225.0.0.9",
            "--plan",
            plan.to_str().unwrap(),
            "--json",
        ]),
        1,
    );
    let _ = std::fs::remove_file(&plan);
    assert_eq!(
        v["collisions"],
        serde_json::json!([{"mac": "01:00:5e:01:01:01", "groups": ["239.1.1.1", "239.129.1.1"]}])
    );
    assert_eq!(v["warnings"][0]["group"], "225.0.0.9");
    assert_eq!(v["warnings"][0]["code"], "mac_shared_with_link_local");

    // Plan from stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(["mcast", "check", "--plan", "-", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"ff02::1:3\nff05::1:3\n").unwrap();
    }
    let v = json_with_status(&child.wait_with_output().unwrap(), 1);
    assert_eq!(
        v["collisions"],
        serde_json::json!([{"mac": "33:33:00:01:00:03", "groups": ["ff02::1:3", "ff05::1:3"]}])
    );
}

/// Issue 21 item 16: `mcast check` is a plan checker. Collisions exit 1; a group
/// planned twice is reported with its lines; every bad line has its number (and the
/// rest of the plan is still checked); 239.192.0.0/14, the range it recommends, draws
/// no warning; a clean plan exits 0.
#[test]
fn mcast_check_is_a_plan_checker() {
    let plan = std::env::temp_dir().join(format!("nk-plan-check-{}", std::process::id()));
    std::fs::write(
        &plan,
        "239.192.1.1 cams\n239.1.1.1 feed A\nfoo\n239.129.1.1 feed B\n10.0.0.1\n\
         239.192.1.1 cams again\n",
    )
    .unwrap();
    let path = plan.to_str().unwrap();
    let v = json_with_status(&netkit(&["mcast", "check", "--plan", path, "--json"]), 1);
    assert_eq!(v["collisions"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        v["duplicates"],
        serde_json::json!([{"group": "239.192.1.1", "count": 2, "lines": [1, 6]}])
    );
    let bad: Vec<u64> = v["bad_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(bad, [3, 5]);
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["group"] != "239.192.1.1"),
        "{v}"
    );
    let human = netkit(&["mcast", "check", "--plan", path]);
    assert_eq!(human.status.code(), Some(1));
    let text = String::from_utf8_lossy(&human.stdout).into_owned();
    assert!(text.contains("239.192.1.1 2 times (lines 1, 6)"), "{text}");
    assert!(
        text.contains("line 3: 'foo'") && text.contains("line 5: 10.0.0.1"),
        "{text}"
    );
    let err = stderr_of(&human);
    assert!(
        err.contains("1 MAC collision, 1 duplicate group, 2 bad lines"),
        "{err}"
    );

    // A clean plan in the recommended range: exit 0 and not one warning.
    std::fs::write(&plan, "239.192.0.1 a\n239.193.4.5 b\n239.195.255.1 c\n").unwrap();
    let v = json_of(&netkit(&["mcast", "check", "--plan", path, "--json"]));
    let _ = std::fs::remove_file(&plan);
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(v["checked"], 3);
}

// ---------------------------------------------------------------------------------
// `ip maddr show` as the reference

/// (interface, family, group) triples from `ip maddr show` output.
fn parse_ip_maddr(text: &str) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut iface = String::new();
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            // "4:\teth0"
            if let Some((_, name)) = line.split_once(':') {
                iface = name.trim().to_string();
            }
            continue;
        }
        let mut f = line.split_whitespace();
        match (f.next(), f.next()) {
            (Some("inet"), Some(g)) => out.insert((iface.clone(), "ipv4".into(), g.into())),
            (Some("inet6"), Some(g)) => out.insert((iface.clone(), "ipv6".into(), g.into())),
            _ => false,
        };
    }
    out
}

fn netkit_triples(rows: &Value, ns: &str) -> BTreeSet<(String, String, String)> {
    rows.as_array()
        .expect("array")
        .iter()
        .filter(|r| r["netns"] == ns)
        .map(|r| {
            (
                r["interface"].as_str().unwrap().to_string(),
                r["family"].as_str().unwrap().to_string(),
                r["group"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn sh(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn ok(args: &[&str]) -> String {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn groups_in_current_namespace_match_ip_maddr() {
    if sh(&["ip", "-V"]).status.code() != Some(0) {
        eprintln!("skipped: the ip tool (iproute2) is not installed");
        return;
    }
    let rows = json_of(&netkit(&["mcast", "groups", "--json"]));
    let label = rows[0]["netns"].as_str().unwrap_or("").to_string();
    let want = parse_ip_maddr(&ok(&["ip", "maddr", "show"]));
    assert_eq!(netkit_triples(&rows, &label), want);
}

// ---------------------------------------------------------------------------------
// Privileged: namespaces created here

/// CAP_SYS_ADMIN (21) for setns and CAP_NET_ADMIN (12) for `ip netns add` / links.
fn privileged() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    cap_eff & (1 << 21) != 0 && cap_eff & (1 << 12) != 0
}

/// Deletes the namespaces it names when dropped, test failure or not.
struct Namespaces(Vec<String>);

impl Namespaces {
    fn add(&mut self, name: String) {
        let _ = sh(&["ip", "netns", "del", &name]);
        ok(&["ip", "netns", "add", &name]);
        self.0.push(name);
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

fn ifindex(ns: &str, dev: &str) -> u32 {
    // "5: nka@nkb: <...>"
    ok(&["ip", "-n", ns, "-o", "link", "show", "dev", dev])
        .split(':')
        .next()
        .and_then(|i| i.trim().parse().ok())
        .expect("ifindex")
}

fn skip_unless_privileged(test: &str) -> bool {
    if !privileged() {
        eprintln!("skipped {test}: needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run the tests as root)");
        return true;
    }
    if sh(&["ip", "-V"]).status.code() != Some(0) {
        eprintln!("skipped {test}: the ip tool (iproute2) is not installed");
        return true;
    }
    false
}

#[test]
fn groups_joined_inside_a_namespace_match_ip_maddr() {
    if skip_unless_privileged("groups_joined_inside_a_namespace_match_ip_maddr") {
        return;
    }
    let pid = std::process::id();
    let name = format!("nkt-mcast-{pid}");
    let mut guard = Namespaces(Vec::new());
    guard.add(name.clone());
    ok(&[
        "ip", "-n", &name, "link", "add", "nka", "type", "veth", "peer", "name", "nkb",
    ]);
    for dev in ["lo", "nka", "nkb"] {
        ok(&["ip", "-n", &name, "link", "set", dev, "up"]);
    }
    // A documentation address on nkb to name it in IP_ADD_MEMBERSHIP; a multicast route
    // on nka so that joining with INADDR_ANY picks it. Both veth ends are in the
    // namespace: nothing leaves it.
    ok(&[
        "ip",
        "-n",
        &name,
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        "nkb",
    ]);
    ok(&[
        "ip",
        "-n",
        &name,
        "route",
        "add",
        "224.0.0.0/4",
        "dev",
        "nka",
    ]);
    let nka = ifindex(&name, "nka");
    let nkb = ifindex(&name, "nkb");

    let ns = netns::resolve(&name).expect("resolve the new namespace");
    // Sockets made inside the namespace stay there; keep them open while netkit looks.
    let sockets = netns::run_in(&ns, || -> std::io::Result<Vec<UdpSocket>> {
        let v4 = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        v4.join_multicast_v4(&Ipv4Addr::new(239, 1, 1, 1), &Ipv4Addr::UNSPECIFIED)?;
        v4.join_multicast_v4(&Ipv4Addr::new(239, 129, 1, 1), &Ipv4Addr::UNSPECIFIED)?;
        v4.join_multicast_v4(&Ipv4Addr::new(239, 0, 0, 7), &Ipv4Addr::new(192, 0, 2, 1))?;
        let v6 = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))?;
        v6.join_multicast_v6(&"ff05::1:3".parse().unwrap(), nka)?;
        v6.join_multicast_v6(&"ff0e::1234:5678".parse().unwrap(), nkb)?;
        Ok(vec![v4, v6])
    })
    .expect("enter the namespace")
    .expect("join groups");

    let rows = json_of(&netkit(&["mcast", "groups", "--netns", &name, "--json"]));
    let maddr = ok(&["ip", "netns", "exec", &name, "ip", "maddr", "show"]);
    let want = parse_ip_maddr(&maddr);
    let got = netkit_triples(&rows, &name);
    assert_eq!(got, want, "ip maddr show:\n{maddr}");

    let find = |iface: &str, group: &str| -> Value {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["interface"] == iface && r["group"] == group)
            .cloned()
            .unwrap_or_else(|| panic!("{group} on {iface} missing from {rows:#}"))
    };
    let a = find("nka", "239.1.1.1");
    assert_eq!(a["mac"], "01:00:5e:01:01:01");
    assert_eq!(a["family"], "ipv4");
    assert_eq!(a["collisions"], serde_json::json!(["239.129.1.1"]));
    assert_eq!(a["in_dev_mcast"], true);
    assert_eq!(
        find("nka", "239.129.1.1")["collisions"],
        serde_json::json!(["239.1.1.1"])
    );
    let trap = find("nkb", "239.0.0.7");
    assert_eq!(trap["mac"], "01:00:5e:00:00:07");
    assert_eq!(trap["collisions"], serde_json::json!([]));
    assert_eq!(find("nka", "ff05::1:3")["mac"], "33:33:00:01:00:03");
    assert_eq!(find("nkb", "ff0e::1234:5678")["mac"], "33:33:12:34:56:78");

    // The human table names the collision and the trap.
    let out = netkit(&["mcast", "groups", "--netns", &name]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "{name} nka 01:00:5e:01:01:01: 239.1.1.1, 239.129.1.1"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{name} nkb 239.0.0.7 01:00:5e:00:00:07")),
        "{text}"
    );

    // --all-netns visits it too, once.
    let all = json_of(&netkit(&["mcast", "groups", "--all-netns", "--json"]));
    assert_eq!(netkit_triples(&all, &name), want);

    drop(sockets);
}

#[test]
fn vrf_names_resolve_by_convention_and_ambiguity_is_an_error() {
    if skip_unless_privileged("vrf_names_resolve_by_convention_and_ambiguity_is_an_error") {
        return;
    }
    let pid = std::process::id();
    let vrf = format!("NKV{pid}");
    let mut guard = Namespaces(Vec::new());
    guard.add(format!("ns-{vrf}"));

    // Eos-style ns-VRF found from the VRF name.
    let rows = json_of(&netkit(&["mcast", "groups", "--netns", &vrf, "--json"]));
    assert!(rows.as_array().is_some());
    let resolved = netns::resolve(&vrf).unwrap();
    assert_eq!(resolved.label, format!("ns-{vrf}"));

    // A second convention matching the same VRF makes it ambiguous.
    guard.add(format!("vrf-{vrf}"));
    let out = netkit(&["mcast", "groups", "--netns", &vrf]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out),
        format!(
            "netkit: namespace '{vrf}' is ambiguous: it matches ns-{vrf}, vrf-{vrf}; name \
             one of them\n"
        )
    );
    // The exact name still works.
    let out = netkit(&[
        "mcast",
        "groups",
        "--netns",
        &format!("vrf-{vrf}"),
        "--json",
    ]);
    assert!(out.status.success());

    let out = netkit(&["mcast", "groups", "--netns", "nkt-no-such-ns"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.starts_with("netkit: unknown namespace 'nkt-no-such-ns': not in /run/netns"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);

    // pid:N of this test process is our own namespace.
    let out = netkit(&[
        "mcast",
        "groups",
        "--netns",
        &format!("pid:{pid}"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}
