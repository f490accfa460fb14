//! `netkit drops`: the kernel's packet drops (tracepoint skb:kfree_skb with its drop
//! reason), counted in the kernel per (namespace, interface, reason, protocol, flow,
//! socket) and read once per interval by `netkit_os::bpf::drops`. This module turns one
//! interval's raw counts into named rows (namespace label, interface name, reason name
//! from the kernel's BTF, process), keeps running totals, and draws the table.
//!
//! - [`Interval`]: what the kernel counted in one interval, as read from its maps;
//! - [`Names`]: what the numbers are called (looked up by netkit-os);
//! - [`Drops`]: the running totals and the rows of each interval, biggest first;
//! - [`report`]: the `--json` objects; [`view`]: the table.

pub mod report;
pub mod view;

use crate::ss::Owner;
use report::{DropFlow, DropRow, IntervalReport, ProbeReport, Process};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// One counted key of the kernel's map: drops that share namespace, interface,
/// reason, protocol, flow and socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DropRecord {
    /// The namespace's inode (as /proc/PID/ns/net shows it); 0 when the kernel could
    /// tell neither from the device nor from the socket.
    pub netns: u64,
    /// 0 when the packet had no device when it was freed.
    pub ifindex: u32,
    /// `enum skb_drop_reason`'s value in the running kernel.
    pub reason: u32,
    /// The ethertype (`skb->protocol`, host order).
    pub l3proto: u16,
    /// The 5-tuple, when the IP header could be read.
    pub flow: Option<Flow>,
    /// The local socket's inode, 0 when none (or not a full socket).
    pub sock_inode: u64,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow {
    /// IP protocol number.
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// 0 for protocols without ports.
    pub sport: u16,
    pub dport: u16,
}

/// The probe's own counters for one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeCounts {
    /// Drops the program saw (SKB_CONSUMED excluded), estimated when sampling.
    pub seen: u64,
    /// Drops counted in `seen` but in no row: the map was full.
    pub overflow: u64,
    /// Drops skipped over the budget, each stood for by a sampled one.
    pub sampled_out: u64,
}

/// What the kernel counted in one interval.
#[derive(Debug, Clone, Default)]
pub struct Interval {
    pub records: Vec<DropRecord>,
    pub counts: ProbeCounts,
    /// Its length in nanoseconds.
    pub elapsed_ns: u64,
}

/// The sampling rule in force (shown with the counts, so an estimate is never read
/// as an exact count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Drops per second per CPU parsed in full; 0: no limit.
    pub per_cpu_per_sec: u64,
    /// Over it, 1 in this many is parsed and counted this many times.
    pub sample_every: u32,
    /// Keys each interval can hold before drops go to `overflow`.
    pub max_keys: u32,
}

/// What the numbers in the records are called.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// namespace inode -> label (`host`, a /run/netns name, `pid:N`, or `netns:[inode]`).
    pub netns: HashMap<u64, String>,
    /// (namespace inode, ifindex) -> interface name.
    pub ifnames: HashMap<(u64, u32), String>,
    /// `enum skb_drop_reason`, value -> variant name, from the kernel's BTF.
    pub reasons: BTreeMap<i64, String>,
    /// socket inode -> processes holding it.
    pub owners: HashMap<u64, Vec<Owner>>,
}

impl Names {
    pub fn netns_label(&self, inode: u64) -> String {
        match self.netns.get(&inode) {
            Some(l) => l.clone(),
            None if inode == 0 => "?".to_string(),
            None => format!("netns:[{inode}]"),
        }
    }

    pub fn ifname(&self, netns: u64, ifindex: u32) -> String {
        match self.ifnames.get(&(netns, ifindex)) {
            Some(n) => n.clone(),
            None if ifindex == 0 => "-".to_string(),
            None => format!("if{ifindex}"),
        }
    }

    /// The kernel's name without its `SKB_DROP_REASON_` prefix: `NETFILTER_DROP`,
    /// `NOT_SPECIFIED`; a value the BTF does not name stays a number.
    pub fn reason(&self, value: u32) -> String {
        match self.reasons.get(&i64::from(value)) {
            Some(n) => n.strip_prefix("SKB_DROP_REASON_").unwrap_or(n).to_string(),
            None => format!("reason {value}"),
        }
    }
}

/// "TCP", "UDP", "ICMP", ..., from the IP protocol number, else from the ethertype.
pub fn protocol_name(l3proto: u16, flow: Option<&Flow>) -> String {
    if let Some(f) = flow {
        return match f.proto {
            1 => "ICMP".into(),
            2 => "IGMP".into(),
            6 => "TCP".into(),
            17 => "UDP".into(),
            47 => "GRE".into(),
            50 => "ESP".into(),
            58 => "ICMPv6".into(),
            132 => "SCTP".into(),
            p => format!("ip-proto {p}"),
        };
    }
    match l3proto {
        0x0800 => "IPv4".into(),
        0x86dd => "IPv6".into(),
        0x0806 => "ARP".into(),
        0x88cc => "LLDP".into(),
        0 => "-".into(),
        p => format!("0x{p:04x}"),
    }
}

/// The identity of a row across intervals (the running total's key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RowKey {
    netns: u64,
    ifindex: u32,
    reason: u32,
    l3proto: u16,
    flow: Option<Flow>,
    sock_inode: u64,
}

/// Keeps the running totals; turns each interval into rows.
#[derive(Debug)]
pub struct Drops {
    budget: Budget,
    totals: HashMap<RowKey, u64>,
    /// Process names stay known after the process exits, for the totals' sake.
    owners_seen: HashMap<u64, Process>,
    total_seen: u64,
    total_overflow: u64,
    total_sampled: u64,
}

/// The most distinct rows remembered for running totals; past it the oldest-looking
/// (smallest) are forgotten, and the report says how many were.
const MAX_TOTALS: usize = 100_000;

impl Drops {
    pub fn new(budget: Budget) -> Drops {
        Drops {
            budget,
            totals: HashMap::new(),
            owners_seen: HashMap::new(),
            total_seen: 0,
            total_overflow: 0,
            total_sampled: 0,
        }
    }

    /// One interval's report: its rows (filtered by `keep`), biggest first.
    pub fn interval(
        &mut self,
        ts_ns: i64,
        interval: &Interval,
        names: &Names,
        keep: &dyn Fn(&DropRecord) -> bool,
    ) -> IntervalReport {
        self.total_seen += interval.counts.seen;
        self.total_overflow += interval.counts.overflow;
        self.total_sampled += interval.counts.sampled_out;
        let secs = (interval.elapsed_ns as f64 / 1e9).max(1e-9);
        // One row per key; the kernel's keys are already unique per interval.
        let mut merged: BTreeMap<RowKey, (u64, u64)> = BTreeMap::new();
        for r in interval.records.iter().filter(|r| keep(r)) {
            let e = merged
                .entry(RowKey {
                    netns: r.netns,
                    ifindex: r.ifindex,
                    reason: r.reason,
                    l3proto: r.l3proto,
                    flow: r.flow,
                    sock_inode: r.sock_inode,
                })
                .or_default();
            e.0 += r.packets;
            e.1 += r.bytes;
        }
        let mut rows = Vec::with_capacity(merged.len());
        let mut forgotten = 0u64;
        for (key, (count, bytes)) in merged {
            let total = if let Some(t) = self.totals.get_mut(&key) {
                *t += count;
                *t
            } else if self.totals.len() < MAX_TOTALS {
                self.totals.insert(key.clone(), count);
                count
            } else {
                forgotten += 1;
                count
            };
            let process = if key.sock_inode == 0 {
                None
            } else if let Some(o) = names.owners.get(&key.sock_inode).and_then(|v| v.first()) {
                let p = Process {
                    pid: o.pid,
                    comm: o.comm.clone(),
                };
                self.owners_seen.insert(key.sock_inode, p.clone());
                Some(p)
            } else {
                self.owners_seen.get(&key.sock_inode).cloned()
            };
            rows.push(DropRow {
                netns: names.netns_label(key.netns),
                netns_inode: key.netns,
                ifname: names.ifname(key.netns, key.ifindex),
                ifindex: key.ifindex,
                reason: names.reason(key.reason),
                protocol: protocol_name(key.l3proto, key.flow.as_ref()),
                flow: key.flow.map(|f| DropFlow {
                    src: f.src,
                    dst: f.dst,
                    sport: f.sport,
                    dport: f.dport,
                }),
                socket_inode: (key.sock_inode != 0).then_some(key.sock_inode),
                process,
                count,
                bytes,
                rate: count as f64 / secs,
                total,
            });
        }
        rows.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.total.cmp(&a.total))
                .then(a.netns.cmp(&b.netns))
        });
        let budget = self.budget;
        IntervalReport {
            ts_ns,
            interval_s: secs,
            rows,
            probe: ProbeReport {
                seen: interval.counts.seen,
                overflow: interval.counts.overflow,
                sampled_out: interval.counts.sampled_out,
                total_seen: self.total_seen,
                total_overflow: self.total_overflow,
                total_sampled_out: self.total_sampled,
                budget_per_cpu_per_sec: budget.per_cpu_per_sec,
                sample_every: budget.sample_every,
                max_keys: budget.max_keys,
                totals_forgotten: forgotten,
            },
        }
    }
}

#[cfg(test)]
mod tests;
