//! One-line frame summaries for `pcap show`, in the spirit of Wireshark's Info column:
//! the innermost layer that says something, with the addresses that carried it.

use crate::frame::{Frame, Layer};
use crate::transport::tcp_flags;
use std::fmt::Write;
use std::net::IpAddr;

/// What a reader that follows the streams (`pcap show`) knows about a frame's TCP
/// segment beyond its own header, so the line reads as Wireshark's does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpContext {
    /// The sender's and the receiver's base sequence numbers: Seq and Ack are printed
    /// relative to them (0 for the SYN, 1 for the first byte).
    pub seq_base: Option<u32>,
    pub ack_base: Option<u32>,
    /// The sender's window scale shift, once both SYNs agreed on scaling.
    pub window_shift: Option<u8>,
    /// Analysis tags, e.g. `TCP Retransmission`, printed in brackets.
    pub tags: Vec<&'static str>,
}

impl Frame<'_> {
    pub fn summary(&self) -> String {
        self.summary_in(None)
    }

    /// The summary, with a TCP segment read in its stream's context when one is given.
    pub fn summary_in(&self, tcp: Option<&TcpContext>) -> String {
        let own = self.own_layers();
        let mut s = String::new();
        // The summary describes the innermost conversation: its addresses and ports
        // come from inside the last tunnel, never an inner address with an outer port.
        let tunnels: Vec<usize> = (0..own.len()).filter(|i| tunnel_at(own, *i)).collect();
        let inner_from = tunnels.last().map_or(0, |t| match own[*t] {
            Layer::Ipv4(_) | Layer::Ipv6(_) => *t,
            _ => t + 1,
        });
        let inner = &own[inner_from..];
        let ip_at = inner
            .iter()
            .rposition(|l| matches!(l, Layer::Ipv4(_) | Layer::Ipv6(_)));
        let ip = ip_at.and_then(|i| ip_pair(&inner[i]));
        let Some(last) = own.last() else {
            return String::from("(nothing decoded)");
        };
        let ports = ip_at.and_then(|i| {
            inner[i..].iter().find_map(|l| match l {
                Layer::Tcp(t) => Some((t.src_port, t.dst_port)),
                Layer::Udp(u) => Some((u.src_port, u.dst_port)),
                _ => None,
            })
        });
        if let Some((src, dst)) = ip {
            match ports {
                Some((sp, dp)) => {
                    let _ = write!(s, "{} → {} ", sock(src, sp), sock(dst, dp));
                }
                None => {
                    let _ = write!(s, "{src} → {dst} ");
                }
            }
        }
        for tag in tcp.iter().flat_map(|c| &c.tags) {
            let _ = write!(s, "[{tag}] ");
        }
        match last {
            Layer::App { .. } => s.push_str(&crate::app::summarize(own, own.len() - 1)),
            Layer::Tcp(t) => {
                let relative = |n: u32, base: Option<u32>| base.map_or(n, |b| n.wrapping_sub(b));
                let ctx = tcp.cloned().unwrap_or_default();
                // A SYN's window is never scaled (RFC 7323 2.2).
                let window = match ctx.window_shift {
                    Some(shift) if !t.has(tcp_flags::SYN) => u64::from(t.window) << shift.min(14),
                    _ => u64::from(t.window),
                };
                let _ = write!(
                    s,
                    "TCP [{}] Seq={} Ack={} Win={} Len={}",
                    t.flags_string(),
                    relative(t.seq, ctx.seq_base),
                    if t.has(tcp_flags::ACK) {
                        relative(t.ack, ctx.ack_base)
                    } else {
                        0
                    },
                    window,
                    t.payload_len
                );
                if t.has(tcp_flags::SYN) {
                    let o = t.parse_options().0;
                    if let Some(mss) = o.mss {
                        let _ = write!(s, " MSS={mss}");
                    }
                    if o.sack_permitted {
                        s.push_str(" SACK_PERM");
                    }
                    if let Some(ws) = o.window_scale {
                        let _ = write!(s, " WS={}", 1u32 << ws.min(14));
                    }
                }
            }
            Layer::Udp(u) => {
                let _ = write!(s, "UDP Len={}", u.length.saturating_sub(8));
            }
            Layer::Icmp(i) => {
                let v = if i.version == 6 { "ICMPv6" } else { "ICMP" };
                let _ = write!(
                    s,
                    "{v} {} (type {} code {})",
                    i.type_name(),
                    i.icmp_type,
                    i.code
                );
                if let Some(mtu) = i.reported_mtu() {
                    let _ = write!(s, " MTU {mtu}");
                }
                if let Some((id, seq)) = i.echo_id_seq() {
                    let _ = write!(s, " id=0x{id:04x}, seq={seq}");
                }
                if let Some((target, mac)) = i.ndp_target() {
                    let _ = write!(s, " target {target}");
                    if let Some(mac) = mac {
                        let _ = write!(s, " MAC {mac}");
                    }
                }
                if let Some(g) = i.mld_group() {
                    let _ = write!(s, " group {g}");
                }
            }
            Layer::Igmp(g) => {
                let v = g.version().map(|v| format!("v{v}")).unwrap_or_default();
                let _ = write!(s, "IGMP{v} {} {}", g.name(), g.group);
            }
            Layer::Pim(p) => {
                let _ = write!(s, "PIMv{} {}", p.version, p.type_name());
            }
            Layer::Esp(e) => {
                let _ = write!(s, "ESP SPI=0x{:08x} Seq={}", e.spi, e.sequence);
            }
            Layer::Arp(a) => {
                let _ = match a.operation {
                    1 if a.is_gratuitous() => write!(s, "ARP Gratuitous ARP for {}", a.sender_ip),
                    1 => write!(s, "ARP Who has {}? Tell {}", a.target_ip, a.sender_ip),
                    2 => write!(s, "ARP {} is at {}", a.sender_ip, a.sender_mac),
                    op => write!(s, "ARP operation {op}"),
                };
            }
            Layer::Ipv4(h) if h.fragment_offset != 0 => {
                let _ = write!(
                    s,
                    "IPv4 fragment offset {} id 0x{:04x} proto {}",
                    h.fragment_offset, h.identification, h.protocol
                );
            }
            Layer::Ipv4(h) => {
                let _ = write!(s, "IPv4 protocol {}", h.protocol);
            }
            Layer::Ipv6(h) => {
                let _ = write!(s, "IPv6 next header {}", h.next_header);
            }
            Layer::Ethernet(e) => {
                let _ = write!(s, "{} → {} EtherType 0x{:04x}", e.src, e.dst, e.ethertype);
            }
            Layer::Vlan(v) => {
                let _ = write!(s, "802.1Q VLAN {} EtherType 0x{:04x}", v.vid, v.ethertype);
            }
            Layer::Llc(l) => {
                let _ = write!(s, "LLC DSAP 0x{:02x} SSAP 0x{:02x}", l.dsap, l.ssap);
            }
            Layer::Mpls(m) => {
                let _ = write!(s, "MPLS label {} (payload not decoded)", m.label);
            }
            other => s.push_str(other.name()),
        }
        // The tunnel, named with the outer addresses that carried it.
        if let Some(&t) = tunnels.first() {
            let name = match own[t] {
                Layer::Ipv4(_) | Layer::Ipv6(_) => "ip-in-ip",
                ref l => l.name(),
            };
            let _ = write!(s, " (in {name}");
            if let Some((src, dst)) = own[..t].iter().rev().find_map(ip_pair) {
                let _ = write!(s, " {src} → {dst}");
            }
            s.push(')');
        }
        s
    }
}

fn ip_pair(l: &Layer<'_>) -> Option<(IpAddr, IpAddr)> {
    match l {
        Layer::Ipv4(h) => Some((IpAddr::V4(h.src), IpAddr::V4(h.dst))),
        Layer::Ipv6(h) => Some((IpAddr::V6(h.src), IpAddr::V6(h.dst))),
        _ => None,
    }
}

/// Whether `own[i]` starts a tunnel: an encapsulation header, MPLS carried over IP
/// (MPLS-over-UDP/GRE/IP), or an IP packet directly inside another (IP-in-IP).
fn tunnel_at(own: &[Layer<'_>], i: usize) -> bool {
    let after = |f: fn(&Layer<'_>) -> bool| i > 0 && own.get(i - 1).is_some_and(f);
    match own[i] {
        Layer::Gre(_)
        | Layer::Erspan(_)
        | Layer::Vxlan(_)
        | Layer::Geneve(_)
        | Layer::Gtp(_)
        | Layer::L2tp(_) => true,
        Layer::Mpls(_) => after(|l| {
            matches!(
                l,
                Layer::Udp(_) | Layer::Ipv4(_) | Layer::Ipv6(_) | Layer::Gre(_)
            )
        }),
        Layer::Ipv4(_) | Layer::Ipv6(_) => after(|l| matches!(l, Layer::Ipv4(_) | Layer::Ipv6(_))),
        _ => false,
    }
}

fn sock(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}
