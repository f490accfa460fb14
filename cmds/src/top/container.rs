//! Which container (or Kubernetes pod) a process belongs to, read from its cgroup path.
//!
//! Container runtimes put every container in a cgroup of its own and name it after the
//! container id, by conventions that are stable across versions:
//!
//! | runtime | systemd cgroup driver | cgroupfs driver |
//! |---|---|---|
//! | docker | `docker-<64 hex>.scope` | `/docker/<64 hex>` |
//! | containerd (CRI) | `cri-containerd-<64 hex>.scope` | `/kubepods/<qos>/pod<uid>/<64 hex>` |
//! | CRI-O | `crio-<64 hex>.scope` | `crio-<64 hex>` |
//! | podman | `libpod-<64 hex>.scope` | `libpod-<64 hex>` |
//! | systemd-machined (nspawn, VMs) | `machine-<escaped name>.scope` | |
//! | LXC | `lxc.payload.<name>` | `/lxc/<name>` |
//!
//! Kubernetes adds the pod above the container: `kubepods[-<qos>]-pod<uid>.slice` (the
//! uid's dashes written as `_`, since `-` separates systemd slice levels) or
//! `/kubepods[/<qos>]/pod<uid>`. The helpers' own cgroups (`libpod-conmon-<id>.scope`,
//! `crio-conmon-<id>.scope`, `lxc.monitor.<name>`) are not the container and are not
//! recognised. Pure text in, no file access: naming a container from the runtime's
//! files is `netkit_os::cgroup`.

use serde::Serialize;

/// Who made the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    /// containerd through its CRI plugin (Kubernetes).
    Containerd,
    Crio,
    Podman,
    /// A container id in a Kubernetes pod's cgroup whose runtime the path does not
    /// name (the cgroupfs driver: `/kubepods/besteffort/pod<uid>/<id>`).
    Kubernetes,
    /// Registered with systemd-machined: systemd-nspawn containers, libvirt VMs.
    Machine,
    Lxc,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "crio",
            Runtime::Podman => "podman",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Machine => "machine",
            Runtime::Lxc => "lxc",
        }
    }
}

/// A process's container, as `top` shows it (`container` in `--json`, docs/CLI.md).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Container {
    pub runtime: Runtime,
    /// The full container id (64 hex digits for docker, containerd, CRI-O, podman; the
    /// machine or container name for machined and LXC). `None` for a process in a
    /// pod's cgroup but in no container's (rare: the pod's own slice).
    pub id: Option<String>,
    /// The Kubernetes pod's uid, with dashes.
    pub pod_uid: Option<String>,
    /// A name for people: the runtime's name for the container when it keeps one on
    /// disk (docker, podman), `namespace/pod` for a Kubernetes pod, else the short id.
    pub name: String,
}

/// Length of the short ids `docker ps` and `podman ps` print.
pub const SHORT_ID_LEN: usize = 12;

impl Container {
    /// The first 12 characters of the id (what `docker ps` shows).
    pub fn short_id(&self) -> Option<&str> {
        self.id
            .as_deref()
            .map(|id| id.get(..SHORT_ID_LEN).unwrap_or(id))
    }

    /// `--container NEEDLE` and the screen's `container:NEEDLE`: the name exactly, a
    /// prefix of the id, or a prefix of the pod uid, ignoring case.
    pub fn matches(&self, needle: &str) -> bool {
        let needle = needle.trim().to_ascii_lowercase();
        if needle.is_empty() {
            return false;
        }
        self.name.to_ascii_lowercase() == needle
            || self
                .id
                .as_deref()
                .is_some_and(|id| id.to_ascii_lowercase().starts_with(&needle))
            || self
                .pod_uid
                .as_deref()
                .is_some_and(|uid| uid.to_ascii_lowercase().starts_with(&needle))
    }
}

/// The full id length of docker, containerd, CRI-O and podman containers.
const ID_LEN: usize = 64;

fn is_container_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `8-4-4-4-12` hex digits.
fn is_uid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The pod uid of a Kubernetes pod cgroup component, either driver.
fn pod_uid(component: &str, in_kubepods: bool) -> Option<String> {
    if let Some(rest) = component
        .strip_prefix("kubepods-")
        .and_then(|r| r.strip_suffix(".slice"))
    {
        // kubepods-pod<uid>.slice, kubepods-burstable-pod<uid>.slice, ...
        let uid = rest.rsplit_once("pod").map(|(_, u)| u)?;
        let uid = uid.replace('_', "-");
        return is_uid(&uid).then_some(uid.to_ascii_lowercase());
    }
    if in_kubepods {
        let uid = component.strip_prefix("pod")?;
        return is_uid(uid).then(|| uid.to_ascii_lowercase());
    }
    None
}

/// Undoes systemd's unit name escaping (`\x2d` for `-` inside a name).
fn systemd_unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The container one cgroup path component names, given the component before it.
fn container_in(component: &str, parent: &str, in_kubepods: bool) -> Option<(Runtime, String)> {
    let scoped = |prefix: &str| {
        let rest = component.strip_prefix(prefix)?;
        let id = rest.strip_suffix(".scope").unwrap_or(rest);
        is_container_id(id).then(|| id.to_string())
    };
    if let Some(id) = scoped("docker-") {
        return Some((Runtime::Docker, id));
    }
    if let Some(id) = scoped("cri-containerd-") {
        return Some((Runtime::Containerd, id));
    }
    if let Some(id) = scoped("crio-") {
        return Some((Runtime::Crio, id));
    }
    if let Some(id) = scoped("libpod-") {
        return Some((Runtime::Podman, id));
    }
    if is_container_id(component) {
        if parent == "docker" {
            return Some((Runtime::Docker, component.to_string()));
        }
        if in_kubepods {
            return Some((Runtime::Kubernetes, component.to_string()));
        }
        return None;
    }
    if let Some(name) = component
        .strip_prefix("machine-")
        .and_then(|r| r.strip_suffix(".scope"))
    {
        let name = systemd_unescape(name);
        return (!name.is_empty()).then_some((Runtime::Machine, name));
    }
    if let Some(name) = component.strip_prefix("lxc.payload.") {
        return (!name.is_empty()).then(|| (Runtime::Lxc, name.to_string()));
    }
    if parent == "lxc" && !component.is_empty() && !component.starts_with("lxc.") {
        return Some((Runtime::Lxc, component.to_string()));
    }
    None
}

/// The container and pod a cgroup path (`/system.slice/docker-<id>.scope`) names, or
/// `None` for a path outside any container. The innermost container wins (docker in
/// docker shows the inner one).
pub fn from_cgroup_path(path: &str) -> Option<Container> {
    let mut found: Option<(Runtime, String)> = None;
    let mut pod: Option<String> = None;
    let mut in_kubepods = false;
    let mut parent = "";
    for component in path.split('/').filter(|c| !c.is_empty()) {
        if component == "kubepods" || component.starts_with("kubepods.") {
            in_kubepods = true;
        }
        if let Some(uid) = pod_uid(component, in_kubepods) {
            in_kubepods = true;
            pod = Some(uid);
        } else if let Some(c) = container_in(component, parent, in_kubepods) {
            found = Some(c);
        }
        parent = component;
    }
    match (found, pod) {
        (Some((runtime, id)), pod_uid) => {
            let name = match runtime {
                Runtime::Machine | Runtime::Lxc => id.clone(),
                _ => id.get(..SHORT_ID_LEN).unwrap_or(&id).to_string(),
            };
            Some(Container {
                runtime,
                id: Some(id),
                pod_uid,
                name,
            })
        }
        (None, Some(uid)) => Some(Container {
            runtime: Runtime::Kubernetes,
            id: None,
            name: format!("pod-{}", uid.get(..8).unwrap_or(&uid)),
            pod_uid: Some(uid),
        }),
        (None, None) => None,
    }
}

/// The cgroup paths of one `/proc/PID/cgroup` file: the cgroup v2 path (`0::/path`)
/// first, then the v1 hierarchies' (`N:controllers:/path`) in file order.
pub fn proc_cgroup_paths(text: &str) -> Vec<&str> {
    let mut v2 = Vec::new();
    let mut v1 = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2.push(path);
        } else {
            v1.push(path);
        }
    }
    v2.extend(v1);
    v2
}

/// The container of a process from its `/proc/PID/cgroup`, with the cgroup path it was
/// read from: the v2 line when it names one, else the first v1 line that does (hybrid
/// hosts put containers in either).
pub fn from_proc_cgroup(text: &str) -> Option<(Container, String)> {
    proc_cgroup_paths(text)
        .into_iter()
        .find_map(|p| from_cgroup_path(p).map(|c| (c, p.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4e1b2a7c9d0f3e5a6b8c7d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c";
    const UID: &str = "0b6f8e9c-1a2d-4e3f-9a8b-7c6d5e4f3a2b";

    fn c(path: &str) -> Option<Container> {
        from_cgroup_path(path)
    }

    #[test]
    fn docker_both_drivers() {
        let got = c(&format!("/system.slice/docker-{ID}.scope")).unwrap();
        assert_eq!(got.runtime, Runtime::Docker);
        assert_eq!(got.id.as_deref(), Some(ID));
        assert_eq!(got.short_id(), Some(&ID[..12]));
        assert_eq!(got.name, &ID[..12]);
        assert_eq!(got.pod_uid, None);
        let got = c(&format!("/docker/{ID}")).unwrap();
        assert_eq!(got.runtime, Runtime::Docker);
        assert_eq!(got.id.as_deref(), Some(ID));
        // Docker in docker: the inner container.
        let inner = ID.replace('4', "5");
        let got = c(&format!("/docker/{ID}/docker/{inner}")).unwrap();
        assert_eq!(got.id.as_deref(), Some(inner.as_str()));
    }

    #[test]
    fn kubernetes_systemd_driver_with_each_runtime() {
        let pod = UID.replace('-', "_");
        for (scope, runtime) in [
            (format!("cri-containerd-{ID}.scope"), Runtime::Containerd),
            (format!("crio-{ID}.scope"), Runtime::Crio),
            (format!("docker-{ID}.scope"), Runtime::Docker),
        ] {
            for qos in ["", "-besteffort", "-burstable"] {
                let path = format!(
                    "/kubepods.slice/kubepods{qos}.slice/kubepods{qos}-pod{pod}.slice/{scope}"
                );
                let got = c(&path).unwrap();
                assert_eq!(got.runtime, runtime, "{path}");
                assert_eq!(got.id.as_deref(), Some(ID), "{path}");
                assert_eq!(got.pod_uid.as_deref(), Some(UID), "{path}");
            }
        }
        // The pod's own slice: a pod, no container.
        let got = c(&format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod}.slice"
        ))
        .unwrap();
        assert_eq!(got.id, None);
        assert_eq!(got.pod_uid.as_deref(), Some(UID));
        assert_eq!(got.runtime, Runtime::Kubernetes);
    }

    #[test]
    fn kubernetes_cgroupfs_driver() {
        for path in [
            format!("/kubepods/besteffort/pod{UID}/{ID}"),
            format!("/kubepods/burstable/pod{UID}/{ID}"),
            format!("/kubepods/pod{UID}/{ID}"),
        ] {
            let got = c(&path).unwrap();
            assert_eq!(got.runtime, Runtime::Kubernetes, "{path}");
            assert_eq!(got.id.as_deref(), Some(ID));
            assert_eq!(got.pod_uid.as_deref(), Some(UID));
        }
        let got = c(&format!("/kubepods/burstable/pod{UID}/crio-{ID}")).unwrap();
        assert_eq!(got.runtime, Runtime::Crio);
    }

    #[test]
    fn podman_and_not_its_monitor() {
        for path in [
            format!("/machine.slice/libpod-{ID}.scope"),
            format!("/machine.slice/libpod-{ID}.scope/container"),
            format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"),
            format!("/libpod_parent/libpod-{ID}"),
        ] {
            let got = c(&path).unwrap();
            assert_eq!(got.runtime, Runtime::Podman, "{path}");
            assert_eq!(got.id.as_deref(), Some(ID), "{path}");
        }
        // conmon, podman's monitor, runs beside the container, not in it.
        assert_eq!(c(&format!("/machine.slice/libpod-conmon-{ID}.scope")), None);
        assert_eq!(c(&format!("/system.slice/crio-conmon-{ID}.scope")), None);
    }

    #[test]
    fn machines_and_lxc() {
        let got = c("/machine.slice/machine-web\\x2d01.scope/payload").unwrap();
        assert_eq!(got.runtime, Runtime::Machine);
        assert_eq!(got.name, "web-01");
        assert_eq!(got.id.as_deref(), Some("web-01"));
        let got = c("/lxc.payload.db1/init.scope").unwrap();
        assert_eq!((got.runtime, got.name.as_str()), (Runtime::Lxc, "db1"));
        let got = c("/lxc/db2").unwrap();
        assert_eq!((got.runtime, got.name.as_str()), (Runtime::Lxc, "db2"));
        assert_eq!(c("/lxc.monitor.db1"), None);
    }

    #[test]
    fn host_cgroups_are_no_container() {
        for path in [
            "/",
            "",
            "/init.scope",
            "/system.slice/docker.service",
            "/system.slice/containerd.service",
            "/system.slice/docker-compose@web.service",
            "/user.slice/user-1000.slice/session-3.scope",
            "/machine.slice",
            "/kubepods.slice",
            "/kubepods.slice/kubepods-besteffort.slice",
            "/process_api/f10661c5f6e2fd787ea124fd14da7c1b",
            // Short, upper-case or non-hex ids are not a runtime's.
            "/system.slice/docker-4e1b2a7c9d0f.scope",
            "/system.slice/docker-ZZ1b2a7c9d0f3e5a6b8c7d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c.scope",
            // A bare 64-hex directory outside docker/kubepods is nobody's container.
            "/4e1b2a7c9d0f3e5a6b8c7d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c",
            // pod<uid> outside kubepods, or a uid that is not one.
            "/pod0b6f8e9c-1a2d-4e3f-9a8b-7c6d5e4f3a2b",
            "/kubepods.slice/kubepods-podnot_a_uid.slice",
        ] {
            assert_eq!(c(path), None, "{path}");
        }
    }

    #[test]
    fn proc_cgroup_v2_first_then_v1() {
        // cgroup v2 only (a modern docker host).
        let text = format!("0::/system.slice/docker-{ID}.scope\n");
        let (got, path) = from_proc_cgroup(&text).unwrap();
        assert_eq!(got.id.as_deref(), Some(ID));
        assert_eq!(path, format!("/system.slice/docker-{ID}.scope"));
        // v1 (this machine's layout): the container in the v1 hierarchies.
        let text = format!(
            "12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/\n"
        );
        let (got, _) = from_proc_cgroup(&text).unwrap();
        assert_eq!(got.runtime, Runtime::Docker);
        // Hybrid with the container only in the v2 line.
        let text =
            format!("9:name=systemd:/\n4:memory:/process_api/f1066\n0::/x/docker-{ID}.scope\n");
        assert_eq!(
            from_proc_cgroup(&text).unwrap().1,
            format!("/x/docker-{ID}.scope")
        );
        assert_eq!(proc_cgroup_paths(&text)[0], format!("/x/docker-{ID}.scope"));
        // A host process and garbage.
        assert_eq!(from_proc_cgroup("9:name=systemd:/\n0::/\n"), None);
        assert_eq!(from_proc_cgroup("garbage\n::\n0:\n"), None);
    }

    #[test]
    fn filter_matches_name_id_prefix_and_pod() {
        let mut got = c(&format!(
            "/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{ID}.scope",
            UID.replace('-', "_")
        ))
        .unwrap();
        got.name = "default/web".into();
        assert!(got.matches("default/web"));
        assert!(got.matches("4E1B2A"));
        assert!(got.matches(UID));
        assert!(got.matches("0b6f8e9c"));
        assert!(!got.matches("web"));
        assert!(!got.matches(""));
        assert!(!got.matches("1b2a"));
    }
}
