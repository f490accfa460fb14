//! `pcap show`: one line per frame (number, time, length, layer stack, summary), or one
//! JSON object per line. The engine turns each frame into a [`FrameLine`]; the view
//! prints it.

pub mod filter;
pub mod report;
pub mod view;

use crate::output::{rfc3339_ns, write_json_line};
use crate::pcap::analyze::sections::tcp::{Side, TcpAnalysis, TcpFlag, TcpFrameInfo};
use crate::pcap::analyze::sections::tls::decrypt::KeyLog;
use crate::pcap::analyze::sections::tls::{Plain, TlsAnalysis};
use crate::pcap::analyze::sections::websocket::WebSocketAnalysis;
use crate::pcap::analyze::FrameCtx;
use crate::source::{FrameSource, RawFrame};
pub use filter::{DisplayFilter, FilterError};
use netkit_dissectors::transport::tcp_flags;
use netkit_dissectors::{dissect, DissectOptions, TcpContext};
pub use report::{Decrypted, FrameLine};
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
    /// `--tls-keylog`: decrypt TLS with these secrets and show each frame's decrypted
    /// records under it. Secrets embedded in a pcapng (Decryption Secrets Blocks) are
    /// used with or without it.
    pub tls_keylog: Option<KeyLog>,
}

/// What a `pcap show` run could not decrypt, for its warnings (none when nothing
/// was to be decrypted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShowSummary {
    /// TLS sessions with a ServerHello whose secrets no key log had.
    pub sessions_without_keys: u64,
    /// Records that failed authentication (wrong keys or damaged data).
    pub decryption_failures: u64,
    /// Key log lines that were not in the NSS format.
    pub keylog_bad_lines: u64,
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
        decrypted: Vec::new(),
    }
}

/// How a decrypted record shows: its size and, when it begins with an HTTP/1.x
/// request or status line, that line (the part of a session a reader looks for first;
/// the rest of the bytes are the analyses' business, not a listing's).
fn decrypted_of(p: &Plain, client_to_server: Option<bool>) -> Decrypted {
    let first = p.data().split(|b| *b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let text = std::str::from_utf8(first)
        .ok()
        .filter(|l| l.len() <= MAX_START_LINE && is_http_start_line(l))
        .map(str::to_string);
    Decrypted {
        from: match client_to_server {
            Some(true) => "client",
            Some(false) => "server",
            None => "unknown",
        },
        bytes: p.data().len(),
        line: text,
    }
}

/// Longer first lines are shown as bytes only (a listing line must stay a line).
const MAX_START_LINE: usize = 512;

/// `METHOD target HTTP/1.x` or `HTTP/1.x NNN reason`.
fn is_http_start_line(l: &str) -> bool {
    if let Some(rest) = l.strip_prefix("HTTP/1.") {
        let code = rest.get(2..5).unwrap_or("");
        return rest.as_bytes().get(1) == Some(&b' ')
            && code.len() == 3
            && code.bytes().all(|b| b.is_ascii_digit());
    }
    let mut parts = l.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_uppercase())
        && !target.is_empty()
        && version.starts_with("HTTP/1.")
}

/// Prints the frames of `source`, as text or JSON lines.
pub fn show(
    source: &mut dyn FrameSource,
    opts: &ShowOptions,
    out: &mut dyn Write,
) -> io::Result<ShowSummary> {
    let mut shown = 0u64;
    let mut tls = opts.tls_keylog.clone().map(TlsAnalysis::with_keylog);
    let mut plain = Vec::new();
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
    loop {
        // Secrets embedded in the capture come before the sessions they open (read
        // with the frame after the block, taken before the next one, as analyze does).
        if let Some(text) = source.take_tls_secrets() {
            tls.get_or_insert_with(TlsAnalysis::default)
                .add_keylog_text(&text);
        }
        let Some((raw, passed)) = source.next_frame_any() else {
            break;
        };
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
        // Decryption follows every frame too (a record's key schedule needs the whole
        // handshake), and shows what the frame completed.
        if let Some(tls) = tls.as_mut() {
            let ctx = FrameCtx {
                raw,
                frame: &frame,
                tcp: info,
            };
            if tls.feed_frame(&ctx) {
                tls.take_plain(&mut plain);
            }
        }
        // This frame's records, shown with it or (filtered out) not at all.
        let records = std::mem::take(&mut plain);
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
        // Whether the frame's sender is the TCP engine's client of the stream.
        let client_sent = info.map(|i| i.from == Side::Client);
        l.decrypted = records
            .iter()
            .map(|p| {
                let client = match (client_sent, frame_sender_is(&frame, p)) {
                    (Some(client), Some(same)) => Some(client == same),
                    _ => None,
                };
                decrypted_of(p, client)
            })
            .collect();
        if opts.json {
            write_json_line(out, &l)?;
        } else {
            view::write_line(out, &l)?;
        }
    }
    let summary = tls.map_or_else(ShowSummary::default, |t| {
        let section = t.finish();
        ShowSummary {
            sessions_without_keys: section.sessions_without_keys.unwrap_or(0),
            decryption_failures: section
                .connections
                .iter()
                .map(|c| c.decryption_failures)
                .sum(),
            keylog_bad_lines: section.keylog_bad_lines,
        }
    });
    Ok(summary)
}

/// Whether the decrypted record `p` was sent by the frame's own sender (a frame's
/// ACK can complete nothing, so a record it completes is the sender's unless the
/// reassembly released it on the peer's segment).
fn frame_sender_is(frame: &netkit_dissectors::Frame<'_>, p: &Plain) -> Option<bool> {
    let (_, t) = frame.innermost_tcp()?;
    Some(p.src.port() == t.src_port)
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
