//! `netkit top`: which process and which remote host cause the traffic, per network
//! namespace.
//!
//! The [`Engine`] is pure bookkeeping with an injected clock (every call takes `now_ns`),
//! so windows, peaks and interval snapshots are tested without sleeping. The
//! [`Monitor`] runs it live: per namespace one capture thread (libpcap on `any`, cooked
//! v2 framing so each frame says its direction and interface) and one attribution
//! thread, both entered into the namespace so their sockets stay bound to it.
//!
//! Bytes are wire bytes (`orig_len`). A flow is keyed by (namespace, protocol, local,
//! remote); ICMP echo flows use the echo identifier as both "ports", which is also the
//! key of the ping socket that owns them.

pub mod attribution;
pub mod names;
pub mod resolve;
pub mod ring;
pub mod signals;
pub mod tui;
pub mod watch;

use crate::capture::{LiveCapture, LiveOptions};
use crate::netns::Netns;
use netkit_dissectors::frame::{dissect, AppProto, DissectOptions, Layer};
use serde::Serialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

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

    fn merge(&mut self, other: &Meter) {
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
    pub flows: crate::analyze::FastMap<FlowKey, Flow>,
    pub names: names::Names,
    retired: HashMap<ProcKey, Retired>,
    infos: HashMap<ProcKey, Arc<ProcInfo>>,
    last_snapshot_ns: i64,
    last_peak_sec: i64,
    /// Connections replaced by a new one on the same tuple, whose interval bytes the
    /// next snapshot still reports.
    closed: Vec<(FlowKey, Flow)>,
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

/// One row of the process table.
#[derive(Clone, Debug)]
pub struct ProcRow {
    pub key: ProcKey,
    pub info: Option<Arc<ProcInfo>>,
    pub netns: String,
    /// (tx, rx) bytes per second for each of [`WINDOWS`].
    pub rates: [(f64, f64); 3],
    pub peak: f64,
    pub total_tx: u64,
    pub total_rx: u64,
    pub connections: usize,
    pub meter: Meter,
}

/// One connection row of a drill-down.
#[derive(Clone, Debug)]
pub struct ConnRow {
    pub key: FlowKey,
    pub remote_name: Option<String>,
    pub rates: [(f64, f64); 3],
    pub total_tx: u64,
    pub total_rx: u64,
}

/// `--json` output: one object per interval.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Snapshot {
    /// End of the interval, seconds since the Unix epoch.
    pub ts: f64,
    pub interval_s: f64,
    pub processes: Vec<ProcSnapshot>,
    pub unattributed: Bytes,
    /// Faults since the previous object (a namespace deleted, an interface gone, a
    /// capture failed), each told once; filled in by the `--json` loop.
    pub warnings: Vec<watch::Notice>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct Bytes {
    pub tx_bytes: u64,
    pub rx_bytes: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProcSnapshot {
    pub pid: i32,
    pub comm: String,
    pub cmdline: String,
    pub netns: String,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub connections: Vec<ConnSnapshot>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConnSnapshot {
    pub proto: String,
    pub local: String,
    pub remote: String,
    pub remote_name: Option<String>,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
}

impl Engine {
    pub fn new(netns: Vec<String>, now_ns: i64) -> Engine {
        Engine {
            netns,
            flows: crate::analyze::FastMap::default(),
            names: names::Names::default(),
            retired: HashMap::new(),
            infos: HashMap::new(),
            last_snapshot_ns: now_ns,
            last_peak_sec: now_ns.div_euclid(NS),
            closed: Vec::new(),
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
            Flow {
                owner: Owner::Pending,
                meter: Box::default(),
                total_tx: 0,
                total_rx: 0,
                interval_tx: 0,
                interval_rx: 0,
                last_seen_ns: now_ns,
                looked_up_ns: now_ns,
                established: false,
                closing: false,
                first_ts_ns: frame_ts_ns,
            }
        });
        if !packet.syn {
            flow.established = true;
        }
        flow.closing |= packet.fin_or_rst;
        if flow.owner == Owner::Unknown && now_ns - flow.looked_up_ns >= RETRY_NS {
            flow.looked_up_ns = now_ns;
            lookup = Lookup::Owner;
        }
        flow.meter.add(now_ns, dir, bytes);
        match dir {
            Dir::Tx => {
                flow.total_tx += bytes;
                flow.interval_tx += bytes;
            }
            Dir::Rx => {
                flow.total_rx += bytes;
                flow.interval_rx += bytes;
            }
        }
        flow.last_seen_ns = now_ns;
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
        if let Some(flow) = self.flows.get_mut(key) {
            match owner {
                Some(p) => flow.owner = Owner::Process(p),
                None if matches!(flow.owner, Owner::Process(_)) => {}
                None => flow.owner = Owner::Unknown,
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
        }
    }
}

/// One frame as `top` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub key: FlowKey,
    pub dir: Dir,
    /// Wire bytes.
    pub wire: u64,
    /// A TCP SYN without ACK: a new connection, even on a tuple seen before.
    pub syn: bool,
    /// A TCP FIN or RST: the connection is ending.
    pub fin_or_rst: bool,
}

/// What one frame means to `top`: its flow, direction and wire length; `None` for
/// frames that are not IP or that the interface selection leaves out.
///
/// A cooked capture's original length counts the cooked header (16 or 20 bytes)
/// instead of the link header the frame had on the wire; the wire length puts the
/// link header back (14 bytes on Ethernet and loopback, none on tun and the like).
pub fn classify(
    netns: u32,
    linktype: u16,
    data: &[u8],
    orig_len: u32,
    interfaces: Option<&[u32]>,
    opts: &DissectOptions,
    names: Option<&mut names::Names>,
) -> Option<Packet> {
    match classify_fast(netns, linktype, data, orig_len, interfaces) {
        Fast::Done(p) => p,
        Fast::Dissect => {
            classify_dissected(netns, linktype, data, orig_len, interfaces, opts, names)
        }
    }
}

enum Fast {
    Done(Option<Packet>),
    /// Not the plain case: let the full dissector decide.
    Dissect,
}

const LINKTYPE_LINUX_SLL2: u16 = 276;

/// The common case read straight from the bytes: an SLL2 frame carrying unfragmented
/// IPv4, or IPv6 without extension headers, with TCP or non-DNS UDP. Everything else
/// (ICMP, DNS answers to learn names from, tunnels, fragments, options) goes through
/// [`dissect`]. At tens of thousands of frames a second this halves the per-frame
/// cost; the tests check both paths agree.
fn classify_fast(
    netns: u32,
    linktype: u16,
    data: &[u8],
    orig_len: u32,
    interfaces: Option<&[u32]>,
) -> Fast {
    const PACKET_OUTGOING: u8 = 4;
    const ARPHRD_ETHER: u16 = 1;
    if linktype != LINKTYPE_LINUX_SLL2 {
        return Fast::Dissect;
    }
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (Some(ethertype), Some(arphrd), Some(&packet_type)) = (be16(0), be16(8), data.get(10))
    else {
        return Fast::Dissect;
    };
    if arphrd != ARPHRD_ETHER {
        return Fast::Dissect;
    }
    if let Some(wanted) = interfaces {
        let Some(ifindex) = data
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return Fast::Dissect;
        };
        if !wanted.contains(&ifindex) {
            return Fast::Done(None);
        }
    }
    let ip = data.get(20..).unwrap_or_default();
    let (src, dst, proto, l4) = match ethertype {
        0x0800 => {
            let (Some(&vihl), Some(frag), Some(&proto), Some(s), Some(d)) = (
                ip.first(),
                ip.get(6..8),
                ip.get(9),
                ip.get(12..16),
                ip.get(16..20),
            ) else {
                return Fast::Dissect;
            };
            // More-fragments flag or an offset: not the plain case.
            if vihl != 0x45 || frag[0] & 0x3f != 0 || frag[1] != 0 {
                return Fast::Dissect;
            }
            (
                IpAddr::from([s[0], s[1], s[2], s[3]]),
                IpAddr::from([d[0], d[1], d[2], d[3]]),
                proto,
                20,
            )
        }
        0x86dd => {
            let (Some(&v), Some(&proto), Some(s), Some(d)) =
                (ip.first(), ip.get(6), ip.get(8..24), ip.get(24..40))
            else {
                return Fast::Dissect;
            };
            let (Ok(s), Ok(d)) = (<[u8; 16]>::try_from(s), <[u8; 16]>::try_from(d)) else {
                return Fast::Dissect;
            };
            if v >> 4 != 6 {
                return Fast::Dissect;
            }
            (IpAddr::from(s), IpAddr::from(d), proto, 40)
        }
        _ => return Fast::Dissect,
    };
    let (Some(sport), Some(dport)) = (
        ip.get(l4..l4 + 2).map(|b| u16::from_be_bytes([b[0], b[1]])),
        ip.get(l4 + 2..l4 + 4)
            .map(|b| u16::from_be_bytes([b[0], b[1]])),
    ) else {
        return Fast::Dissect;
    };
    let (proto, syn, fin_or_rst) = match proto {
        6 => {
            let Some(&flags) = ip.get(l4 + 13) else {
                return Fast::Dissect;
            };
            (Proto::Tcp, flags & 0x12 == 0x02, flags & 0x05 != 0)
        }
        17 if ![53, 5353].contains(&sport) && ![53, 5353].contains(&dport) => {
            (Proto::Udp, false, false)
        }
        _ => return Fast::Dissect,
    };
    let dir = if packet_type == PACKET_OUTGOING {
        Dir::Tx
    } else {
        Dir::Rx
    };
    let (s, d) = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
    let (local, remote) = match dir {
        Dir::Tx => (s, d),
        Dir::Rx => (d, s),
    };
    Fast::Done(Some(Packet {
        key: FlowKey {
            netns,
            proto,
            local,
            remote,
        },
        dir,
        // The 20-byte SLL2 header stands where a 14-byte Ethernet header was.
        wire: (u64::from(orig_len) + 14).saturating_sub(20),
        syn,
        fin_or_rst,
    }))
}

fn classify_dissected(
    netns: u32,
    linktype: u16,
    data: &[u8],
    orig_len: u32,
    interfaces: Option<&[u32]>,
    opts: &DissectOptions,
    names: Option<&mut names::Names>,
) -> Option<Packet> {
    let frame = dissect(linktype, data, opts);
    let mut syn = false;
    let mut fin_or_rst = false;
    let mut wire = u64::from(orig_len);
    let mut dir = None;
    let mut src = None;
    let mut dst = None;
    let mut proto = None;
    let mut ports = (0u16, 0u16);
    for layer in frame.own_layers() {
        match layer {
            Layer::Sll(s) if dir.is_none() => {
                if let (Some(wanted), Some(ifindex)) = (interfaces, s.ifindex) {
                    if !wanted.contains(&ifindex) {
                        return None;
                    }
                }
                // Loopback frames show up twice (going out and coming in); count the
                // outgoing copy only, as the sender's transmit.
                const PACKET_OUTGOING: u16 = 4;
                const ARPHRD_LOOPBACK: u16 = 772;
                if s.arphrd == ARPHRD_LOOPBACK && s.packet_type != PACKET_OUTGOING {
                    return None;
                }
                const ARPHRD_ETHER: u16 = 1;
                let cooked: u64 = if s.version == 2 { 20 } else { 16 };
                let link: u64 = match s.arphrd {
                    ARPHRD_ETHER | ARPHRD_LOOPBACK => 14,
                    _ => 0,
                };
                wire = (wire + link).saturating_sub(cooked);
                dir = Some(if s.packet_type == PACKET_OUTGOING {
                    Dir::Tx
                } else {
                    Dir::Rx
                });
            }
            // The outermost IP header decides the flow; tunnels are counted as the
            // tunnel's flow, which is the socket a process holds.
            Layer::Ipv4(ip) if src.is_none() => {
                src = Some(IpAddr::V4(ip.src));
                dst = Some(IpAddr::V4(ip.dst));
                proto = Some(Proto::Ip(ip.protocol));
            }
            Layer::Ipv6(ip) if src.is_none() => {
                src = Some(IpAddr::V6(ip.src));
                dst = Some(IpAddr::V6(ip.dst));
                proto = Some(Proto::Ip(ip.next_header));
            }
            Layer::Tcp(t) if matches!(proto, Some(Proto::Ip(_))) => {
                proto = Some(Proto::Tcp);
                const SYN: u16 = 0x02;
                const ACK: u16 = 0x10;
                syn = t.flags & (SYN | ACK) == SYN;
                const FIN: u16 = 0x01;
                const RST: u16 = 0x04;
                fin_or_rst = t.flags & (FIN | RST) != 0;
                ports = (t.src_port, t.dst_port);
            }
            Layer::Udp(u) if matches!(proto, Some(Proto::Ip(_))) => {
                proto = Some(Proto::Udp);
                ports = (u.src_port, u.dst_port);
            }
            Layer::Icmp(i) if matches!(proto, Some(Proto::Ip(_))) => {
                proto = Some(Proto::Icmp);
                // Echo request/reply (v4 8/0, v6 128/129) carry the identifier a ping
                // socket is bound to; other ICMP messages get port 0.
                let echo = matches!((i.version, i.icmp_type), (4, 0 | 8) | (6, 128 | 129));
                let id = if echo {
                    u16::from_be_bytes([i.rest[0], i.rest[1]])
                } else {
                    0
                };
                ports = (id, id);
            }
            Layer::App {
                proto: AppProto::Dns,
                data,
                ..
            } => {
                if let Some(names) = names {
                    if ports.0 == 53 || ports.0 == 5353 {
                        names.observe_dns(data);
                    }
                }
                break;
            }
            _ => {}
        }
    }
    let (src, dst, proto) = (src?, dst?, proto?);
    let dir = dir.unwrap_or(Dir::Rx);
    let (s, d) = (SocketAddr::new(src, ports.0), SocketAddr::new(dst, ports.1));
    let (local, remote) = match dir {
        Dir::Tx => (s, d),
        Dir::Rx => (d, s),
    };
    Some(Packet {
        key: FlowKey {
            netns,
            proto,
            local,
            remote,
        },
        dir,
        wire,
        syn,
        fin_or_rst,
    })
}

/// The bulk ring's filter: TCP segments without SYN (see `capture_loop`).
const BULK: &str =
    "(ip and tcp and tcp[13] & 2 == 0) or (ip6 and ip6[6] == 6 and ip6[53] & 2 == 0)";

/// The quick ring's filter: every other IP frame, so the two never count one twice.
fn quick_filter() -> String {
    format!("(ip or ip6) and not ({BULK})")
}

/// How [`Monitor::start`] captures.
#[derive(Clone, Debug, Default)]
pub struct MonitorOptions {
    /// Interface names to count (empty: all but loopback's duplicates).
    pub interfaces: Vec<String>,
    /// Bytes kept per frame; enough for headers and most DNS answers.
    pub snaplen: u32,
    /// Also name remote hosts by reverse lookups (see [`resolve`]).
    pub resolve: bool,
    /// Also watch namespaces created after the start (`--all-netns`).
    pub all_netns: bool,
    /// `--write`: bytes of recent frames kept for dumps (0: none kept, no cost).
    pub ring_bytes: u64,
}

/// Where and how much a `--write` dump writes.
#[derive(Clone, Debug)]
pub struct WriteTarget {
    pub path: std::path::PathBuf,
    /// Only frames of the last this many seconds.
    pub last_s: Option<f64>,
}

/// Live capture and attribution threads feeding one shared [`Engine`], and the watch
/// that stops the capture of a namespace that was deleted (see [`watch`]).
pub struct Monitor {
    pub engine: Arc<Mutex<Engine>>,
    /// Faults and changes while running, each told once.
    pub notices: Arc<watch::Notices>,
    /// `--write`: the ring of recent frames.
    pub ring: Option<Arc<ring::Ring>>,
    watch: Arc<watch::Watch>,
    stop: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

/// Nanoseconds on the monotonic clock the live engine runs on.
pub fn monotonic_ns() -> i64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    // Offset by a day so that second 0 is never confused with "no data yet".
    i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX) + 86_400 * NS
}

/// Raises the calling thread's scheduling priority (nice -10) when allowed, best
/// effort. On a loaded machine a normal-priority thread can wait milliseconds for a
/// CPU after a packet arrives, and a connection that lives one millisecond has closed
/// its socket by then: the capture and attribution threads must run first. There is
/// no safe std or nix call for setpriority(2) on one thread, so this asks renice(1),
/// which on Linux takes a thread id.
fn boost_this_thread() {
    let Ok(link) = std::fs::read_link("/proc/thread-self") else {
        return;
    };
    let Some(tid) = link
        .file_name()
        .and_then(|t| t.to_str())
        .map(str::to_string)
    else {
        return;
    };
    let _ = std::process::Command::new("renice")
        .args(["-n", "-10", "-p", &tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Nanoseconds since the Unix epoch.
pub fn unix_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Monitor {
    /// Opens a capture in every namespace (inside it) and starts counting. Fails with
    /// one line when any capture cannot be opened (missing CAP_NET_RAW, no such
    /// interface, cannot enter the namespace). Later faults stop only the capture they
    /// concern and become [`Monitor::notices`].
    pub fn start(namespaces: &[Netns], opts: &MonitorOptions) -> Result<Monitor, String> {
        let labels = namespaces.iter().map(|n| n.label.clone()).collect();
        let engine = Arc::new(Mutex::new(Engine::new(labels, monotonic_ns())));
        let snaplen = if opts.snaplen > 0 {
            opts.snaplen
        } else {
            LiveOptions::new("any").snaplen
        };
        let ring = (opts.ring_bytes > 0).then(|| ring::Ring::new(opts.ring_bytes, snaplen));
        let notices = Arc::new(watch::Notices::default());
        let ctx = watch::Context {
            engine: engine.clone(),
            opts: opts.clone(),
            ring: ring.clone(),
        };
        let watch = Arc::new(watch::Watch::new(ctx, notices.clone(), opts.all_netns));
        let stop = Arc::new(AtomicBool::new(false));
        let mut monitor = Monitor {
            engine,
            notices,
            ring,
            watch: watch.clone(),
            stop: stop.clone(),
            watcher: None,
        };
        for (i, ns) in namespaces.iter().enumerate() {
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            // On failure `monitor` is dropped, which stops what was started.
            let cap = watch::spawn(&watch.ctx, ns, idx)?;
            watch.captures().push(cap);
        }
        if opts.resolve {
            let engine = monitor.engine.clone();
            let stop = stop.clone();
            // Not joined by `stop`: a lookup can block for the resolver's whole timeout,
            // and nothing is lost by leaving it to end with the process.
            std::thread::spawn(move || {
                if crate::caps::keep_only(&[]).is_ok() {
                    resolve::run(&engine, &stop);
                }
            });
        }
        monitor.watcher = Some(std::thread::spawn(move || watch.run(&stop)));
        Ok(monitor)
    }

    /// Namespaces still being counted.
    pub fn active(&self) -> usize {
        self.watch.captures().iter().filter(|c| c.active).count()
    }

    /// Writes the `--write` ring to `target` (see [`ring::Ring::dump`]); interfaces are
    /// named `namespace/interface`.
    pub fn dump(&self, target: &WriteTarget) -> Result<ring::DumpSummary, String> {
        let Some(ring) = &self.ring else {
            return Err("nothing to write: start netkit top with --write PATH".to_string());
        };
        let labels = self
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .netns
            .clone();
        let links: HashMap<u32, HashMap<u32, String>> = self
            .watch
            .captures()
            .iter()
            .map(|c| (c.idx, c.links.clone()))
            .collect();
        let mut name = |netns: u32, ifindex: Option<u32>| {
            let ns = labels
                .get(netns as usize)
                .cloned()
                .unwrap_or_else(|| format!("#{netns}"));
            match ifindex {
                Some(i) => {
                    let dev = links
                        .get(&netns)
                        .and_then(|l| l.get(&i))
                        .cloned()
                        .unwrap_or_else(|| format!("if{i}"));
                    format!("{ns}/{dev}")
                }
                None => ns,
            }
        };
        ring.dump(&target.path, target.last_s, unix_ns(), &mut name)
            .map_err(|e| format!("cannot write {}: {e}", target.path.display()))
    }

    /// Stops the capture threads and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        for cap in self.watch.captures().iter_mut() {
            cap.stop_and_join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn capture_loop(
    idx: u32,
    opts: &MonitorOptions,
    engine: &Mutex<Engine>,
    stop: &AtomicBool,
    lookup: &mpsc::Sender<(FlowKey, i64)>,
    ready: &mpsc::Sender<Result<(), String>>,
    hooks: &watch::Hooks,
) -> Result<(), String> {
    let mut wanted = Vec::new();
    if !opts.interfaces.is_empty() {
        // ifindexes are per namespace: resolve them here, inside it.
        const NETLINK_ROUTE: isize = 0;
        let sock = crate::nldump::open(NETLINK_ROUTE)?;
        let links = crate::nldump::Links::dump(&sock).map_err(|e| e.to_string())?;
        for name in &opts.interfaces {
            let index = links
                .0
                .iter()
                .find(|(_, l)| &l.name == name)
                .map(|(i, _)| *i)
                .ok_or_else(|| format!("no interface named {name} in this namespace"))?;
            wanted.push(index);
        }
    }
    // Two rings split the traffic between them by a kernel filter, so that every
    // frame is counted exactly once:
    // - the bulk ring takes TCP segments without SYN, the vast majority at high
    //   rates. It hands frames over when a ring block fills or after BULK_TIMEOUT_MS,
    //   with only the headers kept, so a 400 Mbit/s transfer costs a few dozen
    //   wake-ups a second instead of one per millisecond.
    // - the quick ring takes everything else: SYNs (a new connection), UDP, ICMP and
    //   the rest, handed over within QUICK_TIMEOUT_MS. A new flow's first frame
    //   therefore reaches the attribution thread within about a millisecond, while
    //   the process that owns a 10 ms connection still holds its socket.
    // TCP behind IPv6 extension headers goes to the quick ring (the filter cannot
    // find its flags), which only costs a little CPU.
    const BULK_TIMEOUT_MS: u32 = 50;
    const BULK_SNAPLEN: u32 = 192;
    const QUICK_TIMEOUT_MS: u32 = 1;
    let mut bulk_opts = LiveOptions::new("any");
    bulk_opts.cooked_v2 = true;
    bulk_opts.immediate = false;
    bulk_opts.timeout_ms = BULK_TIMEOUT_MS;
    // Headers only: SLL2 (20) + IPv6 (40) + TCP with options (60) fit with room left.
    bulk_opts.snaplen = BULK_SNAPLEN;
    bulk_opts.filter = Some(BULK.to_string());
    let mut quick_opts = LiveOptions::new("any");
    quick_opts.cooked_v2 = true;
    // Not immediate mode (which makes libpcap fall back to a TPACKET_V2 ring and one
    // wake-up per frame) but TPACKET_V3 blocks handed over after 1 ms: under a UDP
    // flood one wake-up still serves a whole block.
    quick_opts.immediate = false;
    quick_opts.timeout_ms = QUICK_TIMEOUT_MS;
    quick_opts.buffer_bytes = 4 << 20;
    if opts.snaplen > 0 {
        quick_opts.snaplen = opts.snaplen;
    }
    quick_opts.filter = Some(quick_filter());
    let open = |o: &LiveOptions| {
        let mut cap = LiveCapture::open(o).map_err(|e| e.message().to_string())?;
        cap.set_nonblocking().map_err(|e| e.message().to_string())?;
        Ok::<_, String>(cap)
    };
    let mut quick = open(&quick_opts)?;
    let mut bulk = open(&bulk_opts)?;
    boost_this_thread();
    // Reading rings already open needs no capability.
    crate::caps::keep_only(&[])?;
    let _ = ready.send(Ok(()));
    let interfaces = (!wanted.is_empty()).then_some(wanted.as_slice());
    let dissect_opts = DissectOptions::default();
    let mut scratch_names = names::Names::default();
    let mut batch: Vec<(Packet, i64)> = Vec::with_capacity(1024);
    let mut lookups = Vec::new();
    // A UDP or ICMP flood keeps the quick ring busy with flows already known and
    // would wake this thread every millisecond. After QUIET_STREAK such hand-overs
    // in a row the thread naps FLOOD_NAP between them: a few hundred wake-ups a second
    // instead of a thousand or more, while a new flow still shows within a few ms.
    const QUIET_STREAK: u32 = 16;
    const FLOOD_NAP: std::time::Duration = std::time::Duration::from_millis(3);
    let mut quiet_streak = 0u32;
    while !stop.load(Ordering::Relaxed) {
        if quiet_streak >= QUIET_STREAK {
            std::thread::sleep(FLOOD_NAP);
        }
        // Wakes for frames, or every 100 ms to notice `stop`.
        LiveCapture::wait_any(&[&quick, &bulk], 100).map_err(|e| e.message().to_string())?;
        // The quick ring first: its SYNs were captured before most of what the bulk
        // ring holds, and the engine wants a connection's SYN before its data.
        for (which, cap) in [&mut quick, &mut bulk].into_iter().enumerate() {
            let is_quick = which == 0;
            cap.dispatch(&mut |frame| {
                // --write: keep a copy of the frame (ring.rs); no cost without it.
                if let Some(ring) = &hooks.ring {
                    ring.push(frame.ts_ns, frame.orig_len, frame.linktype, frame.data);
                }
                if let Some(packet) = classify(
                    idx,
                    frame.linktype,
                    frame.data,
                    frame.orig_len,
                    interfaces,
                    &dissect_opts,
                    Some(&mut scratch_names),
                ) {
                    batch.push((packet, frame.ts_ns));
                }
            })
            .map_err(|e| e.message().to_string())?;
            if batch.is_empty() {
                if is_quick {
                    quiet_streak = 0;
                }
                continue;
            }
            let busy = batch.len() >= 8;
            let now = monotonic_ns();
            {
                let mut e = engine.lock().unwrap_or_else(|e| e.into_inner());
                if !scratch_names.is_empty() {
                    e.names.absorb(&mut scratch_names);
                }
                for (packet, ts) in batch.drain(..) {
                    if e.record_at(now, &packet, ts) == Lookup::Owner {
                        lookups.push((packet.key, ts));
                    }
                }
            }
            if is_quick {
                quiet_streak = if busy && lookups.is_empty() {
                    quiet_streak.saturating_add(1)
                } else {
                    0
                };
            }
            for l in lookups.drain(..) {
                let _ = lookup.send(l);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Every IP frame of the shipped captures passes exactly one of the two rings'
    /// filters (no frame counted twice, none lost), and both kinds occur.
    #[test]
    fn the_two_ring_filters_split_ip_traffic_exactly() {
        use crate::capture::CaptureFile;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let frames = |path: &std::path::Path, filter: &str| -> Option<Vec<u64>> {
            let mut f = CaptureFile::open(path).ok()?;
            if let Err(e) = f.set_filter(filter) {
                assert!(e.message().contains("libpcap"), "{filter}: {}", e.message());
                return None;
            }
            let mut out = Vec::new();
            while let Some(frame) = f.next_frame() {
                out.push(frame.number);
            }
            Some(out)
        };
        let mut files = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path
                    .extension()
                    .is_some_and(|e| e == "pcap" || e == "pcapng")
                {
                    files.push(path);
                }
            }
        }
        let (mut bulk_total, mut quick_total) = (0, 0);
        for path in &files {
            let (Some(ip), Some(bulk), Some(quick)) = (
                frames(path, "ip or ip6"),
                frames(path, BULK),
                frames(path, &quick_filter()),
            ) else {
                continue;
            };
            let mut both: Vec<u64> = bulk.iter().chain(&quick).copied().collect();
            both.sort_unstable();
            assert_eq!(both, ip, "{}", path.display());
            bulk_total += bulk.len();
            quick_total += quick.len();
        }
        if files.is_empty() || bulk_total + quick_total == 0 {
            eprintln!("skipped: no fixtures or no libpcap runtime to compile filters");
            return;
        }
        eprintln!(
            "{} files: {bulk_total} bulk, {quick_total} quick",
            files.len()
        );
        assert!(
            bulk_total > 1000 && quick_total > 1000,
            "{bulk_total} {quick_total}"
        );
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

    /// SLL2 header (20 bytes) + IPv4 + TCP, built by hand.
    fn sll2_tcp(packet_type: u8, ifindex: u32, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0x08, 0x00, 0, 0];
        f.extend_from_slice(&ifindex.to_be_bytes());
        f.extend_from_slice(&[0x00, 0x01, packet_type, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        let ip = [
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, src[0], src[1], src[2], src[3], dst[0],
            dst[1], dst[2], dst[3],
        ];
        f.extend_from_slice(&ip);
        let tcp = [
            0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn fast_path_agrees_with_the_dissector() {
        let opts = DissectOptions::default();
        let mut frames = Vec::new();
        for (pt, flags) in [(4u8, 0x02u8), (0, 0x12), (0, 0x10), (4, 0x11)] {
            let mut f = sll2_tcp(pt, 3, [10, 0, 0, 1], [10, 0, 0, 2]);
            f[20 + 20 + 13] = flags;
            frames.push(f);
        }
        // The same as UDP (protocol 17, 8-byte header), and as IPv6/TCP.
        let mut udp = sll2_tcp(0, 3, [10, 0, 0, 2], [10, 0, 0, 1]);
        udp[20 + 9] = 17;
        udp.truncate(20 + 20 + 8);
        frames.push(udp);
        let mut v6 = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        v6.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(4));
        v6.extend_from_slice(&[0xfd, 0, 0, 1].repeat(4));
        v6.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
        v6.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        frames.push(v6);
        let mut rst = sll2_tcp(0, 3, [10, 0, 0, 2], [10, 0, 0, 1]);
        rst[20 + 20 + 13] = 0x14;
        frames.push(rst);
        let ends: Vec<bool> = frames
            .iter()
            .map(|f| classify(1, 276, f, 1000, None, &opts, None).is_some_and(|p| p.fin_or_rst))
            .collect();
        // SYN, SYN-ACK, ACK, FIN-ACK, UDP, IPv6 SYN, RST-ACK.
        assert_eq!(ends, [false, false, false, true, false, false, true]);
        for f in &frames {
            let Fast::Done(fast) = classify_fast(1, 276, f, 1000, None) else {
                panic!("fast path declined {f:02x?}");
            };
            let slow = classify_dissected(1, 276, f, 1000, None, &opts, None);
            assert!(fast.is_some());
            assert_eq!(fast, slow, "{f:02x?}");
            assert!(classify_fast(1, 276, f, 1000, Some(&[9])).is_done_none());
        }
        // ICMP and DNS take the dissector's path.
        let mut dns = frames[4].clone();
        dns[40..42].copy_from_slice(&53u16.to_be_bytes());
        assert!(matches!(
            classify_fast(1, 276, &dns, 100, None),
            Fast::Dissect
        ));
        let mut icmp = frames[0].clone();
        icmp[29] = 1;
        assert!(matches!(
            classify_fast(1, 276, &icmp, 100, None),
            Fast::Dissect
        ));
        assert!(matches!(
            classify_fast(1, 276, &frames[0][..30], 100, None),
            Fast::Dissect
        ));
    }

    impl Fast {
        fn is_done_none(&self) -> bool {
            matches!(self, Fast::Done(None))
        }
    }

    #[test]
    fn classify_orients_by_direction_and_filters_interfaces() {
        let opts = DissectOptions::default();
        let out = sll2_tcp(4, 3, [10, 0, 0, 1], [10, 0, 0, 2]);
        let Packet {
            key: k,
            dir: d,
            wire,
            syn,
            fin_or_rst,
        } = classify(2, 276, &out, 60, None, &opts, None).unwrap();
        assert!(!fin_or_rst);
        // The hand-made segment has only SYN set.
        assert!(syn);
        assert_eq!(d, Dir::Tx);
        // 20-byte SLL2 header replaced by a 14-byte Ethernet header.
        assert_eq!(wire, 54);
        assert_eq!(k.netns, 2);
        assert_eq!(k.proto, Proto::Tcp);
        assert_eq!(k.local, SocketAddr::from(([10, 0, 0, 1], 12345)));
        assert_eq!(k.remote, SocketAddr::from(([10, 0, 0, 2], 80)));
        let inbound = sll2_tcp(0, 3, [10, 0, 0, 2], [10, 0, 0, 1]);
        let p2 = classify(2, 276, &inbound, 60, None, &opts, None).unwrap();
        let (k2, d2) = (p2.key, p2.dir);
        assert_eq!(d2, Dir::Rx);
        assert_eq!(k2.local, SocketAddr::from(([10, 0, 0, 1], 80)));
        assert!(classify(2, 276, &out, 60, Some(&[4]), &opts, None).is_none());
        assert!(classify(2, 276, &out, 60, Some(&[3]), &opts, None).is_some());
        assert!(classify(2, 276, &out[..10], 60, None, &opts, None).is_none());
    }
}
