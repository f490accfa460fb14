//! Findings from TLS handshakes seen without keys: fatal alerts, handshakes that never
//! complete, an ALPN the client never offered, and a TLS 1.2 certificate that is
//! expired or does not name the server asked for.

use super::{TlsConn, TlsSection};
use crate::pcap::analyze::findings::{frames_filter, group_key, Code, Finding, Severity};

/// A handshake younger than this at the capture's end may simply be cut off.
const CUT_OFF_NS: i64 = 1_000_000_000;

fn filter(c: &TlsConn, frames: &[u64]) -> String {
    match c.stream {
        Some(s) => format!("tcp.stream eq {s} && ({})", frames_filter(frames)),
        None => frames_filter(frames),
    }
}

fn server_name(c: &TlsConn) -> String {
    match &c.sni {
        Some(n) => format!("{} (SNI {n})", c.server),
        None => c.server.to_string(),
    }
}

fn finding(
    c: &TlsConn,
    severity: Severity,
    code: Code,
    summary: String,
    shared: String,
    frames: Vec<u64>,
    ts_ns: Option<i64>,
) -> Finding {
    Finding {
        group: group_key(severity, code, &shared),
        ts_ns,
        severity,
        code,
        summary,
        stream: c.stream,
        wireshark_filter: filter(c, &frames),
        frames,
    }
}

/// Every TLS finding of the section. `capture_end_ns`: the last frame's time, to
/// tell a handshake cut off by the capture's end from one that stalled.
pub fn raise(section: &TlsSection, capture_end_ns: Option<i64>, out: &mut Vec<Finding>) {
    let conns = &section.connections;
    if let Some(n) = section.sessions_without_keys.filter(|n| *n > 0) {
        let missing: Vec<&TlsConn> = conns
            .iter()
            .filter(|c| c.server_hello_frame.is_some() && !c.decrypted)
            .collect();
        let frames: Vec<u64> = missing
            .iter()
            .filter_map(|c| c.client_hello_frame)
            .take(20)
            .collect();
        out.push(Finding {
            group: String::new(),
            ts_ns: missing.first().and_then(|c| c.client_hello_ts),
            severity: Severity::Warning,
            code: Code::TlsNoKeys,
            summary: format!(
                "the key log has no secrets for {n} of the {} TLS sessions: they stay encrypted",
                conns
                    .iter()
                    .filter(|c| c.server_hello_frame.is_some())
                    .count()
            ),
            stream: None,
            wireshark_filter: frames_filter(&frames),
            frames,
        });
    }
    for c in conns {
        if c.decryption_failures > 0 {
            let frames: Vec<u64> = c.first_failure_frame.into_iter().collect();
            out.push(finding(
                c,
                Severity::Error,
                Code::TlsDecryptFailed,
                format!(
                    "{} record(s) with {} failed authentication with the logged keys (first at frame {})",
                    c.decryption_failures,
                    server_name(c),
                    c.first_failure_frame.unwrap_or(0)
                ),
                format!("records with {} failed authentication", c.server),
                frames,
                None,
            ));
        }
        let hello: Vec<u64> = c.client_hello_frame.into_iter().collect();
        let fatal = c.alerts.iter().find(|a| a.level == "fatal");
        if let Some(a) = fatal {
            let mut frames = hello.clone();
            frames.push(a.frame);
            let when = if c.completed {
                "after the handshake"
            } else {
                "during the handshake"
            };
            out.push(finding(
                c,
                Severity::Error,
                Code::TlsFatalAlert,
                format!(
                    "the {} sent a fatal {} alert {when} with {} (frame {})",
                    a.from,
                    a.description,
                    server_name(c),
                    a.frame
                ),
                format!("{} sent {} to {}", a.from, a.description, server_name(c)),
                frames,
                Some(a.ts_ns),
            ));
        }
        if !c.completed && fatal.is_none() && c.client_hello_frame.is_some() {
            let cut_off = match (capture_end_ns, c.client_hello_ts) {
                (Some(end), Some(t)) => !c.ended && end.saturating_sub(t) < CUT_OFF_NS,
                _ => false,
            };
            let reached = match (c.server_hello_frame, c.encrypted_alerts) {
                (None, _) => "no ServerHello came".to_string(),
                (Some(f), 0) => format!("the ServerHello came (frame {f}) but no Finished from both sides"),
                (Some(f), n) => format!(
                    "the ServerHello came (frame {f}), then {n} encrypted alert(s) instead of the Finished"
                ),
            };
            let severity = if cut_off {
                Severity::Info
            } else {
                Severity::Warning
            };
            out.push(finding(
                c,
                severity,
                Code::TlsHandshakeIncomplete,
                format!(
                    "a TLS handshake with {} never completed: {reached}{}",
                    server_name(c),
                    if cut_off {
                        " (the capture ended within a second of the ClientHello)"
                    } else if c.ended {
                        "; the connection was closed"
                    } else {
                        ""
                    }
                ),
                format!("handshake with {} not completed", server_name(c)),
                c.client_hello_frame
                    .into_iter()
                    .chain(c.server_hello_frame)
                    .collect(),
                c.client_hello_ts,
            ));
        }
        if let Some(alpn) = &c.alpn {
            if !c.alpn_offered.iter().any(|o| o == alpn) {
                let offered = if c.alpn_offered.is_empty() {
                    "no ALPN".to_string()
                } else {
                    c.alpn_offered.join(", ")
                };
                let consequence = if alpn == "h2" && !c.alpn_offered.iter().any(|o| o == "h2") {
                    ": the client cannot speak HTTP/2 on it, so an HTTP/1.1 request (a WebSocket upgrade above all, which needs http/1.1 unless both sides do RFC 8441) fails"
                } else {
                    ""
                };
                out.push(finding(
                    c,
                    Severity::Error,
                    Code::TlsAlpnNotOffered,
                    format!(
                        "{} selected ALPN {alpn} though the client offered {offered}{consequence}",
                        server_name(c)
                    ),
                    format!("{} selected {alpn}, client offered {offered}", c.server),
                    c.client_hello_frame
                        .into_iter()
                        .chain(c.server_hello_frame)
                        .collect(),
                    c.client_hello_ts,
                ));
            }
        }
        if let Some(cert) = &c.certificate {
            if cert.expired || cert.not_yet_valid {
                let what = if cert.expired {
                    format!("expired {}", cert.not_after)
                } else {
                    format!("not valid before {}", cert.not_before)
                };
                out.push(finding(
                    c,
                    Severity::Error,
                    Code::TlsCertExpired,
                    format!(
                        "{} presented a certificate ({}) that {what}, at capture time",
                        server_name(c),
                        cert.subject
                    ),
                    format!("{} certificate {what}", c.server),
                    vec![cert.frame],
                    None,
                ));
            }
            if cert.name_mismatch {
                out.push(finding(
                    c,
                    Severity::Error,
                    Code::TlsCertNameMismatch,
                    format!(
                        "{} presented a certificate for {} that does not cover the SNI {}",
                        c.server,
                        if cert.names.is_empty() {
                            "no DNS name".to_string()
                        } else {
                            cert.names.join(", ")
                        },
                        c.sni.as_deref().unwrap_or_default()
                    ),
                    format!(
                        "{} certificate does not cover {}",
                        c.server,
                        c.sni.as_deref().unwrap_or_default()
                    ),
                    vec![cert.frame],
                    None,
                ));
            }
        }
    }
}
