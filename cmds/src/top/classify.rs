//! What one captured frame means to `top`: its flow, direction and wire length. The
//! common case (SLL2, plain IPv4/IPv6, TCP or non-DNS UDP) is read straight from the
//! bytes with the dissectors' constants; everything else goes through the dissector.
//! Tests check both paths agree.

use super::engine::{Dir, FlowKey, Proto};
use super::names;
use netkit_dissectors::frame::{dissect, AppProto, DissectOptions, Layer};
use netkit_dissectors::link::{ethertype, linktype};
use netkit_dissectors::transport::tcp_flags;
use std::net::{IpAddr, SocketAddr};

/// One frame as `top` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub key: FlowKey,
    pub dir: Dir,
    /// Wire bytes.
    pub wire: u64,
    /// A TCP SYN without ACK: a new connection, even on a tuple seen before.
    pub syn: bool,
    /// A TCP FIN or RST: the connection is ending.
    pub fin_or_rst: bool,
}

impl Packet {
    /// The same frame as its receiver's: on loopback both ends are sockets of this
    /// namespace, and the frame is one's transmit and the other's receive (as the BPF
    /// path counts it, at each socket).
    pub fn as_received(&self) -> Packet {
        Packet {
            key: FlowKey {
                local: self.key.remote,
                remote: self.key.local,
                ..self.key
            },
            dir: Dir::Rx,
            ..*self
        }
    }
}

/// Whether a cooked (SLL2) frame passed the loopback device.
pub fn on_loopback(linktype: u16, data: &[u8]) -> bool {
    const ARPHRD_LOOPBACK: u16 = 772;
    linktype == linktype::LINUX_SLL2
        && data.get(8..10) == Some(ARPHRD_LOOPBACK.to_be_bytes().as_slice())
}

/// What one frame means to `top`: its flow, direction and wire length; `None` for
/// frames that are not IP or that the interface selection leaves out.
///
/// A cooked capture's original length counts the cooked header (16 or 20 bytes)
/// instead of the link header the frame had on the wire; the wire length puts the
/// link header back (14 bytes on Ethernet and loopback, none on tun and the like).
pub fn classify(
    netns: u32,
    linktype: u16,
    data: &[u8],
    orig_len: u32,
    interfaces: Option<&[u32]>,
    opts: &DissectOptions,
    names: Option<&mut names::Names>,
) -> Option<Packet> {
    match classify_fast(netns, linktype, data, orig_len, interfaces) {
        Fast::Done(p) => p,
        Fast::Dissect => {
            classify_dissected(netns, linktype, data, orig_len, interfaces, opts, names)
        }
    }
}

enum Fast {
    Done(Option<Packet>),
    /// Not the plain case: let the full dissector decide.
    Dissect,
}

/// The common case read straight from the bytes: an SLL2 frame carrying unfragmented
/// IPv4, or IPv6 without extension headers, with TCP or non-DNS UDP. Everything else
/// (ICMP, DNS answers to learn names from, tunnels, fragments, options) goes through
/// [`dissect`]. At tens of thousands of frames a second this halves the per-frame
/// cost; the tests check both paths agree.
fn classify_fast(
    netns: u32,
    linktype: u16,
    data: &[u8],
    orig_len: u32,
    interfaces: Option<&[u32]>,
) -> Fast {
    const PACKET_OUTGOING: u8 = 4;
    const ARPHRD_ETHER: u16 = 1;
    if linktype != linktype::LINUX_SLL2 {
        return Fast::Dissect;
    }
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (Some(ethertype), Some(arphrd), Some(&packet_type)) = (be16(0), be16(8), data.get(10))
    else {
        return Fast::Dissect;
    };
    if arphrd != ARPHRD_ETHER {
        return Fast::Dissect;
    }
    if let Some(wanted) = interfaces {
        let Some(ifindex) = data
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return Fast::Dissect;
        };
        if !wanted.contains(&ifindex) {
            return Fast::Done(None);
        }
    }
    let ip = data.get(20..).unwrap_or_default();
    let (src, dst, proto, l4) = match ethertype {
        ethertype::IPV4 => {
            let (Some(&vihl), Some(frag), Some(&proto), Some(s), Some(d)) = (
                ip.first(),
                ip.get(6..8),
                ip.get(9),
                ip.get(12..16),
                ip.get(16..20),
            ) else {
                return Fast::Dissect;
            };
            // More-fragments flag or an offset: not the plain case.
            if vihl != 0x45 || frag[0] & 0x3f != 0 || frag[1] != 0 {
                return Fast::Dissect;
            }
            (
                IpAddr::from([s[0], s[1], s[2], s[3]]),
                IpAddr::from([d[0], d[1], d[2], d[3]]),
                proto,
                20,
            )
        }
        ethertype::IPV6 => {
            let (Some(&v), Some(&proto), Some(s), Some(d)) =
                (ip.first(), ip.get(6), ip.get(8..24), ip.get(24..40))
            else {
                return Fast::Dissect;
            };
            let (Ok(s), Ok(d)) = (<[u8; 16]>::try_from(s), <[u8; 16]>::try_from(d)) else {
                return Fast::Dissect;
            };
            if v >> 4 != 6 {
                return Fast::Dissect;
            }
            (IpAddr::from(s), IpAddr::from(d), proto, 40)
        }
        _ => return Fast::Dissect,
    };
    let (Some(sport), Some(dport)) = (
        ip.get(l4..l4 + 2).map(|b| u16::from_be_bytes([b[0], b[1]])),
        ip.get(l4 + 2..l4 + 4)
            .map(|b| u16::from_be_bytes([b[0], b[1]])),
    ) else {
        return Fast::Dissect;
    };
    let (proto, syn, fin_or_rst) = match proto {
        6 => {
            let Some(&flags) = ip.get(l4 + 13) else {
                return Fast::Dissect;
            };
            let flags = u16::from(flags);
            (
                Proto::Tcp,
                flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN,
                flags & (tcp_flags::FIN | tcp_flags::RST) != 0,
            )
        }
        17 if ![53, 5353].contains(&sport) && ![53, 5353].contains(&dport) => {
            (Proto::Udp, false, false)
        }
        _ => return Fast::Dissect,
    };
    let dir = if packet_type == PACKET_OUTGOING {
        Dir::Tx
    } else {
        Dir::Rx
    };
    let (s, d) = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
    let (local, remote) = match dir {
        Dir::Tx => (s, d),
        Dir::Rx => (d, s),
    };
    Fast::Done(Some(Packet {
        key: FlowKey {
            netns,
            proto,
            local,
            remote,
        },
        dir,
        // The 20-byte SLL2 header stands where a 14-byte Ethernet header was.
        wire: (u64::from(orig_len) + 14).saturating_sub(20),
        syn,
        fin_or_rst,
    }))
}

fn classify_dissected(
    netns: u32,
    linktype: u16,
    data: &[u8],
    orig_len: u32,
    interfaces: Option<&[u32]>,
    opts: &DissectOptions,
    names: Option<&mut names::Names>,
) -> Option<Packet> {
    let frame = dissect(linktype, data, opts);
    let mut syn = false;
    let mut fin_or_rst = false;
    let mut wire = u64::from(orig_len);
    let mut dir = None;
    let mut src = None;
    let mut dst = None;
    let mut proto = None;
    let mut ports = (0u16, 0u16);
    for layer in frame.own_layers() {
        match layer {
            Layer::Sll(s) if dir.is_none() => {
                if let (Some(wanted), Some(ifindex)) = (interfaces, s.ifindex) {
                    if !wanted.contains(&ifindex) {
                        return None;
                    }
                }
                // Loopback frames pass the device twice, going out and coming in.
                // libpcap's "any" capture hands over only the incoming copy (it skips
                // outgoing frames on lo); that one is the sender's transmit (and,
                // through [`Packet::as_received`], the receiver's), the outgoing one
                // never counted, should a capture deliver both.
                const PACKET_OUTGOING: u16 = 4;
                const ARPHRD_LOOPBACK: u16 = 772;
                let loopback = s.arphrd == ARPHRD_LOOPBACK;
                if loopback && s.packet_type == PACKET_OUTGOING {
                    return None;
                }
                const ARPHRD_ETHER: u16 = 1;
                let cooked: u64 = if s.version == 2 { 20 } else { 16 };
                let link: u64 = match s.arphrd {
                    ARPHRD_ETHER | ARPHRD_LOOPBACK => 14,
                    _ => 0,
                };
                wire = (wire + link).saturating_sub(cooked);
                dir = Some(if loopback || s.packet_type == PACKET_OUTGOING {
                    Dir::Tx
                } else {
                    Dir::Rx
                });
            }
            // The outermost IP header decides the flow; tunnels are counted as the
            // tunnel's flow, which is the socket a process holds.
            Layer::Ipv4(ip) if src.is_none() => {
                src = Some(IpAddr::V4(ip.src));
                dst = Some(IpAddr::V4(ip.dst));
                proto = Some(Proto::Ip(ip.protocol));
            }
            Layer::Ipv6(ip) if src.is_none() => {
                src = Some(IpAddr::V6(ip.src));
                dst = Some(IpAddr::V6(ip.dst));
                proto = Some(Proto::Ip(ip.next_header));
            }
            Layer::Tcp(t) if matches!(proto, Some(Proto::Ip(_))) => {
                proto = Some(Proto::Tcp);
                syn = t.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
                fin_or_rst = t.flags & (tcp_flags::FIN | tcp_flags::RST) != 0;
                ports = (t.src_port, t.dst_port);
            }
            Layer::Udp(u) if matches!(proto, Some(Proto::Ip(_))) => {
                proto = Some(Proto::Udp);
                ports = (u.src_port, u.dst_port);
            }
            Layer::Icmp(i) if matches!(proto, Some(Proto::Ip(_))) => {
                proto = Some(Proto::Icmp);
                // Echo request/reply (v4 8/0, v6 128/129) carry the identifier a ping
                // socket is bound to; other ICMP messages get port 0.
                let echo = matches!((i.version, i.icmp_type), (4, 0 | 8) | (6, 128 | 129));
                let id = if echo {
                    u16::from_be_bytes([i.rest[0], i.rest[1]])
                } else {
                    0
                };
                ports = (id, id);
            }
            Layer::App {
                proto: AppProto::Dns,
                data,
                ..
            } => {
                if let Some(names) = names {
                    if ports.0 == 53 || ports.0 == 5353 {
                        names.observe_dns(data);
                    }
                }
                break;
            }
            _ => {}
        }
    }
    let (src, dst, proto) = (src?, dst?, proto?);
    let dir = dir.unwrap_or(Dir::Rx);
    let (s, d) = (SocketAddr::new(src, ports.0), SocketAddr::new(dst, ports.1));
    let (local, remote) = match dir {
        Dir::Tx => (s, d),
        Dir::Rx => (d, s),
    };
    Some(Packet {
        key: FlowKey {
            netns,
            proto,
            local,
            remote,
        },
        dir,
        wire,
        syn,
        fin_or_rst,
    })
}

/// The bulk ring's filter: TCP segments without SYN (see `capture_loop`).
pub const BULK_FILTER: &str =
    "(ip and tcp and tcp[13] & 2 == 0) or (ip6 and ip6[6] == 6 and ip6[53] & 2 == 0)";

/// The quick ring's filter: every other IP frame, so the two never count one twice.
pub fn quick_filter() -> String {
    format!("(ip or ip6) and not ({BULK_FILTER})")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SLL2 header (20 bytes) + IPv4 + TCP, built by hand.
    fn sll2_tcp(packet_type: u8, ifindex: u32, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0x08, 0x00, 0, 0];
        f.extend_from_slice(&ifindex.to_be_bytes());
        f.extend_from_slice(&[0x00, 0x01, packet_type, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        let ip = [
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, src[0], src[1], src[2], src[3], dst[0],
            dst[1], dst[2], dst[3],
        ];
        f.extend_from_slice(&ip);
        let tcp = [
            0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn fast_path_agrees_with_the_dissector() {
        let opts = DissectOptions::default();
        let mut frames = Vec::new();
        for (pt, flags) in [(4u8, 0x02u8), (0, 0x12), (0, 0x10), (4, 0x11)] {
            let mut f = sll2_tcp(pt, 3, [10, 0, 0, 1], [10, 0, 0, 2]);
            f[20 + 20 + 13] = flags;
            frames.push(f);
        }
        // The same as UDP (protocol 17, 8-byte header), and as IPv6/TCP.
        let mut udp = sll2_tcp(0, 3, [10, 0, 0, 2], [10, 0, 0, 1]);
        udp[20 + 9] = 17;
        udp.truncate(20 + 20 + 8);
        frames.push(udp);
        let mut v6 = vec![
            0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        v6.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(4));
        v6.extend_from_slice(&[0xfd, 0, 0, 1].repeat(4));
        v6.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
        v6.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        frames.push(v6);
        let mut rst = sll2_tcp(0, 3, [10, 0, 0, 2], [10, 0, 0, 1]);
        rst[20 + 20 + 13] = 0x14;
        frames.push(rst);
        let ends: Vec<bool> = frames
            .iter()
            .map(|f| {
                classify(1, linktype::LINUX_SLL2, f, 1000, None, &opts, None)
                    .is_some_and(|p| p.fin_or_rst)
            })
            .collect();
        // SYN, SYN-ACK, ACK, FIN-ACK, UDP, IPv6 SYN, RST-ACK.
        assert_eq!(ends, [false, false, false, true, false, false, true]);
        for f in &frames {
            let Fast::Done(fast) = classify_fast(1, linktype::LINUX_SLL2, f, 1000, None) else {
                panic!("fast path declined {f:02x?}");
            };
            let slow = classify_dissected(1, linktype::LINUX_SLL2, f, 1000, None, &opts, None);
            assert!(fast.is_some());
            assert_eq!(fast, slow, "{f:02x?}");
            assert!(classify_fast(1, linktype::LINUX_SLL2, f, 1000, Some(&[9])).is_done_none());
        }
        // ICMP and DNS take the dissector's path.
        let mut dns = frames[4].clone();
        dns[40..42].copy_from_slice(&53u16.to_be_bytes());
        assert!(matches!(
            classify_fast(1, linktype::LINUX_SLL2, &dns, 100, None),
            Fast::Dissect
        ));
        let mut icmp = frames[0].clone();
        icmp[29] = 1;
        assert!(matches!(
            classify_fast(1, linktype::LINUX_SLL2, &icmp, 100, None),
            Fast::Dissect
        ));
        assert!(matches!(
            classify_fast(1, linktype::LINUX_SLL2, &frames[0][..30], 100, None),
            Fast::Dissect
        ));
    }

    impl Fast {
        fn is_done_none(&self) -> bool {
            matches!(self, Fast::Done(None))
        }
    }

    #[test]
    fn classify_orients_by_direction_and_filters_interfaces() {
        let opts = DissectOptions::default();
        let out = sll2_tcp(4, 3, [10, 0, 0, 1], [10, 0, 0, 2]);
        let Packet {
            key: k,
            dir: d,
            wire,
            syn,
            fin_or_rst,
        } = classify(2, linktype::LINUX_SLL2, &out, 60, None, &opts, None).unwrap();
        assert!(!fin_or_rst);
        // The hand-made segment has only SYN set.
        assert!(syn);
        assert_eq!(d, Dir::Tx);
        // 20-byte SLL2 header replaced by a 14-byte Ethernet header.
        assert_eq!(wire, 54);
        assert_eq!(k.netns, 2);
        assert_eq!(k.proto, Proto::Tcp);
        assert_eq!(k.local, SocketAddr::from(([10, 0, 0, 1], 12345)));
        assert_eq!(k.remote, SocketAddr::from(([10, 0, 0, 2], 80)));
        let inbound = sll2_tcp(0, 3, [10, 0, 0, 2], [10, 0, 0, 1]);
        let p2 = classify(2, linktype::LINUX_SLL2, &inbound, 60, None, &opts, None).unwrap();
        let (k2, d2) = (p2.key, p2.dir);
        assert_eq!(d2, Dir::Rx);
        assert_eq!(k2.local, SocketAddr::from(([10, 0, 0, 1], 80)));
        assert!(classify(2, linktype::LINUX_SLL2, &out, 60, Some(&[4]), &opts, None).is_none());
        assert!(classify(2, linktype::LINUX_SLL2, &out, 60, Some(&[3]), &opts, None).is_some());
        assert!(classify(2, linktype::LINUX_SLL2, &out[..10], 60, None, &opts, None).is_none());
    }

    #[test]
    fn loopback_is_counted_once_as_the_senders_transmit() {
        let opts = DissectOptions::default();
        let on_lo = |packet_type| {
            let mut f = sll2_tcp(packet_type, 1, [127, 0, 0, 1], [127, 0, 0, 2]);
            f[8..10].copy_from_slice(&772u16.to_be_bytes());
            f
        };
        // The copy going out is never counted; the one coming in (the only one
        // libpcap's "any" capture hands over) is, as the sender's.
        assert!(classify(2, linktype::LINUX_SLL2, &on_lo(4), 60, None, &opts, None).is_none());
        let p = classify(2, linktype::LINUX_SLL2, &on_lo(0), 60, None, &opts, None).unwrap();
        assert_eq!(p.dir, Dir::Tx);
        assert_eq!(p.key.local, SocketAddr::from(([127, 0, 0, 1], 12345)));
        assert_eq!(p.key.remote, SocketAddr::from(([127, 0, 0, 2], 80)));
        assert_eq!(p.wire, 54);
        assert!(on_loopback(linktype::LINUX_SLL2, &on_lo(0)));
        assert!(!on_loopback(
            linktype::LINUX_SLL2,
            &sll2_tcp(0, 1, [127, 0, 0, 1], [127, 0, 0, 2])
        ));
        let r = p.as_received();
        assert_eq!((r.dir, r.wire), (Dir::Rx, 54));
        assert_eq!(r.key.local, SocketAddr::from(([127, 0, 0, 2], 80)));
        assert_eq!(r.key.remote, SocketAddr::from(([127, 0, 0, 1], 12345)));
    }
}
