//! `top`'s BPF path, userspace side: every poll, the bytes the kernel counted per
//! socket flow go to the engine with the owner the kernel recorded; flows whose
//! socket has no recorded process (accepted sockets, sockets older than netkit) are
//! handed to their namespace's attribution thread, as on the sock-diag path.

use super::watch::{Notices, Watch};
use super::{AttributionChoice, LiveError};
use crate::bpf::top::{ProbeUse, TopProbe};
use crate::cgroup::{CgroupPaths, Containers, RuntimeDirs};
use crate::clock::{monotonic_ns, unix_ns};
use crate::netns::Netns;
use netkit_cmds::ss::SockEntry;
use netkit_cmds::top::container::Container;
use netkit_cmds::top::engine::{Engine, FlowKey, KernelStats, Lookup, ProcInfo};
use netkit_cmds::top::kernel::SockOwner;
use netkit_cmds::top::report::{Notice, NoticeKind};
use netkit_cmds::watch::report::{OwnerCounts, Process};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A namespace's attribution thread's queue.
type LookupQueue = std::sync::mpsc::Sender<(FlowKey, i64)>;

/// Process descriptions kept for owners seen recently (pid, comm) before starting over.
const MAX_INFOS: usize = 100_000;

/// Containers of the BPF path's owners: from /proc while the process lives, else
/// from the cgroup id the kernel recorded (a process that lived a millisecond).
struct OwnerContainers {
    containers: Containers,
    paths: CgroupPaths,
}

impl OwnerContainers {
    fn of(&mut self, owner: &SockOwner, pid: i32) -> Option<Arc<Container>> {
        self.containers
            .of_pid(Path::new("/proc"), pid)
            .or_else(|| self.paths.container(owner.cgroup_id?, &mut self.containers))
    }
}

/// The one place the BPF path makes a [`ProcInfo`]: from the kernel's record, with
/// the command line when the process is still there (a process that lived a
/// millisecond is gone: its comm stands for it).
fn proc_info(owner: &SockOwner, pid: i32, containers: &mut OwnerContainers) -> ProcInfo {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| owner.comm.clone());
    ProcInfo {
        pid,
        comm: owner.comm.clone(),
        cmdline,
        container: containers.of(owner, pid),
    }
}

/// The TCP listeners of the namespace `sock` (a NETLINK_SOCK_DIAG socket) was
/// opened in, read from any namespace; none when it cannot be read.
pub(super) fn listeners(sock: &netlink_sys::Socket) -> Vec<SockEntry> {
    let filter = netkit_cmds::ss::Filter {
        tcp: true,
        udp: false,
        listening: true,
        all: false,
        states: None,
    };
    crate::netlink::sockets::dump_from_elsewhere(sock, &filter).unwrap_or_default()
}

/// Writes `listeners` (of the namespace whose netns cookie is `cookie`) into the
/// programs' `bound` map, named after their processes: a server started before
/// netkit has no `post_bind` record, and the connections it accepts would otherwise
/// wait for a sock_diag lookup, which misses those accepted and closed between two
/// reads of the map. Returns how many were written.
pub(super) fn add_listeners(probe: &mut TopProbe, cookie: u64, listeners: &[SockEntry]) -> usize {
    if listeners.is_empty() {
        return 0;
    }
    let owners = crate::proc::socket_owners();
    let mut added = 0;
    for row in listeners {
        let Some(owner) = owners
            .get(&u64::from(row.inode))
            .and_then(|o| o.iter().min_by_key(|o| o.pid))
        else {
            continue;
        };
        let Ok(pid) = u32::try_from(owner.pid) else {
            continue;
        };
        let family = if row.local.is_ipv4() { 4 } else { 6 };
        let entry = netkit_cmds::top::kernel::listener_entry(
            cookie,
            row.local.port(),
            family,
            pid,
            row.uid,
            &owner.comm,
        );
        if probe.add_listener(entry).unwrap_or(false) {
            added += 1;
        }
    }
    added
}

/// Tells the programs every namespace being captured (by netns cookie), and the
/// listeners already there.
fn watch_namespaces(probe: &mut TopProbe, watch: &Watch, notices: &Notices) {
    let cookies: Vec<(String, Option<u64>)> = watch
        .captures()
        .iter()
        .filter(|c| c.active)
        .map(|c| (c.ns.label.clone(), c.netns_cookie))
        .collect();
    for (label, cookie) in cookies {
        let result = match cookie {
            Some(c) => probe
                .watch_netns(c)
                .map(|first| {
                    if first {
                        let found = watch
                            .captures()
                            .iter()
                            .find(|cap| cap.netns_cookie == Some(c))
                            .and_then(|cap| cap.diag.as_ref().map(listeners))
                            .unwrap_or_default();
                        add_listeners(probe, c, &found);
                    }
                })
                .map_err(|e| e.to_string()),
            None => Err("its netns cookie is unknown (SO_NETNS_COOKIE)".to_string()),
        };
        if let Err(why) = result {
            if probe.unwatchable.insert(label.clone()) {
                notices.push(Notice {
                    netns: label.clone(),
                    kind: NoticeKind::AttributionFailed,
                    message: format!("namespace {label}: not counted by BPF: {why}"),
                });
            }
        }
    }
}

/// Polls `probe` every `every` until `stop`, feeding `engine`.
pub(super) fn run(
    mut probe: TopProbe,
    watch: &Watch,
    engine: &Mutex<Engine>,
    notices: &Notices,
    stop: &AtomicBool,
    every: Duration,
) {
    // Map reads go through descriptors already open; command lines of other users'
    // processes need the /proc capabilities.
    let _ = crate::caps::keep_only(&crate::caps::PROC_READ);
    let mut infos: HashMap<(i32, String), Arc<ProcInfo>> = HashMap::new();
    let mut containers = OwnerContainers {
        containers: Containers::new(RuntimeDirs::default()),
        paths: CgroupPaths::open().unwrap_or_else(|| CgroupPaths::at(probe.cgroup_root())),
    };
    let mut told = KernelStats::default();
    let mut next = Instant::now();
    // The namespaces watched at the start, before any wait: their sockets are
    // recorded from here on.
    watch_namespaces(&mut probe, watch, notices);
    while !stop.load(Ordering::Relaxed) {
        next += every;
        let left = next.saturating_duration_since(Instant::now());
        std::thread::sleep(left.min(Duration::from_millis(100)));
        if Instant::now() < next {
            next -= every;
            continue;
        }
        // --all-netns: namespaces added since the last poll.
        watch_namespaces(&mut probe, watch, notices);
        let updates = match probe.poll() {
            Ok(u) => u,
            Err(e) => {
                notices.push(Notice {
                    netns: String::new(),
                    kind: NoticeKind::AttributionFailed,
                    message: format!("reading the BPF maps failed, stopped counting: {e}"),
                });
                return;
            }
        };
        let mut targets: HashMap<u64, (u32, Option<LookupQueue>)> = HashMap::new();
        let mut headers: HashMap<(u32, u32), u64> = HashMap::new();
        for c in watch.captures().iter().filter(|c| c.active) {
            let Some(cookie) = c.netns_cookie else {
                continue;
            };
            targets.insert(cookie, (c.idx, c.lookup.clone()));
            headers.extend(c.link_headers.iter().map(|(i, h)| ((c.idx, *i), *h)));
        }
        if infos.len() > MAX_INFOS {
            infos.clear();
        }
        let now = monotonic_ns();
        let mut lookups = Vec::new();
        {
            let mut e = crate::lock(engine);
            for u in updates {
                // A namespace not watched: not counted (as the capture would not).
                let Some((idx, sender)) = targets.get(&u.flow.netns_cookie) else {
                    continue;
                };
                let key = FlowKey {
                    netns: *idx,
                    proto: u.flow.proto,
                    local: u.flow.local,
                    remote: u.flow.remote,
                };
                let owner = u.owner.as_ref().and_then(|o| {
                    let pid = o.pid?;
                    let info = infos
                        .entry((pid, o.comm.clone()))
                        .or_insert_with(|| Arc::new(proc_info(o, pid, &mut containers)))
                        .clone();
                    Some((info, o.cgroup_id))
                });
                let closed = u.owner.as_ref().is_some_and(|o| o.closed);
                // Wire bytes, as the packet path counts: the kernel counted IP
                // lengths; each packet also had its device's link header (a device
                // made after the last link dump is taken for Ethernet).
                let header = headers.get(&(*idx, u.flow.ifindex)).copied().unwrap_or(14);
                let asked = e.record_socket(
                    now,
                    key,
                    u.flow.cookie,
                    u.delta.tx_bytes + header * u.delta.tx_packets,
                    u.delta.rx_bytes + header * u.delta.rx_packets,
                    owner,
                    closed,
                );
                if asked == Lookup::Owner {
                    if let Some(s) = sender {
                        lookups.push((s.clone(), key));
                    }
                }
            }
            e.kernel = Some(probe.stats);
        }
        for (sender, key) in lookups {
            let _ = sender.send((key, unix_ns()));
        }
        let s = probe.stats;
        if s != told {
            notices.push(Notice {
                netns: String::new(),
                kind: NoticeKind::KernelEvictions,
                message: format!(
                    "BPF maps full: {} socket owners and {} flow counters evicted before \
                     they were read, {} records not stored (totals)",
                    s.owners_evicted, s.flows_evicted, s.insert_failed
                ),
            });
            told = s;
        }
    }
}

/// Entries of the watch probe's owners map.
const WATCH_MAP_ENTRIES: u32 = 65_536;
/// How often `watch` reads the owners map when no lookup asked, so the kernel's map
/// is emptied of closed sockets before it fills (it holds 65,536: a second of
/// connections opened and closed at 65,000 a second). Reading it walks every bucket
/// of the map, however few entries it has: every 200 ms that was a tenth of watch's
/// CPU at 400 Mbit/s.
const WATCH_POLL: Duration = Duration::from_secs(1);
/// A closed socket's owner is kept this long: its upgrade is judged within seconds.
const CLOSED_KEPT: Duration = Duration::from_secs(60);
/// Connections whose owner is kept at most; beyond, the oldest go (counted).
const MAX_INDEXED_OWNERS: usize = 65_536;

/// A TCP connection's addresses in one namespace: (netns cookie, local, remote).
type ConnKey = (u64, SocketAddr, SocketAddr);

/// One indexed owner.
struct Known {
    process: Process,
    closed_at: Option<Instant>,
    /// Its place in `BpfOwners::order` (older places are stale).
    generation: u64,
}

/// `netkit watch`'s BPF owner lookups: the probe (owners only, see
/// [`crate::bpf::top::ProbeUse::OwnersOnly`]) and a bounded index of the owners it
/// recorded, by connection, kept after the socket closed.
struct BpfOwners {
    probe: TopProbe,
    index: HashMap<ConnKey, Known>,
    /// Insertion order, oldest first, to evict from.
    order: std::collections::VecDeque<(ConnKey, u64)>,
    generation: u64,
    /// Netns cookie of each namespace label registered.
    cookies: HashMap<String, u64>,
    last_poll: Instant,
    /// Frames arrived since the last read of the map: a miss may be a record the
    /// read has not seen yet (a connection's record is complete once its SYN-ACK
    /// came, before any frame that carries its request).
    stale: bool,
    evicted: u64,
}

/// The process of a kernel record: its command line from /proc while the process
/// lives (the same process: its thread still has the recorded name), else empty,
/// and the name the kernel recorded.
fn process_of(owner: &SockOwner, pid: i32) -> Process {
    let same = |path: String| {
        std::fs::read_to_string(path).is_ok_and(|c| c.trim_end_matches('\n') == owner.comm)
    };
    let alive =
        same(format!("/proc/{pid}/task/{}/comm", owner.tid)) || same(format!("/proc/{pid}/comm"));
    let cmdline = if alive {
        crate::proc::cmdline(pid).unwrap_or_default()
    } else {
        String::new()
    };
    Process {
        pid,
        comm: owner.comm.clone(),
        cmdline,
    }
}

impl BpfOwners {
    fn poll(&mut self) -> Result<(), String> {
        self.last_poll = Instant::now();
        self.stale = false;
        let changed = self.probe.poll_owners().map_err(|e| e.to_string())?;
        let now = Instant::now();
        for o in changed {
            let (Some(pid), Some(local), Some(remote)) = (o.pid, o.local, o.remote) else {
                continue;
            };
            if o.proto != 6 || local.port() == 0 || remote.port() == 0 {
                continue;
            }
            let key = (o.netns_cookie, local, remote);
            let closed_at = o.closed.then_some(now);
            match self.index.get_mut(&key) {
                // The same process: only its close is news (the command line read
                // while it lived is kept); an open record is a new connection on
                // the same ports, whose time starts again.
                Some(k) if k.process.pid == pid => {
                    k.closed_at = closed_at.and(k.closed_at.or(closed_at));
                }
                _ => {
                    self.generation += 1;
                    let known = Known {
                        process: process_of(&o, pid),
                        closed_at,
                        generation: self.generation,
                    };
                    self.index.insert(key, known);
                    self.order.push_back((key, self.generation));
                }
            }
        }
        // Closed long enough ago: their upgrades were judged.
        self.index.retain(|_, k| {
            k.closed_at
                .is_none_or(|t| now.duration_since(t) < CLOSED_KEPT)
        });
        while self.index.len() > MAX_INDEXED_OWNERS {
            let Some((key, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .index
                .get(&key)
                .is_some_and(|k| k.generation == generation)
            {
                self.index.remove(&key);
                self.evicted += 1;
            }
        }
        if self.order.len() > 2 * MAX_INDEXED_OWNERS {
            let index = &self.index;
            self.order
                .retain(|(key, g)| index.get(key).is_some_and(|k| k.generation == *g));
        }
        Ok(())
    }

    fn lookup(&mut self, cookie: u64, client: SocketAddr, server: SocketAddr) -> Option<Process> {
        let key = (cookie, client, server);
        // One read per batch of frames at most, however many upgrades it holds.
        if !self.index.contains_key(&key) && self.stale {
            // A failed read is told by the next tick.
            let _ = self.poll();
        }
        let k = self.index.get_mut(&key)?;
        // Read again while the process may still be there (it was not at the read).
        if k.process.cmdline.is_empty() && k.closed_at.is_none() {
            k.process.cmdline = crate::proc::cmdline(k.process.pid).unwrap_or_default();
        }
        Some(k.process.clone())
    }
}

/// Who names the client processes of `netkit watch`'s upgrades: the BPF probe's
/// records (found by the connection's addresses and namespace, also after the
/// client exited), with sock_diag and /proc for what they lack; or sock_diag and
/// /proc alone.
pub struct ClientOwners {
    bpf: Option<BpfOwners>,
    counts: OwnerCounts,
    /// The kernel evictions last told.
    told_evictions: u64,
}

impl ClientOwners {
    /// Starts the probe as `choice` says (needs CAP_SYS_ADMIN, still held). Returns
    /// the line to print when `auto` fell back to sock-diag.
    pub fn start(choice: AttributionChoice) -> Result<(ClientOwners, Option<String>), LiveError> {
        let start = || TopProbe::start_for(ProbeUse::OwnersOnly, WATCH_MAP_ENTRIES);
        let (probe, fallback) = match choice {
            AttributionChoice::SockDiag => (None, None),
            AttributionChoice::Bpf => (
                Some(start().map_err(|e| LiveError::Bpf(e.to_string()))?),
                None,
            ),
            AttributionChoice::Auto => match start() {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(format!("{e}: using sock-diag attribution"))),
            },
        };
        let bpf = probe.map(|probe| BpfOwners {
            probe,
            index: HashMap::new(),
            order: std::collections::VecDeque::new(),
            generation: 0,
            cookies: HashMap::new(),
            last_poll: Instant::now(),
            stale: true,
            evicted: 0,
        });
        let owners = ClientOwners {
            bpf,
            counts: OwnerCounts::default(),
            told_evictions: 0,
        };
        Ok((owners, fallback))
    }

    /// Frames were fed to the analysis since the last lookup: the next lookup that
    /// misses reads the probe's records first.
    pub fn frames_arrived(&mut self) {
        if let Some(b) = &mut self.bpf {
            b.stale = true;
        }
    }

    /// True when the BPF probe is loaded (owners from its records first).
    pub fn by_bpf(&self) -> bool {
        self.bpf.is_some()
    }

    /// "bpf" or "sock-diag".
    pub fn attribution(&self) -> &'static str {
        if self.by_bpf() {
            "bpf"
        } else {
            "sock-diag"
        }
    }

    /// Has the probe record the sockets of namespace `ns` (labelled `label`) from now
    /// on. Err: why its sockets are looked up by sock_diag only.
    pub fn register(&mut self, label: &str, ns: &Netns) -> Result<(), String> {
        let Some(b) = &mut self.bpf else {
            return Ok(());
        };
        if b.cookies.contains_key(label) {
            return Ok(());
        }
        // Called while the capabilities are held: the namespace can be entered, once
        // for its cookie and its listeners (unused when the probe already watches
        // that namespace under another label).
        let (cookie, found) = crate::netns::run_in(ns, || {
            let found = crate::netlink::open(crate::netlink::NETLINK_SOCK_DIAG)
                .map(|sock| listeners(&sock))
                .unwrap_or_default();
            (crate::bpf::top::current_netns_cookie(), found)
        })
        .map_err(|e| e.to_string())?;
        let cookie = cookie.ok_or("its netns cookie is unknown (SO_NETNS_COOKIE)")?;
        if b.probe.watch_netns(cookie).map_err(|e| e.to_string())? {
            add_listeners(&mut b.probe, cookie, &found);
        }
        b.cookies.insert(label.to_string(), cookie);
        Ok(())
    }

    /// Reads the probe's records when due. Returns a line to print: a failed read
    /// (the BPF path then stops, sock_diag goes on) or owners the kernel's map
    /// evicted since the last such line.
    pub fn tick(&mut self) -> Option<String> {
        let b = self.bpf.as_mut()?;
        if b.last_poll.elapsed() < WATCH_POLL {
            return None;
        }
        if let Err(why) = b.poll() {
            // What the records lost stays in the counts.
            self.counts = self.counts();
            self.bpf = None;
            return Some(format!(
                "reading the BPF socket owners failed ({why}): using sock-diag attribution"
            ));
        }
        let evicted = b.probe.stats.owners_evicted;
        if evicted > self.told_evictions {
            self.told_evictions = evicted;
            return Some(format!(
                "BPF map full: {evicted} socket owners evicted before they were read (total)"
            ));
        }
        None
    }

    /// The process of the local socket `client` connected to `server` in namespace
    /// `ns` (labelled `label`), counted by who found it.
    pub fn lookup(
        &mut self,
        label: &str,
        ns: &Netns,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Option<Process> {
        let from_bpf = self.bpf.as_mut().and_then(|b| {
            let cookie = *b.cookies.get(label)?;
            b.lookup(cookie, client, server)
        });
        if from_bpf.is_some() {
            self.counts.bpf += 1;
            return from_bpf;
        }
        // A socket older than the probe, or of a namespace it does not record.
        let found = super::attribution::tcp_owner(ns, client, server);
        if found.is_some() {
            self.counts.sock_diag += 1;
        } else {
            self.counts.not_found += 1;
        }
        found
    }

    /// The lookups so far and what the records lost.
    pub fn counts(&self) -> OwnerCounts {
        let mut c = self.counts;
        if let Some(b) = &self.bpf {
            c.evicted = c.evicted.max(b.evicted);
            c.kernel_evicted = c.kernel_evicted.max(b.probe.stats.owners_evicted);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that connected over loopback, sent and exited (a child process):
    /// found by its addresses after it is gone, with its pid and name and an empty
    /// command line; sock_diag alone finds nothing by then.
    #[test]
    fn a_client_gone_before_the_lookup_is_named_from_the_probe() {
        if crate::caps::lacks(crate::caps::Cap::SysAdmin) {
            eprintln!("skipped: not root");
            return;
        }
        let (mut owners, fallback) = ClientOwners::start(AttributionChoice::Bpf).expect("probe");
        assert_eq!((owners.attribution(), fallback), ("bpf", None));
        let ns = crate::netns::current().unwrap();
        owners.register("here", &ns).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        // bash opens /dev/tcp itself: the socket is the child's own, no helper.
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{}; printf x >&3; exec 3>&-",
            server.port()
        );
        let mut child = std::process::Command::new("bash")
            .args(["-c", &script])
            .spawn()
            .expect("bash");
        let pid = child.id() as i32;
        let (conn, client) = listener.accept().unwrap();
        assert!(child.wait().unwrap().success());
        drop(conn);
        assert_eq!(
            super::super::attribution::tcp_owner(&ns, client, server),
            None
        );
        owners.frames_arrived();
        let p = owners
            .lookup("here", &ns, client, server)
            .expect("named from the probe's record");
        assert_eq!(
            (p.pid, p.comm.as_str(), p.cmdline.as_str()),
            (pid, "bash", "")
        );
        let c = owners.counts();
        assert_eq!((c.bpf, c.sock_diag, c.not_found), (1, 0, 0));
        // Not a local client: nobody.
        let elsewhere: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        assert_eq!(owners.lookup("here", &ns, elsewhere, server), None);
        assert_eq!(owners.counts().not_found, 1);
    }
}
