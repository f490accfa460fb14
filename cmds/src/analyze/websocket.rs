//! WebSocket upgrades and sessions: every HTTP/1.x upgrade request with its answer and
//! a verdict, and the WebSocket frames that follow an accepted switch.
//!
//! The byte stream of each direction is followed in sequence-number order, as
//! Wireshark's reassembly does: retransmitted bytes are not parsed twice, and a frame
//! counts as carrying WebSocket when a WebSocket frame ends in it. Like Wireshark, the
//! connection switches to WebSocket when a complete 101 response names `websocket` in
//! its Upgrade header, whatever the Accept key says; the verdict then judges the key.

use super::FastMap;
use netkit_dissectors::app::{http, websocket as ws};
use netkit_dissectors::net::IpPair;
use netkit_dissectors::transport::{tcp_flags, Tcp};
use netkit_dissectors::{Frame, Layer};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

/// How an upgrade request ended (CLI.md's `verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// 101 with a correct Sec-WebSocket-Accept.
    Accepted,
    /// 101, but the Accept key is wrong or missing: the client must fail the connection.
    BadAccept,
    /// A final non-101 status that is not 2xx.
    Rejected,
    /// A 2xx answer: the server treated the request as plain HTTP.
    Ignored,
    /// No response before the connection ended or the capture stopped.
    Unanswered,
}

/// One upgrade request and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Upgrade {
    /// TCP stream number (Wireshark's `tcp.stream`), filled in by the report.
    pub stream: Option<u32>,
    pub client: String,
    pub server: String,
    pub request_frame: u64,
    pub method: String,
    pub host: Option<String>,
    pub path: String,
    pub subprotocols_offered: Option<String>,
    pub response_frame: Option<u64>,
    pub status: Option<u16>,
    pub reason: Option<String>,
    pub verdict: Verdict,
    /// Why a 101 was judged `bad_accept`: the accept sent and the one expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_problem: Option<String>,
    pub response_ms: Option<f64>,
    pub subprotocol: Option<String>,
    /// WebSocket data messages (text/binary, counted at their final fragment) each way.
    pub messages: u64,
    pub client_messages: u64,
    pub server_messages: u64,
    /// The first Close frame's status code, and who sent it.
    pub close_code: Option<u16>,
    pub close_by: Option<String>,
    /// Frames of the same connection after the response (filled in by the report from
    /// the TCP engine): retransmissions and resets.
    pub after: After,
    #[serde(skip)]
    request_ts: i64,
    #[serde(skip)]
    key: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct After {
    pub retransmissions: u64,
    pub rst: bool,
    pub rst_frames: Vec<u64>,
}

/// Which side of a [`ConnKey`] sent a segment: 0 when the source is the key's first
/// endpoint, 1 otherwise.
type DirIndex = usize;

/// Per-direction reassembly state after the switch.
#[derive(Debug, Default, Clone)]
struct Direction {
    /// Next sequence number expected: bytes before it were parsed already.
    next_seq: Option<u32>,
    /// Payload bytes of the current WebSocket frame still to come.
    remaining: u64,
    /// A frame header split across segments.
    partial_header: Vec<u8>,
    /// Opcode of the frame being read (to count messages when it ends).
    current: Option<(ws::Opcode, bool)>,
}

#[derive(Debug, Default)]
struct Conn {
    /// Upgrade requests still waiting for their response, oldest first.
    pending: Vec<usize>,
    /// Index of the upgrade whose 101 switched this connection.
    switched: Option<usize>,
    /// The [`DirIndex`] of the client (the side that sent the upgrade request).
    client_dir: usize,
    /// The two directions, indexed by [`DirIndex`].
    dirs: [Direction; 2],
    /// End (seq + len) of the latest segment seen each way, to start the client's
    /// stream at the switch.
    last_end: [Option<u32>; 2],
}

/// Connection key with the endpoints in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConnKey(SocketAddr, SocketAddr);

fn key_and_dir(ips: IpPair, t: &Tcp<'_>) -> (ConnKey, DirIndex) {
    let a = SocketAddr::new(ips.src, t.src_port);
    let b = SocketAddr::new(ips.dst, t.dst_port);
    if a <= b {
        (ConnKey(a, b), 0)
    } else {
        (ConnKey(b, a), 1)
    }
}

/// `seq` is at or after `base` in sequence space (RFC 1982-style comparison).
fn seq_ge(seq: u32, base: u32) -> bool {
    seq.wrapping_sub(base) < 0x8000_0000
}

#[derive(Debug, Default)]
pub struct WebSocketAnalysis {
    conns: FastMap<ConnKey, Conn>,
    upgrades: Vec<Upgrade>,
    /// Frames in which at least one WebSocket frame ended (the census count).
    ws_frames: u64,
    /// HTTP 101 responses of any kind (h2c, Docker's `tcp`, ...).
    http_101: u64,
    /// HTTP connections not followed because [`MAX_CONNECTIONS`] were already.
    untracked: u64,
}

/// HTTP connections followed at once (about 500 bytes each).
const MAX_CONNECTIONS: usize = 200_000;

impl WebSocketAnalysis {
    pub fn feed(&mut self, number: u64, ts_ns: i64, frame: &Frame<'_>) {
        let Some((ip, tcp)) = frame.innermost_tcp() else {
            return;
        };
        let ips = match ip {
            Layer::Ipv4(h) => IpPair {
                src: IpAddr::V4(h.src),
                dst: IpAddr::V4(h.dst),
            },
            Layer::Ipv6(h) => IpPair {
                src: IpAddr::V6(h.src),
                dst: IpAddr::V6(h.dst),
            },
            _ => return,
        };
        let (key, dir) = key_and_dir(ips, tcp);
        let payload = tcp.payload;
        // Connections are tracked from their first HTTP head on: bulk traffic that
        // never speaks HTTP costs one cheap sniff of the payload's first bytes.
        if !self.conns.contains_key(&key) && !http::looks_like_http(payload) {
            return;
        }
        if !self.conns.contains_key(&key) && self.conns.len() >= MAX_CONNECTIONS {
            // A flood of one-request HTTP connections must not grow memory without end;
            // the connections already followed keep being followed.
            self.untracked += 1;
            return;
        }
        let conn = self.conns.entry(key).or_default();
        if tcp.has(tcp_flags::RST) {
            if let Some(u) = conn.switched.or(conn.pending.first().copied()) {
                let up = &mut self.upgrades[u];
                up.after.rst = true;
                up.after.rst_frames.push(number);
            }
        }
        if payload.is_empty() {
            return;
        }
        let seq = tcp.seq;
        let end = seq.wrapping_add(payload.len() as u32);

        // A retransmitted request or response is the same message again, not a new one
        // (the lab's rejected upgrade was retransmitted once and counted twice).
        let seen_before = conn.last_end[dir].is_some_and(|e| seq_ge(e, end));
        if conn.switched.is_some() {
            if self.websocket_bytes(key, dir, seq, payload, 0) {
                self.ws_frames += 1;
            }
        } else if !seen_before {
            if let Some(Ok(head)) = http::parse_head(payload) {
                self.http(key, dir, number, ts_ns, seq, payload, &head, ips, tcp);
            }
        }
        let conn = self.conns.get_mut(&key).expect("inserted above");
        if conn.last_end[dir].is_none_or(|e| seq_ge(end, e)) {
            conn.last_end[dir] = Some(end);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn http(
        &mut self,
        key: ConnKey,
        dir: usize,
        number: u64,
        ts_ns: i64,
        seq: u32,
        payload: &[u8],
        head: &http::HttpHead<'_>,
        ips: IpPair,
        tcp: &Tcp<'_>,
    ) {
        match head {
            http::HttpHead::Request { method, target, .. } if head.websocket_upgrade() => {
                let client = SocketAddr::new(ips.src, tcp.src_port);
                let server = SocketAddr::new(ips.dst, tcp.dst_port);
                self.upgrades.push(Upgrade {
                    stream: None,
                    client: client.to_string(),
                    server: server.to_string(),
                    request_frame: number,
                    method: method.to_string(),
                    host: head.host().map(str::to_string),
                    path: target.to_string(),
                    subprotocols_offered: head.websocket_protocol().map(str::to_string),
                    response_frame: None,
                    status: None,
                    reason: None,
                    verdict: Verdict::Unanswered,
                    accept_problem: None,
                    response_ms: None,
                    subprotocol: None,
                    messages: 0,
                    client_messages: 0,
                    server_messages: 0,
                    close_code: None,
                    close_by: None,
                    after: After::default(),
                    request_ts: ts_ns,
                    key: head.websocket_key().map(str::to_string),
                });
                let idx = self.upgrades.len() - 1;
                if let Some(c) = self.conns.get_mut(&key) {
                    c.pending.push(idx);
                    c.client_dir = dir;
                }
            }
            http::HttpHead::Response { status, reason, .. } => {
                if *status == 101 {
                    self.http_101 += 1;
                }
                // Interim answers (100 Continue, 103 Early Hints) do not settle a request.
                if (100..200).contains(status) && *status != 101 {
                    return;
                }
                let Some(conn) = self.conns.get_mut(&key) else {
                    return;
                };
                if conn.pending.is_empty() {
                    return;
                }
                let idx = conn.pending.remove(0);
                let up = &mut self.upgrades[idx];
                up.response_frame = Some(number);
                up.status = Some(*status);
                up.reason = Some(reason.to_string());
                up.response_ms = Some(ts_ns.saturating_sub(up.request_ts) as f64 / 1e6);
                up.subprotocol = head.websocket_protocol().map(str::to_string);
                up.verdict = match status {
                    101 => match (up.key.as_deref(), head.websocket_accept()) {
                        (Some(k), Some(a)) if ws::validate_accept(k, a) => Verdict::Accepted,
                        (Some(k), a) => {
                            up.accept_problem = Some(format!(
                                "Sec-WebSocket-Accept {} but the key {} needs {}",
                                a.map(|a| format!("'{a}'"))
                                    .unwrap_or_else(|| "missing".into()),
                                k,
                                ws::accept_for_key(k)
                            ));
                            Verdict::BadAccept
                        }
                        (None, _) => {
                            up.accept_problem = Some("the request had no Sec-WebSocket-Key".into());
                            Verdict::BadAccept
                        }
                    },
                    200..=299 => Verdict::Ignored,
                    _ => Verdict::Rejected,
                };
                // Wireshark's rule for switching: a complete 101 whose own Upgrade
                // header names websocket.
                if *status == 101 && head.is_complete() && head.upgrades_to("websocket") {
                    conn.switched = Some(idx);
                    conn.pending.clear();
                    let client_dir = 1 - dir;
                    conn.dirs[client_dir].next_seq = conn.last_end[client_dir];
                    conn.dirs[dir].next_seq = Some(seq);
                    let head_len = head.head_len();
                    if self.websocket_bytes(key, dir, seq, payload, head_len) {
                        self.ws_frames += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// Feeds one segment's payload to the direction's WebSocket parser, skipping the
    /// first `skip` bytes (the 101's HTTP head). True when a WebSocket frame ended here.
    fn websocket_bytes(
        &mut self,
        key: ConnKey,
        dir: usize,
        seq: u32,
        payload: &[u8],
        skip: usize,
    ) -> bool {
        let Some(conn) = self.conns.get_mut(&key) else {
            return false;
        };
        let Some(up_idx) = conn.switched else {
            return false;
        };
        let d = &mut conn.dirs[dir];
        let next = d.next_seq.unwrap_or(seq);
        let end = seq.wrapping_add(payload.len() as u32);
        if skip == 0 && seq_ge(next, end) {
            return false; // all of it seen before: a retransmission
        }
        let mut start = skip;
        if seq_ge(next, seq) {
            // Overlap: only the bytes from `next` on are new.
            start = start.max(next.wrapping_sub(seq) as usize);
        } else {
            // A gap: bytes were not captured. Wireshark's reassembly loses the frame in
            // progress; resume assuming a frame starts here.
            d.remaining = 0;
            d.partial_header.clear();
            d.current = None;
        }
        d.next_seq = Some(end);
        let mut data = payload.get(start..).unwrap_or(&[]);
        let mut ended_here = false;
        let mut closes: Vec<u16> = Vec::new();
        let mut finished_messages = 0u64;
        while !data.is_empty() {
            if d.remaining > 0 {
                let n = (d.remaining.min(data.len() as u64)) as usize;
                d.remaining -= n as u64;
                data = &data[n..];
                if d.remaining == 0 {
                    ended_here = true;
                    if let Some((op, fin)) = d.current.take() {
                        finished_messages += u64::from(is_message_end(op, fin));
                    }
                }
                continue;
            }
            // A header, perhaps the rest of one split across segments.
            let joined;
            let buf: &[u8] = if d.partial_header.is_empty() {
                data
            } else {
                let take = data.len().min(14);
                let mut v = d.partial_header.clone();
                v.extend_from_slice(&data[..take]);
                joined = v;
                &joined
            };
            match ws::parse_frame(buf) {
                Ok(f) => {
                    let consumed_from_data = f.header_len - d.partial_header.len();
                    d.partial_header.clear();
                    if f.opcode == ws::Opcode::Close && d.current.is_none() {
                        if let Some(code) = f.close_code {
                            closes.push(code);
                        }
                    }
                    data = &data[consumed_from_data.min(data.len())..];
                    if f.declared_len == 0 {
                        ended_here = true;
                        finished_messages += u64::from(is_message_end(f.opcode, f.fin));
                    } else {
                        d.remaining = f.declared_len;
                        d.current = Some((f.opcode, f.fin));
                    }
                }
                Err(e) if matches!(e.kind, netkit_dissectors::ErrorKind::Truncated { .. }) => {
                    // The header continues in the next segment.
                    d.partial_header.extend_from_slice(data);
                    data = &[];
                }
                Err(_) => {
                    // Not a frame header: stop following this direction.
                    d.remaining = u64::MAX;
                    data = &[];
                }
            }
        }
        let client_side = dir == conn.client_dir;
        let up = &mut self.upgrades[up_idx];
        up.messages += finished_messages;
        if client_side {
            up.client_messages += finished_messages;
        } else {
            up.server_messages += finished_messages;
        }
        if up.close_code.is_none() {
            if let Some(code) = closes.first() {
                up.close_code = Some(*code);
                up.close_by = Some(if client_side { "client" } else { "server" }.into());
            }
        }
        ended_here
    }

    /// Frames in which a WebSocket frame ended (tshark's `websocket` filter count).
    pub fn websocket_frames(&self) -> u64 {
        self.ws_frames
    }

    pub fn http_101(&self) -> u64 {
        self.http_101
    }

    /// HTTP connections that were not followed because the table was full.
    pub fn untracked_connections(&self) -> u64 {
        self.untracked
    }

    pub fn upgrades(&self) -> &[Upgrade] {
        &self.upgrades
    }

    pub fn into_upgrades(self) -> Vec<Upgrade> {
        self.upgrades
    }
}

/// A data message ends at a frame with FIN set whose opcode is text, binary or
/// continuation; control frames are not messages.
fn is_message_end(op: ws::Opcode, fin: bool) -> bool {
    fin && matches!(
        op,
        ws::Opcode::Text | ws::Opcode::Binary | ws::Opcode::Continuation
    )
}
