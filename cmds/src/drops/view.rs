//! `netkit drops`'s table: one per interval, biggest first, with the probe's counters
//! (map overflow, sampling) under it whenever they are not zero.

use super::report::{DropFlow, IntervalReport};
use crate::output::{plural, Table, Term};
use std::fmt::Write;

/// `10.0.0.1:5201 > 10.0.0.2:41234`, IPv6 in brackets; no ports for port-less protocols.
pub fn flow_text(f: &DropFlow) -> String {
    let end = |ip: &std::net::IpAddr, port: u16| match (ip, port) {
        (std::net::IpAddr::V6(a), 0) => a.to_string(),
        (std::net::IpAddr::V6(a), p) => format!("[{a}]:{p}"),
        (a, 0) => a.to_string(),
        (a, p) => format!("{a}:{p}"),
    };
    format!("{} > {}", end(&f.src, f.sport), end(&f.dst, f.dport))
}

fn rate_text(rate: f64) -> String {
    if rate >= 10.0 {
        format!("{rate:.0}/s")
    } else {
        format!("{rate:.1}/s")
    }
}

/// The table and its notes, as text (no trailing clear-screen).
pub fn render(report: &IntervalReport, term: &Term, max_rows: usize) -> String {
    let mut out = String::new();
    let p = &report.probe;
    let _ = writeln!(
        out,
        "{} in {:.1} s ({} since start)",
        plural(p.seen, "drop", "drops"),
        report.interval_s,
        p.total_seen
    );
    let mut table = Table::new([
        "NETNS", "IFACE", "REASON", "PROTO", "FLOW", "PROCESS", "RATE", "COUNT", "TOTAL",
    ])
    .droppable(["FLOW", "PROCESS", "TOTAL"]);
    for row in report.rows.iter().take(max_rows) {
        table.row(vec![
            row.netns.clone(),
            row.ifname.clone(),
            row.reason.clone(),
            row.protocol.clone(),
            row.flow
                .as_ref()
                .map(flow_text)
                .unwrap_or_else(|| "-".into()),
            row.process
                .as_ref()
                .map(|p| format!("{}/{}", p.pid, p.comm))
                .or_else(|| row.socket_inode.map(|i| format!("socket:[{i}]")))
                .unwrap_or_else(|| "-".into()),
            rate_text(row.rate),
            row.count.to_string(),
            row.total.to_string(),
        ]);
    }
    if table.is_empty() {
        out.push_str("no drops\n");
    } else {
        out.push_str(&table.render(term));
    }
    if report.rows.len() > max_rows {
        let _ = writeln!(out, "({} more rows)", report.rows.len() - max_rows);
    }
    if p.overflow > 0 {
        let _ = writeln!(
            out,
            "warning: {} not in the table: the kernel's map ({} keys) was full",
            plural(p.overflow, "drop", "drops"),
            p.max_keys
        );
    }
    if p.sampled_out > 0 {
        let _ = writeln!(
            out,
            "note: over {} drops/s per CPU, 1 in {} was parsed and counted {} times: \
             counts are estimates ({} not parsed this interval)",
            p.budget_per_cpu_per_sec, p.sample_every, p.sample_every, p.sampled_out
        );
    }
    if p.totals_forgotten > 0 {
        let _ = writeln!(
            out,
            "note: {} totals not kept (too many distinct rows)",
            p.totals_forgotten
        );
    }
    out
}
