//! Findings: what went wrong, most important first, each with the frames that show
//! it and a Wireshark display filter to open them.

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

/// Findings from WebSocket upgrades: every upgrade that did not end in a working
/// WebSocket session, and sessions closed with an error code.
pub fn websocket(upgrades: &[Upgrade], out: &mut Vec<Finding>) {
    for u in upgrades {
        let mut frames = vec![u.request_frame];
        frames.extend(u.response_frame);
        let after = |u: &Upgrade| -> String {
            let mut s = String::new();
            if u.after.retransmissions > 0 {
                s.push_str(&format!(
                    "; {} TCP retransmissions on this connection after it",
                    u.after.retransmissions
                ));
            }
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
                    "WebSocket upgrade {} from {} rejected: {} from {}{ms} instead of 101 Switching Protocols{}",
                    upgrade_target(u),
                    u.client,
                    status(),
                    u.server,
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
            Verdict::Unanswered => (
                Severity::Warning,
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
