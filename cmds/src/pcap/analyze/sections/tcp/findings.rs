//! Findings from TCP streams: SYNs never answered, resets (late ones above all),
//! streams dominated by retransmission, zero-window stalls.

use super::{Endpoint, Side, StreamInfo, TcpFlag};
use crate::output::plural;
use crate::pcap::analyze::findings::{group_key, Code, Finding, Severity};
use std::net::{IpAddr, SocketAddr};

/// How many streams of one kind a finding names individually before it summarises the
/// rest in one line (a scan with 10,000 unanswered SYNs is one finding, not 10,000).
const MAX_PER_KIND: usize = 5;

/// Fewest retransmissions that make a stream's share of them a finding.
const MIN_RETRANSMISSIONS: u64 = 3;

/// Findings from TCP streams: SYNs never answered, resets (late ones above all),
/// streams dominated by retransmission, zero-window stalls.
///
/// `summarised`: SYNs never answered among the streams whose summary the engine dropped
/// to bound memory, as (server, streams, SYN retries) — a scan is counted whole.
pub fn raise(
    streams: &[StreamInfo],
    summarised: impl Iterator<Item = (Endpoint, u64, u64)>,
    capture_end_ns: Option<i64>,
    out: &mut Vec<Finding>,
) {
    let stream_filter = |s: &StreamInfo| format!("tcp.stream eq {}", s.stream);

    // SYNs the end of the capture cut off: sent too recently to have been answered.
    let answer_due = AnswerDue::new(streams);
    let cut_off = |s: &StreamInfo| match (capture_end_ns, s.last_syn_ts_ns) {
        (Some(end), Some(syn)) => {
            s.unanswered_syn()
                && s.syn_retries == 0
                && end.saturating_sub(syn) < answer_due.within(s.server.0)
        }
        _ => false,
    };
    let cut: Vec<&StreamInfo> = streams.iter().filter(|s| cut_off(s)).collect();
    if let (Some(first), Some(end)) = (cut.first(), capture_end_ns) {
        let oldest_ns = cut
            .iter()
            .filter_map(|s| s.last_syn_ts_ns)
            .map(|t| end.saturating_sub(t))
            .max()
            .unwrap_or(0);
        let due_ns = cut
            .iter()
            .map(|s| answer_due.within(s.server.0))
            .min()
            .unwrap_or(SYN_RTO_NS);
        let servers: std::collections::BTreeSet<Endpoint> = cut.iter().map(|s| s.server).collect();
        out.push(Finding {
group: String::new(), ts_ns: None,
            severity: Severity::Info,
            code: Code::SynCutOff,
            summary: format!(
                "{} to {} sent in the last {:.2} s of the capture, before an answer was due (within {:.2} s on these paths): cut off by the end of the capture, not unanswered",
                plural(cut.len() as u64, "connection attempt", "connection attempts"),
                plural(servers.len() as u64, "server", "servers"),
                oldest_ns as f64 / 1e9,
                due_ns as f64 / 1e9
            ),
            stream: Some(first.stream),
            frames: cut
                .iter()
                .filter_map(|s| s.syn_frame)
                .take(MAX_PER_KIND * 4)
                .collect(),
            wireshark_filter: format!(
                "tcp.flags.syn == 1 && tcp.flags.ack == 0 && frame.number >= {}",
                first.syn_frame.unwrap_or(first.first_frame)
            ),
        });
    }

    // SYNs never answered, grouped by server so a scan or a dead backend is one line.
    type Unanswered<'a> = (Vec<&'a StreamInfo>, Endpoint, u64, u64);
    let mut unanswered: std::collections::BTreeMap<String, Unanswered> = Default::default();
    for s in streams {
        if s.unanswered_syn() && !cut_off(s) {
            let e = unanswered
                .entry(ep(s.server).to_string())
                .or_insert_with(|| (Vec::new(), s.server, 0, 0));
            e.0.push(s);
            e.2 += 1;
            e.3 += u64::from(s.syn_retries);
        }
    }
    for (server, count, retries) in summarised {
        let e = unanswered
            .entry(ep(server).to_string())
            .or_insert_with(|| (Vec::new(), server, 0, 0));
        e.2 += count;
        e.3 += retries;
    }
    for (server, (list, endpoint, count, retries)) in &unanswered {
        let frames: Vec<u64> = list
            .iter()
            .filter_map(|s| s.syn_frame)
            .take(MAX_PER_KIND * 4)
            .collect();
        out.push(Finding {
            group: String::new(),
            ts_ns: None,
            severity: Severity::Warning,
            code: Code::SynUnanswered,
            summary: format!(
                "{} to {server} never answered ({}): no SYN-ACK, no reset",
                plural(*count, "connection attempt", "connection attempts"),
                plural(*retries, "SYN retransmission", "SYN retransmissions")
            ),
            stream: list.first().map(|s| s.stream),
            wireshark_filter: match list.as_slice() {
                [one] if *count == 1 => stream_filter(one),
                _ => format!(
                    "tcp.flags.syn == 1 && tcp.flags.ack == 0 && {}",
                    endpoint_filter(*endpoint)
                ),
            },
            frames,
        });
    }

    // Resets. A reset far later than the path's round trip says something waited (a
    // timeout, a proxy, a middlebox) rather than refused at once.
    let mut resets = 0;
    for s in streams {
        let Some(r) = s.resets.first() else { continue };
        let rtt_ms = s.handshake_rtt_ns.map(|n| n as f64 / 1e6);
        let late = match (r.since_peer_ms, rtt_ms) {
            (Some(gap), Some(rtt)) => gap >= 200.0 && gap > 20.0 * rtt.max(0.1),
            _ => false,
        };
        resets += 1;
        if !late && resets > MAX_PER_KIND {
            continue;
        }
        let who = match r.by {
            Side::Client => ep(s.client),
            Side::Server => ep(s.server),
        };
        let role = if r.by == Side::Client {
            "client"
        } else {
            "server"
        };
        let summary = if late {
            format!(
                "stream {}: reset by the {role} {who} {:.0} ms after the peer last spoke, on a {:.1} ms path: something waited before giving up",
                s.stream,
                r.since_peer_ms.unwrap_or(0.0),
                rtt_ms.unwrap_or(0.0)
            )
        } else {
            format!(
                "stream {} ({} -> {}): reset by the {role} at frame {}",
                s.stream,
                ep(s.client),
                ep(s.server),
                r.frame
            )
        };
        let severity = if late {
            Severity::Warning
        } else {
            Severity::Info
        };
        let code = if late {
            Code::TcpResetLate
        } else {
            Code::TcpReset
        };
        // Connections to one server reset by the same side are one pattern (a proxy
        // or a server closing every connection that way), whatever their clients.
        let shared = if late {
            format!(
                "connections to {} reset by the {role} long after the peer last spoke: something waited before giving up",
                ep(s.server)
            )
        } else {
            format!("connections to {} reset by the {role}", ep(s.server))
        };
        out.push(Finding {
            group: group_key(severity, code, &shared),
            ts_ns: Some(r.ts_ns),
            severity: if late {
                Severity::Warning
            } else {
                Severity::Info
            },
            code: if late {
                Code::TcpResetLate
            } else {
                Code::TcpReset
            },
            summary,
            stream: Some(s.stream),
            frames: s
                .resets
                .iter()
                .map(|r| r.frame)
                .take(MAX_PER_KIND)
                .collect(),
            wireshark_filter: format!("{} && tcp.flags.reset == 1", stream_filter(s)),
        });
    }
    if resets > MAX_PER_KIND {
        out.push(Finding {
            group: String::new(),
            ts_ns: None,
            severity: Severity::Info,
            code: Code::TcpResets,
            summary: format!(
                "{resets} streams ended with a reset in all (the first {MAX_PER_KIND} are listed)"
            ),
            stream: None,
            frames: Vec::new(),
            wireshark_filter: "tcp.flags.reset == 1".to_string(),
        });
    }

    // Streams stalled on the retransmission timer: an error whatever their size, since
    // the sender waited longer each time and the application with it.
    let mut stalled: Vec<&StreamInfo> =
        streams.iter().filter(|s| s.rto_backoff.is_some()).collect();
    stalled
        .sort_by_key(|s| std::cmp::Reverse(s.rto_backoff.as_ref().map_or(0, |r| r.stalled_ns())));
    for s in stalled.iter().take(MAX_PER_KIND) {
        let Some(run) = &s.rto_backoff else { continue };
        let who = match run.by {
            Side::Client => "client",
            Side::Server => "server",
        };
        let gaps: Vec<String> = run
            .gaps_ns
            .iter()
            .map(|g| format!("{:.3}", *g as f64 / 1e9))
            .collect();
        out.push(Finding {
group: String::new(), ts_ns: None,
            severity: Severity::Error,
            code: Code::TcpRtoBackoff,
            summary: format!(
                "stream {} ({} -> {}): the {who} sent one segment {} more times, waiting longer each time ({} s): stalled {:.1} s on the retransmission timer; {} of {} frames are retransmissions",
                s.stream,
                ep(s.client),
                ep(s.server),
                run.resends,
                gaps.join(", "),
                run.stalled_ns() as f64 / 1e9,
                s.retransmissions(),
                s.frames
            ),
            stream: Some(s.stream),
            frames: run.frames.clone(),
            wireshark_filter: format!("{} && tcp.analysis.retransmission", stream_filter(s)),
        });
    }

    // Streams dominated by retransmission: at least a tenth of their frames, and at
    // least 3 so one unlucky segment on a short stream is not a finding. Judged by
    // share, not count: 5 retransmissions in 6 frames is worse than 50 in 100,000.
    let mut heavy: Vec<&StreamInfo> = streams
        .iter()
        .filter(|s| {
            s.rto_backoff.is_none()
                && s.retransmissions() >= MIN_RETRANSMISSIONS
                && s.retransmissions() * 10 >= s.frames
        })
        .collect();
    heavy.sort_by_key(|s| std::cmp::Reverse(s.retransmissions()));
    for s in heavy.iter().take(MAX_PER_KIND) {
        out.push(Finding {
group: String::new(), ts_ns: None,
            severity: Severity::Warning,
            code: Code::TcpRetransmissions,
            summary: format!(
                "stream {} ({} -> {}): {} of {} frames are retransmissions ({:.0}%), {} duplicate ACKs",
                s.stream,
                ep(s.client),
                ep(s.server),
                s.retransmissions(),
                s.frames,
                s.retransmissions() as f64 * 100.0 / s.frames.max(1) as f64,
                s.flag_counts[TcpFlag::DuplicateAck]
            ),
            stream: Some(s.stream),
            frames: s.retransmission_frames.iter().copied().take(20).collect(),
            wireshark_filter: format!("{} && tcp.analysis.retransmission", stream_filter(s)),
        });
    }

    // Zero-window stalls.
    for s in streams
        .iter()
        .filter(|s| s.flag_counts[TcpFlag::ZeroWindow] > 0)
        .take(MAX_PER_KIND)
    {
        out.push(Finding {
group: String::new(), ts_ns: None,
            severity: Severity::Warning,
            code: Code::TcpZeroWindow,
            summary: format!(
                "stream {} ({} -> {}): a receiver advertised a zero window {} times ({} probes): the application stopped reading",
                s.stream,
                ep(s.client),
                ep(s.server),
                s.flag_counts[TcpFlag::ZeroWindow],
                s.flag_counts[TcpFlag::ZeroWindowProbe]
            ),
            stream: Some(s.stream),
            frames: vec![s.first_frame],
            wireshark_filter: format!("{} && tcp.analysis.zero_window", stream_filter(s)),
        });
    }
}

/// The initial SYN retransmission timeout (RFC 6298 2.1; Linux and Windows alike): a
/// SYN younger than this has not even been retried yet.
const SYN_RTO_NS: i64 = 1_000_000_000;

/// Handshake round trips a SYN-ACK may take before a SYN is taken as unanswered.
const RTTS_BEFORE_UNANSWERED: i64 = 3;

/// How long after a SYN its answer could still come: a few of the handshake round
/// trips seen to the same server (else the slowest seen in the capture), and at least
/// the SYN retransmission timeout.
struct AnswerDue {
    slowest_to: std::collections::HashMap<IpAddr, i64>,
    slowest: i64,
}

impl AnswerDue {
    fn new(streams: &[StreamInfo]) -> Self {
        let mut slowest_to = std::collections::HashMap::new();
        let mut slowest = 0;
        for s in streams {
            if let Some(rtt) = s.handshake_rtt_ns {
                let e = slowest_to.entry(s.server.0).or_insert(0);
                *e = rtt.max(*e);
                slowest = slowest.max(rtt);
            }
        }
        AnswerDue {
            slowest_to,
            slowest,
        }
    }

    fn within(&self, server: IpAddr) -> i64 {
        let rtt = self
            .slowest_to
            .get(&server)
            .copied()
            .unwrap_or(self.slowest);
        (rtt.saturating_mul(RTTS_BEFORE_UNANSWERED)).max(SYN_RTO_NS)
    }
}

/// `ip:port` as every report line writes it.
fn ep(e: Endpoint) -> SocketAddr {
    SocketAddr::from(e)
}

fn endpoint_filter((ip, port): Endpoint) -> String {
    let field = if ip.is_ipv4() { "ip.dst" } else { "ipv6.dst" };
    format!("{field} == {ip} && tcp.dstport == {port}")
}
