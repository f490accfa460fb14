//! The report of `pcap analyze` (docs/CLI.md's `pcap analyze --json` object): typed
//! throughout, serialized by serde. Field names are the contract.

use super::findings::Finding;
use super::sections::{
    fhrp::FhrpSection, multicast::MulticastSection, paths::PathsSection, tcp::TcpReport,
    tls::TlsSection, tunnels::TunnelsSection, websocket::Upgrade,
};
use crate::output::rfc3339_ns;
use crate::source::{Format, RawFrame};
use netkit_dissectors::Frame;
use serde::Serialize;
use std::collections::BTreeMap;

/// The whole analysis of one capture.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub capture: CaptureSummary,
    pub protocols: BTreeMap<&'static str, u64>,
    pub tcp: TcpReport,
    pub websocket: WebSocketSection,
    pub tls: TlsSection,
    pub multicast: MulticastSection,
    pub fhrp: FhrpSection,
    pub tunnels: TunnelsSection,
    pub paths: PathsSection,
    /// Most important first.
    pub findings: Vec<Finding>,
    /// The findings as notice.log records, for `--export-notices` (not in the JSON
    /// report, which has them as `findings`).
    #[serde(skip)]
    pub notices: Vec<super::export::NoticeRecord>,
    /// What the graphs draw, when asked for (`--html`, `pcap graph`); not in the JSON.
    #[serde(skip)]
    pub graphs: Option<super::graphs::Graphs>,
}

/// What the caller knows about the source that the frames do not say.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The file as the user named it (`-` for standard input).
    pub file: String,
    pub format: Format,
    /// `--merge`: the files read as one capture, in the order ties go (empty for one
    /// file).
    pub members: Vec<String>,
}

/// The `capture` section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureSummary {
    pub file: String,
    pub format: Format,
    /// `--merge`: the files merged into this capture, ordered by first time stamp.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// `--merge`: members that could not be read at all (each with its reason); the
    /// others were analysed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable_files: Vec<String>,
    /// capinfos' name for the link type, or `per-packet` when interfaces differ.
    pub linktype: String,
    pub frames: u64,
    /// Sum of the frames' original (wire) lengths.
    pub bytes: u64,
    /// Sum of the bytes actually captured (less than `bytes` with a snap length).
    pub captured_bytes: u64,
    pub first_ts: Option<String>,
    /// `first_ts` as a number, for times relative to it in the human report.
    #[serde(skip)]
    pub first_ts_ns: Option<i64>,
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

/// The `websocket` section: every HTTP/1.x upgrade request to WebSocket, in order.
#[derive(Debug, Clone, Serialize)]
pub struct WebSocketSection {
    pub upgrades: Vec<Upgrade>,
    /// HTTP connections not followed because the engine's table was full (0 on any
    /// ordinary capture).
    pub untracked_connections: u64,
}

/// Keeps the report readable on a badly damaged capture: the count is exact, the list
/// shows the first ones.
const MAX_LISTED_DECODE_ERRORS: usize = 50;

/// What the `capture` section counts as frames go by.
#[derive(Debug, Default)]
pub(super) struct CaptureTally {
    frames: u64,
    bytes: u64,
    captured_bytes: u64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    malformed: u64,
    decode_errors: Vec<CaptureProblem>,
}

impl CaptureTally {
    /// Time of the first frame read.
    pub(super) fn first_ts(&self) -> Option<i64> {
        self.first_ts
    }

    /// Time of the last frame read.
    pub(super) fn last_ts(&self) -> Option<i64> {
        self.last_ts
    }

    pub(super) fn feed(&mut self, raw: &RawFrame<'_>, frame: &Frame<'_>) {
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
    }

    /// The `capture` section: reading problems first, then decode problems.
    pub(super) fn summary(
        self,
        info: SourceInfo,
        linktypes: Vec<u16>,
        read_problems: impl Iterator<Item = CaptureProblem>,
    ) -> CaptureSummary {
        let mut distinct = linktypes;
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
        let mut errors: Vec<CaptureProblem> = read_problems.collect();
        errors.extend(self.decode_errors);
        CaptureSummary {
            file: info.file,
            format: info.format,
            files: info.members,
            unreadable_files: Vec::new(),
            linktype,
            frames: self.frames,
            bytes: self.bytes,
            captured_bytes: self.captured_bytes,
            first_ts: self.first_ts.map(rfc3339_ns),
            first_ts_ns: self.first_ts,
            last_ts: self.last_ts.map(rfc3339_ns),
            duration_s: duration_ns as f64 / 1e9,
            malformed_frames: self.malformed,
            errors,
        }
    }
}
