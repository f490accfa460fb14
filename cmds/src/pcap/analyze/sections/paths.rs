//! The `paths` section: MTU evidence (ICMP fragmentation-needed / packet-too-big with
//! the MTU reported, fragments and sets that never completed, TCP MSS against the
//! largest segment and the tunnel overhead, DF packets larger than a reported MTU, and
//! the black-hole pattern: large segments retransmitted while small ones get through)
//! and captured traceroutes, each hop with the MPLS label stack its ICMP time-exceeded
//! quotes (RFC 4884/4950).

use super::flows::{packet_at, FlowKey};
use super::tcp::Endpoint;
use crate::output::plural;
use crate::pcap::analyze::findings::{frames_filter, Code, Finding, Severity};
use crate::pcap::analyze::{FastMap, FrameCtx, Section};
use netkit_dissectors::transport::tcp_flags;
use netkit_dissectors::{Frame, Layer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Bounds that keep memory flat on hostile or huge captures; reaching one is reported.
const MAX_FRAG_SETS: usize = 10_000;
const MAX_TCP_FLOWS: usize = 100_000;
const MAX_LISTED: usize = 100;

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
    /// Segments each way larger than the MSS the receiver announced: offload (TSO or
    /// GRO) merged them at the capture point; no path carried them whole.
    pub beyond_mss_segments: [u32; 2],
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
    /// True when a bound on tracked fragments, flows or traceroutes was reached.
    pub truncated: bool,
}

#[derive(Debug, Clone, Default)]
struct FragSet {
    first_frame: u64,
    frames: u64,
    /// (offset, end) of each fragment's payload.
    pieces: Vec<(u32, u32)>,
    last_end: Option<u32>,
}

#[derive(Debug, Clone, Default)]
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
    /// Largest payload each way within the receiver's MSS (all of them while it is
    /// unknown): what the path can have carried.
    largest_fit: [u32; 2],
    beyond_mss: [u32; 2],
    first_beyond_mss: Option<u64>,
}

/// The hops of one traceroute (probe source, destination), by probe TTL and router.
type HopsOfTrace = BTreeMap<(Option<u8>, IpAddr), Hop>;

/// Probe identity from a traceroute: (probe source, destination, IP id).
type ProbeKey = (IpAddr, IpAddr, u16);

/// The path engine of one run.
#[derive(Debug, Clone, Default)]
pub struct PathAnalysis {
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

impl Section for PathAnalysis {
    fn feed(&mut self, ctx: &FrameCtx<'_>) {
        let (number, ts_ns) = (ctx.raw.number, ctx.raw.ts_ns);
        let layers = ctx.frame.own_layers();
        self.ip_paths(number, ts_ns, layers);
        self.tcp_path(number, layers);
        self.icmp(number, ts_ns, ctx.frame);
    }
}

impl PathAnalysis {
    /// A live run lets go of TCP connections it is done with (`flows`: their
    /// endpoints): those that can raise nothing at the end (no tunnel overhead, no
    /// large retransmission, no segment beyond the MSS) are forgotten, so the table
    /// follows the connections open now and never fills up for good.
    pub fn forget_tcp_flows(&mut self, flows: &[(Endpoint, Endpoint)]) {
        for (a, b) in flows {
            let (key, _) = FlowKey::new(6, *a, *b);
            if self
                .tcp
                .get(&key)
                .is_some_and(|s| s.overhead == 0 && s.large_retrans == 0 && s.beyond_mss == [0, 0])
            {
                self.tcp.remove(&key);
            }
        }
    }

    /// A memory bound was reached (the `tunnels` section reports it too).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Fragments, and DF packets bigger than an MTU reported for their destination.
    fn ip_paths(&mut self, number: u64, ts_ns: i64, layers: &[Layer<'_>]) {
        for l in layers {
            let Layer::Ipv4(h) = l else { continue };
            // Nearly every TCP packet has DF set: with no MTU reported (the usual
            // case) that is no hash lookup per frame.
            if h.dont_fragment && !self.reported_mtu.is_empty() {
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
        // One hash lookup per frame (the check for room and the insertion share it).
        let full = self.tcp.len() >= MAX_TCP_FLOWS;
        let st = match self.tcp.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(_) if full => {
                self.truncated = true;
                return;
            }
            std::collections::hash_map::Entry::Vacant(e) => e.insert(TcpPath {
                first_frame: number,
                ..Default::default()
            }),
        };
        st.overhead = st.overhead.max(overhead);
        if t.has(tcp_flags::SYN) {
            st.mss[dir] = t.parse_options().0.mss.or(st.mss[dir]);
        }
        let len = t.payload_len;
        st.largest[dir] = st.largest[dir].max(len);
        match st.mss[1 - dir] {
            Some(mss) if len > u32::from(mss) => {
                st.beyond_mss[dir] += 1;
                st.first_beyond_mss.get_or_insert(number);
            }
            _ => st.largest_fit[dir] = st.largest_fit[dir].max(len),
        }
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

    /// The section, and its findings (fragments that never completed, MTUs routers
    /// reported, senders that do not adapt, tunnels over 1500 bytes, black holes).
    pub fn finish(self, findings: &mut Vec<Finding>) -> PathsSection {
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
group: String::new(), ts_ns: None,
                severity: Severity::Warning,
                code: Code::FragmentsIncomplete,
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
group: String::new(), ts_ns: None,
                severity: Severity::Info,
                code: Code::PmtuReported,
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
group: String::new(), ts_ns: None,
                severity: Severity::Warning,
                code: Code::DfLargerThanReportedMtu,
                summary: format!(
                    "{} packets with DF set were still larger than the MTU a router had reported for their destination, more than a second after the report: the sender does not adapt",
                    self.df_too_big.len()
                ),
                stream: None,
                frames: self.df_too_big.clone(),
                wireshark_filter: frames_filter(&self.df_too_big),
            });
        }

        // (flow, segments beyond the MSS, largest, smallest MSS, first such frame)
        let mut offload: Vec<(String, u32, u32, u16, Option<u64>)> = Vec::new();
        let mut tcp: Vec<TcpMss> = self
            .tcp
            .iter()
            .filter_map(|(k, s)| {
                let seg = s.largest[0].max(s.largest[1]);
                let ip_tcp = if k.a.0.is_ipv4() { 40 } else { 60 };
                let on_path = seg + ip_tcp + s.overhead;
                // Segments beyond the receiver's MSS never crossed a path whole: they
                // say nothing about its MTU. Only those within it do.
                let fit = s.largest_fit[0].max(s.largest_fit[1]);
                let fit_on_path = fit + ip_tcp + s.overhead;
                let black_hole = s.large_retrans >= 3 && !s.large_acked;
                let offloaded = s.beyond_mss[0] + s.beyond_mss[1];
                if !(on_path > 1500 && s.overhead > 0 || black_hole || offloaded > 0) {
                    return None;
                }
                if offloaded > 0 && on_path > 1500 {
                    let least_mss = s.mss.iter().flatten().min().copied().unwrap_or(0);
                    offload.push((k.describe(), offloaded, seg, least_mss, s.first_beyond_mss));
                }
                // An overhead of a whole MTU or more is a mangled length, not a tunnel:
                // no inner MTU would fit, so there is no advice (and 1500 - it underflows).
                if s.overhead > 0 && s.overhead + ip_tcp < 1500 && fit_on_path > 1500 && !black_hole {
                    findings.push(Finding {
group: String::new(), ts_ns: None,
                        severity: Severity::Warning,
                        code: Code::TunnelMtu,
                        summary: format!(
                            "{}: {}-byte segments inside a tunnel adding {} bytes make {}-byte packets on the outer path, over a 1500-byte MTU (fragmented or dropped there); an inner MTU of {} (MSS {}) would fit",
                            k.describe(),
                            fit,
                            s.overhead,
                            fit_on_path,
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
group: String::new(), ts_ns: None,
                        severity: Severity::Error,
                        code: Code::PmtuBlackHole,
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
                    beyond_mss_segments: s.beyond_mss,
                })
            })
            .collect();
        tcp.sort_by_key(|t| t.first_frame);
        tcp.truncate(MAX_LISTED);
        offload_finding(offload, findings);

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

        PathsSection {
            mtu: MtuSection {
                icmp: self.icmp,
                fragments: FragmentStats {
                    fragmented_packets: self.fragmented_packets,
                    fragments: self.fragments,
                    incomplete,
                    incomplete_frames,
                },
                df_too_big_frames: self.df_too_big,
                tcp,
            },
            traceroutes,
            truncated: self.truncated,
        }
    }
}

/// One finding for every TCP connection whose captured segments exceed the receiver's
/// MSS: offload on the capturing host, said once (it is a property of the host).
fn offload_finding(mut flows: Vec<(String, u32, u32, u16, Option<u64>)>, out: &mut Vec<Finding>) {
    if flows.is_empty() {
        return;
    }
    flows.sort_by_key(|f| f.4);
    let segments: u32 = flows.iter().map(|f| f.1).sum();
    let largest = flows.iter().map(|f| f.2).max().unwrap_or(0);
    let least_mss = flows.iter().map(|f| f.3).min().unwrap_or(0);
    let which = match flows.as_slice() {
        [one] => one.0.clone(),
        many => format!("{} TCP connections (first {})", many.len(), many[0].0),
    };
    out.push(Finding {
group: String::new(), ts_ns: None,
        severity: Severity::Info,
        code: Code::TcpOffload,
        summary: format!(
            "{which}: {} of up to {largest} bytes, larger than the MSS the receiver announced ({least_mss} or more): segmentation or receive offload (TSO/GRO) on the capturing host merged them; their size says nothing about the path",
            plural(segments, "segment", "segments")
        ),
        stream: None,
        frames: flows.iter().filter_map(|f| f.4).take(MAX_LISTED).collect(),
        wireshark_filter: format!("tcp.len > {least_mss}"),
    });
}
