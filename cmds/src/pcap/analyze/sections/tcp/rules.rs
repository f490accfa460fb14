//! tshark 4.0's per-segment TCP sequence analysis (`tcp_analyze_sequence_number` in
//! Wireshark's packet-tcp.c), rewritten from the rule list in
//! shared/notes/tcp-websocket-analysis.md §1.4 and checked against tshark 4.0.17.
//!
//! The rules are heuristics over per-direction state evaluated once per segment in file
//! order; their order and their exact comparisons (some modulo 2^32, some plain) are
//! what makes the output agree with tshark, so they are kept literally, including the
//! quirks (unsigned time deltas, the `dupacknum = -1` trick, two dup ACKs suffice).

use netkit_dissectors::transport::tcp_flags as th;

/// Analysis flag bits, tshark's `TCP_A_*` values.
pub mod flag {
    pub const RETRANSMISSION: u16 = 0x0001;
    pub const LOST_PACKET: u16 = 0x0002;
    pub const ACK_LOST_PACKET: u16 = 0x0004;
    pub const KEEP_ALIVE: u16 = 0x0008;
    pub const DUPLICATE_ACK: u16 = 0x0010;
    pub const ZERO_WINDOW: u16 = 0x0020;
    pub const ZERO_WINDOW_PROBE: u16 = 0x0040;
    pub const ZERO_WINDOW_PROBE_ACK: u16 = 0x0080;
    pub const KEEP_ALIVE_ACK: u16 = 0x0100;
    pub const OUT_OF_ORDER: u16 = 0x0200;
    pub const FAST_RETRANSMISSION: u16 = 0x0400;
    pub const WINDOW_UPDATE: u16 = 0x0800;
    pub const WINDOW_FULL: u16 = 0x1000;
    pub const REUSED_PORTS: u16 = 0x2000;
    pub const SPURIOUS_RETRANSMISSION: u16 = 0x4000;
    /// What tshark's display filter `tcp.analysis.retransmission` matches: the fast
    /// and spurious kinds also add the plain retransmission expert item.
    pub const ANY_RETRANSMISSION: u16 =
        RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION;
}

/// tshark's `dupacknum = -1` in its unsigned counter.
const DUPACK_PARKED: u32 = u32::MAX;
/// Fast retransmission: at most this long after the peer's last packet.
const FAST_RETRANSMISSION_WINDOW_NS: u64 = 20_000_000;
/// Out-of-order threshold when the handshake RTT is unknown.
const DEFAULT_OOO_THRESHOLD_NS: u64 = 3_000_000;

/// `GT_SEQ(x, y)`: x after y, modulo 2^32.
pub(crate) fn gt_seq(x: u32, y: u32) -> bool {
    (y.wrapping_sub(x) as i32) < 0
}

fn lt_seq(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) < 0
}

fn le_seq(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) <= 0
}

/// tshark subtracts `nstime_t`s and stores the result in an unsigned 64-bit integer,
/// so a time stamp earlier than the reference gives a huge delta (never "recent").
fn unsigned_delta(now_ns: i64, then_ns: i64) -> u64 {
    now_ns.wrapping_sub(then_ns) as u64
}

/// One direction's analysis state (`tcp_flow_t` + `tcp_analyze_seq_flow_info_t`).
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    /// ISN for relative numbers; only used here to detect port reuse.
    pub base_seq: Option<u32>,
    /// Highest `seq + len (+1 for SYN/FIN)` sent; 0 means unknown.
    pub nextseq: u32,
    pub nextseq_ts: i64,
    /// Highest contiguous sequence number sent; 0 means unknown.
    pub maxseqtobeacked: u32,
    /// ACK field and time of this direction's last packet.
    pub lastack: u32,
    pub lastack_ts: i64,
    /// Running duplicate-ACK count. tshark stores it unsigned and parks it at
    /// `(guint32)-1` ([`DUPACK_PARKED`]) to suppress repeated "ACKed unseen" flags;
    /// that value also satisfies the fast-retransmission test `dupacknum >= 2`.
    pub dupacknum: u32,
    /// Raw (unscaled) window of the last packet; `u32::MAX` before any.
    pub window: u32,
    /// Window shift: -1 unknown, -2 "no scaling", else 0..=14.
    pub win_scale: i8,
    /// True from a SYN until this direction's first non-SYN ACK: the window it
    /// advertised is not scaled yet.
    pub is_first_ack: bool,
    /// Analysis flags of this direction's last packet.
    pub last_flags: u16,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            base_seq: None,
            nextseq: 0,
            nextseq_ts: 0,
            maxseqtobeacked: 0,
            lastack: 0,
            lastack_ts: 0,
            dupacknum: 0,
            window: u32::MAX,
            win_scale: -1,
            is_first_ack: false,
            last_flags: 0,
        }
    }
}

/// What the rules need to know about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub seq: u32,
    pub ack: u32,
    /// TCP header flag bits (FIN 0x1, SYN 0x2, RST 0x4, ACK 0x10, ...).
    pub flags: u16,
    /// Raw 16-bit window field.
    pub window: u16,
    /// Payload length (from the IP length, whatever the snap length kept).
    pub len: u32,
    /// Window-scale option, if the segment carries one.
    pub window_scale: Option<u8>,
    pub ts_ns: i64,
}

/// Both directions of one conversation plus the conversation-wide timers.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeqState {
    pub flows: [Flow; 2],
    /// Time of the most recent SYN (without ACK); 0 = none, as tshark's zero nstime.
    pub ts_mru_syn: i64,
    /// Handshake RTT (last SYN -> first non-SYN ACK); 0 = unknown.
    pub first_rtt_ns: i64,
}

impl SeqState {
    /// tshark's SYN / SYN-ACK checks made before the analysis. Returns the flags they
    /// set and whether the segment starts a new conversation: `(REUSED_PORTS, true)`
    /// for a SYN with a new ISN, `(REUSED_PORTS, false)` for a SYN-ACK with a new ISN
    /// (whose base is overwritten); a SYN repeating the ISN rewinds `nextseq`.
    pub fn port_reuse_check(&mut self, dir: usize, seg: &SegmentHeader) -> (u16, bool) {
        let fwd = &mut self.flows[dir];
        let syn_ack = seg.flags & (th::SYN | th::ACK);
        match (syn_ack, fwd.base_seq) {
            (th::SYN, Some(base)) if base != seg.seq => (flag::REUSED_PORTS, true),
            (th::SYN, _) => {
                // A SYN repeating the ISN: a retransmission (or a reattempt after a
                // reset). tshark 4.0 rewinds `nextseq` to the contiguous edge, because a
                // RST sent with seq = the ACK it received may have pushed it too far
                // (Wireshark issue 17616); no flag.
                fwd.nextseq = fwd.maxseqtobeacked;
                (0, false)
            }
            (x, Some(base)) if x == th::SYN | th::ACK && base != seg.seq => {
                fwd.base_seq = Some(seg.seq);
                (flag::REUSED_PORTS, false)
            }
            _ => (0, false),
        }
    }

    /// Runs the rules for one segment sent in direction `dir` (0 or 1), with `ta`
    /// holding flags already set by the port-reuse checks; returns the frame's flags.
    pub fn analyze(&mut self, dir: usize, seg: &SegmentHeader, mut ta: u16) -> u16 {
        let [a, b] = &mut self.flows;
        let (f, r) = if dir == 0 { (a, b) } else { (b, a) };
        let SegmentHeader {
            seq, ack, flags, ..
        } = *seg;
        let len = seg.len;
        let win = u32::from(seg.window);
        let now = seg.ts_ns;

        // Relative-number bases (tshark sets them at the top of the analysis).
        if f.base_seq.is_none() {
            f.base_seq = Some(if flags & th::SYN != 0 {
                seq
            } else {
                seq.wrapping_sub(1)
            });
        }
        if r.base_seq.is_none() && flags & th::ACK != 0 {
            r.base_seq = Some(ack.wrapping_sub(1));
        }

        let sfr = flags & (th::SYN | th::FIN | th::RST) != 0;
        let same_ack_pure = len == 0 && seq == f.nextseq && ack == f.lastack && !sfr;
        'fwd: {
            if len == 1 && seq == f.nextseq && r.window == 0 {
                ta |= flag::ZERO_WINDOW_PROBE;
                break 'fwd;
            }
            if win == 0 && !sfr {
                ta |= flag::ZERO_WINDOW;
            }
            if f.nextseq != 0 && gt_seq(seq, f.nextseq) && flags & th::RST == 0 {
                ta |= flag::LOST_PACKET;
            }
            if (len == 0 || len == 1) && seq == f.nextseq.wrapping_sub(1) && !sfr {
                ta |= flag::KEEP_ALIVE;
            }
            if same_ack_pure && win != 0 && win != f.window {
                ta |= flag::WINDOW_UPDATE;
            }
            if len > 0 && r.win_scale != -1 && !sfr {
                let shift = if r.is_first_ack || r.win_scale < 0 {
                    0
                } else {
                    r.win_scale as u32
                };
                let edge = r.lastack.wrapping_add(r.window.wrapping_shl(shift));
                if seq.wrapping_add(len) == edge {
                    ta |= flag::WINDOW_FULL;
                }
            }
            if same_ack_pure && win != 0 && win == f.window && r.last_flags & flag::KEEP_ALIVE != 0
            {
                ta |= flag::KEEP_ALIVE_ACK;
                break 'fwd;
            }
            if same_ack_pure
                && win == 0
                && win == f.window
                && r.last_flags & flag::ZERO_WINDOW_PROBE != 0
            {
                ta |= flag::ZERO_WINDOW_PROBE_ACK;
                break 'fwd;
            }
            if same_ack_pure && win != 0 && win == f.window {
                f.dupacknum = if f.dupacknum == DUPACK_PARKED {
                    1
                } else {
                    f.dupacknum.wrapping_add(1)
                };
                ta |= flag::DUPLICATE_ACK;
            }
        }

        if ack != f.lastack {
            f.dupacknum = 0;
        }

        // ACKed unseen segment.
        if r.maxseqtobeacked != 0 && gt_seq(ack, r.maxseqtobeacked) && flags & th::ACK != 0 {
            if lt_seq(r.maxseqtobeacked, r.nextseq) {
                r.maxseqtobeacked = r.nextseq;
                ta |= flag::ACK_LOST_PACKET;
            } else {
                if r.dupacknum == 0 {
                    ta |= flag::ACK_LOST_PACKET;
                }
                r.dupacknum = DUPACK_PARKED;
            }
        }

        // Retransmission family.
        if (len > 0 || flags & (th::SYN | th::FIN) != 0) && ta & flag::KEEP_ALIVE == 0 {
            ta |= retransmission_kind(f, r, seg, self.first_rtt_ns);
        }

        // Bookkeeping.
        let mut nextseq = seq.wrapping_add(len);
        if flags & (th::SYN | th::FIN) != 0 {
            nextseq = nextseq.wrapping_add(1);
        }
        let probe = ta & flag::ZERO_WINDOW_PROBE != 0;
        if (gt_seq(nextseq, f.nextseq) || f.nextseq == 0) && !probe {
            f.nextseq = nextseq;
            f.nextseq_ts = now;
        }
        if (seq == f.maxseqtobeacked || f.maxseqtobeacked == 0) && !probe {
            f.maxseqtobeacked = f.nextseq;
        }
        f.window = win;
        f.lastack = ack;
        f.lastack_ts = now;
        f.last_flags = ta;
        ta
    }

    /// Updates made after the analysis of a segment: handshake RTT, the first-ACK
    /// marker and window scaling (the segment's own options apply to later segments).
    pub fn after_analysis(&mut self, dir: usize, seg: &SegmentHeader) {
        let syn_ack = seg.flags & (th::SYN | th::ACK);
        if syn_ack == th::SYN {
            self.ts_mru_syn = seg.ts_ns;
        }
        if syn_ack == th::ACK && self.ts_mru_syn != 0 && self.first_rtt_ns == 0 {
            self.first_rtt_ns = seg.ts_ns.wrapping_sub(self.ts_mru_syn);
        }
        let [a, b] = &mut self.flows;
        let (f, r) = if dir == 0 { (a, b) } else { (b, a) };
        if seg.flags & th::SYN != 0 {
            f.is_first_ack = true;
        } else if seg.flags & th::ACK != 0 {
            f.is_first_ack = false;
        }
        if let Some(ws) = seg.window_scale {
            f.win_scale = ws.min(14) as i8;
        }
        if seg.flags & th::SYN != 0 {
            if f.win_scale == -1 {
                f.win_scale = -2;
                r.win_scale = -2;
            } else if seg.flags & th::ACK != 0 && r.win_scale == -2 {
                f.win_scale = -2;
            }
        }
    }
}

/// Spurious, fast, out-of-order or plain retransmission (tshark 4.0 order: spurious
/// first, then fast, then out-of-order), or nothing.
fn retransmission_kind(f: &Flow, r: &Flow, seg: &SegmentHeader, first_rtt_ns: i64) -> u16 {
    let SegmentHeader {
        seq, flags, len, ..
    } = *seg;
    let mut not_advanced = f.nextseq != 0 && lt_seq(seq, f.nextseq);
    // A segment starting one byte early but carrying new data is not a retransmission.
    if len > 1 && f.nextseq.wrapping_sub(1) == seq {
        not_advanced = false;
    }
    if len > 0 && r.lastack != 0 && le_seq(seq.wrapping_add(len), r.lastack) {
        return flag::SPURIOUS_RETRANSMISSION;
    }
    if !not_advanced {
        return 0;
    }
    let since_peer = unsigned_delta(seg.ts_ns, r.lastack_ts);
    if r.dupacknum >= 2 && r.lastack == seq && since_peer < FAST_RETRANSMISSION_WINDOW_NS {
        return flag::FAST_RETRANSMISSION;
    }
    let since_highest = unsigned_delta(seg.ts_ns, f.nextseq_ts);
    let threshold = if first_rtt_ns == 0 {
        DEFAULT_OOO_THRESHOLD_NS
    } else {
        first_rtt_ns as u64
    };
    let syn_fin = u32::from(flags & (th::SYN | th::FIN) != 0);
    if since_highest < threshold && f.nextseq != seq.wrapping_add(len).wrapping_add(syn_fin) {
        return flag::OUT_OF_ORDER;
    }
    flag::RETRANSMISSION
}
