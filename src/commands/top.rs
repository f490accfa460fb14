//! `netkit top`: live traffic by process and remote host, per namespace.

use crate::commands::{CmdError, CmdResult};
use clap::Args;
use netkit_cmds::caps::{self, Cap};
use netkit_cmds::netns::{self, Selection};
use netkit_cmds::output::write_json_line;
use netkit_cmds::top::{self, monotonic_ns, unix_ns, Monitor, MonitorOptions};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Count only this interface (repeatable); default: every interface
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// Watch this namespace (name, path, pid:N, host) instead of netkit's own
    #[arg(long, value_name = "NS", conflicts_with = "all_netns")]
    pub netns: Option<String>,
    /// Watch the host and every namespace
    #[arg(long)]
    pub all_netns: bool,
    /// Print one JSON object per interval instead of the screen
    #[arg(long)]
    pub json: bool,
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
}

pub fn run(args: TopArgs) -> CmdResult {
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        return Err(CmdError::Failed(
            "--interval must be at least 0.05 seconds".to_string(),
        ));
    }
    let selection = match (&args.netns, args.all_netns) {
        (_, true) => Selection::All,
        (Some(ns), false) => Selection::One(ns.clone()),
        (None, false) => Selection::Current,
    };
    let namespaces = netns::select(&selection)?;
    // Say everything that is missing at once, before any capture is tried.
    let mut wanted = vec![(Cap::NetRaw, "packet capture")];
    if !namespaces.iter().all(netns::is_current) {
        wanted.push((Cap::SysAdmin, "entering other namespaces"));
    }
    caps::require("top", &wanted)?;
    let opts = MonitorOptions {
        interfaces: args.interfaces.clone(),
        snaplen: 0,
        resolve: args.resolve,
    };
    let monitor = Monitor::start(&namespaces, &opts)?;
    // Every capture is open and its threads have dropped what they no longer need;
    // this thread only draws or prints from here on.
    caps::keep_only(&[])?;
    let result = if args.json {
        json_loop(&monitor, args.interval, args.count)
    } else {
        top::tui::run(monitor.engine.clone(), monitor.errors.clone()).map_err(CmdError::Failed)
    };
    monitor.stop();
    result
}

fn json_loop(monitor: &Monitor, interval: f64, count: Option<u64>) -> CmdResult {
    let mut out = std::io::stdout().lock();
    let step = Duration::from_secs_f64(interval);
    let start = Instant::now();
    let mut n = 0u64;
    while count.is_none_or(|c| n < c) {
        n += 1;
        // Deadlines from the start, so intervals do not drift by the work done.
        let deadline = start + step.mul_f64(n as f64);
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
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
        if let Some(e) = monitor
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first()
        {
            return Err(CmdError::Failed(e.clone()));
        }
        let snapshot = {
            let mut e = monitor.engine.lock().unwrap_or_else(|e| e.into_inner());
            e.tick(cut);
            e.snapshot(cut, unix_ns())
        };
        write_json_line(&mut out, &snapshot)?;
        out.flush()?;
    }
    Ok(())
}
