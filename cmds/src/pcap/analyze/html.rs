//! `pcap analyze --html` (and `watch --html`): the report as one self-contained page.
//!
//! Everything is inline (CSS, SVG, a little script): the file opens offline and can
//! be mailed. Findings come first, each linking to its evidence (its stream's graphs,
//! its row in the TCP table, or its section); then the capture timeline, the graphs
//! of each troubled or chosen stream, and the other sections (WebSocket, TLS, multicast,
//! FHRP, tunnels, paths) as tables.
//!
//! The numbers are the report's own: the tables are the typed sections serialized
//! exactly as `--json` writes them (so a table and the JSON never disagree), the
//! graphs draw the series the analysis recorded ([`super::graphs`]).

use super::findings::{Finding, Severity};
use super::report::Report;
use super::svg::{self, esc, Kind};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Rows per table; the JSON has the rest.
const MAX_ROWS: usize = 500;
/// Characters of a nested value shown in a cell.
const MAX_CELL: usize = 300;
/// The graphs drawn per stream in the page.
pub const PAGE_KINDS: [Kind; 4] = [Kind::Tsg, Kind::Rtt, Kind::Throughput, Kind::InFlight];

/// Writes the page for `reports` (one per capture file, or per capture point of
/// `watch`). `title`: what produced it (`pcap analyze`, `watch`).
pub fn write(out: &mut dyn Write, reports: &[Report], title: &str) -> io::Result<()> {
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>netkit {}: {}</title><style>{}{}</style></head><body>
<header><h1>netkit {}</h1><p class="muted">netkit {} · one file, no network access needed</p></header>
"#,
        esc(title),
        esc(&reports
            .iter()
            .map(|r| r.capture.file.as_str())
            .collect::<Vec<_>>()
            .join(", ")),
        svg::SVG_STYLE,
        PAGE_STYLE,
        esc(title),
        env!("CARGO_PKG_VERSION"),
    );
    if reports.len() > 1 {
        page.push_str("<nav><ul>");
        for (i, r) in reports.iter().enumerate() {
            let _ = write!(
                page,
                r##"<li><a href="#r{i}">{}</a> ({} findings)</li>"##,
                esc(&r.capture.file),
                r.findings.len()
            );
        }
        page.push_str("</ul></nav>");
    }
    for (i, r) in reports.iter().enumerate() {
        report(&mut page, r, &format!("r{i}"));
    }
    let _ = writeln!(page, "<script>{PAGE_SCRIPT}</script></body></html>");
    out.write_all(page.as_bytes())
}

/// Where a finding's evidence is on the page.
fn evidence_anchor(f: &Finding, r: &Report, id: &str) -> String {
    let section = f.code.entry().section;
    // A TLS finding's evidence is its connection's row in the TLS table (version,
    // alerts, certificate), not the stream's TCP graphs.
    if section == "tls" {
        return format!("#{id}-sec-tls");
    }
    if let Some(s) = f.stream {
        let graphed = r
            .graphs
            .as_ref()
            .is_some_and(|g| g.streams.iter().any(|x| x.stream == s));
        if graphed {
            return format!("#{id}-stream-{s}");
        }
        if r.tcp.streams_detail.iter().any(|d| d.stream == s) {
            return format!("#{id}-tcp-stream-{s}");
        }
    }
    format!("#{id}-sec-{section}")
}

fn report(page: &mut String, r: &Report, id: &str) {
    let c = &r.capture;
    let _ = write!(
        page,
        r#"<section class="report" id="{id}"><h2>{}</h2><dl class="summary" id="{id}-sec-capture">"#,
        esc(&c.file)
    );
    let facts: [(&str, String); 7] = [
        ("frames", c.frames.to_string()),
        ("bytes", c.bytes.to_string()),
        ("duration", format!("{:.6} s", c.duration_s)),
        ("first frame", c.first_ts.clone().unwrap_or_default()),
        ("last frame", c.last_ts.clone().unwrap_or_default()),
        ("link type", c.linktype.clone()),
        ("malformed frames", c.malformed_frames.to_string()),
    ];
    for (k, v) in facts {
        let _ = write!(page, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    }
    page.push_str("</dl>");
    if !c.errors.is_empty() {
        table_of(
            page,
            "Capture problems",
            &to_value(&c.errors),
            &format!("{id}-capture-errors"),
        );
    }

    // Findings first.
    let _ = write!(
        page,
        r#"<section id="{id}-findings"><h3>Findings ({})</h3>"#,
        r.findings.len()
    );
    if r.findings.is_empty() {
        page.push_str(r#"<p class="ok">No findings: nothing in this capture matched a rule.</p>"#);
    } else {
        page.push_str(r#"<ol class="findings">"#);
        for (n, f) in r.findings.iter().enumerate() {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let _ = write!(
                page,
                r#"<li class="finding sev-{sev}" id="{id}-finding-{n}"><span class="sev">{sev}</span> <code>{}</code> {} <a class="evidence" href="{}">evidence</a>"#,
                f.code,
                esc(&f.summary),
                evidence_anchor(f, r, id)
            );
            if !f.wireshark_filter.is_empty() {
                let _ = write!(
                    page,
                    r#"<div class="filter">Wireshark: <code>{}</code></div>"#,
                    esc(&f.wireshark_filter)
                );
            }
            page.push_str("</li>");
        }
        page.push_str("</ol>");
    }
    page.push_str("</section>");

    let start = c.first_ts_ns.unwrap_or(0);
    if let Some(g) = &r.graphs {
        let marks: Vec<(i64, String, String)> = r
            .findings
            .iter()
            .enumerate()
            .filter_map(|(n, f)| {
                f.ts_ns.map(|ts| {
                    (
                        ts,
                        format!("#{id}-finding-{n}"),
                        format!("{}: {}", f.code, f.summary),
                    )
                })
            })
            .collect();
        let _ = write!(page, r#"<section id="{id}-timeline"><h3>Timeline</h3>"#);
        match svg::timeline(g, start, &marks) {
            Some(s) => page.push_str(&s),
            None => page.push_str("<p>No frames.</p>"),
        }
        page.push_str("</section>");

        let _ = write!(
            page,
            r#"<section id="{id}-sec-graphs"><h3>Stream graphs ({})</h3>"#,
            g.streams.len()
        );
        if g.streams.is_empty() {
            page.push_str("<p>No stream ran into trouble (retransmissions, lost segments, zero windows, resets), and none was chosen with --graph-stream.</p>");
        }
        let dropped = g.downsampled_points();
        if dropped > 0 {
            let _ = write!(
                page,
                r#"<p class="note">Downsampled: {dropped} recorded points were let go while recording (each series keeps at most its cap, halving by keeping the lowest and highest of every four, so spikes survive); every line is then drawn as the lowest and highest point per pixel column. Each graph says how many points it drew from how many.</p>"#
            );
        }
        if g.troubled_not_graphed > 0 {
            let _ = write!(
                page,
                r#"<p class="note">{} more troubled streams are not graphed (the report graphs at most {} besides those chosen, and records at most {} streams at a time); choose one with --graph-stream N, or draw it with netkit pcap graph.</p>"#,
                g.troubled_not_graphed,
                super::sections::tcp::series::MAX_GRAPHED,
                super::sections::tcp::series::MAX_RECORDED
            );
        }
        for s in &g.chosen_missing {
            let _ = write!(
                page,
                r#"<p class="note">Stream {s} (--graph-stream) is not in this capture.</p>"#
            );
        }
        for s in &g.streams {
            let detail = r.tcp.streams_detail.iter().find(|d| d.stream == s.stream);
            let _ = write!(
                page,
                r#"<article class="stream" id="{id}-stream-{}"><h4>Stream {}"#,
                s.stream, s.stream
            );
            if let Some(d) = detail {
                let _ = write!(
                    page,
                    ": {} → {}",
                    esc(&d.client.to_string()),
                    esc(&d.server.to_string())
                );
            }
            page.push_str("</h4><p class=\"facts\">");
            if let Some(d) = detail {
                let retrans = d.flags[super::sections::tcp::TcpFlag::Retransmission];
                let _ = write!(
                    page,
                    "{} frames, {} bytes client→server, {} bytes server→client, {} retransmissions, {} resets",
                    d.frames,
                    d.bytes_client_to_server,
                    d.bytes_server_to_client,
                    retrans,
                    d.resets.len()
                );
                if let Some(rtt) = d.rtt_ms {
                    let _ = write!(page, ", handshake RTT {rtt:.3} ms");
                }
                let _ = write!(
                    page,
                    r##". <a href="#{id}-tcp-stream-{}">table row</a>"##,
                    s.stream
                );
            }
            if s.late_start {
                let _ = write!(
                    page,
                    " Recorded from frame {} on (recording began when trouble did; earlier segments are not drawn).",
                    s.first_frame
                );
            }
            if s.dropped_points() > 0 {
                let _ = write!(
                    page,
                    " {} points downsampled while recording.",
                    s.dropped_points()
                );
            }
            page.push_str("</p>");
            for k in PAGE_KINDS {
                page.push_str(&svg::stream_graph(s, k, start));
            }
            page.push_str("</article>");
        }
        page.push_str("</section>");
    }

    tcp_table(page, r, id);
    sections(page, r, id);
    page.push_str("</section>");
}

/// The TCP streams the findings name or the graphs draw, one row each (anchors for
/// the findings' evidence links).
fn tcp_table(page: &mut String, r: &Report, id: &str) {
    let named: Vec<u32> = r.findings.iter().filter_map(|f| f.stream).collect();
    let graphed: Vec<u32> = r
        .graphs
        .as_ref()
        .map(|g| g.streams.iter().map(|s| s.stream).collect())
        .unwrap_or_default();
    let rows: Vec<_> = r
        .tcp
        .streams_detail
        .iter()
        .filter(|d| named.contains(&d.stream) || graphed.contains(&d.stream))
        .take(MAX_ROWS)
        .collect();
    let _ = write!(
        page,
        r#"<section id="{id}-sec-tcp"><h3>TCP</h3><p>{} streams; analysis flags: "#,
        r.tcp.streams
    );
    let flags = to_value(&r.tcp.flags);
    if let Value::Object(m) = &flags {
        let nonzero: Vec<String> = m
            .iter()
            .filter(|(_, v)| v.as_u64().is_some_and(|n| n > 0))
            .map(|(k, v)| format!("{} {}", esc(k), v))
            .collect();
        page.push_str(&if nonzero.is_empty() {
            "none".to_string()
        } else {
            nonzero.join(", ")
        });
    }
    page.push_str(".</p>");
    if !rows.is_empty() {
        let v = to_value(&rows);
        let anchors: Vec<String> = rows
            .iter()
            .map(|d| format!("{id}-tcp-stream-{}", d.stream))
            .collect();
        table_rows(
            page,
            "Streams named by findings or graphed",
            &v,
            Some(&anchors),
        );
    }
    page.push_str("</section>");
}

/// The other sections, as the JSON has them.
fn sections(page: &mut String, r: &Report, id: &str) {
    let parts: [(&str, &str, Value); 6] = [
        ("websocket", "WebSocket", to_value(&r.websocket)),
        ("tls", "TLS", to_value(&r.tls)),
        ("multicast", "Multicast", to_value(&r.multicast)),
        (
            "fhrp",
            "First-hop redundancy (VRRP, HSRP, GLBP)",
            to_value(&r.fhrp),
        ),
        ("tunnels", "Tunnels", to_value(&r.tunnels)),
        ("paths", "Paths (MTU, fragments, ICMP)", to_value(&r.paths)),
    ];
    for (key, title, v) in parts {
        let _ = write!(page, r#"<section id="{id}-sec-{key}"><h3>{title}</h3>"#);
        let Value::Object(m) = &v else {
            page.push_str("</section>");
            continue;
        };
        let mut scalars = Vec::new();
        let mut any = false;
        for (k, val) in m {
            match val {
                Value::Array(items) if !items.is_empty() => {
                    any = true;
                    table_of(page, k, val, &format!("{id}-{key}-{k}"));
                    let _ = items;
                }
                Value::Array(_) => {}
                Value::Object(_) => {
                    any = true;
                    table_of(
                        page,
                        k,
                        &Value::Array(vec![val.clone()]),
                        &format!("{id}-{key}-{k}"),
                    );
                }
                other => scalars.push((k.clone(), other.clone())),
            }
        }
        if !scalars.is_empty() {
            page.push_str(r#"<dl class="scalars">"#);
            for (k, v) in scalars {
                let _ = write!(page, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&cell(&v)));
            }
            page.push_str("</dl>");
        }
        if !any {
            page.push_str(r#"<p class="muted">Nothing of this kind in the capture.</p>"#);
        }
        page.push_str("</section>");
    }
}

fn to_value<T: serde::Serialize + ?Sized>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn table_of(page: &mut String, title: &str, v: &Value, anchor: &str) {
    let _ = write!(page, r#"<div class="table" id="{}">"#, esc(anchor));
    table_rows(page, title, v, None);
    page.push_str("</div>");
}

/// An array of objects as a table: one column per key (in the order first met).
fn table_rows(page: &mut String, title: &str, v: &Value, anchors: Option<&[String]>) {
    let Value::Array(items) = v else {
        return;
    };
    let mut cols: Vec<String> = Vec::new();
    for it in items.iter().take(MAX_ROWS) {
        if let Value::Object(m) = it {
            for k in m.keys() {
                if !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
        }
    }
    let _ = write!(
        page,
        r#"<table><caption>{} ({})</caption><thead><tr>"#,
        esc(title),
        items.len()
    );
    if cols.is_empty() {
        page.push_str("<th>value</th>");
    }
    for c in &cols {
        let _ = write!(page, "<th>{}</th>", esc(c));
    }
    page.push_str("</tr></thead><tbody>");
    for (i, it) in items.iter().take(MAX_ROWS).enumerate() {
        match anchors.and_then(|a| a.get(i)) {
            Some(a) => {
                let _ = write!(page, r#"<tr id="{}">"#, esc(a));
            }
            None => page.push_str("<tr>"),
        }
        match it {
            Value::Object(m) => {
                for c in &cols {
                    let text = m.get(c).map(cell).unwrap_or_default();
                    let _ = write!(page, "<td>{}</td>", esc(&text));
                }
            }
            other => {
                let _ = write!(page, "<td>{}</td>", esc(&cell(other)));
            }
        }
        page.push_str("</tr>");
    }
    page.push_str("</tbody></table>");
    if items.len() > MAX_ROWS {
        let _ = write!(
            page,
            r#"<p class="note">{} more rows not shown; --json has them all.</p>"#,
            items.len() - MAX_ROWS
        );
    }
}

/// A value as cell text: scalars as themselves, nested values as compact JSON.
fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > MAX_CELL {
        let cut: String = s.chars().take(MAX_CELL).collect();
        format!("{cut}…")
    } else {
        s
    }
}

const PAGE_STYLE: &str = r#"
:root{--page:#f7f8fa;--fg:#1d232b;--muted:#5f6b7a;--card:#ffffff;--line:#d6dde5;--link:#1f5fbf;--err:#c62828;--warn:#b26a00;--info:#2f6fb0;--ok:#2e7d32}
@media (prefers-color-scheme: dark){
:root{--page:#12161b;--fg:#e3e8ee;--muted:#98a4b3;--card:#1b2128;--line:#2f3842;--link:#7fb2ff;--err:#ff6b6b;--warn:#ffb74d;--info:#82b1ff;--ok:#81c784}
svg.graph{--fg:#e3e8ee;--muted:#98a4b3;--grid:#2b333c;--bg:#1b2128;--c1:#6aa9ff;--c2:#ffad5c;--c3:#9aa3ad;--seg:#6aa9ff;--ack:#5fd38d;--win:#e6d35a;--sack:#c792ff;--bad:#ff6b6b;--rst:#ff9e9e;--zw:#ffc04d}
}
body{margin:0;padding:0 24px 48px;background:var(--page);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
header{padding:16px 0 4px}h1{font-size:22px;margin:0}h2{font-size:19px;margin:22px 0 8px;word-break:break-all}
h3{font-size:16px;margin:22px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h4{font-size:14px;margin:14px 0 4px}
a{color:var(--link)}.muted,.note{color:var(--muted)}.ok{color:var(--ok)}
section.report{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:4px 18px 18px;margin:16px 0}
dl.summary,dl.scalars{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:6px 0}
dt{color:var(--muted)}dd{margin:0}
ol.findings{padding-left:22px}li.finding{margin:6px 0;padding:4px 8px;border-left:4px solid var(--line)}
li.finding:target,article.stream:target,tr:target{outline:2px solid var(--link);outline-offset:2px}
.sev-error{border-color:var(--err)!important}.sev-warning{border-color:var(--warn)!important}.sev-info{border-color:var(--info)!important}
.sev{font-weight:600;text-transform:uppercase;font-size:11px}.sev-error .sev{color:var(--err)}.sev-warning .sev{color:var(--warn)}.sev-info .sev{color:var(--info)}
.filter{font-size:12px;color:var(--muted)}code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
svg.graph{display:block;max-width:100%;height:auto;margin:8px 0;border:1px solid var(--line);border-radius:4px}
table{border-collapse:collapse;margin:8px 0;font-size:12px;display:block;overflow-x:auto;max-width:100%}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top;max-width:420px;overflow-wrap:break-word}
th{background:var(--page);white-space:nowrap}
#readout{position:fixed;pointer-events:none;background:var(--card);color:var(--fg);border:1px solid var(--line);border-radius:4px;padding:2px 6px;font:12px ui-monospace,monospace;display:none}
"#;

/// The page's one script: a read-out of time and value under the pointer on a graph.
const PAGE_SCRIPT: &str = r#"
(function(){
  var box=document.createElement('div');box.id='readout';document.body.appendChild(box);
  function fmt(v,u){if(u==='ms')return v.toFixed(3)+' ms';var a=Math.abs(v),p=['','k','M','G'],i=0;while(a>=1000&&i<3){a/=1000;v/=1000;i++;}return v.toFixed(2)+' '+p[i]+(u==='bytes'?'B':'b/s');}
  var graphs=document.querySelectorAll('svg.graph');
  for(var i=0;i<graphs.length;i++){(function(g){
    var d=g.dataset,x0=+d.x0,x1=+d.x1,y0=+d.y0,y1=+d.y1,l=+d.left,r=+d.right,t=+d.top,b=+d.bottom;
    g.addEventListener('mousemove',function(e){
      var vb=g.viewBox.baseVal,rc=g.getBoundingClientRect();
      var px=(e.clientX-rc.left)*vb.width/rc.width,py=(e.clientY-rc.top)*vb.height/rc.height;
      if(px<l||px>vb.width-r||py<t||py>vb.height-b){box.style.display='none';return;}
      var x=x0+(px-l)/(vb.width-l-r)*(x1-x0),y=y0+(vb.height-b-py)/(vb.height-t-b)*(y1-y0);
      box.textContent=x.toFixed(6)+' s  '+fmt(y,d.unit);
      box.style.left=(e.clientX+14)+'px';box.style.top=(e.clientY+10)+'px';box.style.display='block';
    });
    g.addEventListener('mouseleave',function(){box.style.display='none';});
  })(graphs[i]);}
  document.documentElement.dataset.graphs=String(graphs.length);
})();
"#;
