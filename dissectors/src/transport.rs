//! Transport layer: TCP (with its options), UDP, ICMP and ICMPv6 (MLD included).
//! TCP and UDP headers are sliced by etherparse.

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use crate::net::{read_group_records, GroupRecord};
use serde::Serialize;
use std::net::Ipv6Addr;

/// TCP flag bits as they sit in the 16-bit word after the data offset.
pub mod tcp_flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    pub window: u16,
    pub checksum: u16,
    pub urgent: u16,
    pub header_len: u8,
    #[serde(skip)]
    pub options: &'a [u8],
    /// Segment payload as captured (may be shorter than the IP length says when the
    /// snap length cut it; see [`Tcp::payload_len`]).
    #[serde(skip)]
    pub payload: &'a [u8],
    /// Payload length from the IP header, whatever the snap length kept.
    pub payload_len: u32,
}

/// The TCP options netkit reads (RFC 793, 7323, 2018).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// Up to four SACK blocks (left, right).
    pub sack: [Option<(u32, u32)>; 4],
    pub timestamp: Option<(u32, u32)>,
}

impl Tcp<'_> {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Decodes the options. A malformed option list returns what was read before it
    /// and the error.
    pub fn parse_options(&self) -> (TcpOptions, Option<DecodeError>) {
        let mut o = TcpOptions::default();
        let mut c = Cursor::new("tcp", self.options);
        let res = (|| -> Result<()> {
            while !c.is_empty() {
                let kind = c.u8()?;
                match kind {
                    0 => break,
                    1 => continue,
                    _ => {}
                }
                let start = c.pos() - 1;
                let len = usize::from(c.u8()?);
                if len < 2 {
                    return Err(DecodeError::invalid("tcp", start, "option length < 2"));
                }
                let mut v = Cursor::new("tcp", c.take(len - 2)?);
                match (kind, len) {
                    (2, 4) => o.mss = Some(v.u16()?),
                    (3, 3) => o.window_scale = Some(v.u8()?),
                    (4, 2) => o.sack_permitted = true,
                    (5, _) => {
                        for slot in o.sack.iter_mut() {
                            if v.remaining() < 8 {
                                break;
                            }
                            *slot = Some((v.u32()?, v.u32()?));
                        }
                    }
                    (8, 10) => o.timestamp = Some((v.u32()?, v.u32()?)),
                    _ => {}
                }
            }
            Ok(())
        })();
        (o, res.err().map(|e| e.at(20)))
    }

    pub fn flags_string(&self) -> String {
        let names = [
            (tcp_flags::SYN, "SYN"),
            (tcp_flags::FIN, "FIN"),
            (tcp_flags::RST, "RST"),
            (tcp_flags::PSH, "PSH"),
            (tcp_flags::ACK, "ACK"),
            (tcp_flags::URG, "URG"),
            (tcp_flags::ECE, "ECE"),
            (tcp_flags::CWR, "CWR"),
        ];
        let v: Vec<&str> = names
            .iter()
            .filter(|(f, _)| self.has(*f))
            .map(|(_, n)| *n)
            .collect();
        v.join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Udp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub length: u16,
    pub checksum: u16,
    #[serde(skip)]
    pub payload: &'a [u8],
}

/// One RFC 4884 extension object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpExtension<'a> {
    pub class: u8,
    pub ctype: u8,
    pub data: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// ICMP (version 4) or ICMPv6 (version 6) message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Icmp<'a> {
    pub version: u8,
    pub icmp_type: u8,
    pub code: u8,
    pub checksum: u16,
    /// Bytes 4..8: identifier/sequence, pointer, next-hop MTU, depending on the type.
    pub rest: [u8; 4],
    #[serde(skip)]
    pub body: &'a [u8],
}

impl<'a> Icmp<'a> {
    pub fn parse(version: u8, data: &'a [u8]) -> Result<Icmp<'a>> {
        let layer = if version == 6 { "icmpv6" } else { "icmp" };
        let mut c = Cursor::new(layer, data);
        let icmp_type = c.u8()?;
        let code = c.u8()?;
        let checksum = c.u16()?;
        // Some ICMPv6 messages are 4 bytes + body with no "rest"; keep what is there.
        let rest = if c.remaining() >= 4 {
            c.array()?
        } else {
            [0; 4]
        };
        Ok(Icmp {
            version,
            icmp_type,
            code,
            checksum,
            rest,
            body: c.rest(),
        })
    }

    /// Error messages quote the offending packet: destination unreachable, source
    /// quench, redirect, time exceeded, parameter problem (v4); 1-4 (v6).
    pub fn quotes_packet(&self) -> bool {
        match self.version {
            4 => matches!(self.icmp_type, 3 | 4 | 5 | 11 | 12),
            _ => matches!(self.icmp_type, 1..=4),
        }
    }

    /// MLD (RFC 2710, 3810) messages travel as ICMPv6 types 130, 131, 132 and 143.
    pub fn is_mld(&self) -> bool {
        self.version == 6 && matches!(self.icmp_type, 130 | 131 | 132 | 143)
    }

    /// The multicast address of an MLDv1 message or MLDv2 query.
    pub fn mld_group(&self) -> Option<Ipv6Addr> {
        if !self.is_mld() || self.icmp_type == 143 {
            return None;
        }
        let b: [u8; 16] = self.body.get(..16)?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// Group records of an MLDv2 report (type 143).
    pub fn mld_v2_records(&self) -> (Vec<GroupRecord>, Option<DecodeError>) {
        if !(self.version == 6 && self.icmp_type == 143) {
            return (Vec::new(), None);
        }
        let count = u16::from_be_bytes([self.rest[2], self.rest[3]]);
        read_group_records("icmpv6", self.body, count, 16, 8)
    }

    /// Next-hop MTU of a "fragmentation needed" (v4 type 3 code 4) or "packet too big"
    /// (v6 type 2) message.
    pub fn reported_mtu(&self) -> Option<u32> {
        match (self.version, self.icmp_type, self.code) {
            (4, 3, 4) => Some(u32::from(u16::from_be_bytes([self.rest[2], self.rest[3]]))),
            (6, 2, _) => Some(u32::from_be_bytes(self.rest)),
            _ => None,
        }
    }

    /// RFC 4884 extension objects of an ICMP error (time exceeded, destination
    /// unreachable, parameter problem), e.g. the MPLS label stack of RFC 4950.
    ///
    /// Compliant senders give the quoted datagram's length in the header; many
    /// routers instead pad the quote to 128 bytes and leave the length 0, which RFC 4884
    /// section 5 tells receivers to accept, so that layout is tried too.
    pub fn extensions(&self) -> Vec<IcmpExtension<'a>> {
        let carries = match self.version {
            4 => matches!(self.icmp_type, 3 | 11 | 12),
            _ => matches!(self.icmp_type, 1 | 3),
        };
        if !carries {
            return Vec::new();
        }
        let (len_field, unit) = if self.version == 4 {
            (self.rest[1], 4)
        } else {
            (self.rest[0], 8)
        };
        let start = if len_field != 0 {
            usize::from(len_field) * unit
        } else if self.body.len() >= 128 + 8 {
            128
        } else {
            return Vec::new();
        };
        let Some(ext) = self.body.get(start..) else {
            return Vec::new();
        };
        // Extension header: version 2 in the high nibble, reserved, checksum.
        if ext.len() < 4 || ext[0] >> 4 != 2 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut at = 4;
        while let (Some(len), Some(&class), Some(&ctype)) =
            (be16(ext, at), ext.get(at + 2), ext.get(at + 3))
        {
            let len = usize::from(len);
            let Some(data) = ext.get(at + 4..at + len.max(4)) else {
                break;
            };
            if len < 4 {
                break;
            }
            out.push(IcmpExtension { class, ctype, data });
            at += len;
        }
        out
    }

    /// The MPLS label stack an ICMP error quotes (RFC 4950: class 1, c-type 1).
    pub fn mpls_labels(&self) -> Vec<crate::net::Mpls> {
        self.extensions()
            .iter()
            .filter(|e| e.class == 1 && e.ctype == 1)
            .flat_map(|e| e.data.chunks_exact(4))
            .filter_map(|c| crate::net::Mpls::parse(c).ok())
            .collect()
    }

    /// Identifier and sequence number of an echo request or reply.
    pub fn echo_id_seq(&self) -> Option<(u16, u16)> {
        matches!((self.version, self.icmp_type), (4, 0 | 8) | (6, 128 | 129)).then(|| {
            (
                u16::from_be_bytes([self.rest[0], self.rest[1]]),
                u16::from_be_bytes([self.rest[2], self.rest[3]]),
            )
        })
    }

    /// The target address of a neighbour solicitation or advertisement (RFC 4861 4.3,
    /// 4.4), with the link-layer address its option carries (source for a
    /// solicitation, target for an advertisement).
    pub fn ndp_target(&self) -> Option<(Ipv6Addr, Option<crate::link::Mac>)> {
        let wanted_option = match (self.version, self.icmp_type) {
            (6, 135) => 1,
            (6, 136) => 2,
            _ => return None,
        };
        let target: [u8; 16] = self.body.get(..16)?.try_into().ok()?;
        let mut options = self.body.get(16..).unwrap_or(&[]);
        let mut mac = None;
        // Options: type, length in 8-byte units (0 is invalid and ends the walk).
        while let [kind, len, ..] = *options {
            let len = usize::from(len) * 8;
            let Some(option) = options.get(..len).filter(|_| len > 0) else {
                break;
            };
            if kind == wanted_option {
                mac = option
                    .get(2..8)
                    .and_then(|m| <[u8; 6]>::try_from(m).ok())
                    .map(crate::link::Mac);
            }
            options = &options[len..];
        }
        Some((Ipv6Addr::from(target), mac))
    }

    pub fn type_name(&self) -> &'static str {
        match (self.version, self.icmp_type) {
            (4, 0) | (6, 129) => "Echo reply",
            (4, 8) | (6, 128) => "Echo request",
            (4, 3) | (6, 1) => "Destination unreachable",
            (4, 4) => "Source quench",
            (4, 5) | (6, 137) => "Redirect",
            (4, 11) | (6, 3) => "Time exceeded",
            (4, 12) | (6, 4) => "Parameter problem",
            (6, 2) => "Packet too big",
            (6, 130) => "Multicast Listener Query",
            (6, 131) => "Multicast Listener Report",
            (6, 132) => "Multicast Listener Done",
            (6, 143) => "Multicast Listener Report Message v2",
            (6, 133) => "Router Solicitation",
            (6, 134) => "Router Advertisement",
            (6, 135) => "Neighbor Solicitation",
            (6, 136) => "Neighbor Advertisement",
            _ => "Unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_with_options(options: &[u8]) -> Tcp<'_> {
        Tcp {
            src_port: 1,
            dst_port: 2,
            seq: 0,
            ack: 0,
            flags: tcp_flags::SYN,
            window: 0,
            checksum: 0,
            urgent: 0,
            header_len: 20 + options.len() as u8,
            options,
            payload: &[],
            payload_len: 0,
        }
    }

    #[test]
    fn syn_options_from_a_linux_syn() {
        // MSS 1460, SACK permitted, TS 0x0a0b0c0d/0, NOP, WS 7 (Linux's usual order)
        let opts = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let (o, err) = tcp_with_options(&opts).parse_options();
        assert!(err.is_none());
        assert_eq!(o.mss, Some(1460));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamp, Some((0x0a0b0c0d, 0)));
        assert_eq!(o.window_scale, Some(7));
    }

    #[test]
    fn sack_blocks_and_bad_length() {
        let opts = [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 9];
        let (o, err) = tcp_with_options(&opts).parse_options();
        assert!(err.is_none());
        assert_eq!(o.sack[0], Some((1, 9)));
        let (_, err) = tcp_with_options(&[2, 1, 0, 0]).parse_options();
        assert_eq!(err.unwrap().offset, 20);
        let (_, err) = tcp_with_options(&[2, 4, 5]).parse_options();
        assert!(err.is_some());
    }

    #[test]
    fn rfc4950_label_stack_in_time_exceeded() {
        // Time exceeded, length 0 (non-compliant layout: quote padded to 128 bytes),
        // then extension header v2 and one MPLS object: label 100704, exp 0, S, TTL 1.
        let mut m = vec![11, 0, 0, 0, 0, 0, 0, 0];
        m.extend([0u8; 128]);
        m.extend([0x20, 0, 0, 0, 0, 8, 1, 1]);
        m.extend((100704u32 << 12 | 1 << 8 | 1).to_be_bytes());
        let i = Icmp::parse(4, &m).unwrap();
        let labels = i.mpls_labels();
        assert_eq!(labels.len(), 1);
        assert_eq!(
            (labels[0].label, labels[0].ttl, labels[0].bottom_of_stack),
            (100704, 1, true)
        );
        // Compliant layout: length 32 words (128 bytes) in byte 5.
        let mut c = m.clone();
        c[5] = 32;
        assert_eq!(Icmp::parse(4, &c).unwrap().mpls_labels(), labels);
        // No extension: quote shorter than 128 bytes.
        assert!(Icmp::parse(4, &m[..60]).unwrap().mpls_labels().is_empty());
    }

    #[test]
    fn icmp_frag_needed_mtu_and_packet_too_big() {
        let m = Icmp::parse(4, &[3, 4, 0, 0, 0, 0, 0x05, 0x5e]).unwrap();
        assert_eq!(m.reported_mtu(), Some(1374));
        assert!(m.quotes_packet());
        let p = Icmp::parse(6, &[2, 0, 0, 0, 0, 0, 0x05, 0x00]).unwrap();
        assert_eq!(p.reported_mtu(), Some(1280));
    }
}
