//! The graphs as SVG: the capture timeline and the per-stream graphs (Stevens
//! time-sequence, RTT, throughput, bytes in flight, receive window), drawn from the
//! analysis's own series ([`super::graphs`]). Colours come from CSS classes, so one
//! drawing serves the light and the dark page (and a standalone `.svg` carries its
//! own small style).
//!
//! Every line is reduced to the lowest and highest value per pixel column before it
//! is written, so a spike survives and a million-point series costs two points per
//! column; each graph says how many points it drew from how many.

use super::graphs::{Bin, Bins, Graphs};
use super::sections::tcp::series::{SegPoint, StreamSeries};
use std::fmt::Write as _;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 34.0;

/// The kinds of per-stream graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tsg,
    Rtt,
    Throughput,
    Window,
    InFlight,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Tsg,
        Kind::Rtt,
        Kind::Throughput,
        Kind::Window,
        Kind::InFlight,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Tsg => "tsg",
            Kind::Rtt => "rtt",
            Kind::Throughput => "throughput",
            Kind::Window => "window",
            Kind::InFlight => "inflight",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// How a value axis labels its numbers.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Bytes,
    BitsPerSecond,
    Millis,
}

/// One chart being drawn: data ranges, the body so far, the legend.
struct Chart {
    kind: &'static str,
    /// Drawn outside the plot's clip (the event marks above it).
    margin: String,
    title: String,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    unit: Unit,
    body: String,
    legend: Vec<(&'static str, String)>,
    /// Points given, points written.
    points_in: u64,
    points_out: u64,
}

impl Chart {
    fn new(kind: &'static str, title: String, x: (f64, f64), y: (f64, f64), unit: Unit) -> Chart {
        let (mut x0, mut x1) = x;
        // NaN counts as empty too.
        if x1.partial_cmp(&x0) != Some(std::cmp::Ordering::Greater) {
            x1 = x0 + 1e-3;
        }
        if !x0.is_finite() {
            x0 = 0.0;
            x1 = 1.0;
        }
        // A little room either side, so points at the ends are not on the frame.
        let pad = (x1 - x0) * 0.02;
        let (x0, x1) = (x0 - pad, x1 + pad);
        let (y0, mut y1) = (y.0.min(y.1), y.0.max(y.1));
        if y1.partial_cmp(&y0) != Some(std::cmp::Ordering::Greater) {
            y1 = y0 + 1.0;
        }
        let y1 = y1 + (y1 - y0) * 0.05;
        Chart {
            kind,
            margin: String::new(),
            title,
            x0,
            x1,
            y0,
            y1,
            unit,
            body: String::new(),
            legend: Vec::new(),
            points_in: 0,
            points_out: 0,
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)
    }

    fn column(&self, x: f64) -> i64 {
        self.px(x).floor() as i64
    }

    /// A line through `pts` (time order), keeping per pixel column the first, lowest,
    /// highest and last point (in time order), so steps and spikes both survive.
    fn line(&mut self, class: &'static str, label: &str, pts: impl Iterator<Item = (f64, f64)>) {
        self.path(class, label, pts, false)
    }

    /// Points as dots (samples, not a level that holds between them).
    fn dots(&mut self, class: &'static str, label: &str, pts: impl Iterator<Item = (f64, f64)>) {
        self.path(class, label, pts, true)
    }

    fn path(
        &mut self,
        class: &'static str,
        label: &str,
        pts: impl Iterator<Item = (f64, f64)>,
        dots: bool,
    ) {
        let mut d = String::new();
        let mut col: Option<i64> = None;
        let mut bucket: Vec<(f64, f64)> = Vec::new();
        let mut n_in = 0u64;
        let mut n_out = 0u64;
        let flush = |bucket: &mut Vec<(f64, f64)>, d: &mut String, n_out: &mut u64| {
            if bucket.is_empty() {
                return;
            }
            let lo = (0..bucket.len())
                .min_by(|a, b| bucket[*a].1.total_cmp(&bucket[*b].1))
                .unwrap_or(0);
            let hi = (0..bucket.len())
                .max_by(|a, b| bucket[*a].1.total_cmp(&bucket[*b].1))
                .unwrap_or(0);
            let mut keep = vec![0, lo, hi, bucket.len() - 1];
            keep.sort_unstable();
            keep.dedup();
            for i in keep {
                let (x, y) = bucket[i];
                if dots {
                    let _ = write!(d, "M{:.1} {:.1}h0", self.px(x), self.py(y));
                } else {
                    let cmd = if d.is_empty() { 'M' } else { 'L' };
                    let _ = write!(d, "{cmd}{:.1} {:.1}", self.px(x), self.py(y));
                }
                *n_out += 1;
            }
            bucket.clear();
        };
        for (x, y) in pts {
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            n_in += 1;
            let c = self.column(x);
            if col != Some(c) {
                flush(&mut bucket, &mut d, &mut n_out);
                col = Some(c);
            }
            bucket.push((x, y));
        }
        flush(&mut bucket, &mut d, &mut n_out);
        self.points_in += n_in;
        self.points_out += n_out;
        if !d.is_empty() {
            let shape = if dots { "dots" } else { "s" };
            let _ = write!(self.body, r#"<path class="{shape} {class}" d="{d}"/>"#);
        }
        self.legend.push((class, label.to_string()));
    }

    /// Vertical bars (a segment's bytes, a SACK block) merged per pixel column into
    /// the column's lowest start and highest end.
    fn bars(
        &mut self,
        class: &'static str,
        label: &str,
        bars: impl Iterator<Item = (f64, f64, f64)>,
    ) {
        let mut cols: Vec<(i64, f64, f64)> = Vec::new();
        let mut n_in = 0u64;
        for (x, lo, hi) in bars {
            if !(x.is_finite() && lo.is_finite() && hi.is_finite()) {
                continue;
            }
            n_in += 1;
            let c = self.column(x);
            match cols.last_mut() {
                Some(last) if last.0 == c => {
                    last.1 = last.1.min(lo);
                    last.2 = last.2.max(hi);
                }
                _ => cols.push((c, lo, hi)),
            }
        }
        let mut d = String::new();
        for (c, lo, hi) in &cols {
            let (y_lo, y_hi) = (self.py(*lo), self.py(*hi));
            // At least a pixel tall, so a one-byte segment shows.
            let y_hi = y_hi.min(y_lo - 1.0);
            let _ = write!(d, "M{}.5 {:.1}V{:.1}", c, y_lo, y_hi);
        }
        self.points_in += n_in;
        self.points_out += cols.len() as u64;
        if !d.is_empty() {
            let _ = write!(self.body, r#"<path class="b {class}" d="{d}"/>"#);
        }
        self.legend.push((class, label.to_string()));
    }

    /// Event marks along the top (retransmissions, resets, zero windows), one per
    /// pixel column, in row `row`; each carries its count as a tooltip.
    fn marks(
        &mut self,
        class: &'static str,
        label: &str,
        row: usize,
        marks: impl Iterator<Item = (f64, u64)>,
    ) {
        let mut cols: Vec<(i64, u64)> = Vec::new();
        for (x, n) in marks {
            if n == 0 || !x.is_finite() {
                continue;
            }
            let c = self.column(x);
            match cols.last_mut() {
                Some(last) if last.0 == c => last.1 += n,
                _ => cols.push((c, n)),
            }
        }
        let y = 16.0 + row as f64 * 5.0;
        let total: u64 = cols.iter().map(|c| c.1).sum();
        for (c, n) in cols {
            let _ = write!(
                self.margin,
                r#"<rect class="m {class}" x="{}" y="{y}" width="2" height="4"><title>{n} {label}</title></rect>"#,
                c - 1
            );
        }
        self.legend.push((class, format!("{label} ({total})")));
    }

    /// A vertical line at time `x` linking to `href` (a finding).
    fn flag_line(&mut self, x: f64, href: &str, title: &str) {
        let px = self.px(x);
        let _ = write!(
            self.body,
            r##"<a href="{}"><line class="finding-line" x1="{px:.1}" x2="{px:.1}" y1="{}" y2="{}"/><title>{}</title></a>"##,
            esc(href),
            TOP,
            HEIGHT - BOTTOM,
            esc(title)
        );
    }

    /// An id unique to this drawing within a page (ids are global in HTML).
    fn clip_id(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.title.bytes().chain(self.kind.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("clip-{h:016x}")
    }

    fn axes(&self) -> String {
        let mut s = String::new();
        let (l, r, t, b) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        let _ = write!(
            s,
            r#"<rect class="frame" x="{l}" y="{t}" width="{}" height="{}"/>"#,
            r - l,
            b - t
        );
        for v in ticks(self.x0, self.x1, 8) {
            let x = self.px(v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{t}" y2="{b}"/><text class="tick" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                b + 14.0,
                fmt_secs(v)
            );
        }
        for v in ticks(self.y0, self.y1, 5) {
            let y = self.py(v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{l}" x2="{r}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                l - 4.0,
                y + 4.0,
                fmt_value(v, self.unit)
            );
        }
        let _ = write!(
            s,
            r#"<text class="axis" x="{}" y="{}" text-anchor="middle">time since the capture's first frame (s)</text>"#,
            (l + r) / 2.0,
            HEIGHT - 4.0
        );
        s
    }

    /// The finished `<svg>`: title, axes, series, legend; `data-*` attributes give
    /// the page's script the data ranges for its read-out.
    fn finish(self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="graph" data-kind="{}" data-x0="{}" data-x1="{}" data-y0="{}" data-y1="{}" data-unit="{}" data-left="{LEFT}" data-right="{RIGHT}" data-top="{TOP}" data-bottom="{BOTTOM}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
            self.kind,
            self.x0,
            self.x1,
            self.y0,
            self.y1,
            match self.unit {
                Unit::Bytes => "bytes",
                Unit::BitsPerSecond => "bit/s",
                Unit::Millis => "ms",
            },
            esc(&self.title)
        );
        s.push_str(&self.axes());
        // Lines stay inside the plot (a window edge far above the data is cut).
        let _ = write!(
            s,
            r#"<clipPath id="{}"><rect x="{LEFT}" y="{TOP}" width="{}" height="{}"/></clipPath><g clip-path="url(#{})">{}</g>"#,
            self.clip_id(),
            WIDTH - LEFT - RIGHT,
            HEIGHT - TOP - BOTTOM,
            self.clip_id(),
            self.body
        );
        s.push_str(&self.margin);
        let mut x = LEFT;
        for (class, label) in &self.legend {
            let _ = write!(
                s,
                r#"<rect class="key {class}" x="{x}" y="4" width="10" height="8"/><text class="legend" x="{}" y="12">{}</text>"#,
                x + 13.0,
                esc(label)
            );
            x += 24.0 + label.len() as f64 * 6.2;
        }
        let _ = write!(
            s,
            r#"<text class="note" x="{}" y="{}" text-anchor="end">{} points drawn from {}</text></svg>"#,
            WIDTH - RIGHT,
            HEIGHT - 4.0,
            self.points_out,
            self.points_in
        );
        s
    }
}

/// Seconds since `start_ns`.
fn secs(ts_ns: i64, start_ns: i64) -> f64 {
    ts_ns.saturating_sub(start_ns) as f64 / 1e9
}

/// About `n` round tick values between `lo` and `hi`.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = hi - lo;
    if span.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !span.is_finite() {
        return vec![lo];
    }
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 && out.len() < 50 {
        out.push(v);
        v += step;
    }
    out
}

fn fmt_secs(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn fmt_value(v: f64, unit: Unit) -> String {
    let scaled = |v: f64, suffix: &str| {
        let a = v.abs();
        let (d, p) = if a >= 1e9 {
            (1e9, "G")
        } else if a >= 1e6 {
            (1e6, "M")
        } else if a >= 1e3 {
            (1e3, "k")
        } else {
            (1.0, "")
        };
        let s = format!("{:.2}", v / d);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}{p}{suffix}")
    };
    match unit {
        Unit::Bytes => scaled(v, "B"),
        Unit::BitsPerSecond => scaled(v, "b/s"),
        Unit::Millis => format!("{}ms", fmt_secs((v * 1000.0).round() / 1000.0)),
    }
}

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// The x range of a bins series, in seconds since `start_ns`.
fn bins_range(b: &Bins, start_ns: i64) -> (f64, f64) {
    let x0 = secs(b.start_ns, start_ns);
    (
        x0,
        x0 + b.bins.len().max(1) as f64 * b.width_ns as f64 / 1e9,
    )
}

/// Each bin's middle time and bits per second of `bytes`.
fn rate(b: &Bins, start_ns: i64, bytes: impl Fn(&Bin) -> u64) -> Vec<(f64, f64)> {
    let w = b.width_ns as f64 / 1e9;
    let x0 = secs(b.start_ns, start_ns);
    b.bins
        .iter()
        .enumerate()
        .map(|(i, bin)| (x0 + (i as f64 + 0.5) * w, bytes(bin) as f64 * 8.0 / w))
        .collect()
}

/// The capture timeline: bits per second of each TCP direction and of all frames,
/// with retransmissions, resets, zero windows and the findings marked. `findings`:
/// (time, anchor, title) of each finding that has a time.
pub fn timeline(g: &Graphs, start_ns: i64, findings: &[(i64, String, String)]) -> Option<String> {
    let b = g.timeline.as_ref()?;
    let all = rate(b, start_ns, |x| x.bytes);
    let ymax = all.iter().map(|p| p.1).fold(0.0, f64::max);
    let title = format!(
        "Capture timeline: throughput per {} ms bin",
        fmt_secs(b.width_ns as f64 / 1e6)
    );
    let mut c = Chart::new(
        "timeline",
        title,
        bins_range(b, start_ns),
        (0.0, ymax),
        Unit::BitsPerSecond,
    );
    c.line("all", "all frames", all.into_iter());
    c.line(
        "c2s",
        "TCP client→server",
        rate(b, start_ns, |x| x.tcp_bytes[0]).into_iter(),
    );
    c.line(
        "s2c",
        "TCP server→client",
        rate(b, start_ns, |x| x.tcp_bytes[1]).into_iter(),
    );
    let mids = |f: fn(&Bin) -> u32| {
        let w = b.width_ns as f64 / 1e9;
        let x0 = secs(b.start_ns, start_ns);
        b.bins
            .iter()
            .enumerate()
            .map(move |(i, bin)| (x0 + (i as f64 + 0.5) * w, u64::from(f(bin))))
            .collect::<Vec<_>>()
    };
    c.marks(
        "retrans",
        "retransmissions",
        0,
        mids(|x| x.retransmissions).into_iter(),
    );
    c.marks("rst", "resets", 1, mids(|x| x.resets).into_iter());
    c.marks(
        "zwin",
        "zero windows",
        2,
        mids(|x| x.zero_windows).into_iter(),
    );
    for (ts, href, title) in findings {
        c.flag_line(secs(*ts, start_ns), href, title);
    }
    if !findings.is_empty() {
        c.legend
            .push(("finding-key", format!("findings ({})", findings.len())));
    }
    Some(c.finish())
}

/// One graph of a recorded stream.
pub fn stream_graph(s: &StreamSeries, kind: Kind, start_ns: i64) -> String {
    let d = s.data_side();
    let (data, acker) = (&s.dirs[d], &s.dirs[1 - d]);
    let who = if d == 0 { "client" } else { "server" };
    let t = |ts: i64| secs(ts, start_ns);
    let span = |pts: &mut dyn Iterator<Item = i64>| {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for ts in pts {
            lo = lo.min(t(ts));
            hi = hi.max(t(ts));
        }
        (lo, hi)
    };
    match kind {
        Kind::Tsg => {
            let segs = data
                .segments
                .points
                .iter()
                .chain(&data.retransmissions.points);
            let x = span(
                &mut segs
                    .clone()
                    .map(|p| p.ts_ns)
                    .chain(acker.acks.points.iter().map(|a| a.ts_ns)),
            );
            let top = segs
                .clone()
                .map(|p| (p.seq + u64::from(p.len)) as f64)
                .chain(acker.acks.points.iter().map(|a| a.ack as f64))
                .fold(0.0, f64::max)
                * 1.08;
            let bottom = segs.clone().map(|p| p.seq as f64).fold(top, f64::min);
            let title = format!(
                "Stream {}: time-sequence graph of the {who}'s data (Stevens)",
                s.stream
            );
            let mut c = Chart::new("tsg", title, x, (bottom, top), Unit::Bytes);
            let seg_bar = |p: &SegPoint| {
                (
                    t(p.ts_ns),
                    p.seq as f64,
                    (p.seq + u64::from(p.len.max(1))) as f64,
                )
            };
            c.bars("seg", "segments", data.segments.points.iter().map(seg_bar));
            c.line(
                "ack",
                "ACK",
                acker.acks.points.iter().map(|a| (t(a.ts_ns), a.ack as f64)),
            );
            c.line(
                "win",
                "receive window",
                acker
                    .acks
                    .points
                    .iter()
                    .map(|a| (t(a.ts_ns), (a.ack + a.window) as f64)),
            );
            if !acker.sacks.points.is_empty() {
                c.bars(
                    "sack",
                    "SACK blocks",
                    acker
                        .sacks
                        .points
                        .iter()
                        .map(|p| (t(p.ts_ns), p.left as f64, p.right as f64)),
                );
            }
            c.bars(
                "retrans",
                "retransmissions",
                data.retransmissions.points.iter().map(seg_bar),
            );
            c.finish()
        }
        Kind::Rtt => {
            let pts: Vec<(f64, f64)> = acker
                .rtt
                .points
                .iter()
                .map(|p| (t(p.ts_ns), p.rtt_ns as f64 / 1e6))
                .collect();
            let x = span(&mut acker.rtt.points.iter().map(|p| p.ts_ns));
            let ymax = pts.iter().map(|p| p.1).fold(0.0, f64::max);
            let title = format!(
                "Stream {}: RTT of the {who}'s data (tshark's tcp.analysis.ack_rtt)",
                s.stream
            );
            let mut c = Chart::new("rtt", title, x, (0.0, ymax), Unit::Millis);
            c.dots("rtt", "ACK RTT", pts.into_iter());
            c.finish()
        }
        Kind::Throughput => {
            let b = &s.throughput;
            let c2s = rate(b, start_ns, |x| x.tcp_bytes[0]);
            let s2c = rate(b, start_ns, |x| x.tcp_bytes[1]);
            let ymax = c2s.iter().chain(&s2c).map(|p| p.1).fold(0.0, f64::max);
            // From the stream's first recorded frame: the bins before are empty.
            let first = (t(s.first_ts_ns) / (b.width_ns as f64 / 1e9)).floor() as usize;
            let (bx0, bx1) = bins_range(b, start_ns);
            let x0 = (bx0 + first as f64 * b.width_ns as f64 / 1e9).min(bx1);
            let title = format!(
                "Stream {}: throughput per {} ms bin",
                s.stream,
                fmt_secs(b.width_ns as f64 / 1e6)
            );
            let mut c = Chart::new(
                "throughput",
                title,
                (x0, bx1),
                (0.0, ymax),
                Unit::BitsPerSecond,
            );
            c.line("c2s", "client→server", c2s.into_iter().skip(first));
            c.line("s2c", "server→client", s2c.into_iter().skip(first));
            let w = b.width_ns as f64 / 1e9;
            c.marks(
                "retrans",
                "retransmissions",
                0,
                b.bins
                    .iter()
                    .enumerate()
                    .skip(first)
                    .map(|(i, bin)| (bx0 + (i as f64 + 0.5) * w, u64::from(bin.retransmissions))),
            );
            c.finish()
        }
        Kind::Window => {
            let x = span(&mut acker.acks.points.iter().map(|a| a.ts_ns));
            let ymax = acker
                .acks
                .points
                .iter()
                .map(|a| a.window as f64)
                .fold(0.0, f64::max);
            let title = format!("Stream {}: receive window offered to the {who}", s.stream);
            let mut c = Chart::new("window", title, x, (0.0, ymax), Unit::Bytes);
            c.line(
                "win",
                "window (scaled)",
                acker
                    .acks
                    .points
                    .iter()
                    .map(|a| (t(a.ts_ns), a.window as f64)),
            );
            c.finish()
        }
        Kind::InFlight => {
            let x = span(&mut data.in_flight.points.iter().map(|p| p.ts_ns));
            let ymax = data
                .in_flight
                .points
                .iter()
                .map(|p| p.bytes as f64)
                .fold(0.0, f64::max);
            let title = format!("Stream {}: bytes in flight from the {who}", s.stream);
            let mut c = Chart::new("inflight", title, x, (0.0, ymax), Unit::Bytes);
            c.line(
                "flight",
                "bytes in flight",
                data.in_flight
                    .points
                    .iter()
                    .map(|p| (t(p.ts_ns), p.bytes as f64)),
            );
            c.finish()
        }
    }
}

/// A graph as a standalone `.svg` file: the drawing with its own style (light).
pub fn standalone(svg: &str) -> String {
    let style = format!("<style>{}</style>", SVG_STYLE);
    // After the opening tag, so the style is inside the drawing.
    match svg.find('>') {
        Some(i) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}{style}{}\n",
            &svg[..=i],
            &svg[i + 1..]
        ),
        None => svg.to_string(),
    }
}

/// The graphs' colours, by class; the page overrides the custom properties for dark.
pub const SVG_STYLE: &str = r#"
svg.graph{--fg:#1d232b;--muted:#5f6b7a;--grid:#dde3ea;--bg:#ffffff;--c1:#1f6fd1;--c2:#d1721f;--c3:#7a7f87;--seg:#1f6fd1;--ack:#1a9b4b;--win:#b5a000;--sack:#9b3fd1;--bad:#d12f2f;--rst:#8b0000;--zw:#e08a00;font:11px system-ui,sans-serif;background:var(--bg)}
svg.graph .frame{fill:none;stroke:var(--muted);stroke-width:1}
svg.graph .grid{stroke:var(--grid);stroke-width:1}
svg.graph .tick,svg.graph .legend,svg.graph .axis{fill:var(--fg)}
svg.graph .note{fill:var(--muted)}
svg.graph path.s{fill:none;stroke-width:1.3}
svg.graph path.b{fill:none;stroke-width:1}
svg.graph path.dots{fill:none;stroke-width:3;stroke-linecap:round}
svg.graph .all{stroke:var(--c3);fill:var(--c3)}
svg.graph .c2s{stroke:var(--c1);fill:var(--c1)}
svg.graph .s2c{stroke:var(--c2);fill:var(--c2)}
svg.graph .seg{stroke:var(--seg);fill:var(--seg)}
svg.graph .ack{stroke:var(--ack);fill:var(--ack)}
svg.graph .win{stroke:var(--win);fill:var(--win)}
svg.graph .sack{stroke:var(--sack);fill:var(--sack)}
svg.graph .retrans{stroke:var(--bad);fill:var(--bad)}
svg.graph path.retrans{stroke-width:2}
svg.graph .rst{fill:var(--rst);stroke:var(--rst)}
svg.graph .zwin{fill:var(--zw);stroke:var(--zw)}
svg.graph .rtt{stroke:var(--c1);fill:var(--c1)}
svg.graph .flight{stroke:var(--c2);fill:var(--c2)}
svg.graph .finding-line{stroke:var(--bad);stroke-dasharray:4 3;stroke-width:1.5}
svg.graph .finding-key{fill:var(--bad)}
"#;
