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
    let mut names = Names {
        reasons: probe.reasons.clone(),
        ..Names::default()
    };
    let mut known: Vec<Netns> = Vec::new();
    let mut last_rename: Option<Instant> = None;
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

        // Names: namespaces and interfaces read again when a drop names one not
        // known yet; owners when a socket is not known yet.
        let unknown_ns = interval
            .records
            .iter()
            .any(|r| r.netns != 0 && !names.netns.contains_key(&r.netns))
            || interval
                .records
                .iter()
                .any(|r| r.ifindex != 0 && !names.ifnames.contains_key(&(r.netns, r.ifindex)));
        if unknown_ns && last_rename.is_none_or(|t| t.elapsed() >= RENAME_EVERY) {
            last_rename = Some(Instant::now());
            known = match &selection {
                Selection::All => netns::all().unwrap_or_default(),
                _ => wanted.clone(),
            };
            names.netns = known.iter().map(|n| (n.inode, n.label.clone())).collect();
            names.ifnames = interface_names(&known);
        }
        if interval
            .records
            .iter()
            .any(|r| r.sock_inode != 0 && !names.owners.contains_key(&r.sock_inode))
        {
            names.owners = netkit_os::proc::socket_owners();
        }

        let all = args.all_netns;
        let keep = |r: &DropRecord| {
            (all || wanted_inodes.contains(&r.netns))
                && (args.interfaces.is_empty()
                    || names
                        .ifnames
                        .get(&(r.netns, r.ifindex))
                        .is_some_and(|n| args.interfaces.iter().any(|i| i == n)))
        };
        let report = drops.interval(unix_ns(), &interval, &names, &keep);
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
    drop(known);
    Ok(())
}
