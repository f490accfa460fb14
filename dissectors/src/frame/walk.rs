//! The walk itself: one recursive descent from the link layer down, one method per
//! layer, each pushing its [`Layer`] and handing the rest of the frame to the next.
//! Adding a protocol to the census means a dissector module, its variant in
//! [`Layer`] (frame/mod.rs) and one arm here that recognises it.

use super::{AppProto, DissectOptions, Layer, UdpDecode, MAX_NESTING};
use crate::error::DecodeError;
use crate::link::{
    ethertype, linktype, CiscoHdlc, Ethernet, Llc, Mac, Null, Ppp, Pppoe, Sll, Snap, Vlan,
};
use crate::net::{ipproto, Arp, Igmp, Ipv4, Ipv6, Ipv6Fragment, Mpls, Pim};
use crate::transport::{Icmp, Tcp, Udp};
use crate::tunnel::{Erspan, Esp, Geneve, Gre, Gtpu, L2tp, Vxlan};
use std::net::Ipv6Addr;

pub(super) struct Dissector<'a, 'o> {
    pub(super) data: &'a [u8],
    pub(super) opts: &'o DissectOptions,
    pub(super) layers: Vec<Layer<'a>>,
    pub(super) error: Option<DecodeError>,
    pub(super) nesting: u8,
    /// Inside an ICMP error's quoted packet, which is cut short by design: running out
    /// of bytes there is not an error of the frame.
    pub(super) quoted: bool,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> Dissector<'a, '_> {
    /// The frame bytes from `off` to `end` (clamped to the captured length).
    fn slice(&self, off: usize, end: usize) -> &'a [u8] {
        let end = end.min(self.data.len());
        self.data.get(off.min(end)..end).unwrap_or(&[])
    }

    fn fail(&mut self, mut e: DecodeError) {
        // A header length field can point a layer past the captured bytes; the error
        // still names a place inside the frame.
        e.offset = e.offset.min(self.data.len());
        if self.error.is_none() && !self.quoted {
            self.error = Some(e);
        }
    }

    fn truncated(&mut self, layer: &'static str, off: usize, end: usize, needed: usize) {
        let available = end.min(self.data.len()).saturating_sub(off);
        self.fail(DecodeError::truncated(layer, off, needed, available));
    }

    fn enter(&mut self, off: usize) -> bool {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            self.fail(DecodeError::invalid(
                "frame",
                off,
                "more nested encapsulations than netkit follows (12)",
            ));
            return false;
        }
        true
    }

    fn app(&mut self, proto: AppProto, off: usize, end: usize) {
        let data = self.slice(off, end);
        self.layers.push(Layer::App {
            proto,
            offset: off,
            data,
        });
    }

    pub(super) fn link(&mut self, lt: u16) {
        let end = self.data.len();
        match lt {
            linktype::ETHERNET => self.ethernet(0, end),
            linktype::RAW | linktype::RAW_OPENBSD | linktype::RAW_BSDOS => self.ip_guess(0, end),
            linktype::IPV4 => self.ipv4(0, end),
            linktype::IPV6 => self.ipv6(0, end),
            linktype::NULL | linktype::LOOP => {
                let Some(raw) = self.data.get(..4) else {
                    return self.truncated("null", 0, end, 4);
                };
                let raw: [u8; 4] = [raw[0], raw[1], raw[2], raw[3]];
                // NULL stores the family in the writer's byte order; LOOP in network
                // order. Families are small numbers, so whichever reading is small wins.
                let family = if lt == linktype::LOOP {
                    u32::from_be_bytes(raw)
                } else {
                    let le = u32::from_le_bytes(raw);
                    if le < 0x100 {
                        le
                    } else {
                        u32::from_be_bytes(raw)
                    }
                };
                self.layers.push(Layer::Null(Null { family }));
                match family {
                    2 => self.ipv4(4, end),
                    // BSD values of AF_INET6: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS)
                    24 | 28 | 30 | 10 => self.ipv6(4, end),
                    _ => {}
                }
            }
            linktype::C_HDLC => {
                let (Some(&address), Some(protocol)) = (self.data.first(), be16(self.data, 2))
                else {
                    return self.truncated("chdlc", 0, end, 4);
                };
                self.layers
                    .push(Layer::CiscoHdlc(CiscoHdlc { address, protocol }));
                if protocol == ethertype::CISCO_CDP {
                    self.app(AppProto::Cdp, 4, end);
                } else if protocol != ethertype::CISCO_SLARP {
                    self.ethertype(protocol, 4, end);
                }
            }
            linktype::PPP | linktype::PPP_HDLC => self.ppp(0, end),
            linktype::LINUX_SLL => self.sll(1, end),
            linktype::LINUX_SLL2 => self.sll(2, end),
            other => self.fail(DecodeError::invalid(
                "frame",
                0,
                if other == 0xffff {
                    "unknown link type"
                } else {
                    "link type netkit does not decode"
                },
            )),
        }
    }

    fn sll(&mut self, version: u8, end: usize) {
        let d = self.data;
        let hdr = if version == 1 { 16 } else { 20 };
        if d.len() < hdr {
            return self.truncated(if version == 1 { "sll" } else { "sll2" }, 0, end, hdr);
        }
        let (packet_type, arphrd, addr_len, addr_at, protocol, ifindex) = if version == 1 {
            (
                be16(d, 0).unwrap_or(0),
                be16(d, 2).unwrap_or(0),
                be16(d, 4).unwrap_or(0).min(8) as u8,
                6,
                be16(d, 14).unwrap_or(0),
                None,
            )
        } else {
            (
                u16::from(d[10]),
                be16(d, 8).unwrap_or(0),
                d[11].min(8),
                12,
                be16(d, 0).unwrap_or(0),
                be32(d, 4),
            )
        };
        let mut addr = [0u8; 8];
        addr.copy_from_slice(&d[addr_at..addr_at + 8]);
        self.layers.push(Layer::Sll(Sll {
            version,
            packet_type,
            arphrd,
            addr,
            addr_len,
            protocol,
            ifindex,
        }));
        match protocol {
            // Linux "protocol" values below 0x0600 are not EtherTypes: 0x0004 means an
            // 802.2 LLC frame follows (how CDP/STP appear in cooked captures).
            0x0004 => self.llc(hdr, end),
            p if p >= 0x0600 => self.ethertype(p, hdr, end),
            _ => {}
        }
    }

    fn ethernet(&mut self, off: usize, end: usize) {
        let Some(h) = self.data.get(off..off + 14) else {
            return self.truncated("eth", off, end, 14);
        };
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&h[..6]);
        src.copy_from_slice(&h[6..12]);
        let et = u16::from_be_bytes([h[12], h[13]]);
        self.layers.push(Layer::Ethernet(Ethernet {
            dst: Mac(dst),
            src: Mac(src),
            ethertype: et,
        }));
        self.type_or_length(et, off + 14, end);
    }

    /// After an Ethernet header or VLAN tag, a value up to 1500 is an 802.3 length
    /// (an LLC header follows, and the length tells where the padding starts).
    fn type_or_length(&mut self, et: u16, off: usize, end: usize) {
        if et <= 1500 {
            let len_end = off.saturating_add(usize::from(et)).min(end);
            self.llc(off, len_end)
        } else {
            self.ethertype(et, off, end)
        }
    }

    /// Dispatch on an EtherType whose payload starts at `off`.
    fn ethertype(&mut self, et: u16, off: usize, end: usize) {
        match et {
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD1 | ethertype::QINQ_OLD2 => {
                self.vlan(et, off, end)
            }
            ethertype::IPV4 => self.ipv4(off, end),
            ethertype::IPV6 => self.ipv6(off, end),
            ethertype::ARP | ethertype::RARP => match Arp::parse(self.slice(off, end)) {
                Ok(a) => self.layers.push(Layer::Arp(a)),
                Err(e) => self.fail(e.at(off)),
            },
            ethertype::MPLS | ethertype::MPLS_MCAST => self.mpls(off, end),
            ethertype::LLDP => self.app(AppProto::Lldp, off, end),
            ethertype::TEB if self.enter(off) => self.ethernet(off, end),
            ethertype::PPPOE_SESSION | ethertype::PPPOE_DISCOVERY => self.pppoe(et, off, end),
            _ => {}
        }
    }

    fn vlan(&mut self, tpid: u16, off: usize, end: usize) {
        let (Some(tci), Some(inner)) = (be16(self.data, off), be16(self.data, off + 2)) else {
            return self.truncated("vlan", off, end, 4);
        };
        if !self.enter(off) {
            return;
        }
        self.layers.push(Layer::Vlan(Vlan {
            tpid,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
            ethertype: inner,
        }));
        self.type_or_length(inner, off + 4, end);
    }

    fn llc(&mut self, off: usize, end: usize) {
        let d = self.slice(off, end);
        if d.len() < 3 {
            return self.truncated("llc", off, end, 3);
        }
        let (dsap, ssap, control) = (d[0], d[1], d[2]);
        let snap = if dsap == 0xaa && ssap == 0xaa {
            let Some(s) = d.get(3..8) else {
                return self.truncated("llc", off, end, 8);
            };
            Some(Snap {
                oui: u32::from_be_bytes([0, s[0], s[1], s[2]]),
                pid: u16::from_be_bytes([s[3], s[4]]),
            })
        } else {
            None
        };
        self.layers.push(Layer::Llc(Llc {
            dsap,
            ssap,
            control,
            snap,
        }));
        match snap {
            Some(Snap { oui: 0x00000c, pid }) => match pid {
                0x2000 => self.app(AppProto::Cdp, off + 8, end),
                0x2003 => self.app(AppProto::Vtp, off + 8, end),
                0x2004 => self.app(AppProto::Dtp, off + 8, end),
                // PVST+ BPDUs ride on SNAP with Cisco's OUI.
                0x010b => self.app(AppProto::Stp, off + 8, end),
                _ => {}
            },
            // RFC 1042: SNAP with OUI 0 carries an EtherType.
            Some(Snap { oui: 0, pid }) => self.ethertype(pid, off + 8, end),
            Some(_) => {}
            None if dsap == 0x42 && ssap == 0x42 => self.app(AppProto::Stp, off + 3, end),
            None => {}
        }
    }

    fn pppoe(&mut self, et: u16, off: usize, end: usize) {
        let d = self.slice(off, end);
        let (Some(&code), Some(session), Some(length)) = (d.get(1), be16(d, 2), be16(d, 4)) else {
            return self.truncated("pppoe", off, end, 6);
        };
        self.layers.push(Layer::Pppoe(Pppoe {
            code,
            session,
            length,
        }));
        if et == ethertype::PPPOE_SESSION {
            let pend = (off + 6).saturating_add(usize::from(length)).min(end);
            self.ppp(off + 6, pend);
        }
    }

    fn ppp(&mut self, off: usize, end: usize) {
        let d = self.slice(off, end);
        // Address/control FF 03 are optional (ACFC); a protocol field with an odd
        // first byte is the compressed one-byte form (PFC).
        let mut at = if d.starts_with(&[0xff, 0x03]) { 2 } else { 0 };
        let Some(&first) = d.get(at) else {
            return self.truncated("ppp", off, end, at + 2);
        };
        let protocol = if first & 1 == 1 {
            at += 1;
            u16::from(first)
        } else {
            let Some(p) = be16(d, at) else {
                return self.truncated("ppp", off, end, at + 2);
            };
            at += 2;
            p
        };
        self.layers.push(Layer::Ppp(Ppp { protocol }));
        let next = off + at;
        match protocol {
            0x0021 => self.ipv4(next, end),
            0x0057 => self.ipv6(next, end),
            0x0281 | 0x0283 => self.mpls(next, end),
            _ => {}
        }
    }

    fn mpls(&mut self, mut off: usize, end: usize) {
        if !self.enter(off) {
            return;
        }
        loop {
            let e = match Mpls::parse(self.slice(off, end)) {
                Ok(e) => e,
                Err(e) => return self.fail(e.at(off)),
            };
            self.layers.push(Layer::Mpls(e));
            off += 4;
            if e.bottom_of_stack {
                break;
            }
        }
        // MPLS does not say what it carries. Guess as Wireshark does: the first nibble
        // 4 or 6 is IP, 0 is a pseudowire control word before an Ethernet frame, and
        // anything else is an Ethernet pseudowire without control word.
        let Some(&first) = self.data.get(off) else {
            return;
        };
        match first >> 4 {
            4 => self.ipv4(off, end),
            6 => self.ipv6(off, end),
            0 => {
                let cw = be32(self.data, off).unwrap_or(0);
                self.layers.push(Layer::PwControlWord(cw));
                self.ethernet(off + 4, end)
            }
            _ => self.ethernet(off, end),
        }
    }

    fn ip_guess(&mut self, off: usize, end: usize) {
        match self.data.get(off).map(|b| b >> 4) {
            Some(4) => self.ipv4(off, end),
            Some(6) => self.ipv6(off, end),
            Some(_) => self.fail(DecodeError::invalid(
                "ip",
                off,
                "IP version is neither 4 nor 6",
            )),
            None => self.truncated("ip", off, end, 1),
        }
    }

    fn ipv4(&mut self, off: usize, end: usize) {
        if !self.enter(off) {
            return;
        }
        let d = self.slice(off, end);
        let h = match etherparse::Ipv4HeaderSlice::from_slice(d) {
            Ok(h) => h,
            Err(etherparse::err::ipv4::HeaderSliceError::Len(l)) => {
                return self.truncated("ipv4", off, end, l.required_len)
            }
            Err(_) => {
                return self.fail(DecodeError::invalid(
                    "ipv4",
                    off,
                    "bad version or header length",
                ))
            }
        };
        let header_len = usize::from(h.ihl()) * 4;
        let frag_off = h.fragments_offset().value() * 8;
        let protocol = h.protocol().0;
        self.layers.push(Layer::Ipv4(Ipv4 {
            src: h.source_addr(),
            dst: h.destination_addr(),
            protocol,
            ttl: h.ttl(),
            dscp: h.dcp().value(),
            ecn: h.ecn().value(),
            identification: h.identification(),
            dont_fragment: h.dont_fragment(),
            more_fragments: h.more_fragments(),
            fragment_offset: frag_off,
            total_len: h.total_len(),
            header_len: header_len as u8,
            options: h.options(),
        }));
        // The IP total length bounds the payload (Ethernet padding is not payload);
        // a shorter capture (snap length) bounds it further.
        let total = usize::from(h.total_len());
        let ip_end = if total >= header_len {
            (off + total).min(end)
        } else {
            end
        };
        if frag_off != 0 {
            // A later fragment: its bytes continue a payload whose headers were in the
            // first fragment.
            return;
        }
        // Total length 0: a host capturing its own TCP segmentation offload traffic
        // writes the header before the NIC fills the length in. Like tshark, take the
        // payload to run to the end of the frame.
        let claimed = if total == 0 {
            ip_end.min(self.data.len()).saturating_sub(off + header_len)
        } else {
            total.saturating_sub(header_len)
        };
        self.ip_payload(protocol, 4, off + header_len, ip_end, claimed);
    }

    fn ipv6(&mut self, off: usize, end: usize) {
        if !self.enter(off) {
            return;
        }
        // The fixed header and extension headers are walked here rather than with
        // etherparse's extension iterator: fuzzing found that iterator indexing out of
        // bounds (get_unchecked, undefined behaviour) on a truncated extension chain.
        let d = self.slice(off, end);
        let Some(h) = d.get(..40) else {
            return self.truncated("ipv6", off, end, 40);
        };
        if h[0] >> 4 != 6 {
            return self.fail(DecodeError::invalid("ipv6", off, "version is not 6"));
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&h[8..24]);
        dst.copy_from_slice(&h[24..40]);
        let payload_len = u16::from_be_bytes([h[4], h[5]]);
        // The payload length bounds the packet (padding is not payload); a jumbogram
        // (length 0 with a hop-by-hop option) runs to the end of what was captured.
        let ip_end = if payload_len == 0 {
            end
        } else {
            (off + 40 + usize::from(payload_len)).min(end)
        };
        let mut next = h[6];
        let mut at = off + 40;
        let mut fragment = None;
        let mut ext_count = 0u8;
        let mut ext_error = None;
        loop {
            let ext_len = match next {
                // hop-by-hop, routing, destination options, mobility, HIP, shim6:
                // length in 8-byte units after the first 8
                0 | 43 | 60 | 135 | 139 | 140 => {
                    self.data.get(at + 1).map(|l| (usize::from(*l) + 1) * 8)
                }
                // fragment header: fixed 8 bytes
                44 => Some(8),
                // authentication header: length in 4-byte units minus 2
                51 => self.data.get(at + 1).map(|l| (usize::from(*l) + 2) * 4),
                _ => break,
            };
            let Some(ext_len) = ext_len.filter(|l| at + l <= ip_end) else {
                ext_error = Some(DecodeError::truncated(
                    "ipv6",
                    at,
                    2,
                    ip_end.saturating_sub(at),
                ));
                break;
            };
            if next == 44 {
                let fo = be16(self.data, at + 2).unwrap_or(0);
                fragment = Some(Ipv6Fragment {
                    offset: fo & 0xfff8,
                    more_fragments: fo & 1 == 1,
                    identification: be32(self.data, at + 4).unwrap_or(0),
                });
            }
            ext_count = ext_count.saturating_add(1);
            next = self.data.get(at).copied().unwrap_or(59);
            at += ext_len;
        }
        self.layers.push(Layer::Ipv6(Ipv6 {
            src: Ipv6Addr::from(src),
            dst: Ipv6Addr::from(dst),
            next_header: next,
            hop_limit: h[7],
            traffic_class: (h[0] << 4) | (h[1] >> 4),
            flow_label: u32::from_be_bytes([0, h[1] & 0x0f, h[2], h[3]]),
            payload_len,
            extension_headers: ext_count,
            fragment,
        }));
        if let Some(e) = ext_error {
            return self.fail(e);
        }
        if fragment.is_some_and(|f| f.offset != 0) {
            return;
        }
        // Payload length 0 (a jumbogram, or offloaded traffic captured before the NIC
        // filled the length in) runs to the end of the frame, as tshark takes it.
        let claimed = if payload_len == 0 {
            ip_end.min(self.data.len()).saturating_sub(at)
        } else {
            usize::from(payload_len).saturating_sub(at - off - 40)
        };
        self.ip_payload(next, 6, at, ip_end, claimed);
    }

    /// `claimed` is the payload length the IP header announces (it may exceed what
    /// was captured).
    fn ip_payload(&mut self, proto: u8, ipv: u8, off: usize, end: usize, claimed: usize) {
        match proto {
            ipproto::TCP => self.tcp(off, end, claimed),
            ipproto::UDP => self.udp(off, end),
            ipproto::ICMP if ipv == 4 => self.icmp(4, off, end),
            ipproto::ICMPV6 => self.icmp(6, off, end),
            ipproto::IGMP => match Igmp::parse(self.slice(off, end)) {
                Ok(g) => self.layers.push(Layer::Igmp(g)),
                Err(e) => self.fail(e.at(off)),
            },
            ipproto::PIM => match Pim::parse(self.slice(off, end)) {
                Ok(p) => self.layers.push(Layer::Pim(p)),
                Err(e) => self.fail(e.at(off)),
            },
            ipproto::VRRP => self.app(AppProto::Vrrp, off, end),
            ipproto::GRE => self.gre(off, end),
            ipproto::ESP => self.esp(off, end, false),
            ipproto::AH => {
                // RFC 4302: next header, then the AH length in 4-byte words minus 2.
                let d = self.slice(off, end);
                let (Some(&next), Some(&len)) = (d.first(), d.get(1)) else {
                    return self.truncated("ah", off, end, 2);
                };
                let ah_len = (usize::from(len) + 2) * 4;
                if off + ah_len > end.min(self.data.len()) {
                    return self.truncated("ah", off, end, ah_len);
                }
                self.ip_payload(next, ipv, off + ah_len, end, claimed.saturating_sub(ah_len))
            }
            ipproto::IPIP => self.ipv4(off, end),
            ipproto::IPV6 => self.ipv6(off, end),
            ipproto::MPLS_IN_IP => self.mpls(off, end),
            _ => {}
        }
    }

    fn tcp(&mut self, off: usize, end: usize, claimed: usize) {
        let d = self.slice(off, end);
        let t = match etherparse::TcpSlice::from_slice(d) {
            Ok(t) => t,
            Err(etherparse::err::tcp::HeaderSliceError::Len(l)) => {
                return self.truncated("tcp", off, end, l.required_len)
            }
            Err(_) => {
                return self.fail(DecodeError::invalid(
                    "tcp",
                    off + 12,
                    "data offset below 5 words",
                ))
            }
        };
        let header_len = usize::from(t.data_offset()) * 4;
        let flags = u16::from_be_bytes([d[12] & 1, d[13]]);
        let payload = t.payload();
        let tcp = Tcp {
            src_port: t.source_port(),
            dst_port: t.destination_port(),
            seq: t.sequence_number(),
            ack: t.acknowledgment_number(),
            flags,
            window: t.window_size(),
            checksum: t.checksum(),
            urgent: t.urgent_pointer(),
            header_len: header_len as u8,
            options: d.get(20..header_len).unwrap_or(&[]),
            payload,
            payload_len: claimed.saturating_sub(header_len) as u32,
        };
        self.layers.push(Layer::Tcp(tcp));
        if payload.is_empty() {
            return;
        }
        let poff = off + header_len;
        if crate::app::http::looks_like_http(payload) {
            self.app(AppProto::Http, poff, end);
        } else if tcp.src_port == 53 || tcp.dst_port == 53 {
            self.app(AppProto::Dns, poff, end);
        }
    }

    fn udp(&mut self, off: usize, end: usize) {
        let d = self.slice(off, end);
        let u = match etherparse::UdpSlice::from_slice_lax(d) {
            Ok(u) => u,
            Err(l) => return self.truncated("udp", off, end, l.required_len),
        };
        let udp = Udp {
            src_port: u.source_port(),
            dst_port: u.destination_port(),
            length: u.length(),
            checksum: u.checksum(),
            payload: u.payload(),
        };
        self.layers.push(Layer::Udp(udp));
        let poff = off + 8;
        let pend = poff + udp.payload.len();
        let ports = [udp.dst_port, udp.src_port];
        let forced = self
            .opts
            .udp_decode_as
            .iter()
            .find(|(p, _)| ports.contains(p))
            .map(|(_, d)| *d);
        let by_port = |p: u16| ports.contains(&p);
        let decode = forced.or_else(|| {
            Some(if by_port(4789) {
                UdpDecode::Vxlan
            } else if by_port(6081) {
                UdpDecode::Geneve
            } else if by_port(6635) {
                UdpDecode::MplsInUdp
            } else if by_port(2228) {
                UdpDecode::L2trace
            } else if by_port(1985) || by_port(2029) {
                UdpDecode::Hsrp
            } else if by_port(3222) {
                UdpDecode::Glbp
            } else if by_port(53) || by_port(5353) || by_port(5355) {
                UdpDecode::Dns
            } else if by_port(2152) {
                UdpDecode::Gtp
            } else if by_port(1701) {
                UdpDecode::L2tp
            } else if by_port(4500) {
                UdpDecode::Esp
            } else if by_port(500) {
                return Some(UdpDecode::Ike);
            } else {
                return None;
            })
        });
        let Some(decode) = decode else { return };
        match decode {
            UdpDecode::Vxlan => self.vxlan(poff, pend),
            UdpDecode::Geneve => self.geneve(poff, pend),
            UdpDecode::MplsInUdp => self.mpls(poff, pend),
            UdpDecode::L2trace => self.app(AppProto::L2trace, poff, pend),
            UdpDecode::Hsrp => self.app(AppProto::Hsrp, poff, pend),
            UdpDecode::Glbp => self.app(AppProto::Glbp, poff, pend),
            UdpDecode::Dns => self.app(AppProto::Dns, poff, pend),
            UdpDecode::Ike => self.app(AppProto::Ike, poff, pend),
            UdpDecode::Gtp => self.gtp(poff, pend),
            UdpDecode::L2tp => self.l2tp(poff, pend),
            UdpDecode::Esp => {
                // RFC 3948: a 0xff byte alone is a keepalive, four zero bytes (the
                // non-ESP marker) precede IKE, anything else is ESP.
                let p = udp.payload;
                if p == [0xff] {
                    self.app(AppProto::NattKeepalive, poff, pend)
                } else if p.starts_with(&[0, 0, 0, 0]) {
                    self.app(AppProto::Ike, poff + 4, pend)
                } else {
                    self.esp(poff, pend, true)
                }
            }
        }
    }

    fn icmp(&mut self, version: u8, off: usize, end: usize) {
        let icmp = match Icmp::parse(version, self.slice(off, end)) {
            Ok(i) => i,
            Err(e) => return self.fail(e.at(off)),
        };
        self.layers.push(Layer::Icmp(icmp));
        if icmp.quotes_packet() && !self.quoted && !icmp.body.is_empty() {
            self.layers.push(Layer::IcmpQuote);
            self.quoted = true;
            self.ip_guess(off + 8, end);
            self.quoted = false;
        }
    }

    fn gre(&mut self, off: usize, end: usize) {
        if !self.enter(off) {
            return;
        }
        let g = match Gre::parse(self.slice(off, end)) {
            Ok(g) => g,
            Err(e) => return self.fail(e.at(off)),
        };
        self.layers.push(Layer::Gre(g));
        let next = off + usize::from(g.header_len);
        match g.protocol {
            ethertype::ERSPAN_II if g.sequence.is_none() => {
                // ERSPAN type I: no ERSPAN header and no sequence number.
                self.layers.push(Layer::Erspan(Erspan::type_i()));
                self.ethernet(next, end)
            }
            ethertype::ERSPAN_II | ethertype::ERSPAN_III => {
                let r = if g.protocol == ethertype::ERSPAN_II {
                    Erspan::parse_ii(self.slice(next, end))
                } else {
                    Erspan::parse_iii(self.slice(next, end))
                };
                match r {
                    Ok(e) => {
                        self.layers.push(Layer::Erspan(e));
                        self.ethernet(next + usize::from(e.header_len), end)
                    }
                    Err(e) => self.fail(e.at(next)),
                }
            }
            ethertype::PPP => self.ppp(next, end),
            // Cisco tunnels carry CDP straight over GRE.
            ethertype::CISCO_CDP => self.app(AppProto::Cdp, next, end),
            ethertype::CISCO_METADATA => {
                // Cisco MetaData (TrustSec SGT): version, length, option type, SGT,
                // then the EtherType of what follows (8 bytes in all).
                match be16(self.data, next + 6) {
                    Some(inner) => self.ethertype(inner, next + 8, end),
                    None => self.truncated("cmd", next, end, 8),
                }
            }
            ethertype::WCCP => {
                // WCCP redirect header (4 bytes) precedes the redirected IPv4 packet,
                // unless the first byte already reads as IPv4.
                if self.data.get(next).is_some_and(|b| b >> 4 == 4) {
                    self.ipv4(next, end)
                } else {
                    self.ipv4(next + 4, end)
                }
            }
            p => self.ethertype(p, next, end),
        }
    }

    fn vxlan(&mut self, off: usize, end: usize) {
        if !self.enter(off) {
            return;
        }
        match Vxlan::parse(self.slice(off, end)) {
            Ok(v) => {
                self.layers.push(Layer::Vxlan(v));
                self.ethernet(off + Vxlan::HEADER_LEN, end)
            }
            Err(e) => self.fail(e.at(off)),
        }
    }

    fn geneve(&mut self, off: usize, end: usize) {
        if !self.enter(off) {
            return;
        }
        match Geneve::parse(self.slice(off, end)) {
            Ok(g) => {
                self.layers.push(Layer::Geneve(g));
                let next = off + usize::from(g.header_len);
                if g.protocol == ethertype::TEB {
                    self.ethernet(next, end)
                } else {
                    self.ethertype(g.protocol, next, end)
                }
            }
            Err(e) => self.fail(e.at(off)),
        }
    }

    fn gtp(&mut self, off: usize, end: usize) {
        if !self.enter(off) {
            return;
        }
        match Gtpu::parse(self.slice(off, end)) {
            Ok(g) => {
                self.layers.push(Layer::Gtp(g));
                // Only G-PDUs carry user packets; echo and error messages do not.
                if g.msg_type == 0xff {
                    self.ip_guess(off + usize::from(g.header_len), end)
                }
            }
            Err(e) => self.fail(e.at(off)),
        }
    }

    fn l2tp(&mut self, off: usize, end: usize) {
        if !self.enter(off) {
            return;
        }
        // Port 1701 also carries L2TPv3 and other traffic: a parse failure is not
        // this frame's error, so it is not reported.
        if let Ok(l) = L2tp::parse(self.slice(off, end)) {
            self.layers.push(Layer::L2tp(l));
            if !l.control {
                self.ppp(off + usize::from(l.header_len), end)
            }
        }
    }

    fn esp(&mut self, off: usize, end: usize, udp_encapsulated: bool) {
        match Esp::parse(self.slice(off, end), udp_encapsulated) {
            Ok(e) => self.layers.push(Layer::Esp(e)),
            Err(e) => self.fail(e.at(off)),
        }
    }
}
