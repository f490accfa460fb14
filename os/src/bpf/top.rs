//! `netkit top`'s BPF path: bpf/top.bpf.c on the cgroup socket hooks at the root of
//! the cgroup2 hierarchy (every process, every namespace), and the reading of its
//! maps once per poll: socket owners (kept by the kernel after the socket closed,
//! until read here) and per-socket flow counters.

use super::{chain, BpfError, BpfObject};
use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray};
use netkit_cmds::top::engine::KernelStats;
use netkit_cmds::top::kernel::{
    FlowCounts, SockFlow, SockOwner, BOUND_KEY_LEN, FLOW_COUNTS_LEN, FLOW_KEY_LEN, OWNER_LEN,
};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::Arc;

/// bpf/top.bpf.o, as bpf/build.sh made it from bpf/top.bpf.c.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!("../../../bpf/top.bpf.o");

/// The programs, by section kind. Without the first three nothing is counted: the
/// path is not used. The others only name more sockets' owners.
const REQUIRED: [&str; 3] = ["netkit_egress", "netkit_ingress", "netkit_sock_create"];
/// [`ProbeUse::OwnersOnly`]: the process at creation and the tuple once established
/// are both needed to find a connection's owner by its addresses.
const OWNERS_REQUIRED: [&str; 2] = ["netkit_sock_create", "netkit_sockops"];
const OWNERS_OPTIONAL: [&str; 5] = [
    "netkit_connect4",
    "netkit_connect6",
    "netkit_post_bind4",
    "netkit_post_bind6",
    "netkit_sock_release",
];
const OPTIONAL: [&str; 8] = [
    "netkit_connect4",
    "netkit_connect6",
    "netkit_sendmsg4",
    "netkit_sendmsg6",
    "netkit_post_bind4",
    "netkit_post_bind6",
    "netkit_sock_release",
    "netkit_sockops",
];

const STAT_OWNER_INSERTS: u32 = 0;
const STAT_FLOW_INSERTS: u32 = 1;
const STAT_INSERT_FAILED: u32 = 3;

/// A closed socket's flow with no new bytes for this many polls is read for the last
/// time and deleted.
const CLOSED_POLLS: u32 = 2;
/// Any flow with no new bytes for this many polls is deleted (a socket older than
/// netkit has no close mark); a socket that sends again starts a fresh entry.
const IDLE_POLLS: u32 = 300;

/// A closed socket's owner is kept this many polls after it was read, for flows
/// read after it.
const OWNER_GRACE_POLLS: u64 = 5;

/// What the last poll read of one flow.
#[derive(Clone, Copy, Debug, Default)]
struct LastRead {
    counts: FlowCounts,
    /// Polls in a row without new bytes.
    idle: u32,
    /// An owner with a process was passed on with it.
    owned: bool,
}

/// What one poll found: bytes per socket flow since the previous poll, with the
/// owner the kernel recorded for the socket when it recorded one.
#[derive(Debug)]
pub struct FlowUpdate {
    pub flow: SockFlow,
    pub delta: FlowCounts,
    pub owner: Option<Arc<SockOwner>>,
}

/// What [`TopProbe`] is started for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeUse {
    /// `top`: socket owners and per-socket byte counts (cgroup_skb on every packet).
    CountAndOwn,
    /// `watch`: socket owners only, no program on the packet path (watch has its
    /// packet rings); read with [`TopProbe::poll_owners`].
    OwnersOnly,
}

/// The loaded, attached probe. Dropping it detaches everything (file descriptors).
pub struct TopProbe {
    object: BpfObject,
    /// The cgroup2 root the programs are attached to (the links hold the cgroup
    /// themselves; kept open to walk the tree, see [`TopProbe::cgroup_root`]).
    cgroup: File,
    /// Programs that did not load or attach here (only owners are named less often).
    pub missing: Vec<String>,
    /// Owners read, with the poll that read them last changed.
    owners: HashMap<u64, (Arc<SockOwner>, u64)>,
    last: HashMap<[u8; FLOW_KEY_LEN], LastRead>,
    polls: u64,
    /// Netns cookies written to the `watched` map.
    watched: HashSet<u64>,
    /// Namespaces that could not be watched, told once (by the live side).
    pub unwatchable: HashSet<String>,
    owners_deleted: u64,
    flows_deleted: u64,
    pub stats: KernelStats,
}

impl TopProbe {
    /// A path to the cgroup2 root the programs see, walkable by this process even on
    /// a cgroup v1 host where that mount was detached the moment it was opened: the
    /// descriptor's /proc link leads into it. Turns a socket owner's cgroup id into a
    /// path (and a container) after the process is gone.
    pub fn cgroup_root(&self) -> std::path::PathBuf {
        use std::os::fd::AsRawFd;
        format!("/proc/self/fd/{}", self.cgroup.as_raw_fd()).into()
    }
}

impl std::fmt::Debug for TopProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopProbe")
            .field("missing", &self.missing)
            .finish()
    }
}

/// CGROUP2_SUPER_MAGIC.
const CGROUP2_MAGIC: i64 = 0x6367_7270;

/// The root of the cgroup2 hierarchy, opened as a directory. Where the host mounts
/// cgroup2 at /sys/fs/cgroup that is opened; otherwise (a cgroup v1 host) a helper
/// thread unshares its own mount namespace, makes it private (nothing propagates to
/// the host's), mounts cgroup2 over the temporary directory there, opens it and
/// detaches the mount at once. The host's mount table never shows the mount, and
/// the thread's namespace dies with the thread or the process (kill -9 included):
/// only the open directory, and the BPF links, hold the hierarchy.
pub fn cgroup2_root() -> Result<File, BpfError> {
    let sys = std::path::Path::new("/sys/fs/cgroup");
    if nix::sys::statfs::statfs(sys).is_ok_and(|s| s.filesystem_type().0 == CGROUP2_MAGIC) {
        return File::open(sys).map_err(|e| BpfError::Cgroup2(format!("{}: {e}", sys.display())));
    }
    std::thread::spawn(|| {
        use nix::mount::{mount, umount2, MntFlags, MsFlags};
        let fail = |what: &str, e: nix::Error| BpfError::Cgroup2(format!("{what}: {e}"));
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| fail("unshare(CLONE_NEWNS)", e))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| fail("making the private mount namespace private", e))?;
        let dir = std::env::temp_dir();
        mount(
            Some("netkit-cgroup2"),
            &dir,
            Some("cgroup2"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| fail("mount -t cgroup2", e))?;
        let root = File::open(&dir);
        let _ = umount2(&dir, MntFlags::MNT_DETACH);
        root.map_err(|e| BpfError::Cgroup2(format!("opening the cgroup2 root: {e}")))
    })
    .join()
    .map_err(|_| BpfError::Cgroup2("the mount thread panicked".into()))?
}

/// The netns cookie (SO_NETNS_COOKIE) of the calling thread's network namespace,
/// as the BPF programs see it; None on kernels without it (before 5.14).
pub fn current_netns_cookie() -> Option<u64> {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let sock = std::net::UdpSocket::bind("0.0.0.0:0")
        .or_else(|_| std::net::UdpSocket::bind("[::]:0"))
        .ok()?;
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    use std::os::fd::AsRawFd;
    // SAFETY: getsockopt writes at most `len` (8) bytes into `cookie`, a u64 that
    // lives across the call, and updates `len`; the descriptor is open (owned above).
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    (rc == 0 && len == 8).then_some(cookie)
}

fn map_err(map: &str) -> impl Fn(aya::maps::MapError) -> BpfError + '_ {
    move |e| BpfError::Map {
        map: map.to_string(),
        why: chain(&e),
    }
}

impl TopProbe {
    /// Loads bpf/top.bpf.o (maps of `max_entries` each) and attaches it at the root
    /// of the cgroup2 hierarchy. Fails with one line when BPF cannot be used here.
    pub fn start(max_entries: u32) -> Result<TopProbe, BpfError> {
        TopProbe::start_for(ProbeUse::CountAndOwn, max_entries)
    }

    /// As [`TopProbe::start`], with only the programs `usage` needs attached.
    pub fn start_for(usage: ProbeUse, max_entries: u32) -> Result<TopProbe, BpfError> {
        let (required, optional, traffic_entries): (&[&str], &[&str], u32) = match usage {
            ProbeUse::CountAndOwn => (&REQUIRED, &OPTIONAL, max_entries),
            // The flow map is never written: the smallest it can be.
            ProbeUse::OwnersOnly => (&OWNERS_REQUIRED, &OWNERS_OPTIONAL, 64),
        };
        if crate::caps::lacks(crate::caps::Cap::SysAdmin) {
            return Err(BpfError::NeedsCap(
                "BPF attribution needs CAP_SYS_ADMIN (a cgroup2 mount and cgroup BPF hooks)".into(),
            ));
        }
        let cgroup = cgroup2_root()?;
        let mut object = BpfObject::load(
            "top",
            OBJECT,
            &[],
            &[("owners", max_entries), ("traffic", traffic_entries)],
        )?;
        for p in required {
            object.attach_cgroup(p, &cgroup)?;
        }
        let mut missing = Vec::new();
        for p in optional {
            if let Err(e) = object.attach_cgroup(p, &cgroup) {
                missing.push(format!("{p}: {e}"));
            }
        }
        Ok(TopProbe {
            object,
            cgroup,
            missing,
            owners: HashMap::new(),
            last: HashMap::new(),
            polls: 0,
            watched: HashSet::new(),
            unwatchable: HashSet::new(),
            owners_deleted: 0,
            flows_deleted: 0,
            stats: KernelStats::default(),
        })
    }

    /// Records and counts the sockets of the namespace whose netns cookie is
    /// `netns_cookie` from now on (the programs skip every other namespace). Ok(true)
    /// the first time.
    pub fn watch_netns(&mut self, netns_cookie: u64) -> Result<bool, BpfError> {
        if !self.watched.insert(netns_cookie) {
            return Ok(false);
        }
        let mut map: BpfHashMap<&mut MapData, u64, u8> =
            BpfHashMap::try_from(self.object.map_mut("watched")?).map_err(map_err("watched"))?;
        map.insert(netns_cookie, 1, 0).map_err(map_err("watched"))?;
        Ok(true)
    }

    /// Writes a listener bound before the probe started into the `bound` map (see
    /// [`netkit_cmds::top::kernel::listener_entry`]), unless its port has an entry
    /// already (a `post_bind` record is the more recent). Ok(true) when written.
    pub fn add_listener(
        &mut self,
        entry: ([u8; BOUND_KEY_LEN], [u8; OWNER_LEN]),
    ) -> Result<bool, BpfError> {
        const BPF_NOEXIST: u64 = 1;
        let mut map: BpfHashMap<&mut MapData, [u8; BOUND_KEY_LEN], [u8; OWNER_LEN]> =
            BpfHashMap::try_from(self.object.map_mut("bound")?).map_err(map_err("bound"))?;
        match map.insert(entry.0, entry.1, BPF_NOEXIST) {
            Ok(()) => Ok(true),
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(false)
            }
            Err(e) => Err(map_err("bound")(e)),
        }
    }

    fn read_stat(&mut self, which: u32) -> Result<u64, BpfError> {
        let stats: PerCpuArray<&mut MapData, u64> =
            PerCpuArray::try_from(self.object.map_mut("stats")?).map_err(map_err("stats"))?;
        let per_cpu = stats.get(&which, 0).map_err(map_err("stats"))?;
        Ok(per_cpu.iter().fold(0u64, |a, v| a.wrapping_add(*v)))
    }

    /// Reads the owners map into `self.owners` and deletes the closed sockets' records
    /// read (the kernel keeps them until then). Returns the entries left in the map
    /// and the records new or changed since the last read.
    fn read_owners(&mut self) -> Result<(u64, Vec<Arc<SockOwner>>), BpfError> {
        let mut closed_read = Vec::new();
        let mut changed = Vec::new();
        let mut owners_now = 0u64;
        {
            let owners: BpfHashMap<&mut MapData, u64, [u8; OWNER_LEN]> =
                BpfHashMap::try_from(self.object.map_mut("owners")?).map_err(map_err("owners"))?;
            for item in owners.iter() {
                let Ok((cookie, bytes)) = item else {
                    // The entry went between two reads of the iteration (evicted).
                    continue;
                };
                owners_now += 1;
                let Some(owner) = SockOwner::parse(&bytes) else {
                    continue;
                };
                if owner.closed {
                    closed_read.push(cookie);
                }
                if self.owners.get(&cookie).is_none_or(|o| *o.0 != owner) {
                    let owner = Arc::new(owner);
                    changed.push(owner.clone());
                    self.owners.insert(cookie, (owner, self.polls));
                }
            }
        }
        let mut owners: BpfHashMap<&mut MapData, u64, [u8; OWNER_LEN]> =
            BpfHashMap::try_from(self.object.map_mut("owners")?).map_err(map_err("owners"))?;
        for cookie in &closed_read {
            if owners.remove(cookie).is_ok() {
                self.owners_deleted += 1;
                owners_now = owners_now.saturating_sub(1);
            }
        }
        Ok((owners_now, changed))
    }

    /// [`ProbeUse::OwnersOnly`]: the socket owners recorded or changed since the last
    /// call (a closed socket's last record included, once). Closed sockets' records
    /// are deleted in the kernel and forgotten here once read: the caller keeps what
    /// it needs. Updates [`TopProbe::stats`] (owners evicted by the LRU before they
    /// were read, records not stored).
    pub fn poll_owners(&mut self) -> Result<Vec<Arc<SockOwner>>, BpfError> {
        self.polls += 1;
        // Counted before the map is read, as in `poll`: never a false eviction.
        let inserted = self.read_stat(STAT_OWNER_INSERTS)?;
        let (owners_now, changed) = self.read_owners()?;
        self.owners.retain(|_, (o, _)| !o.closed);
        self.stats = KernelStats {
            owners_evicted: self.stats.owners_evicted.max(
                inserted
                    .saturating_sub(self.owners_deleted)
                    .saturating_sub(owners_now),
            ),
            flows_evicted: 0,
            insert_failed: self.read_stat(STAT_INSERT_FAILED)?,
        };
        Ok(changed)
    }

    /// Reads both maps: the bytes of every flow since the last poll and the owners
    /// of their sockets. Deletes what was read for the last time (closed sockets'
    /// owners; flows of closed sockets once quiet), and counts what the LRU evicted.
    pub fn poll(&mut self) -> Result<Vec<FlowUpdate>, BpfError> {
        self.polls += 1;
        // Inserts counted before the maps are read: entries inserted while they are
        // read then show as present, never as evicted (a lower bound, no false
        // alarm).
        let inserted_owners = self.read_stat(STAT_OWNER_INSERTS)?;
        let inserted_flows = self.read_stat(STAT_FLOW_INSERTS)?;
        // Flows first, owners second: a socket is created (and its owner recorded)
        // before its first packet, so every flow read here has its owner in the map
        // read next, however short the socket's life.
        let mut flows = Vec::new();
        let mut seen = HashSet::new();
        {
            let traffic: BpfHashMap<&mut MapData, [u8; FLOW_KEY_LEN], [u8; FLOW_COUNTS_LEN]> =
                BpfHashMap::try_from(self.object.map_mut("traffic")?)
                    .map_err(map_err("traffic"))?;
            for item in traffic.iter() {
                let Ok((key, value)) = item else {
                    continue;
                };
                if !seen.insert(key) {
                    // Iteration restarted after a concurrent eviction: counted once.
                    continue;
                }
                flows.push((key, value));
            }
        }
        let mut flows_now = flows.len() as u64;
        let (owners_now, _) = self.read_owners()?;
        let mut updates = Vec::new();
        let mut done = Vec::new();
        for (key, value) in flows {
            let (Some(flow), Some(counts)) = (SockFlow::parse(&key), FlowCounts::parse(&value))
            else {
                continue;
            };
            let owner = self.owners.get(&flow.cookie).map(|o| o.0.clone());
            let last = self.last.get(&key).copied().unwrap_or_default();
            let delta = counts.since(&last.counts);
            let idle = if delta.is_zero() { last.idle + 1 } else { 0 };
            // An owner learnt after the flow's bytes were passed on without one (a
            // socket older than netkit, an accepted one) is passed on too.
            let owned = owner.as_ref().is_some_and(|o| o.pid.is_some());
            let news = !delta.is_zero() || (owned && !last.owned);
            self.last.insert(
                key,
                LastRead {
                    counts,
                    idle,
                    owned: last.owned || (news && owned),
                },
            );
            let closed = owner.as_ref().is_some_and(|o| o.closed);
            if (closed && idle >= CLOSED_POLLS) || idle >= IDLE_POLLS {
                done.push(key);
            }
            if news {
                updates.push(FlowUpdate { flow, delta, owner });
            }
        }
        {
            let mut traffic: BpfHashMap<&mut MapData, [u8; FLOW_KEY_LEN], [u8; FLOW_COUNTS_LEN]> =
                BpfHashMap::try_from(self.object.map_mut("traffic")?)
                    .map_err(map_err("traffic"))?;
            for key in &done {
                if traffic.remove(key).is_ok() {
                    self.flows_deleted += 1;
                    flows_now = flows_now.saturating_sub(1);
                }
                self.last.remove(key);
            }
        }
        // Forget what the kernel no longer has: flows evicted or deleted, and the
        // owners of closed sockets none of whose flows are left (kept a few polls:
        // a socket's last flow may be read after its owner).
        self.last.retain(|k, _| seen.contains(k));
        let live: HashSet<u64> = self
            .last
            .keys()
            .filter_map(|k| SockFlow::parse(k).map(|f| f.cookie))
            .collect();
        let polls = self.polls;
        self.owners.retain(|cookie, (o, since)| {
            !o.closed || live.contains(cookie) || polls - *since < OWNER_GRACE_POLLS
        });
        if self.owners.len() > 4 * (owners_now as usize + self.last.len()) + 65_536 {
            self.owners.retain(|cookie, _| live.contains(cookie));
        }
        // Never lower than before: a later reading that sees more entries than were
        // counted as inserted must not take back an eviction already shown.
        self.stats = KernelStats {
            owners_evicted: self.stats.owners_evicted.max(
                inserted_owners
                    .saturating_sub(self.owners_deleted)
                    .saturating_sub(owners_now),
            ),
            flows_evicted: self.stats.flows_evicted.max(
                inserted_flows
                    .saturating_sub(self.flows_deleted)
                    .saturating_sub(flows_now),
            ),
            insert_failed: self.read_stat(STAT_INSERT_FAILED)?,
        };
        Ok(updates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP connection over loopback made by this process: its owner is this
    /// process, its bytes are counted both ways, and the record is still there
    /// after the socket closed.
    #[test]
    fn a_loopback_connection_is_owned_and_counted() {
        if crate::caps::lacks(crate::caps::Cap::SysAdmin) {
            eprintln!("skipped: not root");
            return;
        }
        let mut probe = TopProbe::start(4096).expect("probe");
        eprintln!("missing: {:?}", probe.missing);
        probe
            .watch_netns(current_netns_cookie().expect("SO_NETNS_COOKIE"))
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(&[7u8; 5000]).unwrap();
        });
        {
            use std::io::Read;
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut buf = Vec::new();
            c.read_to_end(&mut buf).unwrap();
            assert_eq!(buf.len(), 5000);
        }
        server.join().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let updates = probe.poll().unwrap();
        let me = std::process::id() as i32;
        let client: Vec<&FlowUpdate> = updates
            .iter()
            .filter(|u| u.flow.remote.port() == port)
            .collect();
        assert!(!client.is_empty(), "{updates:?}");
        let rx: u64 = client.iter().map(|u| u.delta.rx_bytes).sum();
        assert!(rx >= 5000, "{client:?}");
        let owner = client[0].owner.as_ref().expect("owner recorded");
        assert_eq!(owner.pid, Some(me));
        assert!(owner.closed, "{owner:?}");
        assert!(owner.cgroup_id.is_some());
        assert_eq!(Some(owner.netns_cookie), current_netns_cookie());
        // The accepted end: no process created it; it is named after the process
        // that bound the listener (after the probe started).
        let accepted = updates
            .iter()
            .find(|u| u.flow.local.port() == port && u.delta.tx_bytes >= 5000)
            .unwrap_or_else(|| panic!("no accepted side in {updates:?}"));
        let owner = accepted.owner.as_ref().expect("accepted socket recorded");
        assert_eq!(owner.pid, Some(me));
        assert!(owner.from_listener, "{owner:?}");
    }
}
