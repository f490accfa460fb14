//! What the TCP analysis reports: the flags tshark would set, per-stream summaries,
//! and the `tcp` section of the report.

use super::rules::flag;
use crate::output::rfc3339_ns;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::net::{IpAddr, SocketAddr};

/// The analysis flags as `tcp.analysis.<name>` display filters name them, in the CLI
/// contract's order (plus `zero_window_probe_ack`, which tshark also reports). The JSON
/// keys are [`TcpFlag::name`]; code reads counts by this enum, never by string, so a
/// misspelt flag does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpFlag {
    Retransmission,
    FastRetransmission,
    SpuriousRetransmission,
    OutOfOrder,
    DuplicateAck,
    LostSegment,
    ZeroWindow,
    KeepAlive,
    AckLostSegment,
    WindowUpdate,
    WindowFull,
    ZeroWindowProbe,
    KeepAliveAck,
    ReusedPorts,
    ZeroWindowProbeAck,
}

/// How many analysis flags there are.
pub const FLAG_COUNT: usize = 15;

impl TcpFlag {
    /// Every flag, in report order.
    pub const ALL: [TcpFlag; FLAG_COUNT] = [
        TcpFlag::Retransmission,
        TcpFlag::FastRetransmission,
        TcpFlag::SpuriousRetransmission,
        TcpFlag::OutOfOrder,
        TcpFlag::DuplicateAck,
        TcpFlag::LostSegment,
        TcpFlag::ZeroWindow,
        TcpFlag::KeepAlive,
        TcpFlag::AckLostSegment,
        TcpFlag::WindowUpdate,
        TcpFlag::WindowFull,
        TcpFlag::ZeroWindowProbe,
        TcpFlag::KeepAliveAck,
        TcpFlag::ReusedPorts,
        TcpFlag::ZeroWindowProbeAck,
    ];

    /// The name after `tcp.analysis.` in Wireshark, and the JSON key.
    pub fn name(self) -> &'static str {
        match self {
            TcpFlag::Retransmission => "retransmission",
            TcpFlag::FastRetransmission => "fast_retransmission",
            TcpFlag::SpuriousRetransmission => "spurious_retransmission",
            TcpFlag::OutOfOrder => "out_of_order",
            TcpFlag::DuplicateAck => "duplicate_ack",
            TcpFlag::LostSegment => "lost_segment",
            TcpFlag::ZeroWindow => "zero_window",
            TcpFlag::KeepAlive => "keep_alive",
            TcpFlag::AckLostSegment => "ack_lost_segment",
            TcpFlag::WindowUpdate => "window_update",
            TcpFlag::WindowFull => "window_full",
            TcpFlag::ZeroWindowProbe => "zero_window_probe",
            TcpFlag::KeepAliveAck => "keep_alive_ack",
            TcpFlag::ReusedPorts => "reused_ports",
            TcpFlag::ZeroWindowProbeAck => "zero_window_probe_ack",
        }
    }

    /// The analysis bits ([`flag`]) that the flag's display filter matches.
    pub fn bits(self) -> u16 {
        match self {
            TcpFlag::Retransmission => flag::ANY_RETRANSMISSION,
            TcpFlag::FastRetransmission => flag::FAST_RETRANSMISSION,
            TcpFlag::SpuriousRetransmission => flag::SPURIOUS_RETRANSMISSION,
            TcpFlag::OutOfOrder => flag::OUT_OF_ORDER,
            TcpFlag::DuplicateAck => flag::DUPLICATE_ACK,
            TcpFlag::LostSegment => flag::LOST_PACKET,
            TcpFlag::ZeroWindow => flag::ZERO_WINDOW,
            TcpFlag::KeepAlive => flag::KEEP_ALIVE,
            TcpFlag::AckLostSegment => flag::ACK_LOST_PACKET,
            TcpFlag::WindowUpdate => flag::WINDOW_UPDATE,
            TcpFlag::WindowFull => flag::WINDOW_FULL,
            TcpFlag::ZeroWindowProbe => flag::ZERO_WINDOW_PROBE,
            TcpFlag::KeepAliveAck => flag::KEEP_ALIVE_ACK,
            TcpFlag::ReusedPorts => flag::REUSED_PORTS,
            TcpFlag::ZeroWindowProbeAck => flag::ZERO_WINDOW_PROBE_ACK,
        }
    }
}

/// One value per analysis flag, read by [`TcpFlag`] and serialized as a map keyed by
/// [`TcpFlag::name`] in report order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PerFlag<T>(pub [T; FLAG_COUNT]);

impl<T> std::ops::Index<TcpFlag> for PerFlag<T> {
    type Output = T;
    fn index(&self, f: TcpFlag) -> &T {
        &self.0[f as usize]
    }
}

impl<T> std::ops::IndexMut<TcpFlag> for PerFlag<T> {
    fn index_mut(&mut self, f: TcpFlag) -> &mut T {
        &mut self.0[f as usize]
    }
}

impl<T: Serialize> Serialize for PerFlag<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(FLAG_COUNT))?;
        for (f, v) in TcpFlag::ALL.iter().zip(self.0.iter()) {
            m.serialize_entry(f.name(), v)?;
        }
        m.end()
    }
}

impl PerFlag<u64> {
    /// Counts one frame under every flag whose filter matches `bits`.
    pub fn count(&mut self, bits: u16) {
        for f in TcpFlag::ALL {
            if bits & f.bits() != 0 {
                self[f] += 1;
            }
        }
    }
}

/// Which side of a stream sent something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Client,
    Server,
}

/// How the client and server of a stream were told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolesFrom {
    /// The client sent the SYN.
    Syn,
    /// The server sent the SYN-ACK (the SYN was not captured).
    SynAck,
    /// No handshake seen: the lower port is taken as the server.
    Ports,
}

/// A reset seen on a stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reset {
    pub frame: u64,
    pub by: Side,
    #[serde(skip)]
    pub ts_ns: i64,
    pub ts: String,
    /// Time since the last packet from the other side (None if it never sent one):
    /// compared with `rtt_ms`, a reset far later than one RTT is worth a look.
    pub since_peer_ms: Option<f64>,
}

/// Per-stream record, kept for every stream of the capture.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub stream: u32,
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
    pub roles_from: RolesFrom,
    pub frames: u64,
    /// Wire bytes of the stream's frames.
    pub bytes: u64,
    /// TCP payload bytes sent by the client / the server (retransmissions included).
    pub payload_bytes: [u64; 2],
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_ts_ns: i64,
    pub last_ts_ns: i64,
    /// tshark's `tcp.analysis.initial_rtt`: last SYN to the first non-SYN ACK.
    pub handshake_rtt_ns: Option<i64>,
    pub syn_frame: Option<u64>,
    pub syn_ack_frame: Option<u64>,
    /// SYNs (without ACK) beyond the first.
    pub syn_retries: u32,
    /// Time of the last SYN (without ACK).
    pub last_syn_ts_ns: Option<i64>,
    /// Frames per analysis flag.
    pub flag_counts: PerFlag<u64>,
    /// Frames matching `tcp.analysis.retransmission` (the first
    /// [`MAX_LISTED_PER_STREAM`]).
    pub retransmission_frames: Vec<u64>,
    pub resets: Vec<Reset>,
    /// First FIN frame from the client / the server.
    pub fin_frames: [Option<u64>; 2],
    /// This stream began with a SYN reusing the ports of an earlier stream.
    pub began_with_port_reuse: bool,
    /// ICMP errors quoting a segment of this stream.
    pub icmp_errors: u32,
    /// Last time each side sent something (index: Side as usize).
    pub(super) last_sent_ns: [Option<i64>; 2],
    /// Each side's latest data segment and its retransmissions, timed.
    pub(super) resends: [Option<ResendRun>; 2],
    /// The longest run of retransmissions of one segment whose gaps grew as a
    /// retransmission timer backing off does (see [`ResendRun::backing_off`]).
    pub rto_backoff: Option<ResendRun>,
}

/// One segment (by sequence number) and its retransmissions by the same side, with the
/// time between consecutive sends.
#[derive(Debug, Clone, PartialEq)]
pub struct ResendRun {
    pub by: Side,
    pub seq: u32,
    /// The first send (when captured) and every retransmission, the first
    /// [`MAX_RESENDS_LISTED`].
    pub frames: Vec<u64>,
    /// Time between consecutive sends, the first [`MAX_RESENDS_LISTED`].
    pub gaps_ns: Vec<i64>,
    /// Retransmissions in the run, all of them.
    pub resends: u32,
    pub(super) last_ts_ns: i64,
}

/// Frames and gaps a [`ResendRun`] keeps (its count goes on).
pub const MAX_RESENDS_LISTED: usize = 16;

/// The smallest growth from one gap to the next taken as a timer backing off: RTO
/// backoff doubles (RFC 6298 5.5); 1.5 leaves room for timer granularity and for the
/// capture point's distance from the sender.
const BACKOFF_GROWTH: f64 = 1.5;

/// The shortest first gap taken as a retransmission timeout: below every stack's RTO
/// floor (Linux 200 ms, Windows 300 ms, RFC 6298 1 s), above the microsecond bursts of
/// duplicates some captures hold.
const MIN_RTO_NS: i64 = 100_000_000;

/// Gaps in a row that must grow before a run counts as backoff: three timeouts, each
/// longer than the last, are no coincidence (two can be).
pub const BACKOFF_MIN_GAPS: usize = 3;

impl ResendRun {
    pub(super) fn new(by: Side, seq: u32, frame: u64, ts_ns: i64) -> Self {
        ResendRun {
            by,
            seq,
            frames: vec![frame],
            gaps_ns: Vec::new(),
            resends: 0,
            last_ts_ns: ts_ns,
        }
    }

    /// The same as [`ResendRun::new`], keeping the buffers.
    pub(super) fn restart(&mut self, by: Side, seq: u32, frame: u64, ts_ns: i64) {
        self.by = by;
        self.seq = seq;
        self.frames.clear();
        self.frames.push(frame);
        self.gaps_ns.clear();
        self.resends = 0;
        self.last_ts_ns = ts_ns;
    }

    pub(super) fn resent(&mut self, frame: u64, ts_ns: i64) {
        self.resends = self.resends.saturating_add(1);
        if self.frames.len() < MAX_RESENDS_LISTED {
            self.frames.push(frame);
        }
        if self.gaps_ns.len() < MAX_RESENDS_LISTED {
            self.gaps_ns.push(ts_ns.saturating_sub(self.last_ts_ns));
        }
        self.last_ts_ns = ts_ns;
    }

    /// The last [`BACKOFF_MIN_GAPS`] or more gaps each grew by at least
    /// [`BACKOFF_GROWTH`] over the one before: the sender's retransmission timer was
    /// backing off, so the stream was stalled, not merely lossy.
    pub fn backing_off(&self) -> bool {
        let g = &self.gaps_ns;
        g.len() >= BACKOFF_MIN_GAPS
            && g.first().is_some_and(|first| *first >= MIN_RTO_NS)
            && g.windows(2)
                .all(|w| w[1] as f64 >= w[0] as f64 * BACKOFF_GROWTH)
    }

    /// Time from the first send to the last retransmission.
    pub fn stalled_ns(&self) -> i64 {
        self.gaps_ns.iter().sum()
    }
}

impl StreamInfo {
    /// Ended with a FIN from both sides and no reset.
    pub fn closed_cleanly(&self) -> bool {
        self.fin_frames.iter().all(Option::is_some) && self.resets.is_empty()
    }

    pub fn retransmissions(&self) -> u64 {
        self.flag_counts[TcpFlag::Retransmission]
    }

    /// A SYN (maybe retried) that got no SYN-ACK, no reset and no data: a finding.
    pub fn unanswered_syn(&self) -> bool {
        self.syn_frame.is_some()
            && self.syn_ack_frame.is_none()
            && self.payload_bytes == [0, 0]
            && self.resets.is_empty()
    }

    /// Worth keeping in detail when summaries must be dropped: something went wrong or
    /// was unusual on it.
    pub(super) fn notable(&self) -> bool {
        self.flag_counts.0.iter().any(|c| *c > 0)
            || !self.resets.is_empty()
            || self.icmp_errors > 0
            || self.syn_retries > 0
            || self.began_with_port_reuse
    }

    /// Frames matching `tcp.analysis.retransmission` after frame `after` (e.g. after
    /// an upgrade's response). Exact unless the stream had more than
    /// [`MAX_LISTED_PER_STREAM`] of them and `after` lies beyond the last one listed:
    /// the unlisted ones all come later in the file, so they are counted as after.
    pub fn retransmissions_after(&self, after: u64) -> u64 {
        let listed = self.retransmission_frames.len() as u64;
        let listed_after = self
            .retransmission_frames
            .iter()
            .filter(|f| **f > after)
            .count();
        listed_after as u64 + self.retransmissions().saturating_sub(listed)
    }

    pub fn side_of(&self, src: (IpAddr, u16)) -> Side {
        if src == self.client && src != self.server {
            Side::Client
        } else if src == self.server {
            Side::Server
        } else {
            Side::Client
        }
    }

    pub(super) fn detail(&self) -> StreamDetail {
        StreamDetail {
            stream: self.stream,
            client: SocketAddr::from(self.client),
            server: SocketAddr::from(self.server),
            roles_from: self.roles_from,
            frames: self.frames,
            bytes: self.bytes,
            bytes_client_to_server: self.payload_bytes[0],
            bytes_server_to_client: self.payload_bytes[1],
            first_frame: self.first_frame,
            last_frame: self.last_frame,
            first_ts: rfc3339_ns(self.first_ts_ns),
            last_ts: rfc3339_ns(self.last_ts_ns),
            duration_s: self.last_ts_ns.saturating_sub(self.first_ts_ns) as f64 / 1e9,
            rtt_ms: self.handshake_rtt_ns.map(|n| n as f64 / 1e6),
            flags: self.flag_counts.clone(),
            syn_frame: self.syn_frame,
            syn_ack_frame: self.syn_ack_frame,
            syn_retries: self.syn_retries,
            rst_by: self.resets.first().map(|r| r.by),
            rst_frames: self.resets.iter().map(|r| r.frame).collect(),
            resets: self.resets.clone(),
            fin_client_frame: self.fin_frames[0],
            fin_server_frame: self.fin_frames[1],
            closed_cleanly: self.closed_cleanly(),
            began_with_port_reuse: self.began_with_port_reuse,
            icmp_errors: self.icmp_errors,
            retransmission_frames: self.retransmission_frames.clone(),
        }
    }
}

/// One entry of `tcp.streams_detail`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamDetail {
    pub stream: u32,
    /// `ip:port` in JSON (IPv6 as `[addr]:port`): serde writes socket addresses that way.
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub roles_from: RolesFrom,
    pub frames: u64,
    pub bytes: u64,
    pub bytes_client_to_server: u64,
    pub bytes_server_to_client: u64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_ts: String,
    pub last_ts: String,
    pub duration_s: f64,
    pub rtt_ms: Option<f64>,
    #[serde(flatten)]
    pub flags: PerFlag<u64>,
    pub syn_frame: Option<u64>,
    pub syn_ack_frame: Option<u64>,
    pub syn_retries: u32,
    pub rst_by: Option<Side>,
    pub rst_frames: Vec<u64>,
    pub resets: Vec<Reset>,
    pub fin_client_frame: Option<u64>,
    pub fin_server_frame: Option<u64>,
    pub closed_cleanly: bool,
    pub began_with_port_reuse: bool,
    pub icmp_errors: u32,
    pub retransmission_frames: Vec<u64>,
}

/// The `tcp` section of the report (CLI.md).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TcpReport {
    pub streams: u64,
    pub flags: PerFlag<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged_frames: Option<PerFlag<Vec<u64>>>,
    pub streams_detail: Vec<StreamDetail>,
    /// Conversations whose sequence state was dropped to bound memory (0 unless the
    /// capture held more than [`MAX_LIVE_CONVERSATIONS`] at once).
    pub evicted_conversations: u64,
    /// Streams counted in `streams` but left out of `streams_detail` (and of the
    /// findings) to bound memory: 0 unless the capture had more than
    /// [`MAX_KEPT_STREAMS`] streams.
    pub streams_summarised: u64,
}

/// What the analysis says about one frame, returned by [`TcpAnalysis::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFrameInfo {
    pub stream: u32,
    /// [`flag`] bits.
    pub flags: u16,
    pub from: Side,
    /// The segment's own header flags (SYN, RST, ...).
    pub header_flags: u16,
}
