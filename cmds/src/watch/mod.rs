//! `netkit watch`: the sections of `pcap analyze`, run on live frames.
//!
//! Each capture point (a namespace and one of its interfaces) is analysed on its own,
//! as a capture file of that interface would be: its own [`Analysis`], its own frame
//! numbers from 1, so a frame seen on two interfaces (routed, bridged) is not taken for
//! a retransmission. The OS side (`netkit-os`) hands over every frame its rings hold;
//! after each such read [`Watch::poll`] turns what the sections decided into
//! [`Event`]s: an upgrade as soon as its answer is parsed, with its findings. The
//! clock is passed in.

pub mod evidence;
pub mod kernel_drops;
pub mod report;
pub mod view;

use crate::output::{plural, rfc3339_ns};
use crate::pcap::analyze::export::ConnRecord;
use crate::pcap::analyze::findings::{Code, Finding, Severity};
use crate::pcap::analyze::sections::tcp::{PerFlag, StreamInfo};
use crate::pcap::analyze::sections::websocket::Upgrade;
use crate::pcap::analyze::{Analysis, AnalyzeOptions, SourceInfo};
use crate::source::{Format, RawFrame};
use netkit_dissectors::{dissect_into, reuse_layers, Layer};
use report::{
    Dropped, Event, FindingEvent, KernelDropsHeld, OwnerCounts, Place, Process, Summary,
    TcpSummary, UpgradeCounts, UpgradeEvent,
};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

/// A TCP stream with neither FIN from both sides nor a reset is over, for its
/// findings, once it has been quiet this long.
const SETTLED_AFTER_NS: i64 = 10_000_000_000;

/// Upgrades waiting for their answer, per capture point, past which the oldest are
/// reported as unanswered and forgotten (a flood of unanswered requests must not grow
/// memory without bound; each one let go this way is still reported).
const MAX_PENDING: usize = 10_000;
/// An upgrade still unanswered this long after its request (capture time) is
/// reported as unanswered: no proxy or browser waits that long for a 101.
const UNANSWERED_AFTER_NS: i64 = 60_000_000_000;
/// Findings remembered per capture point so that the end of the run does not repeat
/// them; past this the memory starts over (a repeat at the end is the worst outcome).
const MAX_REMEMBERED: usize = 100_000;
/// With `--html`, reported upgrades kept per capture point for the page written at
/// the end (its findings are made from them); past this the oldest are let go, and
/// counted ([`Watch::upgrades_not_in_reports`]).
const MAX_UPGRADES_FOR_REPORT: usize = 20_000;
/// HTTP connections quiet this long are no longer followed (capture time).
const CONNECTION_IDLE_NS: i64 = 120_000_000_000;
/// A settled stream's summary is let go once the stream has been quiet this long
/// (capture time): its findings are out, and a day's run must not keep a summary of
/// every connection it saw. Longer than [`SETTLED_AFTER_NS`] so that late
/// retransmissions and the last ACKs of a close still find their stream.
const RELEASE_QUIET_NS: i64 = 30_000_000_000;
/// With `--export`, a stream's summary is kept until its connection's record is out:
/// conn.log ends a TCP connection that did not close after 300 s of quiet (capture
/// time), and its record carries the stream's retransmissions and RTT.
const RELEASE_QUIET_EXPORTING_NS: i64 = 330_000_000_000;

/// One capture point being analysed.
struct Tap {
    place: Place,
    analysis: Analysis,
    frames: u64,
    bytes: u64,
    /// Upgrades of the WebSocket section not reported yet, by id, with the client's
    /// process as looked up when the request was first seen (a client that exits
    /// right after its answer is gone by the time the answer is judged).
    pending: Vec<(usize, Option<Process>)>,
    /// The id of the first upgrade not looked at yet (all before are reported or
    /// pending).
    seen: usize,
    /// Upgrades before this id have been let go from the WebSocket section.
    forgotten_before: usize,
    /// Findings already reported, so the end of the run does not repeat them.
    reported: HashSet<(Code, Vec<u64>)>,
    /// TCP streams whose findings were raised (they were over), until their summary
    /// is let go.
    settled: HashSet<u32>,
    /// The TCP counts when the run ended ([`Watch::finish`] hands the analysis over).
    final_tcp: Option<TcpSummary>,
    /// Frames lost before analysis so far, as last told by the capture.
    dropped: Dropped,
    /// Path and tunnel findings reported while running, by code and first frame (their
    /// frame lists and counts grow: the end of the run does not report them again).
    live_found: HashSet<(Code, u64)>,
    /// State changes reported per FHRP group (protocol, family, group id).
    fhrp_told: HashMap<(&'static str, &'static str, u16), usize>,
    /// Multicast MACs whose collision was reported.
    collisions_told: HashSet<String>,
    /// `frames` when the path and tunnel sections were last asked (not again until
    /// more came: asking copies them).
    sections_asked_at: u64,
    /// Capture time of the latest frame.
    last_ts_ns: i64,
    /// `--write`: the recent frames, for evidence.
    buffer: Option<evidence::Buffer>,
}

impl Tap {
    /// Lets go of the TCP detail this capture point no longer needs (see
    /// [`RELEASE_QUIET_NS`]); the frames of upgrades still waiting for their answer
    /// keep their place in the frame-to-stream index the upgrade's report reads.
    fn release(&mut self, latest_ns: i64, quiet_ns: i64) {
        let ws = self.analysis.websocket();
        let keep_frames_from = self
            .pending
            .iter()
            .filter_map(|(i, _)| ws.upgrade(*i).map(|u| u.request_frame))
            .min()
            .unwrap_or(u64::MAX);
        let settled = &self.settled;
        self.analysis.release_streams(
            latest_ns,
            |s| settled.contains(&s.stream) && latest_ns - s.last_ts_ns >= quiet_ns,
            keep_frames_from,
        );
    }
}

/// Everything `watch` has seen so far.
pub struct Watch {
    opts: AnalyzeOptions,
    /// `--write`: keep recent frames and hand out the evidence of each finding.
    keep_evidence: bool,
    evidence: Vec<evidence::Evidence>,
    taps: Vec<Tap>,
    start_ns: i64,
    upgrades: UpgradeCounts,
    findings: u64,
    /// The kernel's drops per connection, when `netkit drops`' probe runs beside.
    kernel_drops: Option<kernel_drops::KernelDrops>,
    /// `--html`: each capture point's whole report, kept at the end of the run.
    reports: Option<Vec<crate::pcap::analyze::Report>>,
    /// `--export`: conn.log records of connections over, not yet taken.
    conns: Vec<ConnRecord>,
    /// The last frame's layers, emptied: their allocation serves the next frame.
    layers: Vec<Layer<'static>>,
}

/// Finds the process behind a client endpoint: `(place, client, server)` to the owner,
/// when the client is a local socket. Given by the binary (it needs the OS).
pub type OwnerLookup<'a> = dyn FnMut(&Place, SocketAddr, SocketAddr) -> Option<Process> + 'a;

impl Watch {
    pub fn new(opts: AnalyzeOptions, start_unix_ns: i64) -> Watch {
        Watch {
            opts,
            keep_evidence: false,
            evidence: Vec::new(),
            taps: Vec::new(),
            start_ns: start_unix_ns,
            upgrades: UpgradeCounts::default(),
            findings: 0,
            layers: Vec::new(),
            kernel_drops: None,
            reports: None,
            conns: Vec::new(),
        }
    }

    /// `--export`: the conn.log records of the connections over since the last call
    /// (quiet past their timeout at a [`Watch::settle_streams`], or all of them at
    /// [`Watch::finish`]), each with its capture point.
    pub fn take_conns(&mut self) -> Vec<ConnRecord> {
        std::mem::take(&mut self.conns)
    }

    /// Keeps each capture point's report at [`Watch::finish`] (for `--html`: the
    /// analysis should record graphs, see [`AnalyzeOptions::graphs`]). Call it before
    /// [`Watch::add_tap`]: without it the reports' `protocols` counts are not kept.
    pub fn keep_reports(&mut self) {
        self.reports.get_or_insert_with(Vec::new);
    }

    /// A capture point's analysis: without a report to keep, only findings are read,
    /// so the per-frame protocol counts are left out.
    fn new_analysis(&self) -> Analysis {
        let mut analysis = Analysis::new(&self.opts);
        if self.reports.is_none() {
            analysis.without_protocol_counts();
        }
        analysis
    }

    /// Upgrades reported during the run but let go before the end, over every capture
    /// point: with --html, the page lacks their findings (the events have them).
    pub fn upgrades_not_in_reports(&self) -> usize {
        self.taps.iter().map(|t| t.forgotten_before).sum()
    }

    /// The reports kept at [`Watch::finish`], one per capture point.
    pub fn take_reports(&mut self) -> Vec<crate::pcap::analyze::Report> {
        self.reports.take().unwrap_or_default()
    }

    /// Notes one interval of the kernel's drops (`netkit drops`' rows): from the first
    /// call on, a stream with a retransmission finding whose packets the kernel
    /// dropped gets a `tcp_drops_in_kernel` finding saying why and where.
    pub fn note_kernel_drops(&mut self, now_unix_ns: i64, rows: &[crate::drops::report::DropRow]) {
        self.kernel_drops
            .get_or_insert_with(Default::default)
            .note(now_unix_ns, rows);
    }

    /// Keeps recent frames from now on, and the frames of each finding's connection
    /// for [`Watch::take_evidence`] (`--write`).
    pub fn keep_evidence(&mut self) {
        self.keep_evidence = true;
        for t in &mut self.taps {
            t.buffer.get_or_insert_with(evidence::Buffer::default);
        }
    }

    /// The evidence of the findings reported since the last call.
    pub fn take_evidence(&mut self) -> Vec<evidence::Evidence> {
        std::mem::take(&mut self.evidence)
    }

    /// Frames let go from the evidence buffers (their findings' files lack them).
    pub fn evidence_evicted(&self) -> u64 {
        self.taps
            .iter()
            .filter_map(|t| t.buffer.as_ref())
            .map(|b| b.evicted)
            .sum()
    }

    /// Starts analysing one more capture point; its frames are fed with the index
    /// returned.
    pub fn add_tap(&mut self, place: Place) -> usize {
        let analysis = self.new_analysis();
        self.taps.push(Tap {
            place,
            analysis,
            frames: 0,
            bytes: 0,
            pending: Vec::new(),
            seen: 0,
            forgotten_before: 0,
            reported: HashSet::new(),
            settled: HashSet::new(),
            final_tcp: None,
            dropped: Dropped::default(),
            live_found: HashSet::new(),
            fhrp_told: HashMap::new(),
            collisions_told: HashSet::new(),
            sections_asked_at: 0,
            last_ts_ns: 0,
            buffer: self.keep_evidence.then(evidence::Buffer::default),
        });
        self.taps.len() - 1
    }

    /// Feeds one frame captured at `tap` (an index from [`Watch::add_tap`]).
    pub fn feed(&mut self, tap: usize, ts_ns: i64, orig_len: u32, linktype: u16, data: &[u8]) {
        let Some(t) = self.taps.get_mut(tap) else {
            return;
        };
        t.frames += 1;
        t.bytes += u64::from(orig_len);
        t.last_ts_ns = t.last_ts_ns.max(ts_ns);
        let raw = RawFrame {
            number: t.frames,
            ts_ns,
            orig_len,
            linktype,
            interface: 0,
            data,
        };
        let layers = reuse_layers(std::mem::take(&mut self.layers));
        let frame = dissect_into(linktype, data, &self.opts.dissect, layers);
        t.analysis.feed(raw, &frame);
        if let Some(b) = &mut t.buffer {
            b.push(
                evidence::KeptFrame {
                    number: t.frames,
                    ts_ns,
                    orig_len,
                    linktype,
                    data: data.to_vec(),
                },
                &frame,
            );
        }
        self.layers = reuse_layers(frame.layers);
    }

    /// The events decided since the last call: each upgrade once answered, with its
    /// findings. `owner` names the client's process.
    pub fn poll(&mut self, now_unix_ns: i64, owner: &mut OwnerLookup<'_>, out: &mut Vec<Event>) {
        let for_report = self.reports.is_some();
        for tap in 0..self.taps.len() {
            let t = &mut self.taps[tap];
            let ws = t.analysis.websocket();
            let next = ws.next_upgrade_id();
            for i in t.seen..next {
                if let Some(u) = ws.upgrade(i) {
                    t.pending.push((i, owner(&t.place, u.client, u.server)));
                }
            }
            t.seen = next;
            let (answered, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut t.pending)
                .into_iter()
                .partition(|(i, _)| ws.upgrade(*i).is_some_and(|u| u.response_frame.is_some()));
            t.pending = waiting;
            let overflow = t.pending.len().saturating_sub(MAX_PENDING);
            let mut given_up: Vec<_> = t.pending.drain(..overflow).collect();
            let now = t.last_ts_ns;
            let (old, young): (Vec<_>, Vec<_>) = std::mem::take(&mut t.pending)
                .into_iter()
                .partition(|(i, _)| {
                    ws.upgrade(*i)
                        .is_some_and(|u| now - u.request_ts_ns() >= UNANSWERED_AFTER_NS)
                });
            t.pending = young;
            given_up.extend(old);
            if t.reported.len() > MAX_REMEMBERED {
                t.reported.clear();
            }
            let keep_from = t.pending.iter().map(|(i, _)| *i).min().unwrap_or(t.seen);
            let decided: Vec<_> = answered.into_iter().chain(given_up).collect();
            self.report_upgrades(tap, decided, owner, now_unix_ns, out);
            // Everything before the oldest upgrade still waiting has been reported;
            // with --html the page's findings are made from them at the end, so the
            // most recent are kept.
            let forget_before = if for_report {
                keep_from.min(next.saturating_sub(MAX_UPGRADES_FOR_REPORT))
            } else {
                keep_from
            };
            let t = &mut self.taps[tap];
            t.analysis.forget_upgrades_before(forget_before);
            t.forgotten_before = t.forgotten_before.max(forget_before);
        }
    }

    /// Reports upgrades `ids` of capture point `tap` (answered, given up, or left at
    /// the end), each with the client's process (as looked up when its request was
    /// seen, else now), its findings remembered so the end of the run does not repeat
    /// them, and their evidence kept.
    fn report_upgrades(
        &mut self,
        tap: usize,
        ids: Vec<(usize, Option<Process>)>,
        owner: &mut OwnerLookup<'_>,
        now_unix_ns: i64,
        out: &mut Vec<Event>,
    ) {
        let t = &mut self.taps[tap];
        for (i, known) in ids {
            let Some((u, found)) = t.analysis.upgrade_so_far(i) else {
                continue;
            };
            let process = known.or_else(|| owner(&t.place, u.client, u.server));
            for f in &found {
                t.reported.insert((f.code, f.frames.clone()));
            }
            if let Some(b) = &t.buffer {
                self.evidence.extend(
                    found
                        .iter()
                        .map(|f| evidence_of(&t.place, b, &u, f, process.as_ref(), now_unix_ns)),
                );
            }
            report_upgrade(
                &t.place,
                &u,
                found,
                process,
                now_unix_ns,
                &mut self.upgrades,
                &mut self.findings,
                out,
            );
        }
    }

    /// At the end of the run: the upgrades never answered, with their findings, then
    /// every other finding the sections raise over the whole run (TCP, tunnels,
    /// paths, sessions closed with an error) and not reported yet, as `pcap analyze`
    /// would raise them on a capture of each interface.
    pub fn finish(&mut self, now_unix_ns: i64, owner: &mut OwnerLookup<'_>, out: &mut Vec<Event>) {
        self.poll(now_unix_ns, owner, out);
        // The FHRP changes and MAC collisions since the last look: the report below
        // has no findings for them.
        self.note_sections(now_unix_ns, out);
        for tap in 0..self.taps.len() {
            let never_answered = std::mem::take(&mut self.taps[tap].pending);
            self.report_upgrades(tap, never_answered, owner, now_unix_ns, out);
            let t = &mut self.taps[tap];
            let tcp = t.analysis.tcp();
            t.final_tcp = Some(TcpSummary {
                streams: tcp.stream_count(),
                tracked: tcp.streams().len() as u64,
                evicted_conversations: tcp.evicted_conversations(),
                flags: tcp.flag_counts().clone(),
            });
            let ends: std::collections::HashMap<u32, (SocketAddr, SocketAddr)> = tcp
                .streams()
                .iter()
                .map(|s| (s.stream, ends_of(s)))
                .collect();
            if self.opts.conns {
                let rest = t.analysis.take_all_conns();
                self.conns
                    .extend(rest.into_iter().map(|r| placed(r, &t.place)));
            }
            let analysis = std::mem::replace(&mut t.analysis, Analysis::new(&self.opts));
            let info = SourceInfo {
                file: format!("{}:{}", t.place.netns, t.place.interface),
                format: Format::Pcapng,
                members: Vec::new(),
            };
            let ts = rfc3339_ns(now_unix_ns);
            let report = analysis.finish(info, &[], &[]);
            for f in report.findings.iter().cloned() {
                if t.reported.contains(&(f.code, f.frames.clone()))
                    || t.live_found.contains(&live_key(&f))
                {
                    continue;
                }
                self.findings += 1;
                let stream_ends = f.stream.and_then(|id| ends.get(&id).copied());
                let kernel = kernel_drop_finding(self.kernel_drops.as_mut(), &f, stream_ends);
                let stream = f.stream;
                out.push(Event::Finding(finding_event(&ts, &t.place, f, None)));
                if let Some((severity, summary)) = kernel {
                    self.findings += 1;
                    out.push(Event::Finding(kernel_event(
                        &ts, &t.place, severity, summary, stream,
                    )));
                }
            }
            if let Some(kept) = &mut self.reports {
                kept.push(report);
            }
        }
    }

    /// The TCP findings (resets, SYNs never answered, retransmission trouble, zero
    /// windows) of the streams that are over: closed by FIN from both sides or a
    /// reset, or quiet for 10 s of capture time (against the latest frame of the
    /// capture point). Each stream's are
    /// raised once; a finding met again at the end of the run is not repeated.
    pub fn settle_streams(&mut self, now_unix_ns: i64, out: &mut Vec<Event>) {
        if let Some(k) = &mut self.kernel_drops {
            k.expire(now_unix_ns);
        }
        for t in &mut self.taps {
            t.analysis
                .forget_idle_connections(t.last_ts_ns, CONNECTION_IDLE_NS);
            let latest = t
                .analysis
                .tcp()
                .streams()
                .iter()
                .map(|s| s.last_ts_ns)
                .max()
                .unwrap_or(0);
            // Before their streams' summaries may be let go: the records read them.
            if self.opts.conns {
                // The clock, not the latest frame: a connection is over after its
                // quiet time even when nothing at all comes after it (live frames are
                // stamped by the kernel on the same clock).
                t.analysis.expire_conns(now_unix_ns.max(t.last_ts_ns));
                let done = t.analysis.take_finished_conns();
                self.conns
                    .extend(done.into_iter().map(|r| placed(r, &t.place)));
            }
            let quiet = if self.opts.conns {
                RELEASE_QUIET_EXPORTING_NS
            } else {
                RELEASE_QUIET_NS
            };
            t.release(t.last_ts_ns, quiet);
            // Streams the TCP engine has let go cannot come back: forget them here too.
            let kept = t.analysis.tcp();
            t.settled.retain(|id| kept.stream(*id).is_some());
            let tcp = t.analysis.tcp();
            let over = |s: &StreamInfo| {
                !t.settled.contains(&s.stream)
                    && (s.closed_cleanly()
                        || !s.resets.is_empty()
                        || latest - s.last_ts_ns >= SETTLED_AFTER_NS)
            };
            let newly: Vec<u32> = tcp
                .streams()
                .iter()
                .filter(|s| over(s))
                .map(|s| s.stream)
                .collect();
            if newly.is_empty() {
                continue;
            }
            let mut found = Vec::new();
            let newly: HashSet<u32> = newly.into_iter().collect();
            tcp.raise_findings_of(|s| newly.contains(&s.stream), Some(latest), &mut found);
            t.settled.extend(newly.iter().copied());
            let ts = rfc3339_ns(now_unix_ns);
            for f in found {
                if !t.reported.insert((f.code, f.frames.clone())) {
                    continue;
                }
                let ends = f.stream.and_then(|id| tcp.stream(id)).map(ends_of);
                self.findings += 1;
                let kernel = kernel_drop_finding(self.kernel_drops.as_mut(), &f, ends);
                let stream = f.stream;
                out.push(Event::Finding(finding_event(&ts, &t.place, f, None)));
                if let Some((severity, summary)) = kernel {
                    self.findings += 1;
                    out.push(Event::Finding(kernel_event(
                        &ts, &t.place, severity, summary, stream,
                    )));
                }
            }
            // Their findings are raised: the kernel's drops of these streams are
            // not read again.
            if let Some(k) = &mut self.kernel_drops {
                for s in tcp.streams().iter().filter(|s| newly.contains(&s.stream)) {
                    let (a, b) = ends_of(s);
                    k.forget(a, b);
                }
            }
        }
    }

    /// What the path, tunnel, FHRP and multicast sections decided since the last
    /// call, as findings: a path or tunnel finding once it is raised (MTUs reported,
    /// senders that do not adapt, black holes, tunnels over the MTU or hashed onto one
    /// outer flow; each once, and not again at the end of the run), each change of
    /// state of an FHRP router, and each MAC two multicast groups of the traffic came
    /// to share. The path and tunnel sections are copied to be asked: once a second
    /// is the pace it is meant for.
    pub fn note_sections(&mut self, now_unix_ns: i64, out: &mut Vec<Event>) {
        let ts = rfc3339_ns(now_unix_ns);
        for t in &mut self.taps {
            if t.live_found.len() > MAX_REMEMBERED {
                // As for `reported`: a repeat at the end is the worst outcome.
                t.live_found.clear();
            }
            let mut found = Vec::new();
            if t.frames > t.sections_asked_at {
                t.sections_asked_at = t.frames;
                found = t.analysis.path_findings_so_far();
                found.retain(|f| t.live_found.insert(live_key(f)));
            }
            for g in t.analysis.fhrp().groups() {
                let told = t
                    .fhrp_told
                    .entry((g.protocol, g.family, g.group_id))
                    .or_insert(0);
                found.extend(
                    g.state_changes
                        .iter()
                        .skip(*told)
                        .filter_map(|c| fhrp_change(g, c)),
                );
                *told = g.state_changes.len();
            }
            for (mac, groups) in t.analysis.multicast().collisions_so_far() {
                if t.collisions_told.insert(mac.clone()) {
                    found.push(mac_collision(&mac, &groups));
                }
            }
            for f in found {
                self.findings += 1;
                out.push(Event::Finding(finding_event(&ts, &t.place, f, None)));
            }
        }
    }

    /// The frames each capture point has lost so far (the kernel's count), in the
    /// order of [`Watch::add_tap`]: a `capture_drops` finding for every point that
    /// lost more since the last call. Never silent: a count only grows.
    pub fn note_drops(&mut self, now_unix_ns: i64, per_tap: &[Dropped], out: &mut Vec<Event>) {
        for (t, now) in self.taps.iter_mut().zip(per_tap) {
            let kernel = now.kernel.saturating_sub(t.dropped.kernel);
            if kernel == 0 {
                continue;
            }
            t.dropped.kernel += kernel;
            self.findings += 1;
            out.push(Event::Finding(FindingEvent {
                ts: rfc3339_ns(now_unix_ns),
                place: t.place.clone(),
                severity: Severity::Warning,
                code: Code::CaptureDrops,
                summary: format!(
                    "{} lost before analysis on {} {}, dropped by the kernel ({} since the start)",
                    plural(kernel, "frame", "frames"),
                    t.place.netns,
                    t.place.interface,
                    t.dropped.kernel
                ),
                stream: None,
                frames: Vec::new(),
                wireshark_filter: String::new(),
                process: None,
            }));
        }
    }

    /// Counts so far over every capture point.
    pub fn summary(&self, now_unix_ns: i64, last: bool) -> Summary {
        let mut flags: PerFlag<u64> = PerFlag::default();
        let mut streams = 0;
        let mut tracked = 0;
        let mut evicted_conversations = 0;
        for t in &self.taps {
            let tcp = t.analysis.tcp();
            let (n, counts) = match &t.final_tcp {
                Some(last) => (last.streams, &last.flags),
                None => (tcp.stream_count(), tcp.flag_counts()),
            };
            let (held, evicted) = match &t.final_tcp {
                Some(last) => (last.tracked, last.evicted_conversations),
                None => (tcp.streams().len() as u64, tcp.evicted_conversations()),
            };
            streams += n;
            tracked += held;
            evicted_conversations += evicted;
            for (sum, n) in flags.0.iter_mut().zip(counts.0.iter()) {
                *sum += n;
            }
        }
        let mut websocket = self.upgrades;
        websocket.pending = self.taps.iter().map(|t| t.pending.len() as u64).sum();
        Summary {
            ts: rfc3339_ns(now_unix_ns),
            elapsed_s: (now_unix_ns - self.start_ns).max(0) as f64 / 1e9,
            last,
            frames: self.taps.iter().map(|t| t.frames).sum(),
            bytes: self.taps.iter().map(|t| t.bytes).sum(),
            tcp: TcpSummary {
                streams,
                tracked,
                evicted_conversations,
                flags,
            },
            websocket,
            findings: self.findings,
            dropped: Dropped {
                kernel: self.taps.iter().map(|t| t.dropped.kernel).sum(),
            },
            interfaces: self.taps.iter().map(|t| t.place.clone()).collect(),
            kernel_drops: self.kernel_drops.as_ref().map(|k| KernelDropsHeld {
                connections: k.held(),
                forgotten: k.forgotten,
            }),
            attribution: "sock-diag",
            owners: OwnerCounts::default(),
        }
    }
}

/// The frames of an upgrade's connection behind one of its findings.
fn evidence_of(
    place: &Place,
    buffer: &evidence::Buffer,
    u: &Upgrade,
    f: &Finding,
    process: Option<&Process>,
    now_unix_ns: i64,
) -> evidence::Evidence {
    let stamp: String = rfc3339_ns(now_unix_ns)
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let who = process
        .map(|p| format!("; pid {} {} ({})", p.pid, p.comm, p.cmdline))
        .unwrap_or_default();
    evidence::Evidence {
        name: format!(
            "{stamp}Z-{}-{}-{}-stream{}",
            place.netns,
            place.interface,
            f.code,
            u.stream.map_or_else(|| "-".to_string(), |s| s.to_string())
        ),
        interface: format!("{}/{}", place.netns, place.interface),
        comment: format!(
            "netkit watch {} {}: {}{who}",
            f.severity.as_str(),
            f.code,
            f.summary
        ),
        finding_frames: f.frames.clone(),
        frames: buffer.of_conn(evidence::ConnKey::new(u.client, u.server)),
    }
}

#[allow(clippy::too_many_arguments)]
fn report_upgrade(
    place: &Place,
    u: &Upgrade,
    found: Vec<Finding>,
    process: Option<Process>,
    now_unix_ns: i64,
    counts: &mut UpgradeCounts,
    findings: &mut u64,
    out: &mut Vec<Event>,
) {
    counts.add(u.verdict);
    let ts = rfc3339_ns(now_unix_ns);
    out.push(Event::Upgrade(UpgradeEvent {
        ts: ts.clone(),
        place: place.clone(),
        stream: u.stream,
        client: u.client,
        server: u.server,
        http2_stream: u.http2_stream,
        method: u.method.clone(),
        host: u.host.clone(),
        path: u.path.clone(),
        status: u.status,
        verdict: u.verdict,
        response_ms: u.response_ms,
        response_ts: u.response_ts_ns().map(rfc3339_ns),
        request_frame: u.request_frame,
        response_frame: u.response_frame,
        process: process.clone(),
    }));
    for f in found {
        *findings += 1;
        out.push(Event::Finding(finding_event(
            &ts,
            place,
            f,
            process.clone(),
        )));
    }
}

/// A stream's two ends, client first.
fn ends_of(s: &StreamInfo) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::new(s.client.0, s.client.1),
        SocketAddr::new(s.server.0, s.server.1),
    )
}

/// The `tcp_drops_in_kernel` finding (severity, summary) that goes with `f`, when `f`
/// is about loss on a stream whose packets the kernel was seen dropping.
fn kernel_drop_finding(
    drops: Option<&mut kernel_drops::KernelDrops>,
    f: &Finding,
    ends: Option<(SocketAddr, SocketAddr)>,
) -> Option<(Severity, String)> {
    if !matches!(f.code, Code::TcpRetransmissions | Code::TcpRtoBackoff) {
        return None;
    }
    let drops = drops?;
    let (a, b) = ends?;
    let (_, text) = drops.describe(a, b)?;
    drops.forget(a, b);
    Some((
        Severity::Warning,
        format!("stream {}: {text}", f.stream.unwrap_or_default()),
    ))
}

fn kernel_event(
    ts: &str,
    place: &Place,
    severity: Severity,
    summary: String,
    stream: Option<u32>,
) -> FindingEvent {
    FindingEvent {
        ts: ts.to_string(),
        place: place.clone(),
        severity,
        code: Code::TcpDropsInKernel,
        summary,
        stream,
        frames: Vec::new(),
        wireshark_filter: stream
            .map(|s| format!("tcp.stream eq {s}"))
            .unwrap_or_default(),
        process: None,
    }
}

/// A finding as an event at `place`, at `ts` (RFC 3339).
fn finding_event(ts: &str, place: &Place, f: Finding, process: Option<Process>) -> FindingEvent {
    FindingEvent {
        ts: ts.to_string(),
        place: place.clone(),
        severity: f.severity,
        code: f.code,
        summary: f.summary,
        stream: f.stream,
        frames: f.frames,
        wireshark_filter: f.wireshark_filter,
        process,
    }
}

/// How a path or tunnel finding reported while running is known again at the end:
/// its code and first frame (its frame list and counts grow in between).
fn live_key(f: &Finding) -> (Code, u64) {
    (f.code, f.frames.first().copied().unwrap_or(0))
}

/// A router's change of state in an FHRP group, as a finding (its first sighting is
/// not a change): a warning when it became or stopped being the active router.
fn fhrp_change(
    g: &crate::pcap::analyze::sections::fhrp::FhrpGroup,
    c: &crate::pcap::analyze::sections::fhrp::StateChange,
) -> Option<Finding> {
    let from = c.from.as_deref()?;
    // HSRP and GLBP call the forwarding router active, VRRP and CARP master.
    let forwarding = |s: &str| s.eq_ignore_ascii_case("active") || s.eq_ignore_ascii_case("master");
    let severity = if forwarding(from) || forwarding(&c.to) {
        Severity::Warning
    } else {
        Severity::Info
    };
    let address = g
        .virtual_ip
        .first()
        .map(|ip| format!("virtual IP {ip}"))
        .or_else(|| g.virtual_mac.first().map(|m| format!("virtual MAC {m}")))
        .unwrap_or_else(|| "no virtual address seen yet".to_string());
    let protocol = match g.protocol {
        "hsrp" => "hsrp || hsrp2",
        p => p,
    };
    let source = if c.router.contains(':') {
        "ipv6.src"
    } else {
        "ip.src"
    };
    Some(Finding {
        group: String::new(),
        ts_ns: None,
        severity,
        code: Code::FhrpStateChange,
        summary: format!(
            "{} group {} ({address}): router {} went from {from} to {}",
            g.protocol.to_uppercase(),
            g.group_id,
            c.router,
            c.to
        ),
        stream: None,
        frames: vec![c.frame],
        wireshark_filter: format!("({protocol}) && {source} == {}", c.router),
    })
}

/// Multicast groups of the traffic that share `mac` (with the frame each was first
/// seen in), as a finding.
fn mac_collision(mac: &str, groups: &[(String, u64)]) -> Finding {
    let mut frames: Vec<u64> = groups.iter().map(|g| g.1).collect();
    frames.sort_unstable();
    let names: Vec<&str> = groups.iter().map(|g| g.0.as_str()).collect();
    Finding {
        group: String::new(),
        ts_ns: None,
        severity: Severity::Warning,
        code: Code::MulticastMacCollision,
        summary: format!(
            "groups {} share the Ethernet MAC {mac}: hosts and switches that filter by MAC get the traffic of all of them",
            names.join(", ")
        ),
        stream: None,
        frames,
        wireshark_filter: format!("eth.dst == {mac}"),
    }
}

#[cfg(test)]
mod tests;

/// A record with the capture point it was seen at.
fn placed(mut r: ConnRecord, place: &Place) -> ConnRecord {
    r.namespace = Some(place.netns.clone());
    r.vrf = place.vrf.clone();
    r.interface = Some(place.interface.clone());
    r
}
