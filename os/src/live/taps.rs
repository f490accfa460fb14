//! Capture points for `netkit watch`: one live capture per (namespace, interface),
//! whole frames (the analysis reads HTTP headers). A thread per namespace enters it,
//! opens its captures there and hands them over; the thread that analyses reads the
//! frames in place from the kernel's rings ([`Taps::read`]), and a helper copies them
//! out only while that thread is away.
//!
//! Nothing is lost silently: a ring that overflows (the helper's backlog full, or no
//! CPU for either thread) drops frames in the kernel, and those drops are read from
//! each capture's statistics, per capture point.

use super::LiveError;
use crate::capture::{LiveCapture, LiveOptions};
use crate::lock;
use crate::netlink as nldump;
use crate::netns::{self, Netns};
use netkit_cmds::watch::report::Dropped;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Kernel ring of each capture point: at 400 Mbit/s of full-sized frames it holds
/// about 160 ms of traffic, more than the helper lets pass before it copies the rings
/// out for a reader that is away (see [`away_limit`]).
const RING_BYTES: u32 = 8 << 20;

/// How soon a ring block that holds frames is handed to the reader (libpcap's
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

/// With [`Handover::Batched`] on every capture, the longest time between two reads of
/// the rings while frames keep coming. Every wake-up of the reader costs a context
/// switch (a tenth of watch's CPU at 400 Mbit/s when the reader woke for every 256 KiB
/// block, about 200 times a second, and still 6% when reads were paced at 20 ms);
/// reading at most every 40 ms serves several blocks per wake-up. Findings are due
/// within a second; this is a 25th of it. Faster traffic shortens the pace (see
/// [`next_pace`]).
const BATCHED_PACE: Duration = Duration::from_millis(40);

/// Ring bytes a paced read lets the busiest capture point fill before the next one: a
/// quarter of its ring, so a reader late by a whole pace more still finds room.
const PACED_FILL: u64 = RING_BYTES as u64 / 4;

/// Ring bytes one frame takes besides its captured bytes (TPACKET_V3 header and
/// sockaddr_ll, aligned): about 80.
const RING_FRAME_OVERHEAD: u64 = 80;

/// How long to wait before the next read, given that the busiest capture point
/// filled `filled` ring bytes over `over`: the time it takes to fill
/// [`PACED_FILL`] at that rate, at most [`BATCHED_PACE`]. At 400 Mbit/s of
/// full-sized frames that is the 40 ms; at 1 Gbit/s, 16 ms.
fn next_pace(filled: u64, over: Duration) -> Duration {
    if filled == 0 {
        return BATCHED_PACE;
    }
    let over_ns = u64::try_from(over.as_nanos()).unwrap_or(u64::MAX);
    let ns = u128::from(over_ns) * u128::from(PACED_FILL) / u128::from(filled);
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)).min(BATCHED_PACE)
}

/// Raises the calling thread (the one reading and analysing the frames) ahead of
/// ordinary processes, as top's capture threads are: under load a reader kept off the
/// CPU lets the rings overflow. Call it while CAP_SYS_NICE is held.
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

/// One frame handed over by [`Taps::read`], with the capture point it came from.
#[derive(Debug, Clone, Copy)]
pub struct TapFrame<'a> {
    /// Index into the points given to [`Taps::start`] (then [`Taps::add`]).
    pub tap: usize,
    pub ts_ns: i64,
    pub orig_len: u32,
    pub linktype: u16,
    /// The frame's bytes, borrowed from the kernel's ring.
    pub data: &'a [u8],
}

/// One open capture.
struct Open {
    /// Index of its capture point.
    tap: usize,
    /// Its namespace, for the line that says it failed.
    netns: String,
    cap: LiveCapture,
}

/// How often the helper looks, and how long the reader must have been away from
/// [`Taps::read`] (analysing, looking an owner up, waiting for stdout) for it to copy
/// what the rings hold. A ring has 32 blocks and a block is handed over at most 1 ms
/// ([`Handover::Prompt`]) or 8 ms after its first frame, so on a trickle of frames
/// the rings fill in 32 ms or 256 ms of absence, whatever their bytes. With prompt
/// blocks the reader is often away long (sock_diag and /proc per request): the helper
/// looks every 5 ms and copies whenever the reader is away at all.
fn away_limit(prompt: bool) -> (Duration, Duration) {
    if prompt {
        (Duration::from_millis(5), Duration::ZERO)
    } else {
        (Duration::from_millis(50), Duration::from_millis(50))
    }
}

/// Bytes of frames the helper may hold copied for the reader; past them it leaves
/// the rings alone, and what overflows them is dropped by the kernel, and counted.
const BACKLOG_BYTES: usize = 64 << 20;

/// Where one copied frame is in its [`Copied`] batch.
#[derive(Debug, Clone, Copy)]
struct Meta {
    ts_ns: i64,
    orig_len: u32,
    linktype: u16,
    start: usize,
    len: usize,
}

/// Frames of one capture point the helper copied out of its ring, in capture order.
#[derive(Debug, Default)]
struct Copied {
    tap: usize,
    frames: Vec<Meta>,
    data: Vec<u8>,
}

/// What the reader and the helper share. Whoever holds `caps` reads the rings; the
/// helper takes it only while the reader is away, so frames it copies are older than
/// any left in the rings, and the reader hands them over first.
struct Shared {
    caps: Mutex<Vec<Open>>,
    /// Copied batches, oldest first, and their bytes.
    backlog: Mutex<(VecDeque<Copied>, usize)>,
    /// Monotonic nanoseconds when the reader left [`Taps::read`]; 0 while inside it.
    away_since: AtomicU64,
    /// Some capture hands its blocks over promptly (see [`away_limit`]).
    prompt: AtomicBool,
    stop: AtomicBool,
    /// Captures that failed while running, one line each.
    failures: Mutex<Vec<String>>,
    /// Per capture point: frames the kernel's ring dropped, as last read.
    dropped: Mutex<Vec<Dropped>>,
}

/// Monotonic nanoseconds, never 0 (which `away_since` keeps for "inside").
fn monotonic_ns() -> u64 {
    u64::try_from(crate::clock::monotonic_ns())
        .unwrap_or(0)
        .max(1)
}

/// The open captures, read in place by the thread that analyses their frames, and a
/// helper thread that copies frames out of the rings only while that thread is away.
pub struct Taps {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
    snaplen: u32,
    filter: Option<String>,
    /// Capture points given so far.
    points: usize,
    /// When the last read that found frames began (reads are paced from it).
    busy_since: Option<Instant>,
    /// How long after `busy_since` the next read is due ([`next_pace`]).
    pace: Duration,
}

impl Taps {
    /// Opens a capture on every point (`snaplen` bytes kept per frame, `filter` run in
    /// the kernel) and starts the helper. Fails, having closed everything, if any
    /// capture cannot be opened.
    pub fn start(
        points: &[TapPoint],
        snaplen: u32,
        filter: Option<&str>,
        handover: Handover,
    ) -> Result<Taps, LiveError> {
        let shared = Arc::new(Shared {
            caps: Mutex::new(Vec::new()),
            backlog: Mutex::new((VecDeque::new(), 0)),
            away_since: AtomicU64::new(0),
            prompt: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            failures: Mutex::new(Vec::new()),
            dropped: Mutex::new(Vec::new()),
        });
        let mut taps = Taps {
            shared: shared.clone(),
            helper: None,
            snaplen,
            filter: filter.map(str::to_string),
            points: 0,
            busy_since: None,
            pace: BATCHED_PACE,
        };
        taps.add(points, handover)?;
        taps.helper = Some(
            std::thread::Builder::new()
                .name("watch-rings".into())
                .spawn(move || help(&shared))
                .map_err(|e| LiveError::CaptureThread(format!("(ring helper: {e})")))?,
        );
        Ok(taps)
    }

    /// Opens captures on more points (a namespace created since the start); their
    /// frames carry indices following the points given before. Each namespace's
    /// captures are opened by a thread that enters it (an AF_PACKET socket belongs to
    /// the namespace it was created in) and ends once it has handed them over, so no
    /// thread is left behind with the capabilities it entered with.
    pub fn add(&mut self, points: &[TapPoint], handover: Handover) -> Result<(), LiveError> {
        let first = self.points;
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
        let mut opened = Vec::new();
        for (ns, list) in groups {
            let (snaplen, filter) = (self.snaplen, self.filter.clone());
            let thread = std::thread::spawn(move || {
                netns::enter_for_good(&ns)
                    .map_err(LiveError::from)
                    .and_then(|()| open_all(&ns.label, &list, snaplen, filter.as_deref(), handover))
                    .map_err(|e| LiveError::InNamespace {
                        label: ns.label.clone(),
                        err: Box::new(e),
                    })
            });
            // Captures opened in the namespaces before a failure are closed with `opened`.
            opened.extend(
                thread
                    .join()
                    .map_err(|_| LiveError::CaptureThread("watch".into()))??,
            );
        }
        self.points += points.len();
        lock(&self.shared.dropped).resize(self.points, Dropped::default());
        lock(&self.shared.caps).extend(opened);
        if handover == Handover::Prompt {
            self.shared.prompt.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Waits up to `timeout` for frames at any capture point, then hands every frame
    /// ready at each of them to `f`: first those the helper copied while the caller
    /// was away, then the rest straight from the kernel's rings (no copy, no other
    /// thread: at 400 Mbit/s, copying every whole frame out for an analysis thread
    /// cost a quarter of watch's CPU). Returns how many frames were handed over.
    /// While frames keep coming, reads with [`Handover::Batched`] are paced
    /// ([`next_pace`], at most [`BATCHED_PACE`]), so a call may take that much longer.
    ///
    /// A capture that fails (its interface was deleted) is closed and said in
    /// [`Taps::take_failures`]; the others go on.
    pub fn read(&mut self, timeout: Duration, f: &mut dyn FnMut(TapFrame<'_>)) -> usize {
        let shared = self.shared.clone();
        shared.away_since.store(0, Ordering::SeqCst);
        let handed = self.read_present(&shared, timeout, f);
        shared.away_since.store(monotonic_ns(), Ordering::SeqCst);
        handed
    }

    fn read_present(
        &mut self,
        shared: &Shared,
        timeout: Duration,
        f: &mut dyn FnMut(TapFrame<'_>),
    ) -> usize {
        let prompt = shared.prompt.load(Ordering::Relaxed);
        if let Some(since) = self.busy_since.filter(|_| !prompt) {
            // Frames came at the last read: more are likely ready by the time the pace
            // is up, read then without waiting in poll(2).
            std::thread::sleep(self.pace.saturating_sub(since.elapsed()));
        }
        let began = Instant::now();
        // Copied while the caller was away: older than anything left in the rings.
        // Handed over without holding the captures, and counted as away, for a
        // backlog of seconds takes time to analyse: the helper goes on copying
        // meanwhile, to the backlog's end, and the loop takes that too.
        let mut handed = 0;
        loop {
            let batches = take_backlog(shared);
            if batches.is_empty() {
                break;
            }
            shared.away_since.store(monotonic_ns(), Ordering::SeqCst);
            handed += hand_over(batches, f);
        }
        shared.away_since.store(0, Ordering::SeqCst);
        let mut caps = lock(&shared.caps);
        // What the helper copied between the last look and the lock.
        handed += hand_over(take_backlog(shared), f);
        // Ring bytes the busiest capture point had filled since the last read.
        let mut filled = 0;
        if self.busy_since.is_some() || handed > 0 {
            let (n, bytes) = dispatch_all(shared, &mut caps, f);
            handed += n;
            filled = bytes;
        }
        if handed == 0 {
            if caps.is_empty() {
                drop(caps);
                std::thread::sleep(timeout);
                return 0;
            }
            let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            let waiting: Vec<&LiveCapture> = caps.iter().map(|o| &o.cap).collect();
            if let Err(e) = LiveCapture::wait_any(&waiting, millis) {
                // poll(2) itself failed: none of them can be waited for any more.
                lock(&shared.failures).push(e.to_string());
                let mut dropped = lock(&shared.dropped);
                for mut open in caps.drain(..) {
                    note_kernel_drops(&mut dropped, &mut open);
                }
                return 0;
            }
            (handed, filled) = dispatch_all(shared, &mut caps, f);
        }
        if let Some(since) = self.busy_since {
            self.pace = next_pace(filled, began.duration_since(since));
        }
        self.busy_since = (handed > 0).then_some(began);
        handed
    }

    /// Frames lost so far at each capture point (in the order of the points), as the
    /// kernel counts them now.
    pub fn dropped(&mut self) -> Vec<Dropped> {
        let mut caps = lock(&self.shared.caps);
        let mut dropped = lock(&self.shared.dropped);
        for open in caps.iter_mut() {
            note_kernel_drops(&mut dropped, open);
        }
        dropped.clone()
    }

    /// Captures that failed since the last call, one line each.
    pub fn take_failures(&mut self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.shared.failures))
    }

    /// True while at least one capture is open.
    pub fn any_open(&self) -> bool {
        !lock(&self.shared.caps).is_empty()
    }
}

impl Drop for Taps {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.helper.take() {
            let _ = t.join();
        }
    }
}

/// The batches the helper copied, oldest first, leaving the backlog empty.
fn take_backlog(shared: &Shared) -> VecDeque<Copied> {
    let mut backlog = lock(&shared.backlog);
    backlog.1 = 0;
    std::mem::take(&mut backlog.0)
}

/// Hands every frame of `batches` to `f`, in order.
fn hand_over(batches: VecDeque<Copied>, f: &mut dyn FnMut(TapFrame<'_>)) -> usize {
    let mut handed = 0;
    for b in batches {
        for m in &b.frames {
            f(TapFrame {
                tap: b.tap,
                ts_ns: m.ts_ns,
                orig_len: m.orig_len,
                linktype: m.linktype,
                data: b.data.get(m.start..m.start + m.len).unwrap_or_default(),
            });
        }
        handed += b.frames.len();
    }
    handed
}

/// Hands every frame ready now at each capture point to `f`; a capture that fails is
/// closed. Returns the frames handed over and the most ring bytes they took at one
/// capture point (about: captured bytes and [`RING_FRAME_OVERHEAD`] each).
fn dispatch_all(
    shared: &Shared,
    caps: &mut Vec<Open>,
    f: &mut dyn FnMut(TapFrame<'_>),
) -> (usize, u64) {
    let mut handed = 0;
    let mut busiest = 0;
    let mut failed = Vec::new();
    for (i, open) in caps.iter_mut().enumerate() {
        let tap = open.tap;
        let mut bytes = 0;
        let read = open.cap.dispatch(&mut |frame| {
            bytes += frame.data.len() as u64 + RING_FRAME_OVERHEAD;
            f(TapFrame {
                tap,
                ts_ns: frame.ts_ns,
                orig_len: frame.orig_len,
                linktype: frame.linktype,
                data: frame.data,
            })
        });
        busiest = busiest.max(bytes);
        match read {
            Ok(n) => handed += n,
            Err(e) => {
                // An interface deleted while watched ends its capture only.
                let device = open.cap.device();
                lock(&shared.failures).push(format!("namespace {}, {device}: {e}", open.netns));
                failed.push(i);
            }
        }
    }
    let mut dropped = lock(&shared.dropped);
    for i in failed.into_iter().rev() {
        let mut open = caps.remove(i);
        note_kernel_drops(&mut dropped, &mut open);
    }
    (handed, busiest)
}

/// The helper: while the reader is away longer than [`away_limit`] says, copies what the
/// rings hold into the backlog (up to [`BACKLOG_BYTES`]), so they do not overflow
/// while the analysis looks an owner up or waits on its output.
fn help(shared: &Shared) {
    // Ahead of ordinary processes, as the reader; then no capability at all: reading
    // rings already open needs none.
    super::top::boost_this_thread();
    let _ = crate::caps::keep_only(&[]);
    while !shared.stop.load(Ordering::Relaxed) {
        let (every, limit) = away_limit(shared.prompt.load(Ordering::Relaxed));
        let away = shared.away_since.load(Ordering::SeqCst);
        let gone_for = Duration::from_nanos(monotonic_ns().saturating_sub(away));
        if away == 0 || gone_for < limit {
            // Back when the reader will have been away long enough, or in `every`.
            let due = if away == 0 { every } else { limit - gone_for };
            std::thread::sleep(due.min(every));
            continue;
        }
        copy_rings(shared);
        std::thread::sleep(every);
    }
}

/// One pass of the helper: what every ring holds now, into the backlog.
fn copy_rings(shared: &Shared) {
    let Ok(mut caps) = shared.caps.try_lock() else {
        return;
    };
    // Back in the meantime: the reader reads for itself.
    if shared.away_since.load(Ordering::SeqCst) == 0 {
        return;
    }
    let mut into = Copied::default();
    for open in caps.iter_mut() {
        if lock(&shared.backlog).1 >= BACKLOG_BYTES {
            break;
        }
        into.tap = open.tap;
        let _ = open.cap.dispatch(&mut |frame| {
            into.frames.push(Meta {
                ts_ns: frame.ts_ns,
                orig_len: frame.orig_len,
                linktype: frame.linktype,
                start: into.data.len(),
                len: frame.data.len(),
            });
            into.data.extend_from_slice(frame.data);
        });
        // A failure is the reader's to tell: it meets it at its next dispatch.
        if !into.frames.is_empty() {
            let batch = std::mem::take(&mut into);
            let mut backlog = lock(&shared.backlog);
            backlog.1 += batch.data.len();
            backlog.0.push_back(batch);
        }
    }
}

/// Keeps the kernel's count of the frames a capture lost (ring full, or dropped by
/// the interface).
fn note_kernel_drops(dropped: &mut [Dropped], open: &mut Open) {
    if let (Some(s), Some(slot)) = (open.cap.stats(), dropped.get_mut(open.tap)) {
        slot.kernel = u64::from(s.dropped) + u64::from(s.if_dropped);
    }
}

fn open_all(
    netns: &str,
    list: &[(usize, String)],
    snaplen: u32,
    filter: Option<&str>,
    handover: Handover,
) -> Result<Vec<Open>, LiveError> {
    let mut caps = Vec::new();
    for (tap, interface) in list {
        let mut o = LiveOptions::new(interface.clone());
        o.snaplen = snaplen;
        o.buffer_bytes = RING_BYTES;
        // TPACKET_V3 blocks handed over when full or after the handover's timeout:
        // one wake-up serves many frames at high rates.
        o.immediate = false;
        o.timeout_ms = handover.block_timeout_ms();
        o.filter = filter.map(str::to_string);
        let mut cap = LiveCapture::open(&o)?;
        cap.set_nonblocking()?;
        caps.push(Open {
            tap: *tap,
            netns: netns.to_string(),
            cap,
        });
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    /// Reads are paced so the busiest ring fills a quarter at most: 400 Mbit/s of
    /// full-sized frames waits about the whole 40 ms, 1 Gbit/s 16 ms, 10 Gbit/s under
    /// 2 ms.
    #[test]
    fn faster_traffic_shortens_the_pace() {
        // Ring bytes `mbit` Mbit/s of 1514-byte frames fill over `over`.
        let filled = |mbit: u64, over: Duration| {
            let frames = mbit * 1_000_000 / 8 / 1514 * over.as_micros() as u64 / 1_000_000;
            frames * (1514 + RING_FRAME_OVERHEAD)
        };
        let over = Duration::from_millis(40);
        let four = next_pace(filled(400, over), over);
        assert!(
            four > Duration::from_millis(39) && four <= BATCHED_PACE,
            "{four:?}"
        );
        let gig = next_pace(filled(1000, over), over);
        assert!(
            gig > Duration::from_millis(15) && gig < Duration::from_millis(17),
            "{gig:?}"
        );
        let ten = next_pace(filled(10_000, over), over);
        assert!(ten < Duration::from_millis(2), "{ten:?}");
        assert_eq!(next_pace(0, over), BATCHED_PACE);
        // No overflow at the extremes.
        assert_eq!(next_pace(1, Duration::MAX), BATCHED_PACE);
        assert_eq!(next_pace(u64::MAX, Duration::ZERO), Duration::ZERO);
    }

    /// The reader looks away for two seconds while datagrams trickle in, one every
    /// 5 ms, each alone in a ring block handed over after 1 ms: the 32 blocks of a
    /// ring would be full after 32 of them. The helper copies them out meanwhile, so
    /// all 300 arrive, in order, and the kernel drops none.
    #[test]
    fn a_reader_away_for_seconds_loses_no_frame_of_a_trickle() {
        if crate::caps::lacks(crate::caps::Cap::NetRaw) {
            eprintln!("skipped: not root");
            return;
        }
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_nonblocking(true).unwrap();
        let port = sink.local_addr().unwrap().port();
        let here = crate::netns::current().unwrap();
        let point = TapPoint {
            netns: here,
            interface: "lo".into(),
            vrf: None,
        };
        let filter = format!("udp dst port {port}");
        let mut taps = Taps::start(&[point], 256, Some(&filter), Handover::Prompt).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        // The reader's last look, then two seconds away.
        taps.read(Duration::ZERO, &mut |_| {});
        let sent = 300u32;
        for i in 0..sent {
            sender
                .send_to(&i.to_be_bytes(), ("127.0.0.1", port))
                .unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut seen = Vec::new();
        while taps.read(Duration::from_millis(50), &mut |f| {
            // Ethernet (14) + IPv4 (20) + UDP (8), then the counter.
            if let Some(b) = f.data.get(42..46) {
                seen.push(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            }
        }) > 0
        {}
        assert_eq!(taps.dropped()[0].kernel, 0);
        assert_eq!(seen, (0..sent).collect::<Vec<_>>());
        assert!(taps.take_failures().is_empty());
    }
}
