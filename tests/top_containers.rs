//! `netkit top` names containers and pods from cgroups (issue 15): real processes are
//! moved into cgroups named as docker and as a Kubernetes pod under containerd name
//! them, then make TCP and UDP traffic over a veth between two namespaces; `--json`
//! must show each one's container id and pod uid, a process outside any container
//! `container: null`, and `--container` must keep only the matching processes.
//!
//! Only cgroup v1 may be mounted at /sys/fs/cgroup, so the test mounts the cgroup2
//! hierarchy in a directory of its own and moves the processes by writing their pids to
//! `cgroup.procs` there. That hierarchy is the one and only cgroup2 tree of the kernel
//! (another mount of it shows the same cgroups), so everything the test creates sits
//! under a directory named after this run, and a Drop guard kills the processes, moves
//! any left back to the root, removes the cgroups and namespaces and unmounts, even when
//! an assertion fails. Needs root, iproute2, python3 and mount; otherwise it skips.

mod common;

use common::{ip, skip_reason};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Prints its pid, waits for a line on stdin (the test moves it into its cgroup
/// meanwhile: every socket it opens afterwards is the container's), then makes 10
/// rounds of one 200 kB TCP download and one UDP exchange (each socket open for at
/// least 100 ms), and prints the bytes it got.
const CLIENT: &str = r#"
import os, socket, sys, time
print(os.getpid(), flush=True)
sys.stdin.readline()
got = 0
for i in range(10):
    s = socket.create_connection(("10.215.15.2", 9000), timeout=10)
    # Over a bare veth a 200 kB download lasts well under a millisecond, often over
    # before top's sock_diag lookup (what this test is about is the container, not
    # that race): the socket stays open a little first.
    time.sleep(0.1)
    s.sendall(b"200000\n")
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
    s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(1)
    u.sendto(b"u" * 500, ("10.215.15.2", 9001))
    try:
        got += len(u.recv(2000))
    except socket.timeout:
        pass
    time.sleep(0.1)
    u.close()
    time.sleep(0.25)
print(got, flush=True)
"#;

/// Bytes a client's row must reach: one of its ten downloads. What share of a
/// loaded machine's short connections sock_diag attribution catches is top_live's
/// subject (and the BPF path's); here the container on the rows is.
const MIN_ATTRIBUTED: u64 = 200_000;

const DOCKER_ID: &str = "3f4e5d6c7b8a99001122334455667788aabbccddeeff00112233445566778899";
const POD_CID: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const POD_UID: &str = "5d2c9a8e-7f61-4b3a-9c0d-1e2f3a4b5c6d";

/// Two namespaces joined by a veth (10.215.15.1 in `a`, .2 in `b`), a cgroup2 mount
/// with the test's cgroups, and every process started; all undone on drop.
struct Lab {
    a: String,
    b: String,
    mount: PathBuf,
    mounted: bool,
    /// The test's cgroups, parents first.
    cgroups: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Lab {
    /// `tag` tells apart the labs of tests running at once; `cgroup2`: mount it.
    fn new(tag: &str, cgroup2: bool) -> Lab {
        let id = std::process::id();
        let mut lab = Lab {
            a: format!("nk15c-a{tag}-{id}"),
            b: format!("nk15c-b{tag}-{id}"),
            mount: std::env::temp_dir().join(format!("nk15c-cg2{tag}-{id}")),
            mounted: false,
            cgroups: Vec::new(),
            children: Vec::new(),
        };
        let (va, vb) = (
            format!("nk15c{tag}a{}", id % 100_000),
            format!("nk15c{tag}b{}", id % 100_000),
        );
        ip(&["netns", "add", &lab.a]);
        ip(&["netns", "add", &lab.b]);
        ip(&[
            "link", "add", &va, "netns", &lab.a, "type", "veth", "peer", "name", &vb, "netns",
            &lab.b,
        ]);
        ip(&["-n", &lab.a, "addr", "add", "10.215.15.1/24", "dev", &va]);
        ip(&["-n", &lab.b, "addr", "add", "10.215.15.2/24", "dev", &vb]);
        for (ns, dev) in [(&lab.a, &va), (&lab.b, &vb)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        if !cgroup2 {
            return lab;
        }
        std::fs::create_dir_all(&lab.mount).unwrap();
        let out = Command::new("mount")
            .args(["-t", "cgroup2", "none"])
            .arg(&lab.mount)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t cgroup2: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lab.mounted = true;
        lab
    }

    /// Creates `rel` (and its parents) under the run's own directory of the cgroup2
    /// tree; returns its path.
    fn cgroup(&mut self, rel: &str) -> PathBuf {
        let mut dir = self
            .mount
            .join(format!("nk15c-{}.slice", std::process::id()));
        let mut parts = vec![dir.clone()];
        for part in rel.split('/') {
            dir = dir.join(part);
            parts.push(dir.clone());
        }
        for p in parts {
            if !p.exists() {
                std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
                self.cgroups.push(p);
            }
        }
        dir
    }

    fn cmd(&self, ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    fn start_server(&mut self) {
        let mut server = self
            .cmd(&self.b, "python3")
            .arg(common::lab_script("download_server.py"))
            .args(["9000", "9001"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start server");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        self.children.push(server);
    }

    /// Starts a client in namespace `a`, moves it into `cgroup` (if any) and lets it
    /// go. Returns its pid and its stdout (the byte count comes last).
    fn client(&mut self, cgroup: Option<&Path>) -> (u32, BufReader<ChildStdout>) {
        let mut child = self
            .cmd(&self.a, "python3")
            .args(["-c", CLIENT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start client");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let pid: u32 = line.trim().parse().expect("client pid");
        if let Some(dir) = cgroup {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())
                .unwrap_or_else(|e| panic!("move {pid} into {}: {e}", dir.display()));
            let seen = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
            assert!(
                seen.lines().any(|l| l.starts_with("0::")
                    && l.ends_with(dir.file_name().unwrap().to_str().unwrap())),
                "{pid} is not in {}: {seen}",
                dir.display()
            );
        }
        writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
        self.children.push(child);
        (pid, out)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything still in the test's cgroups goes back to the root first: a cgroup
        // with a process in it cannot be removed.
        for dir in self.cgroups.iter().rev() {
            if let Ok(pids) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in pids.lines() {
                    let _ = std::fs::write(self.mount.join("cgroup.procs"), pid);
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        if self.mounted {
            let _ = Command::new("umount").arg(&self.mount).status();
        }
        if self.mounted {
            let _ = std::fs::remove_dir(&self.mount);
        }
        let _ = Command::new("ip").args(["netns", "del", &self.a]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.b]).status();
    }
}

/// Most one-second intervals a top run of these tests lasts; they stop it with SIGINT
/// once the traffic is over, however slow a loaded machine made it.
const MAX_INTERVALS: u64 = 90;

/// `netkit top --json` in namespace `ns` with one-second intervals, plus `extra`
/// arguments; returns once its capture is open (the first object printed).
fn start_top(ns: &str, extra: &[&str]) -> (Child, Vec<String>) {
    let mut top = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(["top", "--json", "--netns", ns, "--interval", "1"])
        .args(["--count", &MAX_INTERVALS.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netkit top");
    let mut first = String::new();
    BufReader::new(top.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with('{'), "netkit top said: {first:?}");
    (top, vec![first])
}

/// Stops a top run with SIGINT (it prints the interval under way and exits 0) and
/// returns the process rows of all its objects, each process once per interval.
fn finish_top(mut top: Child, mut lines: Vec<String>) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let _ = Command::new("kill")
        .args(["-INT", &top.id().to_string()])
        .status();
    for line in BufReader::new(top.stdout.take().unwrap()).lines() {
        lines.push(line.unwrap());
        assert!(Instant::now() < deadline, "netkit top ran too long");
    }
    let status = top.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut top.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "netkit top failed: {err}");
    assert!(
        lines.len() >= 2 && (lines.len() as u64) < MAX_INTERVALS,
        "{} objects: stopped by SIGINT, not by --count",
        lines.len()
    );
    lines
        .iter()
        .flat_map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON object");
            v["processes"].as_array().unwrap().clone()
        })
        .collect()
}

/// Bytes (tx + rx) and the `container` value per pid.
fn by_pid(rows: &[Value]) -> HashMap<u32, (u64, Value)> {
    let mut out: HashMap<u32, (u64, Value)> = HashMap::new();
    for p in rows {
        assert!(p.get("container").is_some(), "row without container: {p}");
        let pid = p["pid"].as_u64().unwrap() as u32;
        let bytes = p["tx_bytes"].as_u64().unwrap() + p["rx_bytes"].as_u64().unwrap();
        let e = out.entry(pid).or_insert((0, p["container"].clone()));
        e.0 += bytes;
        assert_eq!(e.1, p["container"], "the container of {pid} changed");
    }
    out
}

#[test]
fn json_shows_container_ids_and_pod_uids_and_filters_by_them() {
    if let Some(why) = skip_reason(&["ip", "python3", "mount", "umount"]) {
        eprintln!("skipping top_containers: {why}");
        return;
    }
    let mut lab = Lab::new("", true);
    let docker = lab.cgroup(&format!("docker-{DOCKER_ID}.scope"));
    let pod = lab.cgroup(&format!(
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{POD_CID}.scope",
        POD_UID.replace('-', "_")
    ));
    // The BPF side reports cgroup ids: on the real cgroup2 tree each one maps back to
    // its path, and the path to the container, after the process is gone.
    let mut ids = netkit_os::cgroup::CgroupPaths::at(&lab.mount);
    let mut containers = netkit_os::cgroup::Containers::default();
    for (dir, want) in [(&docker, DOCKER_ID), (&pod, POD_CID)] {
        let cgid = netkit_os::cgroup::cgroup_id(dir).unwrap();
        let path = ids.path(cgid).expect("cgroup id found by the walk");
        assert!(dir.ends_with(path.trim_start_matches('/')), "{path}");
        let c = ids.container(cgid, &mut containers).unwrap();
        assert_eq!(c.id.as_deref(), Some(want));
    }
    lab.start_server();
    let (all, all_lines) = start_top(&lab.a, &[]);
    let (by_id, by_id_lines) = start_top(&lab.a, &["--container", &DOCKER_ID[..12]]);
    let (by_pod, by_pod_lines) = start_top(&lab.a, &["--container", POD_UID]);

    let (docker_pid, docker_out) = lab.client(Some(&docker));
    let (pod_pid, pod_out) = lab.client(Some(&pod));
    let (plain_pid, plain_out) = lab.client(None);
    let got = |out: BufReader<ChildStdout>| -> u64 {
        let last = out.lines().map_while(|l| l.ok()).last().unwrap_or_default();
        last.trim().parse().unwrap_or(0)
    };
    let got = [got(docker_out), got(pod_out), got(plain_out)];
    for g in got {
        assert!(
            g >= 10 * 200_000,
            "a client did not finish its downloads: {got:?}"
        );
    }

    // The last frames reach the rings and their lookups answer before the stop.
    std::thread::sleep(Duration::from_millis(500));
    let all = by_pid(&finish_top(all, all_lines));
    let by_id = by_pid(&finish_top(by_id, by_id_lines));
    let by_pod = by_pid(&finish_top(by_pod, by_pod_lines));
    eprintln!(
        "top_containers: pids docker {docker_pid} pod {pod_pid} plain {plain_pid}; \
         bytes on their rows: {:?} / {:?} / {:?} (clients got {got:?})",
        all.get(&docker_pid).map(|e| e.0),
        all.get(&pod_pid).map(|e| e.0),
        all.get(&plain_pid).map(|e| e.0),
    );

    let (bytes, c) = all.get(&docker_pid).expect("the docker client has a row");
    assert!(*bytes >= MIN_ATTRIBUTED, "docker client: {bytes} bytes");
    assert_eq!(c["runtime"], "docker", "{c}");
    assert_eq!(c["id"], DOCKER_ID, "{c}");
    assert_eq!(c["pod_uid"], Value::Null, "{c}");
    // No docker on this machine to name it: the short id.
    assert_eq!(c["name"], &DOCKER_ID[..12], "{c}");

    let (bytes, c) = all.get(&pod_pid).expect("the pod client has a row");
    assert!(*bytes >= MIN_ATTRIBUTED, "pod client: {bytes} bytes");
    assert_eq!(c["runtime"], "containerd", "{c}");
    assert_eq!(c["id"], POD_CID, "{c}");
    assert_eq!(c["pod_uid"], POD_UID, "{c}");

    let (_, c) = all.get(&plain_pid).expect("the plain client has a row");
    assert_eq!(*c, Value::Null, "a process in no container: {c}");

    // --container keeps the matching processes only.
    let pids = |m: &HashMap<u32, (u64, Value)>| {
        let mut p: Vec<u32> = m.keys().copied().collect();
        p.sort_unstable();
        p
    };
    assert_eq!(
        pids(&by_id),
        [docker_pid],
        "--container {}",
        &DOCKER_ID[..12]
    );
    assert_eq!(pids(&by_pod), [pod_pid], "--container {POD_UID}");
    assert!(by_id[&docker_pid].0 >= MIN_ATTRIBUTED);
}

#[test]
fn an_empty_container_filter_is_refused() {
    let out = common::netkit()
        .args(["top", "--json", "--count", "1", "--container", " "])
        .output()
        .unwrap();
    // A bad argument is a usage error (exit status 2), as the other flags' are.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--container"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// An image made offline from the static busybox (`podman import` of a tarball) and a
/// container run from it; both removed on drop.
struct Podman {
    image: String,
    container: String,
    dir: PathBuf,
}

impl Podman {
    /// The image holds busybox as /bin/sh and a 300 kB /www/blob to serve.
    fn import(tag: &str) -> Result<Podman, String> {
        let id = std::process::id();
        let p = Podman {
            image: format!("localhost/nk15c-busybox{tag}:{id}"),
            container: format!("nk15c-ctr{tag}-{id}"),
            dir: std::env::temp_dir().join(format!("nk15c-rootfs{tag}-{id}")),
        };
        let root = p.dir.join("root");
        std::fs::create_dir_all(root.join("bin")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(root.join("www")).map_err(|e| e.to_string())?;
        std::fs::write(root.join("www/blob"), vec![b'x'; 300_000]).map_err(|e| e.to_string())?;
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).map_err(|e| e.to_string())?;
        std::os::unix::fs::symlink("busybox", root.join("bin/sh")).map_err(|e| e.to_string())?;
        let tar = p.dir.join("rootfs.tar");
        run(Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."))?;
        run(Command::new("podman").arg("import").arg(&tar).arg(&p.image))?;
        Ok(p)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for args in [
            vec!["rm", "-f", "-t", "0", &self.container],
            vec!["rmi", "-f", &self.image],
        ] {
            let _ = Command::new("podman")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Podman {
    /// `podman run -d` of the image with network `network` running `script`; the
    /// container's id.
    fn run(&self, network: &str, script: &str) -> Result<String, String> {
        let mut cmd = Command::new("podman");
        cmd.args(["run", "-d", "--name", &self.container, "--network", network]);
        // crun refuses hosts with cgroup v1 and v2 mounted together; runc takes them.
        if common::have("runc") {
            cmd.args(["--runtime", "runc"]);
        }
        // Podman raises the open-files and process limits to its defaults, which a
        // sandboxed caller may not be allowed to; modest limits work everywhere.
        cmd.args([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]);
        cmd.args([&self.image, "/bin/sh", "-c", script]);
        run(&mut cmd).map(|out| out.trim().to_string())
    }
}

/// Runs `cmd`; its stdout, or its stderr as the error.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Issue 15's real container: podman runs busybox in the test's namespace, downloads
/// from the server with `nc`; top must show those rows as podman's, with the id podman
/// printed and the name it was given (from containers/storage's containers.json), and
/// `--container NAME` must keep them only.
#[test]
fn a_real_podman_container_is_named_and_filtered() {
    if let Some(why) = skip_reason(&["ip", "python3", "podman", "tar"]) {
        eprintln!("skipping the podman test: {why}");
        return;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipping the podman test: needs /bin/busybox (busybox-static)");
        return;
    }
    let podman = match Podman::import("") {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipping the podman test: cannot make an image offline: {why}");
            return;
        }
    };
    let mut lab = Lab::new("p", false);
    lab.start_server();
    let (all, all_lines) = start_top(&lab.a, &[]);
    let (named, named_lines) = start_top(&lab.a, &["--container", &podman.container]);
    // Each connection stays open 100 ms before its request, so the sub-millisecond
    // download does not race the socket lookup (not what this test is about).
    let script = "i=0; while [ $i -lt 10 ]; do \
                  (busybox sleep 0.1; echo 200000) | busybox nc 10.215.15.2 9000 | busybox wc -c; \
                  i=$((i+1)); busybox sleep 0.2; done";
    let netns = format!("ns:/run/netns/{}", lab.a);
    let id = match podman.run(&netns, script) {
        Ok(id) => id,
        Err(why) => {
            eprintln!("skipping the podman test: podman cannot run a container here: {why}");
            return;
        }
    };
    assert_eq!(id.len(), 64, "podman run -d printed {id:?}");
    let done = run(Command::new("timeout").args(["60", "podman", "wait", &podman.container]));
    assert_eq!(
        done.as_deref().map(str::trim),
        Ok("0"),
        "the container failed"
    );
    let logs = run(Command::new("podman").args(["logs", &podman.container])).unwrap();
    let downloaded: u64 = logs
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    assert_eq!(downloaded, 10 * 200_000, "container output: {logs}");

    std::thread::sleep(Duration::from_millis(500));
    let all = by_pid(&finish_top(all, all_lines));
    let named = by_pid(&finish_top(named, named_lines));
    let in_container: Vec<(&u32, &(u64, Value))> = all
        .iter()
        .filter(|(_, (_, c))| c["runtime"] == "podman")
        .collect();
    let bytes: u64 = in_container.iter().map(|(_, (b, _))| *b).sum();
    eprintln!(
        "top_containers: podman container {}: {} processes, {bytes} bytes seen (downloaded \
         {downloaded}); {} rows in all",
        &id[..12],
        in_container.len(),
        all.len()
    );
    assert!(!in_container.is_empty(), "no podman rows: {all:?}");
    for (pid, (_, c)) in &in_container {
        assert_eq!(c["id"], id.as_str(), "{pid}: {c}");
        assert_eq!(c["name"], podman.container.as_str(), "{pid}: {c}");
        assert_eq!(c["pod_uid"], Value::Null, "{pid}: {c}");
    }
    assert!(
        bytes >= MIN_ATTRIBUTED,
        "{bytes} bytes attributed to the container"
    );
    let mut want: Vec<u32> = in_container.iter().map(|(p, _)| **p).collect();
    want.sort_unstable();
    let mut got: Vec<u32> = named.keys().copied().collect();
    got.sort_unstable();
    assert_eq!(got, want, "--container {}", podman.container);
}

/// A namespace with no /run/netns name (held by a process, as a container runtime's
/// are): `top -N pid:N` labels it `pid:N` until it sees a container's traffic in it,
/// then by the container's name. The namespace is made by `unshare -n` and wired to
/// the server's by a veth; podman runs a container in it (`--network ns:/proc/N/ns/net`).
#[test]
fn an_unnamed_namespace_takes_its_containers_name() {
    if let Some(why) = skip_reason(&["ip", "python3", "podman", "tar", "unshare", "nsenter"]) {
        eprintln!("skipping the podman namespace test: {why}");
        return;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipping the podman namespace test: needs /bin/busybox (busybox-static)");
        return;
    }
    let podman = match Podman::import("n") {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipping the podman namespace test: cannot make an image offline: {why}");
            return;
        }
    };
    // Namespace `b` (named) holds the server; the client side is unnamed.
    let mut lab = Lab::new("n", false);
    let holder = Command::new("unshare")
        .args(["-n", "sleep", "300"])
        .spawn()
        .expect("unshare");
    let holder_pid = holder.id().to_string();
    lab.children.push(holder);
    let id = std::process::id() % 100_000;
    let (inner, outer) = (format!("nk15cx{id}"), format!("nk15cy{id}"));
    // The lab's own veth is not used here: a second pair joins b to the unnamed side.
    let deadline = Instant::now() + Duration::from_secs(5);
    let inside = |args: &[&str]| {
        let ok = Command::new("nsenter")
            .arg(format!("--net=/proc/{holder_pid}/ns/net"))
            .arg("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?} in the unnamed namespace");
    };
    while std::fs::read_link(format!("/proc/{holder_pid}/ns/net")).ok()
        == std::fs::read_link("/proc/self/ns/net").ok()
    {
        assert!(Instant::now() < deadline, "unshare -n did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    ip(&[
        "-n",
        &lab.b,
        "link",
        "add",
        &outer,
        "type",
        "veth",
        "peer",
        "name",
        &inner,
        "netns",
        &holder_pid,
    ]);
    ip(&["-n", &lab.b, "addr", "add", "10.215.16.2/24", "dev", &outer]);
    ip(&["-n", &lab.b, "link", "set", &outer, "up"]);
    inside(&["addr", "add", "10.215.16.1/24", "dev", &inner]);
    inside(&["link", "set", &inner, "up"]);
    inside(&["link", "set", "lo", "up"]);
    lab.start_server();
    // Waits for /go (written by the test through /proc/PID/root once top is
    // capturing), then 10 downloads, each connection held 100 ms before its request
    // (see above); then says /done and stays, holding the namespace too.
    let script = "while [ ! -e /go ]; do busybox sleep 0.1; done; \
                  i=0; while [ $i -lt 10 ]; do \
                  (busybox sleep 0.1; echo 200000) | busybox nc 10.215.16.2 9000 | busybox wc -c; \
                  i=$((i+1)); busybox sleep 0.2; done; : > /done; busybox sleep 120";
    let netns = format!("ns:/proc/{holder_pid}/ns/net");
    let cid = match podman.run(&netns, script) {
        Ok(id) => id,
        Err(why) => {
            eprintln!("skipping the podman namespace test: podman cannot run a container: {why}");
            return;
        }
    };
    let pid = run(Command::new("podman").args(["inspect", "-f", "{{.State.Pid}}", &cid]))
        .expect("podman inspect")
        .trim()
        .to_string();
    let label = format!("pid:{holder_pid}");
    let (top, lines) = start_top(&label, &[]);
    std::fs::write(format!("/proc/{pid}/root/go"), "").expect("write /go in the container");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Path::new(&format!("/proc/{pid}/root/done")).exists() {
        assert!(
            Instant::now() < deadline,
            "the container's downloads took over 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = run(Command::new("podman").args(["logs", &cid])).unwrap();
    let downloaded: u64 = logs
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    assert_eq!(downloaded, 10 * 200_000, "container output: {logs}");
    std::thread::sleep(Duration::from_millis(500));
    let rows = finish_top(top, lines);
    let named = rows
        .iter()
        .filter(|p| p["container"]["name"] == podman.container.as_str())
        .count();
    let labels: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|p| p["netns"].as_str()).collect();
    eprintln!(
        "top_containers: container {} in namespace {label}: {named} of {} rows are its, \
         namespace labels {labels:?}",
        &cid[..12],
        rows.len(),
    );
    assert!(named > 0, "no row of the container: {rows:?}");
    for p in &rows {
        assert_eq!(p["netns"], podman.container.as_str(), "{p}");
    }
}
