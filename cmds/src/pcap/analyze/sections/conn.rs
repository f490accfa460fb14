//! Connections as Zeek's conn.log sees them, for `pcap analyze --export`: one record
//! per TCP stream (netkit's `tcp.stream`, so port reuse splits as in the report) and
//! per UDP or ICMP flow, with Zeek's `conn_state` and `history` (see [`conn_state`]
//! and [`History`] for the rules followed), packet and IP byte counts each way, and
//! payload bytes as Zeek counts them (TCP: from sequence numbers).
//!
//! Only built when an export is asked for: it costs a record per live connection.
//! Memory is bounded as Zeek bounds its own: a connection quiet for Zeek's inactivity
//! timeout (TCP 5 min, UDP and ICMP 1 min) or closed and quiet for 10 s is finished and
//! handed out by [`ConnLog::take_finished`]; past [`MAX_LIVE_CONNS`] the least recently
//! seen are finished early. Each frame is counted on its innermost connection (the
//! traffic inside a tunnel, not the tunnel), never on what an ICMP error quotes.

use super::flows::FlowKey;
use super::tcp::{flag, Segment, Side, TcpFrameInfo};
use crate::pcap::analyze::{FastMap, FrameCtx, Section};
use netkit_dissectors::transport::tcp_flags as th;
use netkit_dissectors::{Frame, Layer};
use std::net::IpAddr;

/// An address and port (for ICMP, the type and code stand for the ports as in Zeek).
pub type Endpoint = (IpAddr, u16);

/// Live connections above which the least recently seen are finished early.
pub const MAX_LIVE_CONNS: usize = 200_000;
/// Zeek's `tcp_inactivity_timeout`.
const TCP_IDLE_NS: i64 = 300 * 1_000_000_000;
/// Zeek's `udp_inactivity_timeout` and `icmp_inactivity_timeout`.
const UDP_ICMP_IDLE_NS: i64 = 60 * 1_000_000_000;
/// A closed TCP connection is finished after this much quiet (Zeek waits
/// `tcp_close_delay`, 5 s; netkit's TCP engine forgets closed conversations after 10).
const CLOSED_IDLE_NS: i64 = 10 * 1_000_000_000;
/// How often (frames, a power of two) connections are checked for inactivity.
const CHECK_EVERY: u64 = 1 << 14;
/// History letters kept per connection: Zeek's repeat rules bound them on any sane
/// connection, this bounds them on a hostile one (a reset storm with changing
/// sequence numbers).
const MAX_HISTORY: usize = 64;

/// A Zeek TCP endpoint state (`TCP_ENDPOINT_*`), as far as conn_state needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointState {
    /// Nothing sent.
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    /// Sent something without a SYN of its own being seen (midstream).
    Partial,
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

/// What one side sent, as conn.log counts it.
#[derive(Debug, Clone, Default)]
pub struct Direction {
    pub pkts: u64,
    pub ip_bytes: u64,
    /// Payload bytes: TCP from sequence numbers (retransmissions not counted twice),
    /// UDP and ICMP the sum of payloads.
    pub bytes: u64,
    pub state: EndpointState,
    /// TCP: the sequence number payload counting starts from, and the highest end
    /// reached so far (absolute, mod 2^32).
    seq_base: Option<u32>,
    seq_high: u32,
    /// Letters already recorded once (bit per letter), and the sequence numbers of the
    /// last SYN, FIN and RST (Zeek repeats those letters when the number changes).
    seen: u16,
    last_syn: Option<u32>,
    last_fin: Option<u32>,
    last_rst: Option<u32>,
    /// Retransmissions and zero windows, whose letters repeat at 1, 10, 100...
    retrans: u64,
    zero_windows: u64,
}

/// One connection as it stands.
#[derive(Debug, Clone)]
pub struct Conn {
    /// 6, 17, 1 or 58.
    pub proto: u8,
    pub orig: Endpoint,
    pub resp: Endpoint,
    /// netkit's TCP stream (Wireshark's `tcp.stream`).
    pub stream: Option<u32>,
    pub first_ts_ns: i64,
    pub last_ts_ns: i64,
    /// [originator, responder].
    pub dirs: [Direction; 2],
    pub history: String,
    /// The application protocol first seen on it, in Zeek's service name.
    pub service: Option<&'static str>,
}

impl Conn {
    fn new(proto: u8, orig: Endpoint, resp: Endpoint, stream: Option<u32>, ts: i64) -> Conn {
        Conn {
            proto,
            orig,
            resp,
            stream,
            first_ts_ns: ts,
            last_ts_ns: ts,
            dirs: Default::default(),
            history: String::new(),
            service: None,
        }
    }

    /// Zeek's conn_state.
    pub fn conn_state(&self) -> &'static str {
        let [o, r] = &self.dirs;
        match self.proto {
            6 => conn_state(
                o.state,
                r.state,
                o.bytes == 0 && r.bytes == 0,
                &self.history,
            ),
            17 => match (o.pkts > 0, r.pkts > 0) {
                (true, true) => "SF",
                (true, false) => "S0",
                (false, true) => "SHR",
                (false, false) => "OTH",
            },
            _ => "OTH",
        }
    }

    fn closed(&self) -> bool {
        let [o, r] = &self.dirs;
        o.state == EndpointState::Reset
            || r.state == EndpointState::Reset
            || (o.state == EndpointState::Closed && r.state == EndpointState::Closed)
    }

    fn idle_limit(&self) -> i64 {
        match self.proto {
            6 if self.closed() => CLOSED_IDLE_NS,
            6 => TCP_IDLE_NS,
            _ => UDP_ICMP_IDLE_NS,
        }
    }

    fn add_letter(&mut self, c: char) {
        if self.history.len() < MAX_HISTORY {
            self.history.push(c);
        }
    }

    /// A letter recorded at most once per direction (`a`, `d`).
    fn once(&mut self, side: usize, bit: u16, letter: char) {
        let d = &mut self.dirs[side];
        if d.seen & bit == 0 {
            d.seen |= bit;
            self.add_letter(case(letter, side));
        }
    }

    /// A letter recorded again whenever the packet's sequence number differs from the
    /// last one of its kind (`s`, `h`, `f`, `r`).
    fn by_seq(&mut self, side: usize, which: SeqLetter, seq: u32, letter: char) {
        let d = &mut self.dirs[side];
        let last = match which {
            SeqLetter::Syn => &mut d.last_syn,
            SeqLetter::Fin => &mut d.last_fin,
            SeqLetter::Rst => &mut d.last_rst,
        };
        let add = *last != Some(seq);
        *last = Some(seq);
        if add {
            self.add_letter(case(letter, side));
        }
    }

    /// A letter recorded at the 1st, 10th, 100th... occurrence (`t`, `w`).
    fn logarithmic(&mut self, side: usize, which: CountLetter, letter: char) {
        let d = &mut self.dirs[side];
        let n = match which {
            CountLetter::Retrans => &mut d.retrans,
            CountLetter::ZeroWindow => &mut d.zero_windows,
        };
        *n += 1;
        let mut threshold = 1u64;
        while threshold < *n {
            threshold = threshold.saturating_mul(10);
        }
        if threshold == *n {
            self.add_letter(case(letter, side));
        }
    }

    /// A TCP segment from side `side` (0 originator, 1 responder).
    pub fn tcp_segment(
        &mut self,
        side: usize,
        tcp_flags: u16,
        seq: u32,
        len: u32,
        window: u16,
        analysis: u16,
    ) {
        let syn = tcp_flags & th::SYN != 0;
        let ack = tcp_flags & th::ACK != 0;
        let fin = tcp_flags & th::FIN != 0;
        let rst = tcp_flags & th::RST != 0;
        self.history_of(side, syn, ack, fin, rst, seq, len);
        if analysis & flag::ANY_RETRANSMISSION != 0 && len > 0 {
            self.logarithmic(side, CountLetter::Retrans, 't');
        }
        if window == 0 && !syn && !fin && !rst {
            self.logarithmic(side, CountLetter::ZeroWindow, 'w');
        }
        self.states(side, syn, ack, fin, rst);
        self.count_seq(side, syn, fin, seq, len);
    }

    /// Zeek's UpdateHistory: a packet with more than one of SYN, FIN and RST is `q`
    /// (`i` for FIN+RST); one of them gives its letter; none, `d` with payload or `a`
    /// for a bare ACK.
    #[allow(clippy::too_many_arguments)]
    fn history_of(
        &mut self,
        side: usize,
        syn: bool,
        ack: bool,
        fin: bool,
        rst: bool,
        seq: u32,
        len: u32,
    ) {
        match u8::from(syn) + u8::from(fin) + u8::from(rst) {
            0 if len > 0 => self.once(side, SEEN_DATA, 'd'),
            0 if ack => self.once(side, SEEN_ACK, 'a'),
            0 => {}
            1 if syn => {
                let letter = if ack { 'h' } else { 's' };
                self.by_seq(side, SeqLetter::Syn, seq, letter)
            }
            // A FIN's sequence number is the end of the data it carries.
            1 if fin => self.by_seq(side, SeqLetter::Fin, seq.wrapping_add(len), 'f'),
            1 => self.by_seq(side, SeqLetter::Rst, seq, 'r'),
            _ if fin && rst => self.once(side, SEEN_FIN_RST, 'i'),
            _ => self.once(side, SEEN_MULTI, 'q'),
        }
    }

    /// Endpoint states, after Zeek's TCP analyzer.
    fn states(&mut self, side: usize, syn: bool, ack: bool, fin: bool, rst: bool) {
        use EndpointState as E;
        let peer = self.dirs[1 - side].state;
        let me = self.dirs[side].state;
        let (me, peer) = if rst {
            (E::Reset, peer)
        } else if fin {
            (if me == E::Reset { me } else { E::Closed }, peer)
        } else if syn && !ack {
            (if me == E::Inactive { E::SynSent } else { me }, peer)
        } else if syn {
            // A SYN-ACK answering a SYN establishes both ends.
            match (me, peer) {
                (E::Inactive | E::Partial, E::SynSent) => (E::Established, E::Established),
                (E::Inactive, _) => (E::SynAckSent, peer),
                _ => (me, peer),
            }
        } else {
            match me {
                E::Inactive => (E::Partial, peer),
                // The handshake went on without us seeing all of it.
                E::SynSent | E::SynAckSent if peer != E::Inactive => (E::Established, peer),
                _ => (me, peer),
            }
        };
        self.dirs[side].state = me;
        self.dirs[1 - side].state = peer;
    }

    /// Payload bytes from sequence numbers: from the ISN + 1 (or the first segment
    /// seen) to the highest end, moving forward only, so retransmissions do not count
    /// twice and more than 4 GiB still adds up. A FIN takes a sequence number but
    /// carries no byte.
    fn count_seq(&mut self, side: usize, syn: bool, fin: bool, seq: u32, len: u32) {
        let d = &mut self.dirs[side];
        let start = if syn { seq.wrapping_add(1) } else { seq };
        let end = start.wrapping_add(len);
        match d.seq_base {
            None => {
                d.seq_base = Some(start);
                d.seq_high = start;
                d.bytes = 0;
            }
            Some(_) if syn => return,
            Some(_) => {}
        }
        let ahead = end.wrapping_sub(d.seq_high);
        if ahead > 0 && ahead < 0x8000_0000 {
            d.bytes += u64::from(ahead);
            d.seq_high = end;
        }
        if fin && end == d.seq_high {
            d.seq_high = end.wrapping_add(1);
        }
    }

    /// A UDP or ICMP packet from side `side` with `payload` bytes.
    fn datagram(&mut self, side: usize, payload: u64) {
        self.dirs[side].bytes += payload;
        if self.proto == 17 && payload > 0 {
            self.once(side, SEEN_DATA, 'd');
        }
    }
}

#[derive(Clone, Copy)]
enum SeqLetter {
    Syn,
    Fin,
    Rst,
}

#[derive(Clone, Copy)]
enum CountLetter {
    Retrans,
    ZeroWindow,
}

const SEEN_DATA: u16 = 1;
const SEEN_ACK: u16 = 2;
const SEEN_FIN_RST: u16 = 4;
const SEEN_MULTI: u16 = 8;

/// Upper case for the originator, lower for the responder.
fn case(letter: char, side: usize) -> char {
    if side == 0 {
        letter.to_ascii_uppercase()
    } else {
        letter
    }
}

/// Zeek's `conn_state` (base/protocols/conn/main.zeek) for TCP, from the two endpoint
/// states, whether no payload went either way, and the history.
pub fn conn_state(
    o: EndpointState,
    r: EndpointState,
    no_payload: bool,
    history: &str,
) -> &'static str {
    use EndpointState as E;
    let o_inactive = matches!(o, E::Inactive | E::Partial);
    let r_inactive = matches!(r, E::Inactive | E::Partial);
    if r == E::Reset {
        if matches!(o, E::SynSent | E::SynAckSent) || (o == E::Reset && no_payload) {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
        }
    } else if o == E::Reset {
        if r_inactive {
            if syn_then_reset(history) {
                "RSTOS0"
            } else {
                "OTH"
            }
        } else {
            "RSTO"
        }
    } else if o == E::Closed && r == E::Closed {
        "SF"
    } else if o == E::Closed {
        if r_inactive {
            "SH"
        } else {
            "S2"
        }
    } else if r == E::Closed {
        if o_inactive {
            "SHR"
        } else {
            "S3"
        }
    } else if o == E::SynSent && r == E::Inactive {
        "S0"
    } else if o == E::Established && r == E::Established {
        "S1"
    } else {
        "OTH"
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/`: the originator's SYN, then its RST, with no
/// handshake answer, ACK, FIN, gap or odd packet of its own in between.
fn syn_then_reset(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

/// ICMP's stand-ins for ports, as Community ID defines them: request and reply types
/// share a pair (type, counterpart type) so both directions are one flow; any other
/// type is one-way, (type, code).
pub fn icmp_ports(v6: bool, icmp_type: u8, code: u8) -> (u16, u16, bool) {
    let pair: &[(u8, u8)] = if v6 {
        &[
            (128, 129),
            (130, 131),
            (133, 134),
            (135, 136),
            (139, 140),
            (144, 145),
        ]
    } else {
        &[(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)]
    };
    for &(a, b) in pair {
        if icmp_type == a {
            return (a.into(), b.into(), false);
        }
        if icmp_type == b {
            return (b.into(), a.into(), false);
        }
    }
    (icmp_type.into(), code.into(), true)
}

/// The connections of one run, when an export wants them.
#[derive(Default)]
pub struct ConnLog {
    enabled: bool,
    tcp: FastMap<u32, Conn>,
    other: FastMap<FlowKey, Conn>,
    finished: Vec<Conn>,
    frames: u64,
    /// Connections finished early because the table was full.
    pub evicted: u64,
}

impl ConnLog {
    pub fn new(enabled: bool) -> ConnLog {
        ConnLog {
            enabled,
            ..ConnLog::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The connections finished so far (inactive, or evicted), in the order they were.
    pub fn take_finished(&mut self) -> Vec<Conn> {
        std::mem::take(&mut self.finished)
    }

    /// Every connection, the live ones too, finished (the end of the capture): those
    /// finished earlier first, then the rest by start time.
    pub fn take_all(&mut self) -> Vec<Conn> {
        let mut rest: Vec<Conn> = self
            .tcp
            .drain()
            .map(|(_, c)| c)
            .chain(self.other.drain().map(|(_, c)| c))
            .collect();
        rest.sort_by_key(|c| (c.first_ts_ns, c.stream, c.orig, c.resp, c.proto));
        let mut all = self.take_finished();
        all.extend(rest);
        all
    }

    fn tcp_frame(&mut self, ctx: &FrameCtx<'_>, info: &TcpFrameInfo) {
        let Some(seg) = Segment::from_frame(&ctx.raw, ctx.frame) else {
            // A reassembled IP fragment: the TCP engine saw it whole; conn.log would
            // need the fragments' sizes, which this frame alone does not give.
            return;
        };
        let ts = ctx.raw.ts_ns;
        // Quiet past the timeout, the connection is over (as in Zeek) even though the
        // TCP engine goes on with the same stream: this segment starts another.
        if let Some(c) = self.tcp.get(&info.stream) {
            if ts.saturating_sub(c.last_ts_ns) > c.idle_limit() {
                if let Some(old) = self.tcp.remove(&info.stream) {
                    self.finished.push(old);
                }
            }
        }
        let conn = self.tcp.entry(info.stream).or_insert_with(|| {
            let (orig, resp) = match info.from {
                Side::Client => (seg.src, seg.dst),
                Side::Server => (seg.dst, seg.src),
            };
            let mut c = Conn::new(6, orig, resp, Some(info.stream), ts);
            // Zeek marks a connection whose first packet came from the responder.
            if info.from == Side::Server {
                c.history.push('^');
            }
            c
        });
        // The stream's roles, not the addresses: they tell the sides apart even when
        // both ends are the same address and port.
        let side = usize::from(info.from == Side::Server);
        let h = &seg.header;
        conn.last_ts_ns = ts;
        conn.dirs[side].pkts += 1;
        conn.dirs[side].ip_bytes += ip_len(ctx.frame).unwrap_or(0);
        conn.tcp_segment(side, h.flags, h.seq, h.len, h.window, info.flags);
        if conn.service.is_none() {
            conn.service = service(ctx.frame);
        }
    }

    fn other_frame(&mut self, ctx: &FrameCtx<'_>) {
        let own = ctx.frame.own_layers();
        let Some(t) = own
            .iter()
            .rposition(|l| matches!(l, Layer::Udp(_) | Layer::Icmp(_)))
        else {
            return;
        };
        let Some((src, dst, ip_len)) = own.get(..t).and_then(|before| {
            before.iter().rev().find_map(|l| match l {
                Layer::Ipv4(v4) => Some((
                    IpAddr::V4(v4.src),
                    IpAddr::V4(v4.dst),
                    u64::from(v4.total_len),
                )),
                Layer::Ipv6(v6) => Some((
                    IpAddr::V6(v6.src),
                    IpAddr::V6(v6.dst),
                    40 + u64::from(v6.payload_len),
                )),
                _ => None,
            })
        }) else {
            return;
        };
        let (proto, sp, dp, key_ports, payload) = match own.get(t) {
            Some(Layer::Udp(u)) => (
                17,
                u.src_port,
                u.dst_port,
                (u.src_port, u.dst_port),
                u64::from(u.length.saturating_sub(8)),
            ),
            Some(Layer::Icmp(i)) => {
                let (a, b, one_way) = icmp_ports(i.version == 6, i.icmp_type, i.code);
                let proto = if i.version == 6 { 58 } else { 1 };
                // Both directions of a request and its reply are one flow; a one-way
                // message is its own flow, keyed by type and code.
                let key = if one_way {
                    (a, b)
                } else {
                    (a.min(b), a.max(b))
                };
                let body = ip_len
                    .saturating_sub(ip_header_len(own, t))
                    .saturating_sub(8);
                (proto, i.icmp_type.into(), i.code.into(), key, body)
            }
            _ => return,
        };
        let ts = ctx.raw.ts_ns;
        let (key, _) = FlowKey::new(proto, (src, key_ports.0), (dst, key_ports.1));
        // ICMP "ports" are not the flow's sides: keyed by addresses (and the pair).
        let key = if proto == 17 {
            key
        } else {
            FlowKey {
                proto,
                a: (key.a.0.min(key.b.0), key_ports.0.min(key_ports.1)),
                b: (key.a.0.max(key.b.0), key_ports.0.max(key_ports.1)),
            }
        };
        // A connection quiet past its timeout is over: this packet starts another.
        if let Some(c) = self.other.get(&key) {
            if ts.saturating_sub(c.last_ts_ns) > c.idle_limit() {
                if let Some(old) = self.other.remove(&key) {
                    self.finished.push(old);
                }
            }
        }
        let conn = self
            .other
            .entry(key)
            .or_insert_with(|| Conn::new(proto, (src, sp), (dst, dp), None, ts));
        // The originator's packets come from its address (and, for UDP, its port; an
        // ICMP request and reply between the same two addresses differ by type).
        let from_orig = if proto == 17 {
            (src, sp) == conn.orig
        } else {
            src == conn.orig.0 && (src != conn.resp.0 || sp == conn.orig.1)
        };
        let side = usize::from(!from_orig);
        conn.last_ts_ns = ts;
        conn.dirs[side].pkts += 1;
        conn.dirs[side].ip_bytes += ip_len;
        conn.datagram(side, payload);
        if conn.service.is_none() {
            conn.service = service(ctx.frame);
        }
    }

    /// Finishes the connections quiet past their timeout, then, if the table is still
    /// over [`MAX_LIVE_CONNS`], the least recently seen down to three quarters of it.
    pub fn expire(&mut self, now: i64) {
        let finished = &mut self.finished;
        let quiet = |c: &Conn| now.saturating_sub(c.last_ts_ns) > c.idle_limit();
        for (_, c) in self.tcp.extract_if(|_, c| quiet(c)) {
            finished.push(c);
        }
        for (_, c) in self.other.extract_if(|_, c| quiet(c)) {
            finished.push(c);
        }
        let live = self.tcp.len() + self.other.len();
        if live > MAX_LIVE_CONNS {
            let mut seen: Vec<i64> = self
                .tcp
                .values()
                .chain(self.other.values())
                .map(|c| c.last_ts_ns)
                .collect();
            let excess = live - MAX_LIVE_CONNS / 4 * 3;
            let (_, cutoff, _) = seen.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            let before = self.finished.len();
            for (_, c) in self.tcp.extract_if(|_, c| c.last_ts_ns <= cutoff) {
                self.finished.push(c);
            }
            for (_, c) in self.other.extract_if(|_, c| c.last_ts_ns <= cutoff) {
                self.finished.push(c);
            }
            self.evicted += (self.finished.len() - before) as u64;
        }
    }
}

impl Section for ConnLog {
    fn feed(&mut self, ctx: &FrameCtx<'_>) {
        if !self.enabled {
            return;
        }
        self.frames += 1;
        if self.frames.is_multiple_of(CHECK_EVERY) {
            self.expire(ctx.raw.ts_ns);
        }
        match &ctx.tcp {
            Some(info) => self.tcp_frame(ctx, info),
            None => self.other_frame(ctx),
        }
    }
}

/// The IP length of the packet carrying the frame's innermost TCP segment.
fn ip_len(frame: &Frame<'_>) -> Option<u64> {
    match frame.innermost_tcp()?.0 {
        Layer::Ipv4(v4) => Some(u64::from(v4.total_len)),
        Layer::Ipv6(v6) => Some(40 + u64::from(v6.payload_len)),
        _ => None,
    }
}

/// Bytes of IP header before the transport at `layers[t]` (IPv6: extension headers
/// included, as the payload length counts them).
fn ip_header_len(layers: &[Layer<'_>], t: usize) -> u64 {
    match layers.get(..t).and_then(|b| {
        b.iter()
            .rev()
            .find(|l| matches!(l, Layer::Ipv4(_) | Layer::Ipv6(_)))
    }) {
        Some(Layer::Ipv4(v4)) => u64::from(v4.header_len),
        Some(Layer::Ipv6(_)) => 40,
        _ => 0,
    }
}

/// Zeek's service name for the application protocol of a frame, if it has one.
fn service(frame: &Frame<'_>) -> Option<&'static str> {
    frame.own_layers().iter().rev().find_map(|l| match l {
        Layer::App { proto, .. } => match proto.name() {
            "dns" => Some("dns"),
            "http" => Some("http"),
            _ => None,
        },
        _ => None,
    })
}

#[cfg(test)]
mod tests;
