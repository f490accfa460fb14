//! Without privileges, every subcommand that needs one says which capability and
//! exits 1 (CLI.md: one line saying what failed and what to do); and `ns exec` passes
//! no descriptor of netkit's own to the command it runs.
//!
//! Dropping privileges needs root (setpriv to uid/gid 65534 with no capabilities), and
//! a namespace to point at needs iproute2: without either, the tests say so and skip.
//! `top` and `l2trace` are not covered here yet (they were being written).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A named namespace for the test, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(test: &str) -> Option<Netns> {
        if !is_root() {
            eprintln!("skipping {test}: needs root");
            return None;
        }
        let name = format!("nkpriv-{test}-{}", std::process::id());
        let made = Command::new("ip").args(["netns", "add", &name]).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipping {test}: `ip netns add` failed or iproute2 is missing");
            return None;
        }
        Some(Netns(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// netkit as uid/gid 65534 (nobody) with every capability dropped, or None (with a
/// note) when setpriv is missing.
fn unprivileged(args: &[&str]) -> Option<Output> {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_netkit"))
        .args(args)
        .output();
    match out {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("skipping: setpriv not available ({e})");
            None
        }
    }
}

fn no_panic(args: &[&str], out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() != Some(101) && !stderr.contains("panicked"),
        "netkit {args:?} panicked: {stderr}"
    );
}

#[test]
fn entering_a_namespace_without_privilege_names_cap_sys_admin_and_exits_1() {
    let Some(ns) = Netns::new("enter") else {
        return;
    };
    let n = ns.0.as_str();
    let commands: [&[&str]; 6] = [
        &["ns", "exec", n, "true"],
        &["ss", "-N", n],
        &["arp", "-N", n],
        &["route", "-N", n],
        &["mcast", "groups", "--netns", n],
        &["ss", "-N", n, "--json"],
    ];
    for args in commands {
        let Some(out) = unprivileged(args) else {
            return;
        };
        no_panic(args, &out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(out.status.code(), Some(1), "netkit {args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "netkit {args:?} printed a result");
        assert_eq!(
            lines.len(),
            1,
            "netkit {args:?}: one line expected: {stderr}"
        );
        assert!(
            lines[0].starts_with("netkit: ")
                && lines[0].contains("CAP_SYS_ADMIN")
                && lines[0].contains(n),
            "netkit {args:?}: {stderr}"
        );
    }
}

/// `--all-netns` without privilege still shows the host (the one namespace it is in)
/// and warns, naming the capability, for each namespace it could not enter.
#[test]
fn all_netns_without_privilege_warns_with_the_capability_per_namespace() {
    let Some(ns) = Netns::new("all") else {
        return;
    };
    for view in ["ss", "arp", "route"] {
        let args = [view, "--all-netns", "--json"];
        let Some(out) = unprivileged(&args) else {
            return;
        };
        no_panic(&args, &out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warning = stderr
            .lines()
            .find(|l| l.contains(&ns.0))
            .unwrap_or_else(|| panic!("netkit {args:?}: no word about {}: {stderr}", ns.0));
        assert!(
            warning.starts_with("netkit: warning: ") && warning.contains("CAP_SYS_ADMIN"),
            "netkit {args:?}: {warning}"
        );
        let rows: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("JSON rows for the host");
        assert!(
            rows.as_array()
                .is_some_and(|r| r.iter().all(|r| r["netns"] != ns.0.as_str())),
            "netkit {args:?} claims rows from a namespace it could not enter"
        );
    }
}

/// Views that need nothing special work unprivileged and exit 0.
#[test]
fn views_of_the_own_namespace_and_files_need_no_privilege() {
    if !is_root() {
        eprintln!("skipping: dropping privileges needs root");
        return;
    }
    let fixture = common::fixtures_dir().join("tcp/arkime__wireshark-retrans.pcap");
    let fixture = fixture.to_string_lossy().to_string();
    let commands: [&[&str]; 6] = [
        &["ss", "--json"],
        &["arp", "--json"],
        &["route", "--json"],
        &["mcast", "groups", "--json"],
        &["pcap", "analyze", "--json", &fixture],
        &["pcap", "show", "-c", "3", &fixture],
    ];
    for args in commands {
        let Some(out) = unprivileged(args) else {
            return;
        };
        no_panic(args, &out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "netkit {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The descriptors open in this process now (what a child could inherit).
fn own_fds() -> BTreeSet<String> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ns_exec_children_inherit_no_descriptor_of_netkit() {
    let Some(ns) = Netns::new("fds") else {
        return;
    };
    let before = own_fds();
    let out = common::netkit()
        .args(["ns", "exec", &ns.0, "sh", "-c", "ls /proc/$$/fd"])
        .output()
        .expect("run netkit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    // The child's 0-2 are the pipes Command made; anything else must have come from
    // this process (a descriptor the test harness inherited), not from netkit.
    let extra: Vec<&String> = child
        .iter()
        .filter(|fd| !["0", "1", "2"].contains(&fd.as_str()) && !before.contains(*fd))
        .collect();
    assert!(
        extra.is_empty(),
        "ns exec child got descriptors {extra:?} (all: {child:?})"
    );
}
