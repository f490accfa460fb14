//! `netkit watch`: `pcap analyze`'s sections on live traffic, with the namespace and
//! the process behind every upgrade and finding. Captures come from
//! `netkit_os::live::taps`, the engine is `netkit_cmds::watch`.

use crate::commands::pcap::DecodeArgs;
use crate::exit::{Error, Result};
use clap::Args;
use netkit_cmds::output::{write_json_line, Term};
use netkit_cmds::pcap::analyze::graphs::GraphOptions;
use netkit_cmds::pcap::analyze::AnalyzeOptions;
use netkit_cmds::watch::report::{Event, Place, Process};
use netkit_cmds::watch::{view, Watch};
use netkit_os::caps::{self, Cap};
use netkit_os::capture::evidence::EvidenceWriter;
use netkit_os::clock::unix_ns;
use netkit_os::live::taps::{self, Handover, TapFrame, TapPoint, Taps};
use netkit_os::live::{AttributionChoice, ClientOwners, LiveError};
use netkit_os::netns::{self, Netns, Selection};
use netkit_os::signals;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Capture on this interface (repeatable); default: every interface that is up
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// Watch this namespace (name, VRF name, path, pid:N, host) instead of netkit's own
    #[arg(short = 'N', long, value_name = "NS", conflicts_with = "all_netns")]
    pub netns: Option<String>,
    /// Watch the host and every namespace
    #[arg(long)]
    pub all_netns: bool,
    /// One JSON event per line (upgrade, finding, summary) instead of text
    #[arg(long)]
    pub json: bool,
    /// Decrypt TLS with the secrets of an NSS key log (SSLKEYLOGFILE format;
    /// repeatable, read once at start): upgrades over wss:// get verdicts
    #[arg(long, value_name = "FILE")]
    pub tls_keylog: Vec<std::path::PathBuf>,
    /// Seconds between summaries
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub summary_every: f64,
    /// Stop after SECS seconds (default: run until interrupted)
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after N findings
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Write the frames of each finding's connection to DIR as pcapng, one file per
    /// finding (interfaces named namespace/interface, the finding in packet comments);
    /// existing files are never overwritten
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
    /// Stop writing evidence after this many MiB written to DIR
    #[arg(long, value_name = "MB", default_value_t = 100, requires = "write")]
    pub write_mb: u64,
    /// At the end of the run, write everything seen as one self-contained HTML page
    /// (as pcap analyze --html: findings, timeline, graphs of troubled streams), one
    /// report per capture point
    #[arg(long, value_name = "REPORT.html")]
    pub html: Option<PathBuf>,
    /// Stream one conn.log record (NDJSON, the schema of pcap analyze --export) per
    /// connection to FILE as it ends, with its namespace and interface
    #[arg(long, value_name = "FLOWS.ndjson")]
    pub export: Option<PathBuf>,
    /// Who names the client process of each upgrade: bpf (the kernel records each
    /// socket's owner, so a client that is already gone is named too), sock-diag
    /// (sock_diag and /proc when the request is seen), auto (bpf when it loads here,
    /// else sock-diag)
    #[arg(long, value_name = "PATH", default_value = "auto", env = "NETKIT_WATCH_ATTRIBUTION",
          value_parser = ["auto", "bpf", "sock-diag"])]
    pub attribution: String,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

/// Bytes kept per frame: whole frames, since upgrades are judged from HTTP headers.
const SNAPLEN: u32 = 65535;

pub fn run(args: WatchArgs, term: &Term) -> Result {
    if !(args.summary_every.is_finite() && args.summary_every >= 0.1) {
        return Err(Error::BadArgument(
            "--summary-every must be at least 0.1 seconds",
        ));
    }
    if args.duration.is_some_and(|d| !(d.is_finite() && d > 0.0)) {
        return Err(Error::BadArgument("--duration must be a positive number"));
    }
    let opts = AnalyzeOptions {
        dissect: args.decode.dissect_options()?,
        frames: false,
        conns: args.export.is_some(),
        graphs: args.html.as_ref().map(|_| GraphOptions {
            troubled: true,
            ..GraphOptions::default()
        }),
        tls_keylog: super::pcap::read_keylogs(&args.tls_keylog)?,
    };
    // Before any thread starts: the signals must be blocked in every thread.
    let signals = signals::install(true)?;
    let selection = Selection::from_options(args.netns.as_deref(), args.all_netns);
    let namespaces = netns::select(&selection)?;
    let mut wanted = vec![(Cap::NetRaw, "packet capture")];
    if !namespaces.iter().all(netns::is_current) {
        wanted.push((Cap::SysAdmin, "entering other namespaces"));
    }
    caps::require("watch", &wanted)?;
    let points = taps::points(&namespaces, &args.interfaces, args.all_netns)?;
    if points.is_empty() && !args.all_netns {
        return Err(Error::Live(LiveError::NoInterface {
            name: args.interfaces.join(", "),
            place: "this namespace".to_string(),
        }));
    }
    // Loaded while the capabilities are still held; only its maps are read later.
    // Before the captures: how soon their ring blocks are handed over depends on it.
    let (mut owners, fallback) = ClientOwners::start(match args.attribution.as_str() {
        "bpf" => AttributionChoice::Bpf,
        "sock-diag" => AttributionChoice::SockDiag,
        _ => AttributionChoice::Auto,
    })?;
    if let Some(why) = fallback {
        eprintln!("watch: {why}");
    }
    let handover = register_owners(&mut owners, &points);
    let taps = Taps::start(&points, SNAPLEN, args.decode.filter.as_deref(), handover)?;
    let owners = std::cell::RefCell::new(owners);
    // The kernel's drop reasons, joined to the TCP findings when BPF can be used; the
    // probe is loaded while the capabilities are still held.
    let mut drop_feed = match crate::commands::drops::DropFeed::start(&namespaces) {
        Ok(feed) => Some(feed),
        Err(why) => {
            eprintln!("watch: kernel drop reasons not joined to the findings: {why}");
            None
        }
    };
    // The owner lookups enter namespaces and read other users' /proc entries; the
    // captures are open, so nothing else is kept, unless namespaces created later
    // are to be captured too.
    taps::boost_analysis_thread();
    let mut keep = vec![Cap::SysAdmin, Cap::SysPtrace, Cap::DacReadSearch];
    if args.all_netns {
        keep.push(Cap::NetRaw);
    }
    caps::keep_only(&keep)?;

    if let Some(dir) = &args.write {
        std::fs::create_dir_all(dir).map_err(|e| Error::File {
            path: dir.display().to_string(),
            why: e.to_string(),
        })?;
    }
    // Created before the first frame: a path that cannot be written is an error now,
    // not after a long run.
    let mut flows = match &args.export {
        Some(p) if p.extension().is_some_and(|e| e == "parquet") => {
            return Err(Error::Usage(
                "watch --export streams NDJSON records as connections end; Parquet is \
                 written whole (pcap analyze --export FLOWS.parquet on a capture)"
                    .to_string(),
            ))
        }
        Some(p) => Some(super::pcap::Ndjson::create(p)?),
        None => None,
    };
    let mut write_conns = |watch: &mut Watch| -> Result<()> {
        if let Some(f) = &mut flows {
            for r in watch.take_conns() {
                f.record(&r).map_err(Error::Export)?;
            }
            // Streamed: a reader following the file sees each record once it is over.
            f.flush().map_err(Error::Export)?;
        }
        Ok(())
    };
    let start = unix_ns();
    let mut watch = Watch::new(opts, start);
    if args.write.is_some() {
        watch.keep_evidence();
    }
    if args.html.is_some() {
        watch.keep_reports();
    }
    let mut writer = args
        .write
        .as_ref()
        .map(|dir| EvidenceWriter::new(dir.clone(), args.write_mb << 20));
    for p in &points {
        watch.add_tap(place_of(p));
    }
    let mut known: Vec<Netns> = namespaces.clone();
    let mut taps = taps;
    let places = std::cell::RefCell::new(
        points
            .iter()
            .map(|p| (p.netns.label.clone(), p.netns.clone()))
            .collect::<Vec<(String, Netns)>>(),
    );
    let mut owner = |place: &Place, client: SocketAddr, server: SocketAddr| {
        owner_in(
            &places.borrow(),
            &mut owners.borrow_mut(),
            place,
            client,
            server,
        )
    };
    let summary = |watch: &Watch, last: bool| {
        let mut s = watch.summary(unix_ns(), last);
        let o = owners.borrow();
        s.attribution = o.attribution();
        s.owners = o.counts();
        s
    };
    let mut next_scan = Instant::now() + Duration::from_secs(1);
    if points.is_empty() {
        // --all-netns -i IFACE: none has it yet; namespaces created later may.
        eprintln!(
            "watch: no namespace has {} yet; waiting for one that does",
            args.interfaces.join(", ")
        );
    } else if !args.json {
        eprintln!(
            "watch: capturing on {}; Ctrl-C prints the totals",
            points
                .iter()
                .map(|p| format!("{}:{}", p.netns.label, p.interface))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let mut out = Stdout::start()?;
    let begun = Instant::now();
    let every = Duration::from_secs_f64(args.summary_every);
    let mut next_summary = begun + every;
    let mut next_sections = begun + SECTIONS_EVERY;
    let mut events = Vec::new();
    let mut findings = 0u64;
    let mut write_evidence = |watch: &mut Watch| {
        if let Some(w) = &mut writer {
            for e in watch.take_evidence() {
                w.write(&e);
            }
        }
    };
    let emit = |out: &mut dyn Write, events: &mut Vec<Event>| -> Result<u64> {
        let mut n = 0;
        for e in events.drain(..) {
            n += u64::from(matches!(e, Event::Finding(_)));
            if args.json {
                write_json_line(out, &e)?;
            } else {
                view::write_event(out, &e, term)?;
            }
        }
        out.flush()?;
        Ok(n)
    };
    let mut nothing_left = false;
    loop {
        if signals.stop_requested()
            || args
                .duration
                .is_some_and(|d| begun.elapsed().as_secs_f64() >= d)
            || args.count.is_some_and(|c| findings >= c)
        {
            break;
        }
        // Every frame ready at any capture point, before judging: upgrades in one poll.
        if taps.read(Duration::from_millis(100), &mut |f| feed(&mut watch, f)) > 0 {
            owners.borrow_mut().frames_arrived();
        }
        for line in taps.take_failures() {
            eprintln!("watch: {line}");
        }
        // --all-netns: namespaces created since the start are watched too.
        if args.all_netns && Instant::now() >= next_scan {
            next_scan = Instant::now() + Duration::from_secs(1);
            let new: Vec<Netns> = netns::all()
                .unwrap_or_default()
                .into_iter()
                .filter(|n| !known.iter().any(|k| k.dev == n.dev && k.inode == n.inode))
                .collect();
            for ns in new {
                known.push(ns.clone());
                let added = taps::points(std::slice::from_ref(&ns), &args.interfaces, true)
                    .and_then(|points| {
                        let handover = register_owners(&mut owners.borrow_mut(), &points);
                        taps.add(&points, handover).map(|()| points)
                    });
                match added {
                    Ok(points) if points.is_empty() => {}
                    Ok(points) => {
                        eprintln!(
                            "watch: namespace {} appeared; watching {}",
                            ns.label,
                            points
                                .iter()
                                .map(|p| p.interface.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        for p in points {
                            places
                                .borrow_mut()
                                .push((p.netns.label.clone(), p.netns.clone()));
                            watch.add_tap(place_of(&p));
                        }
                    }
                    Err(e) => eprintln!("watch: namespace {} appeared; not watched: {e}", ns.label),
                }
            }
        }
        let told = owners.borrow_mut().tick();
        if let Some(line) = told {
            eprintln!("watch: {line}");
        }
        watch.poll(unix_ns(), &mut owner, &mut events);
        if Instant::now() >= next_sections {
            next_sections = Instant::now() + SECTIONS_EVERY;
            watch.note_sections(unix_ns(), &mut events);
        }
        write_evidence(&mut watch);
        let summary_due = Instant::now() >= next_summary;
        if let Some(feed) = &mut drop_feed {
            feed.pump(&mut watch, false);
        }
        if summary_due {
            next_summary += every;
            watch.note_drops(unix_ns(), &taps.dropped(), &mut events);
            watch.settle_streams(unix_ns(), &mut events);
            write_conns(&mut watch)?;
            events.push(Event::Summary(summary(&watch, false)));
        }
        findings += emit(&mut out, &mut events)?;
        // Under --all-netns a namespace created later may still come.
        if !taps.any_open() && !args.all_netns {
            nothing_left = true;
            break;
        }
    }
    // What the rings still hold, then the upgrades never answered and the totals.
    taps.read(Duration::ZERO, &mut |f| feed(&mut watch, f));
    owners.borrow_mut().frames_arrived();
    let lost = taps.dropped();
    drop(taps);
    if let Some(feed) = &mut drop_feed {
        feed.pump(&mut watch, true);
    }
    watch.note_drops(unix_ns(), &lost, &mut events);
    watch.finish(unix_ns(), &mut owner, &mut events);
    write_evidence(&mut watch);
    write_conns(&mut watch)?;
    if let Some(f) = flows {
        f.finish()?;
    }
    if let Some(dest) = &args.html {
        let let_go = watch.upgrades_not_in_reports();
        if let_go > 0 {
            crate::exit::warn(format_args!(
                "{let_go} upgrades judged early in the run were let go; the page \
                 lacks their findings (the events printed have them)"
            ));
        }
        let reports = watch.take_reports();
        super::pcap::write_html(dest, &reports, "watch")?;
        eprintln!(
            "watch: wrote the report of {} capture points to {}",
            reports.len(),
            dest.display()
        );
    }
    let last = summary(&watch, true);
    let lost = last.dropped;
    events.push(Event::Summary(last));
    emit(&mut out, &mut events)?;
    out.finish()?;
    if lost.kernel > 0 {
        crate::exit::warn(format_args!(
            "{} frames were dropped by the kernel before analysis: the counts above miss them",
            lost.kernel
        ));
    }
    if let Some(w) = &writer {
        let evicted = watch.evidence_evicted();
        eprintln!(
            "watch: wrote {} evidence files ({} bytes) to {}{}{}",
            w.files,
            w.written,
            w.dir.display(),
            if w.refused > 0 {
                format!(
                    "; {} more not written: --write-mb {} reached",
                    w.refused, args.write_mb
                )
            } else {
                String::new()
            },
            if evicted > 0 {
                format!("; {evicted} older frames had left the evidence buffers")
            } else {
                String::new()
            }
        );
    }
    if nothing_left {
        return Err(Error::NothingLeftToWatch);
    }
    Ok(())
}

/// How often the path, tunnel, FHRP and multicast sections are asked what they found
/// (`Watch::note_sections`): a finding of theirs is out within this of its frame.
pub(crate) const SECTIONS_EVERY: Duration = Duration::from_secs(1);

/// Chunks of output (one per flush: the events of one turn of the loop) that may wait
/// for stdout before the loop waits for it.
const OUTPUT_BACKLOG: usize = 4096;

/// stdout, written by a thread of its own. The loop reads the capture rings in
/// place: were it to wait on a full pipe (a reader of `--json` that falls behind, or
/// reads only at the end), the rings would overflow and frames be dropped. Its
/// flushes queue instead, up to [`OUTPUT_BACKLOG`] of them.
struct Stdout {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Stdout {
    fn start() -> std::io::Result<Stdout> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(OUTPUT_BACKLOG);
        let thread = std::thread::Builder::new()
            .name("watch-output".into())
            .spawn(move || {
                let mut out = std::io::stdout().lock();
                for chunk in rx {
                    out.write_all(&chunk)?;
                    out.flush()?;
                }
                Ok(())
            })?;
        Ok(Stdout {
            buf: Vec::new(),
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Waits until everything is written; the error that stopped the writing, if any.
    fn finish(mut self) -> std::io::Result<()> {
        self.flush()?;
        self.stop()
    }

    fn stop(&mut self) -> std::io::Result<()> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(written)) => written,
            Some(Err(_)) => Err(std::io::Error::other("the output thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Stdout {
    /// An early return (an error) still prints what was queued before it.
    fn drop(&mut self) {
        let _ = self.flush();
        let _ = self.stop();
    }
}

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        match &self.tx {
            Some(tx) if tx.send(chunk).is_ok() => Ok(()),
            // The writer stopped: its error (a closed pipe) is the answer.
            _ => self.stop().and(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }
}

/// Has the BPF probe (when there is one) record the sockets of the namespaces of
/// `points`, saying in a line where it cannot. Their ring blocks may wait to fill
/// ([`Handover::Batched`]) only when every owner will come from the probe's records;
/// sock_diag lookups need the frames before the client exits.
fn register_owners(owners: &mut ClientOwners, points: &[TapPoint]) -> Handover {
    let mut all_by_bpf = owners.by_bpf();
    for p in points {
        if let Err(why) = owners.register(&p.netns.label, &p.netns) {
            all_by_bpf = false;
            eprintln!(
                "watch: namespace {}: owners by sock-diag only: {why}",
                p.netns.label
            );
        }
    }
    if all_by_bpf {
        Handover::Batched
    } else {
        Handover::Prompt
    }
}

/// The place a capture point's events name.
pub(crate) fn place_of(p: &TapPoint) -> Place {
    Place {
        netns: p.netns.label.clone(),
        vrf: p.vrf.clone(),
        interface: p.interface.clone(),
    }
}

/// The process behind `client` when it is a socket of the namespace `place` is in
/// (`places`: namespace label to namespace), as `owners` finds it.
pub(crate) fn owner_in(
    places: &[(String, Netns)],
    owners: &mut ClientOwners,
    place: &Place,
    client: SocketAddr,
    server: SocketAddr,
) -> Option<Process> {
    let ns = &places.iter().find(|(label, _)| *label == place.netns)?.1;
    owners.lookup(&place.netns, ns, client, server)
}

/// One frame, read in place from its capture point's ring.
pub(crate) fn feed(watch: &mut Watch, f: TapFrame<'_>) {
    watch.feed(f.tap, f.ts_ns, f.orig_len, f.linktype, f.data);
}
