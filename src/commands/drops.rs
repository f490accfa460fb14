//! `netkit drops`: the kernel's packet drops with their reasons, live. The probe is
//! `netkit_os::bpf::drops` (BPF on tracepoint skb:kfree_skb), the engine and the table
//! `netkit_cmds::drops`.

use crate::exit::{Error, Result};
use clap::Args;
use netkit_cmds::drops::{view, Budget, DropRecord, Drops, Names};
use netkit_cmds::output::{write_json_line, Term};
use netkit_os::bpf::drops::{interface_names, DropsProbe};
use netkit_os::clock::unix_ns;
use netkit_os::netns::{self, Netns, Selection};
use netkit_os::signals;
use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct DropsArgs {
    /// Show the drops of this namespace (name, path, pid:N, host) instead of netkit's own
    #[arg(short = 'N', long, value_name = "NS", conflicts_with = "all_netns")]
    pub netns: Option<String>,
    /// Show the drops of every namespace (also those created after the start)
    #[arg(long)]
    pub all_netns: bool,
    /// Only drops on this interface (repeatable)
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// One JSON object per interval (that interval's counts) instead of the table
    #[arg(long)]
    pub json: bool,
    /// Seconds per table or JSON object
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// Stop after N intervals (default: run until interrupted)
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Drops per second per CPU parsed in full; above it 1 in 16 is, counted 16
    /// times (said under the table and in `probe`); 0: no limit
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub budget: u64,
}

/// Keys the kernel's map holds per interval (each map of the two).
const MAX_KEYS: u32 = 4096;
/// Rows drawn in the table (the JSON has them all).
const TABLE_ROWS: usize = 40;
/// How often the namespace list is read again when an unknown namespace shows up.
const RENAME_EVERY: Duration = Duration::from_secs(2);

pub fn run(args: DropsArgs, term: &Term) -> Result {
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        return Err(Error::BadArgument(
            "--interval must be at least 0.1 seconds",
        ));
    }
    let signals = signals::install(true)?;
    let selection = Selection::from_options(args.netns.as_deref(), args.all_netns);
    let wanted = netns::select(&selection)?;
    let wanted_inodes: HashSet<u64> = wanted.iter().map(|n| n.inode).collect();
    let budget = Budget {
        per_cpu_per_sec: args.budget,
        sample_every: 16,
        max_keys: MAX_KEYS,
    };
    let mut probe = DropsProbe::start(budget)?;
    let mut namer = Namer::new(&probe, selection.clone(), wanted.clone());
    let mut drops = Drops::new(budget);
    let mut out = std::io::stdout().lock();
    let clear = !args.json && term.width.is_some();
    let mut done = 0u64;
    let tick = Duration::from_secs_f64(args.interval);
    let mut next = Instant::now() + tick;
    loop {
        // Sleep in short steps so SIGINT ends the run promptly.
        while Instant::now() < next && !signals.stop_requested() {
            std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
        }
        let stopping = signals.stop_requested();
        next += tick;
        let interval = probe.take_interval()?;
        namer.refresh(&interval.records);
        let names = &namer.names;

        let all = args.all_netns;
        let keep = |r: &DropRecord| {
            (all || wanted_inodes.contains(&r.netns))
                && (args.interfaces.is_empty()
                    || names
                        .ifnames
                        .get(&(r.netns, r.ifindex))
                        .is_some_and(|n| args.interfaces.iter().any(|i| i == n)))
        };
        let report = drops.interval(unix_ns(), &interval, names, &keep);
        if args.json {
            write_json_line(&mut out, &report)?;
        } else {
            if clear {
                out.write_all(b"\x1b[H\x1b[2J")?;
            }
            out.write_all(view::render(&report, term, TABLE_ROWS).as_bytes())?;
            if !clear {
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        done += 1;
        if stopping || args.count.is_some_and(|c| done >= c) {
            break;
        }
    }
    Ok(())
}

/// What the numbers of the probe's records are called: namespace labels, interface
/// names (read again when a drop names one not known yet, at most every
/// [`RENAME_EVERY`]), reason names (from the kernel's BTF), socket owners (/proc,
/// read again when a socket is not known yet).
pub(crate) struct Namer {
    selection: Selection,
    wanted: Vec<Netns>,
    last_rename: Option<Instant>,
    /// How often namespaces and interfaces may be read again.
    rename_every: Duration,
    /// Look up owners only for drops at a socket (SOCKET_*), not every flow's: the
    /// /proc scan is what costs, and beside `watch` it competes with the analysis.
    owners_of_socket_drops_only: bool,
    pub names: Names,
}

impl Namer {
    pub fn new(probe: &DropsProbe, selection: Selection, wanted: Vec<Netns>) -> Namer {
        Namer {
            selection,
            wanted,
            last_rename: None,
            rename_every: RENAME_EVERY,
            owners_of_socket_drops_only: false,
            names: Names {
                reasons: probe.reasons.clone(),
                ..Names::default()
            },
        }
    }

    pub fn refresh(&mut self, records: &[DropRecord]) {
        let names = &mut self.names;
        let unknown = records.iter().any(|r| {
            (r.netns != 0 && !names.netns.contains_key(&r.netns))
                || (r.ifindex != 0 && !names.ifnames.contains_key(&(r.netns, r.ifindex)))
        });
        if unknown
            && self
                .last_rename
                .is_none_or(|t| t.elapsed() >= self.rename_every)
        {
            self.last_rename = Some(Instant::now());
            let known = match &self.selection {
                Selection::All => netns::all().unwrap_or_default(),
                _ => self.wanted.clone(),
            };
            names.netns = known.iter().map(|n| (n.inode, n.label.clone())).collect();
            names.ifnames = interface_names(&known);
        }
        let socket_only = self.owners_of_socket_drops_only;
        if records.iter().any(|r| {
            r.sock_inode != 0
                && !names.owners.contains_key(&r.sock_inode)
                && (!socket_only || names.reason(r.reason).starts_with("SOCKET_"))
        }) {
            names.owners = netkit_os::proc::socket_owners();
        }
    }
}

/// The kernel's drops fed to `watch`'s engine (for `watch` and `top --findings`), so
/// a lossy stream's finding comes with the reason the kernel dropped its packets. The
/// probe is read on a thread of its own (a read waits a few milliseconds for the
/// programs in flight, and naming sockets scans /proc): watch's loop only takes what
/// is ready, so its owner lookups of short-lived clients are never delayed.
pub(crate) struct DropFeed {
    rx: std::sync::mpsc::Receiver<Vec<netkit_cmds::drops::report::DropRow>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the feed reads the probe.
const FEED_EVERY: Duration = Duration::from_secs(1);

impl DropFeed {
    /// Starts the probe (every namespace's drops are noted: a stream's packets may
    /// die in a namespace other than the one captured). Err: the one line saying why
    /// the join is off (no BPF, no privilege).
    pub fn start(namespaces: &[Netns]) -> std::result::Result<DropFeed, String> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let budget = Budget {
            per_cpu_per_sec: 100_000,
            sample_every: 16,
            max_keys: MAX_KEYS,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        // Said at once, before the thread: without the capabilities nothing is tried.
        netkit_os::caps::require_bpf_tracing("the kernel drop join").map_err(|e| e.to_string())?;
        let namespaces = namespaces.to_vec();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("drops-feed".into())
                .spawn(move || {
                    netkit_os::bpf::lower_this_threads_priority();
                    // Loaded here, not before watch starts: parsing the kernel's BTF
                    // takes a moment of CPU that the capture's first frames should
                    // not wait for. This thread was made while the capabilities
                    // were held, and keeps them.
                    let mut probe = match DropsProbe::start(budget) {
                        Ok(p) => p,
                        Err(e) => {
                            crate::exit::warn(format_args!(
                                "kernel drop reasons not joined to the findings: {e}"
                            ));
                            return;
                        }
                    };
                    let mut namer = Namer::new(&probe, Selection::All, namespaces);
                    namer.rename_every = Duration::from_secs(10);
                    namer.owners_of_socket_drops_only = true;
                    let mut drops = Drops::new(budget);
                    let mut next = Instant::now() + FEED_EVERY;
                    while !stop.load(Ordering::Relaxed) {
                        // Asleep until the next read, looking at `stop` every quarter
                        // second: a wake-up every 50 ms was 5% of watch's CPU at
                        // 400 Mbit/s.
                        let until = next.saturating_duration_since(Instant::now());
                        std::thread::sleep(until.min(Duration::from_millis(250)));
                        if Instant::now() < next {
                            continue;
                        }
                        next = Instant::now() + FEED_EVERY;
                        match probe.take_interval() {
                            Ok(interval) => {
                                namer.refresh(&interval.records);
                                let report =
                                    drops.interval(unix_ns(), &interval, &namer.names, &|_| true);
                                if tx.send(report.rows).is_err() {
                                    break;
                                }
                            }
                            Err(e) => crate::exit::warn(format_args!("kernel drops not read: {e}")),
                        }
                    }
                })
                .map_err(|e| format!("cannot start its thread: {e}"))?
        };
        Ok(DropFeed {
            rx,
            stop,
            thread: Some(thread),
        })
    }

    /// Notes what the probe's thread has read so far; with `wait`, first waits (up to
    /// a little over one read) for the next read, so the last second is in.
    pub fn pump(&mut self, watch: &mut netkit_cmds::watch::Watch, wait: bool) {
        if wait {
            if let Ok(rows) = self
                .rx
                .recv_timeout(FEED_EVERY + Duration::from_millis(300))
            {
                watch.note_kernel_drops(unix_ns(), &rows);
            }
        }
        while let Ok(rows) = self.rx.try_recv() {
            watch.note_kernel_drops(unix_ns(), &rows);
        }
    }
}

impl Drop for DropFeed {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
