//! The `tunnels` section: every outer flow (GRE key and endpoints, VXLAN/Geneve VNI,
//! ESP SPI, NAT-T, MPLS label stack, ERSPAN session, GTP TEID, L2TP session, IP-in-IP)
//! with the inner flows it carries, bytes, and the per-packet encapsulation overhead;
//! and ECMP entropy per pair of tunnel endpoints: how many distinct outer 5-tuples
//! carry how many inner flows (a provider that balances by 5-tuple puts one outer flow
//! on one link).

use super::flows::{packet_at, FlowKey};
use crate::output::plural;
use crate::pcap::analyze::findings::{Code, Finding, Severity};
use crate::pcap::analyze::{FastMap, FrameCtx, Section};
use netkit_dissectors::Layer;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Bounds that keep memory flat on hostile or huge captures; reaching one is reported.
const MAX_OUTER_FLOWS: usize = 10_000;
const MAX_INNER_PER_OUTER: usize = 4_096;

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

#[derive(Debug, Clone, Default)]
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
    /// Tunnel ids (`VXLAN vni 42`) with the frame that first carried them.
    ids: Vec<(u64, String)>,
}

/// The tunnel engine of one run.
#[derive(Debug, Clone, Default)]
pub struct TunnelAnalysis {
    outer: FastMap<(TunnelId, Option<FlowKey>), OuterState>,
    truncated: bool,
}

impl Section for TunnelAnalysis {
    fn feed(&mut self, ctx: &FrameCtx<'_>) {
        self.tunnel(ctx.raw.number, ctx.frame.own_layers());
    }
}

impl TunnelAnalysis {
    /// Finds the outermost tunnel in the stack and accounts the frame to it.
    fn tunnel(&mut self, number: u64, layers: &[Layer<'_>]) {
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

    /// The section, and its findings (one outer flow carrying many inner flows, VXLAN
    /// source ports that do not follow the inner flows).
    pub fn finish(self, findings: &mut Vec<Finding>) -> TunnelsSection {
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
                e.ids
                    .push((s.first_frame, format!("{} {id}", s.kind.to_uppercase())));
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
                mut first_frames,
                mut ids,
            } = acc;
            // The outer flows come from a hash map: capture order makes the evidence
            // and the id named the same on every run.
            first_frames.sort_unstable();
            ids.sort_unstable();
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
group: String::new(), ts_ns: None,
                    severity: Severity::Warning,
                    code: Code::EcmpSingleOuterFlow,
                    summary: format!(
                        "{} inner flows ride 1 outer flow ({}, {a} <-> {b}): a provider hashing on 5-tuples puts them all on one link",
                        pair.inner_flows,
                        ids.first().map(|(_, id)| id.clone()).unwrap_or_else(|| kinds.iter().copied().collect::<Vec<_>>().join("/"))
                    ),
                    stream: None,
                    frames: first_frames.clone(),
                    wireshark_filter: format!("ip.addr == {a} && ip.addr == {b}"),
                });
            }
            if let Some(ports) = pair.source_ports {
                if pair.inner_flows >= 4 && ports * 2 < pair.inner_flows {
                    findings.push(Finding {
group: String::new(), ts_ns: None,
                        severity: Severity::Warning,
                        code: Code::TunnelLowEntropy,
                        summary: format!(
                            "{} inner flows between {a} and {b} use only {}: RFC 7348 asks for a source port derived from the inner headers so the underlay can balance",
                            pair.inner_flows,
                            plural(ports as u64, "outer UDP source port", "outer UDP source ports")
                        ),
                        stream: None,
                        frames: first_frames.clone(),
                        wireshark_filter: format!("ip.addr == {a} && ip.addr == {b} && udp"),
                    });
                }
            }
            ecmp.push(pair);
        }

        TunnelsSection {
            outer_flows,
            ecmp,
            truncated: self.truncated,
        }
    }
}
