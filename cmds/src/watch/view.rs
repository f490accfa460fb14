//! `netkit watch` for people: one line per event as it happens, and a one-line
//! summary every few seconds.

use super::report::{Event, FindingEvent, Place, Process, Summary, UpgradeEvent};
use crate::output::{plural, Term};
use crate::pcap::analyze::sections::tcp::TcpFlag;
use crate::pcap::analyze::sections::websocket::Verdict;
use crate::pcap::analyze::view::severity;
use std::io::{self, Write};

fn place(p: &Place) -> String {
    match &p.vrf {
        Some(vrf) => format!("{} (VRF {vrf}) {}", p.netns, p.interface),
        None => format!("{} {}", p.netns, p.interface),
    }
}

fn process(p: &Option<Process>) -> String {
    match p {
        Some(p) => format!(" [pid {} {}]", p.pid, p.comm),
        None => String::new(),
    }
}

fn time_of(ts: &str) -> &str {
    // "2026-12-03T07:40:01.123456789Z" -> "07:40:01.123"
    ts.get(11..23).unwrap_or(ts)
}

pub fn write_event(out: &mut dyn Write, e: &Event, term: &Term) -> io::Result<()> {
    match e {
        Event::Upgrade(u) => write_upgrade(out, u),
        Event::Finding(f) => write_finding(out, f, term),
        Event::Summary(s) => write_summary(out, s),
    }
}

fn write_upgrade(out: &mut dyn Write, u: &UpgradeEvent) -> io::Result<()> {
    // Failed upgrades come with their finding, which says more; accepted ones get a
    // line of their own so a person sees the traffic is there.
    if u.verdict != Verdict::Accepted {
        return Ok(());
    }
    let ms = u
        .response_ms
        .map(|ms| format!(" in {ms:.1} ms"))
        .unwrap_or_default();
    writeln!(
        out,
        "{} {}  upgrade {} {} {} -> {} accepted{ms}{}",
        time_of(&u.ts),
        place(&u.place),
        u.method,
        u.path,
        u.client,
        u.server,
        process(&u.process)
    )
}

fn write_finding(out: &mut dyn Write, f: &FindingEvent, term: &Term) -> io::Result<()> {
    writeln!(
        out,
        "{} {}  {} {}{}: {}",
        time_of(&f.ts),
        place(&f.place),
        severity(term, f.severity),
        f.code,
        process(&f.process),
        f.summary
    )?;
    if !f.wireshark_filter.is_empty() {
        writeln!(out, "             wireshark: {}", f.wireshark_filter)?;
    }
    Ok(())
}

fn write_summary(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let w = &s.websocket;
    let dropped = s.dropped.kernel;
    writeln!(
        out,
        "{} {} {:.0} s: {}, {}, {} retransmissions; upgrades {} accepted, {} failed, {} pending; {}{}{}",
        time_of(&s.ts),
        if s.last { "total" } else { "so far" },
        s.elapsed_s,
        plural(s.frames, "frame", "frames"),
        plural(s.tcp.streams, "TCP stream", "TCP streams"),
        s.tcp.flags[TcpFlag::Retransmission],
        w.accepted,
        w.bad_accept + w.rejected + w.ignored + w.unanswered,
        w.pending,
        plural(s.findings, "finding", "findings"),
        if dropped > 0 {
            format!("; {} DROPPED before analysis", plural(dropped, "frame", "frames"))
        } else {
            String::new()
        },
        owners_clause(s)
    )
}

/// Which path names client processes and what its lookups found, so a reader of the
/// text knows whether a short-lived client could have been missed (sock-diag only
/// finds sockets still open).
fn owners_clause(s: &Summary) -> String {
    let o = &s.owners;
    let mut out = format!(
        "; client owners by {}: {} from BPF, {} from sock_diag, {} not found",
        s.attribution, o.bpf, o.sock_diag, o.not_found
    );
    let lost = o.evicted + o.kernel_evicted;
    if lost > 0 {
        out.push_str(&format!(", {lost} EVICTED before lookup"));
    }
    out
}
