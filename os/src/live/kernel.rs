//! `top`'s BPF path, userspace side: every poll, the bytes the kernel counted per
//! socket flow go to the engine with the owner the kernel recorded; flows whose
//! socket has no recorded process (accepted sockets, sockets older than netkit) are
//! handed to their namespace's attribution thread, as on the sock-diag path.

use super::watch::{Notices, Watch};
use crate::bpf::top::TopProbe;
use crate::cgroup::{CgroupPaths, Containers, RuntimeDirs};
use crate::clock::{monotonic_ns, unix_ns};
use netkit_cmds::top::container::Container;
use netkit_cmds::top::engine::{Engine, FlowKey, KernelStats, Lookup, ProcInfo};
use netkit_cmds::top::kernel::SockOwner;
use netkit_cmds::top::report::{Notice, NoticeKind};
use std::collections::HashMap;
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

/// Tells the programs every namespace being captured (by netns cookie).
fn watch_namespaces(probe: &mut TopProbe, watch: &Watch, notices: &Notices) {
    let cookies: Vec<(String, Option<u64>)> = watch
        .captures()
        .iter()
        .filter(|c| c.active)
        .map(|c| (c.ns.label.clone(), c.netns_cookie))
        .collect();
    for (label, cookie) in cookies {
        let result = match cookie {
            Some(c) => probe.watch_netns(c).map_err(|e| e.to_string()),
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
            let mut e = engine.lock().unwrap_or_else(|e| e.into_inner());
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
