//! `--jobs 2` on one capture (and `--jobs N` with `--export` or graphs): the
//! sections split across two threads, each fed every frame in capture order, so the
//! report is the one a single thread makes, by construction (no merging of partial
//! results, no renumbering).
//!
//! - The calling thread reads, dissects each frame once for its own sections, copies
//!   the frame into a batch and feeds the capture side: the capture tally, census,
//!   multicast, FHRP and tunnels (none reads the TCP engine's answer for a frame).
//! - One worker takes the batches, dissects each frame again (dissection is
//!   stateless; handing the typed layers across would mean owning them) and feeds the
//!   stream side: the TCP engine, TLS, WebSocket, the conn.log records (these read
//!   each other), and paths, which weighs about as much and evens out the threads.
//!   With a key log, decryption makes the stream side the heavier one and paths is
//!   fed on the capture side instead (bench/tls.sh: 7% less wall time).
//!
//! Two threads on two cores: a third thread only for reading would share a core with
//! one of the others. Batches are small (512 KiB, `PAIR_BATCH_BYTES`) and come
//! back to the reader for reuse, so the worker reads frames while they are still in
//! cache and no buffer is allocated and faulted in per batch.
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
    /// TLS secrets embedded in the capture: (index of the frame after which they came,
    /// the key log text).
    pub(super) secrets: Vec<(usize, String)>,
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

    /// Empty, its buffers kept for the next frames.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
        self.secrets.clear();
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

/// `sharded.rs`: a batch is sent once this many bytes or frames are in it.
pub(super) const BATCH_BYTES: usize = 4 << 20;
pub(super) const BATCH_FRAMES: usize = 8192;
/// `sharded.rs`: batches queued per worker, so memory in flight is about this times
/// [`BATCH_BYTES`].
pub(super) const QUEUED_BATCHES: usize = 4;

/// The two-thread split's batches: small enough that the queued ones and the one the
/// worker reads fit in a shared L3 cache, so the worker mostly finds the reader's copy
/// still there; large enough that hand-offs stay rare (about two thousand a second at
/// 1 GB/s).
const PAIR_BATCH_BYTES: usize = 512 << 10;
const PAIR_BATCH_FRAMES: usize = 1024;
/// Batches queued for the worker: with the one it works on and the one being filled,
/// about 5 MiB in flight.
const PAIR_QUEUED: usize = 8;

/// `sharded.rs`' capture thread: the capture side of every frame it is sent.
pub(super) fn capture_side(opts: &AnalyzeOptions, batches: Receiver<Arc<Batch>>) -> Analysis {
    let mut run = Analysis::new(opts);
    for batch in batches {
        for m in batch.frames.iter().filter(|m| m.passed) {
            let raw = batch.raw(m);
            let frame = dissect(raw.linktype, raw.data, &opts.dissect);
            run.feed_capture_side(raw, &frame);
        }
    }
    run
}

/// The worker of the two-thread split: the stream side of every frame, each batch
/// handed back to `spare` once read.
fn stream_side(
    opts: &AnalyzeOptions,
    batches: Receiver<Batch>,
    spare: Sender<Batch>,
    conns: Sender<Vec<ConnRecord>>,
) -> Analysis {
    let mut run = Analysis::new(opts);
    let mut frames = 0u64;
    for mut batch in batches {
        let mut secrets = std::mem::take(&mut batch.secrets).into_iter().peekable();
        for (i, m) in batch.frames.iter().enumerate() {
            let raw = batch.raw(m);
            let frame = dissect(raw.linktype, raw.data, &opts.dissect);
            if m.passed {
                run.feed_stream_side(raw, &frame);
            } else {
                run.tcp.feed_rejected(&raw, &frame);
            }
            // After the frame that carried them, as the one-thread loop adds them.
            while let Some((_, text)) = secrets.next_if(|s| s.0 == i) {
                run.tls.add_keylog_text(&text);
            }
            frames += 1;
            // At the very frames the one-thread loop hands them out: a record's
            // content may depend on when its connection was declared over.
            if frames.is_multiple_of(PROGRESS_EVERY) {
                let done = run.take_finished_conns();
                if !done.is_empty() {
                    // An error means the reader is gone: no one left to hand them to.
                    let _ = conns.send(done);
                }
            }
        }
        batch.clear();
        // The reader gone (it only leaves once this thread is done) or not taking
        // spares: the buffers are freed instead.
        let _ = spare.send(batch);
    }
    let _ = conns.send(run.take_all_conns());
    run
}

/// [`super::analyze_exporting`] on two threads; the same report and the same conn
/// records in the same order.
pub fn analyze_exporting_parallel(
    source: &mut dyn FrameSource,
    info: SourceInfo,
    opts: &AnalyzeOptions,
    progress: &mut dyn FnMut(Progress),
    conns: &mut dyn FnMut(ConnRecord),
) -> Report {
    let (to_streams, streams_in) = sync_channel::<Batch>(PAIR_QUEUED);
    let (spare_out, spare_in) = channel::<Batch>();
    // Unbounded, so the worker never waits on the reader (which may itself be waiting
    // for room in the worker's queue); the reader takes the records out after every
    // batch, so few wait here.
    let (conns_out, conns_in) = channel::<Vec<ConnRecord>>();
    std::thread::scope(|scope| {
        let streams = scope.spawn(|| stream_side(opts, streams_in, spare_out, conns_out));
        let mut capture = Analysis::new(opts);
        let mut batch = Batch::default();
        let mut frames = 0u64;
        while let Some((raw, passed)) = source.next_frame_any() {
            if passed {
                let frame = dissect(raw.linktype, raw.data, &opts.dissect);
                capture.feed_capture_side(raw, &frame);
            }
            batch.push(&raw, passed);
            if let Some(text) = source.take_tls_secrets() {
                batch.secrets.push((batch.frames.len() - 1, text));
            }
            frames += 1;
            if frames.is_multiple_of(PROGRESS_EVERY) {
                progress(Progress {
                    bytes: source.bytes_read(),
                    frames,
                });
            }
            if batch.bytes.len() >= PAIR_BATCH_BYTES || batch.frames.len() >= PAIR_BATCH_FRAMES {
                let next = spare_in.try_recv().unwrap_or_default();
                // A worker that is gone has panicked; its join below reports it.
                let _ = to_streams.send(std::mem::replace(&mut batch, next));
                conns_in.try_iter().flatten().for_each(&mut *conns);
            }
        }
        if !batch.frames.is_empty() {
            let _ = to_streams.send(batch);
        }
        drop(to_streams);
        // Until the worker is done and its sender dropped.
        conns_in.iter().flatten().for_each(&mut *conns);
        let streams = match streams.join() {
            Ok(s) => s,
            // A section that panics on one thread panics on one thread too: the
            // same bug, reported the same way.
            Err(e) => std::panic::resume_unwind(e),
        };
        Analysis::join_sides(streams, capture).finish(info, &source.linktypes(), source.warnings())
    })
}
