//! `--jobs 2` on one capture (and `--jobs N` with `--export` or graphs): the
//! sections split across two threads, each fed every frame in capture order, so the
//! report is the one a single thread makes, by construction (no merging of partial
//! results, no renumbering).
//!
//! - The calling thread reads the frames and puts them in batches: where each lies
//!   when the source is a mapped file ([`FrameSource::shared_bytes`]), else a copy.
//!   (Mapped, `--jobs 2` took 0.123 s best against 0.207 s copying, bench/jobs.sh's
//!   capture on 2026-12-06: a copy of every byte into the reader's buffer and another
//!   into the batches, gone.) Once a batch is back for reuse, the source may let go
//!   of the mapped bytes before its end ([`FrameSource::release_shared`]).
//! - One worker takes the batches, dissects each frame and feeds the stream side: the
//!   TCP engine, TLS, WebSocket and the conn.log records (these read each other).
//! - The capture side (the capture tally, census, multicast, FHRP, tunnels and paths:
//!   none reads the TCP engine's answer for a frame) is fed by whichever thread has
//!   time for it. It starts on the reader, which then dissects each frame a first
//!   time for it. When the worker runs dry (the reader is the slower: reading costs
//!   more than analysing on a machine whose copies from the page cache are slow
//!   relative to its arithmetic), it travels to the worker with a batch, and the
//!   reader only reads. When the worker's queue fills up (decryption, graphs, or a
//!   slower core), the reader asks for it back with a batch and goes on reading
//!   meanwhile: it keeps a hold on the batches it sends until the capture side
//!   arrives, then feeds them to it. (Waiting for it instead left the reader idle
//!   while the worker drained its queue, then the worker idle while the reader
//!   refilled it.) Either way every frame reaches it exactly once and in order.
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
use crate::source::{FrameSource, RawFrame, SharedBytes};
use netkit_dissectors::dissect;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Its bytes are in the batch's `shared` input, not in `bytes`.
    pub(super) in_shared: bool,
    pub(super) start: usize,
    pub(super) len: usize,
}

/// Frames handed to the workers: where they lie in a memory-mapped input, or copied
/// out of the reader's buffer.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) bytes: Vec<u8>,
    /// The mapped input, when the source is one: its frames are not copied.
    pub(super) shared: Option<SharedBytes>,
    pub(super) frames: Vec<Meta>,
    /// Bytes of the frames in the batch, copied or not: what makes it full.
    pub(super) size: usize,
    /// TLS secrets embedded in the capture: (index of the frame after which they came,
    /// the key log text).
    pub(super) secrets: Vec<(usize, String)>,
}

/// Where `part` starts inside `whole`, if it lies wholly inside it.
fn offset_within(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start.checked_add(part.len())? <= whole.len()).then_some(start)
}

impl Batch {
    /// Adds `raw` (`passed`: whether it matched the display filter): its place when
    /// it lies in `shared` (the source's mapped input), else a copy.
    pub(super) fn push(&mut self, raw: &RawFrame<'_>, passed: bool, shared: Option<&SharedBytes>) {
        let mapped = shared.and_then(|s| Some((s, offset_within((**s).as_ref(), raw.data)?)));
        let (in_shared, start) = match mapped {
            Some((s, at)) => {
                if self.shared.is_none() {
                    self.shared = Some(Arc::clone(s));
                }
                (true, at)
            }
            None => {
                let at = self.bytes.len();
                self.bytes.extend_from_slice(raw.data);
                (false, at)
            }
        };
        self.size += raw.data.len();
        self.frames.push(Meta {
            number: raw.number,
            ts_ns: raw.ts_ns,
            orig_len: raw.orig_len,
            linktype: raw.linktype,
            interface: raw.interface,
            passed,
            in_shared,
            start,
            len: raw.data.len(),
        });
    }

    /// Empty, its buffers kept for the next frames.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
        self.secrets.clear();
        self.size = 0;
    }

    /// A batch back for reuse (no thread holds it any more) is done with, and so are
    /// all those before it, since every thread takes the batches in order: the
    /// source's shared bytes before the end of its frames may be let go. (A source
    /// hands its frames out in file order, so the last one in `shared` ends furthest.)
    pub(super) fn reclaimed(mut self, done_to: &mut usize) -> Batch {
        if let Some(m) = self.frames.iter().rev().find(|m| m.in_shared) {
            *done_to = (*done_to).max(m.start + m.len);
        }
        self.clear();
        self
    }

    pub(super) fn raw(&self, m: &Meta) -> RawFrame<'_> {
        let from: &[u8] = match (&self.shared, m.in_shared) {
            (Some(s), true) => (**s).as_ref(),
            _ => &self.bytes,
        };
        RawFrame {
            number: m.number,
            ts_ns: m.ts_ns,
            orig_len: m.orig_len,
            linktype: m.linktype,
            interface: m.interface,
            // `push` recorded a range inside it.
            data: from.get(m.start..m.start + m.len).unwrap_or_default(),
        }
    }
}

/// `sharded.rs`: a batch is sent once this many bytes or frames are in it.
pub(super) const BATCH_BYTES: usize = 4 << 20;
pub(super) const BATCH_FRAMES: usize = 8192;
/// `sharded.rs`: batches queued per worker, so memory in flight is about this times
/// [`BATCH_BYTES`].
pub(super) const QUEUED_BATCHES: usize = 4;

/// The two-thread split's batches: small enough that the frames of the queued ones
/// and of the one the worker reads fit in a shared L3 cache, so the worker mostly finds
/// what the reader touched (its copy, or the mapped frames) still there; large enough
/// that hand-offs stay rare (about two thousand a second at 1 GB/s).
const PAIR_BATCH_BYTES: usize = 512 << 10;
const PAIR_BATCH_FRAMES: usize = 1024;
/// Batches queued for the worker: with the one it works on and the one being filled,
/// about 5 MiB in flight.
const PAIR_QUEUED: usize = 8;

/// `sharded.rs`' capture thread: the capture side of every frame it is sent.
pub(super) fn capture_side(opts: &AnalyzeOptions, batches: Receiver<Arc<Batch>>) -> Analysis {
    let mut run = Analysis::new(opts);
    for batch in batches {
        feed_capture_side_of(&mut run, &batch, opts);
    }
    run
}

/// The capture side of the frames of `batch` that passed the display filter.
fn feed_capture_side_of(run: &mut Analysis, batch: &Batch, opts: &AnalyzeOptions) {
    for m in batch.frames.iter().filter(|m| m.passed) {
        let raw = batch.raw(m);
        let frame = dissect(raw.linktype, raw.data, &opts.dissect);
        run.feed_capture_side(raw, &frame);
    }
}

/// A batch on its way to the two-thread split's worker, and what becomes of the
/// capture side with it.
struct Sent {
    /// Shared with the reader while it has yet to feed these frames to the capture
    /// side (it asked for it back and it has not arrived).
    batch: Arc<Batch>,
    /// Whether the worker feeds these frames to the capture side (which it then holds).
    capture_by_worker: bool,
    /// The capture side, handed to the worker with this batch.
    capture: Option<Box<Analysis>>,
    /// The worker hands the capture side back once this batch is done.
    give_back: bool,
}

/// The worker of the two-thread split: the stream side of every frame, and the capture
/// side of the batches that say so, each batch handed back to `spare` once read.
/// Returns its stream side, and the capture side if it holds it at the end.
fn stream_side(
    opts: &AnalyzeOptions,
    batches: Receiver<Sent>,
    spare: Sender<Arc<Batch>>,
    conns: Sender<Vec<ConnRecord>>,
    queued: &AtomicUsize,
    back: Sender<Box<Analysis>>,
) -> (Analysis, Option<Box<Analysis>>) {
    let mut run = Analysis::new(opts).with_paths_on_capture_side();
    let mut capture: Option<Box<Analysis>> = None;
    let mut frames = 0u64;
    for sent in batches {
        let batch = sent.batch;
        if let Some(c) = sent.capture {
            capture = Some(c);
        }
        // The reader only leaves the capture side out of a batch after handing it over.
        let mut here = capture.as_mut().filter(|_| sent.capture_by_worker);
        let mut secrets = batch.secrets.iter().peekable();
        for (i, m) in batch.frames.iter().enumerate() {
            let raw = batch.raw(m);
            let frame = dissect(raw.linktype, raw.data, &opts.dissect);
            if m.passed {
                if let Some(c) = &mut here {
                    c.feed_capture_side(raw, &frame);
                }
                run.feed_stream_side(raw, &frame);
            } else {
                run.tcp.feed_rejected(&raw, &frame);
            }
            // After the frame that carried them, as the one-thread loop adds them.
            while let Some((_, text)) = secrets.next_if(|s| s.0 == i) {
                run.tls.add_keylog_text(text);
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
        if sent.give_back {
            if let Some(c) = capture.take() {
                // The reader picks it up (at the end, waits for it); gone, it has panicked
                // and its own error wins.
                let _ = back.send(c);
            }
        }
        queued.fetch_sub(1, Ordering::Release);
        // The reader gone (it only leaves once this thread is done) or not taking
        // spares: the buffers are freed instead.
        let _ = spare.send(batch);
    }
    let _ = conns.send(run.take_all_conns());
    (run, capture)
}

/// The capture side's place: fed by the reader, or the worker's, or on its way back
/// to the reader.
enum CaptureSide {
    Reader(Box<Analysis>),
    Worker,
    /// Asked back: the batches sent since, for the reader to feed to it once it
    /// arrives.
    Returning(Vec<Arc<Batch>>),
}

/// When batches are sent and when the capture side moves: [`Pace::ADAPTIVE`] in use,
/// fixed schedules in the tests (where timing would decide whether it moves at all).
#[derive(Clone, Copy)]
struct Pace {
    batch_bytes: usize,
    batch_frames: usize,
    /// Whether the capture side moves with the batch about to be sent: given where it
    /// is (`on_reader`), the batches the worker has yet to finish (this one aside),
    /// and the batches sent since it came to the reader.
    moves: Moves,
}

type Moves = fn(on_reader: bool, queued: usize, since_came: usize) -> bool;

impl Pace {
    const ADAPTIVE: Pace = Pace {
        batch_bytes: PAIR_BATCH_BYTES,
        batch_frames: PAIR_BATCH_FRAMES,
        moves: |on_reader, queued, _since_came| {
            if on_reader {
                // The worker has run dry: the reader is the slower thread. (No need to
                // wait a while after the side came back: the worker's queue then still
                // holds the batches sent meanwhile, so it is not dry from a drain.)
                queued == 0
            } else {
                // The worker's queue is full: it is the slower thread.
                queued >= PAIR_QUEUED
            }
        },
    };
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
    split(source, info, opts, progress, conns, Pace::ADAPTIVE)
}

fn split(
    source: &mut dyn FrameSource,
    info: SourceInfo,
    opts: &AnalyzeOptions,
    progress: &mut dyn FnMut(Progress),
    conns: &mut dyn FnMut(ConnRecord),
    pace: Pace,
) -> Report {
    let (to_streams, streams_in) = sync_channel::<Sent>(PAIR_QUEUED);
    let (spare_out, spare_in) = channel::<Arc<Batch>>();
    // Unbounded, so the worker never waits on the reader (which may itself be waiting
    // for room in the worker's queue); the reader takes the records out after every
    // batch, so few wait here.
    let (conns_out, conns_in) = channel::<Vec<ConnRecord>>();
    // The capture side, handed back to the reader. The worker owns the sender, so a
    // worker that panics ends the reader's wait for it.
    let (back_out, back_in) = channel::<Box<Analysis>>();
    // Batches sent to the worker and not yet done with.
    let queued = AtomicUsize::new(0);
    // A mapped file: the worker reads each frame where it lies, no copy.
    let shared = source.shared_bytes();
    // Batches the reader was the last to hold, kept for the next frames.
    let mut spares: Vec<Batch> = Vec::new();
    // The shared bytes before this are done with (see `Batch::reclaimed`).
    let mut done_to = 0;
    let empty_batch = |spares: &mut Vec<Batch>, done_to: &mut usize| {
        let reused = spares.pop().or_else(|| {
            // A batch the reader still holds for the capture side is skipped here and
            // comes back to `spares` once fed to it.
            spare_in.try_iter().find_map(|b| Arc::try_unwrap(b).ok())
        });
        reused.map(|b| b.reclaimed(done_to)).unwrap_or_default()
    };
    std::thread::scope(|scope| {
        let streams =
            scope.spawn(|| stream_side(opts, streams_in, spare_out, conns_out, &queued, back_out));
        let mut capture =
            CaptureSide::Reader(Box::new(Analysis::new(opts).with_paths_on_capture_side()));
        // Batches sent with the capture side fed on the reader since it came there.
        let mut since_came = 0;
        let mut batch = Batch::default();
        let mut frames = 0u64;
        let mut at_end = false;
        while !at_end {
            let full = match source.next_frame_any() {
                Some((raw, passed)) => {
                    if let (true, CaptureSide::Reader(c)) = (passed, &mut capture) {
                        let frame = dissect(raw.linktype, raw.data, &opts.dissect);
                        c.feed_capture_side(raw, &frame);
                    }
                    batch.push(&raw, passed, shared.as_ref());
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
                    batch.size >= pace.batch_bytes || batch.frames.len() >= pace.batch_frames
                }
                None => {
                    at_end = true;
                    !batch.frames.is_empty()
                }
            };
            if full {
                // How many batches the worker has yet to finish, this one aside.
                let in_queue = queued.fetch_add(1, Ordering::AcqRel);
                let batch = Arc::new(std::mem::replace(
                    &mut batch,
                    empty_batch(&mut spares, &mut done_to),
                ));
                source.release_shared(done_to);
                let mut sent = Sent {
                    batch: Arc::clone(&batch),
                    capture_by_worker: matches!(capture, CaptureSide::Worker),
                    capture: None,
                    give_back: false,
                };
                match &mut capture {
                    CaptureSide::Returning(held) => held.push(batch),
                    // Nothing moves in the last batch: the worker keeps what it
                    // holds to the end.
                    _ if at_end => {}
                    side => {
                        let on_reader = matches!(side, CaptureSide::Reader(_));
                        if (pace.moves)(on_reader, in_queue, since_came) {
                            match std::mem::replace(side, CaptureSide::Worker) {
                                CaptureSide::Reader(c) => sent.capture = Some(c),
                                _ => {
                                    sent.give_back = true;
                                    *side = CaptureSide::Returning(Vec::new());
                                }
                            }
                        }
                    }
                }
                since_came = match capture {
                    CaptureSide::Reader(_) => since_came + 1,
                    _ => 0,
                };
                // A worker that is gone has panicked; its join below reports it.
                let _ = to_streams.send(sent);
                if let CaptureSide::Returning(held) = &mut capture {
                    if let Ok(c) = back_in.try_recv() {
                        capture = CaptureSide::Reader(catch_up(opts, c, held, &mut spares));
                    }
                }
                conns_in.try_iter().flatten().for_each(&mut *conns);
            }
        }
        if let CaptureSide::Returning(held) = &mut capture {
            // No error unless the worker has panicked, which its join below reports.
            if let Ok(c) = back_in.recv() {
                capture = CaptureSide::Reader(catch_up(opts, c, held, &mut spares));
            }
        }
        drop(to_streams);
        // Until the worker is done and its sender dropped.
        conns_in.iter().flatten().for_each(&mut *conns);
        let (streams, worker_capture) = match streams.join() {
            Ok(s) => s,
            // A section that panics on one thread panics on one thread too: the
            // same bug, reported the same way.
            Err(e) => std::panic::resume_unwind(e),
        };
        let capture = match (capture, worker_capture) {
            (CaptureSide::Reader(c), _) | (CaptureSide::Worker, Some(c)) => c,
            // The worker takes it with the batch it came in and keeps it to the end,
            // or hands it back, which the reader waits for above.
            (CaptureSide::Worker | CaptureSide::Returning(_), _) => {
                unreachable!("the capture side was lost")
            }
        };
        Analysis::join_sides(streams, *capture).finish(info, &source.linktypes(), source.warnings())
    })
}

/// The capture side, come back to the reader: fed the frames of the batches sent
/// since it was asked back (`held`), whose buffers are kept for reuse where the
/// worker is done with them too.
fn catch_up(
    opts: &AnalyzeOptions,
    mut capture: Box<Analysis>,
    held: &mut Vec<Arc<Batch>>,
    spares: &mut Vec<Batch>,
) -> Box<Analysis> {
    for batch in held.drain(..) {
        feed_capture_side_of(&mut capture, &batch, opts);
        if let Ok(b) = Arc::try_unwrap(batch) {
            spares.push(b);
        }
    }
    capture
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Format;
    use std::path::{Path, PathBuf};

    /// The frames of a classic pcap file, handed out in order: from the file's bytes
    /// shared as a mapped file's are (`shared`: two of every three frames, the third a
    /// copy, so batches mix both), or every one a copy.
    struct Frames {
        linktype: u16,
        whole: Arc<Vec<u8>>,
        /// (time stamp, wire length, where its bytes are in `whole`)
        list: Vec<(i64, u32, std::ops::Range<usize>)>,
        shared: bool,
        copy: Vec<u8>,
        at: usize,
    }

    impl Frames {
        /// Reads a little-endian classic pcap (what the fixtures are); `None` for
        /// anything else.
        fn read(path: &Path, shared: bool) -> Option<Frames> {
            let b = std::fs::read(path).ok()?;
            let (linktype, list) = crate::test_captures::read_classic_pcap(&b)?;
            Some(Frames {
                linktype,
                whole: Arc::new(b),
                list,
                shared,
                copy: Vec::new(),
                at: 0,
            })
        }
    }

    impl FrameSource for Frames {
        fn next_frame(&mut self) -> Option<RawFrame<'_>> {
            let (ts_ns, orig_len, range) = self.list.get(self.at)?.clone();
            self.at += 1;
            let data = if self.shared && !self.at.is_multiple_of(3) {
                &self.whole[range]
            } else {
                self.copy.clear();
                self.copy.extend_from_slice(&self.whole[range]);
                &self.copy
            };
            Some(RawFrame {
                number: self.at as u64,
                ts_ns,
                orig_len,
                linktype: self.linktype,
                interface: 0,
                data,
            })
        }

        fn linktypes(&self) -> Vec<u16> {
            vec![self.linktype]
        }

        fn shared_bytes(&self) -> Option<SharedBytes> {
            self.shared.then(|| Arc::clone(&self.whole) as SharedBytes)
        }
    }

    fn fixtures() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let mut all = Vec::new();
        for dir in std::fs::read_dir(&root).expect("tests/fixtures").flatten() {
            for f in std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if f.path().extension().is_some_and(|e| e == "pcap") {
                    all.push(f.path());
                }
            }
        }
        all.sort();
        all
    }

    /// The report and conn records of one run, as JSON text.
    fn run(
        path: &Path,
        opts: &AnalyzeOptions,
        pace: Option<Pace>,
        shared: bool,
    ) -> (String, String) {
        let mut source = Frames::read(path, shared).expect("a little-endian classic pcap");
        let info = SourceInfo {
            file: path.display().to_string(),
            format: Format::Pcap,
            members: Vec::new(),
        };
        let mut conns = Vec::new();
        let mut keep = |c: ConnRecord| conns.push(c);
        let report = match pace {
            Some(pace) => split(&mut source, info, opts, &mut |_| {}, &mut keep, pace),
            None => {
                super::super::analyze_exporting(&mut source, info, opts, &mut |_| {}, &mut keep)
            }
        };
        let json = |v: serde_json::Result<String>| v.expect("serialisable");
        (
            json(serde_json::to_string(&report)),
            json(serde_json::to_string(&conns)),
        )
    }

    /// Timing decides whether the capture side moves in use; these schedules move it
    /// at set batches, so every way it can travel is exercised on every fixture: at
    /// every batch both ways (a frame or a few per batch), once to the worker for
    /// good, and never. Each must give the single thread's report and conn records,
    /// with the frames copied into the batches and with most of them read where they
    /// lie in the source's shared bytes (as a mapped file's are).
    #[test]
    fn the_capture_side_moving_between_threads_changes_nothing() {
        let opts = AnalyzeOptions {
            frames: true,
            conns: true,
            ..AnalyzeOptions::default()
        };
        let schedules: [(&str, usize, Moves); 4] = [
            ("back and forth at every batch", 1, |_, _, _| true),
            ("back and forth every few frames", 7, |_, _, _| true),
            ("to the worker once", 3, |on_reader, _, since| {
                on_reader && since >= 2
            }),
            ("never", 5, |_, _, _| false),
        ];
        let paths = fixtures();
        assert!(paths.len() > 50, "the fixtures: {} captures", paths.len());
        let mut compared = 0;
        for path in &paths {
            let Some(_) = Frames::read(path, false) else {
                continue;
            };
            let one = run(path, &opts, None, false);
            for ((name, frames, moves), shared) in
                schedules.into_iter().flat_map(|s| [(s, false), (s, true)])
            {
                let pace = Pace {
                    batch_bytes: usize::MAX,
                    batch_frames: frames,
                    moves,
                };
                let two = run(path, &opts, Some(pace), shared);
                assert!(
                    one.0 == two.0,
                    "{}: {name} (shared: {shared}): the report differs",
                    path.display()
                );
                assert!(
                    one.1 == two.1,
                    "{}: {name} (shared: {shared}): the conn records differ",
                    path.display()
                );
            }
            compared += 1;
        }
        assert!(compared > 50, "compared {compared} captures");
    }
}
