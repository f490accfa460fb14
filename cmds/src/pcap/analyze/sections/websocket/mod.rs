//! WebSocket upgrades and sessions: every HTTP/1.x upgrade request with its answer and
//! a verdict, and the WebSocket frames that follow an accepted switch.
//!
//! The byte stream of each direction is followed in sequence-number order, as
//! Wireshark's reassembly does: retransmitted bytes are not parsed twice, and a frame
//! counts as carrying WebSocket when a WebSocket frame ends in it. Like Wireshark, the
//! connection switches to WebSocket when a complete 101 response names `websocket` in
//! its Upgrade header, whatever the Accept key says; the verdict then judges the key.
//!
//! HTTP/2 over clear text (prior knowledge, or an h2c Upgrade answered 101) is followed
//! too: each client HEADERS with `:method CONNECT` and `:protocol websocket` is an RFC
//! 8441 upgrade, answered by the response HEADERS on the same stream. RFC 8441 has no
//! Accept key, so any 2xx accepts it. The WebSocket frames in that stream's DATA are
//! counted as messages but not in the `websocket` census (tshark does not decode
//! WebSocket inside HTTP/2 DATA).

pub mod findings;

use crate::pcap::analyze::{FastMap, FrameCtx, Section};
use netkit_dissectors::app::{h2, http, websocket as ws};
use netkit_dissectors::net::IpPair;
use netkit_dissectors::transport::{tcp_flags, Tcp};
use netkit_dissectors::{Frame, Layer};
use serde::Serialize;
use std::collections::VecDeque;
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

impl Verdict {
    /// As JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::BadAccept => "bad_accept",
            Verdict::Rejected => "rejected",
            Verdict::Ignored => "ignored",
            Verdict::Unanswered => "unanswered",
        }
    }
}

/// One upgrade request and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Upgrade {
    /// TCP stream number (Wireshark's `tcp.stream`), filled in by the report.
    pub stream: Option<u32>,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub request_frame: u64,
    /// The HTTP/2 stream of an RFC 8441 extended CONNECT; `None` for HTTP/1.x.
    pub http2_stream: Option<u32>,
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
    /// Capture time of the answer (not in the file report, which has response_ms).
    #[serde(skip)]
    response_ts: Option<i64>,
    #[serde(skip)]
    key: Option<String>,
}

impl Upgrade {
    /// When the answer was captured (nanoseconds since the Unix epoch).
    pub fn response_ts_ns(&self) -> Option<i64> {
        self.response_ts
    }

    /// When the request was captured.
    pub fn request_ts_ns(&self) -> i64 {
        self.request_ts
    }

    /// A request seen, nothing known yet about its answer.
    fn requested(
        client: SocketAddr,
        server: SocketAddr,
        request_frame: u64,
        request_ts: i64,
        method: &str,
        path: &str,
    ) -> Upgrade {
        Upgrade {
            stream: None,
            client,
            server,
            request_frame,
            http2_stream: None,
            method: method.to_string(),
            host: None,
            path: path.to_string(),
            subprotocols_offered: None,
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
            request_ts,
            response_ts: None,
            key: None,
        }
    }
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
    /// Set once the connection speaks HTTP/2.
    h2: Option<Box<H2Conn>>,
    /// Capture time of its latest segment.
    last_ts: i64,
}

/// An HTTP/2 connection: both directions' frame streams and the extended CONNECT
/// streams seen so far.
#[derive(Debug, Default)]
struct H2Conn {
    client_dir: DirIndex,
    dirs: [H2Direction; 2],
    /// Stream id of each extended CONNECT, to the index of its [`Upgrade`].
    streams: FastMap<u32, usize>,
}

/// One direction of an HTTP/2 connection.
#[derive(Debug, Default)]
struct H2Direction {
    next_seq: Option<u32>,
    /// Bytes of a frame not yet complete.
    buf: Vec<u8>,
    /// The client preface has still to be skipped.
    preface_pending: bool,
    /// A header block continued in CONTINUATION frames: its stream, bytes so far
    /// and whether its HEADERS ended the stream.
    block: Option<(u32, Vec<u8>)>,
    hpack: h2::HpackDecoder,
    /// Bytes were lost or could not be decoded: HPACK's table is out of step with the
    /// sender's, so nothing more of this direction is trusted.
    lost: bool,
}

/// A frame in progress is buffered up to this size; a larger one ends the following
/// of its direction rather than holding megabytes.
const H2_MAX_BUFFER: usize = 1 << 20;

/// What one direction's new HTTP/2 frames said, gathered before touching the upgrades.
enum H2Event {
    Headers(u32, Vec<h2::HeaderField>),
    /// WebSocket data messages ended and the first Close code, in one DATA frame.
    Data(u32, u64, Option<u16>),
}

/// The bytes of a segment that follow what its direction already delivered, after
/// skipping its first `skip` bytes (a head that is not part of the stream). `next_seq`
/// is the next expected sequence number (`None`: this segment starts the stream) and
/// moves to the segment's end. `None` when every byte was seen before (a
/// retransmission); the flag is true when bytes before this segment were never
/// captured.
fn fresh_bytes<'p>(
    next_seq: &mut Option<u32>,
    seq: u32,
    payload: &'p [u8],
    skip: usize,
) -> Option<(&'p [u8], bool)> {
    let next = next_seq.unwrap_or(seq);
    let end = seq.wrapping_add(payload.len() as u32);
    if skip == 0 && seq_ge(next, end) {
        return None;
    }
    let gap = !seq_ge(next, seq);
    // On overlap only the bytes from `next` on are new.
    let start = if gap {
        skip
    } else {
        skip.max(next.wrapping_sub(seq) as usize)
    };
    *next_seq = Some(end);
    Some((payload.get(start..).unwrap_or(&[]), gap))
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

/// The upgrades seen, by id (their order of request). A live run lets go of the ones
/// it has reported ([`WebSocketAnalysis::forget_upgrades_before`]): ids stay, and an
/// upgrade let go is no longer updated.
#[derive(Debug, Default)]
struct UpgradeLog {
    first_id: usize,
    items: VecDeque<Upgrade>,
}

impl UpgradeLog {
    fn push(&mut self, u: Upgrade) -> usize {
        self.items.push_back(u);
        self.first_id + self.items.len() - 1
    }

    fn get(&self, id: usize) -> Option<&Upgrade> {
        self.items.get(id.checked_sub(self.first_id)?)
    }

    fn get_mut(&mut self, id: usize) -> Option<&mut Upgrade> {
        self.items.get_mut(id.checked_sub(self.first_id)?)
    }
}

#[derive(Debug, Default)]
pub struct WebSocketAnalysis {
    conns: FastMap<ConnKey, Conn>,
    upgrades: UpgradeLog,
    /// Frames in which at least one WebSocket frame ended (the census count).
    ws_frames: u64,
    /// HTTP 101 responses of any kind (h2c, Docker's `tcp`, ...).
    http_101: u64,
    /// HTTP connections not followed because [`MAX_CONNECTIONS`] were already.
    untracked: u64,
}

/// HTTP connections followed at once (about 500 bytes each).
const MAX_CONNECTIONS: usize = 200_000;

impl Section for WebSocketAnalysis {
    fn feed(&mut self, ctx: &FrameCtx<'_>) {
        self.observe(ctx.raw.number, ctx.raw.ts_ns, ctx.frame);
    }
}

impl WebSocketAnalysis {
    pub fn observe(&mut self, number: u64, ts_ns: i64, frame: &Frame<'_>) {
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
        self.observe_segment(number, ts_ns, ips, tcp);
    }

    /// Decrypted TLS application bytes: the same analysis as clear text, on a virtual
    /// in-order segment of the connection (its sequence numbers count decrypted bytes),
    /// numbered with the frame that completed the record. This is the seam that makes
    /// verdicts, findings and frame numbers work the same over `wss://` and `https://`.
    pub fn observe_plain(&mut self, p: &crate::pcap::analyze::sections::tls::Plain) {
        let tcp = Tcp {
            src_port: p.src.port(),
            dst_port: p.dst.port(),
            seq: p.seq,
            ack: 0,
            flags: tcp_flags::ACK | tcp_flags::PSH,
            window: 0,
            checksum: 0,
            urgent: 0,
            header_len: 20,
            options: &[],
            payload: p.data(),
            payload_len: p.data().len() as u32,
        };
        let ips = IpPair {
            src: p.src.ip(),
            dst: p.dst.ip(),
        };
        self.observe_segment(p.frame, p.ts_ns, ips, &tcp);
    }

    /// One TCP segment (or decrypted chunk) between `ips`.
    fn observe_segment(&mut self, number: u64, ts_ns: i64, ips: IpPair, tcp: &Tcp<'_>) {
        let payload = tcp.payload;
        let speaks_http = || http::looks_like_http(payload) || http::is_h2_preface(payload);
        // Connections are tracked from their first HTTP head on: bulk traffic that
        // never speaks HTTP costs one cheap sniff of the payload's first bytes, and
        // while none is followed, not even a hash of its addresses.
        if self.conns.is_empty() && !speaks_http() {
            return;
        }
        let (key, dir) = key_and_dir(ips, tcp);
        // A SYN on a followed address pair starts a new connection (the client reused
        // its port): what was learnt of the old one (its sequence numbers, a switch to
        // WebSocket) must not judge the new one, or its request can pass for a
        // retransmission and vanish. The old one's upgrades are already logged.
        if tcp.has(tcp_flags::SYN) && !tcp.has(tcp_flags::ACK) {
            self.conns.remove(&key);
        }
        let followed = self.conns.contains_key(&key);
        if !followed && !speaks_http() {
            return;
        }
        if !followed && self.conns.len() >= MAX_CONNECTIONS {
            // A flood of one-request HTTP connections must not grow memory without end;
            // the connections already followed keep being followed.
            self.untracked += 1;
            return;
        }
        let conn = self.conns.entry(key).or_default();
        conn.last_ts = ts_ns;
        if tcp.has(tcp_flags::RST) {
            if let Some(up) = conn
                .switched
                .or(conn.pending.first().copied())
                .and_then(|u| self.upgrades.get_mut(u))
            {
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
        if conn.h2.is_some() {
            self.h2_bytes(key, dir, number, ts_ns, seq, payload, 0);
        } else if conn.switched.is_some() {
            if self.websocket_bytes(key, dir, seq, payload, 0) {
                self.ws_frames += 1;
            }
        } else if !seen_before && http::is_h2_preface(payload) {
            // HTTP/2 with prior knowledge: the server's side starts after whatever it
            // sent before (normally nothing).
            conn.h2 = Some(Box::new(H2Conn::starting(
                dir,
                Some(seq),
                conn.last_end[1 - dir],
            )));
            self.h2_bytes(key, dir, number, ts_ns, seq, payload, 0);
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
                let idx = self.upgrades.push(Upgrade {
                    host: head.host().map(str::to_string),
                    subprotocols_offered: head.websocket_protocol().map(str::to_string),
                    key: head.websocket_key().map(str::to_string),
                    ..Upgrade::requested(client, server, number, ts_ns, method, target)
                });
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
                if *status == 101 && head.is_complete() && head.upgrades_to("h2c") {
                    // HTTP/2 starts right after the 101's head; the client's side
                    // starts with the preface after its last HTTP/1.1 bytes.
                    let mut h = H2Conn::starting(1 - dir, conn.last_end[1 - dir], Some(seq));
                    h.dirs[dir].preface_pending = false;
                    conn.h2 = Some(Box::new(h));
                    self.h2_bytes(key, dir, number, ts_ns, seq, payload, head.head_len());
                    return;
                }
                if conn.pending.is_empty() {
                    return;
                }
                let idx = conn.pending.remove(0);
                let Some(up) = self.upgrades.get_mut(idx) else {
                    return;
                };
                up.response_frame = Some(number);
                up.status = Some(*status);
                up.reason = Some(reason.to_string());
                up.response_ms = Some(ts_ns.saturating_sub(up.request_ts) as f64 / 1e6);
                up.response_ts = Some(ts_ns);
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
        let Some((mut data, gap)) = fresh_bytes(&mut d.next_seq, seq, payload, skip) else {
            return false; // all of it seen before: a retransmission
        };
        if gap {
            // Bytes were not captured. Wireshark's reassembly loses the frame in
            // progress; resume assuming a frame starts here.
            d.remaining = 0;
            d.partial_header.clear();
            d.current = None;
        }
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
        let Some(up) = self.upgrades.get_mut(up_idx) else {
            return ended_here;
        };
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

    /// Feeds one segment of an HTTP/2 connection (from byte `skip` on) to its
    /// direction's frame parser and applies what the complete frames say.
    #[allow(clippy::too_many_arguments)]
    fn h2_bytes(
        &mut self,
        key: ConnKey,
        dir: DirIndex,
        number: u64,
        ts_ns: i64,
        seq: u32,
        payload: &[u8],
        skip: usize,
    ) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let Some(h) = conn.h2.as_mut() else {
            return;
        };
        let client_dir = h.client_dir;
        let events = h.dirs[dir].take_frames(seq, payload, skip);
        for event in events {
            match event {
                H2Event::Headers(stream, fields) if dir == client_dir => {
                    let is_ws_connect = h2::header(&fields, ":method") == Some("CONNECT")
                        && h2::header(&fields, ":protocol")
                            .is_some_and(|p| p.eq_ignore_ascii_case("websocket"));
                    if !is_ws_connect || h.streams.contains_key(&stream) {
                        continue;
                    }
                    let (client, server) = match (dir, key) {
                        (0, ConnKey(a, b)) => (a, b),
                        (_, ConnKey(a, b)) => (b, a),
                    };
                    let id = self.upgrades.push(Upgrade {
                        http2_stream: Some(stream),
                        host: h2::header(&fields, ":authority").map(str::to_string),
                        subprotocols_offered: h2::header(&fields, "sec-websocket-protocol")
                            .map(str::to_string),
                        ..Upgrade::requested(
                            client,
                            server,
                            number,
                            ts_ns,
                            "CONNECT",
                            h2::header(&fields, ":path").unwrap_or_default(),
                        )
                    });
                    h.streams.insert(stream, id);
                }
                H2Event::Headers(stream, fields) => {
                    let Some(up) = h
                        .streams
                        .get(&stream)
                        .and_then(|&i| self.upgrades.get_mut(i))
                    else {
                        continue;
                    };
                    let Some(status) = h2::header(&fields, ":status").and_then(|s| s.parse().ok())
                    else {
                        continue;
                    };
                    // Interim answers and trailers do not settle the request.
                    if up.response_frame.is_some() || (100..200).contains(&status) {
                        continue;
                    }
                    up.response_frame = Some(number);
                    up.status = Some(status);
                    up.response_ms = Some(ts_ns.saturating_sub(up.request_ts) as f64 / 1e6);
                    up.response_ts = Some(ts_ns);
                    up.subprotocol =
                        h2::header(&fields, "sec-websocket-protocol").map(str::to_string);
                    up.verdict = if (200..300).contains(&status) {
                        Verdict::Accepted
                    } else {
                        Verdict::Rejected
                    };
                }
                H2Event::Data(stream, messages, close) => {
                    let Some(up) = h
                        .streams
                        .get(&stream)
                        .and_then(|&i| self.upgrades.get_mut(i))
                    else {
                        continue;
                    };
                    if up.verdict != Verdict::Accepted {
                        continue;
                    }
                    let client_side = dir == client_dir;
                    up.messages += messages;
                    if client_side {
                        up.client_messages += messages;
                    } else {
                        up.server_messages += messages;
                    }
                    if let (None, Some(code)) = (up.close_code, close) {
                        up.close_code = Some(code);
                        up.close_by = Some(if client_side { "client" } else { "server" }.into());
                    }
                }
            }
        }
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

    /// The upgrade with this id (ids count requests from 0), unless let go.
    pub fn upgrade(&self, id: usize) -> Option<&Upgrade> {
        self.upgrades.get(id)
    }

    /// The upgrades held, in request order.
    pub fn upgrades(&self) -> impl Iterator<Item = &Upgrade> {
        self.upgrades.items.iter()
    }

    /// Upgrades held in memory (a live run lets go of the reported ones).
    pub fn held_upgrades(&self) -> usize {
        self.upgrades.items.len()
    }

    /// The id the next upgrade request will get.
    pub fn next_upgrade_id(&self) -> usize {
        self.upgrades.first_id + self.upgrades.items.len()
    }

    /// Stops following the HTTP connections quiet since `idle_ns` before `now_ns`
    /// (capture time), so a live run's table holds the connections in use, not every
    /// one seen. Returns how many were let go.
    pub fn forget_idle_connections(&mut self, now_ns: i64, idle_ns: i64) -> usize {
        let before = self.conns.len();
        self.conns.retain(|_, c| now_ns - c.last_ts < idle_ns);
        before - self.conns.len()
    }

    /// Lets go of the upgrades before `id` (a live run has reported them), so memory
    /// does not grow with the length of the run.
    pub fn forget_upgrades_before(&mut self, id: usize) {
        while self.upgrades.first_id < id && self.upgrades.items.pop_front().is_some() {
            self.upgrades.first_id += 1;
        }
    }

    pub fn into_upgrades(self) -> Vec<Upgrade> {
        self.upgrades.items.into()
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

impl H2Conn {
    /// A connection whose client is `client_dir`, each side's stream starting at the
    /// given sequence number (`None`: at its first segment).
    fn starting(client_dir: DirIndex, client_seq: Option<u32>, server_seq: Option<u32>) -> Self {
        let mut h = H2Conn {
            client_dir,
            ..H2Conn::default()
        };
        if let Some(c) = h.dirs.get_mut(client_dir) {
            c.next_seq = client_seq;
            c.preface_pending = true;
        }
        if let Some(s) = h.dirs.get_mut(1 - client_dir) {
            s.next_seq = server_seq;
        }
        h
    }
}

impl H2Direction {
    /// Appends a segment's new bytes and decodes every frame now complete.
    fn take_frames(&mut self, seq: u32, payload: &[u8], skip: usize) -> Vec<H2Event> {
        let mut events = Vec::new();
        if self.lost {
            return events;
        }
        let Some((data, gap)) = fresh_bytes(&mut self.next_seq, seq, payload, skip) else {
            return events;
        };
        if gap {
            self.lose();
            return events;
        }
        self.buf.extend_from_slice(data);
        if self.preface_pending {
            let n = h2::PREFACE.len().min(self.buf.len());
            if self.buf.get(..n) != h2::PREFACE.get(..n) {
                self.lose();
                return events;
            }
            if n < h2::PREFACE.len() {
                return events;
            }
            self.buf.drain(..n);
            self.preface_pending = false;
        }
        let mut used = 0;
        while let Ok(frame) = h2::parse_frame(self.buf.get(used..).unwrap_or(&[])) {
            used += frame.wire_len();
            let decoded = frame.decode();
            let stream = frame.header.stream_id;
            let block = match (decoded, self.block.take()) {
                (
                    Ok(h2::Payload::Headers {
                        block, end_headers, ..
                    }),
                    _,
                ) => Some((stream, block.to_vec(), end_headers)),
                (Ok(h2::Payload::Continuation { block, end_headers }), Some((s, mut b)))
                    if s == stream =>
                {
                    b.extend_from_slice(block);
                    Some((s, b, end_headers))
                }
                (Ok(h2::Payload::Data { data, .. }), _) => {
                    let (messages, close) = websocket_in_data(data);
                    events.push(H2Event::Data(stream, messages, close));
                    None
                }
                (Ok(_), None) => None,
                // A header block interrupted, or a frame that does not decode.
                _ => {
                    self.lose();
                    return events;
                }
            };
            match block {
                Some((s, b, true)) => match self.hpack.decode(&b) {
                    Ok(fields) => events.push(H2Event::Headers(s, fields)),
                    Err(_) => {
                        self.lose();
                        return events;
                    }
                },
                Some((s, b, false)) if b.len() <= H2_MAX_BUFFER => self.block = Some((s, b)),
                Some(_) => {
                    self.lose();
                    return events;
                }
                None => {}
            }
        }
        self.buf.drain(..used.min(self.buf.len()));
        if self.buf.len() > H2_MAX_BUFFER {
            self.lose();
        }
        events
    }

    fn lose(&mut self) {
        self.lost = true;
        self.buf = Vec::new();
        self.block = None;
    }
}

/// Data messages ended and the first Close code among the whole WebSocket frames of
/// one DATA payload. A WebSocket frame split across DATA frames is not followed.
fn websocket_in_data(mut data: &[u8]) -> (u64, Option<u16>) {
    let (mut messages, mut close) = (0, None);
    while let Ok(f) = ws::parse_frame(data) {
        let Some(len) = usize::try_from(f.declared_len)
            .ok()
            .and_then(|l| l.checked_add(f.header_len))
            .filter(|&l| l <= data.len())
        else {
            break;
        };
        messages += u64::from(is_message_end(f.opcode, f.fin));
        if f.opcode == ws::Opcode::Close && close.is_none() {
            close = f.close_code;
        }
        data = data.get(len..).unwrap_or(&[]);
    }
    (messages, close)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first client request of tests/fixtures/lab/h2-extended-connect.pcap, its
    /// header block split by hand into HEADERS + CONTINUATION.
    fn client_bytes() -> Vec<u8> {
        let block: [u8; 68] = [
            0x42, 0x87, 0xbd, 0xab, 0x4e, 0x9c, 0x17, 0xb7, 0xff, 0x40, 0x87, 0xb9, 0x5d, 0x87,
            0x49, 0xc8, 0x7a, 0x3f, 0x87, 0xf0, 0x58, 0xd0, 0x72, 0x75, 0x2a, 0x7f, 0x86, 0x44,
            0x84, 0x60, 0x93, 0x8d, 0x3f, 0x41, 0x8d, 0xa0, 0x71, 0xae, 0x5f, 0x23, 0xa6, 0xba,
            0x0b, 0x70, 0x2f, 0x34, 0xd0, 0x7f, 0x40, 0x8f, 0x41, 0x48, 0xb7, 0x82, 0xc6, 0x83,
            0x93, 0xa9, 0x52, 0xb7, 0x72, 0xd8, 0x83, 0x1e, 0xaf, 0x82, 0x0b, 0x3f,
        ];
        let mut v = h2::PREFACE.to_vec();
        v.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
        v.extend_from_slice(&[0, 0, 30, 1, 0, 0, 0, 0, 1]); // HEADERS, no END_HEADERS
        v.extend_from_slice(&block[..30]);
        v.extend_from_slice(&[0, 0, 38, 9, 4, 0, 0, 0, 1]); // CONTINUATION, END_HEADERS
        v.extend_from_slice(&block[30..]);
        v
    }

    #[test]
    fn client_stream_in_small_retransmitted_segments() {
        let bytes = client_bytes();
        let mut d = H2Direction {
            preface_pending: true,
            next_seq: Some(1000),
            ..H2Direction::default()
        };
        let mut events = Vec::new();
        // 7-byte segments, each sent again at once, then 10-byte segments that
        // overlap the next one by 3 bytes.
        for (i, chunk) in bytes.chunks(7).take(5).enumerate() {
            let seq = 1000 + 7 * i as u32;
            events.extend(d.take_frames(seq, chunk, 0));
            assert!(d.take_frames(seq, chunk, 0).is_empty(), "a retransmission");
        }
        for start in (35..bytes.len()).step_by(7) {
            let chunk = &bytes[start..bytes.len().min(start + 10)];
            events.extend(d.take_frames(1000 + start as u32, chunk, 0));
        }
        assert!(!d.lost);
        assert_eq!(events.len(), 1);
        let H2Event::Headers(stream, fields) = &events[0] else {
            panic!("not a header block")
        };
        assert_eq!(*stream, 1);
        assert_eq!(h2::header(fields, ":protocol"), Some("websocket"));
        assert_eq!(h2::header(fields, ":path"), Some("/chat"));
    }

    #[test]
    fn gap_or_missing_preface_stops_following() {
        let bytes = client_bytes();
        let mut d = H2Direction {
            preface_pending: true,
            next_seq: Some(0),
            ..H2Direction::default()
        };
        assert!(d.take_frames(10, &bytes[10..], 0).is_empty());
        assert!(d.lost);
        let mut d = H2Direction {
            preface_pending: true,
            ..H2Direction::default()
        };
        assert!(d.take_frames(0, b"GET / HTTP/1.1\r\n\r\n", 0).is_empty());
        assert!(d.lost);
    }

    #[test]
    fn websocket_frames_in_one_data_payload() {
        // Unmasked "hi" (text, FIN), a Close 1000, then a header cut short.
        let data = [0x81, 2, b'h', b'i', 0x88, 2, 0x03, 0xe8, 0x81, 5, b'a'];
        assert_eq!(websocket_in_data(&data), (1, Some(1000)));
        assert_eq!(websocket_in_data(&[]), (0, None));
    }
}
