//! What the graphs of `pcap analyze --html` and `pcap graph` draw: the capture's
//! timeline (frames and bytes per time bin, per direction, with the TCP events), and
//! the per-stream series the TCP section records ([`super::sections::tcp::series`]).
//!
//! Collected in the same single pass as the analysis, only when asked for
//! ([`GraphOptions`]), and bounded: the timeline's bins double in width rather than
//! grow past [`TIMELINE_BINS`]; each recorded series holds at most its cap of points
//! and halves itself by keeping the lowest and highest of every four (so a spike
//! survives), counting what it let go.

use super::sections::tcp::series::StreamSeries;
use serde::Serialize;

/// Bins of the capture timeline: past this the bin width doubles (pairs merge, so
/// every count stays exact, only coarser).
pub const TIMELINE_BINS: usize = 2048;
/// First width of an adaptive timeline's bins.
const FIRST_WIDTH_NS: i64 = 1_000_000;
/// Fixed-interval bins (`pcap graph --interval`) past which frames are counted as
/// out of range instead of growing the table (a bogus time stamp years later must
/// not allocate gigabytes).
pub const MAX_FIXED_BINS: usize = 10_000_000;

/// What to collect for the graphs.
#[derive(Debug, Clone, Default)]
pub struct GraphOptions {
    /// Streams to record whatever happens in them (`--graph-stream`, `pcap graph
    /// --stream`).
    pub chosen: Vec<u32>,
    /// Also record the streams that run into trouble (retransmissions, lost
    /// segments, zero windows, resets): `--html`.
    pub troubled: bool,
    /// Points kept per series before it halves itself; `None`: the default
    /// ([`super::sections::tcp::series::MAX_POINTS`]). `pcap graph` asks for all.
    pub max_points: Option<usize>,
    /// Fixed bin width for throughput (`pcap graph --interval`), as tshark's
    /// `io,stat,INTERVAL`; `None`: adaptive bins.
    pub interval_ns: Option<i64>,
}

/// One time bin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bin {
    /// Frames and wire bytes, all protocols (tshark's io,stat FRAMES and BYTES).
    pub frames: u64,
    pub bytes: u64,
    /// Wire bytes of TCP frames sent by the client, by the server.
    pub tcp_bytes: [u64; 2],
    /// Frames tshark flags `tcp.analysis.retransmission`.
    pub retransmissions: u32,
    /// Segments with RST.
    pub resets: u32,
    /// Frames flagged `tcp.analysis.zero_window`.
    pub zero_windows: u32,
}

impl Bin {
    fn merge(&mut self, o: &Bin) {
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.tcp_bytes[0] += o.tcp_bytes[0];
        self.tcp_bytes[1] += o.tcp_bytes[1];
        self.retransmissions += o.retransmissions;
        self.resets += o.resets;
        self.zero_windows += o.zero_windows;
    }
}

/// Bins from a start time: fixed width, or adaptive (doubling past a count).
#[derive(Debug, Clone, Serialize)]
pub struct Bins {
    pub start_ns: i64,
    pub width_ns: i64,
    pub bins: Vec<Bin>,
    /// Adaptive: the most bins before the width doubles.
    #[serde(skip)]
    adaptive_max: Option<usize>,
    /// Frames past [`MAX_FIXED_BINS`] fixed bins, not binned.
    pub out_of_range: u64,
}

impl Bins {
    /// Bins of `width_ns` from `start_ns` (tshark's io,stat: relative to the first
    /// frame).
    pub fn fixed(start_ns: i64, width_ns: i64) -> Bins {
        Bins {
            start_ns,
            width_ns: width_ns.max(1),
            bins: Vec::new(),
            adaptive_max: None,
            out_of_range: 0,
        }
    }

    /// Bins that start at 1 ms and double in width to stay at most `max`.
    pub fn adaptive(start_ns: i64, max: usize) -> Bins {
        Bins {
            start_ns,
            width_ns: FIRST_WIDTH_NS,
            bins: Vec::new(),
            adaptive_max: Some(max.max(2)),
            out_of_range: 0,
        }
    }

    /// The bin of time `ts_ns` (a time before the start goes in the first bin, as a
    /// capture's out-of-order stamps do in tshark's first interval), made to exist.
    pub fn at(&mut self, ts_ns: i64) -> Option<&mut Bin> {
        let rel = ts_ns.saturating_sub(self.start_ns).max(0);
        let mut idx = (rel / self.width_ns) as u64;
        match self.adaptive_max {
            Some(max) => {
                while idx >= max as u64 {
                    self.halve();
                    idx = (rel / self.width_ns) as u64;
                }
            }
            None if idx >= MAX_FIXED_BINS as u64 => {
                self.out_of_range += 1;
                return None;
            }
            // tshark's io,stat counts a frame stamped earlier than the latest interval
            // reached (captures merged from several interfaces) in that interval.
            None => idx = idx.max(self.bins.len().saturating_sub(1) as u64),
        }
        let idx = idx as usize;
        if self.bins.len() <= idx {
            self.bins.resize(idx + 1, Bin::default());
        }
        self.bins.get_mut(idx)
    }

    /// Doubles the width: each pair of bins becomes one.
    fn halve(&mut self) {
        let merged: Vec<Bin> = self
            .bins
            .chunks(2)
            .map(|pair| {
                let mut b = pair[0].clone();
                if let Some(second) = pair.get(1) {
                    b.merge(second);
                }
                b
            })
            .collect();
        self.bins = merged;
        self.width_ns = self.width_ns.saturating_mul(2);
    }
}

/// The capture timeline of one run, fed every frame.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub bins: Option<Bins>,
    interval_ns: Option<i64>,
    /// The streams asked for, so the report can say which the capture lacks.
    pub(crate) chosen: Vec<u32>,
}

impl Timeline {
    pub fn new(opts: &GraphOptions) -> Timeline {
        Timeline {
            bins: None,
            interval_ns: opts.interval_ns,
            chosen: opts.chosen.clone(),
        }
    }

    /// Counts one frame: `tcp` is its sender's side index and analysis flags and TCP
    /// header flags when it carried an analysed segment.
    pub fn feed(&mut self, ts_ns: i64, orig_len: u32, tcp: Option<(usize, u16, u16)>) {
        let interval = self.interval_ns;
        let bins = self.bins.get_or_insert_with(|| match interval {
            Some(w) => Bins::fixed(ts_ns, w),
            None => Bins::adaptive(ts_ns, TIMELINE_BINS),
        });
        let Some(b) = bins.at(ts_ns) else {
            return;
        };
        b.frames += 1;
        b.bytes += u64::from(orig_len);
        if let Some((side, flags, th)) = tcp {
            add_tcp(b, side, orig_len, flags, th);
        }
    }
}

/// Adds a TCP frame's share to a bin.
pub(crate) fn add_tcp(b: &mut Bin, side: usize, orig_len: u32, flags: u16, th: u16) {
    use super::sections::tcp::flag;
    use netkit_dissectors::transport::tcp_flags;
    b.tcp_bytes[side.min(1)] += u64::from(orig_len);
    if flags & flag::ANY_RETRANSMISSION != 0 {
        b.retransmissions += 1;
    }
    if flags & flag::ZERO_WINDOW != 0 {
        b.zero_windows += 1;
    }
    if th & tcp_flags::RST != 0 {
        b.resets += 1;
    }
}

/// What the report's graphs draw: the timeline and the recorded streams.
#[derive(Debug, Clone)]
pub struct Graphs {
    pub timeline: Option<Bins>,
    /// The streams to graph, most important first: chosen ones, then those findings
    /// name, then the most troubled.
    pub streams: Vec<StreamSeries>,
    /// Troubled streams not graphed: recording them would have passed the bound on
    /// recorded streams, or more were troubled than a report shows.
    pub troubled_not_graphed: u64,
    /// Streams asked for (`--graph-stream`) that the capture does not have.
    pub chosen_missing: Vec<u32>,
}

impl Graphs {
    /// Points let go by downsampling, over every graphed stream.
    pub fn downsampled_points(&self) -> u64 {
        self.streams.iter().map(|s| s.dropped_points()).sum()
    }
}

/// Whether a stream's summary shows trouble worth a graph (the recorder's test, on
/// the counts).
pub(crate) fn troubled(s: &super::sections::tcp::StreamInfo) -> bool {
    use super::sections::tcp::TcpFlag as F;
    let c = &s.flag_counts;
    [
        F::Retransmission,
        F::FastRetransmission,
        F::SpuriousRetransmission,
        F::LostSegment,
        F::AckLostSegment,
        F::ZeroWindow,
    ]
    .iter()
    .any(|f| c[*f] > 0)
        || !s.resets.is_empty()
}

/// The report's graphs: the recorded streams in the order they are shown (chosen,
/// then those the findings name, then the most retransmitted), troubled ones up to
/// [`MAX_GRAPHED`](super::sections::tcp::series::MAX_GRAPHED).
pub(crate) fn select(
    timeline: Timeline,
    recorded: Vec<StreamSeries>,
    tcp: &super::sections::tcp::TcpAnalysis,
    findings: &[super::findings::Finding],
) -> Graphs {
    use super::sections::tcp::series::MAX_GRAPHED;
    let chosen = timeline.chosen;
    let retrans = |s: u32| {
        tcp.stream(s).map_or(0, |i| {
            i.flag_counts[super::sections::tcp::TcpFlag::Retransmission]
        })
    };
    let named = |s: u32| findings.iter().position(|f| f.stream == Some(s));
    let mut order: Vec<(usize, usize, u64, StreamSeries)> = recorded
        .into_iter()
        .map(|s| {
            let rank = chosen.iter().position(|c| *c == s.stream);
            let key = match (rank, named(s.stream)) {
                (Some(r), _) => (0, r),
                (None, Some(f)) => (1, f),
                (None, None) => (2, 0),
            };
            (key.0, key.1, u64::MAX - retrans(s.stream), s)
        })
        .collect();
    order.sort_by_key(|o| (o.0, o.1, o.2, o.3.stream));
    let mut streams = Vec::new();
    let mut troubled_shown = 0usize;
    for (class, _, _, s) in order {
        if class > 0 {
            if troubled_shown >= MAX_GRAPHED {
                continue;
            }
            troubled_shown += 1;
        }
        streams.push(s);
    }
    let shown = |n: u32| streams.iter().any(|s| s.stream == n);
    let troubled_not_graphed = tcp
        .streams()
        .iter()
        .filter(|s| s.frames > 0 && troubled(s) && !shown(s.stream))
        .count() as u64;
    let chosen_missing = chosen.iter().copied().filter(|c| !shown(*c)).collect();
    Graphs {
        timeline: timeline.bins,
        streams,
        troubled_not_graphed,
        chosen_missing,
    }
}

/// Seconds since `start_ns`, as CSV writes them (nanosecond precision).
fn csv_secs(ts_ns: i64, start_ns: i64) -> String {
    let d = ts_ns.saturating_sub(start_ns);
    let sign = if d < 0 { "-" } else { "" };
    let d = d.unsigned_abs();
    format!("{sign}{}.{:09}", d / 1_000_000_000, d % 1_000_000_000)
}

/// Bins as CSV: one line per bin, its start in seconds since `start_ns`.
pub fn bins_csv(out: &mut dyn std::io::Write, b: &Bins, start_ns: i64) -> std::io::Result<()> {
    writeln!(
        out,
        "interval_start_s,frames,bytes,tcp_bytes_client_to_server,tcp_bytes_server_to_client,retransmissions,resets,zero_windows"
    )?;
    for (i, bin) in b.bins.iter().enumerate() {
        let at = b.start_ns + i as i64 * b.width_ns;
        writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            csv_secs(at, start_ns),
            bin.frames,
            bin.bytes,
            bin.tcp_bytes[0],
            bin.tcp_bytes[1],
            bin.retransmissions,
            bin.resets,
            bin.zero_windows
        )?;
    }
    Ok(())
}

/// One stream's series of `kind` as CSV (`from`: the side that sent the frame).
pub fn stream_csv(
    out: &mut dyn std::io::Write,
    s: &StreamSeries,
    kind: super::svg::Kind,
    start_ns: i64,
) -> std::io::Result<()> {
    use super::svg::Kind;
    let side = |d: usize| if d == 0 { "client" } else { "server" };
    match kind {
        Kind::Rtt => {
            writeln!(out, "frame,time_s,from,ack_rtt_s")?;
            let mut rows: Vec<(u64, i64, usize, i64)> = Vec::new();
            for (d, dir) in s.dirs.iter().enumerate() {
                rows.extend(
                    dir.rtt
                        .points
                        .iter()
                        .map(|p| (p.frame, p.ts_ns, d, p.rtt_ns)),
                );
            }
            rows.sort_unstable();
            for (frame, ts, d, rtt) in rows {
                writeln!(
                    out,
                    "{frame},{},{},{}",
                    csv_secs(ts, start_ns),
                    side(d),
                    csv_secs(rtt, 0)
                )?;
            }
        }
        Kind::Throughput => bins_csv(out, &s.throughput, start_ns)?,
        Kind::Tsg => {
            writeln!(out, "frame,time_s,from,kind,seq,end")?;
            let mut rows: Vec<(u64, i64, usize, &str, u64, u64)> = Vec::new();
            for (d, dir) in s.dirs.iter().enumerate() {
                for (list, name) in [
                    (&dir.segments.points, "segment"),
                    (&dir.retransmissions.points, "retransmission"),
                ] {
                    rows.extend(
                        list.iter()
                            .map(|p| (p.frame, p.ts_ns, d, name, p.seq, p.seq + u64::from(p.len))),
                    );
                }
                // An ACK's "end" is the right edge of the window it offers.
                rows.extend(
                    dir.acks
                        .points
                        .iter()
                        .map(|a| (a.frame, a.ts_ns, d, "ack", a.ack, a.ack + a.window)),
                );
            }
            rows.sort_unstable_by_key(|r| (r.0, r.3 != "ack"));
            for (frame, ts, d, name, a, b) in rows {
                writeln!(
                    out,
                    "{frame},{},{},{name},{a},{b}",
                    csv_secs(ts, start_ns),
                    side(d)
                )?;
            }
            writeln!(out, "# SACK blocks: time_s,from,left,right")?;
            for (d, dir) in s.dirs.iter().enumerate() {
                for p in &dir.sacks.points {
                    writeln!(
                        out,
                        "# {},{},{},{}",
                        csv_secs(p.ts_ns, start_ns),
                        side(d),
                        p.left,
                        p.right
                    )?;
                }
            }
        }
        Kind::Window => {
            writeln!(out, "frame,time_s,from,ack,window")?;
            let mut rows: Vec<(u64, i64, usize, u64, u64)> = Vec::new();
            for (d, dir) in s.dirs.iter().enumerate() {
                rows.extend(
                    dir.acks
                        .points
                        .iter()
                        .map(|a| (a.frame, a.ts_ns, d, a.ack, a.window)),
                );
            }
            rows.sort_unstable();
            for (frame, ts, d, ack, win) in rows {
                writeln!(
                    out,
                    "{frame},{},{},{ack},{win}",
                    csv_secs(ts, start_ns),
                    side(d)
                )?;
            }
        }
        Kind::InFlight => {
            writeln!(out, "time_s,from,bytes_in_flight")?;
            let mut rows: Vec<(i64, usize, u64)> = Vec::new();
            for (d, dir) in s.dirs.iter().enumerate() {
                rows.extend(dir.in_flight.points.iter().map(|p| (p.ts_ns, d, p.bytes)));
            }
            rows.sort_unstable();
            for (ts, d, bytes) in rows {
                writeln!(out, "{},{},{bytes}", csv_secs(ts, start_ns), side(d))?;
            }
        }
    }
    Ok(())
}
