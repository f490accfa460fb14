//! `netkit pcap show|analyze`: arguments, reading the files (`netkit_os::capture`),
//! the engines (`netkit_cmds::pcap`) and their views.

use crate::exit::{warn, Error, Result};
use clap::{Args, Subcommand};
use netkit_cmds::output::{plural, write_json, Term};
use netkit_cmds::pcap::analyze::evidence::Evidence;
use netkit_cmds::pcap::analyze::export::ConnRecord;
use netkit_cmds::pcap::analyze::findings::{Code, Entry};
use netkit_cmds::pcap::analyze::graphs::GraphOptions;
use netkit_cmds::pcap::analyze::parquet_export::ParquetConns;
use netkit_cmds::pcap::analyze::sections::tls::decrypt::KeyLog;
use netkit_cmds::pcap::analyze::{
    self, view, AnalyzeOptions, ProblemKind, Progress, Report, SourceInfo,
};
use netkit_cmds::pcap::show::{show, DisplayFilter, ShowOptions, ShowSummary};
use netkit_cmds::source::{FrameSource, MergedSource};
use netkit_dissectors::DissectOptions;
use netkit_os::capture::pcapng_writer::PcapngWriter;
use netkit_os::capture::{CaptureError, CaptureFile};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PcapCommand {
    /// One line per frame: number, time, length, layer stack and a summary
    Show(ShowArgs),
    /// Analyse captures: what they hold, and what went wrong, most important first
    #[command(after_long_help = findings_help())]
    Analyze(AnalyzeArgs),
    /// Draw one TCP stream (or the capture's throughput) as SVG, or print its numbers
    /// as CSV: time-sequence (Stevens), RTT, throughput, receive window, bytes in flight
    Graph(GraphArgs),
    /// The same traffic captured at two points (both sides of a router or proxy, NAT
    /// allowed): per flow and direction, segments lost between them, one-way delay,
    /// reordering
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The capture at the first point (e.g. the client's side)
    pub a: PathBuf,
    /// The capture at the second point (e.g. the server's side)
    pub b: PathBuf,
    /// Machine-readable report
    #[arg(long)]
    pub json: bool,
    /// Payload bytes hashed into each segment's fingerprint (matching through NAT)
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub payload_bytes: usize,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

/// The finding registry for `pcap analyze --help` and its man page, so that every code
/// a report can carry is explained where people look first.
fn findings_help() -> String {
    let mut list = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = view::write_findings_list(&mut list);
    format!(
        "Findings (the JSON's findings[].code; also --list-findings):\n\n{}",
        String::from_utf8_lossy(&list)
    )
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
    pub(crate) fn dissect_options(&self) -> Result<DissectOptions> {
        let mut o = DissectOptions::default();
        for spec in &self.decode_as {
            o.add_decode_as(spec)?;
        }
        Ok(o)
    }

    /// Opens `path` (`-` is standard input) with the filter, if any.
    fn open(&self, path: &Path) -> Result<CaptureFile> {
        let mut file = CaptureFile::open(path)?;
        if let Some(f) = &self.filter {
            file.set_filter(f)?;
        }
        Ok(file)
    }
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Capture files (pcap or pcapng, plain or gzip/zstd/lz4 compressed), directories
    /// or glob patterns (quoted or not), shown one after the other; - reads standard
    /// input
    #[arg(required_unless_present = "read")]
    pub files: Vec<PathBuf>,
    /// A capture file to read, as tshark's -r (repeatable; read before FILE...)
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<PathBuf>,
    /// Stop after N frames shown (per file)
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub count: Option<u64>,
    /// Show only the frames a Wireshark display filter matches (a subset: tcp.stream,
    /// ip.addr, tcp.port, tcp.flags.*, tcp.analysis.*, http.*, websocket, ...; see
    /// the man page)
    #[arg(short = 'Y', long = "display-filter", value_name = "FILTER")]
    pub display_filter: Option<String>,
    /// One JSON object per frame and line
    #[arg(long)]
    pub json: bool,
    /// Read all the files as one capture, frames interleaved by time stamp (as
    /// mergecap), numbered 1.. in that order
    #[arg(long)]
    pub merge: bool,
    /// Decrypt TLS with the secrets of an NSS key log (SSLKEYLOGFILE format;
    /// repeatable): under each frame, the records it completed, with their HTTP
    /// request or status line
    #[arg(long, value_name = "FILE")]
    pub tls_keylog: Vec<PathBuf>,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, plain or gzip/zstd/lz4 compressed), directories
    /// or glob patterns (quoted or not: 'trace.pcap*'); a directory's or pattern's
    /// files are ordered by their first time stamp; - reads standard input
    #[arg(required_unless_present_any = ["list_findings", "read"])]
    pub files: Vec<PathBuf>,
    /// A capture file to read, as tshark's -r (repeatable; read before FILE...)
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<PathBuf>,
    /// Machine-readable report (an array with one object per file when several)
    #[arg(long)]
    pub json: bool,
    /// List the frame numbers behind each TCP analysis flag
    #[arg(long)]
    pub frames: bool,
    /// Write the frames behind the findings (whole TCP streams) to a pcapng file
    #[arg(long, value_name = "OUT.pcapng")]
    pub write_streams: Option<PathBuf>,
    /// Write one record per connection (TCP stream, UDP or ICMP flow) in the shape of
    /// Zeek's conn.log, with Community ID and netkit.* fields, as NDJSON (Parquet when
    /// the name ends in .parquet)
    #[arg(long, value_name = "FLOWS.ndjson")]
    pub export: Option<PathBuf>,
    /// Write the findings in the shape of Zeek's notice.log, as NDJSON
    #[arg(long, value_name = "NOTICES.ndjson")]
    pub export_notices: Option<PathBuf>,
    /// Decrypt TLS with the secrets of an NSS key log (SSLKEYLOGFILE format;
    /// repeatable): decrypted HTTP and WebSocket are analysed as clear text
    #[arg(long, value_name = "FILE")]
    pub tls_keylog: Vec<PathBuf>,
    /// List every finding code with its severity, meaning and what to check next
    /// (with --json, as an array), and exit
    #[arg(long)]
    pub list_findings: bool,
    /// Analyse all the files as one capture (a rotated set): frames interleaved by
    /// time stamp as mergecap would, one reader per file
    #[arg(long)]
    pub merge: bool,
    /// Files analysed at once (default: the number of cores). For one capture (or
    /// --merge), 2 splits the sections across two threads (the default when there are
    /// two cores or more), and N > 2 splits the TCP analysis over N threads by flow
    /// (with --export or --html: the two-thread split). The reports are the same
    /// whatever N
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Also write the report as one self-contained HTML page (findings first, a
    /// capture timeline, graphs of each troubled stream, the sections as tables)
    #[arg(long, value_name = "REPORT.html")]
    pub html: Option<PathBuf>,
    /// Graph this TCP stream in the HTML report too, troubled or not (repeatable)
    #[arg(long, value_name = "N", requires = "html")]
    pub graph_stream: Vec<u32>,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Capture file (pcap or pcapng, plain or compressed); - reads standard input
    pub file: PathBuf,
    /// The TCP stream (tcp.stream as Wireshark numbers it); without it, --kind
    /// throughput draws the whole capture
    #[arg(long, value_name = "N")]
    pub stream: Option<u32>,
    /// What to draw: tsg (Stevens time-sequence), rtt, throughput, window, inflight
    #[arg(long, value_name = "KIND", value_parser = ["tsg", "rtt", "throughput", "window", "inflight"])]
    pub kind: String,
    /// Write the graph as an SVG file
    #[arg(long, value_name = "OUT.svg")]
    pub svg: Option<PathBuf>,
    /// Print the graph's numbers as CSV on standard output
    #[arg(long)]
    pub csv: bool,
    /// Throughput bin width in seconds, as tshark's -z io,stat,INTERVAL (default:
    /// bins that widen to keep the graph readable)
    #[arg(long, value_name = "SECS")]
    pub interval: Option<f64>,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

/// The files to read: `-r`'s first (tshark's habit), then the positional ones.
fn inputs(read: &[PathBuf], files: &[PathBuf]) -> Vec<PathBuf> {
    read.iter().chain(files).cloned().collect()
}

/// Whether the arguments name exactly one capture file (no directory, no pattern):
/// then `--json` prints one object, otherwise an array, however many files a
/// directory or pattern turned out to hold, so a script gets one shape.
fn one_file_named(named: &[PathBuf], files: &[PathBuf]) -> bool {
    named.len() == 1 && files.len() == 1 && named[0] == files[0]
}

/// Opens every member of a set to be merged; the unreadable ones are named in
/// `unreadable` and left out.
fn open_members(
    decode: &DecodeArgs,
    files: &[PathBuf],
    unreadable: &mut Vec<String>,
) -> Result<Vec<(String, CaptureFile)>> {
    let mut members = Vec::with_capacity(files.len());
    for f in files {
        match decode.open(f) {
            Ok(c) => members.push((f.display().to_string(), c)),
            Err(e) if file_unreadable(&e) => unreadable.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    Ok(members)
}

/// Members of a merge that held nothing readable, as reasons.
fn members_unreadable(src: &MergedSource<CaptureFile>, names: &[String]) -> Vec<String> {
    names
        .iter()
        .zip(src.members())
        .filter_map(|(name, m)| {
            m.nothing_readable()
                .map(|w| nothing_readable(Path::new(name), &w.message).to_string())
        })
        .collect()
}

/// Whether `e` concerns one input file only (missing, unreadable, not a capture), so
/// the other files are still worth reading; anything else (a bad filter, a closed
/// output) stops the whole run.
fn file_unreadable(e: &Error) -> bool {
    matches!(
        e,
        Error::Capture(CaptureError::Io { .. } | CaptureError::NotACapture { .. })
            | Error::NothingReadable { .. }
    )
}

pub fn run(cmd: PcapCommand, term: &Term) -> Result {
    match cmd {
        PcapCommand::Show(a) => run_show(a),
        PcapCommand::Analyze(a) => run_analyze(a, term),
        PcapCommand::Compare(a) => run_compare(a),
        PcapCommand::Graph(a) => super::graph::run(a),
    }
}

fn run_compare(a: CompareArgs) -> Result {
    let opts = netkit_cmds::pcap::compare::CompareOptions {
        dissect: a.decode.dissect_options()?,
        payload_bytes: a.payload_bytes,
    };
    let mut fa = a.decode.open(&a.a)?;
    let mut fb = a.decode.open(&a.b)?;
    let c = netkit_cmds::pcap::compare::compare(
        &mut fa,
        &a.a.display().to_string(),
        &mut fb,
        &a.b.display().to_string(),
        &opts,
    );
    for (path, f) in [(&a.a, &fa), (&a.b, &fb)] {
        if let Some(w) = f.nothing_readable() {
            return Err(nothing_readable(path, &w.message));
        }
        for w in f.warnings() {
            warn(format_args!("{}: {}", path.display(), w.message));
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if a.json {
        write_json(&mut out, &c)?;
    } else {
        netkit_cmds::pcap::compare::write(&mut out, &c)?;
    }
    out.flush()?;
    Ok(())
}

fn run_show(a: ShowArgs) -> Result {
    let display_filter = a
        .display_filter
        .as_deref()
        .map(DisplayFilter::parse)
        .transpose()
        .map_err(|e| Error::Usage(format!("-Y: {e}")))?;
    let named = inputs(&a.read, &a.files);
    let files = netkit_os::capture::inputs::expand(&named);
    let mut opts = ShowOptions {
        count: a.count,
        json: a.json,
        dissect: a.decode.dissect_options()?,
        display_filter,
        file: None,
        tls_keylog: if a.tls_keylog.is_empty() {
            None
        } else {
            Some(read_keylogs(&a.tls_keylog)?)
        },
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut unreadable = Vec::new();
    if a.merge && files.len() > 1 {
        let members = open_members(&a.decode, &files, &mut unreadable)?;
        let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
        if !members.is_empty() {
            let mut src = MergedSource::new(members);
            let summary = show(&mut src, &opts, &mut out)?;
            warn_undecrypted("", &summary);
            unreadable.extend(members_unreadable(&src, &names));
            for w in src.warnings() {
                warn(format_args!("{}", w.message));
            }
        }
        out.flush()?;
        return if unreadable.is_empty() {
            Ok(())
        } else {
            Err(Error::Unreadable(unreadable))
        };
    }
    let mut shown_files = 0;
    for path in &files {
        let mut file = match a.decode.open(path) {
            Ok(f) => f,
            Err(e) if file_unreadable(&e) => {
                unreadable.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        if files.len() > 1 {
            // Several files: each line (JSON) or block (text) says which file it is from.
            opts.file = Some(path.display().to_string());
            if !a.json {
                if shown_files > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "{}", path.display())?;
            }
        }
        shown_files += 1;
        let summary = show(&mut file, &opts, &mut out)?;
        let label = if files.len() > 1 {
            format!("{}: ", path.display())
        } else {
            String::new()
        };
        warn_undecrypted(&label, &summary);
        if let Some(w) = file.nothing_readable() {
            // The damage is the whole story: said once, not again as a warning.
            unreadable.push(nothing_readable(path, &w.message).to_string());
            continue;
        }
        for w in file.warnings() {
            warn(format_args!("{}: {}", path.display(), w.message));
        }
    }
    out.flush()?;
    if unreadable.is_empty() {
        Ok(())
    } else {
        Err(Error::Unreadable(unreadable))
    }
}

/// A progress line on stderr for people: only on a terminal, and only once reading
/// has taken more than a second.
struct ProgressLine {
    name: String,
    total: Option<u64>,
    started: std::time::Instant,
    shown: bool,
}

impl ProgressLine {
    /// `compressed`: progress counts decompressed bytes, which the file size says
    /// nothing about, so no percentage is shown.
    fn new(path: &Path, compressed: bool) -> Option<ProgressLine> {
        let total = std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file() && !compressed)
            .map(|m| m.len());
        ProgressLine::named(path.display().to_string(), total)
    }

    fn named(name: String, total: Option<u64>) -> Option<ProgressLine> {
        netkit_os::term::stderr_is_terminal().then(|| ProgressLine {
            name,
            total,
            started: std::time::Instant::now(),
            shown: false,
        })
    }

    fn update(&mut self, p: Progress) {
        if self.started.elapsed() < std::time::Duration::from_secs(1) {
            return;
        }
        self.shown = true;
        let mb = p.bytes as f64 / 1e6;
        match self.total {
            Some(t) if t > 0 => eprint!(
                "\r{}: {:>3.0}% ({mb:.0} of {:.0} MB)",
                self.name,
                p.bytes as f64 * 100.0 / t as f64,
                t as f64 / 1e6
            ),
            _ => eprint!("\r{}: {mb:.0} MB", self.name),
        }
    }

    fn done(&self) {
        if self.shown {
            // Clear the line so the report starts on a clean terminal.
            eprint!("\r\x1b[K");
        }
    }
}

/// `pcap analyze` of one file (`-` is standard input), with an optional BPF filter; a
/// progress line on stderr when it is a terminal.
pub fn analyze_path(path: &Path, filter: Option<&str>, opts: &AnalyzeOptions) -> Result<Report> {
    analyze_path_exporting(path, filter, opts, 1, &mut |_| Ok(()))
}

/// [`analyze_path`], handing each connection's conn.log record to `conns` as it
/// ends (when `opts.conns`); the first error `conns` returns is the result.
fn analyze_path_exporting(
    path: &Path,
    filter: Option<&str>,
    opts: &AnalyzeOptions,
    jobs: usize,
    conns: &mut dyn FnMut(ConnRecord) -> std::io::Result<()>,
) -> Result<Report> {
    // Split across threads, a mapped file is read where it lies: the reader walks the
    // records and the worker reads the same pages, where a read(2) loop copies every
    // byte once into the reader's buffer and again into the batches (bench/README).
    let (mut file, info) = open_with_info(path, filter, jobs > 1)?;
    let line = ProgressLine::new(path, file.compression().is_some());
    let report = analyze_source(&mut file, info, line, opts, jobs, conns)?;
    // Damage before any readable record leaves nothing to report on: an error, not
    // an empty report that reads like a clean capture.
    if let Some(w) = file.nothing_readable() {
        return Err(nothing_readable(path, &w.message));
    }
    Ok(report)
}

/// The analysis of any source, with its progress line and the connections' sink;
/// `jobs` above 1 splits the sections across threads (the same report).
fn analyze_source(
    source: &mut dyn FrameSource,
    info: SourceInfo,
    mut line: Option<ProgressLine>,
    opts: &AnalyzeOptions,
    jobs: usize,
    conns: &mut dyn FnMut(ConnRecord) -> std::io::Result<()>,
) -> Result<Report> {
    // The first write error stops the writing, and is the result once reading is over.
    let mut failed: Option<std::io::Error> = None;
    let mut sink = |r: ConnRecord| {
        if failed.is_none() {
            failed = conns(r).err();
        }
    };
    let mut progress = |p| {
        if let Some(l) = &mut line {
            l.update(p);
        }
    };
    // Two threads: the capture side on the reading thread and the stream side on one
    // worker (cmds/src/pcap/analyze/parallel.rs), which beat a split by flow on two
    // cores (bench/jobs.sh). More: by flow, unless records are handed out mid-run
    // (`--export`) or graphs recorded; those read the TCP engine as it goes, which a
    // split by flow cannot give in order (see cmds/src/pcap/analyze/sharded.rs).
    let report = if jobs > 2 && !opts.conns && opts.graphs.is_none() {
        analyze::sharded::analyze_sharded(source, info, opts, jobs, &mut progress)
    } else if jobs > 1 {
        analyze::parallel::analyze_exporting_parallel(source, info, opts, &mut progress, &mut sink)
    } else {
        analyze::analyze_exporting(source, info, opts, &mut progress, &mut sink)
    };
    if let Some(l) = &line {
        l.done();
    }
    if let Some(e) = failed {
        return Err(Error::Export(e));
    }
    Ok(report)
}

/// `--merge`: the files as one capture. `None` when none of them could be read (the
/// reasons are then all in `unreadable`).
fn analyze_merged(
    named: &[PathBuf],
    files: &[PathBuf],
    decode: &DecodeArgs,
    opts: &AnalyzeOptions,
    jobs: usize,
    unreadable: &mut Vec<String>,
    conns: &mut dyn FnMut(ConnRecord) -> std::io::Result<()>,
) -> Result<Option<Report>> {
    let members = open_members(decode, files, unreadable)?;
    let Some((_, first)) = members.first() else {
        return Ok(None);
    };
    let format = first.format();
    let compressed = members.iter().any(|(_, m)| m.compression().is_some());
    let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
    let total = (!compressed)
        .then(|| {
            names
                .iter()
                .map(|n| std::fs::metadata(n).ok().map(|m| m.len()))
                .sum::<Option<u64>>()
        })
        .flatten();
    let label = named
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let info = SourceInfo {
        file: label.clone(),
        format,
        members: names.clone(),
    };
    let mut src = MergedSource::new(members);
    let mut report = analyze_source(
        &mut src,
        info,
        ProgressLine::named(label, total),
        opts,
        jobs,
        conns,
    )?;
    let empty = members_unreadable(&src, &names);
    if empty.len() == names.len() {
        unreadable.extend(empty);
        return Ok(None);
    }
    unreadable.extend(empty);
    report.capture.unreadable_files = unreadable.clone();
    Ok(Some(report))
}

/// One file's report and, when exporting, its connections in the order they ended.
type FileAnalysis = (Report, Vec<ConnRecord>);

/// Each file's analysis, `jobs` files at a time, in the order of `files`. The
/// connections are kept per file (only when exporting) and written in file order
/// afterwards, so the export is the same as with one job.
fn analyze_in_parallel(
    files: &[PathBuf],
    jobs: usize,
    filter: Option<&str>,
    opts: &AnalyzeOptions,
) -> Vec<Result<FileAnalysis>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FileAnalysis>>>> =
        Mutex::new(files.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(files.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let mut conns = Vec::new();
                let r = analyze_path_quietly(path, filter, opts, &mut conns);
                let r = r.map(|report| (report, conns));
                // A worker that panicked poisons the lock; the others still finish.
                let mut slots = results.lock().unwrap_or_else(|p| p.into_inner());
                slots[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or(Err(Error::WorkerFailed)))
        .collect()
}

/// `path` opened with `filter` applied, and how the report names it.
/// `mapped`: memory-map a regular file (anything else, standard input included, is
/// streamed as by [`CaptureFile::open`]).
fn open_with_info(
    path: &Path,
    filter: Option<&str>,
    mapped: bool,
) -> Result<(CaptureFile, SourceInfo)> {
    let mut file = if mapped && path.as_os_str() != "-" {
        CaptureFile::open_mapped(path)?
    } else {
        CaptureFile::open(path)?
    };
    if let Some(f) = filter {
        file.set_filter(f)?;
    }
    let info = SourceInfo {
        file: path.display().to_string(),
        format: file.format(),
        members: Vec::new(),
    };
    Ok((file, info))
}

/// [`analyze_path_exporting`] without a progress line (several files at once would
/// draw over each other), keeping the connections in `conns`.
fn analyze_path_quietly(
    path: &Path,
    filter: Option<&str>,
    opts: &AnalyzeOptions,
    conns: &mut Vec<ConnRecord>,
) -> Result<Report> {
    let (mut file, info) = open_with_info(path, filter, false)?;
    let keep = opts.conns;
    let report = analyze_source(&mut file, info, None, opts, 1, &mut |r| {
        if keep {
            conns.push(r);
        }
        Ok(())
    })?;
    if let Some(w) = file.nothing_readable() {
        return Err(nothing_readable(path, &w.message));
    }
    Ok(report)
}

/// `--jobs`' default: the cores this process may run on.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn nothing_readable(path: &Path, why: &str) -> Error {
    Error::NothingReadable {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

/// `--write-streams`: reads `input` again and writes the frames behind the findings.
/// `pcap show`'s warnings for what it could not decrypt (`label`: the file, when
/// several are shown): never a silent gap in the decrypted lines.
fn warn_undecrypted(label: &str, s: &ShowSummary) {
    if s.sessions_without_keys > 0 {
        warn(format_args!(
            "{label}the key log has no secrets for {} TLS session(s): they stay encrypted",
            s.sessions_without_keys
        ));
    }
    if s.decryption_failures > 0 {
        warn(format_args!(
            "{label}{} TLS record(s) failed authentication (wrong keys or damaged data) and are not shown",
            s.decryption_failures
        ));
    }
    if s.keylog_bad_lines > 0 {
        warn(format_args!(
            "{label}{} key log line(s) are not in the NSS key log format and were skipped",
            s.keylog_bad_lines
        ));
    }
}

/// The secrets of every `--tls-keylog` file, in one key log.
pub fn read_keylogs(paths: &[PathBuf]) -> Result<KeyLog> {
    let mut log = KeyLog::default();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|e| Error::File {
            path: p.display().to_string(),
            why: e.to_string(),
        })?;
        log.add_text(&text);
    }
    Ok(log)
}

fn write_streams(
    input: &Path,
    a: &AnalyzeArgs,
    opts: &AnalyzeOptions,
    r: &Report,
    out: &Path,
) -> Result<u64> {
    if input.as_os_str() == "-" {
        return Err(Error::WriteStreamsFromStdin);
    }
    let evidence = Evidence::of(r);
    let mut file = a.decode.open(input)?;
    let fail = |e: std::io::Error| Error::File {
        path: out.display().to_string(),
        why: e.to_string(),
    };
    let sink = std::fs::File::create(out).map_err(fail)?;
    let mut w = PcapngWriter::new(std::io::BufWriter::new(sink)).map_err(fail)?;
    // The key logs go along, before the packets they decrypt, so the streams written
    // open in Wireshark (and here) without them.
    for k in &a.tls_keylog {
        let text = std::fs::read(k).map_err(|e| Error::File {
            path: k.display().to_string(),
            why: e.to_string(),
        })?;
        w.write_tls_secrets(&text).map_err(fail)?;
    }
    let mut written = 0u64;
    while let Some(raw) = file.next_frame() {
        if evidence.wants(&raw, &opts.dissect) {
            w.write(raw.linktype, raw.ts_ns, raw.orig_len, raw.data)
                .map_err(fail)?;
            written += 1;
        }
        // Secrets embedded in the input are kept too (read with the frame after
        // them; written before the next frame kept).
        if let Some(text) = file.take_tls_secrets() {
            w.write_tls_secrets(text.as_bytes()).map_err(fail)?;
        }
    }
    w.finish().map_err(fail)?;
    Ok(written)
}

fn run_analyze(a: AnalyzeArgs, term: &Term) -> Result {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if a.list_findings {
        if a.json {
            let entries: Vec<Entry> = Code::ALL.iter().map(|c| c.entry()).collect();
            write_json(&mut out, &entries)?;
        } else {
            view::write_findings_list(&mut out)?;
        }
        out.flush()?;
        return Ok(());
    }
    let opts = AnalyzeOptions {
        dissect: a.decode.dissect_options()?,
        frames: a.frames,
        conns: a.export.is_some(),
        graphs: a.html.as_ref().map(|_| GraphOptions {
            chosen: a.graph_stream.clone(),
            troubled: true,
            ..GraphOptions::default()
        }),
        tls_keylog: read_keylogs(&a.tls_keylog)?,
    };
    let named = inputs(&a.read, &a.files);
    let files = netkit_os::capture::inputs::expand(&named);
    if a.write_streams.is_some() && files.len() > 1 {
        return Err(Error::WriteStreamsOfManyFiles);
    }
    if a.jobs == Some(0) {
        return Err(Error::Usage("--jobs: at least 1".to_string()));
    }
    let jobs = a.jobs.unwrap_or_else(default_jobs);
    // One capture: two threads when there are two cores (the sections split; 1.41x
    // faster than one thread on bench/jobs.sh's capture, for about 1.6x the CPU, since
    // both threads dissect every frame). More only when asked for: the split by flow
    // helps captures of many busy streams, and cost more than it gave on two cores.
    let threads_per_capture = a.jobs.unwrap_or_else(|| default_jobs().min(2));
    let mut flows = a.export.as_deref().map(Flows::create).transpose()?;
    let mut notices = a
        .export_notices
        .as_deref()
        .map(|p| {
            if is_parquet(p) {
                return Err(Error::File {
                    path: p.display().to_string(),
                    why: "notices are written as NDJSON only (name it .ndjson)".to_string(),
                });
            }
            Ndjson::create(p)
        })
        .transpose()?;
    let mut to_flows = |rec: ConnRecord| match &mut flows {
        Some(w) => w.record(&rec),
        None => Ok(()),
    };
    let mut reports = Vec::with_capacity(files.len());
    // A file that cannot be read does not hide the reports of those that can: they
    // are printed, the unreadable ones named on stderr, and the exit status is 1.
    let mut unreadable = Vec::new();
    let merged = a.merge && files.len() > 1;
    if merged {
        let r = analyze_merged(
            &named,
            &files,
            &a.decode,
            &opts,
            threads_per_capture,
            &mut unreadable,
            &mut to_flows,
        )?;
        reports.extend(r);
    } else if jobs > 1 && files.len() > 1 {
        let filter = a.decode.filter.as_deref();
        for r in analyze_in_parallel(&files, jobs, filter, &opts) {
            match r {
                Ok((report, conns)) => {
                    for c in conns {
                        to_flows(c).map_err(Error::Export)?;
                    }
                    reports.push(report);
                }
                Err(e) if file_unreadable(&e) => unreadable.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
    } else {
        for f in &files {
            let filter = a.decode.filter.as_deref();
            match analyze_path_exporting(f, filter, &opts, threads_per_capture, &mut to_flows) {
                Ok(r) => reports.push(r),
                Err(e) if file_unreadable(&e) => unreadable.push(e.to_string()),
                Err(e) => return Err(e),
            }
        }
    }
    for r in &reports {
        if let Some(w) = &mut notices {
            for n in &r.notices {
                w.record(n).map_err(Error::Export)?;
            }
        }
        if let (Some(dest), [f]) = (&a.write_streams, files.as_slice()) {
            let n = write_streams(f, &a, &opts, r, dest)?;
            eprintln!(
                "netkit: wrote {} behind {} to {}",
                plural(n as u64, "frame", "frames"),
                plural(r.findings.len() as u64, "finding", "findings"),
                dest.display()
            );
        }
    }
    if reports.is_empty() {
        // Nothing to print: the reasons are the whole answer.
        return Err(Error::Unreadable(unreadable));
    }
    if a.json {
        // The shape follows the files asked for, not how many could be read, so a
        // script reading an array still gets one.
        if merged || one_file_named(&named, &files) {
            write_json(&mut out, &reports[0])?;
        } else {
            write_json(&mut out, &reports)?;
        }
    } else {
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            view::write(&mut out, r, term)?;
        }
        if reports.len() > 1 || (!merged && !unreadable.is_empty()) {
            write_total(&mut out, &reports, unreadable.len())?;
        }
    }
    out.flush()?;
    if let Some(dest) = &a.html {
        write_html(dest, &reports, "pcap analyze")?;
    }
    if let Some(w) = flows {
        w.finish()?;
    }
    if let Some(w) = notices {
        w.finish()?;
    }
    for r in &reports {
        for e in r
            .capture
            .errors
            .iter()
            .filter(|e| e.kind == ProblemKind::Read)
        {
            warn(format_args!("{}: {}", r.capture.file, e.message));
        }
    }
    if unreadable.is_empty() {
        Ok(())
    } else {
        Err(Error::Unreadable(unreadable))
    }
}

/// The last lines of a report on several files: their sum.
fn write_total(out: &mut impl Write, reports: &[Report], unreadable: usize) -> Result {
    let frames: u64 = reports.iter().map(|r| r.capture.frames).sum();
    let bytes: u64 = reports.iter().map(|r| r.capture.bytes).sum();
    let findings: u64 = reports.iter().map(|r| r.findings.len() as u64).sum();
    let streams: u64 = reports.iter().map(|r| r.tcp.streams).sum();
    writeln!(
        out,
        "\nTotal: {} analysed{}, {}, {} on the wire, {}, {}",
        plural(reports.len() as u64, "file", "files"),
        if unreadable > 0 {
            format!(" ({unreadable} unreadable, named on stderr)")
        } else {
            String::new()
        },
        plural(frames, "frame", "frames"),
        plural(bytes, "byte", "bytes"),
        plural(streams, "TCP stream", "TCP streams"),
        plural(findings, "finding", "findings"),
    )?;
    Ok(())
}

/// `--html`: the page, written whole to a file (created or replaced).
pub fn write_html(dest: &Path, reports: &[Report], title: &str) -> Result {
    let fail = |e: std::io::Error| Error::File {
        path: dest.display().to_string(),
        why: e.to_string(),
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(dest).map_err(fail)?);
    analyze::html::write(&mut w, reports, title).map_err(fail)?;
    w.flush().map_err(fail)
}

/// `--export`'s file: Parquet when its name ends in `.parquet`, NDJSON otherwise.
enum Flows {
    Ndjson(Ndjson),
    // Boxed: the writer is a few hundred bytes, the NDJSON one a buffer pointer.
    Parquet(
        PathBuf,
        Box<ParquetConns<std::io::BufWriter<std::fs::File>>>,
    ),
}

fn is_parquet(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "parquet")
}

fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let file = std::fs::File::create(path).map_err(|e| file_error(path, e))?;
    Ok(std::io::BufWriter::new(file))
}

fn file_error(path: &Path, e: std::io::Error) -> Error {
    Error::File {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

/// An I/O error with the file's name in front.
fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl Flows {
    fn create(path: &Path) -> Result<Flows> {
        if is_parquet(path) {
            let w = ParquetConns::new(create(path)?).map_err(|e| file_error(path, e))?;
            Ok(Flows::Parquet(path.to_path_buf(), Box::new(w)))
        } else {
            Ok(Flows::Ndjson(Ndjson::create(path)?))
        }
    }

    fn record(&mut self, r: &ConnRecord) -> std::io::Result<()> {
        match self {
            Flows::Ndjson(w) => w.record(r),
            Flows::Parquet(path, w) => w.push(r).map_err(|e| named(path, e)),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Flows::Ndjson(w) => w.finish(),
            Flows::Parquet(path, w) => w.finish().map_err(|e| file_error(&path, e)),
        }
    }
}

/// An NDJSON export file: one JSON record per line.
pub(super) struct Ndjson {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl Ndjson {
    pub(super) fn create(path: &Path) -> Result<Ndjson> {
        Ok(Ndjson {
            path: path.to_path_buf(),
            out: create(path)?,
        })
    }

    /// Writes one record; an error names the file.
    pub(super) fn record(&mut self, r: &impl serde::Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, r)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| named(&self.path, e))
    }

    /// Hands what is written so far to the file (a streamed export).
    pub(super) fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().map_err(|e| named(&self.path, e))
    }

    pub(super) fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| file_error(&self.path, e))
    }
}
