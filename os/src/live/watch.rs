//! Faults while `top` runs: a namespace deleted, an interface gone, a capture that
//! failed. Each stops only the capture it concerns and leaves one [`Notice`]; every
//! other namespace keeps counting. With `--all-netns`, namespaces created after the
//! start are picked up too.
//!
//! A capture thread cannot notice on its own that its namespace was deleted: being
//! inside it keeps it alive, and it just sees no more frames. So a watch thread looks
//! once a second: the namespace file (`/run/netns/NAME`, `/proc/N/ns/net`, ...) must
//! still name the same (device, inode) as at the start, or, under `--all-netns`, the
//! namespace must still be among those `netns::all` finds (a named namespace whose name
//! was removed but that a process still runs in is alive). For `-i IFACE` it asks the
//! namespace's own netlink socket (opened inside it at the start) whether the interface
//! index still exists.

use super::top::{capture_loop, MonitorOptions};
use super::{attribution, LiveError};
use crate::caps::Cap;
use crate::capture::ring;
use crate::lock;
use crate::netlink as nldump;
use crate::netns::{self, Netns};
use netkit_cmds::top::engine::{Engine, FlowKey};
pub use netkit_cmds::top::report::{Notice, NoticeKind};
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most notices kept for readers that have not caught up.
const MAX_NOTICES: usize = 1000;

/// The notices so far, read with a cursor so each reader sees each notice once.
#[derive(Debug, Default)]
pub struct Notices {
    log: Mutex<(VecDeque<Notice>, u64)>,
}

impl Notices {
    pub fn push(&self, notice: Notice) {
        let mut log = lock(&self.log);
        if log.0.len() >= MAX_NOTICES {
            log.0.pop_front();
            log.1 += 1;
        }
        log.0.push_back(notice);
    }

    /// Notices after `cursor` (0 at first), advancing it.
    pub fn since(&self, cursor: &mut u64) -> Vec<Notice> {
        let log = lock(&self.log);
        let (items, first) = (&log.0, log.1);
        let skip = cursor.saturating_sub(first) as usize;
        let new: Vec<Notice> = items.iter().skip(skip).cloned().collect();
        *cursor = first + items.len() as u64;
        new
    }

    /// The newest notice.
    pub fn last(&self) -> Option<Notice> {
        lock(&self.log).0.back().cloned()
    }
}

/// An `-i` interface of one namespace.
struct Wanted {
    name: String,
    ifindex: u32,
    gone: bool,
}

/// What `capture_loop` offers the rest of `top` besides counting: a copy of each frame
/// for the `--write` ring.
pub(super) struct Hooks {
    pub(super) ring: Option<ring::RingWriter>,
}

/// The capture and attribution threads of one namespace.
pub(super) struct Capture {
    pub(super) ns: Netns,
    pub(super) idx: u32,
    stop: Arc<AtomicBool>,
    /// Set by the capture thread as it ends: `Err` when it failed.
    outcome: Arc<Mutex<Option<Result<(), LiveError>>>>,
    attribution_error: Arc<Mutex<Option<LiveError>>>,
    threads: Vec<JoinHandle<()>>,
    /// NETLINK_ROUTE socket opened inside the namespace (it stays bound to it).
    route: Option<netlink_sys::Socket>,
    /// NETLINK_SOCK_DIAG socket opened inside the namespace: the BPF path reads the
    /// listeners already there through it, after the capabilities are dropped.
    pub(super) diag: Option<netlink_sys::Socket>,
    wanted: Vec<Wanted>,
    /// ifindex -> name, for naming the interfaces of a `--write` dump.
    pub(super) links: HashMap<u32, String>,
    /// ifindex -> bytes of its link header on the wire (14 on Ethernet and loopback,
    /// 0 on tun-like devices), which the BPF path's IP-length counts lack.
    pub(super) link_headers: HashMap<u32, u64>,
    pub(super) active: bool,
    /// The namespace is gone (its inode may be reused by a new one).
    gone: bool,
    /// The attribution thread's queue, for the BPF path's sockets without a
    /// recorded process (dropped with the capture, which ends the thread).
    pub(super) lookup: Option<mpsc::Sender<(FlowKey, i64)>>,
    /// The namespace's netns cookie (how the BPF programs name it).
    pub(super) netns_cookie: Option<u64>,
}

impl Capture {
    fn halt(&mut self) {
        // capture_loop looks at it at least every 100 ms.
        self.stop.store(true, Ordering::Relaxed);
        self.active = false;
        // The socket would keep the namespace alive.
        self.route = None;
        self.diag = None;
        self.lookup = None;
    }

    fn refresh_links(&mut self) {
        if let Some(sock) = &self.route {
            if let Ok(links) = nldump::Links::dump(sock) {
                for (i, l) in links.0 {
                    self.link_headers.insert(i, link_header(l.arphrd));
                    self.links.insert(i, l.name);
                }
            }
        }
    }

    pub(super) fn stop_and_join(&mut self) {
        self.halt();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What every capture shares.
pub(super) struct Context {
    pub(super) engine: Arc<Mutex<Engine>>,
    pub(super) opts: MonitorOptions,
    pub(super) ring: Option<Arc<ring::Ring>>,
}

const RTM_GETLINK: u16 = 18;

/// Bytes of the link header a frame of link type `arphrd` carries on the wire, as
/// the packet path counts them (classify.rs).
pub(super) fn link_header(arphrd: u16) -> u64 {
    const ARPHRD_ETHER: u16 = 1;
    const ARPHRD_LOOPBACK: u16 = 772;
    match arphrd {
        ARPHRD_ETHER | ARPHRD_LOOPBACK => 14,
        _ => 0,
    }
}

/// Whether interface `ifindex` still exists in the socket's namespace (a failed
/// request other than "no such device" counts as present: only a clear answer stops a
/// capture).
fn link_exists(sock: &netlink_sys::Socket, ifindex: u32) -> bool {
    // struct ifinfomsg: family, pad, type (u16), index (i32), flags, change.
    let mut body = [0u8; 16];
    body[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    const ENODEV: i32 = 19;
    !matches!(
        nldump::request(sock, RTM_GETLINK, &body),
        Err(nldump::DumpError::Kernel(ENODEV))
    )
}

/// Opens the capture of namespace `ns` (counted as namespace `idx` of the engine):
/// the capture thread and, once the capture is open, the attribution thread, both
/// inside the namespace. Fails with one line when the capture cannot be opened.
pub(super) fn spawn(ctx: &Context, ns: &Netns, idx: u32) -> Result<Capture, LiveError> {
    let label = ns.label.clone();
    // The netns cookie is taken whatever happens to the route socket: without it the
    // BPF path could not tell this namespace's traffic.
    let mut netns_cookie = None;
    let mut diag = None;
    let route = netns::run_in(ns, || {
        netns_cookie = crate::bpf::top::current_netns_cookie();
        diag = nldump::open(nldump::NETLINK_SOCK_DIAG).ok();
        let sock = nldump::open(nldump::NETLINK_ROUTE)?;
        let links = nldump::Links::dump(&sock)?;
        Ok::<_, LiveError>((sock, links))
    })
    .map_err(LiveError::from)
    .and_then(|r| r);
    let mut wanted = Vec::new();
    let mut link_headers = HashMap::new();
    let (route, links) = match route {
        Ok((sock, links)) => {
            for name in &ctx.opts.interfaces {
                let ifindex = links
                    .0
                    .iter()
                    .find(|(_, l)| &l.name == name)
                    .map(|(i, _)| *i)
                    .ok_or_else(|| LiveError::NoInterface {
                        name: name.clone(),
                        place: format!("namespace {label}"),
                    })?;
                wanted.push(Wanted {
                    name: name.clone(),
                    ifindex,
                    gone: false,
                });
            }
            link_headers = links
                .0
                .iter()
                .map(|(i, l)| (*i, link_header(l.arphrd)))
                .collect();
            let names = links.0.into_iter().map(|(i, l)| (i, l.name)).collect();
            (Some(sock), names)
        }
        // Without -i the socket only names interfaces in dumps: do without it.
        Err(_) if ctx.opts.interfaces.is_empty() => (None, HashMap::new()),
        Err(e) => {
            return Err(LiveError::InNamespace {
                label,
                err: Box::new(e),
            })
        }
    };
    let (lookup_tx, lookup_rx) = mpsc::channel::<(FlowKey, i64)>();
    let kernel_lookup = ctx.opts.kernel_counts.then(|| lookup_tx.clone());
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), LiveError>>();
    let stop = Arc::new(AtomicBool::new(false));
    let outcome = Arc::new(Mutex::new(None));
    let mut threads = Vec::new();
    {
        let ns = ns.clone();
        let engine = ctx.engine.clone();
        let stop = stop.clone();
        let outcome = outcome.clone();
        let opts = ctx.opts.clone();
        let hooks = Hooks {
            ring: ctx.ring.as_ref().map(|r| r.writer(idx)),
        };
        threads.push(std::thread::spawn(move || {
            // This thread lives in the namespace (no helper thread left behind with
            // the capabilities it entered with); capture_loop drops them all once its
            // captures are open.
            let result = netns::enter_for_good(&ns)
                .map_err(LiveError::from)
                .and_then(|()| {
                    capture_loop(idx, &opts, &engine, &stop, &lookup_tx, &ready_tx, &hooks)
                });
            if let Err(e) = &result {
                let _ = ready_tx.send(Err(e.clone()));
            }
            // Hang up on the attribution thread and hand the last frames to the ring.
            drop(lookup_tx);
            drop(hooks);
            *lock(&outcome) = Some(result);
        }));
    }
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        Err(_) => return Err(LiveError::CaptureThread(label)),
    }
    let attribution_error = Arc::new(Mutex::new(None));
    {
        let ns = ns.clone();
        let engine = ctx.engine.clone();
        let failed = attribution_error.clone();
        threads.push(std::thread::spawn(move || {
            let label = ns.label.clone();
            let run = netns::enter_for_good(&ns)
                .map_err(LiveError::from)
                .and_then(|()| attribution::run(&label, &lookup_rx, &engine));
            if let Err(e) = run {
                *lock(&failed) = Some(e);
            }
        }));
    }
    Ok(Capture {
        ns: ns.clone(),
        idx,
        stop,
        outcome,
        attribution_error,
        threads,
        route,
        diag,
        wanted,
        links,
        active: true,
        gone: false,
        lookup: kernel_lookup,
        netns_cookie,
        link_headers,
    })
}

/// Whether the namespace a capture was opened in still exists: its file still names
/// it, or (the file is gone, e.g. `ip netns del` while a process still runs in it)
/// some process still holds it.
fn still_there(ns: &Netns) -> bool {
    let same = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == (ns.dev, ns.inode))
    };
    if same(&ns.path) {
        return true;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .any(|e| same(&e.path().join("ns/net")))
}

fn gone_message(ns: &Netns) -> String {
    if ns.label.starts_with("pid:") {
        format!(
            "namespace {} is gone (its processes exited); stopped counting it",
            ns.label
        )
    } else {
        format!("namespace {} was deleted; stopped counting it", ns.label)
    }
}

/// The captures of a [`super::Monitor`] and the watch over them.
pub(super) struct Watch {
    pub(super) captures: Mutex<Vec<Capture>>,
    pub(super) notices: Arc<Notices>,
    pub(super) ctx: Context,
    /// Pick up namespaces created after the start.
    all_netns: bool,
    /// Namespaces (dev, inode) that could not be watched: not tried again.
    skipped: Mutex<HashSet<(u64, u64)>>,
}

/// How often the watch looks.
const EVERY: Duration = Duration::from_secs(1);
/// Interface names for dumps are refreshed every this many rounds.
const LINK_NAMES_EVERY: u64 = 5;

impl Watch {
    pub(super) fn new(ctx: Context, notices: Arc<Notices>, all_netns: bool) -> Watch {
        Watch {
            captures: Mutex::new(Vec::new()),
            notices,
            ctx,
            all_netns,
            skipped: Mutex::new(HashSet::new()),
        }
    }

    pub(super) fn captures(&self) -> MutexGuard<'_, Vec<Capture>> {
        lock(&self.captures)
    }

    fn notice(&self, ns: &Netns, kind: NoticeKind, message: String) {
        self.notices.push(Notice {
            netns: ns.label.clone(),
            kind,
            message,
        });
    }

    /// Looks once a second until `stop` is set.
    pub(super) fn run(&self, stop: &AtomicBool) {
        // What this thread keeps: under --all-netns, entering and capturing in new
        // namespaces (threads inherit it) and seeing every process's namespace;
        // otherwise only the latter (is a deleted namespace still held by a process?).
        let keep: &[Cap] = if self.all_netns {
            &[
                Cap::SysAdmin,
                Cap::NetRaw,
                Cap::SysPtrace,
                Cap::DacReadSearch,
            ]
        } else {
            &[Cap::SysPtrace, Cap::DacReadSearch]
        };
        if let Err(e) = crate::caps::keep_only(keep) {
            self.notices.push(Notice {
                netns: String::new(),
                kind: NoticeKind::CaptureFailed,
                message: format!("watch: {e}"),
            });
        }
        let step = Duration::from_millis(50);
        let mut round = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut waited = Duration::ZERO;
            while waited < EVERY && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(step);
                waited += step;
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            round += 1;
            self.check(round);
        }
    }

    /// One look at every capture, and (`--all-netns`) for new namespaces.
    pub(super) fn check(&self, round: u64) {
        let live: Option<HashMap<(u64, u64), Netns>> = if self.all_netns {
            netns::all()
                .ok()
                .map(|v| v.into_iter().map(|n| ((n.dev, n.inode), n)).collect())
        } else {
            None
        };
        let mut caps = self.captures();
        for cap in caps.iter_mut().filter(|c| c.active) {
            let outcome = lock(&cap.outcome).take();
            if let Some(outcome) = outcome {
                let why = match outcome {
                    Err(e) => e.to_string(),
                    Ok(()) => "the capture ended".to_string(),
                };
                cap.halt();
                self.notice(
                    &cap.ns,
                    NoticeKind::CaptureFailed,
                    format!(
                        "capture in namespace {} failed: {why}; stopped counting it",
                        cap.ns.label
                    ),
                );
                continue;
            }
            let alive = match &live {
                Some(live) => live.contains_key(&(cap.ns.dev, cap.ns.inode)),
                None => still_there(&cap.ns),
            };
            if !alive {
                cap.halt();
                cap.gone = true;
                self.notice(&cap.ns, NoticeKind::NetnsGone, gone_message(&cap.ns));
                continue;
            }
            let attribution_error = lock(&cap.attribution_error).take();
            if let Some(e) = attribution_error {
                self.notice(
                    &cap.ns,
                    NoticeKind::AttributionFailed,
                    format!("{e}; its traffic stays unattributed"),
                );
            }
            let mut newly_gone = Vec::new();
            if let Some(sock) = &cap.route {
                for w in cap.wanted.iter_mut().filter(|w| !w.gone) {
                    if !link_exists(sock, w.ifindex) {
                        w.gone = true;
                        newly_gone.push(w.name.clone());
                    }
                }
            }
            if !newly_gone.is_empty() {
                let left: Vec<&str> = cap
                    .wanted
                    .iter()
                    .filter(|w| !w.gone)
                    .map(|w| w.name.as_str())
                    .collect();
                let what = if left.is_empty() {
                    cap.halt();
                    "stopped counting it".to_string()
                } else {
                    format!("still counting {}", left.join(", "))
                };
                for name in newly_gone {
                    let message = format!(
                        "interface {name} disappeared from namespace {}; {what}",
                        cap.ns.label
                    );
                    self.notice(&cap.ns, NoticeKind::InterfaceGone, message);
                }
                continue;
            }
            let wants_links = self.ctx.ring.is_some() || self.ctx.opts.kernel_counts;
            if wants_links && round.is_multiple_of(LINK_NAMES_EVERY) {
                cap.refresh_links();
            }
        }
        let Some(live) = live else {
            return;
        };
        let mut fresh: Vec<Netns> = live
            .into_iter()
            .filter(|(id, _)| {
                !caps
                    .iter()
                    .any(|c| !c.gone && (c.ns.dev, c.ns.inode) == *id)
            })
            .filter(|(id, _)| !lock(&self.skipped).contains(id))
            .map(|(_, ns)| ns)
            .collect();
        fresh.sort_by(|a, b| a.label.cmp(&b.label));
        for ns in fresh {
            let idx = {
                let mut e = lock(&self.ctx.engine);
                e.netns.push(ns.label.clone());
                u32::try_from(e.netns.len() - 1).unwrap_or(u32::MAX)
            };
            match spawn(&self.ctx, &ns, idx) {
                Ok(cap) => {
                    caps.push(cap);
                    self.notice(
                        &ns,
                        NoticeKind::NetnsAdded,
                        format!("namespace {} appeared; counting it", ns.label),
                    );
                }
                Err(e) => {
                    lock(&self.skipped).insert((ns.dev, ns.inode));
                    self.notice(
                        &ns,
                        NoticeKind::NetnsSkipped,
                        format!("cannot watch new namespace {}: {e}", ns.label),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(msg: &str) -> Notice {
        Notice {
            netns: "x".into(),
            kind: NoticeKind::NetnsGone,
            message: msg.into(),
        }
    }

    #[test]
    fn each_reader_sees_each_notice_once_and_the_log_is_bounded() {
        let log = Notices::default();
        let (mut a, mut b) = (0, 0);
        log.push(n("one"));
        assert_eq!(log.since(&mut a), vec![n("one")]);
        log.push(n("two"));
        assert_eq!(log.since(&mut a), vec![n("two")]);
        assert!(log.since(&mut a).is_empty());
        assert_eq!(log.since(&mut b).len(), 2);
        for i in 0..MAX_NOTICES + 5 {
            log.push(n(&i.to_string()));
        }
        let all = log.since(&mut b);
        assert_eq!(all.len(), MAX_NOTICES);
        assert_eq!(all.last().unwrap().message, (MAX_NOTICES + 4).to_string());
        assert_eq!(log.last().unwrap().message, (MAX_NOTICES + 4).to_string());
        assert!(!n("x").kind.eq(&NoticeKind::NetnsAdded) && n("x").is_warning());
    }

    #[test]
    fn a_namespace_file_that_names_another_namespace_is_gone() {
        let here = Netns::at("self", "/proc/self/ns/net").unwrap();
        assert!(still_there(&here));
        // Same file, an inode no namespace has: nobody holds it.
        let mut other = here.clone();
        other.inode = u64::MAX;
        other.label = "ns-VRF1".into();
        assert!(!still_there(&other));
        assert_eq!(
            gone_message(&other),
            "namespace ns-VRF1 was deleted; stopped counting it"
        );
        other.label = "pid:42".into();
        assert!(gone_message(&other).contains("processes exited"));
    }
}
