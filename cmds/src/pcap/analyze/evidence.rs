//! `pcap analyze --write-streams OUT.pcapng`: which frames are the evidence behind the
//! findings: every frame of each TCP stream a finding names, and the frames a finding
//! lists when it names no stream. The caller reads the capture again and writes the
//! frames this says yes to.

use super::Report;
use crate::source::RawFrame;
use netkit_dissectors::{dissect, DissectOptions, Layer};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// A TCP stream to copy: its two endpoints and the frames it spans.
struct Wanted {
    a: SocketAddr,
    b: SocketAddr,
    first: u64,
    last: u64,
}

/// The frames behind a report's findings.
pub struct Evidence {
    frames: BTreeSet<u64>,
    streams: Vec<Wanted>,
}

impl Evidence {
    pub fn of(report: &Report) -> Evidence {
        let mut streams: BTreeSet<u32> = report.findings.iter().filter_map(|f| f.stream).collect();
        // A finding names one stream but may stand for several (three attempts to one
        // server): every stream whose opening, SYN or reset it lists is behind it too.
        let listed: BTreeSet<u64> = report
            .findings
            .iter()
            .filter(|f| f.stream.is_some())
            .flat_map(|f| f.frames.iter().copied())
            .collect();
        for s in &report.tcp.streams_detail {
            let opens = [Some(s.first_frame), s.syn_frame];
            if opens
                .iter()
                .flatten()
                .chain(&s.rst_frames)
                .any(|n| listed.contains(n))
            {
                streams.insert(s.stream);
            }
        }
        let frames = report
            .findings
            .iter()
            .filter(|f| f.stream.is_none())
            .flat_map(|f| f.frames.iter().copied())
            .collect();
        let streams = report
            .tcp
            .streams_detail
            .iter()
            .filter(|s| streams.contains(&s.stream))
            .map(|s| Wanted {
                a: s.client,
                b: s.server,
                first: s.first_frame,
                last: s.last_frame,
            })
            .collect();
        Evidence { frames, streams }
    }

    /// Whether `raw` is evidence. Frames inside a wanted stream's span are dissected
    /// (with `dissect_opts`, as the analysis did) to compare their endpoints.
    pub fn wants(&self, raw: &RawFrame<'_>, dissect_opts: &DissectOptions) -> bool {
        let n = raw.number;
        if self.frames.contains(&n) {
            return true;
        }
        if !self.streams.iter().any(|s| (s.first..=s.last).contains(&n)) {
            return false;
        }
        let frame = dissect(raw.linktype, raw.data, dissect_opts);
        let Some((ip, tcp)) = frame.innermost_tcp() else {
            return false;
        };
        let (src, dst) = match ip {
            Layer::Ipv4(h) => (IpAddr::V4(h.src), IpAddr::V4(h.dst)),
            Layer::Ipv6(h) => (IpAddr::V6(h.src), IpAddr::V6(h.dst)),
            _ => return false,
        };
        let s = SocketAddr::new(src, tcp.src_port);
        let d = SocketAddr::new(dst, tcp.dst_port);
        self.streams.iter().any(|w| {
            (w.first..=w.last).contains(&n) && ((w.a == s && w.b == d) || (w.a == d && w.b == s))
        })
    }
}
