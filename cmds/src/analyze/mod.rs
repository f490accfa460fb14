//! `pcap analyze`: capture file -> dissected frames -> analysis engines -> report.
//!
//! Every engine is fed each frame once, in file order, and keeps per-flow state only;
//! the report is assembled from their snapshots at the end.

pub mod census;
pub mod fhrp;
pub mod findings;
pub mod multicast;
pub mod tcp;
pub mod tunnels;
pub mod websocket;
pub mod write_streams;

use crate::capture::{CaptureError, CaptureFile, RawFrame};
use crate::output::rfc3339_ns;
use netkit_dissectors::{dissect, DissectOptions, Frame};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The hash map of the per-frame engines. std's SipHash showed up at 17% of a whole
/// analysis in a profile; foldhash is several times faster and still randomly seeded,
/// so a crafted capture cannot aim for collisions.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// How `pcap analyze` reads a file.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    pub filter: Option<String>,
    pub dissect: DissectOptions,
    /// List the frames behind each TCP analysis flag (`--frames`).
    pub frames: bool,
    /// Show a progress line on stderr for files that take more than a second (the
    /// caller sets it only when stderr is a terminal).
    pub progress: bool,
}

/// A progress line on stderr, shown once reading has taken more than a second.
struct Progress {
    enabled: bool,
    started: std::time::Instant,
    total: Option<u64>,
    shown: bool,
    name: String,
}

impl Progress {
    fn new(enabled: bool, path: &Path) -> Self {
        Progress {
            enabled,
            started: std::time::Instant::now(),
            total: std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
            shown: false,
            name: path.display().to_string(),
        }
    }

    fn update(&mut self, bytes: u64) {
        if !self.enabled || self.started.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
        self.shown = true;
        let mb = bytes as f64 / 1e6;
        match self.total {
            Some(t) if t > 0 => eprint!(
                "\r{}: {:>3.0}% ({mb:.0} of {:.0} MB)",
                self.name,
                bytes as f64 * 100.0 / t as f64,
                t as f64 / 1e6
            ),
            _ => eprint!("\r{}: {mb:.0} MB", self.name),
        }
    }

    fn done(&self) {
        if self.shown {
            // Clear the line so the report starts on a clean terminal.
            eprint!("\r\x1b[K");
        }
    }
}

/// The `capture` section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureSummary {
    pub file: String,
    pub format: crate::capture::Format,
    /// capinfos' name for the link type, or `per-packet` when interfaces differ.
    pub linktype: String,
    pub frames: u64,
    /// Sum of the frames' original (wire) lengths.
    pub bytes: u64,
    /// Sum of the bytes actually captured (less than `bytes` with a snap length).
    pub captured_bytes: u64,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub duration_s: f64,
    /// Frames that did not decode to the end (their error names layer and offset).
    pub malformed_frames: u64,
    /// Reading problems, and the first malformed frames, each with frame number.
    pub errors: Vec<CaptureProblem>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CaptureProblem {
    pub frame: u64,
    /// Byte offset in the file (reading problems) or in the frame (decode problems).
    pub offset: u64,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The file is damaged: reading stopped or skipped records here.
    Read,
    /// A frame's bytes did not decode past a layer; `offset` is within the frame.
    Decode,
}

/// The whole analysis of one file (CLI.md's `pcap analyze --json` object).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub capture: CaptureSummary,
    pub protocols: BTreeMap<&'static str, u64>,
    pub tcp: tcp::TcpReport,
    pub websocket: WebSocketSection,
    pub multicast: crate::mcast::MulticastSection,
    pub fhrp: fhrp::FhrpSection,
    pub tunnels: tunnels::TunnelsSection,
    pub paths: tunnels::PathsSection,
    /// Most important first.
    pub findings: Vec<findings::Finding>,
}

/// The `websocket` section: every HTTP/1.x upgrade request to WebSocket, in order.
#[derive(Debug, Clone, Serialize)]
pub struct WebSocketSection {
    pub upgrades: Vec<websocket::Upgrade>,
    /// HTTP connections not followed because the engine's table was full (0 on any
    /// ordinary capture).
    pub untracked_connections: u64,
}

/// Keeps the report readable on a badly damaged capture: the count is exact, the list
/// shows the first ones.
const MAX_LISTED_DECODE_ERRORS: usize = 50;

/// Runs every engine over one capture file.
pub fn analyze_file(path: &Path, opts: &AnalyzeOptions) -> Result<Report, CaptureError> {
    let mut file = CaptureFile::open(path)?;
    if let Some(f) = &opts.filter {
        file.set_filter(f)?;
    }
    let mut run = Analysis::new(opts);
    let mut progress = Progress::new(opts.progress, path);
    let mut since_check = 0u32;
    while let Some(raw) = file.next_frame() {
        let frame = dissect(raw.linktype, raw.data, &opts.dissect);
        run.feed(&raw, &frame);
        since_check += 1;
        if since_check == 1 << 16 {
            since_check = 0;
            let read = file.bytes_read();
            progress.update(read);
        }
    }
    progress.done();
    let linktypes = file.linktypes();
    let mut capture = run.capture_summary(path, file.format(), &linktypes);
    capture.errors.splice(
        0..0,
        file.warnings().iter().map(|w| CaptureProblem {
            frame: w.frame,
            offset: w.offset,
            kind: ProblemKind::Read,
            message: w.message.clone(),
        }),
    );
    Ok(run.finish(capture))
}

/// The engines of one run, fed frame by frame.
pub struct Analysis {
    census: census::Census,
    tcp: tcp::TcpAnalysis,
    /// `--frames`: list the frames behind each TCP flag.
    list_frames: bool,
    websocket: websocket::WebSocketAnalysis,
    multicast: crate::mcast::MulticastObserver,
    fhrp: fhrp::FhrpAnalysis,
    tunnels: tunnels::TunnelAnalysis,
    frames: u64,
    bytes: u64,
    captured_bytes: u64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    malformed: u64,
    decode_errors: Vec<CaptureProblem>,
}

impl Analysis {
    pub fn new(opts: &AnalyzeOptions) -> Self {
        Analysis {
            census: census::Census::default(),
            tcp: tcp::TcpAnalysis::new(opts.frames),
            list_frames: opts.frames,
            websocket: websocket::WebSocketAnalysis::default(),
            multicast: crate::mcast::MulticastObserver::new(),
            fhrp: fhrp::FhrpAnalysis::default(),
            tunnels: tunnels::TunnelAnalysis::default(),
            frames: 0,
            bytes: 0,
            captured_bytes: 0,
            first_ts: None,
            last_ts: None,
            malformed: 0,
            decode_errors: Vec::new(),
        }
    }

    pub fn feed(&mut self, raw: &RawFrame<'_>, frame: &Frame<'_>) {
        self.frames += 1;
        self.bytes += u64::from(raw.orig_len);
        self.captured_bytes += raw.data.len() as u64;
        self.first_ts.get_or_insert(raw.ts_ns);
        self.last_ts = Some(raw.ts_ns);
        if let Some(e) = &frame.error {
            // A frame cut by the snap length is not malformed: it is what was asked for.
            let snapped = (raw.data.len() as u64) < u64::from(raw.orig_len);
            if !snapped {
                self.malformed += 1;
                if self.decode_errors.len() < MAX_LISTED_DECODE_ERRORS {
                    self.decode_errors.push(CaptureProblem {
                        frame: raw.number,
                        offset: e.offset as u64,
                        kind: ProblemKind::Decode,
                        message: e.to_string(),
                    });
                }
            }
        }
        self.census.feed(frame);
        self.tcp.feed(raw, frame);
        self.websocket.feed(raw.number, raw.ts_ns, frame);
        multicast::feed(&mut self.multicast, raw.number, frame);
        self.fhrp.feed(raw.number, frame);
        self.tunnels
            .feed(raw.number, raw.ts_ns, raw.orig_len, frame);
    }

    /// Assembles the report from the engines' snapshots.
    fn finish(mut self, capture: CaptureSummary) -> Report {
        // WebSocket frames follow a handshake only the stream engine saw.
        self.census
            .add("websocket", self.websocket.websocket_frames());
        let untracked_connections = self.websocket.untracked_connections();
        let mut upgrades = self.websocket.into_upgrades();
        let tcp_report = self.tcp.report(self.list_frames);
        let total_retrans = tcp_report.flags.get("retransmission").copied().unwrap_or(0);
        let streams_with_retrans = self
            .tcp
            .streams()
            .iter()
            .filter(|s| s.retransmissions() > 0)
            .count();
        let mut placements = Vec::with_capacity(upgrades.len());
        for u in &mut upgrades {
            u.stream = self.tcp.stream_of_frame(u.request_frame);
            let info = u.stream.and_then(|s| self.tcp.stream(s));
            let pivot = u.response_frame.unwrap_or(u.request_frame);
            if let Some(st) = info {
                u.after.retransmissions = st.retransmissions_after(pivot);
                for r in st.resets.iter().filter(|r| r.frame > pivot) {
                    if !u.after.rst_frames.contains(&r.frame) {
                        u.after.rst_frames.push(r.frame);
                    }
                }
                u.after.rst_frames.sort_unstable();
                u.after.rst = !u.after.rst_frames.is_empty();
            }
            let on_stream = info.map(|s| s.retransmissions()).unwrap_or(0);
            let other_streams = streams_with_retrans - usize::from(on_stream > 0);
            placements.push(findings::RetransPlacement {
                total: total_retrans,
                on_stream,
                after_response: u.after.retransmissions,
                other_streams,
            });
        }
        let mut found = Vec::new();
        findings::websocket(&upgrades, &placements, &mut found);
        findings::tcp(
            self.tcp.streams(),
            self.tcp.unanswered_summarised(),
            &mut found,
        );
        let (tunnels, paths) = self.tunnels.snapshot(&mut found);
        findings::rank(&mut found);
        Report {
            capture,
            protocols: self.census.counts(),
            tcp: tcp_report,
            websocket: WebSocketSection {
                upgrades,
                untracked_connections,
            },
            multicast: self.multicast.snapshot(),
            fhrp: self.fhrp.snapshot(),
            tunnels,
            paths,
            findings: found,
        }
    }

    fn capture_summary(
        &mut self,
        path: &Path,
        format: crate::capture::Format,
        linktypes: &[u16],
    ) -> CaptureSummary {
        let mut distinct: Vec<u16> = linktypes.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let linktype = match distinct.as_slice() {
            [] => "unknown".to_string(),
            [one] => netkit_dissectors::link::linktype::name(*one).to_string(),
            _ => "per-packet".to_string(),
        };
        let duration_ns = match (self.first_ts, self.last_ts) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        CaptureSummary {
            file: path.display().to_string(),
            format,
            linktype,
            frames: self.frames,
            bytes: self.bytes,
            captured_bytes: self.captured_bytes,
            first_ts: self.first_ts.map(rfc3339_ns),
            last_ts: self.last_ts.map(rfc3339_ns),
            duration_s: duration_ns as f64 / 1e9,
            malformed_frames: self.malformed,
            errors: std::mem::take(&mut self.decode_errors),
        }
    }
}
