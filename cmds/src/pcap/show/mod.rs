//! `pcap show`: one line per frame (number, time, length, layer stack, summary), or one
//! JSON object per line. The engine turns each frame into a [`FrameLine`]; the view
//! prints it.

pub mod filter;
pub mod report;
pub mod view;

use crate::output::{rfc3339_ns, write_json_line};
use crate::pcap::analyze::sections::tcp::{TcpAnalysis, TcpFlag, TcpFrameInfo};
use crate::pcap::analyze::sections::websocket::WebSocketAnalysis;
use crate::source::{FrameSource, RawFrame};
pub use filter::{DisplayFilter, FilterError};
use netkit_dissectors::transport::tcp_flags;
use netkit_dissectors::{dissect, DissectOptions, TcpContext};
pub use report::FrameLine;
use std::collections::HashMap;
use std::io::{self, Write};

#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    /// Stop after this many frames (tshark's -c).
    pub count: Option<u64>,
    pub json: bool,
    pub dissect: DissectOptions,
    /// `-Y`: show only the frames this display filter matches.
    pub display_filter: Option<DisplayFilter>,
    /// The file's name for the JSON lines, when several files are shown.
    pub file: Option<String>,
}

/// What one frame shows as; `first_ts` is the time stamp of the file's first frame.
pub fn line(raw: &RawFrame<'_>, first_ts: i64, dissect_opts: &DissectOptions) -> FrameLine {
    let frame = dissect(raw.linktype, raw.data, dissect_opts);
    line_of(raw, &frame, first_ts, None)
}

fn line_of(
    raw: &RawFrame<'_>,
    frame: &netkit_dissectors::Frame<'_>,
    first_ts: i64,
    tcp: Option<&TcpContext>,
) -> FrameLine {
    FrameLine {
        file: None,
        frame: raw.number,
        ts: rfc3339_ns(raw.ts_ns),
        time: raw.ts_ns.saturating_sub(first_ts) as f64 / 1e9,
        len: raw.orig_len,
        caplen: raw.data.len(),
        layers: frame.layers.iter().map(|l| l.name()).collect(),
        stack: frame.stack(),
        summary: frame.summary_in(tcp),
        error: frame.error.map(|e| e.to_string()),
    }
}

/// Prints the frames of `source`, as text or JSON lines.
pub fn show(
    source: &mut dyn FrameSource,
    opts: &ShowOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut shown = 0u64;
    let mut first_ts = None;
    let mut streams = Streams::default();
    // Followed only when the display filter asks about WebSocket frames: it keeps
    // per-connection state that plain listing does not need.
    let mut websocket = opts
        .display_filter
        .as_ref()
        .filter(|f| f.needs_websocket())
        .map(|_| WebSocketAnalysis::default());
    // Frames a filter rejects are read too: times count from the file's first frame,
    // as Wireshark's do under a display filter.
    while let Some((raw, passed)) = source.next_frame_any() {
        let t0 = *first_ts.get_or_insert(raw.ts_ns);
        if !passed {
            // As in `pcap analyze`: a frame `-f` drops still numbers TCP streams, so
            // `-Y tcp.stream == N` means the stream a report calls N.
            let frame = dissect(raw.linktype, raw.data, &opts.dissect);
            streams.tcp.feed_rejected(&raw, &frame);
            continue;
        }
        if opts.count.is_some_and(|c| shown >= c) {
            break;
        }
        let frame = dissect(raw.linktype, raw.data, &opts.dissect);
        // Every frame goes through the TCP analysis, shown or not, so the flags and
        // stream numbers of the frames shown are those of the whole capture.
        let (info, tcp) = streams.context(&raw, &frame);
        if let Some(filter) = &opts.display_filter {
            let ws_frame = websocket.as_mut().is_some_and(|ws| {
                let before = ws.websocket_frames();
                ws.observe(raw.number, raw.ts_ns, &frame);
                ws.websocket_frames() > before
            });
            let facts = filter::FrameFacts {
                number: raw.number,
                len: raw.orig_len,
                frame: &frame,
                tcp: info.as_ref(),
                websocket: ws_frame,
            };
            if !filter.matches(&facts) {
                continue;
            }
        }
        shown += 1;
        let mut l = line_of(&raw, &frame, t0, tcp.as_ref());
        l.file.clone_from(&opts.file);
        if opts.json {
            write_json_line(out, &l)?;
        } else {
            view::write_line(out, &l)?;
        }
    }
    Ok(())
}

/// What `pcap show` follows per TCP stream to print segments as Wireshark does:
/// relative sequence numbers, scaled windows, analysis tags.
struct Streams {
    tcp: TcpAnalysis,
    /// Per stream: base sequence number and window scale option of each side (client,
    /// server), and whether each side's SYN was seen.
    state: HashMap<u32, StreamView>,
}

#[derive(Default)]
struct StreamView {
    base: [Option<u32>; 2],
    window_scale: [Option<u8>; 2],
    syn_seen: [bool; 2],
}

/// Streams whose view `pcap show` keeps; past it, segments of new streams show absolute
/// numbers (a scan of millions of streams must not grow memory without bound).
const MAX_VIEWED_STREAMS: usize = 100_000;

impl Default for Streams {
    fn default() -> Self {
        Streams {
            // Only each frame's flags are needed, not the lists of flagged frames.
            tcp: TcpAnalysis::new(false),
            state: HashMap::new(),
        }
    }
}

impl Streams {
    /// The TCP analysis of the frame, and how its summary shows the segment.
    fn context(
        &mut self,
        raw: &RawFrame<'_>,
        frame: &netkit_dissectors::Frame<'_>,
    ) -> (Option<TcpFrameInfo>, Option<TcpContext>) {
        let Some(info) = self.tcp.feed(raw, frame) else {
            return (None, None);
        };
        let view = self.view(&info, frame);
        (Some(info), view)
    }

    fn view(
        &mut self,
        info: &TcpFrameInfo,
        frame: &netkit_dissectors::Frame<'_>,
    ) -> Option<TcpContext> {
        let (_, t) = frame.innermost_tcp()?;
        if !self.state.contains_key(&info.stream) && self.state.len() >= MAX_VIEWED_STREAMS {
            return None;
        }
        let v = self.state.entry(info.stream).or_default();
        let me = info.from as usize;
        let peer = 1 - me;
        let syn = t.has(tcp_flags::SYN);
        // Wireshark's bases: a SYN's own sequence number (the SYN is 0), else one
        // before the first byte seen (it is 1); likewise for the peer from an ACK.
        if syn {
            v.base[me] = Some(t.seq);
            v.syn_seen[me] = true;
            v.window_scale[me] = t.parse_options().0.window_scale;
        } else if v.base[me].is_none() {
            v.base[me] = Some(t.seq.wrapping_sub(1));
        }
        if t.has(tcp_flags::ACK) && v.base[peer].is_none() {
            v.base[peer] = Some(t.ack.wrapping_sub(1));
        }
        // Scaling is in force only when both SYNs carry the option (RFC 7323 2.2); like
        // Wireshark, a side's own option applies from its SYN on, until the peer's SYN
        // shows none. Without the sender's SYN the scale is unknown: the raw value.
        let window_shift = match (v.syn_seen[me], v.window_scale[me], v.syn_seen[peer]) {
            (false, _, _) => None,
            (true, None, _) => Some(0),
            (true, Some(_), true) if v.window_scale[peer].is_none() => Some(0),
            (true, Some(shift), _) => Some(shift),
        };
        Some(TcpContext {
            seq_base: v.base[me],
            ack_base: v.base[peer],
            window_shift,
            tags: tags(info.flags),
        })
    }
}

/// Wireshark's bracketed analysis tags for a frame's flags (a fast or spurious
/// retransmission says so instead of the plain one).
fn tags(bits: u16) -> Vec<&'static str> {
    let has = |f: TcpFlag| bits & f.bits() != 0;
    let special = has(TcpFlag::FastRetransmission) || has(TcpFlag::SpuriousRetransmission);
    TcpFlag::ALL
        .into_iter()
        .filter(|f| has(*f) && !(special && *f == TcpFlag::Retransmission))
        .map(|f| match f {
            TcpFlag::Retransmission => "TCP Retransmission",
            TcpFlag::FastRetransmission => "TCP Fast Retransmission",
            TcpFlag::SpuriousRetransmission => "TCP Spurious Retransmission",
            TcpFlag::OutOfOrder => "TCP Out-Of-Order",
            TcpFlag::DuplicateAck => "TCP Dup ACK",
            TcpFlag::LostSegment => "TCP Previous segment not captured",
            TcpFlag::AckLostSegment => "TCP ACKed unseen segment",
            TcpFlag::ZeroWindow => "TCP ZeroWindow",
            TcpFlag::ZeroWindowProbe => "TCP ZeroWindowProbe",
            TcpFlag::ZeroWindowProbeAck => "TCP ZeroWindowProbeAck",
            TcpFlag::WindowFull => "TCP Window Full",
            TcpFlag::WindowUpdate => "TCP Window Update",
            TcpFlag::KeepAlive => "TCP Keep-Alive",
            TcpFlag::KeepAliveAck => "TCP Keep-Alive ACK",
            TcpFlag::ReusedPorts => "TCP Port numbers reused",
        })
        .collect()
}
