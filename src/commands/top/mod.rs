//! `netkit top`: live traffic by process and remote host, per namespace. Arguments,
//! and the two ways to show it: one JSON object per interval (here) or the screen
//! ([`screen`]). The engine is `netkit_cmds::top`; the captures `netkit_os::live`.

mod findings;
mod screen;

use crate::exit::{Error, Result};
use clap::Args;
use netkit_cmds::output::write_json_line;
use netkit_cmds::top::report::Notice;
use netkit_os::caps::{self, Cap};
use netkit_os::clock::{monotonic_ns, unix_ns};
use netkit_os::live::{AttributionChoice, Monitor, MonitorOptions, WriteTarget};
use netkit_os::netns::{self, Selection};
use netkit_os::signals::{self, Flags};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Count only this interface (repeatable); default: every interface
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// Watch this namespace (name, path, pid:N, host) instead of netkit's own
    #[arg(short = 'N', long, value_name = "NS", conflicts_with = "all_netns")]
    pub netns: Option<String>,
    /// Watch the host and every namespace, also those created after the start
    #[arg(long)]
    pub all_netns: bool,
    /// Print one JSON object per interval instead of the screen
    #[arg(long)]
    pub json: bool,
    /// Rates on the screen in bytes/s or bits/s (key b switches); --json is always bytes
    #[arg(long, value_name = "UNIT", default_value = "bytes",
          value_parser = ["bytes", "bits"])]
    pub units: String,
    /// Seconds per JSON object
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// Stop after N JSON objects (default: run until interrupted)
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Also name remote hosts by reverse lookups through the system resolver (default:
    /// only names seen in DNS answers on the wire)
    #[arg(long)]
    pub resolve: bool,
    /// Keep recent frames and write them to PATH as pcapng: key `w` on the screen;
    /// SIGUSR1 and the end of the run with --json. An existing PATH is never
    /// overwritten: PATH-1, PATH-2, ... are used instead
    #[arg(long, value_name = "PATH")]
    pub write: Option<PathBuf>,
    /// Memory for the frames kept by --write, in MiB
    #[arg(long, value_name = "MB", default_value_t = 64, requires = "write",
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub write_ring_mb: u32,
    /// Write only the frames of the last SECS seconds (default: all that the ring holds)
    #[arg(long, value_name = "SECS", requires = "write")]
    pub write_seconds: Option<f64>,
    /// Also run `netkit watch`'s analysis on the same traffic and show its upgrades and
    /// findings in a pane (key F toggles it). Costs a capture of whole frames; the
    /// namespaces are those present at the start. For NDJSON use `netkit watch --json`
    #[arg(long, conflicts_with = "json")]
    pub findings: bool,
    /// Only the processes of this container or pod: its name, a prefix of its id, or
    /// its pod uid (on the screen: the filter `container:ID`, which Esc clears)
    #[arg(long, value_name = "NAME|ID|POD-UID")]
    pub container: Option<String>,
    /// Who owns the traffic and who counts it: bpf (the kernel records each socket's
    /// owner and counts its bytes), sock-diag (captured packets, owners looked up by
    /// sock_diag and /proc), auto (bpf when it loads here, else sock-diag)
    #[arg(long, value_name = "PATH", default_value = "auto", env = "NETKIT_TOP_ATTRIBUTION",
          value_parser = ["auto", "bpf", "sock-diag"])]
    pub attribution: String,
}

pub fn run(args: TopArgs) -> Result {
    // The screen needs a terminal: without one (cron, a pipe, ssh without -t) say the
    // way that works before anything is set up, rather than the OS's "No such device".
    if !args.json && !netkit_os::term::stdout_is_terminal() {
        return Err(Error::NoTerminal);
    }
    if args
        .container
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(Error::BadArgument(
            "--container needs a container name, id prefix or pod uid",
        ));
    }
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        return Err(Error::BadArgument(
            "--interval must be at least 0.05 seconds",
        ));
    }
    if args
        .write_seconds
        .is_some_and(|s| !(s.is_finite() && s > 0.0))
    {
        return Err(Error::BadArgument(
            "--write-seconds must be a positive number",
        ));
    }
    // Before any thread starts: the signals must be blocked in every thread.
    let signals = if args.json || args.write.is_some() {
        Some(signals::install(args.json)?)
    } else {
        None
    };
    let selection = Selection::from_options(args.netns.as_deref(), args.all_netns);
    let namespaces = netns::select(&selection)?;
    // Say everything that is missing at once, before any capture is tried.
    let mut wanted = vec![(Cap::NetRaw, "packet capture")];
    if !namespaces.iter().all(netns::is_current) {
        wanted.push((Cap::SysAdmin, "entering other namespaces"));
    }
    caps::require("top", &wanted)?;
    let write = args.write.clone().map(|path| WriteTarget {
        path,
        last_s: args.write_seconds,
    });
    let opts = MonitorOptions {
        interfaces: args.interfaces.clone(),
        snaplen: 0,
        resolve: args.resolve,
        all_netns: args.all_netns,
        ring_bytes: if write.is_some() {
            u64::from(args.write_ring_mb) << 20
        } else {
            0
        },
        attribution: match args.attribution.as_str() {
            "bpf" => AttributionChoice::Bpf,
            "sock-diag" => AttributionChoice::SockDiag,
            _ => AttributionChoice::Auto,
        },
        kernel_counts: false,
    };
    let monitor = Monitor::start(&namespaces, &opts)?;
    // Auto fell back: one line saying why (a missing capability, an old kernel) and
    // the path used instead.
    if let Some(why) = &monitor.fallback {
        eprintln!("top: {why}");
    }
    // Opened while the capabilities are still held; its thread keeps only what owner
    // lookups need.
    let findings = if args.findings {
        Some(findings::LiveFindings::start(
            &namespaces,
            &args.interfaces,
            args.all_netns,
        )?)
    } else {
        None
    };
    // Every capture is open and its threads have dropped what they no longer need;
    // this thread only draws or prints from here on.
    caps::keep_only(&[])?;
    let result = match (args.json, &signals) {
        (true, Some(signals)) => {
            let r = json_loop(&monitor, &args, write.as_ref(), signals);
            // The end of a --json run writes the ring, however it ended.
            if let Some(target) = &write {
                report_dump(&monitor, target);
            }
            r
        }
        _ => screen::run(
            &monitor,
            write.as_ref(),
            signals.as_deref(),
            args.units == "bits",
            findings.as_ref(),
            args.container.as_deref(),
        ),
    };
    drop(findings);
    monitor.stop();
    result
}

fn report_dump(monitor: &Monitor, target: &WriteTarget) {
    match monitor.dump(target) {
        Ok(summary) => eprintln!("top: {summary}"),
        Err(e) => eprintln!("top: {e}"),
    }
}

/// One JSON object per interval. Faults are told on stderr as they happen, once, and
/// in the next object's `warnings`; SIGUSR1 writes the `--write` ring; SIGINT and
/// SIGTERM end the run after printing the interval under way. When every capture has
/// stopped (each namespace deleted, each interface gone) the last object is printed
/// and the run fails: nothing is left to watch.
fn json_loop(
    monitor: &Monitor,
    args: &TopArgs,
    write: Option<&WriteTarget>,
    signals: &Flags,
) -> Result {
    let mut out = std::io::stdout().lock();
    let step = Duration::from_secs_f64(args.interval);
    let start = Instant::now();
    let mut n = 0u64;
    let mut notices_seen = 0;
    let mut dumps_seen = 0;
    let mut warnings = Vec::new();
    // NETKIT_TOP_STATS=1: table sizes on stderr every interval (bench/top-soak.sh).
    let stats = std::env::var_os("NETKIT_TOP_STATS").is_some();
    let mut drain = |warnings: &mut Vec<Notice>| {
        for notice in monitor.notices.since(&mut notices_seen) {
            eprintln!("top: {}", notice.message);
            if notice.is_warning() {
                warnings.push(notice);
            }
        }
    };
    while args.count.is_none_or(|c| n < c) {
        n += 1;
        // Deadlines from the start, so intervals do not drift by the work done.
        let deadline = start + step.mul_f64(n as f64);
        loop {
            drain(&mut warnings);
            if signals.take_dumps(&mut dumps_seen) > 0 {
                match write {
                    Some(target) => report_dump(monitor, target),
                    None => eprintln!("top: SIGUSR1: nothing to write without --write PATH"),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || signals.stop_requested() || monitor.active() == 0 {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
        let cut = monotonic_ns();
        // Give lookups already under way a moment to answer, so a flow's first bytes
        // are not shown as unattributed just because the interval ended first.
        let wait_until = Instant::now() + Duration::from_millis(200);
        loop {
            let pending = monitor
                .engine
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pending();
            if pending == 0 || Instant::now() >= wait_until {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drain(&mut warnings);
        let mut snapshot = {
            let mut e = monitor.engine.lock().unwrap_or_else(|e| e.into_inner());
            e.tick(cut);
            e.snapshot(cut, unix_ns())
        };
        snapshot.warnings = std::mem::take(&mut warnings);
        if let Some(c) = &args.container {
            snapshot.keep_container(c);
        }
        if stats {
            let e = monitor.engine.lock().unwrap_or_else(|e| e.into_inner());
            eprintln!("top: tables: {}", e.table_sizes());
        }
        write_json_line(&mut out, &snapshot)?;
        out.flush()?;
        if monitor.active() == 0 {
            return Err(Error::NothingLeftToWatch);
        }
        if signals.stop_requested() {
            break;
        }
    }
    Ok(())
}
