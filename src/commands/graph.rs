//! `netkit pcap graph`: one graph of one TCP stream (or the capture's throughput), as
//! SVG for a page or a ticket, or as CSV for a script. The numbers are those of
//! `pcap analyze --html`: the same analysis, recording only the stream asked for.

use super::pcap::{analyze_path, GraphArgs};
use crate::exit::{Error, Result};
use netkit_cmds::pcap::analyze::graphs::{bins_csv, stream_csv, GraphOptions};
use netkit_cmds::pcap::analyze::svg::{self, Kind};
use netkit_cmds::pcap::analyze::AnalyzeOptions;
use std::io::Write;

/// Points one series of `pcap graph` keeps before halving: far beyond any single
/// stream of an ordinary capture (a 0.7 GB bulk transfer has about 250,000 ACKs),
/// still a bound.
const GRAPH_MAX_POINTS: usize = 10_000_000;

pub fn run(a: GraphArgs) -> Result {
    let kind = Kind::parse(&a.kind).ok_or(Error::BadArgument("unknown --kind"))?;
    if a.svg.is_none() && !a.csv {
        return Err(Error::BadArgument(
            "say where the graph goes: --svg OUT.svg, --csv (standard output), or both",
        ));
    }
    if a.stream.is_none() && kind != Kind::Throughput {
        return Err(Error::BadArgument(
            "--stream N is needed for this --kind (only throughput can draw the whole capture)",
        ));
    }
    let interval_ns = match a.interval {
        None => None,
        Some(s) if (1e-6..=1e6).contains(&s) => Some((s * 1e9).round() as i64),
        Some(_) => {
            return Err(Error::BadArgument(
                "--interval must be between 0.000001 and 1000000 seconds",
            ))
        }
    };
    let opts = AnalyzeOptions {
        dissect: a.decode.dissect_options()?,
        frames: false,
        conns: false,
        graphs: Some(GraphOptions {
            chosen: a.stream.into_iter().collect(),
            troubled: false,
            max_points: Some(GRAPH_MAX_POINTS),
            interval_ns,
        }),
        // The graphs are drawn from TCP headers: nothing to decrypt.
        tls_keylog: Default::default(),
    };
    let report = analyze_path(&a.file, a.decode.filter.as_deref(), &opts)?;
    let start = report.capture.first_ts_ns.unwrap_or(0);
    let Some(graphs) = report.graphs.as_ref() else {
        return Err(Error::BadArgument("no graph data"));
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let drawing = match a.stream {
        None => {
            let Some(bins) = graphs.timeline.as_ref() else {
                return Err(Error::Usage(format!(
                    "{}: no frames to draw",
                    a.file.display()
                )));
            };
            if a.csv {
                bins_csv(&mut out, bins, start)?;
            }
            svg::timeline(graphs, start, &[]).unwrap_or_default()
        }
        Some(n) => {
            let Some(series) = graphs.streams.iter().find(|s| s.stream == n) else {
                return Err(Error::Usage(format!(
                    "{}: no TCP stream {n} (the capture has {} streams, numbered from 0)",
                    a.file.display(),
                    report.tcp.streams
                )));
            };
            if a.csv {
                stream_csv(&mut out, series, kind, start)?;
            }
            svg::stream_graph(series, kind, start)
        }
    };
    out.flush()?;
    if let Some(dest) = &a.svg {
        std::fs::write(dest, svg::standalone(&drawing)).map_err(|e| Error::File {
            path: dest.display().to_string(),
            why: e.to_string(),
        })?;
    }
    Ok(())
}
