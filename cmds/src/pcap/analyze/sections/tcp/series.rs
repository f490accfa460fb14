//! The per-stream series behind the TCP graphs (time-sequence, RTT, throughput,
//! bytes in flight, receive window), recorded by the TCP section as it analyses, for
//! the streams that will be graphed only.
//!
//! Which streams: the chosen ones from their first segment; with `troubled`, every
//! new stream while fewer than [`MAX_RECORDED`] are recorded (the oldest untroubled
//! recording makes room for a new stream), kept once the stream runs into trouble;
//! a stream that runs into trouble unrecorded starts being recorded there (its
//! series then begin late, which the report says). Untroubled recordings of closed
//! conversations are let go.
//!
//! RTT samples are tshark 4.0's `tcp.analysis.ack_rtt` (shared notes §1.4 steps 21
//! and 26): every segment with data, SYN or FIN is listed as unacknowledged (at most
//! [`MAX_UNACKED`] per direction); an ACK equal to a listed segment's end gives the
//! time since that segment (the oldest transmission when it was sent twice), and
//! removes what it covers.

use super::rules::{gt_seq, SegmentHeader};
use super::segment::Segment;
use super::Side;
use crate::pcap::analyze::graphs::{add_tcp, Bins};
use crate::pcap::analyze::FastMap;
use netkit_dissectors::transport::tcp_flags as th;
use std::collections::VecDeque;

/// Streams recorded at once (troubled and not) when not chosen.
pub const MAX_RECORDED: usize = 64;
/// Troubled streams a report graphs (beyond the chosen ones).
pub const MAX_GRAPHED: usize = 24;
/// Points per series before it halves itself.
pub const MAX_POINTS: usize = 4096;
/// tshark's `TCP_MAX_UNACKED_SEGMENTS`.
const MAX_UNACKED: usize = 10_000;
/// Bins of a stream's throughput series.
const STREAM_BINS: usize = 1024;

/// A value a series can keep the extremes of.
pub trait Point: Copy {
    fn value(&self) -> i64;
}

/// Points in time order, at most `cap`. When full, every run of four keeps its lowest
/// and its highest (in time order), so the series halves and its spikes stay; from then
/// on new points are gathered in buckets of as many as each kept pair now stands for,
/// each bucket kept as its lowest and highest, so old and new points keep the same
/// time resolution.
#[derive(Debug, Clone)]
pub struct Series<P> {
    pub points: Vec<P>,
    cap: usize,
    /// Points let go to stay under the cap.
    pub dropped: u64,
    /// Raw points per kept pair (1: every point kept as it comes).
    bucket: u64,
    /// The current bucket: its lowest and highest so far (with their order) and size.
    lo: Option<(u64, P)>,
    hi: Option<(u64, P)>,
    gathered: u64,
}

impl<P: Point> Series<P> {
    fn new(cap: usize) -> Self {
        Series {
            points: Vec::new(),
            cap: cap.max(8),
            dropped: 0,
            bucket: 1,
            lo: None,
            hi: None,
            gathered: 0,
        }
    }

    fn push(&mut self, p: P) {
        if self.bucket <= 1 {
            self.points.push(p);
        } else {
            let n = self.gathered;
            self.gathered += 1;
            if self.lo.is_none_or(|(_, lo)| p.value() < lo.value()) {
                self.lo = Some((n, p));
            }
            if self.hi.is_none_or(|(_, hi)| p.value() > hi.value()) {
                self.hi = Some((n, p));
            }
            if self.gathered >= self.bucket {
                self.flush();
            }
        }
        if self.points.len() >= self.cap {
            self.halve();
            self.bucket = if self.bucket <= 1 { 4 } else { self.bucket * 2 };
        }
    }

    /// Keeps the current bucket's lowest and highest point.
    fn flush(&mut self) {
        let (lo, hi) = (self.lo.take(), self.hi.take());
        let mut kept = 0;
        match (lo, hi) {
            (Some((a, pa)), Some((b, pb))) if a != b => {
                let (first, second) = if a < b { (pa, pb) } else { (pb, pa) };
                self.points.push(first);
                self.points.push(second);
                kept = 2;
            }
            (Some((_, p)), _) | (None, Some((_, p))) => {
                self.points.push(p);
                kept = 1;
            }
            (None, None) => {}
        }
        self.dropped += self.gathered.saturating_sub(kept);
        self.gathered = 0;
    }

    /// Ends the series: the last, partial bucket is kept too.
    pub(super) fn finish(&mut self) {
        self.flush();
    }

    fn halve(&mut self) {
        let before = self.points.len();
        let mut kept = Vec::with_capacity(before / 2 + 2);
        for run in self.points.chunks(4) {
            let lo = (0..run.len()).min_by_key(|i| run[*i].value()).unwrap_or(0);
            let hi = (0..run.len()).max_by_key(|i| run[*i].value()).unwrap_or(0);
            let (a, b) = (lo.min(hi), lo.max(hi));
            kept.push(run[a]);
            if b != a {
                kept.push(run[b]);
            }
        }
        self.dropped += (before - kept.len()) as u64;
        self.points = kept;
    }
}

/// A segment sent: its time, frame, first byte and length relative to its sender's
/// first sequence number, and its analysis flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegPoint {
    pub ts_ns: i64,
    pub frame: u64,
    pub seq: u64,
    pub len: u32,
    pub flags: u16,
}

/// An acknowledgement: what it acknowledges and the right edge of the window it
/// offers (both in the data sender's relative numbers), and the raw and scaled window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckPoint {
    pub ts_ns: i64,
    pub frame: u64,
    pub ack: u64,
    pub window: u64,
}

/// A SACK block (relative to the data sender's first sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SackPoint {
    pub ts_ns: i64,
    pub left: u64,
    pub right: u64,
}

/// One RTT sample: the ACK's frame and time, and tshark's `ack_rtt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttPoint {
    pub ts_ns: i64,
    pub frame: u64,
    pub rtt_ns: i64,
}

/// Bytes in flight after a data segment: from the oldest unacknowledged byte to the
/// highest sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlightPoint {
    pub ts_ns: i64,
    pub bytes: u64,
}

impl Point for SegPoint {
    fn value(&self) -> i64 {
        self.seq as i64
    }
}
impl Point for AckPoint {
    fn value(&self) -> i64 {
        self.ack as i64
    }
}
impl Point for SackPoint {
    fn value(&self) -> i64 {
        self.right as i64
    }
}
impl Point for RttPoint {
    fn value(&self) -> i64 {
        self.rtt_ns
    }
}
impl Point for FlightPoint {
    fn value(&self) -> i64 {
        self.bytes as i64
    }
}

#[derive(Debug, Clone, Copy)]
struct Unacked {
    seq: u32,
    nextseq: u32,
    ts_ns: i64,
}

/// One direction of a recorded stream: what its sender sent and acknowledged.
#[derive(Debug, Clone)]
pub struct Direction {
    /// First sequence number (the SYN's, or one before the first byte seen).
    base: Option<u32>,
    /// Highest relative sequence number seen, to unwrap past 4 GiB.
    high: u64,
    /// Highest `seq + len` sent, relative.
    highest_end: u64,
    unacked: VecDeque<Unacked>,
    /// Data segments (and SYN/FIN) sent.
    pub segments: Series<SegPoint>,
    /// Retransmissions sent (kept apart so that downsampling never hides one).
    pub retransmissions: Series<SegPoint>,
    /// ACKs this side sent, in the peer's numbers.
    pub acks: Series<AckPoint>,
    /// SACK blocks this side sent, in the peer's numbers.
    pub sacks: Series<SackPoint>,
    /// RTT samples of this side's ACKs (of the peer's data).
    pub rtt: Series<RttPoint>,
    /// Bytes in flight of this side's data.
    pub in_flight: Series<FlightPoint>,
}

impl Direction {
    fn new(cap: usize) -> Self {
        Direction {
            base: None,
            high: 0,
            highest_end: 0,
            unacked: VecDeque::new(),
            segments: Series::new(cap),
            retransmissions: Series::new(cap),
            acks: Series::new(cap),
            sacks: Series::new(cap),
            rtt: Series::new(cap),
            in_flight: Series::new(cap),
        }
    }

    /// `seq` relative to this direction's base, unwrapped near the highest seen.
    fn relative(&mut self, seq: u32) -> u64 {
        let base = *self.base.get_or_insert(seq.wrapping_sub(1));
        let low = u64::from(seq.wrapping_sub(base));
        let epoch = self.high & !0xffff_ffff;
        let mut v = epoch | low;
        // The value nearest the highest seen: a wrap forward or a little backward.
        if v + (1 << 31) < self.high {
            v += 1 << 32;
        } else if v > self.high + (1 << 31) && v >= 1 << 32 {
            v -= 1 << 32;
        }
        self.high = self.high.max(v);
        v
    }

    fn finish(&mut self) {
        self.segments.finish();
        self.retransmissions.finish();
        self.acks.finish();
        self.sacks.finish();
        self.rtt.finish();
        self.in_flight.finish();
    }

    fn dropped(&self) -> u64 {
        self.segments.dropped
            + self.retransmissions.dropped
            + self.acks.dropped
            + self.sacks.dropped
            + self.rtt.dropped
            + self.in_flight.dropped
    }

    /// Whether this side sent any payload (the time-sequence graph's sender).
    pub fn sent_data(&self) -> bool {
        !self.segments.points.is_empty()
    }
}

/// The recorded series of one stream.
#[derive(Debug, Clone)]
pub struct StreamSeries {
    pub stream: u32,
    /// Client and server directions ([`Side`] order).
    pub dirs: [Direction; 2],
    /// Frames per time bin, with the TCP events, per direction.
    pub throughput: Bins,
    /// The first frame recorded: later than the stream's first when recording began
    /// when trouble did.
    pub first_frame: u64,
    pub first_ts_ns: i64,
    pub late_start: bool,
    pub troubled: bool,
    last_ts_ns: i64,
}

impl StreamSeries {
    fn new(
        stream: u32,
        seg: &Segment,
        cap: usize,
        late_start: bool,
        capture_start_ns: i64,
        interval_ns: Option<i64>,
    ) -> Self {
        let throughput = match interval_ns {
            Some(w) => Bins::fixed(capture_start_ns, w),
            None => Bins::adaptive(capture_start_ns, STREAM_BINS),
        };
        StreamSeries {
            stream,
            dirs: [Direction::new(cap), Direction::new(cap)],
            throughput,
            first_frame: seg.frame,
            first_ts_ns: seg.header.ts_ns,
            late_start,
            troubled: false,
            last_ts_ns: seg.header.ts_ns,
        }
    }

    /// Points let go by downsampling.
    pub fn dropped_points(&self) -> u64 {
        self.dirs.iter().map(Direction::dropped).sum()
    }

    /// The side that sent the most payload (ties: the client), whose sequence
    /// numbers the time-sequence graph draws.
    pub fn data_side(&self) -> usize {
        let bytes = |d: &Direction| d.highest_end;
        usize::from(bytes(&self.dirs[1]) > bytes(&self.dirs[0]))
    }

    /// Records one segment sent by `from`, with its analysis flags and the sender's
    /// window shift (-1/-2: none).
    fn record(&mut self, seg: &Segment, from: Side, flags: u16, shift: i8) {
        let h: &SegmentHeader = &seg.header;
        let s = from as usize;
        self.last_ts_ns = h.ts_ns;
        if let Some(b) = self.throughput.at(h.ts_ns) {
            b.frames += 1;
            b.bytes += u64::from(seg.frame_len);
            add_tcp(b, s, seg.frame_len, flags, h.flags);
        }
        let syn_fin = h.flags & (th::SYN | th::FIN) != 0;
        let [a, b] = &mut self.dirs;
        let (fwd, rev) = if s == 0 { (a, b) } else { (b, a) };
        if h.flags & th::SYN != 0 && fwd.base.is_none() {
            fwd.base = Some(h.seq);
        }
        // Step 21: the segment is listed as unacknowledged.
        if (h.len > 0 || syn_fin) && fwd.unacked.len() < MAX_UNACKED {
            let nextseq = h.seq.wrapping_add(h.len).wrapping_add(u32::from(syn_fin));
            fwd.unacked.push_front(Unacked {
                seq: h.seq,
                nextseq,
                ts_ns: h.ts_ns,
            });
        }
        if h.len > 0 || syn_fin {
            let seq = fwd.relative(h.seq);
            let end = seq + u64::from(h.len);
            fwd.highest_end = fwd.highest_end.max(end);
            let p = SegPoint {
                ts_ns: h.ts_ns,
                frame: seg.frame,
                seq,
                len: h.len,
                flags,
            };
            if flags & super::flag::ANY_RETRANSMISSION != 0 {
                fwd.retransmissions.push(p);
            } else {
                fwd.segments.push(p);
            }
            if h.len > 0 {
                if let Some(oldest) = fwd.unacked.back().map(|u| u.seq) {
                    let low = fwd.relative(oldest);
                    fwd.in_flight.push(FlightPoint {
                        ts_ns: h.ts_ns,
                        bytes: fwd.highest_end.saturating_sub(low),
                    });
                }
            }
        }
        if h.flags & th::ACK == 0 {
            return;
        }
        // Step 26: the ACK against the peer's unacknowledged segments, newest first.
        let ack = h.ack;
        let mut rtt: Option<i64> = None;
        let mut i = 0;
        while i < rev.unacked.len() {
            let u = rev.unacked[i];
            if ack == u.nextseq {
                rtt = Some(h.ts_ns.wrapping_sub(u.ts_ns));
                rev.unacked.remove(i);
            } else if gt_seq(ack, u.seq) && !gt_seq(ack, u.nextseq) {
                rev.unacked[i].seq = ack;
                i += 1;
            } else if gt_seq(u.nextseq, ack) {
                i += 1;
            } else {
                rev.unacked.remove(i);
            }
        }
        // tshark shows no ack_rtt of zero (an ACK stamped with its segment's time).
        if let Some(rtt_ns) = rtt.filter(|r| *r != 0) {
            fwd.rtt.push(RttPoint {
                ts_ns: h.ts_ns,
                frame: seg.frame,
                rtt_ns,
            });
        }
        let ack_rel = rev.relative(ack);
        // A SYN's window is never scaled.
        let scale = if h.flags & th::SYN != 0 || shift < 0 {
            0
        } else {
            shift as u32
        };
        fwd.acks.push(AckPoint {
            ts_ns: h.ts_ns,
            frame: seg.frame,
            ack: ack_rel,
            window: u64::from(h.window) << scale,
        });
        for (left, right) in seg.sack.iter().flatten() {
            let (l, r) = (rev.relative(*left), rev.relative(*right));
            fwd.sacks.push(SackPoint {
                ts_ns: h.ts_ns,
                left: l,
                right: r,
            });
        }
    }
}

/// Analysis flags that make a stream troubled (worth a graph).
const TROUBLE: u16 = super::flag::ANY_RETRANSMISSION
    | super::flag::LOST_PACKET
    | super::flag::ACK_LOST_PACKET
    | super::flag::ZERO_WINDOW;

/// The TCP section's recorder of stream series.
#[derive(Debug)]
pub struct Recorder {
    chosen: Vec<u32>,
    troubled: bool,
    cap: usize,
    interval_ns: Option<i64>,
    capture_start_ns: Option<i64>,
    recording: FastMap<u32, StreamSeries>,
}

impl Recorder {
    pub fn new(opts: &crate::pcap::analyze::graphs::GraphOptions) -> Self {
        Recorder {
            chosen: opts.chosen.clone(),
            troubled: opts.troubled,
            cap: opts.max_points.unwrap_or(MAX_POINTS),
            interval_ns: opts.interval_ns,
            capture_start_ns: None,
            recording: FastMap::default(),
        }
    }

    /// The capture's first frame time (bins start there, as tshark's io,stat does).
    pub fn note_capture_start(&mut self, ts_ns: i64) {
        self.capture_start_ns.get_or_insert(ts_ns);
    }

    /// Records one segment of `stream` (`first`: the stream's first segment).
    pub(super) fn feed(
        &mut self,
        stream: u32,
        seg: &Segment,
        from: Side,
        flags: u16,
        shift: i8,
        first: bool,
    ) {
        let start = *self.capture_start_ns.get_or_insert(seg.header.ts_ns);
        let trouble = flags & TROUBLE != 0 || seg.header.flags & th::RST != 0;
        if !self.recording.contains_key(&stream) {
            let chosen = self.chosen.contains(&stream);
            let late = !first;
            let wanted = chosen || (self.troubled && (first || trouble));
            if !wanted {
                return;
            }
            // A troubled stream left out here is counted at the end, from the
            // stream summaries, with the others not graphed.
            if !chosen && !self.make_room() {
                return;
            }
            let series = StreamSeries::new(stream, seg, self.cap, late, start, self.interval_ns);
            self.recording.insert(stream, series);
        }
        if let Some(s) = self.recording.get_mut(&stream) {
            s.troubled |= trouble;
            s.record(seg, from, flags, shift);
        }
    }

    /// Makes room for a new recording: lets go of the least recently seen
    /// untroubled, unchosen one when the table is full. False when none can go.
    fn make_room(&mut self) -> bool {
        let used = self
            .recording
            .keys()
            .filter(|s| !self.chosen.contains(s))
            .count();
        if used < MAX_RECORDED {
            return true;
        }
        let victim = self
            .recording
            .values()
            .filter(|s| !s.troubled && !self.chosen.contains(&s.stream))
            .min_by_key(|s| s.last_ts_ns)
            .map(|s| s.stream);
        match victim {
            Some(v) => {
                self.recording.remove(&v);
                true
            }
            None => false,
        }
    }

    /// A conversation closed: its recording goes unless troubled or chosen.
    pub(super) fn closed(&mut self, stream: u32) {
        if self.chosen.contains(&stream) {
            return;
        }
        if self.recording.get(&stream).is_some_and(|s| !s.troubled) {
            self.recording.remove(&stream);
        }
    }

    /// The recordings worth a graph: chosen ones and troubled ones.
    pub fn into_series(self) -> Vec<StreamSeries> {
        let chosen = self.chosen;
        let mut kept: Vec<StreamSeries> = self
            .recording
            .into_values()
            .filter(|s| s.troubled || chosen.contains(&s.stream))
            .collect();
        for s in &mut kept {
            s.dirs.iter_mut().for_each(Direction::finish);
        }
        kept.sort_by_key(|s| s.stream);
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::analyze::graphs::{Bin, Bins};

    #[test]
    fn halving_keeps_the_cap_and_the_spikes_and_counts_what_went() {
        let mut s: Series<RttPoint> = Series::new(64);
        for i in 0..10_000i64 {
            // One spike among flat samples.
            let rtt_ns = if i == 7_777 {
                900_000_000
            } else {
                1_000_000 + i % 3
            };
            s.push(RttPoint {
                ts_ns: i,
                frame: i as u64,
                rtt_ns,
            });
        }
        s.finish();
        assert!(s.points.len() <= 64);
        // Old and new points alike: the first and last quarter of the time hold
        // about as many kept points.
        let early = s.points.iter().filter(|p| p.ts_ns < 2_500).count();
        let late = s.points.iter().filter(|p| p.ts_ns >= 7_500).count();
        assert!(early.abs_diff(late) <= 4, "{early} vs {late}");
        assert_eq!(s.points.len() as u64 + s.dropped, 10_000);
        assert!(s.points.iter().any(|p| p.rtt_ns == 900_000_000));
        assert!(s.points.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    }

    #[test]
    fn adaptive_bins_stay_bounded_and_exact() {
        let mut b = Bins::adaptive(0, 16);
        let mut frames = 0;
        for i in 0..100_000i64 {
            if let Some(bin) = b.at(i * 1_000_000) {
                bin.frames += 1;
                bin.bytes += 10;
                frames += 1;
            }
        }
        assert!(b.bins.len() <= 16);
        let total: u64 = b.bins.iter().map(|x: &Bin| x.frames).sum();
        assert_eq!(total, frames);
        assert_eq!(b.bins.iter().map(|x| x.bytes).sum::<u64>(), 10 * frames);
        // A fixed table refuses a frame far beyond its range instead of growing.
        let mut f = Bins::fixed(0, 1);
        assert!(f.at(i64::MAX).is_none());
        assert_eq!(f.out_of_range, 1);
    }
}
