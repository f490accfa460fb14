//! `--jobs N` on one capture, split by flow: the TCP engine's work spread over N
//! shards by a hash of each conversation (both directions, [`shard_of`]), while
//! everything that needs the frames in capture order stays in order.
//!
//! Threads:
//! - the calling thread only reads frames into batches (as in `parallel.rs`; their
//!   buffers come back to it for reuse once every thread is done) and routes
//!   each (from its bytes when it is plain TCP over Ethernet, else from a dissection):
//!   a TCP segment to its conversation's shard; IP fragments and
//!   ICMP errors to every shard (only a reassembly or a quote says whose they are, and
//!   a shard passes over segments not its own); anything else to none;
//! - N shard threads each dissect their frames and run a TCP engine over them, which
//!   numbers its own streams and answers, per frame, how many streams it opened and
//!   what it made of the frame;
//! - one thread feeds the capture-wide sections every frame (`parallel.rs`' capture
//!   side: census, multicast, FHRP, tunnels, the capture tally);
//! - one more thread takes the shards' answers back in frame order, numbers
//!   streams run-wide in the order their first frame came (tshark's `tcp.stream` is
//!   first-seen order, so the numbers are one engine's), and feeds the rest of the
//!   stream side (TLS, WebSocket, conn records, paths) with each frame and its
//!   renumbered TCP answer, as the one-thread loop does.
//!
//! At the end the shards' engines are merged under the run-wide numbers
//! ([`TcpAnalysis::merge_shards`]) and the halves joined as in `parallel.rs`. The
//! report is the one-thread report; the caps that bound memory apply per shard (see
//! `merge_shards`).
//!
//! Not used with `--export` (conn records are handed out mid-run with TCP state the
//! shards would be ahead of) nor with graphs (the series recorder numbers streams as
//! it goes): those runs take `parallel.rs`' split.

use super::parallel::{capture_side, Batch, BATCH_BYTES, BATCH_FRAMES, QUEUED_BATCHES};
use super::sections::tcp::{shard_of, TcpAnalysis, TcpFrameInfo};
use super::{Analysis, AnalyzeOptions, Progress, Report, SourceInfo, PROGRESS_EVERY};
use crate::source::FrameSource;
use netkit_dissectors::{dissect, DissectOptions, Frame, Layer};
use std::net::IpAddr;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::Arc;

/// Which shards a frame goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    None,
    One(u16),
    All,
}

/// A shard's answer for one frame: streams it opened, and its analysis of the frame.
type Answer = (u32, Option<TcpFrameInfo>);

/// The shard a frame goes to, from its dissection.
fn route(frame: &Frame<'_>, shards: usize) -> Route {
    // Wherever the fragment or the quote is: the TCP engine looks at both.
    let split_or_quoted = frame.layers.iter().any(|l| match l {
        Layer::Ipv4(v4) => v4.is_fragment(),
        Layer::Ipv6(v6) => v6.fragment.is_some(),
        Layer::IcmpQuote => true,
        _ => false,
    });
    if split_or_quoted {
        return Route::All;
    }
    let Some((ip, tcp)) = frame.innermost_tcp() else {
        return Route::None;
    };
    let (src, dst) = match ip {
        Layer::Ipv4(v4) => (IpAddr::V4(v4.src), IpAddr::V4(v4.dst)),
        Layer::Ipv6(v6) => (IpAddr::V6(v6.src), IpAddr::V6(v6.dst)),
        _ => return Route::None,
    };
    let s = shard_of((src, tcp.src_port), (dst, tcp.dst_port), shards);
    Route::One(s as u16)
}

/// The route of the common frame, Ethernet then IPv4 (not a fragment) or IPv6 then
/// TCP, read from the bytes without a dissection (the reading thread's share is the
/// one that does not shrink with more shards); `None`: anything else, which
/// [`route`] decides from a dissection. TCP's payload never holds another TCP header
/// for the dissector, so this TCP header is the one the shard's engine analyses. A
/// header the dissector then finds damaged is merely a frame its shard answers
/// nothing for.
fn quick_route(linktype: u16, data: &[u8], shards: usize) -> Option<Route> {
    const ETHERNET: u16 = 1;
    if linktype != ETHERNET {
        return None;
    }
    let ip = data.get(14..)?;
    let (src, dst, tcp) = match u16::from_be_bytes([*data.get(12)?, *data.get(13)?]) {
        0x0800 => {
            let header_len = usize::from(ip.first()? & 0x0f) * 4;
            let fragment = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff != 0;
            if ip[0] >> 4 != 4 || header_len < 20 || fragment || *ip.get(9)? != 6 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), ip.get(header_len..)?)
        }
        0x86dd => {
            if ip.first()? >> 4 != 6 || *ip.get(6)? != 6 {
                return None;
            }
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), ip.get(40..)?)
        }
        _ => return None,
    };
    let port = |at: usize| Some(u16::from_be_bytes([*tcp.get(at)?, *tcp.get(at + 1)?]));
    let s = shard_of((src, port(0)?), (dst, port(2)?), shards);
    Some(Route::One(s as u16))
}

/// Whether the route read from the bytes, where it decides, is the one a dissection
/// gives (or the dissector found the header damaged, so no shard analyses the frame):
/// the reports of a split run equal one thread's only if this always holds. For the
/// fuzz target `shard_route`.
pub fn quick_route_agrees(linktype: u16, data: &[u8], shards: usize) -> bool {
    let shards = shards.clamp(1, usize::from(u16::MAX));
    match quick_route(linktype, data, shards) {
        None => true,
        Some(quick) => {
            let dissected = route(&dissect(linktype, data, &DissectOptions::default()), shards);
            dissected == quick || dissected == Route::None
        }
    }
}

/// A batch for a shard: the frames (shared) and the indices of those it analyses.
type ShardWork = (Arc<Batch>, Vec<u32>);

fn shard(
    index: usize,
    count: usize,
    opts: &AnalyzeOptions,
    input: Receiver<ShardWork>,
    output: Sender<Vec<Answer>>,
) -> TcpAnalysis {
    let mut tcp = TcpAnalysis::shard(opts.frames, index, count);
    for (batch, frames) in input {
        let mut answers = Vec::with_capacity(frames.len());
        for i in frames {
            let m = &batch.frames[i as usize];
            let raw = batch.raw(m);
            let frame = dissect(raw.linktype, raw.data, &opts.dissect);
            let before = tcp.numbered();
            let info = if m.passed {
                tcp.feed(&raw, &frame)
            } else {
                tcp.feed_rejected(&raw, &frame);
                None
            };
            answers.push((tcp.numbered() - before, info));
        }
        if output.send(answers).is_err() {
            break;
        }
    }
    tcp
}

/// A batch read and routed, waiting for the shards' answers.
struct InFlight {
    batch: Arc<Batch>,
    routes: Vec<Route>,
    /// TLS secrets embedded in the capture: (index of the frame after which they
    /// came, the key log text).
    secrets: Vec<(usize, String)>,
}

/// The in-order thread: run-wide stream numbers, then the rest of the stream side.
struct InOrder<'o> {
    opts: &'o AnalyzeOptions,
    run: Analysis,
    /// Per shard, its streams' run-wide numbers.
    renumber: Vec<Vec<u32>>,
    numbered: u32,
}

impl InOrder<'_> {
    /// Takes the shards' answers for a batch and feeds its frames in order; gives the
    /// batch back.
    fn take(&mut self, done: InFlight, answers: &[Receiver<Vec<Answer>>]) -> Arc<Batch> {
        // One message per shard per batch (maybe empty), so they stay in step.
        let answers: Vec<Vec<Answer>> = answers
            .iter()
            .map(|r| r.recv().unwrap_or_default())
            .collect();
        let mut next = vec![0usize; answers.len()];
        let mut take_from = |s: usize, tcp: &mut Option<TcpFrameInfo>, me: &mut Self| {
            let Some(&(opened, info)) = answers[s].get(next[s]) else {
                return;
            };
            next[s] += 1;
            for _ in 0..opened {
                me.renumber[s].push(me.numbered);
                me.numbered += 1;
            }
            if let Some(mut info) = info {
                info.stream = me.renumber[s][info.stream as usize];
                *tcp = Some(info);
            }
        };
        let mut secrets = done.secrets.into_iter().peekable();
        for (i, (m, route)) in done.batch.frames.iter().zip(&done.routes).enumerate() {
            let mut tcp = None;
            match *route {
                Route::None => {}
                Route::One(s) => take_from(usize::from(s), &mut tcp, self),
                Route::All => (0..answers.len()).for_each(|s| take_from(s, &mut tcp, self)),
            }
            self.run
                .tcp
                .note_stream_of_frame(m.number, tcp.map(|t| t.stream));
            if m.passed {
                let raw = done.batch.raw(m);
                let frame = dissect(raw.linktype, raw.data, &self.opts.dissect);
                self.run.feed_in_order(raw, &frame, tcp);
            } else {
                self.run.tcp.note_rejected();
            }
            while let Some((_, text)) = secrets.next_if(|s| s.0 == i) {
                self.run.tls.add_keylog_text(&text);
            }
        }
        done.batch
    }
}

/// [`super::analyze`] with the TCP engine split over `shards` threads by flow; the
/// same report.
pub fn analyze_sharded(
    source: &mut dyn FrameSource,
    info: SourceInfo,
    opts: &AnalyzeOptions,
    shards: usize,
    progress: &mut dyn FnMut(Progress),
) -> Report {
    let shards = shards.clamp(1, usize::from(u16::MAX));
    let mut to_shards = Vec::new();
    let mut shard_inputs = Vec::new();
    let mut answers_in = Vec::new();
    let mut answers_out = Vec::new();
    for _ in 0..shards {
        // One more than the batches in flight, so the reader never waits on a shard
        // whose answers it is itself about to wait for.
        let (tx, rx) = sync_channel::<ShardWork>(QUEUED_BATCHES + 1);
        to_shards.push(tx);
        shard_inputs.push(rx);
        let (tx, rx) = channel::<Vec<Answer>>();
        answers_out.push(tx);
        answers_in.push(rx);
    }
    let (to_capture, capture_in) = sync_channel::<Arc<Batch>>(QUEUED_BATCHES);
    let (to_in_order, in_order_in) = sync_channel::<InFlight>(QUEUED_BATCHES);
    // Batches every thread is done with, back to the reader: their buffers are reused
    // rather than allocated (and faulted in page by page) again.
    let (spare_out, spare_in) = channel::<Batch>();
    std::thread::scope(|scope| {
        let workers: Vec<_> = shard_inputs
            .into_iter()
            .zip(answers_out)
            .enumerate()
            .map(|(i, (input, output))| scope.spawn(move || shard(i, shards, opts, input, output)))
            .collect();
        let capture = scope.spawn(|| capture_side(opts, capture_in));
        // Its own thread, so the reader only reads, batches (copying frames unless the
        // file is mapped) and routes.
        let in_order = scope.spawn(move || {
            let mut in_order = InOrder {
                opts,
                run: Analysis::new(opts),
                renumber: vec![Vec::new(); shards],
                numbered: 0,
            };
            for done in in_order_in {
                let batch = in_order.take(done, &answers_in);
                // Emptied by the reader, which learns from it how far every thread
                // has got (`Batch::reclaimed`).
                if let Ok(spare) = Arc::try_unwrap(batch) {
                    let _ = spare_out.send(spare);
                }
            }
            in_order
        });
        // A mapped file: the workers read each frame where it lies, no copy.
        let shared = source.shared_bytes();
        // The shared bytes before this are done with (see `Batch::reclaimed`).
        let mut done_to = 0;
        let mut batch = Batch::default();
        let mut secrets = Vec::new();
        let mut frames = 0u64;
        let send = |batch: Batch, secrets: Vec<(usize, String)>| {
            let mut routes = Vec::with_capacity(batch.frames.len());
            let mut work: Vec<Vec<u32>> = vec![Vec::new(); shards];
            for (i, m) in batch.frames.iter().enumerate() {
                let raw = batch.raw(m);
                let r = quick_route(raw.linktype, raw.data, shards).unwrap_or_else(|| {
                    route(&dissect(raw.linktype, raw.data, &opts.dissect), shards)
                });
                match r {
                    Route::None => {}
                    Route::One(s) => work[usize::from(s)].push(i as u32),
                    Route::All => work.iter_mut().for_each(|w| w.push(i as u32)),
                }
                routes.push(r);
            }
            let batch = Arc::new(batch);
            // A worker that is gone has panicked; its join below reports it.
            for (tx, w) in to_shards.iter().zip(work) {
                let _ = tx.send((Arc::clone(&batch), w));
            }
            let _ = to_capture.send(Arc::clone(&batch));
            let _ = to_in_order.send(InFlight {
                batch,
                routes,
                secrets,
            });
        };
        while let Some((raw, passed)) = source.next_frame_any() {
            batch.push(&raw, passed, shared.as_ref());
            if let Some(text) = source.take_tls_secrets() {
                secrets.push((batch.frames.len() - 1, text));
            }
            frames += 1;
            if frames.is_multiple_of(PROGRESS_EVERY) {
                progress(Progress {
                    bytes: source.bytes_read(),
                    frames,
                });
            }
            if batch.size >= BATCH_BYTES || batch.frames.len() >= BATCH_FRAMES {
                let next = spare_in
                    .try_recv()
                    .map(|b| b.reclaimed(&mut done_to))
                    .unwrap_or_default();
                source.release_shared(done_to);
                send(
                    std::mem::replace(&mut batch, next),
                    std::mem::take(&mut secrets),
                );
            }
        }
        if !batch.frames.is_empty() {
            send(batch, secrets);
        }
        drop(to_shards);
        drop(to_capture);
        drop(to_in_order);
        let in_order = match in_order.join() {
            Ok(i) => i,
            Err(e) => std::panic::resume_unwind(e),
        };
        let mut engines = Vec::new();
        let mut failed = None;
        for w in workers {
            match w.join() {
                Ok(tcp) => engines.push(tcp),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        let capture = match capture.join() {
            Ok(c) => c,
            Err(e) => std::panic::resume_unwind(e),
        };
        if let Some(e) = failed {
            std::panic::resume_unwind(e);
        }
        let InOrder {
            mut run, renumber, ..
        } = in_order;
        let index = std::mem::take(&mut run.tcp);
        run.tcp = TcpAnalysis::merge_shards(index, engines.into_iter().zip(renumber).collect());
        Analysis::join_sides(run, capture).finish(info, &source.linktypes(), source.warnings())
    })
}
