//! `pcap show`: one line per frame (number, time, length, layer stack, summary), or one
//! JSON object per line.

use crate::capture::{CaptureError, CaptureFile, ReadWarning};
use crate::output::{rfc3339_ns, write_json_line};
use netkit_dissectors::{dissect, DissectOptions};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    /// Stop after this many frames (tshark's -c).
    pub count: Option<u64>,
    pub json: bool,
    pub filter: Option<String>,
    pub dissect: DissectOptions,
}

#[derive(Debug)]
pub enum ShowError {
    Capture(CaptureError),
    Io(io::Error),
}

impl From<io::Error> for ShowError {
    fn from(e: io::Error) -> Self {
        ShowError::Io(e)
    }
}

impl From<CaptureError> for ShowError {
    fn from(e: CaptureError) -> Self {
        ShowError::Capture(e)
    }
}

#[derive(Serialize)]
struct FrameLine {
    frame: u64,
    ts: String,
    /// Seconds since the first frame shown.
    time: f64,
    len: u32,
    caplen: usize,
    layers: Vec<&'static str>,
    summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Prints the frames of `path`; returns the reading warnings (damaged file) so the
/// caller can report them after the output.
pub fn show(
    path: &Path,
    opts: &ShowOptions,
    out: &mut dyn Write,
) -> Result<Vec<ReadWarning>, ShowError> {
    let mut file = CaptureFile::open(path)?;
    if let Some(f) = &opts.filter {
        file.set_filter(f)?;
    }
    let mut shown = 0u64;
    let mut first_ts = None;
    while let Some(raw) = file.next_frame() {
        if opts.count.is_some_and(|c| shown >= c) {
            break;
        }
        shown += 1;
        let frame = dissect(raw.linktype, raw.data, &opts.dissect);
        let t0 = *first_ts.get_or_insert(raw.ts_ns);
        let rel = raw.ts_ns.saturating_sub(t0) as f64 / 1e9;
        let summary = frame.summary();
        if opts.json {
            let line = FrameLine {
                frame: raw.number,
                ts: rfc3339_ns(raw.ts_ns),
                time: rel,
                len: raw.orig_len,
                caplen: raw.data.len(),
                layers: frame.layers.iter().map(|l| l.name()).collect(),
                summary,
                error: frame.error.map(|e| e.to_string()),
            };
            write_json_line(out, &line)?;
        } else {
            let err = frame
                .error
                .map(|e| format!("  [malformed: {e}]"))
                .unwrap_or_default();
            writeln!(
                out,
                "{:>6} {:>12.6} {:>5} {:<24} {}{}",
                raw.number,
                rel,
                raw.orig_len,
                frame.stack(),
                summary,
                err
            )?;
        }
    }
    Ok(file.warnings().to_vec())
}
