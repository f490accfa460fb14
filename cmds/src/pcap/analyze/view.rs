//! The human report of `pcap analyze`. It reads top down: what went wrong first, then
//! the evidence, then what the capture holds. (`--json` is the report itself.)

use super::findings::{group_text, Code, Finding, Severity};
use super::report::{ProblemKind, Report};
use super::sections::tcp::{Side, StreamDetail, TcpFlag};
use crate::output::{paint, plural, Colour, Table, Term};
use std::io::{self, Write};

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// The severity as a coloured, padded label (`ERROR  `), as every finding line starts.
pub fn severity(term: &Term, s: Severity) -> String {
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
        // "No problems" only when no section below shows trouble either.
        match troubled_streams(r).len() {
            0 => writeln!(out, "  no problems found")?,
            n => writeln!(
                out,
                "  no finding raised, but {} trouble: see Worst streams below",
                plural(n as u64, "TCP stream shows", "TCP streams show")
            )?,
        }
    }
    let groups = group_findings(&r.findings);
    for g in &groups {
        match g.as_slice() {
            [one] => writeln!(out, "  {} {}", severity(term, one.severity), one.summary)?,
            many => writeln!(
                out,
                "  {} {} ({})",
                severity(term, many[0].severity),
                group_text(&many[0].group),
                repeats(many, c.first_ts_ns)
            )?,
        }
    }
    if !r.findings.is_empty() {
        writeln!(out, "\nOpen in Wireshark (display filters):")?;
        for g in &groups {
            writeln!(out, "  {:<28} {}", g[0].code, group_filter(g))?;
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
    if let (Some(first), Some(last)) = (c.files.first(), c.files.last()) {
        writeln!(
            out,
            "  {} merged by time stamp ({first} .. {last})",
            plural(c.files.len() as u64, "file", "files")
        )?;
    }
    if !c.unreadable_files.is_empty() {
        writeln!(
            out,
            "  {} could not be read (named on stderr)",
            plural(c.unreadable_files.len() as u64, "file", "files")
        )?;
    }
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
    write_tcp_frames(out, r)?;
    write_websocket(out, r, term)?;
    write_tls(out, r, term)?;
    write_fhrp(out, r, term)?;
    write_multicast(out, r, term)?;
    write_tunnels(out, r, term)?;
    write_paths(out, r, term)?;
    write_protocols(out, r, term)
}

/// The findings, alike ones together (same group), in the order of each group's
/// first: with thousands of identical rejections the report stays readable.
fn group_findings(findings: &[Finding]) -> Vec<Vec<&Finding>> {
    let mut groups: Vec<Vec<&Finding>> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = Default::default();
    for f in findings {
        match index.get(f.group.as_str()) {
            Some(&i) => groups[i].push(f),
            None => {
                index.insert(&f.group, groups.len());
                groups.push(vec![f]);
            }
        }
    }
    groups
}

/// Streams named in a group's line before the rest are only counted.
const GROUP_STREAMS_SHOWN: usize = 3;
/// Streams a group's Wireshark filter lists at most.
const GROUP_FILTER_STREAMS: usize = 100;

/// "6 times: streams 3,5,9 … +3; first 1.162 s, last 1.412 s" (times since the
/// capture's first frame, as `pcap show` prints them).
fn repeats(group: &[&Finding], capture_start: Option<i64>) -> String {
    let mut s = format!("{} times", group.len());
    let streams = group_streams(group);
    if !streams.is_empty() {
        let shown: Vec<String> = streams
            .iter()
            .take(if streams.len() > GROUP_STREAMS_SHOWN + 1 {
                GROUP_STREAMS_SHOWN
            } else {
                streams.len()
            })
            .map(u32::to_string)
            .collect();
        let rest = streams.len() - shown.len();
        s.push_str(&format!(
            ": {} {}",
            if streams.len() == 1 {
                "stream"
            } else {
                "streams"
            },
            shown.join(",")
        ));
        if rest > 0 {
            s.push_str(&format!(" … +{rest}"));
        }
    }
    let times: Vec<i64> = group.iter().filter_map(|f| f.ts_ns).collect();
    if let (Some(start), Some(first), Some(last)) =
        (capture_start, times.iter().min(), times.iter().max())
    {
        let at = |t: i64| t.saturating_sub(start) as f64 / 1e9;
        s.push_str(&format!(
            "; first {:.3} s, last {:.3} s",
            at(*first),
            at(*last)
        ));
    }
    s
}

/// The distinct streams of a group, in order.
fn group_streams(group: &[&Finding]) -> Vec<u32> {
    let mut streams: Vec<u32> = group.iter().filter_map(|f| f.stream).collect();
    streams.sort_unstable();
    streams.dedup();
    streams
}

/// One display filter for a group: its streams (`tcp.stream in {..}`) when each of
/// its findings names one, else the first finding's filter.
fn group_filter(group: &[&Finding]) -> String {
    let streams = group_streams(group);
    if group.len() == 1 || streams.is_empty() || group.iter().any(|f| f.stream.is_none()) {
        return group[0].wireshark_filter.clone();
    }
    let listed: Vec<String> = streams
        .iter()
        .take(GROUP_FILTER_STREAMS)
        .map(u32::to_string)
        .collect();
    let cut = if streams.len() > GROUP_FILTER_STREAMS {
        format!(
            "  (the first {GROUP_FILTER_STREAMS} of {} streams)",
            streams.len()
        )
    } else {
        String::new()
    };
    format!("tcp.stream in {{{}}}{cut}", listed.join(" "))
}

/// Frame numbers listed per line, beyond which a list is cut with a count.
const FRAMES_SHOWN: usize = 40;

fn frame_list(frames: &[u64]) -> String {
    let mut s: Vec<String> = frames
        .iter()
        .take(FRAMES_SHOWN)
        .map(u64::to_string)
        .collect();
    if frames.len() > FRAMES_SHOWN {
        s.push(format!("... and {} more", frames.len() - FRAMES_SHOWN));
    }
    s.join(" ")
}

/// `--frames`: the frames behind each TCP analysis flag.
fn write_tcp_frames(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let Some(lists) = &r.tcp.flagged_frames else {
        return Ok(());
    };
    let flagged: Vec<TcpFlag> = TcpFlag::ALL
        .into_iter()
        .filter(|f| !lists[*f].is_empty())
        .collect();
    if flagged.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nTCP analysis flags, frame by frame (tcp.analysis.*)")?;
    for f in flagged {
        writeln!(out, "  {:<24} {}", f.name(), frame_list(&lists[f]))?;
    }
    Ok(())
}

fn write_tunnels(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    let t = &r.tunnels;
    if t.outer_flows.is_empty() {
        return Ok(());
    }
    let mut table = Table::new([
        "tunnel",
        "id",
        "outer flow",
        "frames",
        "inner flows",
        "overhead",
        "largest inner",
    ]);
    for f in t.outer_flows.iter().take(10) {
        table.row(vec![
            f.kind.to_string(),
            opt(&f.id),
            f.outer.clone(),
            f.frames.to_string(),
            f.inner_flows
                .map_or("encrypted".to_string(), |n| n.to_string()),
            f.overhead_bytes
                .map(|b| format!("{b} B"))
                .unwrap_or_default(),
            opt(&f.largest_inner),
        ]);
    }
    writeln!(
        out,
        "\nTunnels ({} outer flows{})",
        t.outer_flows.len(),
        if t.outer_flows.len() > 10 {
            ", the first 10"
        } else {
            ""
        }
    )?;
    writeln!(out, "{}", table.render(term))?;
    for p in &t.ecmp {
        writeln!(
            out,
            "  {} ({}): {} inner flows over {} outer flows per direction{}",
            p.endpoints,
            p.kinds.join("/"),
            p.inner_flows,
            p.outer_flows_per_direction,
            p.source_ports
                .map(|n| format!(", {n} outer source ports"))
                .unwrap_or_default()
        )?;
    }
    if t.truncated {
        writeln!(out, "  (memory bound reached: some flows were not tracked)")?;
    }
    Ok(())
}

fn write_paths(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    let p = &r.paths;
    let m = &p.mtu;
    let said = !m.icmp.is_empty()
        || m.fragments.fragments > 0
        || !m.df_too_big_frames.is_empty()
        || !m.tcp.is_empty()
        || !p.traceroutes.is_empty();
    if !said {
        return Ok(());
    }
    writeln!(out, "\nPaths")?;
    for i in &m.icmp {
        writeln!(
            out,
            "  frame {}: router {} reported MTU {}{}",
            i.frame,
            i.router,
            i.mtu,
            match (&i.packet_src, &i.packet_dst) {
                (Some(s), Some(d)) => format!(" for {s} -> {d}"),
                _ => String::new(),
            }
        )?;
    }
    let f = &m.fragments;
    if f.fragments > 0 {
        writeln!(
            out,
            "  {} fragments of {} packets; {} sets incomplete{}",
            f.fragments,
            f.fragmented_packets,
            f.incomplete,
            if f.incomplete_frames.is_empty() {
                String::new()
            } else {
                format!(" (frames {})", frame_list(&f.incomplete_frames))
            }
        )?;
    }
    if !m.df_too_big_frames.is_empty() {
        writeln!(
            out,
            "  DF packets larger than a reported MTU: frames {}",
            frame_list(&m.df_too_big_frames)
        )?;
    }
    if !m.tcp.is_empty() {
        let mut table = Table::new([
            "tcp flow",
            "mss",
            "largest segment",
            "tunnel",
            "on path",
            "beyond mss",
            "large retrans",
        ]);
        let pair = |a: String, b: String| format!("{a}/{b}");
        for t in &m.tcp {
            table.row(vec![
                t.flow.clone(),
                pair(opt(&t.mss[0]), opt(&t.mss[1])),
                pair(
                    t.largest_segment[0].to_string(),
                    t.largest_segment[1].to_string(),
                ),
                t.tunnel_overhead.to_string(),
                t.largest_on_path.to_string(),
                (t.beyond_mss_segments[0] + t.beyond_mss_segments[1]).to_string(),
                t.large_retransmissions.to_string(),
            ]);
        }
        writeln!(out, "{}", table.render(term))?;
    }
    for tr in &p.traceroutes {
        writeln!(out, "  traceroute {} -> {}", tr.source, tr.destination)?;
        for h in &tr.hops {
            let labels: Vec<String> = h.mpls.iter().map(|l| format!("L={}", l.label)).collect();
            writeln!(
                out,
                "    {:>3}  {:<40} {}{}",
                h.ttl.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
                h.router,
                h.rtt_ms.map(|m| format!("{m:.1} ms")).unwrap_or_default(),
                if labels.is_empty() {
                    String::new()
                } else {
                    format!("  MPLS {}", labels.join(" "))
                }
            )?;
        }
    }
    Ok(())
}

/// The TCP streams with retransmissions, segments not captured, zero windows or resets.
fn troubled_streams(r: &Report) -> Vec<&StreamDetail> {
    r.tcp
        .streams_detail
        .iter()
        .filter(|s| {
            s.flags[TcpFlag::Retransmission]
                + s.flags[TcpFlag::LostSegment]
                + s.flags[TcpFlag::ZeroWindow]
                > 0
                || !s.rst_frames.is_empty()
        })
        .collect()
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
    let mut worst = troubled_streams(r);
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

fn write_tls(out: &mut dyn Write, r: &Report, term: &Term) -> io::Result<()> {
    let t = &r.tls;
    if t.connections.is_empty() {
        return Ok(());
    }
    let mut table = Table::new([
        "hello", "client", "server", "sni", "version", "cipher", "alpn", "rtt ms", "state",
        "alerts",
    ])
    .wrap_column(5);
    for c in &t.connections {
        let alpn = match (&c.alpn, c.alpn_offered.is_empty()) {
            (Some(a), _) => a.clone(),
            (None, false) => format!("({})", c.alpn_offered.join(",")),
            (None, true) => String::new(),
        };
        let state = if c.completed {
            match c.resumption {
                "none" => "done".to_string(),
                how => format!("resumed ({how})"),
            }
        } else {
            "incomplete".to_string()
        };
        let alerts: Vec<String> = c
            .alerts
            .iter()
            .map(|a| format!("{} {} {}", a.from, a.level, a.description))
            .collect();
        table.row(vec![
            opt(&c.client_hello_frame.or(c.server_hello_frame)),
            c.client.to_string(),
            c.server.to_string(),
            opt(&c.sni),
            opt(&c.version),
            opt(&c.cipher_suite),
            alpn,
            c.handshake_rtt_ms
                .map(|m| format!("{m:.1}"))
                .unwrap_or_default(),
            state,
            alerts.join("; "),
        ]);
    }
    writeln!(out, "\nTLS connections")?;
    writeln!(out, "{}", table.render(term))?;
    if t.untracked_connections > 0 || t.reassembly_overflows > 0 {
        writeln!(
            out,
            "  not followed: {} (table full); reassembly holes given up: {}",
            plural(t.untracked_connections, "connection", "connections"),
            t.reassembly_overflows
        )?;
    }
    Ok(())
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
    writeln!(out, "{}", table.render(term))?;
    // The changes themselves: a takeover is the line people look for.
    for g in &r.fhrp.groups {
        let mut active: Option<&str> = None;
        for c in &g.state_changes {
            let leads = matches!(c.to.as_str(), "Active" | "Master");
            let takeover = match active {
                Some(before) if leads && before != c.router => {
                    format!(" (takes over from {before})")
                }
                _ => String::new(),
            };
            if leads {
                active = Some(&c.router);
            }
            writeln!(
                out,
                "  frame {}: {} group {}: {} {}{}{takeover}",
                c.frame,
                g.protocol,
                g.group_id,
                c.router,
                c.from
                    .as_ref()
                    .map(|f| format!("{f} -> "))
                    .unwrap_or_default(),
                c.to
            )?;
        }
        for a in &g.gratuitous_arps {
            writeln!(
                out,
                "  frame {}: {} group {}: gratuitous ARP {} is-at {}",
                a.frame, g.protocol, g.group_id, a.ip, a.mac
            )?;
        }
    }
    Ok(())
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
    for g in &r.multicast.groups {
        if !g.pim_joined_sources.is_empty() {
            writeln!(
                out,
                "  {}: PIM joins {}",
                g.group,
                g.pim_joined_sources.join(", ")
            )?;
        }
        if !g.pim_pruned_sources.is_empty() {
            writeln!(
                out,
                "  {}: PIM prunes {}",
                g.group,
                g.pim_pruned_sources.join(", ")
            )?;
        }
    }
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
