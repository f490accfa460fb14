//! `netkit pcap show|analyze`.

use super::{CmdError, CmdResult};
use clap::{Args, Subcommand};
use netkit_cmds::analyze::{analyze_file, AnalyzeOptions, Report};
use netkit_cmds::output::{table, write_json};
use netkit_cmds::show::{show, ShowError, ShowOptions};
use netkit_dissectors::DissectOptions;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum PcapCommand {
    /// One line per frame: number, time, length, layer stack and a summary
    Show(ShowArgs),
    /// Analyse captures: what they hold, and what went wrong, most important first
    Analyze(AnalyzeArgs),
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Capture filter in libpcap syntax (tcpdump's), e.g. 'tcp port 443'
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,
    /// Decode a UDP port as a protocol, as Wireshark's "Decode As": udp.port=8472:vxlan
    #[arg(long = "decode-as", value_name = "udp.port=N:PROTO")]
    pub decode_as: Vec<String>,
}

impl DecodeArgs {
    fn dissect_options(&self) -> Result<DissectOptions, CmdError> {
        let mut o = DissectOptions::default();
        for spec in &self.decode_as {
            o.add_decode_as(spec)?;
        }
        Ok(o)
    }
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Capture file (pcap or pcapng); - reads standard input
    pub file: PathBuf,
    /// Stop after N frames
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub count: Option<u64>,
    /// One JSON object per frame and line
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng); - reads standard input
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Machine-readable report (an array with one object per file when several)
    #[arg(long)]
    pub json: bool,
    /// List the frame numbers behind each TCP analysis flag
    #[arg(long)]
    pub frames: bool,
    /// Write the frames behind the findings (whole TCP streams) to a pcapng file
    #[arg(long, value_name = "OUT.pcapng")]
    pub write_streams: Option<PathBuf>,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

pub fn run(cmd: PcapCommand) -> CmdResult {
    match cmd {
        PcapCommand::Show(a) => run_show(a),
        PcapCommand::Analyze(a) => run_analyze(a),
    }
}

fn run_show(a: ShowArgs) -> CmdResult {
    let opts = ShowOptions {
        count: a.count,
        json: a.json,
        filter: a.decode.filter.clone(),
        dissect: a.decode.dissect_options()?,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let warnings = match show(&a.file, &opts, &mut out) {
        Ok(w) => w,
        Err(ShowError::Io(e)) => return Err(CmdError::Io(e)),
        Err(ShowError::Capture(e)) => return Err(CmdError::Failed(e.to_string())),
    };
    out.flush()?;
    for w in warnings {
        eprintln!("netkit: warning: {}: {}", a.file.display(), w.message);
    }
    Ok(())
}

fn run_analyze(a: AnalyzeArgs) -> CmdResult {
    let opts = AnalyzeOptions {
        filter: a.decode.filter.clone(),
        dissect: a.decode.dissect_options()?,
        frames: a.frames,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    if a.write_streams.is_some() && a.files.len() > 1 {
        return Err(CmdError::Failed(
            "--write-streams takes one capture file (it writes that file's streams)".into(),
        ));
    }
    let mut reports = Vec::with_capacity(a.files.len());
    for f in &a.files {
        let r = analyze_file(f, &opts).map_err(|e| CmdError::Failed(e.to_string()))?;
        if let Some(out) = &a.write_streams {
            let n = netkit_cmds::analyze::write_streams::write_streams(f, &r, &opts, out)?;
            eprintln!(
                "netkit: wrote {n} frames behind {} findings to {}",
                r.findings.len(),
                out.display()
            );
        }
        reports.push(r);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if a.json {
        if reports.len() == 1 {
            write_json(&mut out, &reports[0])?;
        } else {
            write_json(&mut out, &reports)?;
        }
    } else {
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            write_human(&mut out, r)?;
        }
    }
    out.flush()?;
    for r in &reports {
        for e in r
            .capture
            .errors
            .iter()
            .filter(|e| e.kind == netkit_cmds::analyze::ProblemKind::Read)
        {
            eprintln!("netkit: warning: {}: {}", r.capture.file, e.message);
        }
    }
    Ok(())
}

#[derive(tabled::Tabled)]
struct ProtoRow {
    protocol: &'static str,
    frames: u64,
    share: String,
}

#[derive(tabled::Tabled)]
struct StreamRow {
    stream: u32,
    client: String,
    server: String,
    frames: u64,
    retrans: u64,
    dup_acks: u64,
    lost: u64,
    zero_win: u64,
    rtt_ms: String,
    end: String,
}

#[derive(tabled::Tabled)]
struct UpgradeRow {
    request: u64,
    client: String,
    server: String,
    target: String,
    status: String,
    verdict: String,
    #[tabled(rename = "ms")]
    response_ms: String,
    messages: u64,
    close: String,
}

#[derive(tabled::Tabled)]
struct FhrpRow {
    protocol: String,
    group: u16,
    virtual_ip: String,
    virtual_mac: String,
    active: String,
    standby: String,
    changes: usize,
}

#[derive(tabled::Tabled)]
struct GroupRow {
    group: String,
    mac: String,
    frames: u64,
    senders: usize,
    joins: u64,
    leaves: u64,
    name: String,
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// The human report reads top down: what went wrong first, then the evidence, then
/// what the capture holds.
fn write_human(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    use netkit_cmds::analyze::ProblemKind;
    let c = &r.capture;
    writeln!(out, "{}", c.file)?;
    if r.findings.is_empty() {
        writeln!(out, "  no problems found")?;
    }
    for f in &r.findings {
        let sev = serde_json::to_value(f.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_uppercase))
            .unwrap_or_default();
        writeln!(out, "  {sev:<7} {}", f.summary)?;
    }
    if !r.findings.is_empty() {
        writeln!(out, "\nOpen in Wireshark (display filters):")?;
        for f in &r.findings {
            writeln!(out, "  {:<28} {}", f.code, f.wireshark_filter)?;
        }
    }
    writeln!(
        out,
        "\nCapture: {} {}, {} frames, {} bytes on the wire, {:.3} s{}",
        serde_json::to_value(c.format)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        c.linktype,
        c.frames,
        c.bytes,
        c.duration_s,
        match (&c.first_ts, &c.last_ts) {
            (Some(a), Some(b)) => format!(" ({a} .. {b})"),
            _ => String::new(),
        }
    )?;
    if let Some(first) = c.errors.iter().find(|e| e.kind == ProblemKind::Decode) {
        writeln!(
            out,
            "  {} frames did not decode to the end (first: frame {}: {})",
            c.malformed_frames, first.frame, first.message
        )?;
    }
    let t = &r.tcp;
    if t.streams > 0 {
        let f = |n: &str| t.flags.get(n).copied().unwrap_or(0);
        writeln!(
            out,
            "\nTCP: {} streams; {} retransmissions ({} fast, {} spurious), {} duplicate ACKs, {} previous segments not captured, {} out of order, {} zero windows",
            t.streams,
            f("retransmission"),
            f("fast_retransmission"),
            f("spurious_retransmission"),
            f("duplicate_ack"),
            f("lost_segment"),
            f("out_of_order"),
            f("zero_window")
        )?;
        if t.evicted_conversations > 0 || t.streams_summarised > 0 {
            writeln!(
                out,
                "  (memory bound: sequence state of {} conversations evicted, so their later segments start new streams; {} streams counted but not detailed)",
                t.evicted_conversations, t.streams_summarised
            )?;
        }
        // The worst streams: the ones with trouble, most retransmissions first.
        let mut worst: Vec<_> = t
            .streams_detail
            .iter()
            .filter(|s| {
                let g = |n: &str| s.flags.get(n).copied().unwrap_or(0);
                g("retransmission") + g("lost_segment") + g("zero_window") > 0
                    || !s.rst_frames.is_empty()
            })
            .collect();
        worst.sort_by_key(|s| {
            std::cmp::Reverse(s.flags.get("retransmission").copied().unwrap_or(0))
        });
        if !worst.is_empty() {
            let rows = worst.iter().take(10).map(|s| {
                let g = |n: &str| s.flags.get(n).copied().unwrap_or(0);
                StreamRow {
                    stream: s.stream,
                    client: s.client.clone(),
                    server: s.server.clone(),
                    frames: s.frames,
                    retrans: g("retransmission"),
                    dup_acks: g("duplicate_ack"),
                    lost: g("lost_segment"),
                    zero_win: g("zero_window"),
                    rtt_ms: s.rtt_ms.map(|m| format!("{m:.1}")).unwrap_or_default(),
                    end: match (&s.rst_by, s.closed_cleanly) {
                        (Some(by), _) => format!(
                            "RST by {}",
                            serde_json::to_value(by)
                                .ok()
                                .and_then(|v| v.as_str().map(String::from))
                                .unwrap_or_default()
                        ),
                        (None, true) => "FIN".to_string(),
                        (None, false) => "open".to_string(),
                    },
                }
            });
            writeln!(out, "Worst streams ({} with trouble)", worst.len())?;
            writeln!(out, "{}", table(rows))?;
        }
    }
    if !r.websocket.upgrades.is_empty() {
        let rows = r.websocket.upgrades.iter().map(|u| UpgradeRow {
            request: u.request_frame,
            client: u.client.clone(),
            server: u.server.clone(),
            target: format!("{} {}", u.method, u.path),
            status: opt(&u.status),
            verdict: serde_json::to_value(u.verdict)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            response_ms: u.response_ms.map(|m| format!("{m:.1}")).unwrap_or_default(),
            messages: u.messages,
            close: opt(&u.close_code),
        });
        writeln!(out, "\nWebSocket upgrades")?;
        writeln!(out, "{}", table(rows))?;
    }
    if !r.fhrp.groups.is_empty() {
        let rows = r.fhrp.groups.iter().map(|g| FhrpRow {
            protocol: format!("{} {}", g.protocol, g.versions.join("/")),
            group: g.group_id,
            virtual_ip: g.virtual_ip.join(", "),
            virtual_mac: g
                .virtual_mac
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            active: opt(&g.active),
            standby: opt(&g.standby),
            changes: g.state_changes.len(),
        });
        writeln!(out, "\nFirst-hop redundancy groups")?;
        writeln!(out, "{}", table(rows))?;
    }
    if !r.multicast.groups.is_empty() {
        let rows = r.multicast.groups.iter().map(|g| GroupRow {
            group: g.group.clone(),
            mac: g.mac.clone(),
            frames: g.frames,
            senders: g.senders.len(),
            joins: g.joins,
            leaves: g.leaves,
            name: g.name.unwrap_or_default().to_string(),
        });
        writeln!(out, "\nMulticast groups")?;
        writeln!(out, "{}", table(rows))?;
        for col in &r.multicast.collisions {
            writeln!(
                out,
                "  MAC collision {}: {}",
                col.mac,
                col.groups.join(", ")
            )?;
        }
    }
    let mut rows: Vec<ProtoRow> = r
        .protocols
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(p, n)| ProtoRow {
            protocol: p,
            frames: *n,
            share: if c.frames > 0 {
                format!("{:.1}%", *n as f64 * 100.0 / c.frames as f64)
            } else {
                String::new()
            },
        })
        .collect();
    rows.sort_by(|a, b| b.frames.cmp(&a.frames).then(a.protocol.cmp(b.protocol)));
    if !rows.is_empty() {
        writeln!(out, "\nProtocols (frames carrying each, tunnels included)")?;
        writeln!(out, "{}", table(rows))?;
    }
    Ok(())
}
