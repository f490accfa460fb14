//! Network namespaces: discovery, resolving a user's `NS` argument, and running code
//! inside a namespace.
//!
//! `setns` changes only the calling thread, and `/proc/self/net` follows the
//! thread-group leader rather than the calling thread, so [`run_in`] enters the target
//! on a dedicated thread and the work done there reads `/proc/thread-self/net/...`.
//! The main thread never changes namespace.

pub mod each;
pub mod exec;
pub mod list;

use netkit_cmds::ns::NsProblemKind;
use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use serde::Serialize;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a namespace could not be found, opened or entered. Each is one line for the
/// user; [`NetnsError::problem_kind`] says what kind of failure it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetnsError {
    #[error("empty namespace name")]
    Empty,
    #[error("bad namespace '{0}': pid:N needs a process id")]
    BadPid(String),
    #[error("unknown namespace '{spec}': no process {pid}")]
    NoProcess { spec: String, pid: u32 },
    /// The process exists but its namespace file may not be looked at: another user's
    /// process (PID 1 is root's) needs CAP_SYS_PTRACE.
    #[error(
        "cannot look at namespace '{spec}': permission denied on /proc/{pid}/ns/net \
         (process {pid} belongs to another user; that needs CAP_SYS_PTRACE: run netkit \
         as root or with sudo)"
    )]
    PidDenied { spec: String, pid: u32 },
    #[error("unknown namespace '{spec}': {why}")]
    NoSuchPath { spec: String, why: String },
    #[error(
        "unknown namespace '{spec}': not in {dir} (named namespaces: {known}; VRF names \
         tried: {tried}); use a name, pid:N or a path"
    )]
    Unknown {
        spec: String,
        dir: String,
        known: String,
        tried: String,
    },
    #[error("namespace '{spec}' is ambiguous: it matches {matches}; name one of them")]
    Ambiguous { spec: String, matches: String },
    /// It went away between listing and entering (`why` says how).
    #[error("namespace {label} vanished before netkit could enter it: {why}")]
    Vanished { label: String, why: String },
    #[error(
        "cannot enter network namespace {0}: entering a namespace needs CAP_SYS_ADMIN \
         (run netkit as root or with sudo)"
    )]
    NeedsCapSysAdmin(String),
    #[error("cannot enter {label}: {path} is not a network namespace")]
    NotANamespace { label: String, path: String },
    /// The OS refused something else (opening, listing, stat).
    #[error("{0}")]
    Io(String),
    #[error("work inside namespace {0} failed")]
    WorkerFailed(String),
}

impl NetnsError {
    /// What kind of failure this is, for views over many namespaces.
    pub fn problem_kind(&self) -> NsProblemKind {
        match self {
            NetnsError::NeedsCapSysAdmin(_) | NetnsError::PidDenied { .. } => {
                NsProblemKind::Permission
            }
            NetnsError::Vanished { .. } | NetnsError::NoProcess { .. } => NsProblemKind::Gone,
            _ => NsProblemKind::Failed,
        }
    }
}

/// Where `ip netns add` puts named namespaces (`/var/run` is a symlink to `/run`).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The label of the namespace of PID 1.
pub const HOST_LABEL: &str = "host";

/// Vendor prefixes that turn a VRF name into a namespace name: Arista EOS `ns-`,
/// Nokia SR Linux `srbase-`, Cisco IOS XR 7 `vrf-` (note netns-vrf-and-multicast.md A4).
pub const VRF_PREFIXES: [&str; 3] = ["ns-", "srbase-", "vrf-"];

/// One network namespace, identified by the (device, inode) of its nsfs file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Netns {
    /// What to show the user: a namespace name, `host`, `pid:N`, or a path.
    pub label: String,
    /// A file that refers to the namespace (`/run/netns/NAME`, `/proc/N/ns/net`, ...).
    pub path: PathBuf,
    pub dev: u64,
    pub inode: u64,
}

impl Netns {
    /// Describes `path` as a namespace labelled `label`; fails when it cannot be stat'ed.
    pub fn at(label: impl Into<String>, path: impl Into<PathBuf>) -> Result<Netns, NetnsError> {
        let label = label.into();
        let path = path.into();
        let meta = fs::metadata(&path).map_err(|e| {
            NetnsError::Io(format!(
                "namespace {label}: cannot open {}: {e}",
                path.display()
            ))
        })?;
        Ok(Netns {
            label,
            path,
            dev: meta.dev(),
            inode: meta.ino(),
        })
    }

    fn same_as(&self, other: &Netns) -> bool {
        (self.dev, self.inode) == (other.dev, other.inode)
    }

    /// Opens the namespace file and checks it is still the namespace that was listed.
    /// Between listing and entering, `ip netns del` may have removed the name (or only
    /// unmounted it, leaving an empty file), a new namespace may have taken the name,
    /// or the process behind `pid:N` may have exited and its pid gone to another
    /// process: each is "this namespace vanished", never another namespace's rows under
    /// this label. Once open, the descriptor keeps the namespace alive (the kernel frees
    /// a namespace only when nothing refers to it), so a deletion after this point does
    /// not disturb the work done inside.
    pub fn open(&self) -> Result<File, NetnsError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.vanished()),
            Err(e) => {
                return Err(NetnsError::Io(format!(
                    "cannot open namespace {} ({}): {e}",
                    self.label,
                    self.path.display()
                )))
            }
        };
        match file.metadata() {
            Ok(m) if (m.dev(), m.ino()) == (self.dev, self.inode) => Ok(file),
            Ok(_) => Err(self.vanished()),
            Err(e) => Err(NetnsError::Io(format!(
                "namespace {}: cannot stat it: {e}",
                self.label
            ))),
        }
    }

    fn vanished(&self) -> NetnsError {
        let why = if self.label.starts_with("pid:") {
            "its process exited".to_string()
        } else {
            format!(
                "{} was deleted (or now names another namespace)",
                self.path.display()
            )
        };
        NetnsError::Vanished {
            label: self.label.clone(),
            why,
        }
    }
}

/// Which namespaces a command looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The namespace netkit runs in.
    Current,
    /// One namespace, as the user wrote it (see [`resolve`]).
    One(String),
    /// The host, every named namespace and every namespace a process holds.
    All,
}

impl Selection {
    /// What the usual options ask for: `--all-netns` wins, then `--netns NS`, else the
    /// namespace netkit runs in.
    pub fn from_options(netns: Option<&str>, all_netns: bool) -> Selection {
        match (netns, all_netns) {
            (_, true) => Selection::All,
            (Some(ns), false) => Selection::One(ns.to_string()),
            (None, false) => Selection::Current,
        }
    }
}

/// (dev, inode) of the nsfs file system's files: a bind-mounted namespace file has this
/// device; a stale file left in /run/netns after its mount went away does not.
fn nsfs_dev() -> Option<u64> {
    fs::metadata("/proc/thread-self/ns/net")
        .or_else(|_| fs::metadata("/proc/self/ns/net"))
        .ok()
        .map(|m| m.dev())
}

/// Named namespaces in `dir` (normally [`NETNS_RUN_DIR`]), sorted by name. A missing
/// directory means no named namespaces; stale files (not a mounted namespace) are
/// skipped.
pub fn list_named_in(dir: &Path) -> Result<Vec<Netns>, NetnsError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(NetnsError::Io(format!(
                "cannot list {}: {e}",
                dir.display()
            )))
        }
    };
    let nsfs = nsfs_dev();
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(ns) = Netns::at(name, entry.path()) else {
            continue;
        };
        if nsfs.is_some_and(|d| d != ns.dev) {
            continue;
        }
        out.push(ns);
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(out)
}

pub fn list_named() -> Result<Vec<Netns>, NetnsError> {
    list_named_in(Path::new(NETNS_RUN_DIR))
}

/// The namespace of PID 1, labelled `host`. Where PID 1's namespace cannot be looked
/// at (a sandbox, a restricted /proc), the namespace netkit was started in stands in.
pub fn host() -> Result<Netns, NetnsError> {
    Netns::at(HOST_LABEL, "/proc/1/ns/net").or_else(|_| Netns::at(HOST_LABEL, "/proc/self/ns/net"))
}

/// The namespace this thread is in, labelled by its name when it has one.
pub fn current() -> Result<Netns, NetnsError> {
    let mut ns = Netns::at("self", "/proc/thread-self/ns/net")?;
    ns.label = label_for(&ns, Path::new(NETNS_RUN_DIR));
    Ok(ns)
}

/// A name for a namespace found some other way: `host`, its /run/netns name, or
/// `pid:N` of the current process.
fn label_for(ns: &Netns, run_dir: &Path) -> String {
    if host().is_ok_and(|h| h.same_as(ns)) {
        return HOST_LABEL.to_string();
    }
    if let Ok(named) = list_named_in(run_dir) {
        if let Some(n) = named.iter().find(|n| n.same_as(ns)) {
            return n.label.clone();
        }
    }
    format!("pid:{}", std::process::id())
}

/// Resolves the user's `NS`: `pid:N`; a path (anything with a `/`); an exact name in
/// `run_dir`; `host` (the label every view gives PID 1's namespace) and
/// `default`/`global` for the host; otherwise a VRF name by vendor convention
/// (`VRF1` finds `ns-VRF1`, `srbase-VRF1`, `vrf-VRF1`, or `vrf1`, case-insensitively).
/// Several matches are an error that lists them.
pub fn resolve_in(spec: &str, run_dir: &Path) -> Result<Netns, NetnsError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(NetnsError::Empty);
    }
    if let Some(pid) = spec.strip_prefix("pid:") {
        let pid: u32 = pid
            .parse()
            .map_err(|_| NetnsError::BadPid(spec.to_string()))?;
        let path = format!("/proc/{pid}/ns/net");
        return match fs::metadata(&path) {
            Ok(_) => Netns::at(spec, path),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Err(NetnsError::PidDenied {
                    spec: spec.to_string(),
                    pid,
                })
            }
            Err(_) => Err(NetnsError::NoProcess {
                spec: spec.to_string(),
                pid,
            }),
        };
    }
    if spec.contains('/') {
        return match fs::metadata(spec) {
            Ok(_) => Netns::at(spec, spec),
            Err(e) => Err(NetnsError::NoSuchPath {
                spec: spec.to_string(),
                why: e.to_string(),
            }),
        };
    }
    let named = list_named_in(run_dir)?;
    if let Some(ns) = named.iter().find(|n| n.label == spec) {
        return Ok(ns.clone());
    }
    // `ns list`, `ss --all-netns` and `arp --all-netns` label the root namespace
    // `host`, so a script looping over those labels must be able to name it back.
    if spec == HOST_LABEL {
        return host();
    }
    let wanted = vrf_candidates(spec);
    let matches: Vec<&Netns> = named
        .iter()
        .filter(|n| matches_vrf(&wanted, &n.label))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] if spec.eq_ignore_ascii_case("default") || spec.eq_ignore_ascii_case("global") => host(),
        [] => {
            let known: Vec<&str> = named.iter().map(|n| n.label.as_str()).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            Err(NetnsError::Unknown {
                spec: spec.to_string(),
                dir: run_dir.display().to_string(),
                known,
                tried: wanted.get(1..).unwrap_or_default().join(", "),
            })
        }
        many => {
            let names: Vec<&str> = many.iter().map(|n| n.label.as_str()).collect();
            Err(NetnsError::Ambiguous {
                spec: spec.to_string(),
                matches: names.join(", "),
            })
        }
    }
}

/// The namespace names a VRF called `spec` may have: itself, then the vendor forms.
pub fn vrf_candidates(spec: &str) -> Vec<String> {
    std::iter::once(spec.to_string())
        .chain(VRF_PREFIXES.iter().map(|p| format!("{p}{spec}")))
        .collect()
}

/// Case-insensitive, as NX-OS and IOS XR users type VRF names in either case.
fn matches_vrf(candidates: &[String], name: &str) -> bool {
    candidates.iter().any(|w| w.eq_ignore_ascii_case(name))
}

pub fn resolve(spec: &str) -> Result<Netns, NetnsError> {
    resolve_in(spec, Path::new(NETNS_RUN_DIR))
}

/// Every network namespace once, by inode: the host first, then named namespaces by
/// name, then namespaces only held by processes (labelled `pid:N`, lowest pid).
pub fn all_in(run_dir: &Path) -> Result<Vec<Netns>, NetnsError> {
    let mut out: Vec<Netns> = Vec::new();
    let push = |ns: Netns, out: &mut Vec<Netns>| {
        if !out.iter().any(|o| o.same_as(&ns)) {
            out.push(ns);
        }
    };
    match host() {
        Ok(h) => push(h, &mut out),
        Err(_) => push(current()?, &mut out),
    }
    for ns in list_named_in(run_dir)? {
        push(ns, &mut out);
    }
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .map_err(|e| NetnsError::Io(format!("cannot list /proc: {e}")))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    for pid in pids {
        // Processes come and go, and some are not ours to look at: skip those.
        if let Ok(ns) = Netns::at(format!("pid:{pid}"), format!("/proc/{pid}/ns/net")) {
            push(ns, &mut out);
        }
    }
    Ok(out)
}

pub fn all() -> Result<Vec<Netns>, NetnsError> {
    all_in(Path::new(NETNS_RUN_DIR))
}

/// What [`all`] could not see: looking at another user's process's namespace needs
/// CAP_SYS_PTRACE (the kernel's ptrace read check on /proc/N/ns), so without it a
/// namespace only such processes hold (a container) is silently missing from the
/// list. One line saying so, or `None` when every process could be looked at or the
/// capability is there (a sandbox may still hide its own init: nothing to advise).
pub fn hidden_processes_warning() -> Option<String> {
    if !crate::caps::lacks(crate::caps::Cap::SysPtrace) {
        return None;
    }
    let denied = fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
                .filter(|e| {
                    fs::metadata(e.path().join("ns/net"))
                        .is_err_and(|err| err.kind() == std::io::ErrorKind::PermissionDenied)
                })
                .count()
        })
        .unwrap_or(0);
    (denied > 0).then(|| {
        format!(
            "{} of other users {} not looked at, so namespaces only they hold (containers) \
             are not shown: that needs CAP_SYS_PTRACE (run netkit as root or with sudo)",
            netkit_cmds::output::plural(denied as u64, "process", "processes"),
            if denied == 1 { "was" } else { "were" }
        )
    })
}

/// Resolves a [`Selection`] into the namespaces to visit.
pub fn select(sel: &Selection) -> Result<Vec<Netns>, NetnsError> {
    match sel {
        Selection::Current => Ok(vec![current()?]),
        Selection::One(spec) => Ok(vec![resolve(spec)?]),
        Selection::All => all(),
    }
}

/// Runs `work` inside `ns` and returns its result. When `ns` is the namespace this
/// thread is already in, `work` runs here; otherwise a new thread enters `ns` with
/// `setns(CLONE_NEWNET)` (which needs CAP_SYS_ADMIN), runs `work` and ends, so no other
/// thread ever changes namespace. Inside `work`, read `/proc/thread-self/net/...`.
pub fn run_in<T, F>(ns: &Netns, work: F) -> Result<T, NetnsError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    if is_current(ns) {
        return Ok(work());
    }
    let file = ns.open()?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| setns_error(ns, e))?;
                Ok(work())
            })
            .join()
            .unwrap_or_else(|_| Err(NetnsError::WorkerFailed(ns.label.clone())))
    })
}

/// Moves the calling thread into `ns` for the rest of its life. Only for threads
/// netkit starts to work in one namespace (they end with that work); everything else
/// uses [`run_in`], which leaves the caller where it was. Unlike `run_in` this leaves
/// no helper thread behind holding the capabilities it entered with.
pub fn enter_for_good(ns: &Netns) -> Result<(), NetnsError> {
    if is_current(ns) {
        return Ok(());
    }
    setns(&ns.open()?, CloneFlags::CLONE_NEWNET).map_err(|e| setns_error(ns, e))
}

/// Whether the calling thread is in `ns` already.
pub fn is_current(ns: &Netns) -> bool {
    fs::metadata("/proc/thread-self/ns/net").is_ok_and(|m| (m.dev(), m.ino()) == (ns.dev, ns.inode))
}

fn setns_error(ns: &Netns, e: Errno) -> NetnsError {
    match e {
        Errno::EPERM => NetnsError::NeedsCapSysAdmin(ns.label.clone()),
        Errno::EINVAL => NetnsError::NotANamespace {
            label: ns.label.clone(),
            path: ns.path.display().to_string(),
        },
        other => NetnsError::Io(format!(
            "cannot enter network namespace {}: {}",
            ns.label,
            other.desc()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("nk-netns-test-{}", std::process::id()));
        let _ = fs::create_dir_all(&d);
        d
    }

    #[test]
    fn pid_and_path_specs() {
        let me = std::process::id();
        let ns = resolve_in(&format!("pid:{me}"), &empty_dir()).unwrap();
        assert_eq!(ns.label, format!("pid:{me}"));
        assert_eq!(ns.path, PathBuf::from(format!("/proc/{me}/ns/net")));
        let by_path = resolve_in("/proc/self/ns/net", &empty_dir()).unwrap();
        assert_eq!((by_path.dev, by_path.inode), (ns.dev, ns.inode));
        assert_eq!(
            resolve_in("pid:abc", &empty_dir()).unwrap_err().to_string(),
            "bad namespace 'pid:abc': pid:N needs a process id"
        );
        assert_eq!(
            resolve_in("pid:4294967295", &empty_dir())
                .unwrap_err()
                .to_string(),
            "unknown namespace 'pid:4294967295': no process 4294967295"
        );
        assert_eq!(
            resolve_in("/nonexistent/ns", &empty_dir())
                .unwrap_err()
                .to_string(),
            "unknown namespace '/nonexistent/ns': No such file or directory (os error 2)"
        );
    }

    #[test]
    fn unknown_name_is_one_clear_line() {
        let dir = empty_dir();
        let e = resolve_in("VRF9", &dir).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "unknown namespace 'VRF9': not in {} (named namespaces: none; VRF names \
                 tried: ns-VRF9, srbase-VRF9, vrf-VRF9); use a name, pid:N or a path",
                dir.display()
            )
        );
        assert!(!e.contains('\n'));
        // "default" falls back to the host namespace when no namespace has that name.
        assert_eq!(resolve_in("default", &dir).unwrap().label, HOST_LABEL);
        // `host`, the label of the root namespace in every view, names it back.
        let h = resolve_in("host", &dir).unwrap();
        assert_eq!(h.label, HOST_LABEL);
        assert_eq!((h.dev, h.inode), {
            let want = host().unwrap();
            (want.dev, want.inode)
        });
    }

    #[test]
    fn vrf_conventions() {
        let c = vrf_candidates("VRF1");
        assert_eq!(c, ["VRF1", "ns-VRF1", "srbase-VRF1", "vrf-VRF1"]);
        for name in ["ns-VRF1", "srbase-VRF1", "vrf-VRF1", "vrf1", "NS-vrf1"] {
            assert!(matches_vrf(&c, name), "{name}");
        }
        for name in ["ns-VRF10", "xns-VRF1", "VRF", "srbase-default"] {
            assert!(!matches_vrf(&c, name), "{name}");
        }
    }

    #[test]
    fn a_listed_namespace_that_changed_or_went_is_vanished() {
        let me = current().unwrap();
        assert!(me.open().is_ok());
        // Same path, another inode: the name now refers to another namespace.
        let replaced = Netns {
            inode: me.inode.wrapping_add(1),
            ..me.clone()
        };
        let e = replaced.open().unwrap_err().to_string();
        assert!(e.starts_with(&format!(
            "namespace {} vanished before netkit could enter it: ",
            me.label
        )));
        let gone = Netns {
            label: "pid:4294967295".into(),
            path: "/proc/4294967295/ns/net".into(),
            ..me.clone()
        };
        assert_eq!(
            gone.open().unwrap_err().to_string(),
            "namespace pid:4294967295 vanished before netkit could enter it: its process exited"
        );
        assert!(run_in(&replaced, || ()).is_err());
    }

    #[test]
    fn current_thread_runs_in_place() {
        let cur = current().unwrap();
        let tid_outside = std::thread::current().id();
        let tid_inside = run_in(&cur, || std::thread::current().id()).unwrap();
        assert_eq!(tid_inside, tid_outside);
    }

    #[test]
    fn all_lists_each_namespace_once() {
        let all = all_in(&empty_dir()).unwrap();
        let mut ids: Vec<(u64, u64)> = all.iter().map(|n| (n.dev, n.inode)).collect();
        let before = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), before);
        let cur = current().unwrap();
        assert!(all.iter().any(|n| n.same_as(&cur)));
    }
}
