//! Findings: what went wrong, most important first, each with the frames that show
//! it and a Wireshark display filter to open them.

use super::tcp::{endpoint_string, Side, StreamInfo};
use super::websocket::{Upgrade, Verdict};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    // Declared most severe first: sorting ascending puts errors on top.
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    pub summary: String,
    pub stream: Option<u32>,
    pub frames: Vec<u64>,
    pub wireshark_filter: String,
}

/// `frame.number in {a b c}` (Wireshark 3.x+ set syntax), or `tcp.stream eq N` when
/// the whole conversation is the point.
pub fn frames_filter(frames: &[u64]) -> String {
    match frames {
        [] => String::new(),
        [one] => format!("frame.number == {one}"),
        many => {
            let list: Vec<String> = many.iter().map(u64::to_string).collect();
            format!("frame.number in {{{}}}", list.join(" "))
        }
    }
}

fn upgrade_target(u: &Upgrade) -> String {
    match &u.host {
        Some(h) => format!("{} {} (Host {h})", u.method, u.path),
        None => format!("{} {}", u.method, u.path),
    }
}

fn stream_filter(u: &Upgrade, frames: &[u64]) -> String {
    match u.stream {
        Some(s) => format!("tcp.stream eq {s} && ({})", frames_filter(frames)),
        None => frames_filter(frames),
    }
}

/// Where a capture's TCP retransmissions are relative to one upgrade, so a finding can
/// put them in their place: the motivating capture had hundreds of retransmissions on
/// other connections hiding one rejected `GET /socket`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetransPlacement {
    /// In the whole capture.
    pub total: u64,
    /// On the upgrade's own connection.
    pub on_stream: u64,
    /// On its connection after the response (or the request, when unanswered).
    pub after_response: u64,
    /// How many other connections had any.
    pub other_streams: usize,
}

impl RetransPlacement {
    fn describe(&self) -> String {
        if self.total == 0 {
            return String::new();
        }
        let before = self.on_stream.saturating_sub(self.after_response);
        format!(
            "; of the capture's {} TCP retransmissions, {} are on this connection ({} before the answer, {} after) and {} on {} other connection(s)",
            self.total,
            self.on_stream,
            before,
            self.after_response,
            self.total.saturating_sub(self.on_stream),
            self.other_streams
        )
    }
}

/// Findings from WebSocket upgrades: every upgrade that did not end in a working
/// WebSocket session, and sessions closed with an error code. `placements` is aligned
/// with `upgrades`.
pub fn websocket(upgrades: &[Upgrade], placements: &[RetransPlacement], out: &mut Vec<Finding>) {
    for (i, u) in upgrades.iter().enumerate() {
        let placement = placements.get(i).copied().unwrap_or_default();
        let mut frames = vec![u.request_frame];
        frames.extend(u.response_frame);
        let after = |u: &Upgrade| -> String {
            let mut s = placement.describe();
            if let Some(f) = u.after.rst_frames.first() {
                s.push_str(&format!("; reset at frame {f}"));
            }
            s
        };
        let status = || {
            format!(
                "{} {}",
                u.status.unwrap_or(0),
                u.reason.clone().unwrap_or_default()
            )
            .trim_end()
            .to_string()
        };
        let ms = u
            .response_ms
            .map(|m| format!(" after {m:.1} ms"))
            .unwrap_or_default();
        let (severity, code, summary) = match u.verdict {
            Verdict::Accepted => {
                match u.close_code {
                    // 1000 normal and 1001 going away are clean endings.
                    Some(code) if code != 1000 && code != 1001 => (
                        Severity::Warning,
                        "websocket_closed_with_error",
                        format!(
                            "WebSocket {} from {} was accepted, then closed by the {} with code {code} ({}){}",
                            upgrade_target(u),
                            u.client,
                            u.close_by.as_deref().unwrap_or("peer"),
                            netkit_dissectors::app::websocket::close_code_name(code),
                            after(u)
                        ),
                    ),
                    _ => continue,
                }
            }
            Verdict::Rejected => (
                Severity::Error,
                "websocket_rejected",
                format!(
                    "WebSocket upgrade {} from {} rejected: {} from {}{ms} instead of {}{}",
                    upgrade_target(u),
                    u.client,
                    status(),
                    u.server,
                    // RFC 8441: over HTTP/2 a 2xx accepts the extended CONNECT.
                    match u.http2_stream {
                        Some(s) => format!("a 2xx on HTTP/2 stream {s}"),
                        None => "101 Switching Protocols".to_string(),
                    },
                    after(u)
                ),
            ),
            Verdict::BadAccept => (
                Severity::Error,
                "websocket_bad_accept",
                format!(
                    "WebSocket upgrade {} from {} got 101 from {} with a wrong Sec-WebSocket-Accept: the client must fail the connection ({}){}",
                    upgrade_target(u),
                    u.client,
                    u.server,
                    u.accept_problem.as_deref().unwrap_or("accept key mismatch"),
                    after(u)
                ),
            ),
            Verdict::Ignored => (
                Severity::Error,
                "websocket_ignored",
                format!(
                    "WebSocket upgrade {} from {} was ignored: {} from {}{ms}, the server answered as plain HTTP{}",
                    upgrade_target(u),
                    u.client,
                    status(),
                    u.server,
                    after(u)
                ),
            ),
            // Unanswered while the client kept trying (retransmissions) or the connection
            // was torn down is a failed upgrade; a capture that simply stopped first is
            // only worth a warning.
            Verdict::Unanswered => (
                if u.after.retransmissions > 0 || u.after.rst {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                "websocket_unanswered",
                format!(
                    "WebSocket upgrade {} from {} to {} got no response in the capture{}",
                    upgrade_target(u),
                    u.client,
                    u.server,
                    after(u)
                ),
            ),
        };
        out.push(Finding {
            severity,
            code,
            summary,
            stream: u.stream,
            wireshark_filter: stream_filter(u, &frames),
            frames,
        });
    }
}

/// How many streams of one kind a finding names individually before it summarises the
/// rest in one line (a scan with 10,000 unanswered SYNs is one finding, not 10,000).
const MAX_PER_KIND: usize = 5;

/// Findings from TCP streams: SYNs never answered, resets (late ones above all),
/// streams dominated by retransmission, zero-window stalls.
///
/// `summarised`: SYNs never answered among the streams whose summary the engine dropped
/// to bound memory, as (server, streams, SYN retries) — a scan is counted whole.
pub fn tcp(
    streams: &[StreamInfo],
    summarised: impl Iterator<Item = (super::tcp::Endpoint, u64, u64)>,
    out: &mut Vec<Finding>,
) {
    let stream_filter = |s: &StreamInfo| format!("tcp.stream eq {}", s.stream);
    let flag = |s: &StreamInfo, name: &str| -> u64 {
        super::tcp::FLAGS
            .iter()
            .position(|(n, _)| *n == name)
            .and_then(|i| s.flag_counts.get(i).copied())
            .unwrap_or(0)
    };

    // SYNs never answered, grouped by server so a scan or a dead backend is one line.
    type Unanswered<'a> = (Vec<&'a StreamInfo>, super::tcp::Endpoint, u64, u64);
    let mut unanswered: std::collections::BTreeMap<String, Unanswered> = Default::default();
    for s in streams {
        if s.unanswered_syn() {
            let e = unanswered
                .entry(endpoint_string(s.server))
                .or_insert_with(|| (Vec::new(), s.server, 0, 0));
            e.0.push(s);
            e.2 += 1;
            e.3 += u64::from(s.syn_retries);
        }
    }
    for (server, count, retries) in summarised {
        let e = unanswered
            .entry(endpoint_string(server))
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
            severity: Severity::Warning,
            code: "syn_unanswered",
            summary: format!(
                "{count} connection attempt(s) to {server} never answered ({retries} SYN retransmissions): no SYN-ACK, no reset"
            ),
            stream: list.first().map(|s| s.stream),
            wireshark_filter: match list.as_slice() {
                [one] if *count == 1 => stream_filter(one),
                _ => format!("tcp.flags.syn == 1 && tcp.flags.ack == 0 && {}", endpoint_filter(*endpoint)),
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
            Side::Client => endpoint_string(s.client),
            Side::Server => endpoint_string(s.server),
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
                endpoint_string(s.client),
                endpoint_string(s.server),
                r.frame
            )
        };
        out.push(Finding {
            severity: if late {
                Severity::Warning
            } else {
                Severity::Info
            },
            code: if late { "tcp_reset_late" } else { "tcp_reset" },
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
            severity: Severity::Info,
            code: "tcp_resets",
            summary: format!(
                "{resets} streams ended with a reset in all (the first {MAX_PER_KIND} are listed)"
            ),
            stream: None,
            frames: Vec::new(),
            wireshark_filter: "tcp.flags.reset == 1".to_string(),
        });
    }

    // Streams dominated by retransmission: at least 10 and at least a tenth of frames.
    let mut heavy: Vec<&StreamInfo> = streams
        .iter()
        .filter(|s| s.retransmissions() >= 10 && s.retransmissions() * 10 >= s.frames)
        .collect();
    heavy.sort_by_key(|s| std::cmp::Reverse(s.retransmissions()));
    for s in heavy.iter().take(MAX_PER_KIND) {
        out.push(Finding {
            severity: Severity::Warning,
            code: "tcp_retransmissions",
            summary: format!(
                "stream {} ({} -> {}): {} of {} frames are retransmissions ({:.0}%), {} duplicate ACKs",
                s.stream,
                endpoint_string(s.client),
                endpoint_string(s.server),
                s.retransmissions(),
                s.frames,
                s.retransmissions() as f64 * 100.0 / s.frames.max(1) as f64,
                flag(s, "duplicate_ack")
            ),
            stream: Some(s.stream),
            frames: s.retransmission_frames.iter().copied().take(20).collect(),
            wireshark_filter: format!("{} && tcp.analysis.retransmission", stream_filter(s)),
        });
    }

    // Zero-window stalls.
    for s in streams
        .iter()
        .filter(|s| flag(s, "zero_window") > 0)
        .take(MAX_PER_KIND)
    {
        out.push(Finding {
            severity: Severity::Warning,
            code: "tcp_zero_window",
            summary: format!(
                "stream {} ({} -> {}): a receiver advertised a zero window {} times ({} probes): the application stopped reading",
                s.stream,
                endpoint_string(s.client),
                endpoint_string(s.server),
                flag(s, "zero_window"),
                flag(s, "zero_window_probe")
            ),
            stream: Some(s.stream),
            frames: vec![s.first_frame],
            wireshark_filter: format!("{} && tcp.analysis.zero_window", stream_filter(s)),
        });
    }
}

fn endpoint_filter((ip, port): (std::net::IpAddr, u16)) -> String {
    let field = if ip.is_ipv4() { "ip.dst" } else { "ipv6.dst" };
    format!("{field} == {ip} && tcp.dstport == {port}")
}

/// Most important first: severity, then the earliest frame.
pub fn rank(findings: &mut [Finding]) {
    findings.sort_by_key(|f| (f.severity, f.frames.first().copied().unwrap_or(u64::MAX)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_use_wireshark_syntax() {
        assert_eq!(frames_filter(&[4]), "frame.number == 4");
        assert_eq!(frames_filter(&[4, 6]), "frame.number in {4 6}");
    }

    #[test]
    fn errors_rank_before_warnings_then_by_frame() {
        let f = |severity, frame| Finding {
            severity,
            code: "x",
            summary: String::new(),
            stream: None,
            frames: vec![frame],
            wireshark_filter: String::new(),
        };
        let mut v = vec![
            f(Severity::Info, 1),
            f(Severity::Warning, 2),
            f(Severity::Error, 9),
            f(Severity::Error, 3),
        ];
        rank(&mut v);
        let order: Vec<(Severity, u64)> = v.iter().map(|x| (x.severity, x.frames[0])).collect();
        assert_eq!(
            order,
            vec![
                (Severity::Error, 3),
                (Severity::Error, 9),
                (Severity::Warning, 2),
                (Severity::Info, 1)
            ]
        );
    }
}
