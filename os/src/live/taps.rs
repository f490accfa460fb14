//! Capture points for `netkit watch`: one live capture per (namespace, interface),
//! whole frames (the analysis reads HTTP headers), handed to the analysis thread in
//! batches. One thread per namespace enters it for good, opens its captures there and
//! drops every capability once they are open, as `top`'s capture threads do.
//!
//! Nothing is lost silently: a batch that finds the queue to the analysis full is
//! dropped and counted ([`Taps::dropped`]), and the kernel's own ring drops are read
//! from each capture's statistics, per capture point.

use super::LiveError;
use crate::capture::{LiveCapture, LiveOptions};
use crate::netlink as nldump;
use crate::netns::{self, Netns};
use netkit_cmds::watch::report::Dropped;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of frames waiting for the analysis thread before new batches are dropped
/// (and counted). Bytes, not batches: a batch is one ring block, handed over after
/// 1 ms when traffic is light, so a bound in batches would hold well under a second
/// of a busy link; this holds seconds of it while the analysis is kept off the CPU
/// (a loaded machine), and bounds the memory all the same.
const QUEUE_BYTES: usize = 64 << 20;
/// The channel's own bound, far above what QUEUE_BYTES lets through at any rate
/// (a ring block holds at least one frame).
const QUEUE_BATCHES: usize = 1 << 16;
/// How soon a ring block that holds frames is handed to the capture thread (libpcap's
/// TPACKET_V3 blocks are 256 KiB; a full one is handed over at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handover {
    /// After 1 ms: the client of an upgrade is looked up (sock_diag, /proc) when its
    /// request is analysed, and a client that exits right after its answer must still
    /// be there.
    Prompt,
    /// After 8 ms: the owners come from the BPF probe's records, kept after the client
    /// exits, so waiting loses nothing. At 400 Mbit/s of full-sized frames a block
    /// fills in about 5 ms: one wake-up per full block instead of one per millisecond
    /// (bench/README: a third fewer context switches, watch's CPU median 121 ms
    /// against 138 over 6 rounds).
    Batched,
}

impl Handover {
    fn block_timeout_ms(self) -> u32 {
        match self {
            Handover::Prompt => 1,
            Handover::Batched => 8,
        }
    }
}

/// Capacity kept in batches handed back by the analysis ([`Taps::recycle`]) for the
/// capture threads to fill again: a fresh buffer per ring block cost an allocation,
/// a copy of what it held at every growth step and cold pages, ring block after ring
/// block. Past this, batches handed back are freed.
const SPARE_BYTES: usize = 16 << 20;

/// Raises the calling thread (the one analysing the batches) ahead of ordinary
/// processes, as the capture threads are: under load an analysis kept off the CPU
/// fills the queue and batches are dropped. Call it while CAP_SYS_NICE is held.
pub fn boost_analysis_thread() {
    super::top::boost_this_thread();
}

/// One place frames are captured.
#[derive(Debug, Clone)]
pub struct TapPoint {
    pub netns: Netns,
    pub interface: String,
    /// The VRF the namespace stands for, by vendor naming convention (`ns-VRF1`).
    pub vrf: Option<String>,
}

/// The capture points: in each namespace the interfaces asked for, or every interface
/// that is up. An interface asked for must exist, unless `where_present` (watching
/// every namespace: `-i` then names the interfaces to capture where they are).
pub fn points(
    namespaces: &[Netns],
    interfaces: &[String],
    where_present: bool,
) -> Result<Vec<TapPoint>, LiveError> {
    let mut out = Vec::new();
    for ns in namespaces {
        let links = netns::run_in(ns, || {
            let sock = nldump::open(nldump::NETLINK_ROUTE)?;
            nldump::Links::dump(&sock)
        })??;
        let mut names: Vec<(u32, String)> = if interfaces.is_empty() {
            links
                .0
                .values()
                .filter(|l| l.up)
                .map(|l| (l.index, l.name.clone()))
                .collect()
        } else {
            let mut wanted = Vec::new();
            for name in interfaces {
                match links.0.values().find(|l| &l.name == name) {
                    Some(link) => wanted.push((link.index, link.name.clone())),
                    None if where_present => {}
                    None => {
                        return Err(LiveError::NoInterface {
                            name: name.clone(),
                            place: format!("namespace {}", ns.label),
                        })
                    }
                }
            }
            wanted
        };
        names.sort();
        let vrf = netns::list::vrf_by_convention(&ns.label).map(|v| v.0);
        out.extend(names.into_iter().map(|(_, interface)| TapPoint {
            netns: ns.clone(),
            interface,
            vrf: vrf.clone(),
        }));
    }
    Ok(out)
}

/// Where one frame of a [`Batch`] is.
#[derive(Debug, Clone, Copy)]
pub struct FrameMeta {
    pub ts_ns: i64,
    pub orig_len: u32,
    pub linktype: u16,
    pub start: usize,
    pub len: usize,
}

/// Frames of one capture point, in capture order.
#[derive(Debug, Default)]
pub struct Batch {
    /// Index into the points given to [`Taps::start`].
    pub tap: usize,
    pub frames: Vec<FrameMeta>,
    pub data: Vec<u8>,
}

impl Batch {
    pub fn frame(&self, m: &FrameMeta) -> &[u8] {
        self.data.get(m.start..m.start + m.len).unwrap_or_default()
    }
}

/// The running captures.
pub struct Taps {
    rx: Receiver<Batch>,
    /// Frame bytes sent and not yet received (see [`QUEUE_BYTES`]).
    queued: Arc<AtomicUsize>,
    /// Kept to hand to the threads of points added later.
    tx: SyncSender<Batch>,
    /// Batches the analysis is done with, emptied, for the capture threads to reuse.
    spare: Arc<Spare>,
    snaplen: u32,
    filter: Option<String>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Per capture point: kernel drops as last read, and frames refused by the queue.
    dropped: Arc<Mutex<Vec<Dropped>>>,
    /// Captures that failed while running, one line each.
    failures: Arc<Mutex<Vec<String>>>,
}

impl Taps {
    /// Opens a capture on every point (`snaplen` bytes kept per frame, `filter` run in
    /// the kernel) and starts the threads that read them. Fails, having stopped
    /// everything, if any capture cannot be opened.
    pub fn start(
        points: &[TapPoint],
        snaplen: u32,
        filter: Option<&str>,
        handover: Handover,
    ) -> Result<Taps, LiveError> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_BATCHES);
        let mut taps = Taps {
            rx,
            queued: Arc::new(AtomicUsize::new(0)),
            tx,
            spare: Arc::new(Spare::default()),
            snaplen,
            filter: filter.map(str::to_string),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            dropped: Arc::new(Mutex::new(Vec::new())),
            failures: Arc::new(Mutex::new(Vec::new())),
        };
        taps.add(points, handover)?;
        Ok(taps)
    }

    /// Opens captures on more points (a namespace created since the start); their
    /// batches carry indices following the points given before.
    pub fn add(&mut self, points: &[TapPoint], handover: Handover) -> Result<(), LiveError> {
        let first = {
            let mut d = self
                .dropped
                .lock()
                .map_err(|_| LiveError::CaptureThread("watch".into()))?;
            let first = d.len();
            d.resize(first + points.len(), Dropped::default());
            first
        };
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), LiveError>>();
        // One thread per namespace, for its points (consecutive in `points`).
        let mut groups: Vec<(Netns, Vec<(usize, String)>)> = Vec::new();
        for (i, p) in points.iter().enumerate() {
            let tap = first + i;
            match groups.last_mut() {
                Some((ns, list)) if ns.path == p.netns.path && ns.inode == p.netns.inode => {
                    list.push((tap, p.interface.clone()))
                }
                _ => groups.push((p.netns.clone(), vec![(tap, p.interface.clone())])),
            }
        }
        let threads = groups.len();
        for (ns, list) in groups {
            let ctx = Reader {
                tx: self.tx.clone(),
                queued: self.queued.clone(),
                spare: self.spare.clone(),
                stop: self.stop.clone(),
                dropped: self.dropped.clone(),
                failures: self.failures.clone(),
            };
            let ready = ready_tx.clone();
            let filter = self.filter.clone();
            let snaplen = self.snaplen;
            self.threads.push(std::thread::spawn(move || {
                let opened = netns::enter_for_good(&ns)
                    .map_err(LiveError::from)
                    .and_then(|()| open_all(&list, snaplen, filter.as_deref(), handover));
                let caps = match opened {
                    Ok(caps) => caps,
                    Err(e) => {
                        let _ = ready.send(Err(LiveError::InNamespace {
                            label: ns.label.clone(),
                            err: Box::new(e),
                        }));
                        return;
                    }
                };
                // Ahead of ordinary processes, as top's capture threads: on a loaded
                // machine a ring left unread overflows. Before the capabilities go.
                super::top::boost_this_thread();
                // Reading rings already open needs no capability.
                if let Err(e) = crate::caps::keep_only(&[]) {
                    let _ = ready.send(Err(e.into()));
                    return;
                }
                let _ = ready.send(Ok(()));
                ctx.run(&ns.label, caps);
            }));
        }
        drop(ready_tx);
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(LiveError::CaptureThread("watch".into())),
            }
        }
        Ok(())
    }

    /// The next batch, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Batch, RecvTimeoutError> {
        let batch = self.rx.recv_timeout(timeout)?;
        self.queued.fetch_sub(batch.data.len(), Ordering::Relaxed);
        Ok(batch)
    }

    /// The next batch if one is waiting.
    pub fn try_recv(&self) -> Result<Batch, TryRecvError> {
        let batch = self.rx.try_recv()?;
        self.queued.fetch_sub(batch.data.len(), Ordering::Relaxed);
        Ok(batch)
    }

    /// Hands a batch the analysis is done with back to the capture threads, which
    /// fill its buffers again instead of allocating new ones.
    pub fn recycle(&self, batch: Batch) {
        self.spare.put(batch);
    }

    /// Frames lost so far at each capture point (in the order of the points).
    pub fn dropped(&self) -> Vec<Dropped> {
        self.dropped.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Captures that failed since the last call, one line each.
    pub fn take_failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// True while at least one capture thread runs.
    pub fn any_running(&self) -> bool {
        self.threads.iter().any(|t| !t.is_finished())
    }

    /// Stops and joins the capture threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Taps {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn open_all(
    list: &[(usize, String)],
    snaplen: u32,
    filter: Option<&str>,
    handover: Handover,
) -> Result<Vec<(usize, LiveCapture)>, LiveError> {
    let mut caps = Vec::new();
    for (tap, interface) in list {
        let mut o = LiveOptions::new(interface.clone());
        o.snaplen = snaplen;
        // TPACKET_V3 blocks handed over when full or after the handover's timeout:
        // one wake-up serves many frames at high rates.
        o.immediate = false;
        o.timeout_ms = handover.block_timeout_ms();
        o.filter = filter.map(str::to_string);
        let mut cap = LiveCapture::open(&o)?;
        cap.set_nonblocking()?;
        caps.push((*tap, cap));
    }
    Ok(caps)
}

/// Emptied batches waiting to be filled again, their capacity bounded by
/// [`SPARE_BYTES`].
#[derive(Default)]
struct Spare {
    batches: Mutex<(Vec<Batch>, usize)>,
}

impl Spare {
    fn put(&self, mut batch: Batch) {
        let size = batch.data.capacity() + batch.frames.capacity() * size_of::<FrameMeta>();
        if let Ok(mut spare) = self.batches.lock() {
            if spare.1 + size <= SPARE_BYTES {
                batch.frames.clear();
                batch.data.clear();
                spare.1 += size;
                spare.0.push(batch);
            }
        }
    }

    /// An empty batch for capture point `tap`, with the buffers of a spare one when
    /// there is one.
    fn take(&self, tap: usize) -> Batch {
        let reused = self.batches.lock().ok().and_then(|mut spare| {
            let batch = spare.0.pop()?;
            spare.1 -= batch.data.capacity() + batch.frames.capacity() * size_of::<FrameMeta>();
            Some(batch)
        });
        let mut batch = reused.unwrap_or_default();
        batch.tap = tap;
        batch
    }
}

struct Reader {
    tx: SyncSender<Batch>,
    queued: Arc<AtomicUsize>,
    spare: Arc<Spare>,
    stop: Arc<AtomicBool>,
    dropped: Arc<Mutex<Vec<Dropped>>>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Reader {
    fn run(&self, label: &str, mut caps: Vec<(usize, LiveCapture)>) {
        let mut last_stats = Instant::now();
        while !self.stop.load(Ordering::Relaxed) && !caps.is_empty() {
            let waiting: Vec<&LiveCapture> = caps.iter().map(|(_, c)| c).collect();
            if let Err(e) = LiveCapture::wait_any(&waiting, 100) {
                self.fail(format!("namespace {label}: {e}"));
                return;
            }
            let mut failed = Vec::new();
            for (i, (tap, cap)) in caps.iter_mut().enumerate() {
                let mut batch = self.spare.take(*tap);
                let read = cap.dispatch(&mut |f| {
                    batch.frames.push(FrameMeta {
                        ts_ns: f.ts_ns,
                        orig_len: f.orig_len,
                        linktype: f.linktype,
                        start: batch.data.len(),
                        len: f.data.len(),
                    });
                    batch.data.extend_from_slice(f.data);
                });
                if let Err(e) = read {
                    // An interface deleted while watched ends its capture only.
                    self.fail(format!("namespace {label}, {}: {e}", cap.device()));
                    failed.push(i);
                }
                if batch.frames.is_empty() {
                    self.spare.put(batch);
                    continue;
                }
                let n = batch.frames.len() as u64;
                let bytes = batch.data.len();
                let sent = if self.queued.load(Ordering::Relaxed) + bytes > QUEUE_BYTES {
                    Err(TrySendError::Full(batch))
                } else {
                    // Counted before it can be received and subtracted.
                    self.queued.fetch_add(bytes, Ordering::Relaxed);
                    self.tx.try_send(batch).inspect_err(|_| {
                        self.queued.fetch_sub(bytes, Ordering::Relaxed);
                    })
                };
                match sent {
                    Ok(()) => {}
                    Err(TrySendError::Full(batch)) => {
                        self.spare.put(batch);
                        if let Some(d) = self
                            .dropped
                            .lock()
                            .ok()
                            .as_mut()
                            .and_then(|v| v.get_mut(*tap))
                        {
                            d.queue += n;
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            for i in failed.into_iter().rev() {
                caps.remove(i);
            }
            if last_stats.elapsed() >= Duration::from_secs(1) {
                last_stats = Instant::now();
                self.read_kernel_drops(&mut caps);
            }
        }
        // The last counts, so a short run reports its drops too.
        self.read_kernel_drops(&mut caps);
    }

    fn read_kernel_drops(&self, caps: &mut [(usize, LiveCapture)]) {
        if let Ok(mut d) = self.dropped.lock() {
            for (tap, cap) in caps.iter_mut() {
                if let (Some(s), Some(slot)) = (cap.stats(), d.get_mut(*tap)) {
                    slot.kernel = u64::from(s.dropped) + u64::from(s.if_dropped);
                }
            }
        }
    }

    fn fail(&self, line: String) {
        if let Ok(mut f) = self.failures.lock() {
            f.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(tap: usize, bytes: usize) -> Batch {
        Batch {
            tap,
            frames: vec![
                FrameMeta {
                    ts_ns: 1,
                    orig_len: 60,
                    linktype: 1,
                    start: 0,
                    len: bytes,
                };
                4
            ],
            data: vec![7; bytes],
        }
    }

    #[test]
    fn a_batch_handed_back_is_reused_empty_and_the_spare_capacity_is_bounded() {
        let spare = Spare::default();
        spare.put(filled(3, 1000));
        let b = spare.take(5);
        assert_eq!(b.tap, 5);
        assert!(b.frames.is_empty() && b.data.is_empty());
        assert!(b.data.capacity() >= 1000 && b.frames.capacity() >= 4);
        // None left: a fresh one.
        assert_eq!(spare.take(1).data.capacity(), 0);
        // Past SPARE_BYTES, batches handed back are freed.
        let half = SPARE_BYTES / 2;
        spare.put(filled(0, half));
        spare.put(filled(0, half));
        assert_eq!(spare.batches.lock().unwrap().0.len(), 1);
        assert!(spare.take(0).data.capacity() >= half);
        assert_eq!(spare.batches.lock().unwrap().1, 0);
    }
}
