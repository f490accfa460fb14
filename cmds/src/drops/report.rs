//! `netkit drops --json`: one object per interval (docs/CLI.md, "drops").

use serde::Serialize;
use std::net::IpAddr;

#[derive(Debug, Clone, Serialize)]
pub struct IntervalReport {
    /// The end of the interval, ns since the epoch (printed as RFC 3339 `ts`).
    #[serde(rename = "ts", serialize_with = "ts")]
    pub ts_ns: i64,
    pub interval_s: f64,
    /// This interval's drops, biggest first (counts of this interval, not totals).
    pub rows: Vec<DropRow>,
    pub probe: ProbeReport,
}

fn ts<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::output::rfc3339_ns(*v))
}

#[derive(Debug, Clone, Serialize)]
pub struct DropRow {
    pub netns: String,
    pub netns_inode: u64,
    pub ifname: String,
    pub ifindex: u32,
    pub reason: String,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<DropFlow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_inode: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// Packets dropped in this interval.
    pub count: u64,
    pub bytes: u64,
    /// `count` per second.
    pub rate: f64,
    /// Since the start.
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DropFlow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub pid: i32,
    pub comm: String,
}

/// The probe's counters: nothing it saw is lost without being counted here.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// Drops seen this interval (SKB_CONSUMED never counts).
    pub seen: u64,
    /// Drops in `seen` that no row holds: the kernel's map was full.
    pub overflow: u64,
    /// Drops over the budget that were not parsed (stood for by sampled ones).
    pub sampled_out: u64,
    pub total_seen: u64,
    pub total_overflow: u64,
    pub total_sampled_out: u64,
    pub budget_per_cpu_per_sec: u64,
    pub sample_every: u32,
    pub max_keys: u32,
    /// Rows whose running total was not kept (over the bound of totals kept).
    pub totals_forgotten: u64,
}
