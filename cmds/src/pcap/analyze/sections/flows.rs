//! The 5-tuple view the tunnel and path sections share: a flow with its two ends in a
//! fixed order, and the IP packet (with ports) at a given layer of a frame.

use netkit_dissectors::Layer;
use std::net::{IpAddr, SocketAddr};

/// A 5-tuple with the two ends in a fixed order, so both directions are one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub proto: u8,
    pub a: (IpAddr, u16),
    pub b: (IpAddr, u16),
}

impl FlowKey {
    pub fn new(proto: u8, src: (IpAddr, u16), dst: (IpAddr, u16)) -> (FlowKey, bool) {
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

    pub fn describe(&self) -> String {
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

fn sock(ep: (IpAddr, u16)) -> SocketAddr {
    SocketAddr::from(ep)
}

/// The IP header and transport of one packet inside `layers`.
#[derive(Debug, Clone, Copy)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// IP total length (IPv6: 40 + payload length, extension headers included).
    pub ip_len: u32,
}

impl Packet {
    pub fn flow(&self) -> FlowKey {
        FlowKey::new(self.proto, (self.src, self.sport), (self.dst, self.dport)).0
    }
}

/// The IP packet at `layers[i]` and the ports of the transport after it.
pub fn packet_at(layers: &[Layer<'_>], i: usize) -> Option<Packet> {
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
