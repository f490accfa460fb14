//! The one place that knows more than one section: each section finishes into its
//! output and findings, and what needs two of them is joined here.
//!
//! - websocket x tcp: each upgrade gets its TCP stream, the retransmissions and resets
//!   on its connection after the answer, and its findings say where the capture's
//!   retransmissions are relative to it (the motivating capture hid one rejected
//!   `GET /socket` among hundreds of retransmissions elsewhere);
//! - websocket x census: WebSocket frames follow a handshake only the stream engine
//!   saw, so the census counts them from there;
//! - tunnels x paths: either one reaching a memory bound marks `tunnels.truncated`;
//! - conn x tcp x websocket: a conn.log record carries its stream's retransmissions,
//!   duplicate ACKs, handshake RTT and WebSocket verdict; findings x tcp: a notice
//!   names its stream's connection as the conn.log record does.

use super::export::{ConnRecord, NoticeConn, NoticeRecord, StreamFacts};
use super::findings::{frames_filter, rank, settle_groups, Code, Finding, Severity};
use super::report::{CaptureProblem, ProblemKind, Report, SourceInfo, WebSocketSection};
use super::sections::conn::Conn;
use super::sections::tcp::{StreamInfo, TcpAnalysis, TcpFlag};
use super::sections::tls::findings as tls_findings;
use super::sections::websocket::findings::{self as ws_findings, RetransPlacement};
use super::sections::websocket::Upgrade;
use super::sections::websocket::{Verdict, WebSocketAnalysis};
use super::{Analysis, FastMap};
use crate::output::plural;
use crate::source::ReadWarning;

pub(super) fn finish(
    run: Analysis,
    info: SourceInfo,
    linktypes: &[u16],
    read_problems: &[ReadWarning],
) -> Report {
    let Analysis {
        capture,
        mut tcp,
        mut census,
        websocket,
        tls,
        multicast,
        fhrp,
        tunnels,
        paths,
        conn: _,
        list_frames,
        timeline,
        plain: _,
        paths_on_capture_side: _,
    } = run;
    let mut found: Vec<Finding> = Vec::new();

    census.add("websocket", websocket.websocket_frames());
    let untracked_connections = websocket.untracked_connections();
    let mut upgrades = websocket.into_upgrades();

    // websocket x tcp.
    let tcp_report = tcp.report(list_frames);
    let total_retrans = tcp_report.flags[TcpFlag::Retransmission];
    let streams_with_retrans = streams_with_retransmissions(&tcp);
    let placements: Vec<RetransPlacement> = upgrades
        .iter_mut()
        .map(|u| join_upgrade(u, &tcp, total_retrans, streams_with_retrans))
        .collect();
    ws_findings::raise(&upgrades, &placements, &mut found);
    tcp.raise_findings(capture.last_ts(), &mut found);
    let tls = tls.finish();
    tls_findings::raise(&tls, capture.last_ts(), &mut found);

    // tunnels x paths.
    let paths_truncated = paths.truncated();
    let mut tunnels = tunnels.finish(&mut found);
    tunnels.truncated |= paths_truncated;
    let paths = paths.finish(&mut found);

    capture_damage(read_problems, &mut found);
    // A finding about a stream that does not say when it happened happened when its
    // stream did, as far as a group's first and last time go.
    for f in found.iter_mut().filter(|f| f.ts_ns.is_none()) {
        f.ts_ns = f.stream.and_then(|s| tcp.stream(s)).map(|s| s.first_ts_ns);
    }
    settle_groups(&mut found);
    rank(&mut found);
    let notices = notices(&found, &tcp, capture.first_ts());
    let graphs = timeline.map(|t| {
        let recorded = tcp.take_series();
        super::graphs::select(t, recorded, &tcp, &found)
    });
    let read = read_problems.iter().map(|w| CaptureProblem {
        frame: w.frame,
        offset: w.offset,
        kind: ProblemKind::Read,
        message: w.message.clone(),
    });
    Report {
        capture: capture.summary(info, linktypes.to_vec(), read),
        protocols: census.counts(),
        tcp: tcp_report,
        websocket: WebSocketSection {
            upgrades,
            untracked_connections,
        },
        tls,
        multicast: multicast.finish(),
        fhrp: fhrp.finish(),
        tunnels,
        paths,
        findings: found,
        notices,
        graphs,
    }
}

/// The findings as notice.log records: at the finding's time (its first frame's;
/// else its stream's start, else the capture's), naming the stream's connection when
/// it is about one, and carrying the finding's group.
fn notices(found: &[Finding], tcp: &TcpAnalysis, capture_start: Option<i64>) -> Vec<NoticeRecord> {
    found
        .iter()
        .map(|f| {
            let info = f.stream.and_then(|s| tcp.stream(s));
            let conn = info.map(|s| NoticeConn {
                client: s.client,
                server: s.server,
                first_ts_ns: s.first_ts_ns,
            });
            let ts = f
                .ts_ns
                .or(info.map(|s| s.first_ts_ns))
                .or(capture_start)
                .unwrap_or(0);
            NoticeRecord::of(f, ts, conn)
        })
        .collect()
}

/// The WebSocket verdict of each stream with an upgrade (the last one's, should a
/// connection carry several).
fn verdicts(ws: &WebSocketAnalysis, tcp: &TcpAnalysis) -> FastMap<u32, Verdict> {
    let mut out = FastMap::default();
    for u in ws.upgrades() {
        if let Some(s) = tcp.stream_of_frame(u.request_frame) {
            out.insert(s, u.verdict);
        }
    }
    out
}

fn records(mut conns: Vec<Conn>, tcp: &TcpAnalysis, ws: &WebSocketAnalysis) -> Vec<ConnRecord> {
    if conns.is_empty() {
        return Vec::new();
    }
    // The connections leave hash tables in their (randomly seeded) order: sorted, the
    // export is the same file on every run, with any --jobs.
    conns.sort_by(|a, b| {
        (a.first_ts_ns, a.stream, a.proto, a.orig, a.resp).cmp(&(
            b.first_ts_ns,
            b.stream,
            b.proto,
            b.orig,
            b.resp,
        ))
    });
    let verdicts = verdicts(ws, tcp);
    conns
        .iter()
        .map(|c| {
            let facts = c.stream.and_then(|s| {
                let info = tcp.stream(s)?;
                Some(StreamFacts::of(info, verdicts.get(&s).copied()))
            });
            ConnRecord::of(c, facts)
        })
        .collect()
}

/// The capture's own damage is a finding, so the report (and its JSON) says it
/// covers only part of the file: where reading stopped, and records skipped.
fn capture_damage(read_problems: &[ReadWarning], out: &mut Vec<Finding>) {
    let Some(first) = read_problems.first() else {
        return;
    };
    let more = match read_problems.len() - 1 {
        0 => String::new(),
        n => format!(
            " (and {} more, see capture.errors)",
            plural(n as u64, "damaged place", "damaged places")
        ),
    };
    let frames: Vec<u64> = read_problems.iter().map(|w| w.frame).take(20).collect();
    out.push(Finding {
        group: String::new(),
        ts_ns: None,
        severity: Severity::Warning,
        code: Code::CaptureDamaged,
        summary: format!("the capture is damaged: {}{more}", first.message),
        stream: None,
        // The damaged record is no frame Wireshark shows: point at the last one
        // read before it.
        wireshark_filter: frames_filter(&[first.frame.saturating_sub(1).max(1)]),
        frames,
    });
}

fn streams_with_retransmissions(tcp: &TcpAnalysis) -> usize {
    tcp.streams()
        .iter()
        .filter(|s| s.retransmissions() > 0)
        .count()
}

/// websocket x tcp for one upgrade: its stream, the retransmissions and resets on its
/// connection after the answer, and where the capture's retransmissions are relative
/// to it.
fn join_upgrade(
    u: &mut Upgrade,
    tcp: &TcpAnalysis,
    total_retrans: u64,
    streams_with_retrans: usize,
) -> RetransPlacement {
    u.stream = tcp.stream_of_frame(u.request_frame);
    let info = u.stream.and_then(|s| tcp.stream(s));
    let pivot = u.response_frame.unwrap_or(u.request_frame);
    if let Some(st) = info {
        u.after.retransmissions = st.retransmissions_after(pivot);
        for r in st.resets.iter().filter(|r| r.frame > pivot) {
            if !u.after.rst_frames.contains(&r.frame) {
                u.after.rst_frames.push(r.frame);
            }
        }
        u.after.rst_frames.sort_unstable();
        u.after.rst = !u.after.rst_frames.is_empty();
    }
    let on_stream = info.map(|s| s.retransmissions()).unwrap_or(0);
    let other_streams = streams_with_retrans - usize::from(on_stream > 0);
    RetransPlacement {
        total: total_retrans,
        on_stream,
        after_response: u.after.retransmissions,
        other_streams,
    }
}

impl Analysis {
    /// conn.log records of the connections over so far (see `sections::conn`).
    pub fn take_finished_conns(&mut self) -> Vec<ConnRecord> {
        let conns = self.conn.take_finished();
        records(conns, &self.tcp, &self.websocket)
    }

    /// Finishes the connections quiet past their timeout at `now_ns` (capture time),
    /// for [`Self::take_finished_conns`]: a live run asks on its own clock, where a
    /// file run relies on the checks every few thousand frames.
    pub fn expire_conns(&mut self, now_ns: i64) {
        if self.conn.enabled() {
            self.conn.expire(now_ns);
        }
    }

    /// conn.log records of every connection not handed out yet (the capture's end).
    pub fn take_all_conns(&mut self) -> Vec<ConnRecord> {
        let conns = self.conn.take_all();
        records(conns, &self.tcp, &self.websocket)
    }

    /// The upgrade `id` of the WebSocket section as the report would show it so far
    /// (joined with its TCP stream) and its findings, for a live run that reports each
    /// upgrade once it is answered.
    pub fn upgrade_so_far(&self, id: usize) -> Option<(Upgrade, Vec<Finding>)> {
        let mut u = self.websocket.upgrade(id)?.clone();
        let placement = join_upgrade(
            &mut u,
            &self.tcp,
            self.tcp.flag_counts()[TcpFlag::Retransmission],
            streams_with_retransmissions(&self.tcp),
        );
        let mut found = Vec::new();
        ws_findings::raise(std::slice::from_ref(&u), &[placement], &mut found);
        Some((u, found))
    }

    /// Lets go of the upgrades before `id`, which a live run has reported.
    pub fn forget_upgrades_before(&mut self, id: usize) {
        self.websocket.forget_upgrades_before(id);
    }

    /// A live run lets go of the TCP streams it is done with (see
    /// [`TcpAnalysis::release`]), in the TCP section and in the paths section.
    pub fn release_streams(
        &mut self,
        now_ns: i64,
        done: impl Fn(&StreamInfo) -> bool,
        keep_frames_from: u64,
    ) {
        let released = self.tcp.release(now_ns, done, keep_frames_from);
        self.paths.forget_tcp_flows(&released);
    }

    /// Stops following HTTP connections quiet for `idle_ns` (capture time).
    pub fn forget_idle_connections(&mut self, now_ns: i64, idle_ns: i64) -> usize {
        self.websocket.forget_idle_connections(now_ns, idle_ns)
    }
}
