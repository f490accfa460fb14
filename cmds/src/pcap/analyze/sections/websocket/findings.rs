//! Findings from WebSocket upgrades: every upgrade that did not end in a working
//! WebSocket session, and sessions closed with an error code. Raised by `joins.rs`,
//! because where the capture's retransmissions are relative to an upgrade comes from
//! the TCP section.

use super::{Upgrade, Verdict};
use crate::output::plural;
use crate::pcap::analyze::findings::{frames_filter, group_key, Code, Finding, Severity};

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
            "; of the capture's {} TCP retransmissions, {} are on this connection ({} before the answer, {} after) and {} on {}",
            self.total,
            self.on_stream,
            before,
            self.after_response,
            self.total.saturating_sub(self.on_stream),
            plural(self.other_streams as u64, "other connection", "other connections")
        )
    }
}

/// Findings from WebSocket upgrades: every upgrade that did not end in a working
/// WebSocket session, and sessions closed with an error code. `placements` is aligned
/// with `upgrades`.
pub fn raise(upgrades: &[Upgrade], placements: &[RetransPlacement], out: &mut Vec<Finding>) {
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
        // RFC 8441: over HTTP/2 a 2xx accepts the extended CONNECT.
        let expected = match u.http2_stream {
            Some(s) => format!("a 2xx on HTTP/2 stream {s}"),
            None => "101 Switching Protocols".to_string(),
        };
        let ms = u
            .response_ms
            .map(|m| format!(" after {m:.1} ms"))
            .unwrap_or_default();
        // `shared`: what another upgrade failing the same way has in common with this
        // one (not the client, its port, the timing or the retransmissions around it).
        let (severity, code, summary, shared) = match u.verdict {
            Verdict::Accepted => {
                match u.close_code {
                    // 1000 normal and 1001 going away are clean endings.
                    Some(code) if code != 1000 && code != 1001 => (
                        Severity::Warning,
                        Code::WebsocketClosedWithError,
                        format!(
                            "WebSocket {} from {} was accepted, then closed by the {} with code {code} ({}){}",
                            upgrade_target(u),
                            u.client,
                            u.close_by.as_deref().unwrap_or("peer"),
                            netkit_dissectors::app::websocket::close_code_name(code),
                            after(u)
                        ),
                        format!(
                            "WebSocket {} to {} was accepted, then closed by the {} with code {code} ({})",
                            upgrade_target(u),
                            u.server,
                            u.close_by.as_deref().unwrap_or("peer"),
                            netkit_dissectors::app::websocket::close_code_name(code),
                        ),
                    ),
                    _ => continue,
                }
            }
            Verdict::Rejected => (
                Severity::Error,
                Code::WebsocketRejected,
                format!(
                    "WebSocket upgrade {} from {} rejected: {} from {}{ms} instead of {}{}",
                    upgrade_target(u),
                    u.client,
                    status(),
                    u.server,
                    expected,
                    after(u)
                ),
                format!(
                    "WebSocket upgrade {} to {} rejected: {} instead of {}",
                    upgrade_target(u),
                    u.server,
                    status(),
                    if u.http2_stream.is_some() {
                        "a 2xx"
                    } else {
                        expected.as_str()
                    }
                ),
            ),
            Verdict::BadAccept => (
                Severity::Error,
                Code::WebsocketBadAccept,
                format!(
                    "WebSocket upgrade {} from {} got 101 from {} with a wrong Sec-WebSocket-Accept: the client must fail the connection ({}){}",
                    upgrade_target(u),
                    u.client,
                    u.server,
                    u.accept_problem.as_deref().unwrap_or("accept key mismatch"),
                    after(u)
                ),
                format!(
                    "WebSocket upgrade {} got 101 from {} with a wrong Sec-WebSocket-Accept ({})",
                    upgrade_target(u),
                    u.server,
                    u.accept_problem.as_deref().unwrap_or("accept key mismatch"),
                ),
            ),
            Verdict::Ignored => (
                Severity::Error,
                Code::WebsocketIgnored,
                format!(
                    "WebSocket upgrade {} from {} was ignored: {} from {}{ms}, the server answered as plain HTTP{}",
                    upgrade_target(u),
                    u.client,
                    status(),
                    u.server,
                    after(u)
                ),
                format!(
                    "WebSocket upgrade {} was ignored: {} from {}, the server answered as plain HTTP",
                    upgrade_target(u),
                    status(),
                    u.server,
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
                Code::WebsocketUnanswered,
                format!(
                    "WebSocket upgrade {} from {} to {} got no response in the capture{}",
                    upgrade_target(u),
                    u.client,
                    u.server,
                    after(u)
                ),
                format!(
                    "WebSocket upgrade {} to {} got no response in the capture",
                    upgrade_target(u),
                    u.server,
                ),
            ),
        };
        out.push(Finding {
            group: group_key(severity, code, &shared),
            ts_ns: Some(u.request_ts_ns()),
            severity,
            code,
            summary,
            stream: u.stream,
            wireshark_filter: stream_filter(u, &frames),
            frames,
        });
    }
}
