//! One-line frame summaries for `pcap show`, in the spirit of Wireshark's Info column:
//! the innermost layer that says something, with the addresses that carried it.

use crate::frame::{Frame, Layer};
use crate::transport::tcp_flags;
use std::fmt::Write;
use std::net::IpAddr;

impl Frame<'_> {
    pub fn summary(&self) -> String {
        let own = self.own_layers();
        let mut s = String::new();
        // Addresses from the innermost IP layer of the frame's own traffic.
        let ip = own.iter().rev().find_map(|l| match l {
            Layer::Ipv4(h) => Some((IpAddr::V4(h.src), IpAddr::V4(h.dst))),
            Layer::Ipv6(h) => Some((IpAddr::V6(h.src), IpAddr::V6(h.dst))),
            _ => None,
        });
        let Some(last) = own.last() else {
            return String::from("(nothing decoded)");
        };
        let ports = own.iter().rev().find_map(|l| match l {
            Layer::Tcp(t) => Some((t.src_port, t.dst_port)),
            Layer::Udp(u) => Some((u.src_port, u.dst_port)),
            _ => None,
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
        match last {
            Layer::App { .. } => s.push_str(&crate::app::summarize(own, own.len() - 1)),
            Layer::Tcp(t) => {
                let _ = write!(
                    s,
                    "TCP [{}] Seq={} Ack={} Win={} Len={}",
                    t.flags_string(),
                    t.seq,
                    if t.has(tcp_flags::ACK) { t.ack } else { 0 },
                    t.window,
                    t.payload_len
                );
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
        s
    }
}

fn sock(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}
