//! The tracer: Cisco's `traceroute mac` state machine over UDP 2228.
//!
//! Phase 1 walks from the starting switch toward the source MAC with REQUEST_SRC
//! (status 2 = "behind that neighbour, ask it") until a switch has it on a port with no
//! CDP neighbour. Phase 2 walks from there with REQUEST_DST, printing each switch's
//! ingress (toward the source) and egress (toward the destination) ports, until a
//! switch has the destination on an edge port. Both phases are bounded by
//! [`MAX_HOPS`] and stop on a switch seen twice (a loop).
//!
//! The state machine talks to the network through [`Transport`], so it is tested
//! against a simulated chain of switches without sockets.

use netkit_dissectors::app::l2trace::{self as l2t, L2tMessage, MsgType, ReplyStatus};
use netkit_dissectors::link::Mac;
use serde::Serialize;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// Cisco's limit.
pub const MAX_HOPS: usize = 10;

/// Why a switch gave no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoAnswer {
    #[error("no reply after {tries} tries in {waited_s:.1} s")]
    Timeout { tries: u32, waited_s: f64 },
    /// The host is there and said no one listens (ICMP port unreachable).
    #[error("nothing answers on UDP {} there (ICMP port unreachable)", l2t::PORT)]
    PortUnreachable,
    /// The local socket failed (sending, receiving).
    #[error("{0}")]
    Socket(String),
}

/// Asks one switch one question.
pub trait Transport {
    /// Sends a request of `kind` to `target` and returns its reply, or why there was
    /// none (after the transport's own retries).
    fn ask(
        &mut self,
        target: Ipv4Addr,
        kind: MsgType,
        src: Mac,
        dst: Mac,
        vlan: u16,
    ) -> Result<L2tMessage, NoAnswer>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceStatus {
    Completed,
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub mac: Mac,
    pub switch: Option<String>,
    pub port: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub hop: usize,
    pub switch: String,
    pub mgmt_ip: Ipv4Addr,
    pub platform: Option<String>,
    pub ingress: Option<String>,
    pub egress: Option<String>,
}

/// The JSON of CLI.md; `lines` is what Cisco would print, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceReport {
    pub source: Endpoint,
    pub destination: Endpoint,
    pub hops: Vec<Hop>,
    pub status: TraceStatus,
    /// A stable code for scripts (`source_not_found`, `no_response`, ...).
    pub reason: Option<String>,
    /// Cisco's wording of the abort.
    pub message: Option<String>,
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// `name [ip]` as Cisco's abort messages name a switch.
fn who(r: &L2tMessage, ip: Ipv4Addr) -> String {
    format!(
        "{} [{}]",
        r.dev_name().unwrap_or("?"),
        r.dev_ip().unwrap_or(ip)
    )
}

struct Run<'a> {
    report: TraceReport,
    out: &'a mut dyn FnMut(&str),
}

impl Run<'_> {
    fn say(&mut self, line: String) {
        // Switch and port names come from the wire: no control characters on screen.
        let line = crate::output::escape(&line).into_owned();
        (self.out)(&line);
        self.report.lines.push(line);
    }

    fn abort(mut self, reason: &str, message: String, trailer: bool) -> TraceReport {
        self.say(message.clone());
        if trailer {
            self.say("Layer2 trace aborted.".to_string());
        }
        self.report.status = TraceStatus::Aborted;
        self.report.reason = Some(reason.to_string());
        self.report.message = Some(message);
        self.report
    }
}

/// Runs a trace from `start` (the first switch to ask). `out` receives each Cisco line
/// as soon as it is known.
pub fn trace(
    t: &mut dyn Transport,
    start: Ipv4Addr,
    src: Mac,
    dst: Mac,
    vlan: u16,
    out: &mut dyn FnMut(&str),
) -> TraceReport {
    let mut run = Run {
        report: TraceReport {
            source: Endpoint {
                mac: src,
                switch: None,
                port: None,
            },
            destination: Endpoint {
                mac: dst,
                switch: None,
                port: None,
            },
            hops: Vec::new(),
            status: TraceStatus::Completed,
            reason: None,
            message: None,
            lines: Vec::new(),
        },
        out,
    };
    if src.is_group() {
        return run.abort("invalid_source", "Invalid source mac address".into(), false);
    }
    if dst.is_group() {
        return run.abort(
            "invalid_destination",
            "Invalid destination mac address".into(),
            false,
        );
    }

    // Phase 1: find the switch that has the source on an edge port.
    let mut cur = start;
    // What the previous switch said about the one asked next, to name a silent hop.
    let mut next_is: Option<String> = None;
    let mut seen = HashSet::new();
    let source_switch = loop {
        if !seen.insert(cur) {
            return run.abort(
                "loop",
                format!("Layer2 path loop detected at {cur} while tracing source."),
                true,
            );
        }
        if seen.len() > MAX_HOPS {
            return run.abort(
                "max_hops",
                format!("Source not found within {MAX_HOPS} hops."),
                true,
            );
        }
        let r = match t.ask(cur, MsgType::RequestSrc, src, dst, vlan) {
            Ok(r) => r,
            Err(e) => return run.abort("no_response", unanswered(cur, &next_is, &e), true),
        };
        match r.status() {
            Some(ReplyStatus::Success) => break (cur, r),
            Some(ReplyStatus::NeighborFollows) => {
                if seen.len() == 1 {
                    run.say("Source not directly connected, tracing source .....".into());
                }
                match r.nbr_ip() {
                    Some(n) => {
                        next_is = Some(format!(
                            "{}, the neighbour of {} toward the source",
                            r.nbr_dev_id().unwrap_or("?"),
                            who(&r, cur)
                        ));
                        cur = n;
                    }
                    None => {
                        return run.abort(
                            "no_neighbor_ip",
                            format!(
                                "Failed to get any layer2 path information from {}: it \
                                 named a next switch without an IPv4 address.",
                                who(&r, cur)
                            ),
                            true,
                        )
                    }
                }
            }
            Some(ReplyStatus::SrcMacNotFound) if seen.len() == 1 => {
                return run.abort(
                    "source_not_found",
                    "Error:Source Mac address not found.".into(),
                    true,
                )
            }
            other => return abort_on_status(run, other, &r, cur, (src, dst, vlan), "source"),
        }
    };
    let (src_ip, r) = source_switch;
    let name = r.dev_name().unwrap_or("?").to_string();
    run.say(format!(
        "Source {} found on {}[{}] ({})",
        Mac::dotted(&src),
        name,
        r.dev_type().unwrap_or(""),
        r.dev_ip().unwrap_or(src_ip)
    ));
    run.report.source.switch = Some(name);

    // Phase 2: walk toward the destination.
    let mut cur = src_ip;
    let mut next_is = None;
    let mut seen = HashSet::new();
    for hop in 1..=MAX_HOPS {
        if !seen.insert(cur) {
            return run.abort("loop", format!("Layer2 path loop detected at {cur}."), true);
        }
        let r = match t.ask(cur, MsgType::RequestDst, src, dst, vlan) {
            Ok(r) => r,
            Err(e) => return run.abort("no_response", unanswered(cur, &next_is, &e), true),
        };
        let status = r.status();
        if !matches!(
            status,
            Some(ReplyStatus::Success) | Some(ReplyStatus::NeighborFollows)
        ) {
            if hop == 1 && status == Some(ReplyStatus::DstMacNotFound) {
                return run.abort(
                    "destination_not_found",
                    "Error:Destination Mac address not found.".into(),
                    true,
                );
            }
            return abort_on_status(run, status, &r, cur, (src, dst, vlan), "destination");
        }
        let h = Hop {
            hop,
            switch: r.dev_name().unwrap_or("?").to_string(),
            mgmt_ip: r.dev_ip().unwrap_or(cur),
            platform: r.dev_type().map(str::to_string),
            ingress: r.src_port().map(str::to_string),
            egress: r.dst_port().map(str::to_string),
        };
        run.say(format!(
            "{} {} ({}) : {} => {}",
            h.hop,
            h.switch,
            h.mgmt_ip,
            h.ingress.as_deref().unwrap_or("?"),
            h.egress.as_deref().unwrap_or("?")
        ));
        if hop == 1 {
            run.report.source.port = h.ingress.clone();
        }
        run.report.destination.switch = Some(h.switch.clone());
        run.report.destination.port = h.egress.clone();
        let same_port = h.ingress.is_some() && h.ingress == h.egress;
        run.report.hops.push(h);
        if status == Some(ReplyStatus::Success) {
            if same_port {
                return run.abort(
                    "same_port",
                    "Source and Destination on same port and no nbr!".into(),
                    true,
                );
            }
            run.say(format!(
                "Destination {} found on {}[{}] ({})",
                Mac::dotted(&dst),
                r.dev_name().unwrap_or("?"),
                r.dev_type().unwrap_or(""),
                r.dev_ip().unwrap_or(cur)
            ));
            run.say("Layer 2 trace completed".into());
            return run.report;
        }
        match r.nbr_ip() {
            Some(n) => {
                let last = run.report.hops.last();
                next_is = Some(format!(
                    "{}, beyond {} port {}",
                    r.nbr_dev_id().unwrap_or("?"),
                    last.map_or("?", |h| h.switch.as_str()),
                    last.and_then(|h| h.egress.as_deref()).unwrap_or("?")
                ));
                cur = n;
            }
            None => {
                return run.abort(
                    "no_neighbor_ip",
                    format!(
                        "Failed to get any layer2 path information from {}: it named a \
                         next switch without an IPv4 address.",
                        who(&r, cur)
                    ),
                    true,
                )
            }
        }
    }
    run.abort(
        "max_hops",
        format!("Destination not reached within {MAX_HOPS} hops."),
        true,
    )
}

/// Cisco's words for a switch that never answered, plus who it is when the previous
/// switch named it (its CDP/LLDP device ID and where it hangs off the path).
fn unanswered(ip: Ipv4Addr, next_is: &Option<String>, why: &NoAnswer) -> String {
    match next_is {
        Some(who) => format!("Unable to send a l2trace request to {ip} ({who}): {why}"),
        None => format!("Unable to send a l2trace request to {ip}: {why}"),
    }
}

fn abort_on_status(
    run: Run<'_>,
    status: Option<ReplyStatus>,
    r: &L2tMessage,
    ip: Ipv4Addr,
    (src, dst, vlan): (Mac, Mac, u16),
    side: &str,
) -> TraceReport {
    let w = who(r, ip);
    match status {
        Some(ReplyStatus::SrcMacNotFound) => run.abort(
            "source_not_found",
            format!(
                "Unable to locate port for src {} on {w}.",
                Mac::dotted(&src)
            ),
            true,
        ),
        Some(ReplyStatus::DstMacNotFound) => run.abort(
            "destination_not_found",
            format!(
                "Unable to locate port for dst {} on {w}.",
                Mac::dotted(&dst)
            ),
            true,
        ),
        Some(ReplyStatus::MultipleNeighbors) => run.abort(
            "multiple_neighbors",
            format!("Multiple devices connected to {side} port of {w}."),
            true,
        ),
        // Cisco's words, then what the switch said: without it a user cannot tell a
        // missing VLAN from a silent switch.
        Some(ReplyStatus::UnknownVlan) => run.abort(
            "unknown_vlan",
            format!(
                "Failed to get any layer2 path information from {w}: VLAN {vlan} does not \
                 exist on it."
            ),
            true,
        ),
        Some(ReplyStatus::Unknown(n)) => run.abort(
            "unknown_status",
            format!("Unknown return code {n} from {w}."),
            false,
        ),
        _ => run.abort(
            "bad_reply",
            format!("Failed to get any layer2 path information from {w}."),
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netkit_dissectors::app::l2trace::{Device, Duplex, Neighbor, PortInfo, Speed};
    use std::collections::HashMap;

    /// A simulated switch: which port each MAC is on, and the neighbour on each port.
    struct Sw {
        dev: Device,
        macs: HashMap<Mac, &'static str>,
        nbrs: HashMap<&'static str, (Ipv4Addr, &'static str)>,
    }

    struct Net {
        switches: HashMap<Ipv4Addr, Sw>,
        asked: Vec<(Ipv4Addr, MsgType)>,
    }

    impl Transport for Net {
        fn ask(
            &mut self,
            target: Ipv4Addr,
            kind: MsgType,
            src: Mac,
            dst: Mac,
            vlan: u16,
        ) -> Result<L2tMessage, NoAnswer> {
            self.asked.push((target, kind));
            let sw = self.switches.get(&target).ok_or(NoAnswer::Timeout {
                tries: 3,
                waited_s: 2.1,
            })?;
            // The simulated switches have VLAN 1 only.
            if vlan != 1 {
                let st = ReplyStatus::UnknownVlan;
                return Ok(match kind {
                    MsgType::RequestSrc => L2tMessage::reply_src(&sw.dev, st, None),
                    _ => L2tMessage::reply_dst(&sw.dev, st, None, None, None),
                });
            }
            let nbr = |port: &str| {
                sw.nbrs.get(port).map(|(ip, id)| Neighbor {
                    ip: *ip,
                    device_id: id.to_string(),
                })
            };
            let port = |name: &str| PortInfo {
                name: name.to_string(),
                speed: Speed(4),
                duplex: Duplex::Full,
            };
            let Some(ps) = sw.macs.get(&src) else {
                let st = ReplyStatus::SrcMacNotFound;
                return Ok(match kind {
                    MsgType::RequestSrc => L2tMessage::reply_src(&sw.dev, st, None),
                    _ => L2tMessage::reply_dst(&sw.dev, st, None, None, None),
                });
            };
            if kind == MsgType::RequestSrc {
                let n = nbr(ps);
                let st = if n.is_some() {
                    ReplyStatus::NeighborFollows
                } else {
                    ReplyStatus::Success
                };
                return Ok(L2tMessage::reply_src(&sw.dev, st, n.as_ref()));
            }
            let Some(pd) = sw.macs.get(&dst) else {
                let st = ReplyStatus::DstMacNotFound;
                return Ok(L2tMessage::reply_dst(&sw.dev, st, None, None, None));
            };
            let n = nbr(pd);
            let st = if n.is_some() {
                ReplyStatus::NeighborFollows
            } else {
                ReplyStatus::Success
            };
            Ok(L2tMessage::reply_dst(
                &sw.dev,
                st,
                n.as_ref(),
                Some(&port(pd)),
                Some(&port(ps)),
            ))
        }
    }

    const A: Mac = Mac([2, 0, 0, 0, 0, 0xa]);
    const B: Mac = Mac([2, 0, 0, 0, 0, 0xb]);
    const C: Mac = Mac([2, 0, 0, 0, 0, 0xc]);

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    /// hA, hC - sw1 - sw2 - sw3 - hB; ports named pN_M (on N toward M).
    fn chain() -> Net {
        let sw = |n: u8, macs: &[(Mac, &'static str)], nbrs: &[(&'static str, u8)]| Sw {
            dev: Device {
                name: format!("sw{n}"),
                platform: "netkit linux-bridge".into(),
                ip: ip(10 + n),
            },
            macs: macs.iter().copied().collect(),
            nbrs: nbrs
                .iter()
                .map(|(p, k)| (*p, (ip(10 + k), ["", "sw1", "sw2", "sw3"][*k as usize])))
                .collect(),
        };
        let switches = [
            (
                ip(11),
                sw(1, &[(A, "p1a"), (C, "p1c"), (B, "p1_2")], &[("p1_2", 2)]),
            ),
            (
                ip(12),
                sw(
                    2,
                    &[(A, "p2_1"), (C, "p2_1"), (B, "p2_3")],
                    &[("p2_1", 1), ("p2_3", 3)],
                ),
            ),
            (
                ip(13),
                sw(3, &[(A, "p3_2"), (C, "p3_2"), (B, "p3b")], &[("p3_2", 2)]),
            ),
        ]
        .into_iter()
        .collect();
        Net {
            switches,
            asked: Vec::new(),
        }
    }

    fn run(net: &mut Net, start: u8, src: Mac, dst: Mac) -> TraceReport {
        trace(net, ip(start), src, dst, 1, &mut |_| {})
    }

    #[test]
    fn on_path_trace_lists_every_hop_like_cisco() {
        let mut net = chain();
        let r = run(&mut net, 11, A, B);
        assert_eq!(
            r.lines,
            vec![
                "Source 0200.0000.000a found on sw1[netkit linux-bridge] (10.0.0.11)",
                "1 sw1 (10.0.0.11) : p1a => p1_2",
                "2 sw2 (10.0.0.12) : p2_1 => p2_3",
                "3 sw3 (10.0.0.13) : p3_2 => p3b",
                "Destination 0200.0000.000b found on sw3[netkit linux-bridge] (10.0.0.13)",
                "Layer 2 trace completed",
            ]
        );
        assert_eq!(r.status, TraceStatus::Completed);
        assert_eq!(r.source.port.as_deref(), Some("p1a"));
        assert_eq!(r.destination.switch.as_deref(), Some("sw3"));
        assert_eq!(r.destination.port.as_deref(), Some("p3b"));
        // One REQUEST_SRC, then one REQUEST_DST per switch.
        assert_eq!(net.asked.len(), 4);
    }

    #[test]
    fn off_path_trace_locates_the_source_first() {
        let mut net = chain();
        let r = run(&mut net, 13, C, A);
        assert_eq!(
            r.lines[0],
            "Source not directly connected, tracing source ....."
        );
        assert_eq!(
            r.lines[1],
            "Source 0200.0000.000c found on sw1[netkit linux-bridge] (10.0.0.11)"
        );
        assert_eq!(r.lines[2], "1 sw1 (10.0.0.11) : p1c => p1a");
        assert_eq!(r.lines.last().unwrap(), "Layer 2 trace completed");
        assert_eq!(r.hops.len(), 1);
        assert_eq!(
            &net.asked[..3],
            &[
                (ip(13), MsgType::RequestSrc),
                (ip(12), MsgType::RequestSrc),
                (ip(11), MsgType::RequestSrc)
            ]
        );
    }

    #[test]
    fn unknown_macs_abort_in_ciscos_words() {
        let unknown = Mac([2, 0xde, 0xad, 0, 0, 1]);
        let r = run(&mut chain(), 11, A, unknown);
        assert_eq!(r.status, TraceStatus::Aborted);
        assert_eq!(r.reason.as_deref(), Some("destination_not_found"));
        assert_eq!(
            &r.lines[1..],
            &[
                "Error:Destination Mac address not found.",
                "Layer2 trace aborted."
            ]
        );
        let r = run(&mut chain(), 11, unknown, A);
        assert_eq!(
            r.message.as_deref(),
            Some("Error:Source Mac address not found.")
        );
        let r = run(&mut chain(), 11, Mac::BROADCAST, A);
        assert_eq!(r.reason.as_deref(), Some("invalid_source"));
    }

    #[test]
    fn an_unknown_vlan_says_so_after_ciscos_words() {
        let mut lines = Vec::new();
        let r = trace(&mut chain(), ip(11), A, B, 20, &mut |l| {
            lines.push(l.to_string())
        });
        assert_eq!(r.reason.as_deref(), Some("unknown_vlan"));
        assert_eq!(
            r.message.as_deref(),
            Some(
                "Failed to get any layer2 path information from sw1 [10.0.0.11]: VLAN 20 \
                 does not exist on it."
            )
        );
        // Said once, on the lines the user sees.
        assert_eq!(lines.iter().filter(|l| l.contains("VLAN 20")).count(), 1);
    }

    #[test]
    fn json_has_the_shape_of_cli_md() {
        let v = serde_json::to_value(run(&mut chain(), 11, A, B)).unwrap();
        assert_eq!(
            v["source"],
            serde_json::json!({"mac": "02:00:00:00:00:0a", "switch": "sw1", "port": "p1a"})
        );
        assert_eq!(v["destination"]["port"], "p3b");
        assert_eq!(
            v["hops"][1],
            serde_json::json!({"hop": 2, "switch": "sw2", "mgmt_ip": "10.0.0.12",
                "platform": "netkit linux-bridge", "ingress": "p2_1", "egress": "p2_3"})
        );
        assert_eq!(v["status"], "completed");
        assert!(v["reason"].is_null() && v["message"].is_null());
        assert!(v.get("lines").is_none());
    }

    #[test]
    fn silent_switch_and_loops_abort() {
        let mut net = chain();
        net.switches.remove(&ip(13));
        let r = run(&mut net, 11, A, B);
        assert_eq!(
            r.message.as_deref(),
            Some(
                "Unable to send a l2trace request to 10.0.0.13 (sw3, beyond sw2 port p2_3): \
                 no reply after 3 tries in 2.1 s"
            )
        );
        assert_eq!(r.hops.len(), 2);
        // Silent while tracing the source: named as the neighbour that pointed there.
        let mut net = chain();
        net.switches.remove(&ip(12));
        let r = run(&mut net, 13, C, A);
        assert_eq!(
            r.message.as_deref(),
            Some(
                "Unable to send a l2trace request to 10.0.0.12 (sw2, the neighbour of sw3 \
                 [10.0.0.13] toward the source): no reply after 3 tries in 2.1 s"
            )
        );
        assert!(r.hops.is_empty());
        // The first switch asked has nobody to name it.
        let r = run(&mut chain(), 14, A, B);
        assert_eq!(
            r.message.as_deref(),
            Some("Unable to send a l2trace request to 10.0.0.14: no reply after 3 tries in 2.1 s")
        );
        // sw3 pointing back at sw2 for B: a loop, not an endless walk.
        let mut net = chain();
        let sw3 = net.switches.get_mut(&ip(13)).unwrap();
        sw3.macs.insert(B, "p3_2");
        let r = run(&mut net, 11, A, B);
        assert_eq!(r.reason.as_deref(), Some("loop"));
        assert!(net.asked.len() <= 2 + MAX_HOPS);
    }
}
