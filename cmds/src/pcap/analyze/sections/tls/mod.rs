//! TLS connections without keys: what the clear-text handshake says (version, cipher
//! suite, SNI, ALPN, resumption, the TLS 1.2 certificate), how long it took, whether
//! it completed, and the alerts.
//!
//! Each direction's TCP bytes go through a [`Reassembler`] (out of order, retransmitted
//! and split segments), then through the record parser; handshake record payloads are
//! joined into a handshake stream so a message split over records (a certificate
//! chain) decodes whole. Once a direction encrypts (after its ChangeCipherSpec in TLS
//! 1.2, after the ServerHello in TLS 1.3) its handshake records are opaque: the first
//! one after the switch is its Finished, which is how completion is told without keys.
//!
//! Connections are followed from a first segment that starts with a TLS record header;
//! at most [`MAX_CONNECTIONS`] at once, the rest counted.

pub mod decrypt;
pub mod findings;
pub mod ja4;

use super::reasm::Reassembler;
use crate::output::rfc3339_ns;
use crate::pcap::analyze::{FastMap, FrameCtx, Section};
use decrypt::{DirKeys, KeyLog, Opened};
use netkit_dissectors::app::tls::{self, content, Alert, HandshakeMsg};
use netkit_dissectors::transport::tcp_flags;
use netkit_dissectors::{ErrorKind, Layer};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// TLS connections followed at once.
const MAX_CONNECTIONS: usize = 200_000;
/// A handshake message is buffered up to this size (certificate chains run to tens
/// of KiB); a longer one stops the decoding of its direction's handshake, counted.
const MAX_HANDSHAKE_MESSAGE: usize = 256 * 1024;
/// Record buffers kept for reuse once the clear-text analyses are done with their
/// plaintext: a few cover the records of one frame, more would only hold memory.
const SPARE_RECORD_BUFFERS: usize = 8;
/// Alerts listed per connection (the count is exact).
const MAX_LISTED_ALERTS: usize = 16;

/// One alert as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertSeen {
    pub frame: u64,
    /// `client` or `server`.
    pub from: &'static str,
    /// `warning` or `fatal`.
    pub level: &'static str,
    /// The RFC name (`handshake_failure`).
    pub description: &'static str,
    #[serde(skip)]
    pub ts_ns: i64,
}

/// What the TLS 1.2 server certificate says, and what is wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateInfo {
    pub frame: u64,
    pub subject: String,
    pub issuer: String,
    /// DNS names of the subjectAltName extension (the CN when there is none).
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Expired or not yet valid at the frame's capture time.
    pub expired: bool,
    pub not_yet_valid: bool,
    /// The SNI is covered by none of `names` (false when there was no SNI).
    pub name_mismatch: bool,
    /// The certificate did not parse as X.509 (the text says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

/// One TLS connection (CLI.md's `tls.connections[]`).
#[derive(Debug, Clone, Serialize)]
pub struct TlsConn {
    /// Wireshark's `tcp.stream`.
    pub stream: Option<u32>,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub client_hello_frame: Option<u64>,
    pub server_hello_frame: Option<u64>,
    /// Negotiated: the ServerHello's supported_versions, else its legacy version.
    pub version: Option<String>,
    /// The versions the client offered (supported_versions, else its legacy version).
    pub versions_offered: Vec<String>,
    pub cipher_suite: Option<String>,
    pub sni: Option<String>,
    pub alpn_offered: Vec<String>,
    pub alpn: Option<String>,
    /// The JA4 fingerprint of the ClientHello (the last one after a HelloRetryRequest).
    pub ja4: Option<String>,
    /// ClientHello to ServerHello.
    pub handshake_rtt_ms: Option<f64>,
    /// ClientHello to the last Finished (the one that completes the handshake).
    pub handshake_ms: Option<f64>,
    pub completed: bool,
    pub completed_frame: Option<u64>,
    /// `none`, `session_id`, `ticket` or `psk`: how the session was resumed.
    pub resumption: &'static str,
    /// What the client offered to resume with (`session_id`, `ticket`, `psk`).
    pub resumption_offered: Vec<&'static str>,
    pub hello_retry: bool,
    pub alerts: Vec<AlertSeen>,
    /// Alerts sent encrypted (their content unknown without keys).
    pub encrypted_alerts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateInfo>,
    /// Application-data records each way.
    pub client_records: u64,
    pub server_records: u64,
    /// Bytes of the directions' streams that were not TLS or not decodable, or holes
    /// given up on: what the section could not follow.
    pub undecodable: u64,
    /// The key log had this connection's secrets and its records were opened.
    pub decrypted: bool,
    /// Records that failed authentication with the logged keys (wrong keys, or
    /// damaged bytes), and the first such frame.
    pub decryption_failures: u64,
    pub first_failure_frame: Option<u64>,
    /// Application bytes decrypted each way.
    pub client_plain_bytes: u64,
    pub server_plain_bytes: u64,
    #[serde(skip)]
    pub client_hello_ts: Option<i64>,
    #[serde(skip)]
    pub last_ts: i64,
    /// The connection ended (FIN or RST seen) in the capture.
    #[serde(skip)]
    pub ended: bool,
}

/// The `tls` section.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TlsSection {
    pub connections: Vec<TlsConn>,
    /// Connections not followed because [`MAX_CONNECTIONS`] were already.
    pub untracked_connections: u64,
    /// Holes in a TCP stream given up on (more than the reassembly bound waited
    /// behind them).
    pub reassembly_overflows: u64,
    /// With a key log: handshakes whose secrets it did not have (`None` without one).
    pub sessions_without_keys: Option<u64>,
    /// Key log lines that did not parse.
    pub keylog_bad_lines: u64,
}

/// Which side of a [`ConnKey`] sent: 0 when the source is its first endpoint.
type DirIndex = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConnKey(SocketAddr, SocketAddr);

#[derive(Debug, Default)]
struct Direction {
    reasm: Reassembler,
    /// Bytes of a record not yet complete.
    buf: Vec<u8>,
    /// Handshake bytes of a message not yet complete.
    hs: Vec<u8>,
    /// Records after this direction's switch to encryption.
    encrypted: bool,
    /// The first protected handshake record (the Finished) was seen.
    finished: bool,
    /// Not a record stream (or lost sync): nothing more is parsed.
    lost: bool,
    hs_lost: bool,
    /// Opens this direction's protected records (with a key log).
    keys: Option<DirKeys>,
    /// TLS 1.3: the application keys, installed after this direction's Finished.
    next_keys: Option<DirKeys>,
    /// Sequence number of the next decrypted byte in the virtual clear-text stream
    /// handed to the HTTP/WebSocket analysis.
    plain_seq: u32,
}

struct Conn {
    info: TlsConn,
    dirs: [Direction; 2],
    /// The [`DirIndex`] of the client, once a hello says which it is.
    client_dir: Option<DirIndex>,
    /// The client's session id, to tell a 1.2 session-id resumption.
    client_session_id: Vec<u8>,
    client_ticket: bool,
    /// TLS 1.3 was negotiated.
    tls13: bool,
    client_random: [u8; 32],
    keylog: Option<Arc<KeyLog>>,
    /// Decrypted application data waiting for the analysis to take it.
    plain: Vec<Plain>,
}

/// Decrypted application bytes of one record, as the clear-text analyses take them:
/// the connection's endpoints, the direction, a virtual in-order sequence number, and
/// the frame that completed the record.
#[derive(Debug, Clone)]
pub struct Plain {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub frame: u64,
    pub ts_ns: i64,
    /// The whole record, decrypted where it was reassembled; the plaintext is
    /// `record[text]`. Handing over the record's own buffer saves copying every
    /// decrypted byte once more.
    record: Vec<u8>,
    text: std::ops::Range<usize>,
}

impl Plain {
    /// The decrypted application bytes.
    pub fn data(&self) -> &[u8] {
        self.record.get(self.text.clone()).unwrap_or_default()
    }
}

#[derive(Default)]
pub struct TlsAnalysis {
    keylog: Option<Arc<KeyLog>>,
    conns: FastMap<ConnKey, Conn>,
    /// Ended connections, in order of their first frame, with the live ones at finish.
    done: Vec<TlsConn>,
    untracked: u64,
    overflows: u64,
    /// Decrypted application data of the frame just fed, for [`Self::take_plain`].
    plain: Vec<Plain>,
    /// Record buffers handed back through [`Self::recycle`].
    spare: Vec<Vec<u8>>,
}

impl Section for TlsAnalysis {
    fn feed(&mut self, ctx: &FrameCtx<'_>) {
        self.feed_frame(ctx);
    }
}

impl TlsAnalysis {
    /// A run that decrypts with `keylog` (when not empty).
    pub fn with_keylog(keylog: KeyLog) -> Self {
        TlsAnalysis {
            keylog: (!keylog.is_empty() || keylog.bad_lines > 0).then(|| Arc::new(keylog)),
            ..TlsAnalysis::default()
        }
    }

    /// Adds key log lines (from a pcapng Decryption Secrets Block) for the handshakes
    /// still to come.
    pub fn add_keylog_text(&mut self, text: &str) {
        let mut log = self.keylog.as_deref().cloned().unwrap_or_default();
        log.add_text(text);
        let log = Arc::new(log);
        for c in self.conns.values_mut() {
            c.keylog = Some(log.clone());
        }
        self.keylog = Some(log);
    }

    /// Whether a key log was given.
    pub fn decrypting(&self) -> bool {
        self.keylog.is_some()
    }

    /// Feeds one frame; true when it belongs to a connection being decrypted (the
    /// clear-text analyses then take its decrypted bytes from [`Self::take_plain`]
    /// instead of the frame).
    pub fn feed_frame(&mut self, ctx: &FrameCtx<'_>) -> bool {
        let Some((ip, tcp)) = ctx.frame.innermost_tcp() else {
            return false;
        };
        let payload = tcp.payload;
        // Only a handshake record starts following a connection: with none followed,
        // other segments need neither their addresses compared nor hashed (bulk
        // traffic without TLS), and a SYN has no old connection to end.
        if self.conns.is_empty() && !starts_handshake(payload) {
            return false;
        }
        let (src, dst) = match ip {
            Layer::Ipv4(h) => (IpAddr::V4(h.src), IpAddr::V4(h.dst)),
            Layer::Ipv6(h) => (IpAddr::V6(h.src), IpAddr::V6(h.dst)),
            _ => return false,
        };
        let a = SocketAddr::new(src, tcp.src_port);
        let b = SocketAddr::new(dst, tcp.dst_port);
        let (key, dir) = if a <= b {
            (ConnKey(a, b), 0)
        } else {
            (ConnKey(b, a), 1)
        };
        if tcp.has(tcp_flags::SYN) && !tcp.has(tcp_flags::ACK) {
            // A new connection on the same ports: the old one is over.
            if let Some(old) = self.conns.remove(&key) {
                self.retire(old);
            }
        }
        let full = self.conns.len() >= MAX_CONNECTIONS;
        let conn = match self.conns.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                if !starts_handshake(payload) {
                    return false;
                }
                if full {
                    self.untracked += 1;
                    return false;
                }
                // The sender until a hello says which side is the client.
                let mut c = Conn::new(a, b);
                c.keylog = self.keylog.clone();
                e.insert(c)
            }
        };
        conn.info.last_ts = ctx.raw.ts_ns;
        if conn.info.stream.is_none() {
            conn.info.stream = ctx.tcp.map(|t| t.stream);
        }
        if tcp.has(tcp_flags::FIN) || tcp.has(tcp_flags::RST) {
            conn.info.ended = true;
        }
        if !payload.is_empty() {
            let (frame, ts_ns) = (ctx.raw.number, ctx.raw.ts_ns);
            // In-order segments (nearly all of a bulk transfer) are read in place: a
            // copy into the reassembler and out again was a tenth of a decrypting run.
            let spare = &mut self.spare;
            if let Some(fresh) = conn.dirs[dir].reasm.push_in_order(tcp.seq, payload) {
                if !fresh.is_empty() {
                    conn.bytes(dir, fresh, frame, ts_ns, false, spare);
                }
            } else {
                let mut chunks = Vec::new();
                conn.dirs[dir]
                    .reasm
                    .push(tcp.seq, payload, frame, ts_ns, &mut chunks);
                for c in chunks {
                    conn.bytes(dir, &c.data, c.frame, c.ts_ns, c.after_gap, spare);
                }
            }
            // Only this connection can have decrypted anything for this frame.
            self.plain.append(&mut conn.plain);
        }
        conn.info.decrypted
    }

    /// Decrypted application bytes produced by the frames fed so far.
    pub fn take_plain(&mut self, out: &mut Vec<Plain>) {
        out.append(&mut self.plain);
    }

    /// Takes back a [`Plain`] the clear-text analyses are done with: its buffer
    /// reassembles a later record.
    pub fn recycle(&mut self, p: Plain) {
        keep_spare(&mut self.spare, p.record);
    }
}

/// Whether a segment's payload opens with a TLS handshake record: the only thing
/// that starts following a connection.
fn starts_handshake(payload: &[u8]) -> bool {
    tls::looks_like_record(payload) && payload.first() == Some(&content::HANDSHAKE)
}

/// Keeps `buf`, emptied, for a later record, unless [`SPARE_RECORD_BUFFERS`] are kept.
fn keep_spare(spare: &mut Vec<Vec<u8>>, mut buf: Vec<u8>) {
    if spare.len() < SPARE_RECORD_BUFFERS {
        buf.clear();
        spare.push(buf);
    }
}

impl Conn {
    fn new(first_sender: SocketAddr, first_receiver: SocketAddr) -> Self {
        Conn {
            info: TlsConn {
                stream: None,
                client: first_sender,
                server: first_receiver,
                client_hello_frame: None,
                server_hello_frame: None,
                version: None,
                versions_offered: Vec::new(),
                cipher_suite: None,
                sni: None,
                alpn_offered: Vec::new(),
                alpn: None,
                ja4: None,
                handshake_rtt_ms: None,
                handshake_ms: None,
                completed: false,
                completed_frame: None,
                resumption: "none",
                resumption_offered: Vec::new(),
                hello_retry: false,
                alerts: Vec::new(),
                encrypted_alerts: 0,
                certificate: None,
                client_records: 0,
                server_records: 0,
                undecodable: 0,
                decrypted: false,
                decryption_failures: 0,
                first_failure_frame: None,
                client_plain_bytes: 0,
                server_plain_bytes: 0,
                client_hello_ts: None,
                last_ts: 0,
                ended: false,
            },
            dirs: Default::default(),
            client_dir: None,
            client_session_id: Vec::new(),
            client_ticket: false,
            tls13: false,
            client_random: [0; 32],
            keylog: None,
            plain: Vec::new(),
        }
    }

    fn sent_by_client(&self, dir: DirIndex) -> bool {
        self.client_dir == Some(dir)
    }

    /// New in-order bytes of one direction: every record now complete. `spare`:
    /// empty buffers to take instead of allocating.
    fn bytes(
        &mut self,
        dir: DirIndex,
        data: &[u8],
        frame: u64,
        ts_ns: i64,
        after_gap: bool,
        spare: &mut Vec<Vec<u8>>,
    ) {
        let d = &mut self.dirs[dir];
        if after_gap {
            // Bytes were lost: resynchronise only if a record header starts here.
            d.buf.clear();
            d.hs.clear();
            d.hs_lost = true;
            d.lost = !tls::looks_like_record(data);
        }
        if d.lost {
            self.info.undecodable += data.len() as u64;
            return;
        }
        d.buf.extend_from_slice(data);
        let mut buf = std::mem::take(&mut self.dirs[dir].buf);
        let mut used = 0;
        loop {
            let wire_len = match tls::parse_record(buf.get(used..).unwrap_or(&[])) {
                Ok(r) if self.opens(dir, &r) => r.wire_len(),
                Ok(r) => {
                    used += r.wire_len();
                    self.record(dir, r, frame, ts_ns);
                    continue;
                }
                Err(e) if matches!(e.kind, ErrorKind::Truncated { .. }) => break,
                Err(_) => {
                    let d = &mut self.dirs[dir];
                    d.lost = true;
                    self.info.undecodable += (buf.len() - used) as u64;
                    return;
                }
            };
            // The record gets a buffer of its own to be decrypted in and handed on.
            let record = if used == 0 && buf.len() - wire_len <= wire_len {
                // A bulk transfer's usual case: the record fills the buffer's start,
                // so the buffer itself is taken and only the bytes after it (at most
                // a segment's worth) move to a new one. When more follows than the
                // record holds (a 64 KB loopback segment of several records), moving
                // it on for each record would cost more than copying the record.
                let mut rest = spare.pop().unwrap_or_default();
                rest.extend_from_slice(&buf[wire_len..]);
                buf.truncate(wire_len);
                std::mem::replace(&mut buf, rest)
            } else {
                let mut record = spare.pop().unwrap_or_default();
                record.extend_from_slice(&buf[used..used + wire_len]);
                used += wire_len;
                record
            };
            if let Some(unused) = self.open_record(dir, record, frame, ts_ns) {
                keep_spare(spare, unused);
            }
        }
        // Keep the partial record in place: copying the rest out on every segment
        // re-copied a 16 KB record once per segment of it.
        buf.drain(..used.min(buf.len()));
        self.dirs[dir].buf = buf;
    }

    /// Whether `r` is protected and this direction has the keys to open it.
    fn opens(&self, dir: DirIndex, r: &tls::Record<'_>) -> bool {
        let d = &self.dirs[dir];
        let protected = if self.tls13 {
            r.content_type == content::APPLICATION_DATA
        } else {
            d.encrypted && r.content_type != content::CHANGE_CIPHER_SPEC
        };
        protected && d.keys.is_some()
    }

    /// A record this direction cannot open (clear text, or no keys).
    fn record(&mut self, dir: DirIndex, r: tls::Record<'_>, frame: u64, ts_ns: i64) {
        let encrypted = self.dirs[dir].encrypted;
        match r.content_type {
            // TLS 1.3 sends it only for middlebox compatibility: it switches nothing
            // there (the ServerHello did).
            content::CHANGE_CIPHER_SPEC if !self.tls13 => {
                let d = &mut self.dirs[dir];
                d.encrypted = true;
                d.keys = d.next_keys.take();
            }
            content::ALERT => match Alert::parse(r.body).filter(|_| !encrypted) {
                Some(a) => {
                    if self.info.alerts.len() < MAX_LISTED_ALERTS {
                        let from = if self.sent_by_client(dir) {
                            "client"
                        } else {
                            "server"
                        };
                        self.info.alerts.push(AlertSeen {
                            frame,
                            from,
                            level: a.level_name(),
                            description: a.name(),
                            ts_ns,
                        });
                    }
                }
                None => self.info.encrypted_alerts += 1,
            },
            content::HANDSHAKE if encrypted => self.protected_handshake(dir, frame, ts_ns),
            content::HANDSHAKE => {
                let d = &mut self.dirs[dir];
                if d.hs_lost {
                    return;
                }
                d.hs.extend_from_slice(r.body);
                let hs = std::mem::take(&mut d.hs);
                let mut used = 0;
                while let Ok(h) = tls::parse_handshake(hs.get(used..).unwrap_or(&[])) {
                    used += h.wire_len();
                    if let Ok(msg) = h.decode() {
                        self.handshake(dir, msg, frame, ts_ns);
                    }
                }
                let d = &mut self.dirs[dir];
                let rest = hs.get(used..).unwrap_or(&[]);
                if rest.len() > MAX_HANDSHAKE_MESSAGE {
                    d.hs_lost = true;
                    self.info.undecodable += rest.len() as u64;
                } else if !d.hs_lost {
                    d.hs = rest.to_vec();
                }
            }
            content::APPLICATION_DATA => {
                if self.tls13 && !self.dirs[dir].finished {
                    // TLS 1.3 hides the rest of the handshake in application-data
                    // records: the client's first one after the ServerHello is its
                    // Finished (the server's come before it).
                    if self.sent_by_client(dir) && self.info.server_hello_frame.is_some() {
                        self.protected_handshake(dir, frame, ts_ns);
                    }
                    return;
                }
                if self.sent_by_client(dir) {
                    self.info.client_records += 1;
                } else {
                    self.info.server_records += 1;
                }
            }
            _ => {}
        }
    }

    /// Opens a protected record with the direction's keys and takes what it carries:
    /// handshake messages (Finished switches TLS 1.3 to the application keys, a
    /// KeyUpdate to the next ones), alerts, and application data for the clear-text
    /// analyses.
    /// `record` is the whole record (header and body) in a buffer of its own; it is
    /// decrypted in place, and given back unless it went on with its plaintext.
    fn open_record(
        &mut self,
        dir: DirIndex,
        mut record: Vec<u8>,
        frame: u64,
        ts_ns: i64,
    ) -> Option<Vec<u8>> {
        let Some((header, body)) = record.split_first_chunk_mut::<5>() else {
            return Some(record);
        };
        let header = *header;
        let Some(keys) = self.dirs[dir].keys.as_mut() else {
            return Some(record);
        };
        let (inner, text) = match keys.open(&header, body) {
            // In the record, after its header.
            Opened::Plain(t, p) => (t, p.start + 5..p.end + 5),
            Opened::Failed => {
                self.info.decryption_failures += 1;
                self.info.first_failure_frame.get_or_insert(frame);
                return Some(record);
            }
        };
        let plain = record.get(text.clone()).unwrap_or_default();
        let client = self.sent_by_client(dir);
        match inner {
            content::HANDSHAKE => {
                let mut rest = plain;
                while let Ok(h) = tls::parse_handshake(rest) {
                    rest = rest.get(h.wire_len()..).unwrap_or(&[]);
                    match h.msg_type {
                        tls::hs::FINISHED => {
                            self.protected_handshake(dir, frame, ts_ns);
                            if self.tls13 {
                                let d = &mut self.dirs[dir];
                                d.keys = d.next_keys.take();
                            }
                        }
                        tls::hs::KEY_UPDATE if self.tls13 => {
                            if let Some(k) = self.dirs[dir].keys.as_mut() {
                                k.update();
                            }
                        }
                        _ => {}
                    }
                }
            }
            content::ALERT => {
                if let Some(a) = Alert::parse(plain) {
                    if self.info.alerts.len() < MAX_LISTED_ALERTS {
                        self.info.alerts.push(AlertSeen {
                            frame,
                            from: if client { "client" } else { "server" },
                            level: a.level_name(),
                            description: a.name(),
                            ts_ns,
                        });
                    }
                }
            }
            content::APPLICATION_DATA => {
                let (src, dst) = if client {
                    (self.info.client, self.info.server)
                } else {
                    (self.info.server, self.info.client)
                };
                let len = plain.len();
                if client {
                    self.info.client_records += 1;
                    self.info.client_plain_bytes += len as u64;
                } else {
                    self.info.server_records += 1;
                    self.info.server_plain_bytes += len as u64;
                }
                let d = &mut self.dirs[dir];
                let seq = d.plain_seq;
                d.plain_seq = seq.wrapping_add(len as u32);
                if len > 0 {
                    self.plain.push(Plain {
                        src,
                        dst,
                        seq,
                        frame,
                        ts_ns,
                        record,
                        text,
                    });
                    return None;
                }
            }
            _ => {}
        }
        Some(record)
    }

    /// A protected handshake record: the first one a direction sends is its Finished.
    /// The handshake is complete once both have (TLS 1.3: once the client's is seen,
    /// since the server's comes first and cannot be told apart without keys).
    fn protected_handshake(&mut self, dir: DirIndex, frame: u64, ts_ns: i64) {
        let d = &mut self.dirs[dir];
        if d.finished {
            return;
        }
        d.finished = true;
        let done = if self.tls13 {
            self.sent_by_client(dir)
        } else {
            self.dirs.iter().all(|d| d.finished)
        };
        if done && !self.info.completed {
            self.info.completed = true;
            self.info.completed_frame = Some(frame);
            self.info.handshake_ms = self
                .info
                .client_hello_ts
                .map(|t| ts_ns.saturating_sub(t) as f64 / 1e6);
        }
    }

    fn handshake(&mut self, dir: DirIndex, msg: HandshakeMsg<'_>, frame: u64, ts_ns: i64) {
        match msg {
            HandshakeMsg::ClientHello(ch) => {
                if self.client_dir.is_some_and(|c| c != dir) {
                    return;
                }
                if self.client_dir.is_none() {
                    self.client_dir = Some(dir);
                    self.orient(dir);
                }
                let i = &mut self.info;
                // A second ClientHello answers a HelloRetryRequest: the first one
                // started the handshake and keeps its time.
                if i.client_hello_frame.is_none() {
                    i.client_hello_frame = Some(frame);
                    i.client_hello_ts = Some(ts_ns);
                }
                i.sni = ch.sni.map(str::to_string);
                i.ja4 = Some(ja4::ja4(&ch));
                i.alpn_offered = ch
                    .alpn
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                let offered: Vec<u16> = if ch.supported_versions.is_empty() {
                    vec![ch.legacy_version]
                } else {
                    ch.supported_versions.clone()
                };
                i.versions_offered = offered
                    .into_iter()
                    .filter(|v| !tls::is_grease(*v))
                    .map(tls::version_name)
                    .collect();
                i.resumption_offered.clear();
                if !ch.session_id.is_empty() && ch.supported_versions.is_empty() {
                    // TLS 1.3 clients send a random legacy session id for middlebox
                    // compatibility: only a 1.2-only client's id means resumption.
                    i.resumption_offered.push("session_id");
                }
                if ch.ticket {
                    i.resumption_offered.push("ticket");
                }
                if ch.psk {
                    i.resumption_offered.push("psk");
                }
                self.client_session_id = ch.session_id.to_vec();
                self.client_random = ch.random;
                self.client_ticket = ch.ticket;
            }
            HandshakeMsg::ServerHello(sh) => {
                if self.client_dir.is_none() {
                    self.client_dir = Some(1 - dir);
                    self.orient(1 - dir);
                }
                if !self.sent_by_client(1 - dir) {
                    return;
                }
                let i = &mut self.info;
                if sh.hello_retry {
                    i.hello_retry = true;
                    return;
                }
                i.server_hello_frame = Some(frame);
                i.handshake_rtt_ms = i
                    .client_hello_ts
                    .map(|t| ts_ns.saturating_sub(t) as f64 / 1e6);
                let v = sh.version();
                i.version = Some(tls::version_name(v));
                i.cipher_suite = Some(tls::cipher_suite_name(sh.cipher_suite));
                i.alpn = sh.alpn.map(|p| String::from_utf8_lossy(p).into_owned());
                self.tls13 = v == 0x0304;
                i.resumption = if sh.psk {
                    "psk"
                } else if !self.tls13
                    && !sh.session_id.is_empty()
                    && sh.session_id == self.client_session_id.as_slice()
                {
                    // The server echoing the client's id resumes that session (with
                    // a ticket, RFC 5077 has it echo the id the client made up).
                    if self.client_ticket {
                        "ticket"
                    } else {
                        "session_id"
                    }
                } else {
                    "none"
                };
                if self.tls13 {
                    // Everything after the ServerHello is encrypted in TLS 1.3.
                    self.dirs[dir].encrypted = true;
                }
                self.install_keys(dir, &sh);
            }
            HandshakeMsg::Certificate(list) if !self.sent_by_client(dir) => {
                if let Some(leaf) = list.first() {
                    self.info.certificate =
                        Some(certificate(leaf, frame, ts_ns, self.info.sni.as_deref()));
                }
            }
            _ => {}
        }
    }

    /// With a key log, the keys of both directions once the ServerHello names the
    /// suite (`server_dir` sent it). TLS 1.3 starts with the handshake keys; TLS 1.2's
    /// wait for each side's ChangeCipherSpec.
    fn install_keys(&mut self, server_dir: DirIndex, sh: &tls::ServerHello<'_>) {
        let cipher_suite = sh.cipher_suite;
        let Some(log) = self.keylog.clone() else {
            return;
        };
        let client_dir = 1 - server_dir;
        if self.tls13 {
            if let Some(k) = decrypt::tls13_keys(&log, &self.client_random, cipher_suite) {
                self.info.decrypted = true;
                self.dirs[server_dir].keys = k.server_hs;
                self.dirs[server_dir].next_keys = k.server_app;
                self.dirs[client_dir].keys = k.client_hs;
                self.dirs[client_dir].next_keys = k.client_app;
            }
        } else if let Some((ck, sk)) = decrypt::tls12_keys(
            &log,
            decrypt::Tls12Params {
                client_random: &self.client_random,
                server_random: &sh.random,
                cipher_suite,
                version: sh.version(),
                encrypt_then_mac: sh.encrypt_then_mac,
            },
        ) {
            self.info.decrypted = true;
            self.dirs[client_dir].next_keys = Some(ck);
            self.dirs[server_dir].next_keys = Some(sk);
        }
        for d in &mut self.dirs {
            d.plain_seq = 1;
        }
    }

    /// The client is the sender of direction `client_dir`: put it first.
    fn orient(&mut self, client_dir: DirIndex) {
        // `info.client` is the sender of the first followed segment, which is
        // direction `first`; swap when that was the server.
        let (a, b) = (self.info.client, self.info.server);
        let first_dir = if a <= b { 0 } else { 1 };
        if first_dir != client_dir {
            self.info.client = b;
            self.info.server = a;
        }
    }
}

/// The leaf certificate of a TLS 1.2 handshake, judged at the capture time `ts_ns`
/// against the SNI.
fn certificate(der: &[u8], frame: u64, ts_ns: i64, sni: Option<&str>) -> CertificateInfo {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let mut info = CertificateInfo {
        frame,
        subject: String::new(),
        issuer: String::new(),
        names: Vec::new(),
        not_before: String::new(),
        not_after: String::new(),
        expired: false,
        not_yet_valid: false,
        name_mismatch: false,
        parse_error: None,
    };
    let cert = match X509Certificate::from_der(der) {
        Ok((_, c)) => c,
        Err(e) => {
            info.parse_error = Some(e.to_string());
            return info;
        }
    };
    info.subject = cert.subject().to_string();
    info.issuer = cert.issuer().to_string();
    let validity = cert.validity();
    let (nb, na) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    info.not_before = rfc3339_ns(nb.saturating_mul(1_000_000_000));
    info.not_after = rfc3339_ns(na.saturating_mul(1_000_000_000));
    let now = ts_ns.div_euclid(1_000_000_000);
    info.expired = now > na;
    info.not_yet_valid = now < nb;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                info.names.push(d.to_string());
            }
        }
    }
    if info.names.is_empty() {
        info.names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect();
    }
    if let Some(sni) = sni {
        info.name_mismatch = !info.names.iter().any(|n| name_matches(n, sni));
    }
    info
}

/// RFC 6125 §6.4: a DNS name matches case-insensitively; a `*.` wildcard stands for
/// exactly one leftmost label.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    let h = h.trim_end_matches('.');
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p.trim_end_matches('.') == h,
    }
}

impl TlsAnalysis {
    fn retire(&mut self, c: Conn) {
        self.overflows += c.dirs.iter().map(|d| d.reasm.overflows).sum::<u64>();
        self.done.push(c.info);
    }

    /// The section, connections in order of their first handshake frame.
    pub fn finish(mut self) -> TlsSection {
        let live: Vec<Conn> = self.conns.drain().map(|(_, c)| c).collect();
        for c in live {
            self.retire(c);
        }
        let overflows = self.overflows;
        let sessions_without_keys = self.keylog.as_ref().map(|_| {
            self.done
                .iter()
                .filter(|c| c.server_hello_frame.is_some() && !c.decrypted)
                .count() as u64
        });
        let keylog_bad_lines = self.keylog.as_ref().map_or(0, |k| k.bad_lines);
        let mut connections = self.done;
        connections.retain(|c| c.client_hello_frame.is_some() || c.server_hello_frame.is_some());
        connections.sort_by_key(|c| {
            c.client_hello_frame
                .or(c.server_hello_frame)
                .unwrap_or(u64::MAX)
        });
        TlsSection {
            connections,
            untracked_connections: self.untracked,
            reassembly_overflows: overflows,
            sessions_without_keys,
            keylog_bad_lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("example.com", "EXAMPLE.com"));
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("example.com", "www.example.com"));
    }
}
