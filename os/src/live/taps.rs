//! Capture points for `netkit watch`: one live capture per (namespace, interface),
//! whole frames (the analysis reads HTTP headers), read in place from the kernel's
//! rings by the thread that analyses them.
//!
//! Each namespace's captures are opened by a short-lived thread that enters it (a
//! packet socket stays bound to the namespace it was opened in, whichever thread reads
//! it later). There is no capture thread and no queue: handing frames from a capture
//! thread to the analysis cost a copy of every frame and a wake-up of both threads per
//! ring block (bench/README has what dropping them saved). The kernel's ring is the
//! buffer instead, up to 32 MiB per capture point (see [`ring_bytes`]), and its drops
//! are read from each capture's statistics, per capture point: nothing is lost
//! silently.

use super::LiveError;
use crate::capture::{LiveCapture, LiveOptions};
use crate::netlink as nldump;
use crate::netns::{self, Netns};
use netkit_cmds::source::RawFrame;
use netkit_cmds::watch::report::Dropped;
use std::time::{Duration, Instant};

/// Kernel ring memory shared out among the capture points: each ring holds what
/// arrives while the analysis is kept from reading (a loaded machine, an owner looked
/// up in /proc, evidence written), so with few points each gets [`MAX_RING_BYTES`],
/// about 0.6 s of a saturated 400 Mbit/s link.
const RING_BUDGET_BYTES: u32 = 64 << 20;
/// The most one capture point's ring gets.
const MAX_RING_BYTES: u32 = 32 << 20;
/// The least: what a single capture's ring had when frames were handed to a queue.
const MIN_RING_BYTES: u32 = 8 << 20;
/// Longest a ring block waits before it is handed over. Short, because the client of
/// an upgrade is looked up (sock_diag, /proc) when its request is analysed, and a
/// client that exits right after its answer must still be there; at high rates blocks
/// fill and are handed over before this anyway.
const BLOCK_TIMEOUT_MS: u32 = 1;
/// Most passes over the captures one [`Taps::read`] makes while blocks keep coming:
/// under a flood the caller still gets back to its periodic work (summaries, owner
/// lookups) after about this many ring blocks per capture point.
const MAX_PASSES: usize = 64;
/// How often the kernel's drop counts are read while frames flow.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Raises the calling thread (the one reading and analysing the captures) ahead of
/// ordinary processes: under load a ring left unread overflows. Call it while
/// CAP_SYS_NICE is held.
pub fn boost_analysis_thread() {
    super::top::boost_this_thread();
}

/// Bytes of kernel ring for each of `points` capture points.
fn ring_bytes(points: usize) -> u32 {
    let share = RING_BUDGET_BYTES / u32::try_from(points.max(1)).unwrap_or(u32::MAX);
    share.clamp(MIN_RING_BYTES, MAX_RING_BYTES)
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

/// One open capture.
struct Open {
    /// Index into the points given so far.
    tap: usize,
    /// Its namespace, for the lines that say it failed.
    netns: String,
    cap: LiveCapture,
}

/// The open captures, read by the thread that owns this.
pub struct Taps {
    snaplen: u32,
    filter: Option<String>,
    /// The captures still open.
    open: Vec<Open>,
    /// Per capture point: frames the kernel's ring dropped, as last read (kept once
    /// its capture has ended).
    dropped: Vec<Dropped>,
    /// Captures that failed while running, one line each.
    failures: Vec<String>,
    stats_read: Instant,
}

impl Taps {
    /// Opens a capture on every point (`snaplen` bytes kept per frame, `filter` run in
    /// the kernel). Fails, having closed everything, if any capture cannot be opened.
    pub fn start(
        points: &[TapPoint],
        snaplen: u32,
        filter: Option<&str>,
    ) -> Result<Taps, LiveError> {
        let mut taps = Taps {
            snaplen,
            filter: filter.map(str::to_string),
            open: Vec::new(),
            dropped: Vec::new(),
            failures: Vec::new(),
            stats_read: Instant::now(),
        };
        taps.add(points)?;
        Ok(taps)
    }

    /// Opens captures on more points (a namespace created since the start); their
    /// frames carry indices following the points given before. All or none: on an
    /// error none of `points` is captured.
    pub fn add(&mut self, points: &[TapPoint]) -> Result<(), LiveError> {
        let first = self.dropped.len();
        let ring = ring_bytes(first + points.len());
        // Each namespace's points (consecutive in `points`) opened from inside it.
        let mut groups: Vec<(&Netns, Vec<(usize, &str)>)> = Vec::new();
        for (i, p) in points.iter().enumerate() {
            let tap = (first + i, p.interface.as_str());
            match groups.last_mut() {
                Some((ns, list)) if ns.path == p.netns.path && ns.inode == p.netns.inode => {
                    list.push(tap)
                }
                _ => groups.push((&p.netns, vec![tap])),
            }
        }
        let mut opened = Vec::new();
        for (ns, list) in groups {
            let caps = netns::run_in(ns, || {
                open_all(&list, self.snaplen, ring, self.filter.as_deref())
            })
            .map_err(LiveError::from)
            .and_then(|r| r)
            .map_err(|e| LiveError::InNamespace {
                label: ns.label.clone(),
                err: Box::new(e),
            })?;
            opened.extend(caps.into_iter().map(|(tap, cap)| Open {
                tap,
                netns: ns.label.clone(),
                cap,
            }));
        }
        self.open.extend(opened);
        self.dropped
            .resize(first + points.len(), Dropped::default());
        Ok(())
    }

    /// Waits up to `timeout` for frames on any capture point, then hands every frame
    /// that is ready to `f` with the index of its point, straight from the rings (each
    /// point's frames in capture order). Returns how many were handed over. A capture
    /// that fails (its interface deleted) is closed and a line left for
    /// [`Taps::take_failures`]; the others go on.
    pub fn read(&mut self, timeout: Duration, f: &mut dyn FnMut(usize, RawFrame<'_>)) -> usize {
        if self.open.is_empty() {
            // Nothing to wait on (every capture failed, or none yet under
            // --all-netns): the caller's loop still ticks.
            std::thread::sleep(timeout);
            return 0;
        }
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let waiting: Vec<&LiveCapture> = self.open.iter().map(|o| &o.cap).collect();
        if let Err(e) = LiveCapture::wait_any(&waiting, ms) {
            // poll(2) itself failed (not one capture's error): nothing to close; the
            // line says why frames stopped, and the caller's loop keeps its time.
            self.failures.push(e.to_string());
            std::thread::sleep(timeout);
        }
        let mut handed = 0;
        for _ in 0..MAX_PASSES {
            let mut this_pass = 0;
            let mut failed = Vec::new();
            for (i, o) in self.open.iter_mut().enumerate() {
                let tap = o.tap;
                match o.cap.dispatch(&mut |frame| f(tap, frame)) {
                    Ok(n) => this_pass += n,
                    Err(e) => {
                        // An interface deleted while watched ends its capture only.
                        let line = format!("namespace {}, {}: {e}", o.netns, o.cap.device());
                        self.failures.push(line);
                        failed.push(i);
                    }
                }
            }
            for i in failed.into_iter().rev() {
                let mut o = self.open.remove(i);
                note_kernel_drops(&mut self.dropped, o.tap, &mut o.cap);
            }
            handed += this_pass;
            if this_pass == 0 {
                break;
            }
        }
        if self.stats_read.elapsed() >= STATS_EVERY {
            self.read_kernel_drops();
        }
        handed
    }

    /// Frames lost so far at each capture point (in the order of the points), as the
    /// kernel counts them now.
    pub fn dropped(&mut self) -> Vec<Dropped> {
        self.read_kernel_drops();
        self.dropped.clone()
    }

    /// Captures that failed since the last call, one line each.
    pub fn take_failures(&mut self) -> Vec<String> {
        std::mem::take(&mut self.failures)
    }

    /// True while at least one capture is open.
    pub fn any_running(&self) -> bool {
        !self.open.is_empty()
    }

    fn read_kernel_drops(&mut self) {
        self.stats_read = Instant::now();
        for o in &mut self.open {
            note_kernel_drops(&mut self.dropped, o.tap, &mut o.cap);
        }
    }
}

/// Records the kernel's drop count of capture point `tap` (libpcap keeps running
/// totals, so reading them never loses a count).
fn note_kernel_drops(dropped: &mut [Dropped], tap: usize, cap: &mut LiveCapture) {
    if let (Some(s), Some(slot)) = (cap.stats(), dropped.get_mut(tap)) {
        slot.kernel = u64::from(s.dropped) + u64::from(s.if_dropped);
    }
}

fn open_all(
    list: &[(usize, &str)],
    snaplen: u32,
    ring_bytes: u32,
    filter: Option<&str>,
) -> Result<Vec<(usize, LiveCapture)>, LiveError> {
    let mut caps = Vec::new();
    for (tap, interface) in list {
        let mut o = LiveOptions::new(*interface);
        o.snaplen = snaplen;
        o.buffer_bytes = ring_bytes;
        // TPACKET_V3 blocks handed over when full or after BLOCK_TIMEOUT_MS: one
        // wake-up serves many frames at high rates.
        o.immediate = false;
        o.timeout_ms = BLOCK_TIMEOUT_MS;
        o.filter = filter.map(str::to_string);
        let mut cap = LiveCapture::open(&o)?;
        cap.set_nonblocking()?;
        caps.push((*tap, cap));
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_capture_points_get_big_rings_and_many_never_less_than_before() {
        assert_eq!(ring_bytes(0), MAX_RING_BYTES);
        assert_eq!(ring_bytes(1), 32 << 20);
        assert_eq!(ring_bytes(2), 32 << 20);
        assert_eq!(ring_bytes(4), 16 << 20);
        assert_eq!(ring_bytes(8), 8 << 20);
        assert_eq!(ring_bytes(500), 8 << 20);
    }
}
