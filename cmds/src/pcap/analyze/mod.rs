//! `pcap analyze`: frames -> dissection -> analysis sections -> one report.
//!
//! The seam: a [`FrameSource`] hands out frames (a capture file today, live rings for
//! `watch`); [`Analysis::feed`] dissects nothing itself but takes each frame with its
//! dissection, lets the TCP engine say which stream it belongs to, and gives every
//! [`Section`] the same [`FrameCtx`]. At the end [`Analysis::finish`] lets each section
//! write its part of the report and raise its findings; what needs two sections (an
//! upgrade and its connection's retransmissions) is joined in `joins.rs`, the one
//! place that knows more than one section. Progress goes to a callback: the engine
//! never prints.
//!
//! Adding a section: a file in `sections/` implementing [`Section`], a field and a line
//! in [`Analysis::sections`], and its output's field in `report.rs`.

pub mod evidence;
pub mod export;
pub mod findings;
pub mod graphs;
pub mod html;
mod joins;
pub mod parallel;
pub mod parquet_export;
pub mod report;
pub mod sections;
pub mod sharded;
pub mod svg;
pub mod view;

use crate::source::{FrameSource, RawFrame};
use netkit_dissectors::{dissect, DissectOptions, Frame};
pub use report::{CaptureProblem, CaptureSummary, ProblemKind, Report, SourceInfo};
pub use sections::tcp::TcpFrameInfo;

/// The hash map of the per-frame engines. std's SipHash showed up at 17% of a whole
/// analysis in a profile; foldhash is several times faster and still randomly seeded,
/// so a crafted capture cannot aim for collisions.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// How `pcap analyze` analyses.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    pub dissect: DissectOptions,
    /// List the frames behind each TCP analysis flag (`--frames`).
    pub frames: bool,
    /// Follow connections as Zeek's conn.log does (`--export`).
    pub conns: bool,
    /// Collect what the graphs draw (`--html`, `pcap graph`).
    pub graphs: Option<graphs::GraphOptions>,
    /// Secrets to decrypt TLS with (`--tls-keylog`, pcapng Decryption Secrets Blocks).
    pub tls_keylog: sections::tls::decrypt::KeyLog,
}

/// What every section sees of one frame.
pub struct FrameCtx<'a> {
    pub raw: RawFrame<'a>,
    pub frame: &'a Frame<'a>,
    /// What the TCP engine made of the frame (its stream, flags, direction), when it
    /// carries a TCP segment the engine analysed.
    pub tcp: Option<TcpFrameInfo>,
}

/// One analysis section: fed every frame once, in capture order.
pub trait Section {
    fn feed(&mut self, ctx: &FrameCtx<'_>);
}

/// How far reading has come, for a progress line (`bytes` of the input so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub bytes: u64,
    pub frames: u64,
}

/// How often (in frames, a power of two) progress is reported.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Runs every section over `source` and returns the report. `progress` is called every
/// [`PROGRESS_EVERY`] frames (the caller decides whether and how to show it).
pub fn analyze(
    source: &mut dyn FrameSource,
    info: SourceInfo,
    opts: &AnalyzeOptions,
    progress: &mut dyn FnMut(Progress),
) -> Report {
    analyze_exporting(source, info, opts, progress, &mut |_| {})
}

/// [`analyze`], handing each connection's conn.log record to `conns` once it is over
/// (when `opts.conns`): records leave as connections end, so memory holds the live
/// ones only.
pub fn analyze_exporting(
    source: &mut dyn FrameSource,
    info: SourceInfo,
    opts: &AnalyzeOptions,
    progress: &mut dyn FnMut(Progress),
    conns: &mut dyn FnMut(export::ConnRecord),
) -> Report {
    let mut run = Analysis::new(opts);
    let mut frames = 0u64;
    // Frames a filter rejects still number TCP streams, as in Wireshark, so a
    // finding's `tcp.stream eq N` names the same stream there.
    while let Some((raw, passed)) = source.next_frame_any() {
        let frame = dissect(raw.linktype, raw.data, &opts.dissect);
        if passed {
            run.feed(raw, &frame);
        } else {
            run.tcp.feed_rejected(&raw, &frame);
        }
        frames += 1;
        // Secrets embedded in the capture come before the sessions they open (the
        // block precedes the packets), so taking them after each frame is in time.
        if let Some(text) = source.take_tls_secrets() {
            run.tls.add_keylog_text(&text);
        }
        if frames.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress {
                bytes: source.bytes_read(),
                frames,
            });
            run.take_finished_conns().into_iter().for_each(&mut *conns);
        }
    }
    run.take_all_conns().into_iter().for_each(conns);
    run.finish(info, &source.linktypes(), source.warnings())
}

/// The sections of one run, fed frame by frame.
pub struct Analysis {
    capture: report::CaptureTally,
    tcp: sections::tcp::TcpAnalysis,
    census: sections::census::Census,
    websocket: sections::websocket::WebSocketAnalysis,
    tls: sections::tls::TlsAnalysis,
    multicast: sections::multicast::MulticastAnalysis,
    fhrp: sections::fhrp::FhrpAnalysis,
    tunnels: sections::tunnels::TunnelAnalysis,
    paths: sections::paths::PathAnalysis,
    conn: sections::conn::ConnLog,
    /// `--frames`: list the frames behind each TCP flag.
    list_frames: bool,
    /// The capture's timeline, when graphs are wanted.
    timeline: Option<graphs::Timeline>,
    /// Decrypted bytes on their way from the TLS section to the clear-text ones.
    plain: Vec<sections::tls::Plain>,
    /// `--jobs`: paths is fed on the capture side, not the stream side. In the
    /// two-thread split (`parallel.rs`) always: the capture side moves to whichever
    /// thread has time. With shards (`sharded.rs`) when decrypting, which makes the
    /// stream side the slower one by more than paths weighs; without keys, paths
    /// evens the threads out where it is.
    paths_on_capture_side: bool,
}

impl Analysis {
    pub fn new(opts: &AnalyzeOptions) -> Self {
        let mut tcp = sections::tcp::TcpAnalysis::new(opts.frames);
        if let Some(g) = &opts.graphs {
            tcp.record_series(g);
        }
        Analysis {
            capture: report::CaptureTally::default(),
            tcp,
            census: Default::default(),
            websocket: Default::default(),
            tls: sections::tls::TlsAnalysis::with_keylog(opts.tls_keylog.clone()),
            multicast: Default::default(),
            fhrp: Default::default(),
            tunnels: Default::default(),
            paths: Default::default(),
            conn: sections::conn::ConnLog::new(opts.conns),
            list_frames: opts.frames,
            timeline: opts.graphs.as_ref().map(graphs::Timeline::new),
            plain: Vec::new(),
            paths_on_capture_side: !opts.tls_keylog.is_empty(),
        }
    }

    /// The same, with paths fed on the capture side (see `paths_on_capture_side`).
    fn with_paths_on_capture_side(mut self) -> Self {
        self.paths_on_capture_side = true;
        self
    }

    /// The sections that read the per-frame context, in the order they see it.
    fn sections(&mut self) -> [&mut dyn Section; 6] {
        [
            &mut self.census,
            &mut self.multicast,
            &mut self.fhrp,
            &mut self.tunnels,
            &mut self.paths,
            &mut self.conn,
        ]
    }

    /// Feeds one frame and its dissection.
    pub fn feed(&mut self, raw: RawFrame<'_>, frame: &Frame<'_>) {
        self.capture.feed(&raw, frame);
        // TCP first: the others read the stream it assigns.
        let tcp = self.feed_tcp(&raw, frame);
        let ctx = FrameCtx { raw, frame, tcp };
        self.feed_tls_and_websocket(&ctx);
        for s in self.sections() {
            s.feed(&ctx);
        }
    }

    /// TLS before WebSocket/HTTP: a connection it decrypts reaches the clear-text
    /// analysis as decrypted bytes, never as its ciphertext segments.
    fn feed_tls_and_websocket(&mut self, ctx: &FrameCtx<'_>) {
        if self.tls.feed_frame(ctx) {
            self.tls.take_plain(&mut self.plain);
            for p in self.plain.drain(..) {
                self.websocket.observe_plain(&p);
                self.tls.recycle(p);
            }
        } else {
            self.websocket.feed(ctx);
        }
    }

    /// The TCP engine and the timeline drawn from its answer (`--html`).
    fn feed_tcp(
        &mut self,
        raw: &RawFrame<'_>,
        frame: &Frame<'_>,
    ) -> Option<sections::tcp::TcpFrameInfo> {
        if self.timeline.is_some() {
            self.tcp.note_capture_start(raw.ts_ns);
        }
        let tcp = self.tcp.feed(raw, frame);
        if let Some(t) = &mut self.timeline {
            let on_tcp = tcp.map(|i| (i.from as usize, i.flags, i.header_flags));
            t.feed(raw.ts_ns, raw.orig_len, on_tcp);
        }
        tcp
    }

    /// `--jobs`' stream side (see `parallel.rs`): TCP (and the timeline), TLS,
    /// WebSocket, conn records, and paths unless it is on the capture side.
    fn feed_stream_side(&mut self, raw: RawFrame<'_>, frame: &Frame<'_>) {
        let tcp = self.feed_tcp(&raw, frame);
        self.feed_in_order(raw, frame, tcp);
    }

    /// The stream side after the TCP engine, whose answer for the frame is `tcp`
    /// (`sharded.rs`: the shards gave it): TLS, WebSocket, conn records, and paths
    /// unless it is on the capture side.
    fn feed_in_order(&mut self, raw: RawFrame<'_>, frame: &Frame<'_>, tcp: Option<TcpFrameInfo>) {
        let ctx = FrameCtx { raw, frame, tcp };
        self.feed_tls_and_websocket(&ctx);
        if !self.paths_on_capture_side {
            self.paths.feed(&ctx);
        }
        self.conn.feed(&ctx);
    }

    /// `--jobs`' capture side: every section that does not read the TCP engine's
    /// answer for the frame (their `ctx.tcp` is `None`, which none of them reads),
    /// and paths (which does not either) when decrypting.
    fn feed_capture_side(&mut self, raw: RawFrame<'_>, frame: &Frame<'_>) {
        self.capture.feed(&raw, frame);
        let ctx = FrameCtx {
            raw,
            frame,
            tcp: None,
        };
        for s in [
            &mut self.census as &mut dyn Section,
            &mut self.multicast,
            &mut self.fhrp,
            &mut self.tunnels,
        ] {
            s.feed(&ctx);
        }
        if self.paths_on_capture_side {
            self.paths.feed(&ctx);
        }
    }

    /// The run of one thread, from the two halves `--jobs` fed.
    fn join_sides(streams: Analysis, capture: Analysis) -> Analysis {
        Analysis {
            capture: capture.capture,
            tcp: streams.tcp,
            census: capture.census,
            websocket: streams.websocket,
            tls: streams.tls,
            multicast: capture.multicast,
            fhrp: capture.fhrp,
            tunnels: capture.tunnels,
            paths: if capture.paths_on_capture_side {
                capture.paths
            } else {
                streams.paths
            },
            conn: streams.conn,
            list_frames: streams.list_frames,
            timeline: streams.timeline,
            plain: Vec::new(),
            paths_on_capture_side: capture.paths_on_capture_side,
        }
    }

    /// Leaves the `protocols` counts out: for a run that reads only the findings (no
    /// finding depends on them), and saves their cost on every frame.
    pub fn without_protocol_counts(&mut self) {
        self.census.turn_off();
    }

    /// The TCP section so far (a live run's summary reads its counts).
    pub fn tcp(&self) -> &sections::tcp::TcpAnalysis {
        &self.tcp
    }

    /// The WebSocket section so far (a live run reports each upgrade once answered).
    pub fn websocket(&self) -> &sections::websocket::WebSocketAnalysis {
        &self.websocket
    }

    /// The findings the path and tunnel sections would raise if the capture ended now
    /// (a live run reports each as it comes), less `fragments_incomplete`: the
    /// missing fragments of a packet may still come, only the end decides.
    pub fn path_findings_so_far(&self) -> Vec<findings::Finding> {
        let mut found = Vec::new();
        self.tunnels.clone().finish(&mut found);
        self.paths.clone().finish(&mut found);
        found.retain(|f| f.code != findings::Code::FragmentsIncomplete);
        found
    }

    /// The FHRP section so far.
    pub fn fhrp(&self) -> &sections::fhrp::FhrpAnalysis {
        &self.fhrp
    }

    /// The multicast section so far.
    pub fn multicast(&self) -> &sections::multicast::MulticastAnalysis {
        &self.multicast
    }

    /// Every section's output and findings, joined into the report.
    pub fn finish(
        self,
        info: SourceInfo,
        linktypes: &[u16],
        read_problems: &[crate::source::ReadWarning],
    ) -> Report {
        joins::finish(self, info, linktypes, read_problems)
    }
}
