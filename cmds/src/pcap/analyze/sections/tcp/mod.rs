//! TCP sequence analysis for `pcap analyze`: tshark 4.0's per-frame `tcp.analysis.*`
//! flags (default preferences), Wireshark's `tcp.stream` numbering, and a summary per
//! stream (endpoints, handshake RTT, SYN retries, bytes each way, resets, clean close).
//!
//! Streaming: frames are fed once in file order. State is kept per conversation (two
//! small per-direction records), never per segment. Engines fed in the same pass get
//! each frame's stream from [`TcpAnalysis::feed`]'s return value; afterwards
//! [`TcpAnalysis::stream_of_frame`] answers from a run-length index (one run per change
//! of stream between consecutive frames). Flagged frames are kept only when the caller
//! wants them listed (`--frames`). Memory is bounded whatever the capture holds:
//! [`MAX_LIVE_CONVERSATIONS`] caps the sequence state, [`MAX_KEPT_STREAMS`] the
//! per-stream summaries ([`StreamInfo`], a few hundred bytes each). Totals (stream
//! count, flag counts) stay exact; streams whose summary was dropped are counted in
//! the report's `streams_summarised`.

mod findings;
mod report;
mod rules;
mod segment;
pub mod series;
#[cfg(test)]
mod tests;

pub use report::{
    PerFlag, ResendRun, Reset, RolesFrom, Side, StreamDetail, StreamInfo, TcpFlag, TcpFrameInfo,
    TcpReport, FLAG_COUNT,
};
pub use rules::{flag, SegmentHeader};
pub use segment::Segment;

use crate::output::rfc3339_ns;
use crate::pcap::analyze::FastMap;
use crate::source::RawFrame;
use netkit_dissectors::transport::tcp_flags as th;
use netkit_dissectors::{Frame, Layer};
use rules::SeqState;
use segment::Fragments;
use std::collections::hash_map::Entry;
use std::net::IpAddr;

/// An address and port.
pub type Endpoint = (IpAddr, u16);

/// Live conversations (about 250 bytes of sequence state each) above which some are
/// evicted: first those idle for [`IDLE_EVICT_NS`] of capture time, or closed (RST, or
/// FIN both ways) and idle for [`CLOSED_EVICT_NS`]; if that is not enough (a SYN flood,
/// a scan), the least recently seen, down to three quarters of the cap, so the table
/// never holds much more than this. A later segment of an evicted conversation starts
/// a new stream (tshark would continue the old one), and the report counts evictions.
pub const MAX_LIVE_CONVERSATIONS: usize = 100_000;
/// Stream summaries kept for the report and the findings. Past this, the least notable
/// half is dropped (streams with analysis flags, resets, ICMP errors or SYN retries
/// first kept, then the ones with most bytes): 2 million scan SYNs must not cost a
/// gigabyte of summaries nobody reads one by one.
pub const MAX_KEPT_STREAMS: usize = 50_000;
/// Servers for which unanswered SYNs of dropped summaries are still tallied.
pub const MAX_SUMMARISED_SERVERS: usize = 4096;
const IDLE_EVICT_NS: i64 = 300 * 1_000_000_000;
const CLOSED_EVICT_NS: i64 = 10 * 1_000_000_000;
/// How often (in frames, a power of two) the table is checked against the cap.
const EVICT_CHECK_EVERY: u64 = 1 << 14;
/// Retransmission frames listed per stream (the count is always exact).
pub const MAX_LISTED_PER_STREAM: usize = 1000;

const NO_STREAM: u32 = u32::MAX;

/// Canonical conversation key: the two endpoints in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConvKey(Endpoint, Endpoint);

impl ConvKey {
    /// The key and the direction index of a segment from `src` to `dst`.
    fn of(src: Endpoint, dst: Endpoint) -> (ConvKey, usize) {
        if src <= dst {
            (ConvKey(src, dst), 0)
        } else {
            (ConvKey(dst, src), 1)
        }
    }
}

struct Conversation {
    stream: u32,
    seq: SeqState,
    last_ts_ns: i64,
    /// A FIN was seen from direction 0 / 1 (bits 0 and 1); the stream summary may be
    /// gone, so the conversation tracks closing itself.
    fins: u8,
    /// The direction index ([`ConvKey::of`]) the client sends in.
    client_dir: u8,
    closed: bool,
}

impl Conversation {
    /// A conversation for the stream [`new_stream`] just opened for a segment sent in
    /// direction `dir`.
    fn new((stream, client_sent): (u32, bool), dir: usize, ts_ns: i64) -> Self {
        let client_dir = if client_sent { dir } else { 1 - dir };
        Conversation {
            stream,
            seq: SeqState::default(),
            last_ts_ns: ts_ns,
            fins: 0,
            client_dir: client_dir as u8,
            closed: false,
        }
    }
}

/// The TCP analysis engine of one capture.
pub struct TcpAnalysis {
    keep_frames: bool,
    live: FastMap<ConvKey, Conversation>,
    /// Kept stream summaries, in stream order (so a binary search finds one).
    streams: Vec<StreamInfo>,
    /// Streams numbered so far (the next stream's number).
    next_stream: u32,
    /// Streams whose summary was dropped (see [`MAX_KEPT_STREAMS`]).
    summarised: u64,
    /// Of those, the ones that were a SYN never answered (when dropped), per server:
    /// (streams, SYN retries), so the findings can still count a scan whole.
    unanswered_summarised: FastMap<Endpoint, (u64, u64)>,
    max_live: usize,
    max_kept: usize,
    /// Which stream each frame is in, run-length encoded: (first frame of the run,
    /// stream or `NO_STREAM`). A bulk transfer costs one run; the worst case
    /// (streams alternating every frame) 8 bytes per frame.
    frame_runs: Vec<(u32, u32)>,
    /// Last frame number recorded in `frame_runs`.
    last_noted: u64,
    /// (frame, flags) of every flagged frame, when `keep_frames`.
    flagged: Vec<(u64, u16)>,
    counts: PerFlag<u64>,
    evicted: u64,
    frames_seen: u64,
    fragments: Fragments,
    /// A filter rejected frames that were fed for numbering ([`Self::feed_rejected`]).
    rejected_seen: bool,
    /// Streams with at least one counted (not rejected) frame, kept or not.
    counted_streams: u64,
    /// The series of the streams to graph, when graphs are wanted.
    series: Option<series::Recorder>,
    /// `--jobs` by flow (see `sharded.rs`): this engine is shard `.0` of `.1` and
    /// analyses only the conversations [`shard_of`] gives it.
    shard: Option<(usize, usize)>,
}

/// The shard of `shards` that analyses the conversation of a segment from `src` to
/// `dst`: the same for both directions, and the same in every thread (a fixed seed).
pub fn shard_of(src: Endpoint, dst: Endpoint, shards: usize) -> usize {
    use std::hash::BuildHasher;
    let (key, _) = ConvKey::of(src, dst);
    let h = foldhash::fast::FixedState::with_seed(0x6e6b_3139).hash_one(key);
    (h % shards.max(1) as u64) as usize
}

impl Default for TcpAnalysis {
    fn default() -> Self {
        Self::new(true)
    }
}

impl TcpAnalysis {
    /// `keep_frames`: remember every flagged frame so the report can list them
    /// (`--frames`); costs 16 bytes per flagged frame.
    pub fn new(keep_frames: bool) -> Self {
        Self::with_limits(keep_frames, MAX_LIVE_CONVERSATIONS, MAX_KEPT_STREAMS)
    }

    /// Like [`new`](Self::new) with other bounds than [`MAX_LIVE_CONVERSATIONS`] and
    /// [`MAX_KEPT_STREAMS`] (tests use small ones).
    pub fn with_limits(keep_frames: bool, max_live: usize, max_kept: usize) -> Self {
        TcpAnalysis {
            keep_frames,
            live: FastMap::default(),
            streams: Vec::new(),
            next_stream: 0,
            summarised: 0,
            unanswered_summarised: FastMap::default(),
            max_live: max_live.max(4),
            max_kept: max_kept.max(2),
            frame_runs: Vec::new(),
            last_noted: 0,
            flagged: Vec::new(),
            counts: PerFlag::default(),
            evicted: 0,
            frames_seen: 0,
            fragments: Fragments::default(),
            rejected_seen: false,
            counted_streams: 0,
            series: None,
            shard: None,
        }
    }

    /// Shard `index` of `count` of a `--jobs` run split by flow: it numbers and
    /// analyses only its own conversations (see [`shard_of`]); segments of others,
    /// which it may be handed (IP fragments and ICMP errors go to every shard, since
    /// only their reassembly or quote tells whose they are), are passed over.
    pub fn shard(keep_frames: bool, index: usize, count: usize) -> Self {
        TcpAnalysis {
            shard: Some((index, count)),
            ..Self::new(keep_frames)
        }
    }

    fn owns(&self, seg: &Segment) -> bool {
        self.shard
            .is_none_or(|(index, count)| shard_of(seg.src, seg.dst, count) == index)
    }

    /// Streams this engine has numbered so far (a shard's, in its own numbering).
    pub fn numbered(&self) -> u32 {
        self.next_stream
    }

    /// Records that frame `number` is in `stream` (`None`: in none), for
    /// [`Self::stream_of_frame`]: the merged engine of a split run learns it from the
    /// shards' answers, frame by frame.
    pub fn note_stream_of_frame(&mut self, number: u64, stream: Option<u32>) {
        self.note_frame(number, stream.unwrap_or(NO_STREAM));
    }

    /// Records that a filter rejected a frame (as [`Self::feed_rejected`] does), for
    /// the merged engine of a split run: the stream count then counts the streams
    /// of kept frames only.
    pub fn note_rejected(&mut self) {
        self.rejected_seen = true;
    }

    /// The engine of one thread, from the shards of a run split by flow and `index`,
    /// the engine that was told each frame's stream ([`Self::note_stream_of_frame`]).
    /// `renumber[s][local]` is the run-wide number of shard `s`'s stream `local`:
    /// streams numbered in the order their first frame came, as one engine numbers
    /// them. Sums and lists come out as one engine's; the caps that bound memory
    /// ([`MAX_LIVE_CONVERSATIONS`], [`MAX_KEPT_STREAMS`]) apply per shard, so a
    /// capture that reaches them may be pruned differently.
    pub fn merge_shards(mut index: TcpAnalysis, shards: Vec<(TcpAnalysis, Vec<u32>)>) -> Self {
        let mut streams = Vec::new();
        let mut flagged = Vec::new();
        for (shard, renumber) in shards {
            for mut s in shard.streams {
                s.stream = renumber[s.stream as usize];
                streams.push(s);
            }
            flagged.extend(shard.flagged);
            for (total, n) in index.counts.0.iter_mut().zip(shard.counts.0) {
                *total += n;
            }
            index.next_stream += shard.next_stream;
            index.summarised += shard.summarised;
            index.evicted += shard.evicted;
            index.frames_seen += shard.frames_seen;
            index.rejected_seen |= shard.rejected_seen;
            index.counted_streams += shard.counted_streams;
            for (server, (n, retries)) in shard.unanswered_summarised {
                let tally = index.unanswered_summarised.entry(server).or_default();
                tally.0 += n;
                tally.1 += retries;
            }
        }
        streams.sort_unstable_by_key(|s| s.stream);
        // A frame is one shard's: the frame numbers are distinct.
        flagged.sort_unstable_by_key(|f| f.0);
        index.streams = streams;
        index.flagged = flagged;
        index
    }

    /// Records the series the graphs draw (see [`series`]) from now on.
    pub fn record_series(&mut self, opts: &crate::pcap::analyze::graphs::GraphOptions) {
        self.series = Some(series::Recorder::new(opts));
    }

    /// The recorded series worth a graph (none unless [`Self::record_series`]).
    pub fn take_series(&mut self) -> Vec<series::StreamSeries> {
        self.series
            .take()
            .map(series::Recorder::into_series)
            .unwrap_or_default()
    }

    /// Tells the series recorder when the capture began (its bins start there).
    pub fn note_capture_start(&mut self, ts_ns: i64) {
        if let Some(r) = &mut self.series {
            r.note_capture_start(ts_ns);
        }
    }

    /// Feeds one frame (in file order).
    pub fn feed(&mut self, raw: &RawFrame<'_>, frame: &Frame<'_>) -> Option<TcpFrameInfo> {
        self.feed_as(raw, frame, true)
    }

    /// Feeds a frame a filter rejected: it numbers streams and moves the sequence
    /// analysis on, as in Wireshark under a display filter, but is neither counted
    /// nor summarised.
    pub fn feed_rejected(&mut self, raw: &RawFrame<'_>, frame: &Frame<'_>) {
        self.rejected_seen = true;
        self.feed_as(raw, frame, false);
    }

    fn feed_as(
        &mut self,
        raw: &RawFrame<'_>,
        frame: &Frame<'_>,
        counted: bool,
    ) -> Option<TcpFrameInfo> {
        // Borrowed where it was built: moving a segment (about 130 bytes) from one
        // Option into another cost two memcpy calls per frame, 4% of watch's time.
        let direct = Segment::from_frame(raw, frame);
        let reassembled;
        let seg = match &direct {
            Some(seg) => seg,
            None => {
                reassembled = self.fragments.feed(raw, frame);
                match &reassembled {
                    Some(seg) => seg,
                    None => {
                        self.feed_quoted(raw, frame);
                        self.note_frame(raw.number, NO_STREAM);
                        return None;
                    }
                }
            }
        };
        if !self.owns(seg) {
            return None;
        }
        Some(self.feed_segment_as(seg, counted))
    }

    /// An ICMP error quoting a TCP header: tshark looks its conversation up (creating
    /// it, which takes a stream number, and applying the SYN checks) without analysing
    /// it. The frame itself is not counted as stream traffic.
    fn feed_quoted(&mut self, raw: &RawFrame<'_>, frame: &Frame<'_>) {
        let Some(quote) = frame
            .layers
            .iter()
            .position(|l| matches!(l, Layer::IcmpQuote))
        else {
            return;
        };
        let quoted = &frame.layers[quote..];
        let Some(t) = quoted.iter().position(|l| matches!(l, Layer::Tcp(_))) else {
            return;
        };
        let ip = quoted[..t].iter().rev().find_map(|l| match l {
            Layer::Ipv4(v4) => Some((IpAddr::V4(v4.src), IpAddr::V4(v4.dst))),
            Layer::Ipv6(v6) => Some((IpAddr::V6(v6.src), IpAddr::V6(v6.dst))),
            _ => None,
        });
        let (Some((src, dst)), Some(Layer::Tcp(tcp))) = (ip, quoted.get(t)) else {
            return;
        };
        let seg = Segment {
            frame: raw.number,
            frame_len: 0,
            src: (src, tcp.src_port),
            dst: (dst, tcp.dst_port),
            header: SegmentHeader {
                seq: tcp.seq,
                ack: tcp.ack,
                flags: tcp.flags,
                window: tcp.window,
                len: 0,
                window_scale: None,
                ts_ns: raw.ts_ns,
            },
            sack: [None; 4],
        };
        if !self.owns(&seg) {
            return;
        }
        let (conv, _, _) = Self::conversation(
            &mut self.live,
            &mut self.streams,
            &mut self.next_stream,
            &seg,
        );
        let stream = conv.stream;
        if let Some(info) = find_stream_mut(&mut self.streams, stream) {
            info.icmp_errors += 1;
        }
    }

    /// The conversation of a segment (created, or restarted on a SYN with a new ISN),
    /// its direction index, and the flags the SYN checks set.
    fn conversation<'a>(
        live: &'a mut FastMap<ConvKey, Conversation>,
        streams: &mut Vec<StreamInfo>,
        next: &mut u32,
        seg: &Segment,
    ) -> (&'a mut Conversation, usize, u16) {
        let h = &seg.header;
        let (key, dir) = ConvKey::of(seg.src, seg.dst);
        let mut ta = 0;
        let conv = match live.entry(key) {
            Entry::Occupied(e) => {
                let conv = e.into_mut();
                let (bits, restart) = conv.seq.port_reuse_check(dir, h);
                ta |= bits;
                if restart {
                    let opened = new_stream(streams, next, seg, true);
                    *conv = Conversation::new(opened, dir, h.ts_ns);
                }
                conv
            }
            Entry::Vacant(e) => {
                let opened = new_stream(streams, next, seg, false);
                e.insert(Conversation::new(opened, dir, h.ts_ns))
            }
        };
        (conv, dir, ta)
    }

    fn note_frame(&mut self, number: u64, stream: u32) {
        // Frames arrive in file order; numbers beyond u32 are not indexed.
        let Ok(n) = u32::try_from(number) else {
            return;
        };
        if number <= self.last_noted {
            return;
        }
        let current = self.frame_runs.last().map(|r| r.1);
        if number > self.last_noted + 1 && current.is_some_and(|s| s != NO_STREAM) {
            // Frames skipped by a capture filter still count in the numbering.
            self.frame_runs
                .push((self.last_noted as u32 + 1, NO_STREAM));
        }
        if self.frame_runs.last().map(|r| r.1) != Some(stream) {
            self.frame_runs.push((n, stream));
        }
        self.last_noted = number;
    }

    /// Feeds one TCP segment; the core of [`feed`](Self::feed), public for tests and
    /// for callers with their own decoding.
    pub fn feed_segment(&mut self, seg: &Segment) -> TcpFrameInfo {
        self.feed_segment_as(seg, true)
    }

    fn feed_segment_as(&mut self, seg: &Segment, counted: bool) -> TcpFrameInfo {
        self.frames_seen += 1;
        if self.frames_seen & (EVICT_CHECK_EVERY - 1) == 0 && self.live.len() > self.max_live {
            self.evict(seg.header.ts_ns);
        }
        if self.streams.len() > self.max_kept {
            self.prune_streams();
        }
        let h = &seg.header;
        let (conv, dir, ta) = Self::conversation(
            &mut self.live,
            &mut self.streams,
            &mut self.next_stream,
            seg,
        );
        let flags = conv.seq.analyze(dir, h, ta);
        conv.seq.after_analysis(dir, h);
        conv.last_ts_ns = h.ts_ns;
        if h.flags & th::FIN != 0 {
            conv.fins |= 1 << dir;
        }
        let closing = !conv.closed && conv.fins == 3;
        conv.closed |= h.flags & th::RST != 0 || conv.fins == 3;
        let stream = conv.stream;
        let rtt = conv.seq.first_rtt_ns;
        let shift = conv.seq.flows[dir].win_scale;
        let from = match find_stream_mut(&mut self.streams, stream) {
            Some(info) if !counted => info.side_of(seg.src),
            Some(info) => {
                let from = info.side_of(seg.src);
                if info.frames == 0 {
                    // The first frame reported on, not a rejected one before it.
                    self.counted_streams += 1;
                    info.first_frame = seg.frame;
                    info.first_ts_ns = seg.header.ts_ns;
                }
                Self::update_stream(info, seg, from, flags, rtt);
                from
            }
            // The summary was dropped; the conversation remembers who the client is.
            None if usize::from(conv.client_dir) == dir => Side::Client,
            None => Side::Server,
        };

        if let (Some(rec), true) = (&mut self.series, counted) {
            let first = find_stream_mut(&mut self.streams, stream).is_some_and(|s| s.frames == 1);
            rec.feed(stream, seg, from, flags, shift, first);
            if closing {
                rec.closed(stream);
            }
        }
        if counted {
            self.counts.count(flags);
            if flags != 0 && self.keep_frames {
                self.flagged.push((seg.frame, flags));
            }
        }
        self.note_frame(seg.frame, stream);
        TcpFrameInfo {
            stream,
            flags,
            from,
            header_flags: seg.header.flags,
        }
    }

    /// Updates the stream summary.
    fn update_stream(info: &mut StreamInfo, seg: &Segment, from: Side, flags: u16, rtt: i64) {
        let h = &seg.header;
        let side = from as usize;
        info.frames += 1;
        info.bytes += u64::from(seg.frame_len);
        info.payload_bytes[side] += u64::from(h.len);
        info.last_frame = seg.frame;
        info.last_ts_ns = h.ts_ns;
        if rtt != 0 {
            info.handshake_rtt_ns.get_or_insert(rtt);
        }
        match h.flags & (th::SYN | th::ACK) {
            th::SYN => {
                info.last_syn_ts_ns = Some(h.ts_ns);
                if info.syn_frame.is_some() {
                    info.syn_retries += 1;
                } else {
                    info.syn_frame = Some(seg.frame);
                }
            }
            x if x == th::SYN | th::ACK => {
                info.syn_ack_frame.get_or_insert(seg.frame);
            }
            _ => {}
        }
        info.flag_counts.count(flags);
        if flags & flag::ANY_RETRANSMISSION != 0
            && info.retransmission_frames.len() < MAX_LISTED_PER_STREAM
        {
            info.retransmission_frames.push(seg.frame);
        }
        if h.flags & th::RST != 0 {
            let peer = info.last_sent_ns[1 - side];
            info.resets.push(Reset {
                frame: seg.frame,
                by: from,
                ts_ns: h.ts_ns,
                ts: rfc3339_ns(h.ts_ns),
                since_peer_ms: peer.map(|p| h.ts_ns.saturating_sub(p) as f64 / 1e6),
            });
        }
        if h.flags & th::FIN != 0 {
            info.fin_frames[side].get_or_insert(seg.frame);
        }
        Self::note_resend(info, seg, from, flags);
        info.last_sent_ns[side] = Some(h.ts_ns);
    }

    /// Times each side's retransmissions of one segment, to tell a stream stalled on
    /// its retransmission timer (gaps that keep growing) from one that merely lost
    /// a few segments.
    fn note_resend(info: &mut StreamInfo, seg: &Segment, from: Side, flags: u16) {
        let h = &seg.header;
        if h.len == 0 && h.flags & th::FIN == 0 || h.flags & th::SYN != 0 {
            return;
        }
        let slot = &mut info.resends[from as usize];
        match slot {
            Some(run) if flags & flag::ANY_RETRANSMISSION != 0 && run.seq == h.seq => {
                run.resent(seg.frame, h.ts_ns);
                let longer = info
                    .rto_backoff
                    .as_ref()
                    .is_none_or(|worst| run.resends > worst.resends);
                if run.backing_off() && longer {
                    info.rto_backoff = Some(run.clone());
                }
            }
            // A new segment: its run starts over in the buffers of the last one (a
            // fresh run per data segment cost an allocation and a free per frame).
            Some(run) => run.restart(from, h.seq, seg.frame, h.ts_ns),
            None => *slot = Some(ResendRun::new(from, h.seq, seg.frame, h.ts_ns)),
        }
    }

    /// Drops the sequence state of idle conversations to stay under the cap, then, if
    /// still above it, of the least recently seen ones down to three quarters of it.
    fn evict(&mut self, now_ns: i64) {
        let before = self.live.len();
        self.live.retain(|_, c| {
            let idle = now_ns.saturating_sub(c.last_ts_ns);
            !(idle > IDLE_EVICT_NS || (c.closed && idle > CLOSED_EVICT_NS))
        });
        if self.live.len() > self.max_live {
            let excess = self.live.len() - self.max_live / 4 * 3;
            let mut seen: Vec<i64> = self.live.values().map(|c| c.last_ts_ns).collect();
            let (_, cutoff, _) = seen.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            drop(seen);
            // Everything seen before the cutoff goes, then as many seen at it as needed.
            let older = self.live.values().filter(|c| c.last_ts_ns < cutoff).count();
            let mut at_cutoff = excess - older;
            self.live.retain(|_, c| {
                if c.last_ts_ns < cutoff {
                    false
                } else if c.last_ts_ns == cutoff && at_cutoff > 0 {
                    at_cutoff -= 1;
                    false
                } else {
                    true
                }
            });
        }
        self.evicted += (before - self.live.len()) as u64;
    }

    /// Drops the least notable half of the kept stream summaries (see
    /// [`MAX_KEPT_STREAMS`]); the survivors stay in stream order.
    fn prune_streams(&mut self) {
        let keep = self.max_kept / 2;
        if self.streams.len() <= keep {
            return;
        }
        let mut rank: Vec<(bool, u64, u32)> = self
            .streams
            .iter()
            .map(|s| (!s.notable(), u64::MAX - s.bytes, s.stream))
            .collect();
        rank.select_nth_unstable(keep - 1);
        rank.truncate(keep);
        let mut kept: Vec<u32> = rank.into_iter().map(|r| r.2).collect();
        kept.sort_unstable();
        self.drop_summaries(|s| kept.binary_search(&s.stream).is_err());
    }

    /// Drops the stream summaries `gone` picks, counted as summarised, with the SYNs
    /// never answered among them still tallied per server for the findings.
    fn drop_summaries(&mut self, gone: impl Fn(&StreamInfo) -> bool) {
        let before = self.streams.len();
        let unanswered = &mut self.unanswered_summarised;
        self.streams.retain(|s| {
            let keep = !gone(s);
            if !keep && s.unanswered_syn() {
                if let Some(tally) = unanswered.get_mut(&s.server) {
                    tally.0 += 1;
                    tally.1 += u64::from(s.syn_retries);
                } else if unanswered.len() < MAX_SUMMARISED_SERVERS {
                    unanswered.insert(s.server, (1, u64::from(s.syn_retries)));
                }
            }
            keep
        });
        self.summarised += (before - self.streams.len()) as u64;
    }

    /// A live run's housekeeping, so that memory follows the connections open now
    /// rather than every connection since the start (a file run keeps them all, up to
    /// [`MAX_KEPT_STREAMS`], for its report):
    /// - the summaries of the streams `done` picks (the caller has raised their
    ///   findings) are let go, counted as summarised;
    /// - the sequence state of conversations closed, or idle, as long as [`evict`]
    ///   waits under pressure, is let go (counted as evicted);
    /// - the frame-to-stream index before frame `keep_frames_from` and before the
    ///   first frame of the oldest stream still kept is let go.
    ///
    /// Returns the (client, server) of the summaries let go.
    ///
    /// [`evict`]: Self::evict
    pub fn release(
        &mut self,
        now_ns: i64,
        done: impl Fn(&StreamInfo) -> bool,
        keep_frames_from: u64,
    ) -> Vec<(Endpoint, Endpoint)> {
        let released: Vec<(Endpoint, Endpoint)> = self
            .streams
            .iter()
            .filter(|s| done(s))
            .map(|s| (s.client, s.server))
            .collect();
        self.drop_summaries(done);
        let before = self.live.len();
        self.live.retain(|_, c| {
            let idle = now_ns.saturating_sub(c.last_ts_ns);
            !(idle > IDLE_EVICT_NS || (c.closed && idle > CLOSED_EVICT_NS))
        });
        self.evicted += (before - self.live.len()) as u64;
        let oldest_kept = self.streams.first().map_or(u64::MAX, |s| s.first_frame);
        let from = keep_frames_from.min(oldest_kept);
        // The run holding `from` stays: it answers for `from` itself.
        let holding = self
            .frame_runs
            .partition_point(|r| u64::from(r.0) <= from)
            .saturating_sub(1);
        if holding > 0 {
            self.frame_runs.drain(..holding);
        }
        released
    }

    /// Streams left out of [`streams`](Self::streams) that were, when dropped, SYNs
    /// never answered: (server, streams, SYN retries), for the first
    /// [`MAX_SUMMARISED_SERVERS`] servers such streams went to.
    pub fn unanswered_summarised(&self) -> impl Iterator<Item = (Endpoint, u64, u64)> + '_ {
        self.unanswered_summarised
            .iter()
            .map(|(server, (streams, retries))| (*server, *streams, *retries))
    }

    /// The stream frame `number` (1-based) belongs to, if it carried analysed TCP.
    pub fn stream_of_frame(&self, number: u64) -> Option<u32> {
        if number == 0 || number > self.last_noted {
            return None;
        }
        let after = self
            .frame_runs
            .partition_point(|r| u64::from(r.0) <= number);
        let (_, stream) = *self.frame_runs.get(after.checked_sub(1)?)?;
        (stream != NO_STREAM).then_some(stream)
    }

    /// The kept stream summaries in stream order: every stream unless there were more
    /// than [`MAX_KEPT_STREAMS`] (see [`TcpReport::streams_summarised`]).
    pub fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    /// A stream's summary, unless it was dropped to bound memory.
    pub fn stream(&self, stream: u32) -> Option<&StreamInfo> {
        let i = self
            .streams
            .binary_search_by_key(&stream, |s| s.stream)
            .ok()?;
        self.streams.get(i)
    }

    /// Conversations whose sequence state was let go (a later segment of one starts
    /// a new stream).
    pub fn evicted_conversations(&self) -> u64 {
        self.evicted
    }

    /// Frames counted under each analysis flag so far.
    pub fn flag_counts(&self) -> &PerFlag<u64> {
        &self.counts
    }

    /// Streams numbered so far, kept or not; under a filter, those it kept frames of.
    pub fn stream_count(&self) -> u64 {
        if self.rejected_seen {
            self.counted_streams
        } else {
            u64::from(self.next_stream)
        }
    }

    /// Flagged frames as (frame, [`flag`] bits), in file order (empty unless built
    /// with `keep_frames`).
    pub fn flagged_frames(&self) -> &[(u64, u16)] {
        &self.flagged
    }

    /// The TCP findings: SYNs never answered, resets, streams dominated by
    /// retransmission, zero-window stalls.
    /// `capture_end`: the time of the capture's last frame, which SYNs sent shortly
    /// before it could not have been answered by.
    pub fn raise_findings(
        &self,
        capture_end_ns: Option<i64>,
        out: &mut Vec<crate::pcap::analyze::findings::Finding>,
    ) {
        findings::raise(
            &self.streams,
            self.unanswered_summarised(),
            capture_end_ns,
            out,
        );
    }

    /// The TCP findings of the kept streams `settled` picks (a live run raises each
    /// stream's once it is over), without the summarised ones; `capture_end_ns` as
    /// for [`TcpAnalysis::raise_findings`] (live: the latest frame so far).
    pub fn raise_findings_of(
        &self,
        settled: impl Fn(&StreamInfo) -> bool,
        capture_end_ns: Option<i64>,
        out: &mut Vec<crate::pcap::analyze::findings::Finding>,
    ) {
        let streams: Vec<StreamInfo> = self
            .streams
            .iter()
            .filter(|s| settled(s))
            .cloned()
            .collect();
        if !streams.is_empty() {
            findings::raise(&streams, std::iter::empty(), capture_end_ns, out);
        }
    }

    pub fn report(&self, with_frames: bool) -> TcpReport {
        let flagged_frames = with_frames.then(|| {
            let mut lists: PerFlag<Vec<u64>> = PerFlag::default();
            for (frame, bits) in &self.flagged {
                for f in TcpFlag::ALL {
                    if bits & f.bits() != 0 {
                        lists[f].push(*frame);
                    }
                }
            }
            lists
        });
        TcpReport {
            streams: self.stream_count(),
            flags: self.counts.clone(),
            flagged_frames,
            // Streams only a filter's rejected frames were in are not the report's.
            streams_detail: self
                .streams
                .iter()
                .filter(|s| s.frames > 0)
                .map(StreamInfo::detail)
                .collect(),
            evicted_conversations: self.evicted,
            streams_summarised: self.summarised,
        }
    }
}

/// The kept summary of `stream`: the last one in the common case (the newest stream,
/// or a bulk transfer), else a binary search.
fn find_stream_mut(streams: &mut [StreamInfo], stream: u32) -> Option<&mut StreamInfo> {
    let i = match streams.last() {
        Some(last) if last.stream == stream => streams.len() - 1,
        _ => streams.binary_search_by_key(&stream, |s| s.stream).ok()?,
    };
    streams.get_mut(i)
}

/// Numbers a new stream and keeps its summary; returns its number and whether the
/// segment's sender is its client.
fn new_stream(
    streams: &mut Vec<StreamInfo>,
    next: &mut u32,
    seg: &Segment,
    reused: bool,
) -> (u32, bool) {
    let stream = *next;
    *next = next.saturating_add(1);
    let f = seg.header.flags & (th::SYN | th::ACK);
    let (client, server, roles_from) = if f == th::SYN {
        (seg.src, seg.dst, RolesFrom::Syn)
    } else if f == th::SYN | th::ACK {
        (seg.dst, seg.src, RolesFrom::SynAck)
    } else if seg.src.1 < seg.dst.1 {
        (seg.dst, seg.src, RolesFrom::Ports)
    } else {
        (seg.src, seg.dst, RolesFrom::Ports)
    };
    streams.push(StreamInfo {
        stream,
        client,
        server,
        roles_from,
        frames: 0,
        bytes: 0,
        payload_bytes: [0; 2],
        first_frame: seg.frame,
        last_frame: seg.frame,
        first_ts_ns: seg.header.ts_ns,
        last_ts_ns: seg.header.ts_ns,
        handshake_rtt_ns: None,
        syn_frame: None,
        syn_ack_frame: None,
        syn_retries: 0,
        last_syn_ts_ns: None,
        flag_counts: PerFlag::default(),
        retransmission_frames: Vec::new(),
        resets: Vec::new(),
        fin_frames: [None; 2],
        began_with_port_reuse: reused,
        icmp_errors: 0,
        last_sent_ns: [None; 2],
        resends: [None, None],
        rto_backoff: None,
    });
    (stream, client == seg.src)
}
