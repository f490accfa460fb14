//! `pcap show`: one line per frame (number, time, length, layer stack, summary), or one
//! JSON object per line. The engine turns each frame into a [`FrameLine`]; the view
//! prints it.

pub mod report;
pub mod view;

use crate::output::{rfc3339_ns, write_json_line};
use crate::source::{FrameSource, RawFrame};
use netkit_dissectors::{dissect, DissectOptions};
pub use report::FrameLine;
use std::io::{self, Write};

#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    /// Stop after this many frames (tshark's -c).
    pub count: Option<u64>,
    pub json: bool,
    pub dissect: DissectOptions,
}

/// What one frame shows as; `first_ts` is the time stamp of the file's first frame.
pub fn line(raw: &RawFrame<'_>, first_ts: i64, dissect_opts: &DissectOptions) -> FrameLine {
    let frame = dissect(raw.linktype, raw.data, dissect_opts);
    FrameLine {
        frame: raw.number,
        ts: rfc3339_ns(raw.ts_ns),
        time: raw.ts_ns.saturating_sub(first_ts) as f64 / 1e9,
        len: raw.orig_len,
        caplen: raw.data.len(),
        layers: frame.layers.iter().map(|l| l.name()).collect(),
        stack: frame.stack(),
        summary: frame.summary(),
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
    // Frames a filter rejects are read too: times count from the file's first frame,
    // as Wireshark's do under a display filter.
    while let Some((raw, passed)) = source.next_frame_any() {
        let t0 = *first_ts.get_or_insert(raw.ts_ns);
        if !passed {
            continue;
        }
        if opts.count.is_some_and(|c| shown >= c) {
            break;
        }
        shown += 1;
        let l = line(&raw, t0, &opts.dissect);
        if opts.json {
            write_json_line(out, &l)?;
        } else {
            view::write_line(out, &l)?;
        }
    }
    Ok(())
}
