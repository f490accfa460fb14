//! The human report of `pcap analyze`. It reads top down: what went wrong first, then
//! the evidence, then what the capture holds. (`--json` is the report itself.)

use super::findings::{Code, Severity};
use super::report::{ProblemKind, Report};
use super::sections::tcp::{Side, TcpFlag};
use crate::output::{paint, plural, Colour, Table, Term};
use std::io::{self, Write};

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

fn severity(term: &Term, s: Severity) -> String {
    let text = format!("{:<7}", s.as_str().to_uppercase());
    match s {
        Severity::Error => paint(term, Colour::Red, &text),
        Severity::Warning => paint(term, Colour::Yellow, &text),
        Severity::Info => paint(term, Colour::Cyan, &text),
    }
}

/// Writes the human report of one capture.
pub fn write(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    let c = &r.capture;
    writeln!(out, "{}", c.file)?;
    if r.findings.is_empty() {
        writeln!(out, "  no problems found")?;
    }
    for f in &r.findings {
        writeln!(out, "  {} {}", severity(term, f.severity), f.summary)?;
    }
    if !r.findings.is_empty() {
        writeln!(out, "\nOpen in Wireshark (display filters):")?;
        for f in &r.findings {
            writeln!(out, "  {:<28} {}", f.code, f.wireshark_filter)?;
        }
    }
    writeln!(
        out,
        "\nCapture: {} {}, {}, {} on the wire, {:.3} s{}",
        c.format,
        c.linktype,
        plural(c.frames, "frame", "frames"),
        plural(c.bytes, "byte", "bytes"),
        c.duration_s,
        match (&c.first_ts, &c.last_ts) {
            (Some(a), Some(b)) => format!(" ({a} .. {b})"),
            _ => String::new(),
        }
    )?;
    if let Some(first) = c.errors.iter().find(|e| e.kind == ProblemKind::Decode) {
        writeln!(
            out,
            "  {} not decode to the end (first: frame {}: {})",
            plural(c.malformed_frames, "frame did", "frames did"),
            first.frame,
            first.message
        )?;
    }
    write_tcp(out, r, term)?;
    write_websocket(out, r, term)?;
    write_fhrp(out, r, term)?;
    write_multicast(out, r, term)?;
    write_protocols(out, r, term)
}

fn write_tcp(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    let t = &r.tcp;
    if t.streams == 0 {
        return Ok(());
    }
    let f = |flag: TcpFlag| t.flags[flag];
    writeln!(
        out,
        "\nTCP: {}; {} ({} fast, {} spurious), {}, {} not captured, {} out of order, {}",
        plural(t.streams, "stream", "streams"),
        plural(
            f(TcpFlag::Retransmission),
            "retransmission",
            "retransmissions"
        ),
        f(TcpFlag::FastRetransmission),
        f(TcpFlag::SpuriousRetransmission),
        plural(f(TcpFlag::DuplicateAck), "duplicate ACK", "duplicate ACKs"),
        plural(
            f(TcpFlag::LostSegment),
            "previous segment",
            "previous segments"
        ),
        f(TcpFlag::OutOfOrder),
        plural(f(TcpFlag::ZeroWindow), "zero window", "zero windows")
    )?;
    if t.evicted_conversations > 0 || t.streams_summarised > 0 {
        writeln!(
            out,
            "  (memory bound: sequence state of {} evicted, so their later segments start new streams; {} counted but not detailed)",
            plural(t.evicted_conversations, "conversation", "conversations"),
            plural(t.streams_summarised, "stream", "streams")
        )?;
    }
    // The worst streams: the ones with trouble, most retransmissions first.
    let mut worst: Vec<_> = t
        .streams_detail
        .iter()
        .filter(|s| {
            s.flags[TcpFlag::Retransmission]
                + s.flags[TcpFlag::LostSegment]
                + s.flags[TcpFlag::ZeroWindow]
                > 0
                || !s.rst_frames.is_empty()
        })
        .collect();
    worst.sort_by_key(|s| std::cmp::Reverse(s.flags[TcpFlag::Retransmission]));
    if worst.is_empty() {
        return Ok(());
    }
    let mut table = Table::new([
        "stream", "client", "server", "frames", "retrans", "dup acks", "lost", "zero win",
        "rtt ms", "end",
    ]);
    for s in worst.iter().take(10) {
        table.row(vec![
            s.stream.to_string(),
            s.client.to_string(),
            s.server.to_string(),
            s.frames.to_string(),
            s.flags[TcpFlag::Retransmission].to_string(),
            s.flags[TcpFlag::DuplicateAck].to_string(),
            s.flags[TcpFlag::LostSegment].to_string(),
            s.flags[TcpFlag::ZeroWindow].to_string(),
            s.rtt_ms.map(|m| format!("{m:.1}")).unwrap_or_default(),
            match (s.rst_by, s.closed_cleanly) {
                (Some(Side::Client), _) => "RST by client".to_string(),
                (Some(Side::Server), _) => "RST by server".to_string(),
                (None, true) => "FIN".to_string(),
                (None, false) => "open".to_string(),
            },
        ]);
    }
    writeln!(out, "Worst streams ({} with trouble)", worst.len())?;
    writeln!(out, "{}", table.render(term))
}

fn write_websocket(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    if r.websocket.upgrades.is_empty() {
        return Ok(());
    }
    let mut table = Table::new([
        "request", "client", "server", "target", "status", "verdict", "ms", "messages", "close",
    ])
    .wrap_column(3);
    for u in &r.websocket.upgrades {
        table.row(vec![
            u.request_frame.to_string(),
            u.client.to_string(),
            u.server.to_string(),
            format!("{} {}", u.method, u.path),
            opt(&u.status),
            u.verdict.as_str().to_string(),
            u.response_ms.map(|m| format!("{m:.1}")).unwrap_or_default(),
            u.messages.to_string(),
            opt(&u.close_code),
        ]);
    }
    writeln!(out, "\nWebSocket upgrades")?;
    writeln!(out, "{}", table.render(term))
}

fn write_fhrp(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    if r.fhrp.groups.is_empty() {
        return Ok(());
    }
    let mut table = Table::new([
        "protocol",
        "group",
        "virtual ip",
        "virtual mac",
        "active",
        "standby",
        "changes",
    ]);
    for g in &r.fhrp.groups {
        table.row(vec![
            format!("{} {}", g.protocol, g.versions.join("/")),
            g.group_id.to_string(),
            g.virtual_ip.join(", "),
            g.virtual_mac
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            opt(&g.active),
            opt(&g.standby),
            g.state_changes.len().to_string(),
        ]);
    }
    writeln!(out, "\nFirst-hop redundancy groups")?;
    writeln!(out, "{}", table.render(term))
}

fn write_multicast(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    if r.multicast.groups.is_empty() {
        return Ok(());
    }
    let mut table = Table::new([
        "group", "mac", "frames", "senders", "joins", "leaves", "name",
    ]);
    for g in &r.multicast.groups {
        table.row(vec![
            g.group.clone(),
            g.mac.clone(),
            g.frames.to_string(),
            g.senders.len().to_string(),
            g.joins.to_string(),
            g.leaves.to_string(),
            g.name.unwrap_or_default().to_string(),
        ]);
    }
    writeln!(out, "\nMulticast groups")?;
    writeln!(out, "{}", table.render(term))?;
    for col in &r.multicast.collisions {
        writeln!(
            out,
            "  MAC collision {}: {}",
            col.mac,
            col.groups.join(", ")
        )?;
    }
    Ok(())
}

fn write_protocols(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    let total = r.capture.frames;
    let mut rows: Vec<(&str, u64)> = r
        .protocols
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(p, n)| (*p, *n))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut table = Table::new(["protocol", "frames", "share"]);
    for (p, n) in rows {
        table.row(vec![
            p.to_string(),
            n.to_string(),
            if total > 0 {
                format!("{:.1}%", n as f64 * 100.0 / total as f64)
            } else {
                String::new()
            },
        ]);
    }
    writeln!(out, "\nProtocols (frames carrying each, tunnels included)")?;
    writeln!(out, "{}", table.render(term))
}

/// `pcap analyze --list-findings`: every code with its severities and section, what
/// it means, and what to check next.
pub fn write_findings_list(out: &mut dyn Write) -> io::Result<()> {
    for (i, code) in Code::ALL.iter().enumerate() {
        let e = code.entry();
        if i > 0 {
            writeln!(out)?;
        }
        let severities: Vec<&str> = e.severities.iter().map(|s| s.as_str()).collect();
        writeln!(
            out,
            "{code}  ({}; section {})",
            severities.join(" or "),
            e.section
        )?;
        writeln!(out, "    {}", e.meaning)?;
        writeln!(out, "    check next: {}", e.next)?;
    }
    Ok(())
}
