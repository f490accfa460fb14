//! `netkit top`'s engine: the flow table and everything derived from it, as pure
//! bookkeeping with an injected clock (every call takes `now_ns`), so windows, peaks
//! and interval snapshots are tested without sleeping. `netkit-os`'s monitor runs it
//! live; [`super::classify`] turns frames into the [`Packet`]s it counts.
//!
//! Bytes are wire bytes (`orig_len`). A flow is keyed by (namespace, protocol, local,
//! remote); ICMP echo flows use the echo identifier as both "ports", which is also the
//! key of the ping socket that owns them.

use super::classify::Packet;
use super::container::Container;
use super::names;
use super::report::{Bytes, ConnRow, ConnSnapshot, ProcRow, ProcSnapshot, Snapshot};
use crate::pcap::analyze::FastMap;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// How many one-second buckets each meter keeps: the last minute plus a margin.
pub const HISTORY_SECS: usize = 64;
/// Rate windows shown by the TUI, in seconds.
pub const WINDOWS: [u64; 3] = [2, 10, 40];
/// A flow idle this long is folded into its process's totals and forgotten.
const FLOW_IDLE_NS: i64 = 90 * NS;
/// A TCP connection that has seen a FIN or RST is forgotten after this much quiet
/// (its last ACKs come within a round trip), not after [`FLOW_IDLE_NS`]: with
/// thousands of short connections a minute, waiting 90 s kept ten times as many flows.
const CLOSED_IDLE_NS: i64 = 5 * NS;
/// An unattributed flow that keeps sending is looked up again after this long.
const RETRY_NS: i64 = 3 * NS;
/// A connection a server here accepts is looked up at its SYN, before the socket is
/// accepted (a request socket, or an established one still in the listener's queue,
/// has no owner yet): its first few retries come this soon, so a short download from
/// a local server is not left unattributed for the [`RETRY_NS`] it would last.
const QUICK_RETRY_NS: i64 = NS / 20;
const QUICK_RETRIES: u8 = 5;
const NS: i64 = 1_000_000_000;

/// Transport protocol of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    /// Any other IP protocol (ports are 0).
    Ip(u8),
}

impl Proto {
    pub fn name(self) -> String {
        match self {
            Proto::Tcp => "tcp".into(),
            Proto::Udp => "udp".into(),
            Proto::Icmp => "icmp".into(),
            Proto::Ip(n) => format!("ip{n}"),
        }
    }
}

/// Which way a frame went, seen from the namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Tx,
    Rx,
}

/// One flow: the namespace (index into the monitored list), protocol and both ends,
/// oriented so `local` is this namespace's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub netns: u32,
    pub proto: Proto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// The process that owns a socket, captured when the socket was found (a 10 ms
/// process is gone by the time anyone reads its name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ProcInfo {
    pub pid: i32,
    pub comm: String,
    pub cmdline: String,
    /// The container or pod the process runs in (from its cgroup), if any.
    #[serde(serialize_with = "serialize_container")]
    pub container: Option<Arc<Container>>,
}

/// serde serialises `Arc` only with its `rc` feature; the container is written as is.
fn serialize_container<S: serde::Serializer>(
    c: &Option<Arc<Container>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    c.as_deref().serialize(s)
}

/// Whether a flow's process is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Looked up, answer not back yet.
    Pending,
    Process(Arc<ProcInfo>),
    /// No socket or no process found; bytes are counted as unattributed.
    Unknown,
}

/// Bytes per one-second bucket for the last [`HISTORY_SECS`] seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meter {
    /// The second (since the clock's epoch) of the newest bucket.
    sec: i64,
    tx: [u64; HISTORY_SECS],
    rx: [u64; HISTORY_SECS],
}

impl Default for Meter {
    fn default() -> Meter {
        Meter {
            sec: 0,
            tx: [0; HISTORY_SECS],
            rx: [0; HISTORY_SECS],
        }
    }
}

impl Meter {
    fn slot(sec: i64) -> usize {
        sec.rem_euclid(HISTORY_SECS as i64) as usize
    }

    /// Moves the newest bucket to `sec`, zeroing the buckets skipped over.
    fn advance(&mut self, sec: i64) {
        if sec <= self.sec {
            return;
        }
        let gap = (sec - self.sec).min(HISTORY_SECS as i64);
        for s in (sec - gap + 1)..=sec {
            self.tx[Meter::slot(s)] = 0;
            self.rx[Meter::slot(s)] = 0;
        }
        self.sec = sec;
    }

    pub fn add(&mut self, now_ns: i64, dir: Dir, bytes: u64) {
        let sec = now_ns.div_euclid(NS);
        self.advance(sec);
        // A frame stamped a little in the past (another capture thread's clock order)
        // still lands in its own second if that is kept.
        if self.sec - sec >= HISTORY_SECS as i64 {
            return;
        }
        let slot = Meter::slot(sec);
        match dir {
            Dir::Tx => self.tx[slot] += bytes,
            Dir::Rx => self.rx[slot] += bytes,
        }
    }

    /// (tx, rx) bytes in second `sec`, zero when it is outside the kept history.
    pub fn at(&self, sec: i64) -> (u64, u64) {
        if sec > self.sec || self.sec - sec >= HISTORY_SECS as i64 {
            return (0, 0);
        }
        (self.tx[Meter::slot(sec)], self.rx[Meter::slot(sec)])
    }

    /// Bytes per second over the `window` complete seconds before `now_ns`' second.
    pub fn rate(&self, now_ns: i64, window: u64) -> (f64, f64) {
        let now = now_ns.div_euclid(NS);
        let (mut tx, mut rx) = (0, 0);
        for s in (now - window as i64)..now {
            let (t, r) = self.at(s);
            tx += t;
            rx += r;
        }
        (tx as f64 / window as f64, rx as f64 / window as f64)
    }

    /// tx+rx bytes of each of the last `n` complete seconds, oldest first.
    pub fn history(&self, now_ns: i64, n: usize) -> Vec<u64> {
        let now = now_ns.div_euclid(NS);
        (1..=n as i64)
            .rev()
            .map(|back| {
                let (t, r) = self.at(now - back);
                t + r
            })
            .collect()
    }

    pub fn merge(&mut self, other: &Meter) {
        let newest = self.sec.max(other.sec);
        self.advance(newest);
        for back in 0..HISTORY_SECS as i64 {
            let (t, r) = other.at(newest - back);
            let slot = Meter::slot(newest - back);
            self.tx[slot] += t;
            self.rx[slot] += r;
        }
    }
}

/// Counters of one flow.
#[derive(Clone, Debug)]
pub struct Flow {
    pub owner: Owner,
    /// Boxed: the meter is 1 KB, and with churning flows the table ends up with about
    /// three buckets per live flow (deleted entries leave tombstones until the table
    /// doubles; a 10-minute soak settled at 32,768 buckets for 10,300 flows), so an
    /// inline meter cost ~3.8 KB per live flow; boxed, ~1.5 KB.
    pub meter: Box<Meter>,
    pub total_tx: u64,
    pub total_rx: u64,
    /// Bytes since the last [`Engine::snapshot`].
    pub interval_tx: u64,
    pub interval_rx: u64,
    pub last_seen_ns: i64,
    /// When the owner was last asked for.
    pub looked_up_ns: i64,
    /// Seen a packet other than a SYN.
    pub established: bool,
    /// Seen a FIN or RST (TCP): forgotten after [`CLOSED_IDLE_NS`] of quiet.
    pub closing: bool,
    /// Kernel timestamp of the first frame counted (a SYN that was captured before it
    /// belongs to this connection, even when it is counted after it).
    pub first_ts_ns: i64,
    /// The socket cookie of the BPF path (0 in the packet path): another cookie on
    /// the same tuple is another connection.
    pub socket: u64,
    /// The owner's cgroup v2 id as the kernel recorded it (BPF path only).
    pub cgroup_id: Option<u64>,
    /// Lookups left at [`QUICK_RETRY_NS`] (a connection accepted here).
    pub quick_retries: u8,
}

impl Flow {
    /// A flow first counted at `now_ns`, its owner not known yet.
    fn new(now_ns: i64, first_ts_ns: i64, established: bool, socket: u64) -> Flow {
        Flow {
            owner: Owner::Pending,
            meter: Box::default(),
            total_tx: 0,
            total_rx: 0,
            interval_tx: 0,
            interval_rx: 0,
            last_seen_ns: now_ns,
            looked_up_ns: now_ns,
            established,
            closing: false,
            first_ts_ns,
            socket,
            cgroup_id: None,
            quick_retries: 0,
        }
    }

    /// Whether the owner, not found last time, is to be asked for again now.
    fn retry_due(&mut self, now_ns: i64) -> bool {
        if self.owner != Owner::Unknown {
            return false;
        }
        let since = now_ns - self.looked_up_ns;
        let due = since >= RETRY_NS || (self.quick_retries > 0 && since >= QUICK_RETRY_NS);
        if due {
            self.looked_up_ns = now_ns;
            self.quick_retries = self.quick_retries.saturating_sub(1);
        }
        due
    }

    /// `bytes` more in direction `dir`, at `now_ns`.
    fn count(&mut self, now_ns: i64, dir: Dir, bytes: u64) {
        self.meter.add(now_ns, dir, bytes);
        match dir {
            Dir::Tx => {
                self.total_tx += bytes;
                self.interval_tx += bytes;
            }
            Dir::Rx => {
                self.total_rx += bytes;
                self.interval_rx += bytes;
            }
        }
    }
}

/// Who a row of the process table is: a process in a namespace, or the unattributed
/// traffic of a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcKey {
    Process { netns: u32, pid: i32, comm: String },
    Unattributed { netns: u32 },
}

/// Totals of flows that went idle and were forgotten, and the highest one-second rate
/// seen, per row.
#[derive(Clone, Debug, Default)]
struct Retired {
    tx: u64,
    rx: u64,
    peak: f64,
    /// When the row last had a flow (for forgetting rows of long-gone processes).
    last_ns: i64,
}

/// Most rows kept once their flows are gone. A host that starts ten short-lived
/// clients a second would otherwise keep a row per PID for ever (864,000 a day);
/// past this the rows idle the longest are forgotten (their bytes were reported).
const MAX_ROWS: usize = 10_000;

/// The flow table and everything derived from it.
pub struct Engine {
    /// Labels of the monitored namespaces; [`FlowKey::netns`] indexes this.
    pub netns: Vec<String>,
    pub flows: FastMap<FlowKey, Flow>,
    pub names: names::Names,
    retired: HashMap<ProcKey, Retired>,
    infos: HashMap<ProcKey, Arc<ProcInfo>>,
    last_snapshot_ns: i64,
    last_peak_sec: i64,
    /// Connections replaced by a new one on the same tuple, whose interval bytes the
    /// next snapshot still reports.
    closed: Vec<(FlowKey, Flow)>,
    /// Which path attributes and counts: "bpf" or "sock-diag" (docs/CLI.md).
    pub attribution: &'static str,
    /// The BPF path's own counters (evictions), when it runs.
    pub kernel: Option<KernelStats>,
}

/// What the BPF path lost or skipped, totals since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelStats {
    /// Socket owner records the kernel's LRU map evicted before they were read.
    pub owners_evicted: u64,
    /// Flow counters evicted before they were read (their last bytes are lost).
    pub flows_evicted: u64,
    /// Records the kernel could not store at all.
    pub insert_failed: u64,
}

/// Most replaced connections kept for the next snapshot.
const MAX_CLOSED: usize = 100_000;

/// What [`Engine::record`] wants done next about a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    None,
    /// Ask the attribution thread who owns this flow.
    Owner,
}

impl Engine {
    pub fn new(netns: Vec<String>, now_ns: i64) -> Engine {
        Engine {
            netns,
            flows: FastMap::default(),
            names: names::Names::default(),
            retired: HashMap::new(),
            infos: HashMap::new(),
            last_snapshot_ns: now_ns,
            last_peak_sec: now_ns.div_euclid(NS),
            closed: Vec::new(),
            attribution: "sock-diag",
            kernel: None,
        }
    }

    /// Counts one frame, in the order frames are captured.
    pub fn record(&mut self, now_ns: i64, packet: &Packet) -> Lookup {
        self.record_at(now_ns, packet, now_ns)
    }

    /// Counts one frame captured at kernel time `frame_ts_ns`. Frames may come in a
    /// little out of order: the capture reads SYNs from a quicker ring than the bulk
    /// of TCP segments.
    pub fn record_at(&mut self, now_ns: i64, packet: &Packet, frame_ts_ns: i64) -> Lookup {
        let (key, dir, bytes) = (packet.key, packet.dir, packet.wire);
        // A SYN on a tuple that already carried a connection starts a new one, maybe of
        // another process (ports are reused at once on the side that closed last):
        // the old connection's bytes stay with its owner. A SYN older than the flow's
        // first frame is that flow's own, read late from the other ring.
        if packet.syn {
            if let Some(old) = self.flows.get(&key) {
                if old.established && frame_ts_ns > old.first_ts_ns {
                    if let Some(old) = self.flows.remove(&key) {
                        self.retire(key, old);
                    }
                }
            }
        }
        let mut lookup = Lookup::None;
        let flow = self.flows.entry(key).or_insert_with(|| {
            lookup = Lookup::Owner;
            let mut flow = Flow::new(now_ns, frame_ts_ns, false, 0);
            if packet.syn && dir == Dir::Rx {
                flow.quick_retries = QUICK_RETRIES;
            }
            flow
        });
        if !packet.syn {
            flow.established = true;
        }
        flow.closing |= packet.fin_or_rst;
        if flow.retry_due(now_ns) {
            lookup = Lookup::Owner;
        }
        flow.count(now_ns, dir, bytes);
        flow.last_seen_ns = now_ns;
        lookup
    }

    /// Counts what the kernel counted for one socket's flow since the last poll (the
    /// BPF path: no packets). `owner` is the process the kernel recorded, `None`
    /// when it recorded none (an accepted socket, a socket older than netkit): then
    /// the flow is pending and [`Lookup::Owner`] asks the attribution thread. A
    /// different socket on a known tuple is a new connection: the old one keeps its
    /// bytes and owner.
    #[allow(clippy::too_many_arguments)]
    pub fn record_socket(
        &mut self,
        now_ns: i64,
        key: FlowKey,
        socket: u64,
        tx: u64,
        rx: u64,
        owner: Option<(Arc<ProcInfo>, Option<u64>)>,
        closed: bool,
    ) -> Lookup {
        if let Some(old) = self.flows.get(&key) {
            if old.socket != socket {
                if let Some(old) = self.flows.remove(&key) {
                    self.retire(key, old);
                }
            }
        }
        let mut lookup = Lookup::None;
        let mut created = false;
        let flow = self.flows.entry(key).or_insert_with(|| {
            created = true;
            Flow::new(now_ns, now_ns, true, socket)
        });
        let container = owner.as_ref().and_then(|(info, _)| info.container.clone());
        match owner {
            Some((info, cgroup)) => {
                flow.owner = Owner::Process(info);
                flow.cgroup_id = cgroup;
            }
            None if created => {
                // An accepted socket (or one older than netkit): asked for now, and
                // soon again when it is not accepted yet.
                flow.quick_retries = QUICK_RETRIES;
                lookup = Lookup::Owner;
            }
            None if flow.retry_due(now_ns) => {
                lookup = Lookup::Owner;
            }
            None => {}
        }
        flow.closing |= closed;
        if tx > 0 {
            flow.count(now_ns, Dir::Tx, tx);
        }
        if rx > 0 {
            flow.count(now_ns, Dir::Rx, rx);
        }
        if tx > 0 || rx > 0 {
            flow.last_seen_ns = now_ns;
        }
        // As on the sock_diag path (`set_owner`): a `pid:N` namespace takes its
        // container's name.
        if let Some(c) = container {
            self.name_netns_after(key.netns, &c);
        }
        lookup
    }

    /// Sets the owner the attribution thread found (`None`: nobody). A known owner is
    /// never replaced by "unknown": a retry that misses (the socket closed) keeps it.
    pub fn set_owner(&mut self, key: &FlowKey, owner: Option<Arc<ProcInfo>>) {
        let pending_closed = self
            .closed
            .iter_mut()
            .rev()
            .find(|(k, f)| k == key && f.owner == Owner::Pending);
        if let Some((_, flow)) = pending_closed {
            // The answer is for the replaced connection, asked for first.
            flow.owner = owner.map_or(Owner::Unknown, Owner::Process);
            return;
        }
        if let Some(c) = owner.as_ref().and_then(|p| p.container.as_deref()) {
            self.name_netns_after(key.netns, c);
        }
        if let Some(flow) = self.flows.get_mut(key) {
            match owner {
                Some(p) => flow.owner = Owner::Process(p),
                None if matches!(flow.owner, Owner::Process(_)) => {}
                None => flow.owner = Owner::Unknown,
            }
        }
    }

    /// A namespace without a name of its own (labelled `pid:N`, after a process that
    /// holds it) takes the name of the first container seen using it: `pid:48213` says
    /// nothing, `web` (the container, or `namespace/pod` for the pod whose containers
    /// share it) says whose traffic it is.
    fn name_netns_after(&mut self, netns: u32, container: &Container) {
        if let Some(label) = self.netns.get_mut(netns as usize) {
            if label.starts_with("pid:") && !container.name.is_empty() {
                *label = container.name.clone();
            }
        }
    }

    /// Flows still waiting for their owner.
    pub fn pending(&self) -> usize {
        self.flows
            .values()
            .chain(self.closed.iter().map(|(_, f)| f))
            .filter(|f| f.owner == Owner::Pending)
            .count()
    }

    fn proc_key(key: &FlowKey, owner: &Owner) -> (ProcKey, Option<Arc<ProcInfo>>) {
        match owner {
            Owner::Process(p) => (
                ProcKey::Process {
                    netns: key.netns,
                    pid: p.pid,
                    comm: p.comm.clone(),
                },
                Some(p.clone()),
            ),
            _ => (ProcKey::Unattributed { netns: key.netns }, None),
        }
    }

    fn label(&self, netns: u32) -> String {
        self.netns
            .get(netns as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{netns}"))
    }

    /// Once a second: updates peaks from the last complete second and forgets flows
    /// idle for [`FLOW_IDLE_NS`], keeping their bytes in their row's totals.
    pub fn tick(&mut self, now_ns: i64) {
        let sec = now_ns.div_euclid(NS);
        if sec > self.last_peak_sec {
            let mut per_row: HashMap<ProcKey, u64> = HashMap::new();
            for (key, flow) in &self.flows {
                let (t, r) = flow.meter.at(sec - 1);
                let (row, info) = Engine::proc_key(key, &flow.owner);
                if let Some(info) = info {
                    self.infos.insert(row.clone(), info);
                }
                *per_row.entry(row).or_default() += t + r;
            }
            for (row, bytes) in per_row {
                let r = self.retired.entry(row).or_default();
                r.peak = r.peak.max(bytes as f64);
                if bytes > 0 {
                    r.last_ns = now_ns;
                }
            }
            self.last_peak_sec = sec;
        }
        let idle: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| {
                let idle = if f.closing {
                    CLOSED_IDLE_NS
                } else {
                    FLOW_IDLE_NS
                };
                now_ns - f.last_seen_ns > idle && f.owner != Owner::Pending
            })
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            if let Some(flow) = self.flows.remove(&key) {
                self.retire(key, flow);
            }
        }
        self.forget_old_rows();
    }

    /// Folds a finished flow into its row's totals; bytes not yet reported by a
    /// snapshot are kept for the next one.
    fn retire(&mut self, key: FlowKey, flow: Flow) {
        let (row, info) = Engine::proc_key(&key, &flow.owner);
        if let Some(info) = info {
            self.infos.insert(row.clone(), info);
        }
        let r = self.retired.entry(row).or_default();
        r.tx += flow.total_tx;
        r.rx += flow.total_rx;
        r.last_ns = r.last_ns.max(flow.last_seen_ns);
        if (flow.interval_tx > 0 || flow.interval_rx > 0) && self.closed.len() < MAX_CLOSED {
            self.closed.push((key, flow));
        }
    }

    /// Entries of each table, for soak runs (`NETKIT_TOP_STATS=1` prints them).
    pub fn table_sizes(&self) -> String {
        format!(
            "flows {} (capacity {}), closed {}, rows {}, infos {}, names {}",
            self.flows.len(),
            self.flows.capacity(),
            self.closed.len(),
            self.retired.len(),
            self.infos.len(),
            self.names.len()
        )
    }

    /// Forgets the replaced and idle connections kept for the next [`Engine::snapshot`]
    /// (their bytes are already in their rows' totals). The screen takes no
    /// snapshots, so without this they would pile up to [`MAX_CLOSED`] (about 1 KB
    /// each) and slow every [`Engine::set_owner`], which searches them.
    pub fn drop_closed(&mut self) {
        self.closed = Vec::new();
    }

    /// Past [`MAX_ROWS`], forgets the rows idle the longest, down to three quarters of
    /// it; rows that still have a flow stay. Runs rarely (amortised).
    fn forget_old_rows(&mut self) {
        if self.retired.len() <= MAX_ROWS {
            return;
        }
        let live: std::collections::HashSet<ProcKey> = self
            .flows
            .iter()
            .map(|(k, f)| Engine::proc_key(k, &f.owner).0)
            .collect();
        let mut idle: Vec<(i64, ProcKey)> = self
            .retired
            .iter()
            .filter(|(k, _)| !live.contains(*k))
            .map(|(k, r)| (r.last_ns, k.clone()))
            .collect();
        idle.sort_unstable_by_key(|(t, _)| *t);
        let excess = self.retired.len().saturating_sub(MAX_ROWS * 3 / 4);
        for (_, key) in idle.into_iter().take(excess) {
            self.retired.remove(&key);
            self.infos.remove(&key);
        }
    }

    /// The process table: one row per process and one per namespace's unattributed
    /// traffic, unsorted.
    pub fn rows(&self, now_ns: i64) -> Vec<ProcRow> {
        let mut rows: HashMap<ProcKey, ProcRow> = HashMap::new();
        let new_row = |key: &ProcKey, info: Option<Arc<ProcInfo>>, netns: String| ProcRow {
            key: key.clone(),
            info,
            netns,
            rates: [(0.0, 0.0); 3],
            peak: 0.0,
            total_tx: 0,
            total_rx: 0,
            connections: 0,
            meter: Meter::default(),
        };
        for (key, flow) in &self.flows {
            let (row_key, info) = Engine::proc_key(key, &flow.owner);
            let row = rows
                .entry(row_key.clone())
                .or_insert_with(|| new_row(&row_key, info, self.label(key.netns)));
            row.total_tx += flow.total_tx;
            row.total_rx += flow.total_rx;
            row.connections += 1;
            row.meter.merge(&flow.meter);
        }
        for (row_key, r) in &self.retired {
            let netns = match row_key {
                ProcKey::Process { netns, .. } | ProcKey::Unattributed { netns } => *netns,
            };
            let row = rows.entry(row_key.clone()).or_insert_with(|| {
                new_row(row_key, self.infos.get(row_key).cloned(), self.label(netns))
            });
            row.total_tx += r.tx;
            row.total_rx += r.rx;
            row.peak = r.peak;
        }
        let mut out: Vec<ProcRow> = rows.into_values().collect();
        for row in &mut out {
            for (i, w) in WINDOWS.iter().enumerate() {
                row.rates[i] = row.meter.rate(now_ns, *w);
            }
        }
        out
    }

    /// The connections of one row.
    pub fn connections(&self, row: &ProcKey, now_ns: i64) -> Vec<ConnRow> {
        self.flows
            .iter()
            .filter(|(k, f)| &Engine::proc_key(k, &f.owner).0 == row)
            .map(|(k, f)| ConnRow {
                key: *k,
                remote_name: self.names.get(k.remote.ip()).map(str::to_string),
                rates: WINDOWS.map(|w| f.meter.rate(now_ns, w)),
                total_tx: f.total_tx,
                total_rx: f.total_rx,
            })
            .collect()
    }

    /// Everything counted since the previous snapshot, by process and connection;
    /// resets the interval counters. `unix_ns` stamps the object.
    pub fn snapshot(&mut self, now_ns: i64, unix_ns: i64) -> Snapshot {
        let interval_s = (now_ns - self.last_snapshot_ns) as f64 / NS as f64;
        self.last_snapshot_ns = now_ns;
        let mut procs: HashMap<(u32, i32, String), ProcSnapshot> = HashMap::new();
        let mut unattributed = Bytes::default();
        let mut keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        keys.sort();
        let mut items: Vec<(FlowKey, Owner, u64, u64)> = std::mem::take(&mut self.closed)
            .into_iter()
            .map(|(k, f)| (k, f.owner, f.interval_tx, f.interval_rx))
            .collect();
        for key in keys {
            let Some(flow) = self.flows.get_mut(&key) else {
                continue;
            };
            items.push((key, flow.owner.clone(), flow.interval_tx, flow.interval_rx));
            flow.interval_tx = 0;
            flow.interval_rx = 0;
        }
        for (key, owner, tx, rx) in items {
            if tx == 0 && rx == 0 {
                continue;
            }
            let Owner::Process(p) = &owner else {
                unattributed.tx_bytes += tx;
                unattributed.rx_bytes += rx;
                continue;
            };
            let netns = self
                .netns
                .get(key.netns as usize)
                .cloned()
                .unwrap_or_default();
            let entry = procs
                .entry((key.netns, p.pid, p.comm.clone()))
                .or_insert_with(|| ProcSnapshot {
                    pid: p.pid,
                    comm: p.comm.clone(),
                    cmdline: p.cmdline.clone(),
                    container: p.container.as_deref().cloned(),
                    netns,
                    tx_bytes: 0,
                    rx_bytes: 0,
                    connections: Vec::new(),
                });
            entry.tx_bytes += tx;
            entry.rx_bytes += rx;
            entry.connections.push(ConnSnapshot {
                proto: key.proto.name(),
                local: key.local.to_string(),
                remote: key.remote.to_string(),
                remote_name: self.names.get(key.remote.ip()).map(str::to_string),
                tx_bytes: tx,
                rx_bytes: rx,
            });
        }
        let mut processes: Vec<ProcSnapshot> = procs.into_values().collect();
        processes.sort_by(|a, b| {
            (b.tx_bytes + b.rx_bytes)
                .cmp(&(a.tx_bytes + a.rx_bytes))
                .then(a.pid.cmp(&b.pid))
        });
        Snapshot {
            ts: unix_ns as f64 / NS as f64,
            interval_s,
            processes,
            unattributed,
            warnings: Vec::new(),
            attribution: self.attribution,
            kernel: self.kernel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::classify::Packet;

    fn key(local_port: u16, remote_port: u16) -> FlowKey {
        FlowKey {
            netns: 0,
            proto: Proto::Tcp,
            local: SocketAddr::from(([10, 0, 0, 1], local_port)),
            remote: SocketAddr::from(([10, 0, 0, 2], remote_port)),
        }
    }

    fn proc(pid: i32) -> Arc<ProcInfo> {
        Arc::new(ProcInfo {
            pid,
            comm: format!("p{pid}"),
            cmdline: format!("p{pid} --x"),
            container: None,
        })
    }

    const T0: i64 = 1_000 * NS;

    fn pkt(key: FlowKey, dir: Dir, wire: u64) -> Packet {
        Packet {
            key,
            dir,
            wire,
            syn: false,
            fin_or_rst: false,
        }
    }

    #[test]
    fn a_connection_accepted_here_is_asked_for_again_soon_a_few_times() {
        let mut e = Engine::new(vec!["red".into()], T0);
        let k = key(80, 40000);
        let syn_in = Packet {
            syn: true,
            ..pkt(k, Dir::Rx, 74)
        };
        assert_eq!(e.record(T0, &syn_in), Lookup::Owner);
        // Not accepted yet: nobody owns it.
        e.set_owner(&k, None);
        let mut t = T0;
        let mut asked = 0;
        for _ in 0..40 {
            t += QUICK_RETRY_NS / 2;
            if e.record(t, &pkt(k, Dir::Tx, 1500)) == Lookup::Owner {
                asked += 1;
                e.set_owner(&k, None);
            }
        }
        // 40 packets over a second: the quick retries, then none until RETRY_NS.
        assert_eq!(asked, QUICK_RETRIES);
        // A connection this host opened (its SYN sent) waits RETRY_NS as before.
        let out = key(40001, 443);
        let syn_out = Packet {
            syn: true,
            ..pkt(out, Dir::Tx, 74)
        };
        assert_eq!(e.record(t, &syn_out), Lookup::Owner);
        e.set_owner(&out, None);
        assert_eq!(
            e.record(t + QUICK_RETRY_NS, &pkt(out, Dir::Tx, 60)),
            Lookup::None
        );
        assert_eq!(
            e.record(t + RETRY_NS, &pkt(out, Dir::Tx, 60)),
            Lookup::Owner
        );
    }

    #[test]
    fn a_syn_on_a_reused_tuple_starts_a_new_connection() {
        let mut e = Engine::new(vec!["red".into()], T0);
        let syn = |wire| Packet {
            syn: true,
            ..pkt(key(1, 2), Dir::Tx, wire)
        };
        assert_eq!(e.record(T0, &syn(60)), Lookup::Owner);
        // A retransmitted SYN is the same connection.
        assert_eq!(e.record(T0 + 1, &syn(60)), Lookup::None);
        e.record(T0 + 2, &pkt(key(1, 2), Dir::Rx, 1000));
        e.set_owner(&key(1, 2), Some(proc(5)));
        // Port reused by another process: its bytes must not go to pid 5.
        assert_eq!(e.record(T0 + 3, &syn(60)), Lookup::Owner);
        e.record(T0 + 4, &pkt(key(1, 2), Dir::Rx, 2000));
        assert_eq!(e.pending(), 1);
        e.set_owner(&key(1, 2), Some(proc(6)));
        let s = e.snapshot(T0 + NS, 0);
        let bytes: Vec<(i32, u64, u64)> = s
            .processes
            .iter()
            .map(|p| (p.pid, p.tx_bytes, p.rx_bytes))
            .collect();
        assert_eq!(bytes, vec![(6, 60, 2000), (5, 120, 1000)]);
        let rows = e.rows(T0 + NS);
        let mut totals: Vec<(i32, u64)> = rows
            .iter()
            .map(|r| (r.info.as_ref().unwrap().pid, r.total_tx + r.total_rx))
            .collect();
        totals.sort();
        assert_eq!(totals, vec![(5, 1120), (6, 2060)]);
    }

    #[test]
    fn a_syn_read_late_from_the_quick_ring_does_not_split_its_connection() {
        let mut e = Engine::new(vec!["red".into()], T0);
        let syn = Packet {
            syn: true,
            ..pkt(key(1, 2), Dir::Tx, 60)
        };
        // The bulk ring's data (captured at 20) is counted before the SYN (captured
        // at 10): still one connection, asked about once.
        assert_eq!(
            e.record_at(T0, &pkt(key(1, 2), Dir::Rx, 1000), 20),
            Lookup::Owner
        );
        assert_eq!(e.record_at(T0, &syn, 10), Lookup::None);
        assert_eq!(e.flows.len(), 1);
        assert_eq!(e.flows[&key(1, 2)].total_tx, 60);
        assert_eq!(e.flows[&key(1, 2)].total_rx, 1000);
        // A SYN captured after the connection's first frame starts a new one.
        assert_eq!(e.record_at(T0, &syn, 30), Lookup::Owner);
        assert_eq!(e.flows[&key(1, 2)].total_rx, 0);
    }

    /// The BPF path: bytes per socket as the kernel counted them. A socket without a
    /// recorded process is asked about once; an owner learnt later takes its bytes;
    /// another socket on the same tuple is another connection.
    #[test]
    fn kernel_counts_per_socket_with_owners_learnt_late_and_tuples_reused() {
        let mut e = Engine::new(vec!["red".into()], T0);
        let k = key(1, 2);
        assert_eq!(
            e.record_socket(T0, k, 11, 100, 5000, None, false),
            Lookup::Owner
        );
        assert_eq!(e.pending(), 1);
        // The owner, read in the next poll, with no new bytes.
        assert_eq!(
            e.record_socket(T0 + 1, k, 11, 0, 0, Some((proc(5), Some(77))), true),
            Lookup::None
        );
        assert_eq!(e.pending(), 0);
        assert_eq!(e.flows[&k].cgroup_id, Some(77));
        // Socket 12 on the same tuple (the port reused by another process).
        e.record_socket(T0 + 2, k, 12, 60, 0, Some((proc(6), None)), false);
        let s = e.snapshot(T0 + NS, 0);
        let bytes: Vec<(i32, u64, u64)> = s
            .processes
            .iter()
            .map(|p| (p.pid, p.tx_bytes, p.rx_bytes))
            .collect();
        assert_eq!(bytes, vec![(5, 100, 5000), (6, 60, 0)]);
        assert_eq!(s.attribution, "sock-diag");
    }

    #[test]
    fn meter_windows_and_history() {
        let mut m = Meter::default();
        // 1000 B/s tx for 10 s, then 3000 B/s rx for 2 s.
        for s in 0..10 {
            m.add(T0 + s * NS + 5, Dir::Tx, 1000);
        }
        m.add(T0 + 10 * NS, Dir::Rx, 3000);
        m.add(T0 + 11 * NS + 999_999_999, Dir::Rx, 3000);
        let now = T0 + 12 * NS + 1;
        assert_eq!(m.rate(now, 2), (0.0, 3000.0));
        assert_eq!(m.rate(now, 10), (800.0, 600.0));
        assert_eq!(m.rate(now, 40), (10_000.0 / 40.0, 6000.0 / 40.0));
        assert_eq!(m.history(now, 3), vec![1000, 3000, 3000]);
        // After a minute and more of silence everything has left the history.
        let later = now + 70 * NS;
        let mut m2 = m.clone();
        m2.add(later, Dir::Tx, 1);
        assert_eq!(m2.rate(later + NS, 40), (1.0 / 40.0, 0.0));
        assert_eq!(m2.history(later + NS, 2), vec![0, 1]);
    }

    #[test]
    fn snapshot_groups_by_process_and_keeps_unattributed() {
        let mut e = Engine::new(vec!["red".into()], T0);
        assert_eq!(
            e.record(T0, &pkt(key(1000, 80), Dir::Tx, 100)),
            Lookup::Owner
        );
        assert_eq!(
            e.record(T0 + 1, &pkt(key(1000, 80), Dir::Rx, 1500)),
            Lookup::None
        );
        e.record(T0 + 2, &pkt(key(1001, 80), Dir::Rx, 700));
        e.record(T0 + 3, &pkt(key(2000, 53), Dir::Tx, 60));
        assert_eq!(e.pending(), 3);
        // Bytes counted before the owner was known still go to the owner.
        e.set_owner(&key(1000, 80), Some(proc(7)));
        e.set_owner(&key(1001, 80), Some(proc(7)));
        e.set_owner(&key(2000, 53), None);
        assert_eq!(e.pending(), 0);
        let s = e.snapshot(T0 + 2 * NS, 5 * NS);
        assert_eq!(s.interval_s, 2.0);
        assert_eq!(s.ts, 5.0);
        assert_eq!(s.processes.len(), 1);
        let p = &s.processes[0];
        assert_eq!((p.pid, p.netns.as_str()), (7, "red"));
        assert_eq!((p.tx_bytes, p.rx_bytes), (100, 2200));
        assert_eq!(p.connections.len(), 2);
        assert_eq!(p.connections[0].local, "10.0.0.1:1000");
        assert_eq!(p.connections[0].remote, "10.0.0.2:80");
        assert_eq!(
            s.unattributed,
            Bytes {
                tx_bytes: 60,
                rx_bytes: 0
            }
        );
        // The next interval starts from zero.
        let s2 = e.snapshot(T0 + 3 * NS, 6 * NS);
        assert!(s2.processes.is_empty());
        assert_eq!(s2.unattributed, Bytes::default());
    }

    #[test]
    fn a_container_goes_to_json_and_names_an_unnamed_namespace() {
        let mut e = Engine::new(vec!["red".into(), "pid:4242".into()], T0);
        let id = "ab".repeat(32);
        let web = Arc::new(Container {
            runtime: crate::top::container::Runtime::Docker,
            id: Some(id.clone()),
            pod_uid: None,
            name: "web".into(),
        });
        let in_web = |pid| {
            Arc::new(ProcInfo {
                container: Some(web.clone()),
                ..(*proc(pid)).clone()
            })
        };
        let k_red = key(1000, 80);
        let k_unnamed = FlowKey {
            netns: 1,
            ..key(1001, 80)
        };
        e.record(T0, &pkt(k_red, Dir::Tx, 100));
        e.record(T0, &pkt(k_unnamed, Dir::Tx, 200));
        e.set_owner(&k_red, Some(in_web(7)));
        // A named namespace keeps its name; `pid:N` becomes the container's.
        assert_eq!(e.netns, ["red", "pid:4242"]);
        e.set_owner(&k_unnamed, Some(in_web(8)));
        assert_eq!(e.netns, ["red", "web"]);
        let s = e.snapshot(T0 + NS, NS);
        let json = serde_json::to_value(&s).unwrap();
        let procs = json["processes"].as_array().unwrap();
        assert_eq!(procs.len(), 2);
        for p in procs {
            assert_eq!(p["container"]["runtime"], "docker");
            assert_eq!(p["container"]["id"], id.as_str());
            assert_eq!(p["container"]["pod_uid"], serde_json::Value::Null);
            assert_eq!(p["container"]["name"], "web");
        }
        let mut kept = s.clone();
        kept.keep_container("ABAB");
        assert_eq!(kept.processes.len(), 2);
        kept.keep_container("nope");
        assert!(kept.processes.is_empty());
        assert_eq!(kept.unattributed, s.unattributed);
        let p8 = procs.iter().find(|p| p["pid"] == 8).unwrap();
        assert_eq!(p8["netns"], "web");
        // Outside a container the key is there, null.
        e.record(T0 + NS, &pkt(key(1002, 80), Dir::Tx, 1));
        e.set_owner(&key(1002, 80), Some(proc(9)));
        let json = serde_json::to_value(e.snapshot(T0 + 2 * NS, 2 * NS)).unwrap();
        assert_eq!(json["processes"][0]["container"], serde_json::Value::Null);
    }

    #[test]
    fn unknown_flows_are_retried_and_known_owners_kept() {
        let mut e = Engine::new(vec!["red".into()], T0);
        e.record(T0, &pkt(key(1, 2), Dir::Tx, 1));
        e.set_owner(&key(1, 2), None);
        assert_eq!(e.record(T0 + NS, &pkt(key(1, 2), Dir::Tx, 1)), Lookup::None);
        assert_eq!(
            e.record(T0 + RETRY_NS, &pkt(key(1, 2), Dir::Tx, 1)),
            Lookup::Owner
        );
        e.set_owner(&key(1, 2), Some(proc(9)));
        e.set_owner(&key(1, 2), None);
        assert_eq!(e.flows[&key(1, 2)].owner, Owner::Process(proc(9)));
    }

    #[test]
    fn a_closed_connection_is_forgotten_after_seconds_an_idle_one_after_minutes() {
        let mut e = Engine::new(vec!["red".into()], T0);
        let (open, closed) = (key(1, 2), key(3, 4));
        e.record(T0, &pkt(open, Dir::Tx, 100));
        e.record(T0, &pkt(closed, Dir::Tx, 100));
        let fin = Packet {
            fin_or_rst: true,
            ..pkt(closed, Dir::Rx, 60)
        };
        e.record(T0 + NS, &fin);
        for k in [open, closed] {
            e.set_owner(&k, Some(proc(7)));
        }
        e.tick(T0 + NS + CLOSED_IDLE_NS - 1);
        assert_eq!(e.flows.len(), 2, "a closing flow waits for its last ACKs");
        e.tick(T0 + NS + CLOSED_IDLE_NS + 1);
        assert!(e.flows.contains_key(&open) && !e.flows.contains_key(&closed));
        e.tick(T0 + FLOW_IDLE_NS + 1);
        assert!(e.flows.is_empty());
        // Its bytes stay with its process.
        let rows = e.rows(T0 + FLOW_IDLE_NS + 1);
        assert_eq!(rows[0].total_tx + rows[0].total_rx, 260);
    }

    #[test]
    fn rows_peaks_and_retired_totals() {
        let mut e = Engine::new(vec!["red".into()], T0);
        e.record(T0, &pkt(key(1, 2), Dir::Tx, 5000));
        e.set_owner(&key(1, 2), Some(proc(3)));
        e.record(T0 + NS, &pkt(key(1, 2), Dir::Rx, 1000));
        e.tick(T0 + NS);
        e.tick(T0 + 2 * NS);
        let rows = e.rows(T0 + 2 * NS);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].peak, 5000.0);
        assert_eq!(rows[0].rates[0], (2500.0, 500.0));
        assert_eq!((rows[0].total_tx, rows[0].total_rx), (5000, 1000));
        // Idle flows are forgotten but their bytes and the row stay.
        e.tick(T0 + 2 * NS + FLOW_IDLE_NS);
        assert!(e.flows.is_empty());
        let rows = e.rows(T0 + 2 * NS + FLOW_IDLE_NS);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].total_tx, rows[0].total_rx), (5000, 1000));
        assert_eq!(rows[0].info.as_ref().map(|p| p.pid), Some(3));
    }

    #[test]
    fn rows_of_long_gone_processes_are_bounded() {
        let mut e = Engine::new(vec!["red".into()], T0);
        // One short-lived process per port, each flow idle long enough to be retired.
        let n = MAX_ROWS as u16 + 500;
        for i in 0..n {
            let t = T0 + i64::from(i) * 1_000_000;
            e.record(t, &pkt(key(i, 80), Dir::Tx, 100));
            e.set_owner(&key(i, 80), Some(proc(i32::from(i) + 1)));
        }
        let later = T0 + FLOW_IDLE_NS + 70 * NS;
        e.tick(later);
        assert!(e.flows.is_empty());
        assert!(e.retired.len() <= MAX_ROWS, "{}", e.retired.len());
        assert_eq!(e.infos.len(), e.retired.len());
        // The newest processes are the ones kept.
        let pids: Vec<i32> = e
            .rows(later)
            .iter()
            .filter_map(|r| r.info.as_ref().map(|p| p.pid))
            .collect();
        assert!(pids.contains(&i32::from(n)));
        assert!(!pids.contains(&1));
        // A live flow's row is never forgotten.
        e.record(later, &pkt(key(1, 80), Dir::Tx, 1));
        e.set_owner(&key(1, 80), Some(proc(1)));
        for i in 0..(MAX_ROWS as u16 + 10) {
            let t = later + NS + i64::from(i);
            e.record(t, &pkt(key(i + 2, 81), Dir::Tx, 1));
            e.set_owner(&key(i + 2, 81), Some(proc(100_000 + i32::from(i))));
        }
        e.tick(later + 2 * NS);
        assert!(e
            .rows(later + 2 * NS)
            .iter()
            .any(|r| r.info.as_ref().is_some_and(|p| p.pid == 1)));
    }
}
