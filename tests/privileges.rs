//! Without privileges, every subcommand that needs one says which capability and
//! exits 1 (CLI.md: one line saying what failed and what to do); and `ns exec` passes
//! no descriptor of netkit's own to the command it runs.
//!
//! Dropping privileges needs root (setpriv to uid/gid 65534 with no capabilities), and
//! a namespace to point at needs iproute2: without either, the tests say so and skip.

mod common;

use common::is_root;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// What an unprivileged child runs and reads, in a directory it can reach. The
/// checkout may sit in a private directory (root's home, a 0700 `mktemp -d`): uid
/// 65534 then cannot open tests/fixtures/..., and the "works unprivileged" test failed
/// on "Permission denied" instead of testing netkit. (The binary itself happens to
/// start, because setpriv still holds root's capabilities when it calls execve; it is
/// staged too so the test does not lean on that.) The binary is hard-linked (copied
/// across file systems) and the files the child reads copied into a fresh 0755
/// directory whose every ancestor others may traverse; Drop removes it.
struct Stage {
    dir: PathBuf,
    netkit: PathBuf,
}

/// Whether a process of another user can reach files under `dir` (execute
/// permission for others on `dir` and on every ancestor).
fn others_can_traverse(dir: &Path) -> bool {
    dir.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

impl Stage {
    /// None (with the reason printed) when no reachable directory can be made.
    fn new(test: &str) -> Option<Stage> {
        let parent = [std::env::temp_dir(), "/tmp".into(), "/dev/shm".into()]
            .into_iter()
            .find(|d| others_can_traverse(d));
        let Some(parent) = parent else {
            eprintln!("skipping {test}: no directory another user can reach to run netkit from");
            return None;
        };
        let dir = parent.join(format!("nk-priv-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create the stage directory");
        let stage = Stage {
            netkit: dir.join("netkit"),
            dir,
        };
        std::fs::set_permissions(&stage.dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the stage directory");
        let built = Path::new(env!("CARGO_BIN_EXE_netkit"));
        if std::fs::hard_link(built, &stage.netkit).is_err() {
            std::fs::copy(built, &stage.netkit).expect("copy netkit to the stage");
        }
        Some(stage)
    }

    /// A copy of `file` the child can read; its path as an argument.
    fn file(&self, file: &Path) -> String {
        let to = self.dir.join(file.file_name().expect("a file name"));
        std::fs::copy(file, &to).expect("copy a fixture to the stage");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        to.to_string_lossy().into_owned()
    }

    /// netkit as uid/gid 65534 (nobody) with every capability dropped, or None (with a
    /// note) when setpriv is missing.
    fn unprivileged(&self, args: &[&str]) -> Option<Output> {
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
            ])
            .arg(&self.netkit)
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
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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
    let Some(stage) = Stage::new("enter") else {
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
        let Some(out) = stage.unprivileged(args) else {
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
    let Some(stage) = Stage::new("all") else {
        return;
    };
    for view in ["ss", "arp", "route"] {
        let args = [view, "--all-netns", "--json"];
        let Some(out) = stage.unprivileged(&args) else {
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
    let Some(stage) = Stage::new("own") else {
        return;
    };
    let fixture = stage.file(&common::fixtures_dir().join("tcp/arkime__wireshark-retrans.pcap"));
    let commands: [&[&str]; 6] = [
        &["ss", "--json"],
        &["arp", "--json"],
        &["route", "--json"],
        &["mcast", "groups", "--json"],
        &["pcap", "analyze", "--json", &fixture],
        &["pcap", "show", "-c", "3", &fixture],
    ];
    for args in commands {
        let Some(out) = stage.unprivileged(args) else {
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

/// `ip -n NS ARGS...`, which must work.
fn ip_in(ns: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip -n {ns} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// netkit as nobody, inside `ns` when given (entered by `ip netns exec` as root
/// before dropping), keeping only the capabilities in `keep` (setpriv names such as
/// `net_raw`). Killed after 15 s: a command that needs a capability must refuse at
/// once, not run without it. None (with a note) when setpriv is missing.
fn restricted(stage: &Stage, ns: Option<&str>, keep: &[&str], args: &[&str]) -> Option<Output> {
    let plus: String = keep.iter().map(|c| format!(",+{c}")).collect();
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "setpriv"]);
            c
        }
        None => Command::new("setpriv"),
    };
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        &format!("--inh-caps=-all{plus}"),
        &format!("--bounding-set=-all{plus}"),
    ]);
    if !keep.is_empty() {
        cmd.arg(format!("--ambient-caps={}", plus.trim_start_matches(',')));
    }
    let mut child = match cmd
        .arg(&stage.netkit)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipping: setpriv not available ({e})");
            return None;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "netkit {args:?} without {keep:?} still ran after 15 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child.wait_with_output().expect("wait"))
}

/// Exit 1, nothing on stdout, and exactly one line on stderr naming `cap`.
fn refused_naming(args: &[&str], out: &Output, cap: &str) {
    no_panic(args, out);
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
        lines[0].starts_with("netkit: ") && lines[0].contains(cap),
        "netkit {args:?}: {cap} not named: {stderr}"
    );
}

/// Where to run (a namespace, or the test's own), the capabilities kept, the
/// arguments, and the capability the refusal must name.
type Case<'a> = (Option<&'a str>, &'a [&'a str], &'a [&'a str], &'a str);

/// `top`, `drops`, `l2trace` (tracer and agent) and `neighbors` without the capabilities they
/// need: capture and CDP/LLDP need CAP_NET_RAW, the agent's nftables rule
/// CAP_NET_ADMIN, another namespace CAP_SYS_ADMIN.
#[test]
fn live_commands_without_privilege_name_the_capability_and_exit_1() {
    // "sw": a bridge with an address and a port (the agent's and the tracer's local
    // switch); "host": only a veth pair that is up (the tracer must find its switch
    // by CDP/LLDP, neighbors has an interface to listen on).
    let Some(sw) = Netns::new("sw") else {
        return;
    };
    let Some(host) = Netns::new("host") else {
        return;
    };
    let Some(stage) = Stage::new("live") else {
        return;
    };
    for ns in [&sw.0, &host.0] {
        ip_in(ns, &["link", "set", "lo", "up"]);
        ip_in(
            ns,
            &["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
        );
        ip_in(ns, &["link", "set", "v0", "up"]);
        ip_in(ns, &["link", "set", "v1", "up"]);
    }
    ip_in(&sw.0, &["link", "add", "br0", "type", "bridge"]);
    ip_in(&sw.0, &["link", "set", "v1", "master", "br0"]);
    ip_in(&sw.0, &["addr", "add", "10.66.0.1/24", "dev", "br0"]);
    ip_in(&sw.0, &["link", "set", "br0", "up"]);
    let (sw, host) = (sw.0.as_str(), host.0.as_str());
    let top = ["top", "--json", "--count", "1"];
    let trace = ["l2trace", "0200.0000.0001", "0200.0000.0002"];
    let agent = ["l2trace", "agent", "--bridge", "br0"];
    let drops = ["drops", "--json", "--count", "1"];
    let cases: [Case; 12] = [
        (Some(host), &[], &top, "CAP_NET_RAW"),
        (
            None,
            &[],
            &["top", "--netns", host, "--json"],
            "CAP_SYS_ADMIN",
        ),
        // With CAP_NET_RAW, watching every namespace still needs CAP_SYS_ADMIN.
        (
            None,
            &["net_raw"],
            &["top", "--all-netns", "--json", "--count", "1"],
            "CAP_SYS_ADMIN",
        ),
        (Some(host), &[], &trace, "CAP_NET_RAW"),
        (Some(sw), &[], &agent, "CAP_NET_RAW"),
        (Some(sw), &[], &agent, "CAP_NET_ADMIN"),
        (Some(sw), &["net_raw"], &agent, "CAP_NET_ADMIN"),
        (Some(sw), &["net_admin"], &agent, "CAP_NET_RAW"),
        (
            Some(host),
            &[],
            &["neighbors", "--wait", "1"],
            "CAP_NET_RAW",
        ),
        (
            None,
            &[],
            &["neighbors", "--netns", host, "--wait", "1"],
            "CAP_SYS_ADMIN",
        ),
        // BPF tracing: CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN.
        (None, &[], &drops, "CAP_PERFMON"),
        (None, &["bpf"], &drops, "CAP_SYS_ADMIN"),
    ];
    for (ns, keep, args, cap) in cases {
        let Some(out) = restricted(&stage, ns, keep, args) else {
            return;
        };
        refused_naming(args, &out, cap);
    }
    // Only what is missing is named.
    let out = restricted(&stage, Some(sw), &["net_raw"], &agent).expect("ran before");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("CAP_NET_RAW"));

    // Tracing through a switch given with --via needs nothing: UDP only. Nobody
    // answers on this loopback, so the trace aborts (exit 1) for that reason.
    let args = [
        "l2trace",
        "0200.0000.0001",
        "0200.0000.0002",
        "--via",
        "127.0.0.1",
    ];
    let out = restricted(&stage, Some(host), &[], &args).expect("ran before");
    no_panic(&args, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Said once, on standard output with Cisco's lines; nothing about capabilities.
    assert!(
        stdout.starts_with("Unable to send a l2trace request to 127.0.0.1") && stderr.is_empty(),
        "{stdout}{stderr}"
    );

    // top with CAP_NET_RAW but not CAP_SYS_ADMIN: the BPF path cannot load; one line
    // names the capability and the path used instead, and the run goes on with it.
    let args = [
        "top",
        "--json",
        "--count",
        "1",
        "--interval",
        "0.1",
        "--attribution",
        "auto",
    ];
    let out = restricted(&stage, Some(host), &["net_raw"], &args).expect("ran before");
    no_panic(&args, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("CAP_SYS_ADMIN") && stderr.contains("using sock-diag"),
        "{stderr}"
    );
    assert!(stdout.contains("\"attribution\":\"sock-diag\""), "{stdout}");
    // Asked for by name, BPF is required: the same line, exit 1.
    let args = ["top", "--json", "--count", "1", "--attribution", "bpf"];
    let out = restricted(&stage, Some(host), &["net_raw"], &args).expect("ran before");
    refused_naming(&args, &out, "CAP_SYS_ADMIN");
}

/// A namespace only a root process holds (a container, here `unshare --net sleep`)
/// cannot even be listed by another user (reading /proc/N/ns needs CAP_SYS_PTRACE):
/// `--all-netns` and `ns list` say so instead of silently leaving it out.
#[test]
fn namespaces_of_other_users_processes_are_not_silently_left_out() {
    if !is_root() {
        eprintln!("skipping: dropping privileges needs root");
        return;
    }
    let Some(stage) = Stage::new("others") else {
        return;
    };
    let Ok(mut holder) = Command::new("unshare")
        .args(["--net", "sleep", "30"])
        .spawn()
    else {
        eprintln!("skipping: unshare (util-linux) is not available");
        return;
    };
    std::thread::sleep(Duration::from_millis(200));
    let label = format!("pid:{}", holder.id());
    let listed = common::netkit()
        .args(["ns", "list", "--json"])
        .output()
        .expect("run netkit");
    let as_root = String::from_utf8_lossy(&listed.stdout).contains(&format!("\"{label}\""));
    let root_stderr = String::from_utf8_lossy(&listed.stderr).to_string();
    let mut results = Vec::new();
    for args in [
        &["ss", "--all-netns", "--json"][..],
        &["route", "--all-netns", "--json"],
        &["ns", "list", "--json"],
        &["mcast", "groups", "--all-netns", "--json"],
    ] {
        results.push((args, stage.unprivileged(args)));
    }
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(as_root, "root does not see {label}: {root_stderr}");
    assert!(
        !root_stderr.contains("CAP_SYS_PTRACE"),
        "root was told it lacks CAP_SYS_PTRACE: {root_stderr}"
    );
    for (args, out) in results {
        let Some(out) = out else {
            return;
        };
        no_panic(args, &out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("netkit: warning: ") && l.contains("CAP_SYS_PTRACE")),
            "netkit {args:?} as nobody did not say what it could not see: {stderr}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains(&label));
    }
}

/// `pid:1` as another user: the process is there but its namespace file may not be
/// looked at; the error says so (permission, and the capability), never "no process".
#[test]
fn a_pid_namespace_that_may_not_be_looked_at_says_permission_not_no_process() {
    if !is_root() {
        eprintln!("skipping: dropping privileges needs root");
        return;
    }
    let Some(stage) = Stage::new("pid1") else {
        return;
    };
    for args in [
        &["ss", "-N", "pid:1"][..],
        &["route", "--netns", "pid:1", "--json"],
    ] {
        let Some(out) = stage.unprivileged(args) else {
            return;
        };
        no_panic(args, &out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "netkit {args:?}: {stderr}");
        assert!(
            stderr.contains("permission denied")
                && stderr.contains("CAP_SYS_PTRACE")
                && !stderr.contains("no process"),
            "netkit {args:?}: {stderr}"
        );
    }
}
