//! `pcap compare A B`: the same traffic captured at two points (both sides of a router
//! or a proxy, NAT allowed), segment by segment.
//!
//! Every TCP segment and UDP datagram gets a fingerprint that survives address and
//! port translation: a hash of the protocol, TCP sequence and acknowledgement numbers
//! and flags, the payload length and its first bytes. Flows are matched by Community
//! ID (same addresses and ports at both points), else, through NAT, by the flow of the
//! other capture that shares most fingerprints. Per matched flow and direction the
//! fingerprints are counted at each point: a segment seen at A more often than at B
//! went missing between them, and which way it travelled says where. Matched segments
//! give the one-way delay (tB - tA, so negative where the traffic reaches B first)
//! and the reordering introduced between the points (segments that reached the
//! second point after one that left the first point later).

use crate::pcap::analyze::export::community_id;
use crate::source::FrameSource;
use netkit_dissectors::{dissect, DissectOptions, Layer};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

type Endpoint = (IpAddr, u16);

/// How `compare` compares.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub dissect: DissectOptions,
    /// Payload bytes that go into a segment's fingerprint.
    pub payload_bytes: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            dissect: DissectOptions::default(),
            payload_bytes: 64,
        }
    }
}

/// One flow as one capture point saw it.
struct Flow {
    proto: u8,
    /// The sender of the flow's first packet seen, then the other end.
    initiator: Endpoint,
    responder: Endpoint,
    segments: u64,
}

struct Segment {
    ts_ns: i64,
    flow: usize,
    /// 0: initiator -> responder, 1: back.
    dir: u8,
    fingerprint: u64,
}

/// What one capture point saw.
struct Side {
    frames: u64,
    flows: Vec<Flow>,
    index: HashMap<(u8, Endpoint, Endpoint), usize>,
    segments: Vec<Segment>,
}

fn read_side(source: &mut dyn FrameSource, opts: &CompareOptions) -> Side {
    let mut side = Side {
        frames: 0,
        flows: Vec::new(),
        index: HashMap::new(),
        segments: Vec::new(),
    };
    while let Some(raw) = source.next_frame() {
        side.frames += 1;
        let frame = dissect(raw.linktype, raw.data, &opts.dissect);
        let own = frame.own_layers();
        let Some(t) = own
            .iter()
            .rposition(|l| matches!(l, Layer::Tcp(_) | Layer::Udp(_)))
        else {
            continue;
        };
        let Some((src, dst)) = own[..t].iter().rev().find_map(|l| match l {
            Layer::Ipv4(v4) => Some((IpAddr::V4(v4.src), IpAddr::V4(v4.dst))),
            Layer::Ipv6(v6) => Some((IpAddr::V6(v6.src), IpAddr::V6(v6.dst))),
            _ => None,
        }) else {
            continue;
        };
        // A fixed-key hasher: the two captures must hash alike.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let (proto, sp, dp) = match &own[t] {
            Layer::Tcp(tcp) => {
                (6u8, tcp.seq, tcp.ack, tcp.flags, tcp.payload_len).hash(&mut h);
                let n = tcp.payload.len().min(opts.payload_bytes);
                tcp.payload[..n].hash(&mut h);
                (6, tcp.src_port, tcp.dst_port)
            }
            Layer::Udp(udp) => {
                (17u8, udp.length).hash(&mut h);
                let n = udp.payload.len().min(opts.payload_bytes);
                udp.payload[..n].hash(&mut h);
                (17, udp.src_port, udp.dst_port)
            }
            _ => continue,
        };
        let (s, d) = ((src, sp), (dst, dp));
        let key = (proto, s.min(d), s.max(d));
        let flow = *side.index.entry(key).or_insert_with(|| {
            side.flows.push(Flow {
                proto,
                initiator: s,
                responder: d,
                segments: 0,
            });
            side.flows.len() - 1
        });
        side.flows[flow].segments += 1;
        let dir = u8::from(side.flows[flow].initiator != s);
        side.segments.push(Segment {
            ts_ns: raw.ts_ns,
            flow,
            dir,
            fingerprint: h.finish(),
        });
    }
    side
}

/// The `compare` report (docs/CLI.md's `pcap compare --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: PointSummary,
    pub b: PointSummary,
    /// Matched flows, most segments missing first.
    pub flows: Vec<FlowComparison>,
    /// Flows seen at one point only (e.g. local traffic of that segment).
    pub only_at_a: Vec<String>,
    pub only_at_b: Vec<String>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct PointSummary {
    pub file: String,
    pub frames: u64,
    /// TCP segments and UDP datagrams.
    pub segments: u64,
    pub flows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowComparison {
    /// The flow as capture A saw it (`tcp 10.0.0.1:40000 -> 10.0.1.1:80`, initiator first).
    pub at_a: String,
    /// As capture B saw it (different through NAT).
    pub at_b: String,
    pub community_id_a: String,
    pub community_id_b: String,
    /// `community_id` (same addresses and ports) or `payload` (through NAT or proxy).
    pub matched_by: &'static str,
    /// [initiator -> responder, responder -> initiator].
    pub directions: [DirectionComparison; 2],
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct DirectionComparison {
    pub seen_at_a: u64,
    pub seen_at_b: u64,
    /// Seen at A and not (or fewer times) at B.
    pub missing_at_b: u64,
    /// Seen at B and not (or fewer times) at A.
    pub missing_at_a: u64,
    pub matched: u64,
    /// tB - tA of the matched segments, milliseconds (null when none matched).
    pub delay_ms: Option<Delay>,
    /// Matched segments that reached the later point behind one that passed the
    /// earlier point after them.
    pub reordered: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delay {
    pub min: f64,
    pub median: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Totals {
    pub matched_flows: u64,
    pub missing_at_b: u64,
    pub missing_at_a: u64,
    pub reordered: u64,
}

fn label(f: &Flow) -> String {
    let proto = if f.proto == 6 { "tcp" } else { "udp" };
    let ep = |e: Endpoint| match e.0 {
        IpAddr::V4(a) => format!("{a}:{}", e.1),
        IpAddr::V6(a) => format!("[{a}]:{}", e.1),
    };
    format!("{proto} {} -> {}", ep(f.initiator), ep(f.responder))
}

/// Compares two captures of the same traffic.
pub fn compare(
    a: &mut dyn FrameSource,
    a_name: &str,
    b: &mut dyn FrameSource,
    b_name: &str,
    opts: &CompareOptions,
) -> Comparison {
    let sa = read_side(a, opts);
    let sb = read_side(b, opts);
    let pairs = match_flows(&sa, &sb);
    let (ga, gb) = (group(&sa), group(&sb));
    let mut flows = Vec::new();
    let mut totals = Totals::default();
    let (mut used_a, mut used_b) = (vec![false; sa.flows.len()], vec![false; sb.flows.len()]);
    for (fa, fb, by) in pairs {
        used_a[fa] = true;
        used_b[fb] = true;
        let (flow_a, flow_b) = (&sa.flows[fa], &sb.flows[fb]);
        let dirs = [0u8, 1].map(|d| {
            let empty = Vec::new();
            let sega = ga.get(&(fa, d)).unwrap_or(&empty);
            let segb = gb.get(&(fb, d)).unwrap_or(&empty);
            compare_direction(sega, segb)
        });
        for d in &dirs {
            totals.missing_at_b += d.missing_at_b;
            totals.missing_at_a += d.missing_at_a;
            totals.reordered += d.reordered;
        }
        totals.matched_flows += 1;
        flows.push(FlowComparison {
            at_a: label(flow_a),
            at_b: label(flow_b),
            community_id_a: community_id(flow_a.proto, flow_a.initiator, flow_a.responder),
            community_id_b: community_id(flow_b.proto, flow_b.initiator, flow_b.responder),
            matched_by: by,
            directions: dirs,
        });
    }
    let missing = |f: &FlowComparison| -> u64 {
        f.directions
            .iter()
            .map(|d| d.missing_at_a + d.missing_at_b)
            .sum()
    };
    flows.sort_by(|x, y| {
        missing(y)
            .cmp(&missing(x))
            .then_with(|| x.at_a.cmp(&y.at_a))
    });
    let unmatched = |s: &Side, used: &[bool]| -> Vec<String> {
        s.flows
            .iter()
            .zip(used)
            .filter(|(_, u)| !**u)
            .map(|(f, _)| label(f))
            .collect()
    };
    Comparison {
        a: summary(a_name, &sa),
        b: summary(b_name, &sb),
        only_at_a: unmatched(&sa, &used_a),
        only_at_b: unmatched(&sb, &used_b),
        flows,
        totals,
    }
}

/// Segments of each flow and direction, in capture order.
fn group(s: &Side) -> HashMap<(usize, u8), Vec<&Segment>> {
    let mut g: HashMap<(usize, u8), Vec<&Segment>> = HashMap::new();
    for seg in &s.segments {
        g.entry((seg.flow, seg.dir)).or_default().push(seg);
    }
    g
}

fn summary(name: &str, s: &Side) -> PointSummary {
    PointSummary {
        file: name.to_string(),
        frames: s.frames,
        segments: s.segments.len() as u64,
        flows: s.flows.len() as u64,
    }
}

/// Pairs of (flow at A, flow at B, how matched): same endpoints first, then, for the
/// rest, the flow at B sharing most fingerprints (at least one).
fn match_flows(sa: &Side, sb: &Side) -> Vec<(usize, usize, &'static str)> {
    let mut pairs = Vec::new();
    let mut taken_b = vec![false; sb.flows.len()];
    let mut unmatched_a = Vec::new();
    for (i, f) in sa.flows.iter().enumerate() {
        let key = (
            f.proto,
            f.initiator.min(f.responder),
            f.initiator.max(f.responder),
        );
        match sb.index.get(&key) {
            Some(&j) => {
                pairs.push((i, j, "community_id"));
                taken_b[j] = true;
            }
            None => unmatched_a.push(i),
        }
    }
    if !unmatched_a.is_empty() {
        let mut by_fp: HashMap<u64, Vec<usize>> = HashMap::new();
        for seg in &sb.segments {
            if !taken_b[seg.flow] {
                by_fp.entry(seg.fingerprint).or_default().push(seg.flow);
            }
        }
        let mut shared: HashMap<usize, HashMap<usize, u64>> = HashMap::new();
        for seg in &sa.segments {
            if !unmatched_a.contains(&seg.flow) {
                continue;
            }
            if let Some(bs) = by_fp.get(&seg.fingerprint) {
                for &j in bs {
                    *shared.entry(seg.flow).or_default().entry(j).or_default() += 1;
                }
            }
        }
        for i in unmatched_a {
            let best = shared.get(&i).and_then(|m| {
                m.iter()
                    .filter(|(j, _)| !taken_b[**j])
                    .max_by(|x, y| x.1.cmp(y.1).then_with(|| y.0.cmp(x.0)))
                    .map(|(j, _)| *j)
            });
            if let Some(j) = best {
                taken_b[j] = true;
                pairs.push((i, j, "payload"));
            }
        }
    }
    pairs.sort();
    pairs
}

/// One direction of one flow. Copies of one fingerprint (a retransmission and its
/// original, duplicate ACKs) pair in order when both points saw as many; otherwise
/// each copy on the side that saw fewer pairs with the nearest in time on the other,
/// so a retransmission that got through pairs with itself, not with the dropped
/// original. What has no partner is missing at the other point.
fn compare_direction(sa: &[&Segment], sb: &[&Segment]) -> DirectionComparison {
    let mut groups: HashMap<u64, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (i, s) in sa.iter().enumerate() {
        groups.entry(s.fingerprint).or_default().0.push(i);
    }
    for (k, s) in sb.iter().enumerate() {
        groups.entry(s.fingerprint).or_default().1.push(k);
    }
    // partner_of_a[i] = position at B of A's i-th segment's partner.
    let mut partner_of_a: Vec<Option<usize>> = vec![None; sa.len()];
    for (at_a, at_b) in groups.values() {
        if at_a.len() == at_b.len() {
            for (&i, &k) in at_a.iter().zip(at_b) {
                partner_of_a[i] = Some(k);
            }
            continue;
        }
        let gap = |i: usize, k: usize| (sb[k].ts_ns - sa[i].ts_ns).unsigned_abs();
        if at_b.len() < at_a.len() {
            let mut free: Vec<usize> = at_a.clone();
            for &k in at_b {
                if let Some(pos) = (0..free.len()).min_by_key(|&p| gap(free[p], k)) {
                    partner_of_a[free.remove(pos)] = Some(k);
                }
            }
        } else {
            let mut free: Vec<usize> = at_b.clone();
            for &i in at_a {
                if let Some(pos) = (0..free.len()).min_by_key(|&p| gap(i, free[p])) {
                    partner_of_a[i] = Some(free.remove(pos));
                }
            }
        }
    }
    let mut delays = Vec::new();
    let mut reordered = 0;
    let mut latest = None;
    for (i, partner) in partner_of_a.iter().enumerate() {
        let Some(k) = *partner else { continue };
        delays.push((sb[k].ts_ns - sa[i].ts_ns) as f64 / 1e6);
        match latest {
            Some(l) if k < l => reordered += 1,
            _ => latest = Some(k),
        }
    }
    let matched = delays.len() as u64;
    DirectionComparison {
        seen_at_a: sa.len() as u64,
        seen_at_b: sb.len() as u64,
        missing_at_b: sa.len() as u64 - matched,
        missing_at_a: sb.len() as u64 - matched,
        matched,
        delay_ms: distribution(&mut delays),
        reordered,
    }
}

fn distribution(v: &mut [f64]) -> Option<Delay> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let ms = |x: f64| (x * 1000.0).round() / 1000.0;
    Some(Delay {
        min: ms(v[0]),
        median: ms(at(0.5)),
        p99: ms(at(0.99)),
        max: ms(v[v.len() - 1]),
    })
}

/// The human report: one line per flow and direction with something to say, then the
/// totals.
pub fn write(out: &mut dyn std::io::Write, c: &Comparison) -> std::io::Result<()> {
    writeln!(
        out,
        "A: {} ({} segments, {} flows)\nB: {} ({} segments, {} flows)\n",
        c.a.file, c.a.segments, c.a.flows, c.b.file, c.b.segments, c.b.flows
    )?;
    writeln!(
        out,
        "{:<48} {:>4} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "FLOW (AS SEEN AT A)",
        "DIR",
        "AT A",
        "AT B",
        "LOST A>B",
        "LOST B>A",
        "DELAY MS",
        "P99 MS",
        "REORDER"
    )?;
    for f in &c.flows {
        for (d, x) in f.directions.iter().enumerate() {
            if x.seen_at_a == 0 && x.seen_at_b == 0 {
                continue;
            }
            let (med, p99) = x
                .delay_ms
                .as_ref()
                .map_or(("-".to_string(), "-".to_string()), |d| {
                    (format!("{:.3}", d.median), format!("{:.3}", d.p99))
                });
            writeln!(
                out,
                "{:<48} {:>4} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
                if d == 0 { f.at_a.as_str() } else { "" },
                if d == 0 { "->" } else { "<-" },
                x.seen_at_a,
                x.seen_at_b,
                x.missing_at_b,
                x.missing_at_a,
                med,
                p99,
                x.reordered
            )?;
        }
        if f.matched_by == "payload" {
            writeln!(out, "{:<48} (at B: {}, matched by payload)", "", f.at_b)?;
        }
    }
    writeln!(
        out,
        "\n{} matched; seen at A and missing at B: {}; seen at B and missing at A: {}; \
         reordered: {}; flows at A only: {}, at B only: {}",
        crate::output::plural(c.totals.matched_flows, "flow", "flows"),
        c.totals.missing_at_b,
        c.totals.missing_at_a,
        c.totals.reordered,
        c.only_at_a.len(),
        c.only_at_b.len()
    )
}
