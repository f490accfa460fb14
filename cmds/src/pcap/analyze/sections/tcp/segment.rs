//! The TCP segment of a frame, as tshark analyses it: the innermost TCP of the
//! frame's own layers, with tshark's payload length, and IPv4 fragments rebuilt.

use super::rules::SegmentHeader;
use crate::pcap::analyze::FastMap;
use crate::source::RawFrame;
use netkit_dissectors::transport::Tcp;
use netkit_dissectors::{Frame, Layer};
use std::net::IpAddr;

/// A TCP segment as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub frame: u64,
    /// Wire length of the frame.
    pub frame_len: u32,
    pub src: (IpAddr, u16),
    pub dst: (IpAddr, u16),
    pub header: SegmentHeader,
    /// SACK blocks (left, right) the segment carries, for the graphs.
    pub sack: [Option<(u32, u32)>; 4],
}

impl Segment {
    /// The segment tshark would analyse in this frame: the innermost TCP of the
    /// frame's own layers (never an ICMP error's quoted packet), skipping IP fragments
    /// (tshark only sees their reassembled whole, which [`TcpAnalysis::feed`] rebuilds
    /// for IPv4).
    pub fn from_frame(raw: &RawFrame<'_>, frame: &Frame<'_>) -> Option<Segment> {
        let (ip, tcp) = frame.innermost_tcp()?;
        let (src, dst) = match ip {
            Layer::Ipv4(v4) if v4.is_fragment() => return None,
            Layer::Ipv4(v4) => (IpAddr::V4(v4.src), IpAddr::V4(v4.dst)),
            Layer::Ipv6(v6) if v6.fragment.is_some() => return None,
            Layer::Ipv6(v6) => (IpAddr::V6(v6.src), IpAddr::V6(v6.dst)),
            _ => return None,
        };
        let len = reported_payload_len(raw, frame, ip, tcp);
        let (window_scale, sack) = if tcp.options.is_empty() {
            (None, [None; 4])
        } else {
            let o = tcp.parse_options().0;
            (o.window_scale, o.sack)
        };
        Some(Segment {
            frame: raw.number,
            frame_len: raw.orig_len,
            src: (src, tcp.src_port),
            dst: (dst, tcp.dst_port),
            header: SegmentHeader {
                seq: tcp.seq,
                ack: tcp.ack,
                flags: tcp.flags,
                window: tcp.window,
                len,
                window_scale,
                ts_ns: raw.ts_ns,
            },
            sack,
        })
    }
}

/// tshark's segment length: the IP length minus headers, but never more than the
/// enclosing layers report. When an IP total length claims more than the frame (or a
/// PPPoE session's length) holds, tshark trusts the smaller, so trailing padding is not
/// taken for payload.
fn reported_payload_len(
    raw: &RawFrame<'_>,
    frame: &Frame<'_>,
    ip: &Layer<'_>,
    tcp: &Tcp<'_>,
) -> u32 {
    let mut len = tcp.payload_len;
    let base = frame.data.as_ptr() as usize;
    let at = tcp.payload.as_ptr() as usize;
    let Some(offset) = at.checked_sub(base).filter(|o| *o <= frame.data.len()) else {
        return len;
    };
    let on_the_wire = raw.orig_len.saturating_sub(offset as u32);
    // A zero IP length (offloaded traffic, see the dissector) says nothing: the frame's
    // wire length is all there is, snapped or not (tshark's reported length).
    let unstated = match ip {
        Layer::Ipv4(v4) => v4.total_len == 0,
        Layer::Ipv6(v6) => v6.payload_len == 0,
        _ => false,
    };
    if unstated {
        return on_the_wire;
    }
    len = len.min(on_the_wire);
    if let Layer::Ipv4(v4) = ip {
        let pppoe = frame.own_layers().iter().rev().find_map(|l| match l {
            Layer::Pppoe(p) if p.code == 0 => Some(p.length),
            _ => None,
        });
        if let Some(pppoe_len) = pppoe {
            // The PPPoE length covers the 2-byte PPP protocol field and the IP packet.
            let headers = 2 + u32::from(v4.header_len) + u32::from(tcp.header_len);
            len = len.min(u32::from(pppoe_len).saturating_sub(headers));
        }
    }
    len
}

/// First fragments of fragmented IPv4 TCP segments, waiting for the rest.
#[derive(Default)]
pub(super) struct Fragments {
    pending: FastMap<(IpAddr, IpAddr, u16), PendingSegment>,
}

struct PendingSegment {
    first: Segment,
    tcp_header_len: u32,
    /// IP payload bytes received so far (all fragments).
    received: u32,
}

/// More pending first fragments than this and the table is cleared: fragments are rare
/// and a flood of unfinished ones must not grow memory.
const MAX_PENDING_FRAGMENTS: usize = 1024;

impl Fragments {
    /// tshark reassembles IP fragments and analyses the TCP segment in the frame of
    /// the last fragment, with the whole segment's length. Only complete IPv4
    /// datagrams whose first fragment carried the TCP header are rebuilt here.
    pub(super) fn feed(&mut self, raw: &RawFrame<'_>, frame: &Frame<'_>) -> Option<Segment> {
        let own = frame.own_layers();
        if let Some((Layer::Ipv4(v4), tcp)) = frame.innermost_tcp().map(|(ip, t)| (*ip, *t)) {
            if v4.fragment_offset == 0 && v4.more_fragments {
                if self.pending.len() >= MAX_PENDING_FRAGMENTS {
                    self.pending.clear();
                }
                let first = Segment {
                    frame: raw.number,
                    frame_len: raw.orig_len,
                    src: (IpAddr::V4(v4.src), tcp.src_port),
                    dst: (IpAddr::V4(v4.dst), tcp.dst_port),
                    header: SegmentHeader {
                        seq: tcp.seq,
                        ack: tcp.ack,
                        flags: tcp.flags,
                        window: tcp.window,
                        len: 0,
                        window_scale: tcp.parse_options().0.window_scale,
                        ts_ns: raw.ts_ns,
                    },
                    sack: tcp.parse_options().0.sack,
                };
                let received = u32::from(v4.total_len).saturating_sub(u32::from(v4.header_len));
                let key = (first.src.0, first.dst.0, v4.identification);
                self.pending.insert(
                    key,
                    PendingSegment {
                        first,
                        tcp_header_len: u32::from(tcp.header_len),
                        received,
                    },
                );
            }
            return None;
        }
        let Some(Layer::Ipv4(v4)) = own.last() else {
            return None;
        };
        if v4.fragment_offset == 0 || v4.protocol != 6 {
            return None;
        }
        let key = (IpAddr::V4(v4.src), IpAddr::V4(v4.dst), v4.identification);
        let part = u32::from(v4.total_len).saturating_sub(u32::from(v4.header_len));
        let pending = self.pending.get_mut(&key)?;
        pending.received = pending.received.saturating_add(part);
        if v4.more_fragments {
            return None;
        }
        let pending = self.pending.remove(&key)?;
        let total = u32::from(v4.fragment_offset) + part;
        if pending.received != total {
            return None;
        }
        let mut seg = pending.first;
        seg.frame = raw.number;
        seg.frame_len = raw.orig_len;
        seg.header.ts_ns = raw.ts_ns;
        seg.header.len = total.saturating_sub(pending.tcp_header_len);
        Some(seg)
    }
}
