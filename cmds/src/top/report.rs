//! What `top` reports: the rows the screen shows, and the `--json` object printed per
//! interval (docs/CLI.md). Field names of the serde types are the contract.

use super::container::Container;
use super::engine::{FlowKey, Meter, ProcInfo, ProcKey};
use serde::Serialize;
use std::sync::Arc;

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
    pub warnings: Vec<Notice>,
    /// Which path attributed and counted this object's bytes: "bpf" (the kernel
    /// recorded socket owners and counted bytes) or "sock-diag" (captured packets,
    /// owners looked up by sock_diag and /proc).
    pub attribution: &'static str,
    /// The BPF path's losses (absent on the sock-diag path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<super::engine::KernelStats>,
}

impl Snapshot {
    /// `--container`: keeps only the processes of the container(s) `needle` names (see
    /// [`Container::matches`]). `unattributed` stays the namespaces' own: bytes with no
    /// process have no container either.
    pub fn keep_container(&mut self, needle: &str) {
        self.processes
            .retain(|p| p.container.as_ref().is_some_and(|c| c.matches(needle)));
    }
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
    /// The process's container or pod, `null` outside one.
    pub container: Option<Container>,
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

/// What happened while running (a namespace deleted, an interface gone...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The namespace was deleted; its capture stopped.
    NetnsGone,
    /// An `-i` interface disappeared (the capture stops when none is left).
    InterfaceGone,
    /// The capture failed (a libpcap read error); it stopped.
    CaptureFailed,
    /// Attribution in the namespace failed; its bytes stay unattributed.
    AttributionFailed,
    /// `--all-netns`: a namespace created after the start could not be watched.
    NetnsSkipped,
    /// The BPF path's maps were full: socket owners or flow counters were evicted
    /// before they were read (bytes lost or left unattributed), or not stored.
    KernelEvictions,
    /// `--all-netns`: a namespace created after the start is counted from now on
    /// (not a warning).
    NetnsAdded,
}

/// One event, told once: on stderr and in the snapshot's `warnings` in `--json` mode,
/// in the status line of the screen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notice {
    pub netns: String,
    pub kind: NoticeKind,
    /// One line, e.g. "namespace ns-VRF1 was deleted; stopped counting it".
    pub message: String,
}

impl Notice {
    pub fn is_warning(&self) -> bool {
        self.kind != NoticeKind::NetnsAdded
    }
}
