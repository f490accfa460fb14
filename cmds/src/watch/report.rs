//! What `netkit watch --json` prints: one JSON object per line, each an event tagged
//! by `event` (docs/CLI.md, "watch"). Field names are the contract.

use crate::pcap::analyze::findings::{Code, Severity};
use crate::pcap::analyze::sections::tcp::PerFlag;
use crate::pcap::analyze::sections::websocket::Verdict;
use serde::Serialize;
use std::net::SocketAddr;

/// Where a frame was captured: the namespace (its VRF name when it has one) and the
/// interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    pub netns: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    pub interface: String,
}

/// The local process behind an endpoint, when the socket was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    pub pid: i32,
    pub comm: String,
    pub cmdline: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A WebSocket upgrade was answered (or, at the end, never was).
    Upgrade(UpgradeEvent),
    /// A finding, with the code of `pcap analyze --list-findings`.
    Finding(FindingEvent),
    /// Counts so far, every `--summary-every` seconds and once at the end.
    Summary(Summary),
}

#[derive(Debug, Clone, Serialize)]
pub struct UpgradeEvent {
    /// When the answer (or, for `unanswered`, the end of the run) was seen, RFC 3339.
    pub ts: String,
    #[serde(flatten)]
    pub place: Place,
    pub stream: Option<u32>,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// The HTTP/2 stream of an RFC 8441 extended CONNECT; `None` for HTTP/1.x.
    pub http2_stream: Option<u32>,
    pub method: String,
    pub host: Option<String>,
    pub path: String,
    pub status: Option<u16>,
    pub verdict: Verdict,
    pub response_ms: Option<f64>,
    /// Capture time of the answer, RFC 3339: `ts` minus this is how late the event is.
    pub response_ts: Option<String>,
    pub request_frame: u64,
    pub response_frame: Option<u64>,
    /// The process on the client side, when the client is local to the namespace.
    pub process: Option<Process>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingEvent {
    pub ts: String,
    #[serde(flatten)]
    pub place: Place,
    pub severity: Severity,
    pub code: Code,
    pub summary: String,
    pub stream: Option<u32>,
    /// Frame numbers counted per interface from the start of the run.
    pub frames: Vec<u64>,
    pub wireshark_filter: String,
    pub process: Option<Process>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub ts: String,
    pub elapsed_s: f64,
    /// True for the last summary of the run.
    pub last: bool,
    pub frames: u64,
    pub bytes: u64,
    pub tcp: TcpSummary,
    pub websocket: UpgradeCounts,
    pub findings: u64,
    /// Frames lost before analysis (the kernel's capture ring was full).
    pub dropped: Dropped,
    /// Interfaces being watched.
    pub interfaces: Vec<Place>,
    /// The kernel's drops held per connection for `tcp_drops_in_kernel` (absent when
    /// the drops probe does not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_drops: Option<KernelDropsHeld>,
    /// Who names client processes: "bpf" or "sock-diag" (set by the binary).
    pub attribution: &'static str,
    /// What the client owner lookups found, and what their records lost.
    pub owners: OwnerCounts,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct KernelDropsHeld {
    /// Connections whose drops are held now.
    pub connections: u64,
    /// Connections let go unread because the table was full.
    pub forgotten: u64,
}

/// The client owner lookups of a run (`owners` in the summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OwnerCounts {
    /// Lookups answered from the socket owners the BPF probe recorded.
    pub bpf: u64,
    /// Lookups answered by sock_diag and /proc (the socket still open).
    pub sock_diag: u64,
    /// Lookups that found no local socket (a remote client, or a socket gone).
    pub not_found: u64,
    /// Owners of connections let go from netkit's index before their time was up,
    /// to keep it bounded.
    pub evicted: u64,
    /// Socket owners the kernel's map evicted before netkit read them.
    pub kernel_evicted: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TcpSummary {
    pub streams: u64,
    /// Streams whose detail is held now (a live run lets go of settled ones).
    pub tracked: u64,
    /// Conversations whose sequence state was let go (see `pcap analyze`'s).
    pub evicted_conversations: u64,
    /// The same keys and meaning as `pcap analyze`'s `tcp.flags`.
    pub flags: PerFlag<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpgradeCounts {
    pub accepted: u64,
    pub bad_accept: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub unanswered: u64,
    /// Requests seen and not answered yet.
    pub pending: u64,
}

impl UpgradeCounts {
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Accepted => self.accepted += 1,
            Verdict::BadAccept => self.bad_accept += 1,
            Verdict::Rejected => self.rejected += 1,
            Verdict::Ignored => self.ignored += 1,
            Verdict::Unanswered => self.unanswered += 1,
        }
    }
}

/// Frames a capture point lost before analysis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// Dropped by the kernel: the capture ring was full, or the interface dropped them.
    pub kernel: u64,
}
