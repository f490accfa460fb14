//! `netkit top` live: per namespace one capture thread (two kernel rings on `any`,
//! cooked v2 framing so each frame says its direction and interface) and one
//! attribution thread, both entered into the namespace so their sockets stay bound to
//! it, feeding one shared `netkit_cmds::top::engine::Engine`; and the watch that stops
//! the capture of a namespace that was deleted (see [`super::watch`]).

use super::{watch, LiveError};
use crate::capture::ring;
use crate::capture::{LiveCapture, LiveOptions};
use crate::clock::{monotonic_ns, unix_ns};
use crate::netns::Netns;
use netkit_cmds::top::classify::{classify, on_loopback, quick_filter, Packet, BULK_FILTER};
use netkit_cmds::top::engine::{Engine, FlowKey, Lookup};
use netkit_cmds::top::names;
use netkit_dissectors::frame::DissectOptions;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// How [`Monitor::start`] captures.
#[derive(Clone, Debug, Default)]
pub struct MonitorOptions {
    /// Interface names to count (empty: all but loopback's duplicates).
    pub interfaces: Vec<String>,
    /// Bytes kept per frame; enough for headers and most DNS answers.
    pub snaplen: u32,
    /// Also name remote hosts by reverse lookups (see [`resolve`]).
    pub resolve: bool,
    /// Also watch namespaces created after the start (`--all-netns`).
    pub all_netns: bool,
    /// `--write`: bytes of recent frames kept for dumps (0: none kept, no cost).
    pub ring_bytes: u64,
    /// `--attribution`: which path attributes and counts.
    pub attribution: AttributionChoice,
    /// Set by [`Monitor::start`] when the BPF path runs: the kernel counts the bytes,
    /// the packet rings only feed DNS names and `--write`.
    pub kernel_counts: bool,
}

/// `--attribution`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttributionChoice {
    /// BPF when it loads here, else sock-diag (saying why once).
    #[default]
    Auto,
    /// BPF or fail.
    Bpf,
    /// Captured packets, owners by sock_diag and /proc.
    SockDiag,
}

/// Entries of each of the BPF path's maps (owners, flows).
const BPF_MAP_ENTRIES: u32 = 65_536;
/// How often the BPF path reads its maps.
const BPF_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Where and how much a `--write` dump writes.
#[derive(Clone, Debug)]
pub struct WriteTarget {
    pub path: std::path::PathBuf,
    /// Only frames of the last this many seconds.
    pub last_s: Option<f64>,
}

/// Live capture and attribution threads feeding one shared [`Engine`], and the watch
/// that stops the capture of a namespace that was deleted (see [`watch`]).
pub struct Monitor {
    pub engine: Arc<Mutex<Engine>>,
    /// Faults and changes while running, each told once.
    pub notices: Arc<watch::Notices>,
    /// `--write`: the ring of recent frames.
    pub ring: Option<Arc<ring::Ring>>,
    watch: Arc<watch::Watch>,
    stop: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<()>>,
    /// "bpf" or "sock-diag": which path runs.
    pub attribution: &'static str,
    /// Why BPF is not used, when `--attribution auto` fell back (one line).
    pub fallback: Option<String>,
    poller: Option<std::thread::JoinHandle<()>>,
}

/// Raises the calling thread's scheduling priority (nice -10) when allowed, best
/// effort. On a loaded machine a normal-priority thread can wait milliseconds for a
/// CPU after a packet arrives, and a connection that lives one millisecond has closed
/// its socket by then: the capture and attribution threads must run first. There is
/// no safe std or nix call for setpriority(2) on one thread, so this asks renice(1),
/// which on Linux takes a thread id.
pub(super) fn boost_this_thread() {
    let Ok(link) = std::fs::read_link("/proc/thread-self") else {
        return;
    };
    let Some(tid) = link
        .file_name()
        .and_then(|t| t.to_str())
        .map(str::to_string)
    else {
        return;
    };
    let _ = std::process::Command::new("renice")
        .args(["-n", "-10", "-p", &tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

impl Monitor {
    /// Opens a capture in every namespace (inside it) and starts counting. Fails with
    /// one line when any capture cannot be opened (missing CAP_NET_RAW, no such
    /// interface, cannot enter the namespace). Later faults stop only the capture they
    /// concern and become [`Monitor::notices`].
    pub fn start(namespaces: &[Netns], opts: &MonitorOptions) -> Result<Monitor, LiveError> {
        let labels = namespaces.iter().map(|n| n.label.clone()).collect();
        let engine = Arc::new(Mutex::new(Engine::new(labels, monotonic_ns())));
        let mut opts = opts.clone();
        let (probe, fallback) = match opts.attribution {
            AttributionChoice::SockDiag => (None, None),
            AttributionChoice::Bpf => (
                Some(
                    crate::bpf::top::TopProbe::start(BPF_MAP_ENTRIES)
                        .map_err(|e| LiveError::Bpf(e.to_string()))?,
                ),
                None,
            ),
            AttributionChoice::Auto => match crate::bpf::top::TopProbe::start(BPF_MAP_ENTRIES) {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(format!("{e}: using sock-diag attribution"))),
            },
        };
        opts.kernel_counts = probe.is_some();
        let attribution = if probe.is_some() { "bpf" } else { "sock-diag" };
        crate::lock(&engine).attribution = attribution;
        let opts = &opts;
        let snaplen = if opts.snaplen > 0 {
            opts.snaplen
        } else {
            LiveOptions::new("any").snaplen
        };
        let ring = (opts.ring_bytes > 0).then(|| ring::Ring::new(opts.ring_bytes, snaplen));
        let notices = Arc::new(watch::Notices::default());
        let ctx = watch::Context {
            engine: engine.clone(),
            opts: opts.clone(),
            ring: ring.clone(),
        };
        let watch = Arc::new(watch::Watch::new(ctx, notices.clone(), opts.all_netns));
        let stop = Arc::new(AtomicBool::new(false));
        let mut monitor = Monitor {
            engine,
            notices,
            ring,
            watch: watch.clone(),
            stop: stop.clone(),
            watcher: None,
            attribution,
            fallback,
            poller: None,
        };
        for (i, ns) in namespaces.iter().enumerate() {
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            // On failure `monitor` is dropped, which stops what was started.
            let cap = watch::spawn(&watch.ctx, ns, idx)?;
            watch.captures().push(cap);
        }
        if opts.resolve {
            let engine = monitor.engine.clone();
            let stop = stop.clone();
            // Not joined by `stop`: a lookup can block for the resolver's whole timeout,
            // and nothing is lost by leaving it to end with the process.
            std::thread::spawn(move || {
                if crate::caps::keep_only(&[]).is_ok() {
                    crate::resolve::run(&engine, &stop);
                }
            });
        }
        if let Some(probe) = probe {
            let watch = watch.clone();
            let engine = monitor.engine.clone();
            let stop = stop.clone();
            let notices = monitor.notices.clone();
            monitor.poller = Some(std::thread::spawn(move || {
                super::kernel::run(probe, &watch, &engine, &notices, &stop, BPF_POLL)
            }));
        }
        monitor.watcher = Some(std::thread::spawn(move || watch.run(&stop)));
        Ok(monitor)
    }

    /// Namespaces still being counted.
    pub fn active(&self) -> usize {
        self.watch.captures().iter().filter(|c| c.active).count()
    }

    /// Writes the `--write` ring to `target` (see [`ring::Ring::dump`]); interfaces are
    /// named `namespace/interface`.
    pub fn dump(&self, target: &WriteTarget) -> Result<ring::DumpSummary, LiveError> {
        let Some(ring) = &self.ring else {
            return Err(LiveError::NoRing);
        };
        let labels = crate::lock(&self.engine).netns.clone();
        let links: HashMap<u32, HashMap<u32, String>> = self
            .watch
            .captures()
            .iter()
            .map(|c| (c.idx, c.links.clone()))
            .collect();
        let mut name = |netns: u32, ifindex: Option<u32>| {
            let ns = labels
                .get(netns as usize)
                .cloned()
                .unwrap_or_else(|| format!("#{netns}"));
            match ifindex {
                Some(i) => {
                    let dev = links
                        .get(&netns)
                        .and_then(|l| l.get(&i))
                        .cloned()
                        .unwrap_or_else(|| format!("if{i}"));
                    format!("{ns}/{dev}")
                }
                None => ns,
            }
        };
        ring.dump(&target.path, target.last_s, unix_ns(), &mut name)
            .map_err(|e| LiveError::Write {
                path: target.path.display().to_string(),
                why: e.to_string(),
            })
    }

    /// Stops the capture threads and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        if let Some(p) = self.poller.take() {
            let _ = p.join();
        }
        for cap in self.watch.captures().iter_mut() {
            cap.stop_and_join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the BPF path still captures without --write: DNS answers, for names.
const DNS_FILTER: &str = "(ip or ip6) and (udp src port 53 or tcp src port 53)";
/// A filter no frame passes.
const NOTHING_FILTER: &str = "less 1";

pub(super) fn capture_loop(
    idx: u32,
    opts: &MonitorOptions,
    engine: &Mutex<Engine>,
    stop: &AtomicBool,
    lookup: &mpsc::Sender<(FlowKey, i64)>,
    ready: &mpsc::Sender<Result<(), LiveError>>,
    hooks: &watch::Hooks,
) -> Result<(), LiveError> {
    let mut wanted = Vec::new();
    if !opts.interfaces.is_empty() {
        // ifindexes are per namespace: resolve them here, inside it.
        const NETLINK_ROUTE: isize = 0;
        let sock = crate::netlink::open(NETLINK_ROUTE)?;
        let links = crate::netlink::Links::dump(&sock)?;
        for name in &opts.interfaces {
            let index = links
                .0
                .iter()
                .find(|(_, l)| &l.name == name)
                .map(|(i, _)| *i)
                .ok_or_else(|| LiveError::NoInterface {
                    name: name.clone(),
                    place: "this namespace".to_string(),
                })?;
            wanted.push(index);
        }
    }
    // Two rings split the traffic between them by a kernel filter, so that every
    // frame is counted exactly once:
    // - the bulk ring takes TCP segments without SYN, the vast majority at high
    //   rates. It hands frames over when a ring block fills or after BULK_TIMEOUT_MS,
    //   with only the headers kept, so a 400 Mbit/s transfer costs a few dozen
    //   wake-ups a second instead of one per millisecond.
    // - the quick ring takes everything else: SYNs (a new connection), UDP, ICMP and
    //   the rest, handed over within QUICK_TIMEOUT_MS. A new flow's first frame
    //   therefore reaches the attribution thread within about a millisecond, while
    //   the process that owns a 10 ms connection still holds its socket.
    // TCP behind IPv6 extension headers goes to the quick ring (the filter cannot
    // find its flags), which only costs a little CPU.
    const BULK_TIMEOUT_MS: u32 = 50;
    const BULK_SNAPLEN: u32 = 192;
    const QUICK_TIMEOUT_MS: u32 = 1;
    let mut bulk_opts = LiveOptions::new("any");
    bulk_opts.cooked_v2 = true;
    bulk_opts.immediate = false;
    bulk_opts.timeout_ms = BULK_TIMEOUT_MS;
    // Headers only: SLL2 (20) + IPv6 (40) + TCP with options (60) fit with room left.
    bulk_opts.snaplen = BULK_SNAPLEN;
    bulk_opts.filter = Some(BULK_FILTER.to_string());
    let mut quick_opts = LiveOptions::new("any");
    quick_opts.cooked_v2 = true;
    // Not immediate mode (which makes libpcap fall back to a TPACKET_V2 ring and one
    // wake-up per frame) but TPACKET_V3 blocks handed over after 1 ms: under a UDP
    // flood one wake-up still serves a whole block.
    quick_opts.immediate = false;
    quick_opts.timeout_ms = QUICK_TIMEOUT_MS;
    quick_opts.buffer_bytes = 4 << 20;
    if opts.snaplen > 0 {
        quick_opts.snaplen = opts.snaplen;
    }
    quick_opts.filter = Some(quick_filter());
    let open = |o: &LiveOptions| {
        let mut cap = LiveCapture::open(o)?;
        cap.set_nonblocking()?;
        Ok::<_, LiveError>(cap)
    };
    // The BPF path counts in the kernel: without --write only DNS answers are
    // captured (for names), and the bulk ring is not opened at all.
    let names_only = opts.kernel_counts && opts.ring_bytes == 0;
    if names_only {
        quick_opts.filter = Some(DNS_FILTER.to_string());
        bulk_opts.filter = Some(NOTHING_FILTER.to_string());
        bulk_opts.buffer_bytes = 1 << 16;
    }
    let mut quick = open(&quick_opts)?;
    let mut bulk = open(&bulk_opts)?;
    boost_this_thread();
    // Reading rings already open needs no capability.
    crate::caps::keep_only(&[])?;
    let _ = ready.send(Ok(()));
    let interfaces = (!wanted.is_empty()).then_some(wanted.as_slice());
    let dissect_opts = DissectOptions::default();
    let mut scratch_names = names::Names::default();
    let mut batch: Vec<(Packet, i64)> = Vec::with_capacity(1024);
    let mut lookups = Vec::new();
    // A UDP or ICMP flood keeps the quick ring busy with flows already known and
    // would wake this thread every millisecond. After QUIET_STREAK such hand-overs
    // in a row the thread naps FLOOD_NAP between them: a few hundred wake-ups a second
    // instead of a thousand or more, while a new flow still shows within a few ms.
    const QUIET_STREAK: u32 = 16;
    const FLOOD_NAP: std::time::Duration = std::time::Duration::from_millis(3);
    let mut quiet_streak = 0u32;
    while !stop.load(Ordering::Relaxed) {
        if quiet_streak >= QUIET_STREAK {
            std::thread::sleep(FLOOD_NAP);
        }
        // Wakes for frames, or every 100 ms to notice `stop`.
        LiveCapture::wait_any(&[&quick, &bulk], 100)?;
        // The quick ring first: its SYNs were captured before most of what the bulk
        // ring holds, and the engine wants a connection's SYN before its data.
        for (which, cap) in [&mut quick, &mut bulk].into_iter().enumerate() {
            let is_quick = which == 0;
            cap.dispatch(&mut |frame| {
                // --write: keep a copy of the frame (ring.rs); no cost without it.
                if let Some(ring) = &hooks.ring {
                    ring.push(frame.ts_ns, frame.orig_len, frame.linktype, frame.data);
                }
                if let Some(packet) = classify(
                    idx,
                    frame.linktype,
                    frame.data,
                    frame.orig_len,
                    interfaces,
                    &dissect_opts,
                    Some(&mut scratch_names),
                ) {
                    batch.push((packet, frame.ts_ns));
                    if on_loopback(frame.linktype, frame.data) {
                        batch.push((packet.as_received(), frame.ts_ns));
                    }
                }
            })?;
            if batch.is_empty() {
                if is_quick {
                    quiet_streak = 0;
                }
                continue;
            }
            let busy = batch.len() >= 8;
            let now = monotonic_ns();
            if opts.kernel_counts {
                // Packets only for names (and --write, above): the kernel counts.
                batch.clear();
                if !scratch_names.is_empty() {
                    let mut e = crate::lock(engine);
                    e.names.absorb(&mut scratch_names);
                }
                continue;
            }
            {
                let mut e = crate::lock(engine);
                if !scratch_names.is_empty() {
                    e.names.absorb(&mut scratch_names);
                }
                for (packet, ts) in batch.drain(..) {
                    if e.record_at(now, &packet, ts) == Lookup::Owner {
                        lookups.push((packet.key, ts));
                    }
                }
            }
            if is_quick {
                quiet_streak = if busy && lookups.is_empty() {
                    quiet_streak.saturating_add(1)
                } else {
                    0
                };
            }
            for l in lookups.drain(..) {
                let _ = lookup.send(l);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every IP frame of the shipped captures passes exactly one of the two rings'
    /// filters (no frame counted twice, none lost), and both kinds occur.
    #[test]
    fn the_two_ring_filters_split_ip_traffic_exactly() {
        use crate::capture::CaptureFile;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let frames = |path: &std::path::Path, filter: &str| -> Option<Vec<u64>> {
            let mut f = CaptureFile::open(path).ok()?;
            if let Err(e) = f.set_filter(filter) {
                assert!(
                    matches!(e, crate::capture::CaptureError::LibpcapMissing { .. }),
                    "{filter}: {e}"
                );
                return None;
            }
            let mut out = Vec::new();
            while let Some(frame) = f.next_frame() {
                out.push(frame.number);
            }
            Some(out)
        };
        let mut files = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path
                    .extension()
                    .is_some_and(|e| e == "pcap" || e == "pcapng")
                {
                    files.push(path);
                }
            }
        }
        let (mut bulk_total, mut quick_total) = (0, 0);
        for path in &files {
            let (Some(ip), Some(bulk), Some(quick)) = (
                frames(path, "ip or ip6"),
                frames(path, BULK_FILTER),
                frames(path, &quick_filter()),
            ) else {
                continue;
            };
            let mut both: Vec<u64> = bulk.iter().chain(&quick).copied().collect();
            both.sort_unstable();
            assert_eq!(both, ip, "{}", path.display());
            bulk_total += bulk.len();
            quick_total += quick.len();
        }
        if files.is_empty() || bulk_total + quick_total == 0 {
            eprintln!("skipped: no fixtures or no libpcap runtime to compile filters");
            return;
        }
        eprintln!(
            "{} files: {bulk_total} bulk, {quick_total} quick",
            files.len()
        );
        assert!(
            bulk_total > 1000 && quick_total > 1000,
            "{bulk_total} {quick_total}"
        );
    }
}
