//! `--jobs` on one capture: the sections split across two threads, each fed every
//! frame in capture order, so the report is the one a single thread makes, by
//! construction (no merging of partial results, no renumbering).
//!
//! The calling thread reads and copies frames into batches (bounded: a few batches in
//! flight), handed to both workers through `Arc`. Each worker dissects every frame
//! itself (dissection is stateless, and sharing the typed layers across threads
//! would mean owning them) and feeds its sections:
//! - stream side: the TCP engine, WebSocket and the conn.log records (these three read
//!   each other: conn records carry TCP counts and the WebSocket verdict);
//! - capture side: the capture tally, census, multicast, FHRP, tunnels and paths
//!   (none reads the TCP engine's per-frame answer).
//!
//! At the end the two half-fed [`Analysis`] values are joined field by field and
//! finished as one.

use super::{export::ConnRecord, Analysis, AnalyzeOptions, Progress, PROGRESS_EVERY};
use super::{Report, SourceInfo};
use crate::source::{FrameSource, RawFrame};
use netkit_dissectors::dissect;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::Arc;

/// One frame's place in a [`Batch`].
pub(super) struct Meta {
    pub(super) number: u64,
    pub(super) ts_ns: i64,
    pub(super) orig_len: u32,
    pub(super) linktype: u16,
    pub(super) interface: u32,
    pub(super) passed: bool,
    pub(super) start: usize,
    pub(super) len: usize,
}

/// Frames copied out of the reader's buffer, handed to both workers.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) bytes: Vec<u8>,
    pub(super) frames: Vec<Meta>,
}

impl Batch {
    /// Copies `raw` in (`passed`: whether it matched the display filter).
    pub(super) fn push(&mut self, raw: &RawFrame<'_>, passed: bool) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(raw.data);
        self.frames.push(Meta {
            number: raw.number,
            ts_ns: raw.ts_ns,
            orig_len: raw.orig_len,
            linktype: raw.linktype,
            interface: raw.interface,
            passed,
            start,
            len: raw.data.len(),
        });
    }

    pub(super) fn raw(&self, m: &Meta) -> RawFrame<'_> {
        RawFrame {
            number: m.number,
            ts_ns: m.ts_ns,
            orig_len: m.orig_len,
            linktype: m.linktype,
            interface: m.interface,
            data: &self.bytes[m.start..m.start + m.len],
        }
    }
}

/// A batch is sent once this many bytes or frames are in it.
pub(super) const BATCH_BYTES: usize = 4 << 20;
pub(super) const BATCH_FRAMES: usize = 8192;
/// Batches queued per worker: memory in flight is about this times [`BATCH_BYTES`].
pub(super) const QUEUED_BATCHES: usize = 4;

/// Which sections a worker feeds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Streams,
    Capture,
}

pub(super) fn work(
    side: Side,
    opts: &AnalyzeOptions,
    batches: Receiver<Arc<Batch>>,
    conns: Sender<Vec<ConnRecord>>,
) -> Analysis {
    let mut run = Analysis::new(opts);
    let mut frames = 0u64;
    for batch in batches {
        for m in &batch.frames {
            let raw = batch.raw(m);
            let frame = dissect(raw.linktype, raw.data, &opts.dissect);
            match (side, m.passed) {
                (Side::Streams, true) => run.feed_stream_side(raw, &frame),
                (Side::Streams, false) => run.tcp.feed_rejected(&raw, &frame),
                (Side::Capture, true) => run.feed_capture_side(raw, &frame),
                (Side::Capture, false) => {}
            }
            frames += 1;
            // At the very frames the one-thread loop hands them out: a record's
            // content may depend on when its connection was declared over.
            if side == Side::Streams && frames.is_multiple_of(PROGRESS_EVERY) {
                let done = run.take_finished_conns();
                if !done.is_empty() {
                    // An error means the reader is gone: no one left to hand them to.
                    let _ = conns.send(done);
                }
            }
        }
    }
    if side == Side::Streams {
        let _ = conns.send(run.take_all_conns());
    }
    run
}

/// [`super::analyze_exporting`] on two worker threads; the same report and the same
/// conn records in the same order.
pub fn analyze_exporting_parallel(
    source: &mut dyn FrameSource,
    info: SourceInfo,
    opts: &AnalyzeOptions,
    progress: &mut dyn FnMut(Progress),
    conns: &mut dyn FnMut(ConnRecord),
) -> Report {
    let (to_streams, streams_in) = sync_channel::<Arc<Batch>>(QUEUED_BATCHES);
    let (to_capture, capture_in) = sync_channel::<Arc<Batch>>(QUEUED_BATCHES);
    // Unbounded, so the stream side never waits on the reader (which may itself be
    // waiting for room in the stream side's queue); the reader takes the records out
    // after every batch, so few wait here.
    let (conns_out, conns_in) = channel::<Vec<ConnRecord>>();
    let (discard_out, _discard_in) = channel::<Vec<ConnRecord>>();
    std::thread::scope(|scope| {
        let streams = scope.spawn(|| work(Side::Streams, opts, streams_in, conns_out));
        let capture = scope.spawn(|| work(Side::Capture, opts, capture_in, discard_out));
        let mut batch = Batch::default();
        let mut frames = 0u64;
        let send = |batch: Batch| {
            let b = Arc::new(batch);
            // A worker that is gone has panicked; its join below reports it.
            let _ = to_streams.send(Arc::clone(&b));
            let _ = to_capture.send(b);
        };
        while let Some((raw, passed)) = source.next_frame_any() {
            batch.push(&raw, passed);
            frames += 1;
            if frames.is_multiple_of(PROGRESS_EVERY) {
                progress(Progress {
                    bytes: source.bytes_read(),
                    frames,
                });
            }
            if batch.bytes.len() >= BATCH_BYTES || batch.frames.len() >= BATCH_FRAMES {
                send(std::mem::take(&mut batch));
                conns_in.try_iter().flatten().for_each(&mut *conns);
            }
        }
        if !batch.frames.is_empty() {
            send(batch);
        }
        drop(to_streams);
        drop(to_capture);
        // Until the stream side is done and its sender dropped.
        conns_in.iter().flatten().for_each(&mut *conns);
        let streams = streams.join();
        let (streams, capture) = match (streams, capture.join()) {
            (Ok(s), Ok(c)) => (s, c),
            // A section that panics on one thread panics on one thread too: the
            // same bug, reported the same way.
            (Err(e), _) | (_, Err(e)) => std::panic::resume_unwind(e),
        };
        Analysis::join_sides(streams, capture).finish(info, &source.linktypes(), source.warnings())
    })
}
