//! `top --findings`: `netkit watch`'s engine on the namespaces top shows, its human
//! lines handed to the screen's findings pane (key F). A capture of its own with whole
//! frames (top's rings keep only headers of bulk TCP, and upgrades are judged from
//! HTTP headers), read and analysed on a thread of its own so the screen never waits
//! for analysis.

use crate::commands::watch::{feed, owner_in, place_of, SECTIONS_EVERY};
use crate::exit::Result;
use netkit_cmds::output::Term;
use netkit_cmds::pcap::analyze::AnalyzeOptions;
use netkit_cmds::top::view::tui::FindingsPane;
use netkit_cmds::watch::report::{Event, Place};
use netkit_cmds::watch::{view, Watch};
use netkit_os::caps::{self, Cap};
use netkit_os::clock::unix_ns;
use netkit_os::live::taps::{self, Handover, Taps};
use netkit_os::live::LiveError;
use netkit_os::live::{AttributionChoice, ClientOwners};
use netkit_os::netns::Netns;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whole frames, as `watch` captures them.
const SNAPLEN: u32 = 65535;
/// Lines kept for the pane; older ones are counted as dropped, never silently lost.
const MAX_LINES: usize = 500;
/// How often streams quiet for long are settled and ring drops read, as watch's
/// summaries do.
const SETTLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Shared {
    lines: VecDeque<String>,
    lines_dropped: u64,
    findings: u64,
}

/// The running analysis behind the pane.
pub struct LiveFindings {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LiveFindings {
    /// Opens the captures (this needs the capabilities top still holds, so it runs
    /// before top drops them) and starts the analysis thread. The namespaces are those
    /// present now; `interfaces` empty means every interface that is up.
    pub fn start(
        namespaces: &[Netns],
        interfaces: &[String],
        all_netns: bool,
    ) -> Result<LiveFindings> {
        let points = taps::points(namespaces, interfaces, all_netns)?;
        // The pane's owners come from sock_diag: blocks handed over promptly.
        let taps = Taps::start(&points, SNAPLEN, None, Handover::Prompt)?;
        // Kernel drop reasons joined to the findings when BPF can be used (loaded now,
        // while top still holds its capabilities); the pane says when not.
        let (drop_feed, no_feed) = match crate::commands::drops::DropFeed::start(namespaces) {
            Ok(feed) => (Some(feed), None),
            Err(why) => (None, Some(why)),
        };
        let mut watch = Watch::new(AnalyzeOptions::default(), unix_ns());
        for p in &points {
            watch.add_tap(place_of(p));
        }
        let places: Vec<(String, Netns)> = points
            .iter()
            .map(|p| (p.netns.label.clone(), p.netns.clone()))
            .collect();
        let shared = Arc::new(Mutex::new(Shared::default()));
        if let Some(why) = no_feed {
            push(
                &shared,
                format!("kernel drop reasons not joined: {why}"),
                false,
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("top-findings".into())
                .spawn(move || analyse(taps, watch, drop_feed, &places, &shared, &stop))
                .map_err(|e| LiveError::CaptureThread(format!("(findings: {e})")))?
        };
        Ok(LiveFindings {
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// Copies what is new into the pane, keeping whether it is shown.
    pub fn fill(&self, pane: &mut FindingsPane) {
        let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        pane.lines = s.lines.iter().cloned().collect();
        pane.lines_dropped = s.lines_dropped;
        pane.findings = s.findings;
    }
}

impl Drop for LiveFindings {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn analyse(
    mut taps: Taps,
    mut watch: Watch,
    mut drop_feed: Option<crate::commands::drops::DropFeed>,
    places: &[(String, Netns)],
    shared: &Mutex<Shared>,
    stop: &AtomicBool,
) {
    // This thread reads the captures' rings: ahead of ordinary processes, so a busy
    // machine does not make them overflow.
    taps::boost_analysis_thread();
    // Owner lookups enter namespaces and read other users' /proc entries; nothing
    // else is needed once the captures are open. If the drop fails the thread keeps
    // what it inherited, which is no more than top itself had.
    let _ = caps::keep_only(&[Cap::SysAdmin, Cap::SysPtrace, Cap::DacReadSearch]);
    // The pane's upgrades are named by sock_diag: top's own probe (if any) counts
    // bytes, and a second one for this pane would cost more than it names.
    let Ok((mut owners, _)) = ClientOwners::start(AttributionChoice::SockDiag) else {
        return;
    };
    let mut owner =
        |place: &Place, client, server| owner_in(places, &mut owners, place, client, server);
    let term = Term::default();
    let mut events = Vec::new();
    let mut next_settle = Instant::now() + SETTLE_EVERY;
    let mut next_sections = Instant::now() + SECTIONS_EVERY;
    while !stop.load(Ordering::Relaxed) {
        taps.read(Duration::from_millis(100), &mut |f| feed(&mut watch, f));
        watch.poll(unix_ns(), &mut owner, &mut events);
        if Instant::now() >= next_sections {
            next_sections = Instant::now() + SECTIONS_EVERY;
            watch.note_sections(unix_ns(), &mut events);
        }
        let settle_due = Instant::now() >= next_settle;
        if let Some(feed) = &mut drop_feed {
            feed.pump(&mut watch, false);
        }
        if settle_due {
            next_settle = Instant::now() + SETTLE_EVERY;
            watch.note_drops(unix_ns(), &taps.dropped(), &mut events);
            watch.settle_streams(unix_ns(), &mut events);
        }
        for line in taps.take_failures() {
            push(shared, format!("capture failed: {line}"), false);
        }
        for e in events.drain(..) {
            if matches!(e, Event::Summary(_)) {
                continue;
            }
            let mut text = Vec::new();
            if view::write_event(&mut text, &e, &term).is_err() {
                continue;
            }
            // The pane has one line per event: the finding or upgrade line, not the
            // Wireshark filter under it (watch and pcap analyze give that).
            let line = String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            if !line.is_empty() {
                push(shared, line, matches!(e, Event::Finding(_)));
            }
        }
    }
}

fn push(shared: &Mutex<Shared>, line: String, finding: bool) {
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    if s.lines.len() >= MAX_LINES {
        s.lines.pop_front();
        s.lines_dropped += 1;
    }
    s.lines.push_back(line);
    s.findings += u64::from(finding);
}
