//! Tunnels and paths: the `tunnels` and `paths` sections of `pcap analyze`.
//!
//! * every outer flow (GRE key and endpoints, VXLAN/Geneve VNI, ESP SPI, NAT-T, MPLS
//!   label stack, ERSPAN session, GTP TEID, L2TP session, IP-in-IP) with the inner flows
//!   it carries, bytes, and the per-packet encapsulation overhead;
//! * ECMP entropy per pair of tunnel endpoints: how many distinct outer 5-tuples carry
//!   how many inner flows (a provider that balances by 5-tuple puts one outer flow on
//!   one link);
//! * MTU evidence: ICMP fragmentation-needed / packet-too-big with the MTU reported,
//!   fragments and sets that never completed, TCP MSS against the largest segment and
//!   the tunnel overhead, DF packets larger than a reported MTU, and the black-hole
//!   pattern (large segments retransmitted while small ones get through);
//! * captured traceroutes: each hop with the MPLS label stack its ICMP time-exceeded
//!   quotes (RFC 4884/4950).

use super::findings::{frames_filter, Finding, Severity};
use super::FastMap;
use netkit_dissectors::transport::tcp_flags;
use netkit_dissectors::{Frame, Layer};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Bounds that keep memory flat on hostile or huge captures; reaching one is reported.
const MAX_OUTER_FLOWS: usize = 10_000;
const MAX_INNER_PER_OUTER: usize = 4_096;
const MAX_FRAG_SETS: usize = 10_000;
const MAX_TCP_FLOWS: usize = 100_000;
const MAX_LISTED: usize = 100;

/// A 5-tuple with the two ends in a fixed order, so both directions are one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub proto: u8,
    pub a: (IpAddr, u16),
    pub b: (IpAddr, u16),
}

impl FlowKey {
    fn new(proto: u8, src: (IpAddr, u16), dst: (IpAddr, u16)) -> (FlowKey, bool) {
        if src <= dst {
            (
                FlowKey {
                    proto,
                    a: src,
                    b: dst,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    proto,
                    a: dst,
                    b: src,
                },
                false,
            )
        }
    }

    fn describe(&self) -> String {
        let name = match self.proto {
            6 => "tcp".to_string(),
            17 => "udp".to_string(),
            1 => "icmp".to_string(),
            58 => "icmpv6".to_string(),
            p => format!("ip proto {p}"),
        };
        if self.a.1 == 0 && self.b.1 == 0 {
            format!("{name} {} <-> {}", self.a.0, self.b.0)
        } else {
            format!("{name} {} <-> {}", sock(self.a), sock(self.b))
        }
    }
}

fn sock((ip, port): (IpAddr, u16)) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The IP header and transport of one packet inside `layers`.
#[derive(Debug, Clone, Copy)]
struct Packet {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
    /// IP total length (IPv6: 40 + payload length, extension headers included).
    ip_len: u32,
}

impl Packet {
    fn flow(&self) -> FlowKey {
        FlowKey::new(self.proto, (self.src, self.sport), (self.dst, self.dport)).0
    }
}

/// The IP packet at `layers[i]` and the ports of the transport after it.
fn packet_at(layers: &[Layer<'_>], i: usize) -> Option<Packet> {
    let (src, dst, proto, ip_len) = match layers.get(i)? {
        Layer::Ipv4(h) => (
            IpAddr::V4(h.src),
            IpAddr::V4(h.dst),
            h.protocol,
            u32::from(h.total_len),
        ),
        Layer::Ipv6(h) => (
            IpAddr::V6(h.src),
            IpAddr::V6(h.dst),
            h.next_header,
            40 + u32::from(h.payload_len),
        ),
        _ => return None,
    };
    let (sport, dport) = match layers.get(i + 1) {
        Some(Layer::Tcp(t)) => (t.src_port, t.dst_port),
        Some(Layer::Udp(u)) => (u.src_port, u.dst_port),
        _ => (0, 0),
    };
    Some(Packet {
        src,
        dst,
        proto,
        sport,
        dport,
        ip_len,
    })
}

/// What identifies a tunnel: kind plus the header's own id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TunnelId {
    pub kind: &'static str,
    /// GRE key, VNI, SPI (hex), label stack, ERSPAN session, TEID, L2TP tunnel/session.
    pub id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OuterFlow {
    pub kind: &'static str,
    pub id: Option<String>,
    /// The outer 5-tuple (ports 0 for GRE/ESP/IP-in-IP).
    pub outer: String,
    pub frames: u64,
    pub bytes: u64,
    /// Distinct inner flows seen; null when the payload is encrypted (ESP).
    pub inner_flows: Option<usize>,
    /// The busiest inner flows (up to 10), by frames.
    pub top_inner: Vec<InnerFlowOut>,
    /// Outer IP length minus inner IP length: what the tunnel adds to every packet.
    pub overhead_bytes: Option<u32>,
    /// That overhead as a share of the outer IP packet, averaged over the frames.
    pub overhead_pct: Option<f64>,
    /// Largest inner IP packet seen: with the overhead, what the path must carry.
    pub largest_inner: Option<u32>,
    pub first_frame: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct InnerFlowOut {
    pub flow: String,
    pub frames: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct OuterState {
    kind: &'static str,
    id: Option<String>,
    outer: Option<FlowKey>,
    /// The outer 5-tuples as sent, each direction apart: what a router hashing on
    /// 5-tuples sees (a UDP tunnel's two directions use different tuples).
    directed: BTreeSet<(IpAddr, u16, IpAddr, u16)>,
    frames: u64,
    bytes: u64,
    encrypted: bool,
    inner: FastMap<FlowKey, (u64, u64)>,
    inner_capped: bool,
    overhead: Option<u32>,
    overhead_pct_sum: f64,
    overhead_samples: u64,
    largest_inner: Option<u32>,
    first_frame: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointPair {
    pub endpoints: String,
    pub kinds: Vec<&'static str>,
    pub outer_flows: usize,
    /// Distinct outer 5-tuples in the busier direction: 1 means every inner flow takes
    /// the same path through a network that balances by 5-tuple.
    pub outer_flows_per_direction: usize,
    pub inner_flows: usize,
    /// VXLAN/Geneve: distinct outer UDP source ports (RFC 7348 wants them to follow the
    /// inner flow so the underlay can balance).
    pub source_ports: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TunnelsSection {
    pub outer_flows: Vec<OuterFlow>,
    pub ecmp: Vec<EndpointPair>,
    /// True when a bound on tracked flows was reached (state evicted or not added).
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct IcmpMtu {
    pub frame: u64,
    /// The router that sent the message.
    pub router: String,
    pub mtu: u32,
    /// Source and destination of the packet that did not fit (from the quote).
    pub packet_src: Option<String>,
    pub packet_dst: Option<String>,
    pub packet_len: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FragmentStats {
    pub fragmented_packets: u64,
    pub fragments: u64,
    /// Sets whose fragments never all arrived (no last fragment, or a hole).
    pub incomplete: u64,
    pub incomplete_frames: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TcpMss {
    pub flow: String,
    pub mss: [Option<u16>; 2],
    /// Largest TCP payload each way.
    pub largest_segment: [u32; 2],
    /// Bytes the tunnels around this flow add per packet (0 when not tunnelled).
    pub tunnel_overhead: u32,
    /// Largest packet the flow puts on the outer path: segment + TCP/IP headers + tunnel.
    pub largest_on_path: u32,
    pub large_retransmissions: u32,
    pub large_acked: bool,
    pub first_frame: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MtuSection {
    pub icmp: Vec<IcmpMtu>,
    pub fragments: FragmentStats,
    /// DF packets larger than an MTU reported earlier for their destination.
    pub df_too_big_frames: Vec<u64>,
    /// TCP flows whose segments, with the tunnel overhead, exceed 1500 bytes on the path,
    /// or that show the black-hole pattern.
    pub tcp: Vec<TcpMss>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    pub ttl: Option<u8>,
    pub router: String,
    pub frames: Vec<u64>,
    /// MPLS label stack quoted by the router, e.g. `[MPLS: Labels 17/20 Exp 0]`.
    pub mpls: Vec<LabelOut>,
    pub rtt_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelOut {
    pub label: u32,
    pub exp: u8,
    pub bottom: bool,
    pub ttl: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct Traceroute {
    pub source: String,
    pub destination: String,
    pub hops: Vec<Hop>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathsSection {
    pub mtu: MtuSection,
    pub traceroutes: Vec<Traceroute>,
}

#[derive(Debug, Default)]
struct FragSet {
    first_frame: u64,
    frames: u64,
    /// (offset, end) of each fragment's payload.
    pieces: Vec<(u32, u32)>,
    last_end: Option<u32>,
}

#[derive(Debug, Default)]
struct TcpPath {
    mss: [Option<u16>; 2],
    largest: [u32; 2],
    overhead: u32,
    /// Highest sequence end sent each way, to spot retransmissions.
    high: [Option<u32>; 2],
    large_retrans: u32,
    large_end: [Option<u32>; 2],
    large_acked: bool,
    first_frame: u64,
}

/// The hops of one traceroute (probe source, destination), by probe TTL and router.
type HopsOfTrace = BTreeMap<(Option<u8>, IpAddr), Hop>;

/// What the ECMP view gathers per pair of tunnel endpoints.
#[derive(Debug, Default)]
struct PairAcc {
    kinds: BTreeSet<&'static str>,
    outers: BTreeSet<FlowKey>,
    /// Directed outer 5-tuples from the lower and from the higher address.
    directed: [BTreeSet<(IpAddr, u16, IpAddr, u16)>; 2],
    inners: BTreeSet<FlowKey>,
    source_ports: BTreeSet<u16>,
    first_frames: Vec<u64>,
    ids: Vec<String>,
}

/// Probe identity from a traceroute: (probe source, destination, IP id).
type ProbeKey = (IpAddr, IpAddr, u16);

#[derive(Debug, Default)]
pub struct TunnelAnalysis {
    outer: FastMap<(TunnelId, Option<FlowKey>), OuterState>,
    truncated: bool,
    icmp: Vec<IcmpMtu>,
    /// MTU reported for a destination, and when (capture time, ns).
    reported_mtu: FastMap<IpAddr, (u32, i64)>,
    df_too_big: Vec<u64>,
    frag_sets: FastMap<(IpAddr, IpAddr, u32, u8), FragSet>,
    fragmented_packets: u64,
    fragments: u64,
    tcp: FastMap<FlowKey, TcpPath>,
    probes: FastMap<ProbeKey, (u8, i64)>,
    hops: BTreeMap<(IpAddr, IpAddr), HopsOfTrace>,
}

fn seq_gt(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

impl TunnelAnalysis {
    pub fn feed(&mut self, number: u64, ts_ns: i64, wire_len: u32, frame: &Frame<'_>) {
        let layers = frame.own_layers();
        self.tunnel(number, wire_len, layers);
        self.ip_paths(number, ts_ns, layers);
        self.tcp_path(number, layers);
        self.icmp(number, ts_ns, frame);
    }

    /// Finds the outermost tunnel in the stack and accounts the frame to it.
    fn tunnel(&mut self, number: u64, _wire_len: u32, layers: &[Layer<'_>]) {
        let mut outer_ip = None;
        let mut tunnel: Option<(usize, TunnelId)> = None;
        for (i, l) in layers.iter().enumerate() {
            let id = match l {
                Layer::Ipv4(_) | Layer::Ipv6(_) => {
                    if outer_ip.is_none() {
                        outer_ip = Some(i);
                        continue;
                    }
                    // An IP packet right after the outer IP layer: IP-in-IP.
                    if outer_ip == Some(i - 1) {
                        Some(TunnelId {
                            kind: "ipip",
                            id: None,
                        })
                    } else {
                        None
                    }
                }
                Layer::Gre(g) => Some(TunnelId {
                    kind: "gre",
                    id: g.key.map(|k| format!("key {k}")),
                }),
                Layer::Vxlan(v) => Some(TunnelId {
                    kind: "vxlan",
                    id: Some(format!("vni {}", v.vni)),
                }),
                Layer::Geneve(g) => Some(TunnelId {
                    kind: "geneve",
                    id: Some(format!("vni {}", g.vni)),
                }),
                Layer::Esp(e) => Some(TunnelId {
                    kind: if e.udp_encapsulated {
                        "esp-natt"
                    } else {
                        "esp"
                    },
                    id: Some(format!("spi 0x{:08x}", e.spi)),
                }),
                Layer::Gtp(g) => Some(TunnelId {
                    kind: "gtp",
                    id: Some(format!("teid 0x{:08x}", g.teid)),
                }),
                Layer::L2tp(t) => Some(TunnelId {
                    kind: "l2tp",
                    id: Some(format!("tunnel {} session {}", t.tunnel, t.session)),
                }),
                Layer::Mpls(_) if outer_ip.is_some() || i > 0 => {
                    let labels: Vec<String> = layers[i..]
                        .iter()
                        .map_while(|l| match l {
                            Layer::Mpls(m) => Some(m.label.to_string()),
                            _ => None,
                        })
                        .collect();
                    Some(TunnelId {
                        kind: "mpls",
                        id: Some(format!("labels {}", labels.join("/"))),
                    })
                }
                _ => None,
            };
            if let Some(id) = id {
                tunnel = Some((i, id));
                break;
            }
        }
        let Some((ti, id)) = tunnel else {
            return;
        };
        let outer = outer_ip
            .filter(|o| *o < ti)
            .and_then(|o| packet_at(layers, o));
        // ERSPAN rides on GRE: name the session.
        let id = match (id.kind, layers.get(ti + 1)) {
            ("gre", Some(Layer::Erspan(e))) => TunnelId {
                kind: "erspan",
                id: Some(format!("type {} session {}", e.erspan_type, e.session)),
            },
            _ => id,
        };
        let inner = layers
            .iter()
            .enumerate()
            .skip(ti + 1)
            .filter_map(|(i, _)| packet_at(layers, i))
            .next_back();
        let key = (id.clone(), outer.map(|p| p.flow()));
        if !self.outer.contains_key(&key) && self.outer.len() >= MAX_OUTER_FLOWS {
            self.truncated = true;
            return;
        }
        let st = self.outer.entry(key).or_insert_with(|| OuterState {
            kind: id.kind,
            id: id.id.clone(),
            outer: outer.map(|p| p.flow()),
            first_frame: number,
            ..Default::default()
        });
        st.frames += 1;
        st.bytes += u64::from(outer.map(|p| p.ip_len).unwrap_or(0));
        if let Some(o) = outer {
            if st.directed.len() < 64 {
                st.directed.insert((o.src, o.sport, o.dst, o.dport));
            }
        }
        match inner {
            Some(inner) => {
                let k = inner.flow();
                if st.inner.len() < MAX_INNER_PER_OUTER || st.inner.contains_key(&k) {
                    let e = st.inner.entry(k).or_default();
                    e.0 += 1;
                    e.1 += u64::from(inner.ip_len);
                } else {
                    st.inner_capped = true;
                }
                st.largest_inner = st.largest_inner.max(Some(inner.ip_len));
                if let Some(o) = outer {
                    let ov = o.ip_len.saturating_sub(inner.ip_len);
                    st.overhead = Some(ov);
                    if o.ip_len > 0 {
                        st.overhead_pct_sum += f64::from(ov) * 100.0 / f64::from(o.ip_len);
                        st.overhead_samples += 1;
                    }
                }
            }
            None => {
                let esp = layers.get(ti).and_then(|l| match l {
                    Layer::Esp(e) => Some(e),
                    _ => None,
                });
                // ESP with NULL encryption shows its inner packet; ciphertext does not.
                let inner = esp
                    .and_then(|e| e.null_encrypted_inner())
                    .map(|p| {
                        netkit_dissectors::dissect(
                            netkit_dissectors::link::linktype::RAW,
                            p,
                            &Default::default(),
                        )
                    })
                    .and_then(|f| packet_at(&f.layers, 0));
                match (inner, esp) {
                    (Some(inner), _) => {
                        let k = inner.flow();
                        if st.inner.len() < MAX_INNER_PER_OUTER || st.inner.contains_key(&k) {
                            let e = st.inner.entry(k).or_default();
                            e.0 += 1;
                            e.1 += u64::from(inner.ip_len);
                        }
                        st.largest_inner = st.largest_inner.max(Some(inner.ip_len));
                        if let Some(o) = outer {
                            st.overhead = Some(o.ip_len.saturating_sub(inner.ip_len));
                        }
                    }
                    (None, Some(_)) => st.encrypted = true,
                    (None, None) => {}
                }
            }
        }
    }

    /// Fragments, and DF packets bigger than an MTU reported for their destination.
    fn ip_paths(&mut self, number: u64, ts_ns: i64, layers: &[Layer<'_>]) {
        for l in layers {
            let Layer::Ipv4(h) = l else { continue };
            if h.dont_fragment {
                // Packets already in flight when the report came are normal; a sender
                // still too big a second later did not adapt.
                if let Some((mtu, at)) = self.reported_mtu.get(&IpAddr::V4(h.dst)) {
                    let late = ts_ns.saturating_sub(*at) > 1_000_000_000;
                    if late && u32::from(h.total_len) > *mtu && self.df_too_big.len() < MAX_LISTED {
                        self.df_too_big.push(number);
                    }
                }
            }
            if !h.is_fragment() {
                continue;
            }
            self.fragments += 1;
            let key = (
                IpAddr::V4(h.src),
                IpAddr::V4(h.dst),
                u32::from(h.identification),
                h.protocol,
            );
            if !self.frag_sets.contains_key(&key) {
                if self.frag_sets.len() >= MAX_FRAG_SETS {
                    self.truncated = true;
                    continue;
                }
                self.fragmented_packets += 1;
            }
            let set = self.frag_sets.entry(key).or_insert_with(|| FragSet {
                first_frame: number,
                ..Default::default()
            });
            set.frames += 1;
            let start = u32::from(h.fragment_offset);
            let end = start + u32::from(h.total_len).saturating_sub(u32::from(h.header_len));
            if set.pieces.len() < 64 {
                set.pieces.push((start, end));
            }
            if !h.more_fragments {
                set.last_end = Some(end);
            }
        }
    }

    fn tcp_path(&mut self, number: u64, layers: &[Layer<'_>]) {
        let Some(ti) = layers.iter().rposition(|l| matches!(l, Layer::Tcp(_))) else {
            return;
        };
        let Layer::Tcp(t) = &layers[ti] else { return };
        let Some(ipi) = layers[..ti]
            .iter()
            .rposition(|l| matches!(l, Layer::Ipv4(_) | Layer::Ipv6(_)))
        else {
            return;
        };
        let Some(p) = packet_at(layers, ipi) else {
            return;
        };
        let outermost = layers
            .iter()
            .position(|l| matches!(l, Layer::Ipv4(_) | Layer::Ipv6(_)))
            .and_then(|i| packet_at(layers, i));
        let overhead = outermost
            .map(|o| o.ip_len.saturating_sub(p.ip_len))
            .unwrap_or(0);
        let (key, fwd) = FlowKey::new(6, (p.src, t.src_port), (p.dst, t.dst_port));
        let dir = usize::from(!fwd);
        if !self.tcp.contains_key(&key) && self.tcp.len() >= MAX_TCP_FLOWS {
            self.truncated = true;
            return;
        }
        let st = self.tcp.entry(key).or_insert_with(|| TcpPath {
            first_frame: number,
            ..Default::default()
        });
        st.overhead = st.overhead.max(overhead);
        if t.has(tcp_flags::SYN) {
            st.mss[dir] = t.parse_options().0.mss.or(st.mss[dir]);
        }
        let len = t.payload_len;
        st.largest[dir] = st.largest[dir].max(len);
        // "Large" is what a 1500-byte path can only just carry: the segments a PMTU
        // black hole eats while small ones pass.
        let large = len >= 1200;
        if len > 0 {
            let end = t.seq.wrapping_add(len);
            match st.high[dir] {
                Some(h) if !seq_gt(end, h) => {
                    if large {
                        st.large_retrans += 1;
                    }
                }
                _ => st.high[dir] = Some(end),
            }
            if large {
                st.large_end[dir] = Some(end);
            }
        }
        if t.has(tcp_flags::ACK) {
            if let Some(e) = st.large_end[1 - dir] {
                if !seq_gt(e, t.ack) {
                    st.large_acked = true;
                }
            }
        }
    }

    fn icmp(&mut self, number: u64, ts_ns: i64, frame: &Frame<'_>) {
        let layers = &frame.layers;
        // Traceroute probes are remembered by IP id, to give each answering hop its
        // probe TTL and RTT: UDP to the traceroute ports, ICMP echo requests and TCP SYNs
        // sent with a TTL no real sender starts with.
        let own = frame.own_layers();
        if let Some(i) = own.iter().position(|l| matches!(l, Layer::Ipv4(_))) {
            if let Layer::Ipv4(h) = &own[i] {
                let probe_like = h.ttl <= 32
                    && match own.get(i + 1) {
                        Some(Layer::Udp(u)) => (33434..=33534).contains(&u.dst_port),
                        Some(Layer::Icmp(c)) => c.icmp_type == 8,
                        Some(Layer::Tcp(t)) => t.has(tcp_flags::SYN),
                        _ => false,
                    };
                if probe_like && self.probes.len() < 65_536 {
                    self.probes.insert(
                        (IpAddr::V4(h.src), IpAddr::V4(h.dst), h.identification),
                        (h.ttl, ts_ns),
                    );
                }
            }
        }
        let Some(qi) = layers.iter().position(|l| matches!(l, Layer::IcmpQuote)) else {
            return;
        };
        let Some(Layer::Icmp(icmp)) = qi.checked_sub(1).and_then(|i| layers.get(i)) else {
            return;
        };
        let router = layers[..qi].iter().rev().find_map(|l| match l {
            Layer::Ipv4(h) => Some(IpAddr::V4(h.src)),
            Layer::Ipv6(h) => Some(IpAddr::V6(h.src)),
            _ => None,
        });
        let quoted = packet_at(layers, qi + 1);
        if let (Some(mtu), Some(router)) = (icmp.reported_mtu(), router) {
            if let Some(q) = quoted {
                if self.reported_mtu.len() < 65_536 || self.reported_mtu.contains_key(&q.dst) {
                    self.reported_mtu.insert(q.dst, (mtu, ts_ns));
                }
            }
            if self.icmp.len() < MAX_LISTED {
                self.icmp.push(IcmpMtu {
                    frame: number,
                    router: router.to_string(),
                    mtu,
                    packet_src: quoted.map(|q| q.src.to_string()),
                    packet_dst: quoted.map(|q| q.dst.to_string()),
                    packet_len: quoted.map(|q| q.ip_len),
                });
            }
        }
        let time_exceeded = matches!((icmp.version, icmp.icmp_type), (4, 11) | (6, 3));
        let unreachable = matches!((icmp.version, icmp.icmp_type), (4, 3) | (6, 1))
            && icmp.reported_mtu().is_none();
        if !(time_exceeded || unreachable) {
            return;
        }
        let (Some(router), Some(q)) = (router, quoted) else {
            return;
        };
        let quoted_id = match layers.get(qi + 1) {
            Some(Layer::Ipv4(h)) => Some(h.identification),
            _ => None,
        };
        let probe = quoted_id.and_then(|id| self.probes.get(&(q.src, q.dst, id)).copied());
        let mpls: Vec<LabelOut> = icmp
            .mpls_labels()
            .iter()
            .map(|m| LabelOut {
                label: m.label,
                exp: m.tc,
                bottom: m.bottom_of_stack,
                ttl: m.ttl,
            })
            .collect();
        if !self.hops.contains_key(&(q.src, q.dst)) && self.hops.len() >= 1_024 {
            self.truncated = true;
            return;
        }
        let trace = self.hops.entry((q.src, q.dst)).or_default();
        if trace.len() >= 64 {
            return;
        }
        let ttl = probe.map(|(t, _)| t);
        let hop = trace.entry((ttl, router)).or_insert_with(|| Hop {
            ttl,
            router: router.to_string(),
            frames: Vec::new(),
            mpls: Vec::new(),
            rtt_ms: probe.map(|(_, sent)| ts_ns.saturating_sub(sent) as f64 / 1e6),
        });
        if hop.frames.len() < 16 {
            hop.frames.push(number);
        }
        if hop.mpls.is_empty() {
            hop.mpls = mpls;
        }
    }

    pub fn snapshot(&self, findings: &mut Vec<Finding>) -> (TunnelsSection, PathsSection) {
        let mut outer_flows: Vec<OuterFlow> = self
            .outer
            .values()
            .map(|s| {
                let mut inner: Vec<(&FlowKey, &(u64, u64))> = s.inner.iter().collect();
                inner.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
                OuterFlow {
                    kind: s.kind,
                    id: s.id.clone(),
                    outer: s.outer.map(|o| o.describe()).unwrap_or_default(),
                    frames: s.frames,
                    bytes: s.bytes,
                    inner_flows: if s.encrypted && s.inner.is_empty() {
                        None
                    } else {
                        Some(s.inner.len())
                    },
                    top_inner: inner
                        .iter()
                        .take(10)
                        .map(|(k, (f, b))| InnerFlowOut {
                            flow: k.describe(),
                            frames: *f,
                            bytes: *b,
                        })
                        .collect(),
                    overhead_bytes: s.overhead,
                    overhead_pct: (s.overhead_samples > 0).then(|| {
                        (s.overhead_pct_sum / s.overhead_samples as f64 * 10.0).round() / 10.0
                    }),
                    largest_inner: s.largest_inner,
                    first_frame: s.first_frame,
                }
            })
            .collect();
        outer_flows.sort_by_key(|o| o.first_frame);

        // ECMP entropy per endpoint pair.
        let mut pairs: BTreeMap<(IpAddr, IpAddr), PairAcc> = BTreeMap::new();
        for s in self.outer.values() {
            let Some(o) = s.outer else { continue };
            let e = pairs.entry((o.a.0, o.b.0)).or_default();
            e.kinds.insert(s.kind);
            e.outers.insert(o);
            for d in &s.directed {
                e.directed[usize::from(d.0 != o.a.0)].insert(*d);
            }
            e.inners.extend(s.inner.keys().copied());
            if matches!(s.kind, "vxlan" | "geneve") {
                // The tunnel's source port is the end that is not the well-known one.
                let sport = if matches!(o.a.1, 4789 | 6081) {
                    o.b.1
                } else {
                    o.a.1
                };
                e.source_ports.insert(sport);
            }
            e.first_frames.push(s.first_frame);
            if let Some(id) = &s.id {
                e.ids.push(format!("{} {id}", s.kind.to_uppercase()));
            }
        }
        let mut ecmp = Vec::new();
        for ((a, b), acc) in pairs {
            let PairAcc {
                kinds,
                outers,
                directed,
                inners,
                source_ports: sports,
                first_frames,
                ids,
            } = acc;
            let vxlan_like = kinds.iter().any(|k| matches!(*k, "vxlan" | "geneve"));
            let pair = EndpointPair {
                endpoints: format!("{a} <-> {b}"),
                kinds: kinds.iter().copied().collect(),
                outer_flows: outers.len(),
                outer_flows_per_direction: directed[0].len().max(directed[1].len()),
                inner_flows: inners.len(),
                source_ports: vxlan_like.then_some(sports.len()),
            };
            if pair.inner_flows >= 4 && pair.outer_flows_per_direction == 1 {
                findings.push(Finding {
                    severity: Severity::Warning,
                    code: "ecmp_single_outer_flow",
                    summary: format!(
                        "{} inner flows ride 1 outer flow ({}, {a} <-> {b}): a provider hashing on 5-tuples puts them all on one link",
                        pair.inner_flows,
                        ids.first().cloned().unwrap_or_else(|| kinds.iter().copied().collect::<Vec<_>>().join("/"))
                    ),
                    stream: None,
                    frames: first_frames.clone(),
                    wireshark_filter: format!("ip.addr == {a} && ip.addr == {b}"),
                });
            }
            if let Some(ports) = pair.source_ports {
                if pair.inner_flows >= 4 && ports * 2 < pair.inner_flows {
                    findings.push(Finding {
                        severity: Severity::Warning,
                        code: "tunnel_low_entropy",
                        summary: format!(
                            "{} inner flows between {a} and {b} use only {ports} outer UDP source port(s): RFC 7348 asks for a source port derived from the inner headers so the underlay can balance",
                            pair.inner_flows
                        ),
                        stream: None,
                        frames: first_frames.clone(),
                        wireshark_filter: format!("ip.addr == {a} && ip.addr == {b} && udp"),
                    });
                }
            }
            ecmp.push(pair);
        }

        // Fragment sets that never completed.
        let mut incomplete_frames = Vec::new();
        let mut incomplete = 0u64;
        for set in self.frag_sets.values() {
            let complete = set.last_end.is_some_and(|last| {
                let mut pieces = set.pieces.clone();
                pieces.sort_unstable();
                let mut covered = 0u32;
                for (s, e) in pieces {
                    if s > covered {
                        return false;
                    }
                    covered = covered.max(e);
                }
                covered >= last
            });
            if !complete {
                incomplete += 1;
                if incomplete_frames.len() < MAX_LISTED {
                    incomplete_frames.push(set.first_frame);
                }
            }
        }
        incomplete_frames.sort_unstable();
        if incomplete > 0 {
            findings.push(Finding {
                severity: Severity::Warning,
                code: "fragments_incomplete",
                summary: format!(
                    "{incomplete} of {} fragmented packets never got all their fragments in the capture (reassembly fails at the receiver)",
                    self.fragmented_packets
                ),
                stream: None,
                frames: incomplete_frames.clone(),
                wireshark_filter: "ip.flags.mf == 1 || ip.frag_offset > 0".to_string(),
            });
        }
        if !self.icmp.is_empty() {
            let m = &self.icmp[0];
            findings.push(Finding {
                severity: Severity::Info,
                code: "pmtu_reported",
                summary: format!(
                    "router {} reported MTU {} ({} ICMP fragmentation-needed/packet-too-big messages)",
                    m.router,
                    m.mtu,
                    self.icmp.len()
                ),
                stream: None,
                frames: self.icmp.iter().map(|m| m.frame).take(MAX_LISTED).collect(),
                wireshark_filter: "(icmp.type == 3 && icmp.code == 4) || icmpv6.type == 2".to_string(),
            });
        }
        if !self.df_too_big.is_empty() {
            findings.push(Finding {
                severity: Severity::Warning,
                code: "df_larger_than_reported_mtu",
                summary: format!(
                    "{} packets with DF set were still larger than the MTU a router had reported for their destination, more than a second after the report: the sender does not adapt",
                    self.df_too_big.len()
                ),
                stream: None,
                frames: self.df_too_big.clone(),
                wireshark_filter: frames_filter(&self.df_too_big),
            });
        }

        let mut tcp: Vec<TcpMss> = self
            .tcp
            .iter()
            .filter_map(|(k, s)| {
                let seg = s.largest[0].max(s.largest[1]);
                let ip_tcp = if k.a.0.is_ipv4() { 40 } else { 60 };
                let on_path = seg + ip_tcp + s.overhead;
                let black_hole = s.large_retrans >= 3 && !s.large_acked;
                if !(on_path > 1500 && s.overhead > 0 || black_hole) {
                    return None;
                }
                // An overhead of a whole MTU or more is a mangled length, not a tunnel:
                // no inner MTU would fit, so there is no advice (and 1500 - it underflows).
                if s.overhead > 0 && s.overhead + ip_tcp < 1500 && on_path > 1500 && !black_hole {
                    findings.push(Finding {
                        severity: Severity::Warning,
                        code: "tunnel_mtu",
                        summary: format!(
                            "{}: {}-byte segments inside a tunnel adding {} bytes make {}-byte packets on the outer path, over a 1500-byte MTU (fragmented or dropped there); an inner MTU of {} (MSS {}) would fit",
                            k.describe(),
                            seg,
                            s.overhead,
                            on_path,
                            1500 - s.overhead,
                            1500 - s.overhead - ip_tcp
                        ),
                        stream: None,
                        frames: vec![s.first_frame],
                        wireshark_filter: format!(
                            "ip.addr == {} && ip.addr == {} && tcp.port == {} && tcp.port == {}",
                            k.a.0, k.b.0, k.a.1, k.b.1
                        ),
                    });
                }
                if black_hole {
                    findings.push(Finding {
                        severity: Severity::Error,
                        code: "pmtu_black_hole",
                        summary: format!(
                            "{}: {} large segments (>= 1200 bytes) retransmitted and none acknowledged while smaller ones get through: a path MTU black hole (ICMP fragmentation-needed filtered?)",
                            k.describe(),
                            s.large_retrans
                        ),
                        stream: None,
                        frames: vec![s.first_frame],
                        wireshark_filter: format!(
                            "ip.addr == {} && ip.addr == {} && tcp.port == {} && tcp.port == {} && tcp.len >= 1200",
                            k.a.0, k.b.0, k.a.1, k.b.1
                        ),
                    });
                }
                Some(TcpMss {
                    flow: k.describe(),
                    mss: s.mss,
                    largest_segment: s.largest,
                    tunnel_overhead: s.overhead,
                    largest_on_path: on_path,
                    large_retransmissions: s.large_retrans,
                    large_acked: s.large_acked,
                    first_frame: s.first_frame,
                })
            })
            .collect();
        tcp.sort_by_key(|t| t.first_frame);
        tcp.truncate(MAX_LISTED);

        let traceroutes = self
            .hops
            .iter()
            .map(|((src, dst), hops)| {
                let mut hops: Vec<Hop> = hops.values().cloned().collect();
                hops.sort_by_key(|h| (h.ttl.unwrap_or(u8::MAX), h.frames.first().copied()));
                Traceroute {
                    source: src.to_string(),
                    destination: dst.to_string(),
                    hops,
                }
            })
            .collect();

        (
            TunnelsSection {
                outer_flows,
                ecmp,
                truncated: self.truncated,
            },
            PathsSection {
                mtu: MtuSection {
                    icmp: self.icmp.clone(),
                    fragments: FragmentStats {
                        fragmented_packets: self.fragmented_packets,
                        fragments: self.fragments,
                        incomplete,
                        incomplete_frames,
                    },
                    df_too_big_frames: self.df_too_big.clone(),
                    tcp,
                },
                traceroutes,
            },
        )
    }
}
