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
    let selection = match (&args.netns, args.all_netns) {
        (_, true) => Selection::All,
        (Some(ns), false) => Selection::One(ns.clone()),
        (None, false) => Selection::Current,
    };
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
    pub names: Names,
}

impl Namer {
    pub fn new(probe: &DropsProbe, selection: Selection, wanted: Vec<Netns>) -> Namer {
        Namer {
            selection,
            wanted,
            last_rename: None,
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
        if unknown && self.last_rename.is_none_or(|t| t.elapsed() >= RENAME_EVERY) {
            self.last_rename = Some(Instant::now());
            let known = match &self.selection {
                Selection::All => netns::all().unwrap_or_default(),
                _ => self.wanted.clone(),
            };
            names.netns = known.iter().map(|n| (n.inode, n.label.clone())).collect();
            names.ifnames = interface_names(&known);
        }
        if records
            .iter()
            .any(|r| r.sock_inode != 0 && !names.owners.contains_key(&r.sock_inode))
        {
            names.owners = netkit_os::proc::socket_owners();
        }
    }
}

/// The kernel's drops fed to `watch`'s engine (for `watch` and `top --findings`), so
/// a lossy stream's finding comes with the reason the kernel dropped its packets.
pub(crate) struct DropFeed {
    probe: DropsProbe,
    namer: Namer,
    drops: Drops,
    next: Instant,
}

/// How often the feed reads the probe.
const FEED_EVERY: Duration = Duration::from_secs(1);

impl DropFeed {
    /// Starts the probe over `namespaces` (every namespace's drops are noted: a
    /// stream's packets may die in a namespace other than the one captured). Err: the
    /// one line saying why the join is off (no BPF, no privilege).
    pub fn start(namespaces: &[Netns]) -> std::result::Result<DropFeed, String> {
        let budget = Budget {
            per_cpu_per_sec: 100_000,
            sample_every: 16,
            max_keys: MAX_KEYS,
        };
        let probe = DropsProbe::start(budget).map_err(|e| e.to_string())?;
        let namer = Namer::new(&probe, Selection::All, namespaces.to_vec());
        Ok(DropFeed {
            probe,
            namer,
            drops: Drops::new(budget),
            next: Instant::now() + FEED_EVERY,
        })
    }

    /// Reads the probe when a second has passed (or `now_anyway`) and notes its rows.
    /// A read that fails is said on stderr once per failure and skipped.
    pub fn pump(&mut self, watch: &mut netkit_cmds::watch::Watch, now_anyway: bool) {
        if !now_anyway && Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + FEED_EVERY;
        match self.probe.take_interval() {
            Ok(interval) => {
                self.namer.refresh(&interval.records);
                let report = self
                    .drops
                    .interval(unix_ns(), &interval, &self.namer.names, &|_| true);
                watch.note_kernel_drops(&report.rows);
            }
            Err(e) => crate::exit::warn(format_args!("kernel drops not read: {e}")),
        }
    }
}
