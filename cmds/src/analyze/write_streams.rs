//! `pcap analyze --write-streams OUT.pcapng`: the frames behind the findings, written
//! to a new capture for Wireshark: every frame of each TCP stream a finding names, and
//! the frames a finding lists when it names no stream.

use super::{AnalyzeOptions, Report};
use crate::capture::CaptureFile;
use crate::pcapng_writer::PcapngWriter;
use netkit_dissectors::{dissect, Layer};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// A TCP stream to copy: its two endpoints and the frames it spans.
struct Wanted {
    a: SocketAddr,
    b: SocketAddr,
    first: u64,
    last: u64,
}

/// Re-reads `input` and writes the selected frames to `out`; returns how many.
pub fn write_streams(
    input: &Path,
    report: &Report,
    opts: &AnalyzeOptions,
    out: &Path,
) -> Result<u64, String> {
    if input.as_os_str() == "-" {
        return Err(
            "--write-streams needs a capture file: standard input cannot be read twice".into(),
        );
    }
    let streams: BTreeSet<u32> = report.findings.iter().filter_map(|f| f.stream).collect();
    let frames: BTreeSet<u64> = report
        .findings
        .iter()
        .filter(|f| f.stream.is_none())
        .flat_map(|f| f.frames.iter().copied())
        .collect();
    let wanted: Vec<Wanted> = report
        .tcp
        .streams_detail
        .iter()
        .filter(|s| streams.contains(&s.stream))
        .filter_map(|s| {
            Some(Wanted {
                a: parse_endpoint(&s.client)?,
                b: parse_endpoint(&s.server)?,
                first: s.first_frame,
                last: s.last_frame,
            })
        })
        .collect();
    let mut file = CaptureFile::open(input).map_err(|e| e.to_string())?;
    if let Some(f) = &opts.filter {
        file.set_filter(f).map_err(|e| e.to_string())?;
    }
    let sink = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut w = PcapngWriter::new(std::io::BufWriter::new(sink))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let mut written = 0u64;
    while let Some(raw) = file.next_frame() {
        let n = raw.number;
        let mut take = frames.contains(&n);
        if !take && wanted.iter().any(|s| (s.first..=s.last).contains(&n)) {
            let frame = dissect(raw.linktype, raw.data, &opts.dissect);
            if let Some((ip, tcp)) = frame.innermost_tcp() {
                let (src, dst) = match ip {
                    Layer::Ipv4(h) => (IpAddr::V4(h.src), IpAddr::V4(h.dst)),
                    Layer::Ipv6(h) => (IpAddr::V6(h.src), IpAddr::V6(h.dst)),
                    _ => continue,
                };
                let s = SocketAddr::new(src, tcp.src_port);
                let d = SocketAddr::new(dst, tcp.dst_port);
                take = wanted.iter().any(|w| {
                    (w.first..=w.last).contains(&n)
                        && ((w.a == s && w.b == d) || (w.a == d && w.b == s))
                });
            }
        }
        if take {
            w.write(raw.linktype, raw.ts_ns, raw.orig_len, raw.data)
                .map_err(|e| format!("{}: {e}", out.display()))?;
            written += 1;
        }
    }
    w.finish().map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(written)
}

/// `1.2.3.4:80` or `[::1]:80`, as the report prints endpoints.
fn parse_endpoint(s: &str) -> Option<SocketAddr> {
    s.parse().ok()
}
