//! Network layer: ARP, IPv4 (options, fragments), IPv6 (extension headers), MPLS label
//! stack entries, IGMP v1-v3 and PIM. IPv4 and IPv6 headers are sliced by etherparse;
//! this module keeps the fields netkit's engines read.

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use crate::link::Mac;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers this dissector dispatches on.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const PIM: u8 = 103;
    /// VRRP, and CARP, which reuses the number.
    pub const VRRP: u8 = 112;
    pub const MPLS_IN_IP: u8 = 137;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Arp {
    pub operation: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// Ethernet/IPv4 ARP only (hardware type 1, protocol 0x0800); others are kept as
    /// raw payload by the caller.
    pub fn parse(data: &[u8]) -> Result<Arp> {
        let mut c = Cursor::new("arp", data);
        let htype = c.u16()?;
        let ptype = c.u16()?;
        let hlen = c.u8()?;
        let plen = c.u8()?;
        if htype != 1 || ptype != 0x0800 || hlen != 6 || plen != 4 {
            return Err(DecodeError::invalid(
                "arp",
                0,
                "not Ethernet/IPv4 ARP (hardware type 1, protocol 0x0800)",
            ));
        }
        let operation = c.u16()?;
        let sender_mac = Mac(c.array()?);
        let sender_ip = Ipv4Addr::from(c.array::<4>()?);
        let target_mac = Mac(c.array()?);
        let target_ip = Ipv4Addr::from(c.array::<4>()?);
        Ok(Arp {
            operation,
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
        })
    }

    /// A gratuitous ARP announces the sender's own address (sender IP == target IP).
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ipv4<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub identification: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// Fragment offset in bytes.
    pub fragment_offset: u16,
    pub total_len: u16,
    pub header_len: u8,
    #[serde(skip)]
    pub options: &'a [u8],
}

impl Ipv4<'_> {
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.fragment_offset != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ipv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The protocol after the extension headers.
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub payload_len: u16,
    /// Number of extension headers walked (hop-by-hop, routing, fragment, ...).
    pub extension_headers: u8,
    pub fragment: Option<Ipv6Fragment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ipv6Fragment {
    pub offset: u16,
    pub more_fragments: bool,
    pub identification: u32,
}

/// An IP address pair from either family, for flow keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpPair {
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// One MPLS label stack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mpls {
    pub label: u32,
    pub tc: u8,
    pub bottom_of_stack: bool,
    pub ttl: u8,
}

impl Mpls {
    pub fn parse(data: &[u8]) -> Result<Mpls> {
        let v = Cursor::new("mpls", data).u32()?;
        Ok(Mpls {
            label: v >> 12,
            tc: ((v >> 9) & 7) as u8,
            bottom_of_stack: (v >> 8) & 1 == 1,
            ttl: v as u8,
        })
    }
}

/// IGMP message (IP protocol 2). Versions are told apart as RFC 3376 section 7.1 says:
/// a query's length says v1/v2 (8 bytes) or v3 (>= 12); reports have their own types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Igmp<'a> {
    pub msg_type: u8,
    pub max_resp: u8,
    pub checksum: u16,
    /// Group address (0.0.0.0 in general queries; unused in v3 reports).
    pub group: Ipv4Addr,
    #[serde(skip)]
    pub body: &'a [u8],
}

pub mod igmp_type {
    pub const QUERY: u8 = 0x11;
    pub const V1_REPORT: u8 = 0x12;
    pub const DVMRP: u8 = 0x13;
    pub const PIM_V1: u8 = 0x14;
    pub const V2_REPORT: u8 = 0x16;
    pub const V2_LEAVE: u8 = 0x17;
    pub const MTRACE_RESPONSE: u8 = 0x1e;
    pub const MTRACE: u8 = 0x1f;
    pub const V3_REPORT: u8 = 0x22;
}

/// A group record of an IGMPv3 or MLDv2 report: record type (1..6, RFC 3376 4.2.12)
/// and the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GroupRecord {
    pub record_type: u8,
    pub group: IpAddr,
    pub sources: u16,
}

impl GroupRecord {
    /// MODE_IS_EXCLUDE / CHANGE_TO_EXCLUDE with no sources is a join; TO_INCLUDE with
    /// none a leave (RFC 3376 section 5.1).
    pub fn is_join(&self) -> bool {
        matches!(self.record_type, 2 | 4)
            || (matches!(self.record_type, 1 | 3 | 5) && self.sources > 0)
    }
    pub fn is_leave(&self) -> bool {
        matches!(self.record_type, 1 | 3) && self.sources == 0
    }
}

impl<'a> Igmp<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Igmp<'a>> {
        let mut c = Cursor::new("igmp", data);
        let msg_type = c.u8()?;
        let max_resp = c.u8()?;
        let checksum = c.u16()?;
        let group = Ipv4Addr::from(c.array::<4>()?);
        Ok(Igmp {
            msg_type,
            max_resp,
            checksum,
            group,
            body: c.rest(),
        })
    }

    /// 1, 2 or 3 for membership messages; None for DVMRP/mtrace/PIMv1 riding on IGMP.
    pub fn version(&self) -> Option<u8> {
        match self.msg_type {
            igmp_type::QUERY if !self.body.is_empty() => Some(3),
            igmp_type::QUERY if self.max_resp == 0 => Some(1),
            igmp_type::QUERY => Some(2),
            igmp_type::V1_REPORT => Some(1),
            igmp_type::V2_REPORT | igmp_type::V2_LEAVE => Some(2),
            igmp_type::V3_REPORT => Some(3),
            _ => None,
        }
    }

    /// Group records of a v3 report. Stops at the first truncated record and returns
    /// the error alongside the records read so far.
    pub fn v3_records(&self) -> (Vec<GroupRecord>, Option<DecodeError>) {
        if self.msg_type != igmp_type::V3_REPORT {
            return (Vec::new(), None);
        }
        // In a v3 report, bytes 4..8 are reserved(2) + number of records(2).
        let count = u16::from_be_bytes([self.group.octets()[2], self.group.octets()[3]]);
        read_group_records("igmp", self.body, count, 4, 8)
    }

    pub fn name(&self) -> &'static str {
        match self.msg_type {
            igmp_type::QUERY => "Membership Query",
            igmp_type::V1_REPORT | igmp_type::V2_REPORT | igmp_type::V3_REPORT => {
                "Membership Report"
            }
            igmp_type::V2_LEAVE => "Leave Group",
            igmp_type::DVMRP => "DVMRP",
            igmp_type::PIM_V1 => "PIMv1",
            igmp_type::MTRACE => "Traceroute Query/Request",
            igmp_type::MTRACE_RESPONSE => "Traceroute Response",
            _ => "Unknown",
        }
    }
}

/// An encoded address of PIM (RFC 7761 4.9.1): family (1 IPv4, 2 IPv6), encoding
/// type, `extra` bytes (flags, mask length), then the address.
fn pim_address(c: &mut Cursor<'_>, extra: usize) -> Result<IpAddr> {
    let family = c.u8()?;
    c.u8()?;
    c.skip(extra)?;
    match family {
        1 => Ok(IpAddr::from(c.array::<4>()?)),
        2 => Ok(IpAddr::from(c.array::<16>()?)),
        _ => Err(c.invalid("unknown address family")),
    }
}

/// Walks `count` group records (IGMPv3: 4-byte addresses; MLDv2: 16-byte). `base` is
/// the offset of `body` within the message, for error offsets.
pub(crate) fn read_group_records(
    layer: &'static str,
    body: &[u8],
    count: u16,
    addr_len: usize,
    base: usize,
) -> (Vec<GroupRecord>, Option<DecodeError>) {
    let mut c = Cursor::new(layer, body);
    let mut out = Vec::new();
    for _ in 0..count {
        let rec = (|| -> Result<GroupRecord> {
            let record_type = c.u8()?;
            let aux_words = c.u8()?;
            let sources = c.u16()?;
            let group = if addr_len == 4 {
                IpAddr::V4(Ipv4Addr::from(c.array::<4>()?))
            } else {
                IpAddr::V6(Ipv6Addr::from(c.array::<16>()?))
            };
            c.skip(usize::from(sources) * addr_len + usize::from(aux_words) * 4)?;
            Ok(GroupRecord {
                record_type,
                group,
                sources,
            })
        })();
        match rec {
            Ok(r) => out.push(r),
            Err(e) => return (out, Some(e.at(base))),
        }
    }
    (out, None)
}

/// PIM (IP protocol 103): version and message type, and the body for the messages
/// read further (Join/Prune).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pim<'a> {
    pub version: u8,
    pub msg_type: u8,
    /// What follows the 4-byte header.
    #[serde(skip)]
    pub body: &'a [u8],
}

/// One group of a PIM Join/Prune (RFC 7761 4.9.5): the sources joined and pruned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PimGroup {
    pub group: IpAddr,
    pub joined: Vec<PimSource>,
    pub pruned: Vec<PimSource>,
}

/// An encoded source of a Join/Prune: with the WC bit it is a (*,G) entry and the
/// address is the RP's; else an (S,G) entry for that source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PimSource {
    pub address: IpAddr,
    pub wildcard: bool,
}

impl std::fmt::Display for PimSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.wildcard {
            write!(f, "* (RP {})", self.address)
        } else {
            write!(f, "{}", self.address)
        }
    }
}

pub const PIM_JOIN_PRUNE: u8 = 3;

impl<'a> Pim<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Pim<'a>> {
        let mut c = Cursor::new("pim", data);
        let b = c.u8()?;
        Ok(Pim {
            version: b >> 4,
            msg_type: b & 0x0f,
            body: data.get(4..).unwrap_or(&[]),
        })
    }

    /// The groups of a Join/Prune message (empty for other messages). Stops at the
    /// first malformed entry and returns the error alongside the groups read.
    pub fn join_prune(&self) -> (Vec<PimGroup>, Option<DecodeError>) {
        let mut out = Vec::new();
        if self.msg_type != PIM_JOIN_PRUNE || self.version != 2 {
            return (out, None);
        }
        let mut c = Cursor::new("pim", self.body);
        let groups = (|| -> Result<u8> {
            pim_address(&mut c, 0)?; // upstream neighbour (encoded-unicast)
            c.u8()?; // reserved
            let n = c.u8()?;
            c.u16()?; // holdtime
            Ok(n)
        })();
        let groups = match groups {
            Ok(n) => n,
            Err(e) => return (out, Some(e.at(4))),
        };
        for _ in 0..groups {
            let group = (|| -> Result<PimGroup> {
                let group = pim_address(&mut c, 2)?; // encoded-group: flags, mask length
                let joins = c.u16()?;
                let prunes = c.u16()?;
                let mut source = || -> Result<PimSource> {
                    let flags_at = c.pos() + 2;
                    let address = pim_address(&mut c, 2)?; // encoded-source: flags, mask length
                                                           // The WC bit (0x02) marks a (*,G) entry: the address is the RP's.
                    let wildcard = self.body.get(flags_at).is_some_and(|f| f & 0x02 != 0);
                    Ok(PimSource { address, wildcard })
                };
                let joined = (0..joins).map(|_| source()).collect::<Result<Vec<_>>>()?;
                let pruned = (0..prunes).map(|_| source()).collect::<Result<Vec<_>>>()?;
                Ok(PimGroup {
                    group,
                    joined,
                    pruned,
                })
            })();
            match group {
                Ok(g) => out.push(g),
                Err(e) => return (out, Some(e.at(4))),
            }
        }
        (out, None)
    }

    pub fn type_name(&self) -> &'static str {
        match self.msg_type {
            0 => "Hello",
            1 => "Register",
            2 => "Register-stop",
            3 => "Join/Prune",
            4 => "Bootstrap",
            5 => "Assert",
            6 => "Graft",
            7 => "Graft-Ack",
            8 => "Candidate-RP-Advertisement",
            9 => "State-Refresh",
            10 => "DF Election",
            _ => "Unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpls_entry_fields() {
        // label 17, TC 0, bottom of stack, TTL 254
        let e = Mpls::parse(&[0x00, 0x01, 0x11, 0xfe]).unwrap();
        assert_eq!(
            e,
            Mpls {
                label: 17,
                tc: 0,
                bottom_of_stack: true,
                ttl: 254
            }
        );
    }

    #[test]
    fn igmp_versions_by_type_and_length() {
        let v2q = Igmp::parse(&[0x11, 0x64, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(v2q.version(), Some(2));
        let v1q = Igmp::parse(&[0x11, 0x00, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(v1q.version(), Some(1));
        let v3q = Igmp::parse(&[0x11, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(v3q.version(), Some(3));
    }

    #[test]
    fn igmpv3_report_records_join_and_truncation() {
        // Report with 2 records: CHANGE_TO_EXCLUDE 239.1.1.1 (join), then a truncated one.
        let msg = [
            0x22, 0, 0, 0, 0, 0, 0, 2, // type, rsvd, csum, rsvd, nrec=2
            4, 0, 0, 0, 239, 1, 1, 1, // record 1
            3, 0, 0, // record 2 cut short
        ];
        let igmp = Igmp::parse(&msg).unwrap();
        let (recs, err) = igmp.v3_records();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].group, IpAddr::V4(Ipv4Addr::new(239, 1, 1, 1)));
        assert!(recs[0].is_join());
        let err = err.unwrap();
        assert_eq!(err.layer, "igmp");
        // Record 2 starts at 16; its source count (bytes 18-19) is cut short.
        assert_eq!(err.offset, 18);
    }

    #[test]
    fn arp_rejects_non_ethernet_and_reads_gratuitous() {
        assert!(Arp::parse(&[0, 6, 8, 0, 6, 4]).is_err());
        let mut garp = vec![0, 1, 8, 0, 6, 4, 0, 1];
        garp.extend([0, 0, 0x0c, 0x07, 0xac, 1, 10, 0, 0, 1]);
        garp.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 0, 0, 1]);
        let a = Arp::parse(&garp).unwrap();
        assert!(a.is_gratuitous());
        assert_eq!(a.sender_mac.to_string(), "00:00:0c:07:ac:01");
    }
}
