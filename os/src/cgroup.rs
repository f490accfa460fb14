//! Containers of processes, from the file system: `/proc/PID/cgroup` read and parsed
//! (`netkit_cmds::top::container`), the container named from what its runtime leaves
//! on disk, and cgroup ids (what BPF's `bpf_get_current_cgroup_id` returns) turned back
//! into cgroup paths for processes that are already gone.
//!
//! Names, cheapest first and only from files (no runtime API, no socket):
//! - docker: `/var/lib/docker/containers/<id>/config.v2.json`, key `Name` (`/web`);
//! - podman (root): `/var/lib/containers/storage/<driver>-containers/containers.json`
//!   (`overlay`, `vfs`, ...), one array of `{id, names}` for every container;
//! - a Kubernetes pod: the kubelet's log directory `/var/log/pods/<ns>_<pod>_<uid>`
//!   gives `ns/pod` (the containers of one pod share its name, as they share its
//!   network namespace);
//! - otherwise the short id.

use netkit_cmds::top::container::{self, Container, Runtime};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Containers (and misses) remembered per cgroup path before the cache starts over.
const MAX_CONTAINERS: usize = 4096;

/// Where the runtimes keep what names a container. Fields so tests can point them at
/// a directory of their own.
#[derive(Clone, Debug)]
pub struct RuntimeDirs {
    pub docker: PathBuf,
    /// containers/storage's root: `<driver>-containers/containers.json` under it.
    pub podman_storage: PathBuf,
    pub kubelet_pod_logs: PathBuf,
}

impl Default for RuntimeDirs {
    fn default() -> RuntimeDirs {
        RuntimeDirs {
            docker: "/var/lib/docker/containers".into(),
            podman_storage: "/var/lib/containers/storage".into(),
            kubelet_pod_logs: "/var/log/pods".into(),
        }
    }
}

/// Process -> container, with the container's name looked up once per cgroup.
#[derive(Debug, Default)]
pub struct Containers {
    dirs: RuntimeDirs,
    /// cgroup path -> its container (`None`: no container), shared by every process in
    /// it so a thousand processes of one container cost one name lookup.
    by_path: HashMap<String, Option<Arc<Container>>>,
    /// Times the cache was full and started over (shown by tests and benches).
    pub restarts: u64,
}

impl Containers {
    pub fn new(dirs: RuntimeDirs) -> Containers {
        Containers {
            dirs,
            ..Containers::default()
        }
    }

    /// The container of process `pid` under `proc_root` (normally `/proc`), `None` for
    /// a process in no container or one that is gone.
    pub fn of_pid(&mut self, proc_root: &Path, pid: i32) -> Option<Arc<Container>> {
        let text = fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
        self.of_proc_cgroup(&text)
    }

    /// The container of a `/proc/PID/cgroup` text.
    pub fn of_proc_cgroup(&mut self, text: &str) -> Option<Arc<Container>> {
        for path in container::proc_cgroup_paths(text) {
            if let Some(c) = self.of_cgroup_path(path) {
                return Some(c);
            }
        }
        None
    }

    /// The container a cgroup path names, named from the runtime's files.
    pub fn of_cgroup_path(&mut self, path: &str) -> Option<Arc<Container>> {
        if let Some(known) = self.by_path.get(path) {
            return known.clone();
        }
        if self.by_path.len() >= MAX_CONTAINERS {
            self.by_path.clear();
            self.restarts += 1;
        }
        let found = container::from_cgroup_path(path).map(|mut c| {
            if let Some(name) = name_of(&self.dirs, &c) {
                c.name = name;
            }
            Arc::new(c)
        });
        self.by_path.insert(path.to_string(), found.clone());
        found
    }
}

/// The runtime's own name for the container, when it keeps one in a file.
fn name_of(dirs: &RuntimeDirs, c: &Container) -> Option<String> {
    if let Some(uid) = &c.pod_uid {
        if let Some(pod) = kubelet_pod_name(&dirs.kubelet_pod_logs, uid) {
            return Some(pod);
        }
    }
    let id = c.id.as_deref()?;
    match c.runtime {
        Runtime::Docker => docker_name(&dirs.docker, id),
        Runtime::Podman => podman_name(&dirs.podman_storage, id),
        _ => None,
    }
}

/// `Name` of docker's config.v2.json, without docker's leading `/`.
fn docker_name(dir: &Path, id: &str) -> Option<String> {
    let text = fs::read(dir.join(id).join("config.v2.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let name = v.get("Name")?.as_str()?.trim_start_matches('/');
    (!name.is_empty()).then(|| name.to_string())
}

/// The first of `names` of the entry with this id in the containers.json of any of
/// containers/storage's drivers (one directory per driver used).
fn podman_name(storage: &Path, id: &str) -> Option<String> {
    fs::read_dir(storage).ok()?.flatten().find_map(|e| {
        if !e.file_name().to_str()?.ends_with("-containers") {
            return None;
        }
        let text = fs::read(e.path().join("containers.json")).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
        v.as_array()?
            .iter()
            .find(|c| c.get("id").and_then(|i| i.as_str()) == Some(id))?
            .get("names")?
            .as_array()?
            .first()?
            .as_str()
            .map(str::to_string)
    })
}

/// `ns/pod` from the kubelet's `/var/log/pods/<ns>_<pod>_<uid>` directory.
fn kubelet_pod_name(dir: &Path, uid: &str) -> Option<String> {
    let suffix = format!("_{uid}");
    fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_str()?.to_string();
        let (ns, pod) = name.strip_suffix(&suffix)?.split_once('_')?;
        Some(format!("{ns}/{pod}"))
    })
}

/// Mount points of cgroup2 file systems in a `/proc/self/mountinfo` text.
pub fn cgroup2_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            if post.split_whitespace().next()? != "cgroup2" {
                return None;
            }
            // Field 5 is the mount point, with spaces and the like as \040 octal.
            let point = pre.split_whitespace().nth(4)?;
            Some(PathBuf::from(unescape_mount(point)))
        })
        .collect()
}

fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
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

/// The cgroup id of the cgroup2 directory `dir`: on cgroup2 a directory's inode number
/// is the id BPF programs see (`bpf_get_current_cgroup_id`, `bpf_skb_cgroup_id`).
pub fn cgroup_id(dir: &Path) -> std::io::Result<u64> {
    Ok(fs::metadata(dir)?.ino())
}

/// Entries kept by [`CgroupPaths`] before it starts over.
const MAX_CGROUP_PATHS: usize = 65_536;
/// Directories one walk looks at, at most: a host with more cgroups than this is
/// partly walked, and the ids it did not reach stay unknown (counted in `truncated`).
const MAX_WALK: usize = 200_000;
/// A miss walks the tree again only this long after the last walk: ids that no longer
/// exist (the cgroup was removed) must not cost a walk each.
const MIN_WALK_GAP: Duration = Duration::from_millis(50);

/// cgroup id -> cgroup path (relative to the cgroup2 root, `/system.slice/x.scope`),
/// for a process that exited before anyone read its `/proc/PID/cgroup`. A bounded
/// cache filled by walking the cgroup2 tree on a miss.
#[derive(Debug)]
pub struct CgroupPaths {
    root: PathBuf,
    paths: HashMap<u64, String>,
    last_walk: Option<Instant>,
    /// Walks made, times the cache started over, walks cut at [`MAX_WALK`].
    pub walks: u64,
    pub restarts: u64,
    pub truncated: u64,
}

impl CgroupPaths {
    /// On the cgroup2 tree mounted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> CgroupPaths {
        CgroupPaths {
            root: root.into(),
            paths: HashMap::new(),
            last_walk: None,
            walks: 0,
            restarts: 0,
            truncated: 0,
        }
    }

    /// On the first cgroup2 mount of this process's mount namespace; `None` when there
    /// is none (a cgroup v1 only host: BPF cgroup ids are cgroup2 ids, so nothing to map).
    pub fn open() -> Option<CgroupPaths> {
        let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
        cgroup2_mounts(&info)
            .into_iter()
            .next()
            .map(CgroupPaths::at)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of cgroup `id`, walking the tree when it is not known yet.
    pub fn path(&mut self, id: u64) -> Option<String> {
        if let Some(p) = self.paths.get(&id) {
            return Some(p.clone());
        }
        if self.last_walk.is_some_and(|t| t.elapsed() < MIN_WALK_GAP) {
            return None;
        }
        self.walk();
        self.paths.get(&id).cloned()
    }

    /// The container of cgroup `id` (see [`Containers::of_cgroup_path`]).
    pub fn container(&mut self, id: u64, containers: &mut Containers) -> Option<Arc<Container>> {
        let path = self.path(id)?;
        containers.of_cgroup_path(&path)
    }

    fn walk(&mut self) {
        self.walks += 1;
        self.last_walk = Some(Instant::now());
        if self.paths.len() >= MAX_CGROUP_PATHS {
            self.paths.clear();
            self.restarts += 1;
        }
        let mut stack = vec![(self.root.clone(), String::new())];
        let mut seen = 0usize;
        while let Some((dir, rel)) = stack.pop() {
            seen += 1;
            if seen > MAX_WALK {
                self.truncated += 1;
                return;
            }
            let Ok(meta) = fs::metadata(&dir) else {
                continue; // removed while walking
            };
            if self.paths.len() < MAX_CGROUP_PATHS {
                let shown = if rel.is_empty() {
                    "/".to_string()
                } else {
                    rel.clone()
                };
                self.paths.insert(meta.ino(), shown);
            }
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let name = e.file_name().to_string_lossy().into_owned();
                    stack.push((e.path(), format!("{rel}/{name}")));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const UID: &str = "6e0c3f0e-4f3b-4c1e-8a57-1f5d2e9b0c11";

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("nk15c-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn names_from_docker_podman_and_kubelet_files() {
        let t = TempDir::new("names");
        let dirs = RuntimeDirs {
            docker: t.0.join("docker"),
            podman_storage: t.0.join("storage"),
            kubelet_pod_logs: t.0.join("pods"),
        };
        fs::create_dir_all(dirs.docker.join(ID)).unwrap();
        fs::write(
            dirs.docker.join(ID).join("config.v2.json"),
            format!(r#"{{"ID":"{ID}","Name":"/web-1","State":{{"Pid":4242}}}}"#),
        )
        .unwrap();
        let other = ID.replace('9', "8");
        fs::create_dir_all(dirs.podman_storage.join("vfs-containers")).unwrap();
        fs::write(
            dirs.podman_storage.join("vfs-containers/containers.json"),
            format!(
                r#"[{{"id":"{ID}","names":["db"]}},{{"id":"{other}","names":["cache","c2"]}}]"#
            ),
        )
        .unwrap();
        fs::create_dir_all(
            dirs.kubelet_pod_logs
                .join(format!("shop_cart-7d4b9_{UID}/app")),
        )
        .unwrap();
        let mut c = Containers::new(dirs);
        let docker = c
            .of_proc_cgroup(&format!("0::/system.slice/docker-{ID}.scope\n"))
            .unwrap();
        assert_eq!(docker.name, "web-1");
        let podman = c
            .of_cgroup_path(&format!("/machine.slice/libpod-{other}.scope/container"))
            .unwrap();
        assert_eq!(podman.name, "cache");
        let pod = c
            .of_cgroup_path(&format!(
                "/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{ID}.scope",
                UID.replace('-', "_")
            ))
            .unwrap();
        assert_eq!(pod.name, "shop/cart-7d4b9");
        assert_eq!(pod.pod_uid.as_deref(), Some(UID));
        // No file: the short id. Broken file: the short id, no panic.
        let unnamed = c.of_cgroup_path(&format!("/docker/{other}")).unwrap();
        assert_eq!(unnamed.name, &other[..12]);
        fs::create_dir_all(t.0.join("broken/overlay-containers")).unwrap();
        fs::write(
            t.0.join("broken/overlay-containers/containers.json"),
            "[{\"id\":",
        )
        .unwrap();
        let mut broken = Containers::new(RuntimeDirs {
            podman_storage: t.0.join("broken"),
            ..RuntimeDirs::default()
        });
        let p = broken
            .of_cgroup_path(&format!("/libpod_parent/libpod-{ID}"))
            .unwrap();
        assert_eq!(p.name, &ID[..12]);
        // One lookup per cgroup: the same Arc for every process in it.
        let again = c
            .of_proc_cgroup(&format!("0::/system.slice/docker-{ID}.scope\n"))
            .unwrap();
        assert!(Arc::ptr_eq(&docker, &again));
        assert_eq!(c.of_proc_cgroup("0::/user.slice\n"), None);
    }

    #[test]
    fn this_process_cgroup_is_read() {
        // Whatever this machine puts us in, reading and parsing must not fail; a CI
        // runner in docker is a container, a plain host is not.
        let mut c = Containers::default();
        let me = std::process::id() as i32;
        let text = fs::read_to_string("/proc/self/cgroup").unwrap();
        assert_eq!(c.of_pid(Path::new("/proc"), me), c.of_proc_cgroup(&text));
        assert_eq!(c.of_pid(Path::new("/proc"), -1), None);
    }

    #[test]
    fn mountinfo_cgroup2_lines() {
        let info = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
            90 22 0:38 / /tmp/my\\040cg rw,relatime shared:5 - cgroup2 none rw\n";
        assert_eq!(
            cgroup2_mounts(info),
            vec![
                PathBuf::from("/sys/fs/cgroup/unified"),
                PathBuf::from("/tmp/my cg")
            ]
        );
        assert!(cgroup2_mounts("garbage\n - \n").is_empty());
    }

    #[test]
    fn ids_map_to_paths_by_walking_a_tree() {
        // Any directory tree stands in for cgroup2 here: ids are inode numbers.
        let t = TempDir::new("walk");
        let deep = t.0.join("system.slice").join(format!("docker-{ID}.scope"));
        fs::create_dir_all(&deep).unwrap();
        fs::create_dir_all(t.0.join("user.slice")).unwrap();
        let mut paths = CgroupPaths::at(&t.0);
        let id = cgroup_id(&deep).unwrap();
        assert_eq!(
            paths.path(id).as_deref(),
            Some(format!("/system.slice/docker-{ID}.scope").as_str())
        );
        assert_eq!(paths.path(cgroup_id(&t.0).unwrap()).as_deref(), Some("/"));
        assert_eq!(paths.walks, 1, "the second id came from the same walk");
        let mut containers = Containers::default();
        let c = paths.container(id, &mut containers).unwrap();
        assert_eq!(c.id.as_deref(), Some(ID));
        // A cgroup made after the walk is found by the next walk (after the gap).
        let later = t.0.join("later.scope");
        fs::create_dir(&later).unwrap();
        std::thread::sleep(MIN_WALK_GAP);
        assert_eq!(
            paths.path(cgroup_id(&later).unwrap()).as_deref(),
            Some("/later.scope")
        );
        assert_eq!(paths.walks, 2);
        // Unknown ids right after a walk do not walk again.
        assert_eq!(paths.path(u64::MAX), None);
        assert_eq!(paths.walks, 2);
    }
}
