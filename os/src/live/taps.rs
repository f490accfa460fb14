//! Capture points for `netkit watch`: one live capture per (namespace, interface),
//! whole frames (the analysis reads HTTP headers). A thread per namespace enters it,
//! opens its captures there and hands them over; the thread that analyses reads the
//! frames in place from the kernel's rings ([`Taps::read`]).
//!
//! Nothing is lost silently: a ring that overflows while the analysis is busy drops
//! frames in the kernel, and those drops are read from each capture's statistics, per
//! capture point.

use super::LiveError;
use crate::capture::{LiveCapture, LiveOptions};
use crate::netlink as nldump;
use crate::netns::{self, Netns};
use netkit_cmds::watch::report::Dropped;
use std::time::{Duration, Instant};

/// Kernel ring of each capture point: at 400 Mbit/s of full-sized frames it holds
/// about 160 ms of traffic, the longest the analysis may look away (an owner lookup
/// in /proc, a summary, an evidence file) before frames are dropped, and counted.
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

/// With [`Handover::Batched`] on every capture, the least time between two reads of
/// the rings while frames keep coming. Every wake-up of the reader costs a context
/// switch (a tenth of watch's CPU at 400 Mbit/s when the reader woke for every 256 KiB
/// block, about 200 times a second); reading at most every 20 ms serves several blocks
/// per wake-up, and a ring holds 160 ms of such traffic. Findings are due within a
/// second; this is a fiftieth of it.
const BATCHED_PACE: Duration = Duration::from_millis(20);

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

/// The open captures, read by the thread that analyses their frames.
pub struct Taps {
    /// In the order the points were given.
    caps: Vec<Open>,
    snaplen: u32,
    filter: Option<String>,
    /// Per capture point: frames the kernel's ring dropped, as last read.
    dropped: Vec<Dropped>,
    /// Captures that failed while running, one line each.
    failures: Vec<String>,
    /// Some capture hands its blocks over promptly: reads are not paced.
    prompt: bool,
    /// When the last read that found frames began (reads are paced from it).
    busy_since: Option<Instant>,
}

impl Taps {
    /// Opens a capture on every point (`snaplen` bytes kept per frame, `filter` run in
    /// the kernel). Fails, having closed everything, if any capture cannot be opened.
    pub fn start(
        points: &[TapPoint],
        snaplen: u32,
        filter: Option<&str>,
        handover: Handover,
    ) -> Result<Taps, LiveError> {
        let mut taps = Taps {
            caps: Vec::new(),
            snaplen,
            filter: filter.map(str::to_string),
            dropped: Vec::new(),
            failures: Vec::new(),
            prompt: false,
            busy_since: None,
        };
        taps.add(points, handover)?;
        Ok(taps)
    }

    /// Opens captures on more points (a namespace created since the start); their
    /// frames carry indices following the points given before. Each namespace's
    /// captures are opened by a thread that enters it (an AF_PACKET socket belongs to
    /// the namespace it was created in) and ends once it has handed them over, so no
    /// thread is left behind with the capabilities it entered with.
    pub fn add(&mut self, points: &[TapPoint], handover: Handover) -> Result<(), LiveError> {
        let first = self.dropped.len();
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
        self.dropped
            .resize(first + points.len(), Dropped::default());
        self.caps.extend(opened);
        self.prompt |= handover == Handover::Prompt;
        Ok(())
    }

    /// Waits up to `timeout` for frames at any capture point, then hands every frame
    /// ready at each of them to `f`, straight from the kernel's rings (no copy, no
    /// other thread: at 400 Mbit/s, copying whole frames out for an analysis thread
    /// cost a quarter of watch's CPU). Returns how many frames were handed over.
    /// While frames keep coming, reads with [`Handover::Batched`] are paced
    /// ([`BATCHED_PACE`]), so a call may take that much longer.
    ///
    /// While `f` and the caller's other work run, the rings keep filling; a ring that
    /// overflows drops frames in the kernel, counted in [`Taps::dropped`]. A capture
    /// that fails (its interface was deleted) is closed and said in
    /// [`Taps::take_failures`]; the others go on.
    pub fn read(&mut self, timeout: Duration, f: &mut dyn FnMut(TapFrame<'_>)) -> usize {
        if self.caps.is_empty() {
            std::thread::sleep(timeout);
            return 0;
        }
        if let Some(since) = self.busy_since.filter(|_| !self.prompt) {
            // Frames came at the last read: more are likely ready by the time the pace
            // is up, read then without waiting in poll(2).
            std::thread::sleep(BATCHED_PACE.saturating_sub(since.elapsed()));
            let began = Instant::now();
            let handed = self.dispatch_all(f);
            if handed > 0 {
                self.busy_since = Some(began);
                return handed;
            }
        }
        self.busy_since = None;
        let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let waiting: Vec<&LiveCapture> = self.caps.iter().map(|o| &o.cap).collect();
        if let Err(e) = LiveCapture::wait_any(&waiting, millis) {
            // poll(2) itself failed: none of them can be waited for any more.
            self.failures.push(e.to_string());
            self.close_all();
            return 0;
        }
        let began = Instant::now();
        let handed = self.dispatch_all(f);
        if handed > 0 {
            self.busy_since = Some(began);
        }
        handed
    }

    /// Hands every frame ready now at each capture point to `f`.
    fn dispatch_all(&mut self, f: &mut dyn FnMut(TapFrame<'_>)) -> usize {
        let mut handed = 0;
        let mut failed = Vec::new();
        for (i, open) in self.caps.iter_mut().enumerate() {
            let tap = open.tap;
            let read = open.cap.dispatch(&mut |frame| {
                f(TapFrame {
                    tap,
                    ts_ns: frame.ts_ns,
                    orig_len: frame.orig_len,
                    linktype: frame.linktype,
                    data: frame.data,
                })
            });
            match read {
                Ok(n) => handed += n,
                Err(e) => {
                    // An interface deleted while watched ends its capture only.
                    let device = open.cap.device();
                    self.failures
                        .push(format!("namespace {}, {device}: {e}", open.netns));
                    failed.push(i);
                }
            }
        }
        for i in failed.into_iter().rev() {
            let mut open = self.caps.remove(i);
            note_kernel_drops(&mut self.dropped, &mut open);
        }
        handed
    }

    /// Frames lost so far at each capture point (in the order of the points), as the
    /// kernel counts them now.
    pub fn dropped(&mut self) -> Vec<Dropped> {
        for open in &mut self.caps {
            note_kernel_drops(&mut self.dropped, open);
        }
        self.dropped.clone()
    }

    /// Captures that failed since the last call, one line each.
    pub fn take_failures(&mut self) -> Vec<String> {
        std::mem::take(&mut self.failures)
    }

    /// True while at least one capture is open.
    pub fn any_open(&self) -> bool {
        !self.caps.is_empty()
    }

    fn close_all(&mut self) {
        for mut open in std::mem::take(&mut self.caps) {
            note_kernel_drops(&mut self.dropped, &mut open);
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
