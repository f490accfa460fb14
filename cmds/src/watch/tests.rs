//! Frames built by hand (raw IPv4, link type 228), fed as a capture ring would hand
//! them over: each upgrade is reported once, when its answer arrives, never before.

use super::report::{Dropped, Event, Place, Process};
use super::Watch;
use crate::pcap::analyze::findings::Code;
use crate::pcap::analyze::sections::tcp::TcpFlag;
use crate::pcap::analyze::sections::websocket::Verdict;
use crate::pcap::analyze::AnalyzeOptions;
use netkit_dissectors::link::linktype;
use netkit_dissectors::transport::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use std::net::SocketAddr;

const T0: i64 = 1_700_000_000_000_000_000;
const CLIENT: [u8; 4] = [10, 1, 0, 1];
const SERVER: [u8; 4] = [10, 1, 0, 2];
const CPORT: u16 = 40000;
const SPORT: u16 = 80;

/// An IPv4 + TCP packet (no options) carrying `payload`.
fn packet(from_client: bool, seq: u32, ack: u32, flags: u16, payload: &[u8]) -> Vec<u8> {
    packet_on(CPORT, from_client, seq, ack, flags, payload)
}

/// [`packet`] for the client port `cport`.
fn packet_on(
    cport: u16,
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u16,
    payload: &[u8],
) -> Vec<u8> {
    let (src, dst, sp, dp) = if from_client {
        (CLIENT, SERVER, cport, SPORT)
    } else {
        (SERVER, CLIENT, SPORT, cport)
    };
    let total = 20 + 20 + payload.len();
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sp.to_be_bytes());
    p.extend_from_slice(&dp.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.push(0x50);
    p.push(flags as u8);
    p.extend_from_slice(&65535u16.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}

const REQUEST: &[u8] = b"GET /socket HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// The handshake and the request; the answer is left to the test.
fn request_frames() -> Vec<Vec<u8>> {
    let (c, s) = (1000u32, 5000u32);
    vec![
        packet(true, c, 0, SYN, &[]),
        packet(false, s, c + 1, SYN | ACK, &[]),
        packet(true, c + 1, s + 1, ACK, &[]),
        packet(true, c + 1, s + 1, PSH | ACK, REQUEST),
    ]
}

fn answer(response: &[u8]) -> Vec<u8> {
    packet(
        false,
        5001,
        1001 + REQUEST.len() as u32,
        PSH | ACK,
        response,
    )
}

fn place() -> Place {
    Place {
        netns: "blue".into(),
        vrf: Some("BLUE".into()),
        interface: "veth0".into(),
    }
}

fn feed_all(w: &mut Watch, tap: usize, frames: &[Vec<u8>], first: i64) {
    for (i, f) in frames.iter().enumerate() {
        let ts = T0 + (first + i as i64) * 1_000_000;
        w.feed(tap, ts, f.len() as u32, linktype::IPV4, f);
    }
}

#[test]
fn an_upgrade_is_reported_once_when_answered_with_its_process() {
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    let tap = w.add_tap(place());
    let mut asked = Vec::new();
    let mut owner = |p: &Place, client: SocketAddr, server: SocketAddr| {
        asked.push((p.netns.clone(), client, server));
        Some(Process {
            pid: 4242,
            comm: "wsclient".into(),
            cmdline: "wsclient --url ws://app/socket".into(),
        })
    };
    let mut events = Vec::new();
    feed_all(&mut w, tap, &request_frames(), 0);
    w.poll(T0, &mut owner, &mut events);
    assert!(
        events.is_empty(),
        "nothing decided before the answer: {events:?}"
    );

    let forbidden = answer(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    feed_all(&mut w, tap, &[forbidden], 4);
    w.poll(T0, &mut owner, &mut events);
    assert_eq!(events.len(), 2, "{events:?}");
    let Event::Upgrade(u) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (
            u.verdict,
            u.status,
            u.stream,
            u.request_frame,
            u.response_frame
        ),
        (Verdict::Rejected, Some(403), Some(0), 4, Some(5))
    );
    assert_eq!(u.process.as_ref().map(|p| p.pid), Some(4242));
    let Event::Finding(f) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(f.code, Code::WebsocketRejected);
    assert_eq!(f.place.vrf.as_deref(), Some("BLUE"));
    assert_eq!(
        f.process.as_ref().map(|p| p.comm.as_str()),
        Some("wsclient")
    );
    assert!(
        f.wireshark_filter.contains("tcp.stream eq 0"),
        "{}",
        f.wireshark_filter
    );

    // Reported once: later polls and the end of the run add nothing.
    events.clear();
    w.poll(T0, &mut owner, &mut events);
    w.finish(T0, &mut owner, &mut events);
    assert!(events.is_empty(), "{events:?}");
    let s = w.summary(T0 + 2_000_000_000, true);
    assert_eq!((s.websocket.rejected, s.websocket.pending), (1, 0));
    assert_eq!((s.frames, s.tcp.streams, s.findings), (5, 1, 1));
    assert_eq!(s.elapsed_s, 2.0);
    // The owner was asked once, for the client's side.
    assert_eq!(
        asked,
        vec![(
            "blue".to_string(),
            "10.1.0.1:40000".parse().unwrap(),
            "10.1.0.2:80".parse().unwrap()
        )]
    );
}

#[test]
fn accepted_and_unanswered_upgrades_on_two_interfaces() {
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    let a = w.add_tap(place());
    let b = w.add_tap(Place {
        netns: "host".into(),
        vrf: None,
        interface: "lo".into(),
    });
    let mut owner = |_: &Place, _: SocketAddr, _: SocketAddr| None;
    let mut events = Vec::new();
    let ok = answer(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    let mut frames = request_frames();
    frames.push(ok);
    feed_all(&mut w, a, &frames, 0);
    // The same request on the other interface is a connection of its own there, not a
    // retransmission of the first.
    feed_all(&mut w, b, &request_frames(), 10);
    w.poll(T0, &mut owner, &mut events);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(&events[0], Event::Upgrade(u) if u.verdict == Verdict::Accepted));
    let s = w.summary(T0, false);
    assert_eq!(s.tcp.flags[TcpFlag::Retransmission], 0);
    assert_eq!((s.websocket.accepted, s.websocket.pending), (1, 1));

    // The end of the run decides the other one.
    events.clear();
    w.finish(T0, &mut owner, &mut events);
    assert!(
        matches!(&events[0], Event::Upgrade(u) if u.verdict == Verdict::Unanswered && u.place.interface == "lo"),
        "{events:?}"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Finding(f) if f.code == Code::WebsocketUnanswered)));
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["event"], "upgrade");
    assert_eq!(json["netns"], "host");
    assert_eq!(json["verdict"], "unanswered");
}

#[test]
fn frames_lost_before_analysis_are_a_finding_each_time_they_grow() {
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    w.add_tap(place());
    w.add_tap(Place {
        netns: "red".into(),
        vrf: None,
        interface: "eth0".into(),
    });
    let mut events = Vec::new();
    let none = Dropped::default();
    w.note_drops(T0, &[none, none], &mut events);
    assert!(events.is_empty());
    let some = Dropped { kernel: 10 };
    w.note_drops(T0, &[none, some], &mut events);
    w.note_drops(T0, &[none, some], &mut events);
    assert_eq!(events.len(), 1, "told once per increase: {events:?}");
    let Event::Finding(f) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (f.code, f.place.netns.as_str()),
        (Code::CaptureDrops, "red")
    );
    assert_eq!(
        f.summary,
        "10 frames lost before analysis on red eth0, dropped by the kernel (10 since the start)"
    );
    let more = Dropped { kernel: 12 };
    w.note_drops(T0, &[none, more], &mut events);
    assert_eq!(events.len(), 2);
    let s = w.summary(T0, true);
    assert_eq!((s.dropped.kernel, s.findings), (12, 2));
    let Event::Finding(f) = &events[1] else {
        panic!("{events:?}")
    };
    assert!(f.summary.starts_with("2 frames lost"), "{}", f.summary);
}

#[test]
fn a_reset_stream_has_its_findings_when_it_is_over_and_only_once() {
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    let tap = w.add_tap(place());
    let mut owner = |_: &Place, _: SocketAddr, _: SocketAddr| None;
    let mut events = Vec::new();
    let mut frames = request_frames();
    feed_all(&mut w, tap, &frames, 0);
    w.settle_streams(T0, &mut events);
    assert!(events.is_empty(), "the stream is not over yet: {events:?}");
    // The server resets the connection instead of answering.
    frames = vec![packet(
        false,
        5001,
        1001 + REQUEST.len() as u32,
        RST | ACK,
        &[],
    )];
    feed_all(&mut w, tap, &frames, 4);
    w.settle_streams(T0, &mut events);
    let codes: Vec<Code> = events
        .iter()
        .filter_map(|e| match e {
            Event::Finding(f) => Some(f.code),
            _ => None,
        })
        .collect();
    assert!(
        codes
            .iter()
            .any(|c| matches!(c, Code::TcpReset | Code::TcpResetLate)),
        "{events:?}"
    );
    let n = events.len();
    w.settle_streams(T0, &mut events);
    w.finish(T0, &mut owner, &mut events);
    let again = events[n..]
        .iter()
        .filter(|e| matches!(e, Event::Finding(f) if matches!(f.code, Code::TcpReset | Code::TcpResetLate)))
        .count();
    assert_eq!(again, 0, "{:?}", &events[n..]);
}

#[test]
fn reported_upgrades_are_let_go_and_idle_connections_forgotten() {
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    let tap = w.add_tap(place());
    let mut owner = |_: &Place, _: SocketAddr, _: SocketAddr| None;
    let mut events = Vec::new();
    let forbidden = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    let (c, s) = (1000u32, 5000u32);
    for i in 0..50u16 {
        let port = 41000 + i;
        let frames = [
            packet_on(port, true, c, 0, SYN, &[]),
            packet_on(port, false, s, c + 1, SYN | ACK, &[]),
            packet_on(port, true, c + 1, s + 1, ACK, &[]),
            packet_on(port, true, c + 1, s + 1, PSH | ACK, REQUEST),
            packet_on(
                port,
                false,
                s + 1,
                c + 1 + REQUEST.len() as u32,
                PSH | ACK,
                forbidden,
            ),
        ];
        feed_all(&mut w, tap, &frames, i64::from(i) * 10);
        w.poll(T0, &mut owner, &mut events);
    }
    let upgrades = events
        .iter()
        .filter(|e| matches!(e, Event::Upgrade(_)))
        .count();
    assert_eq!(upgrades, 50);
    // Every one was reported: none is held any more.
    assert_eq!(w.taps[0].analysis.websocket().held_upgrades(), 0);
    assert_eq!(w.taps[0].analysis.websocket().next_upgrade_id(), 50);
    // An upgrade left waiting for two minutes of capture time is given up as
    // unanswered, with the connections gone quiet.
    events.clear();
    feed_all(&mut w, tap, &request_frames(), 1000);
    w.poll(T0, &mut owner, &mut events);
    assert!(events.is_empty());
    let later = packet_on(50000, true, 1, 0, SYN, &[]);
    w.feed(tap, T0 + 121_000_000_000, 40, linktype::IPV4, &later);
    w.poll(T0, &mut owner, &mut events);
    assert!(
        matches!(&events[..], [Event::Upgrade(u), ..] if u.verdict == Verdict::Unanswered),
        "{events:?}"
    );
    w.settle_streams(T0, &mut events);
    assert_eq!(w.taps[0].analysis.websocket().held_upgrades(), 0);
}

/// A client that reuses its port opens a new connection: the soak's lost upgrade.
/// Here the server's ISN and answer repeat, so without the reset on the client's SYN
/// the second answer passes for a retransmission of the first and the second upgrade
/// is never judged.
#[test]
fn a_reused_client_port_is_a_new_connection() {
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    let tap = w.add_tap(place());
    let mut owner = |_: &Place, _: SocketAddr, _: SocketAddr| None;
    let mut events = Vec::new();
    let (c, s) = (3_000_000_000u32, 5000u32);
    let forbidden = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    let first = [
        packet(true, c, 0, SYN, &[]),
        packet(false, s, c + 1, SYN | ACK, &[]),
        packet(true, c + 1, s + 1, PSH | ACK, REQUEST),
        packet(
            false,
            s + 1,
            c + 1 + REQUEST.len() as u32,
            PSH | ACK,
            forbidden,
        ),
    ];
    feed_all(&mut w, tap, &first, 0);
    let mut second = request_frames();
    second.push(answer(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
    ));
    feed_all(&mut w, tap, &second, 10);
    w.poll(T0, &mut owner, &mut events);
    let verdicts: Vec<Verdict> = events
        .iter()
        .filter_map(|e| match e {
            Event::Upgrade(u) => Some(u.verdict),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts,
        [Verdict::Rejected, Verdict::Rejected],
        "{events:?}"
    );
}

/// A day's run must hold the detail of the connections of the last half minute, not
/// of every connection since the start: 3,000 short upgrades, ten a second, each
/// closed by FIN both ways, every fifth with its request retransmitted.
#[test]
fn settled_streams_are_let_go_without_changing_what_is_reported() {
    const CONNECTIONS: u16 = 3000;
    let forbidden = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    let mut releasing = Watch::new(AnalyzeOptions::default(), T0);
    let mut keeping = Watch::new(AnalyzeOptions::default(), T0);
    let (rt, kt) = (releasing.add_tap(place()), keeping.add_tap(place()));
    let mut owner = |_: &Place, _: SocketAddr, _: SocketAddr| None;
    let (mut released_events, mut kept_events) = (Vec::new(), Vec::new());
    let mut most_tracked = 0;
    for n in 0..CONNECTIONS {
        let port = 20000 + n;
        let (c, s) = (1000 + u32::from(n) * 7919, 5000u32);
        let req_end = c + 1 + REQUEST.len() as u32;
        let ans_end = s + 1 + forbidden.len() as u32;
        let mut frames = vec![
            packet_on(port, true, c, 0, SYN, &[]),
            packet_on(port, false, s, c + 1, SYN | ACK, &[]),
            packet_on(port, true, c + 1, s + 1, ACK, &[]),
            packet_on(port, true, c + 1, s + 1, PSH | ACK, REQUEST),
        ];
        if n % 5 == 0 {
            frames.push(packet_on(port, true, c + 1, s + 1, PSH | ACK, REQUEST));
        }
        frames.extend([
            packet_on(port, false, s + 1, req_end, PSH | ACK, forbidden),
            packet_on(port, true, req_end, ans_end, FIN | ACK, &[]),
            packet_on(port, false, ans_end, req_end + 1, FIN | ACK, &[]),
            packet_on(port, true, req_end + 1, ans_end + 1, ACK, &[]),
        ]);
        let start_ms = i64::from(n) * 100;
        for (i, f) in frames.iter().enumerate() {
            let ts = T0 + (start_ms + i as i64 * 10) * 1_000_000;
            releasing.feed(rt, ts, f.len() as u32, linktype::IPV4, f);
            keeping.feed(kt, ts, f.len() as u32, linktype::IPV4, f);
        }
        // Once a second, as the binary's loop does.
        if n % 10 == 9 {
            let now = T0 + start_ms * 1_000_000;
            releasing.poll(now, &mut owner, &mut released_events);
            releasing.settle_streams(now, &mut released_events);
            keeping.poll(now, &mut owner, &mut kept_events);
            most_tracked = most_tracked.max(releasing.summary(now, false).tcp.tracked);
        }
    }
    let end = T0 + i64::from(CONNECTIONS) * 100_000_000;
    releasing.finish(end, &mut owner, &mut released_events);
    keeping.finish(end, &mut owner, &mut kept_events);
    let (r, k) = (releasing.summary(end, true), keeping.summary(end, true));

    // 30 s of quiet after 10 connections a second, plus the second between two
    // settlements: about 310 streams held at most, against 3,000 when kept.
    assert!(most_tracked <= 320, "held {most_tracked} streams' detail");
    assert_eq!(k.tcp.tracked, u64::from(CONNECTIONS));
    assert_eq!(r.tcp.streams, u64::from(CONNECTIONS));
    assert_eq!(
        r.tcp.flags.0, k.tcp.flags.0,
        "the TCP flag counts are the same"
    );
    assert_eq!(r.tcp.flags[TcpFlag::Retransmission], 600);
    assert_eq!(r.websocket, k.websocket);
    assert_eq!(r.websocket.rejected, u64::from(CONNECTIONS));
    let codes = |events: &[Event]| {
        let mut codes: Vec<Code> = events
            .iter()
            .filter_map(|e| match e {
                Event::Finding(f) => Some(f.code),
                _ => None,
            })
            .collect();
        codes.sort_unstable_by_key(|c| format!("{c:?}"));
        codes.dedup();
        codes
    };
    assert_eq!(codes(&released_events), codes(&kept_events));
}

/// Without `--html` the protocol counts are left out of the analysis; no finding may
/// change for it, and a run that keeps its report still has them.
#[test]
fn leaving_out_the_protocol_counts_changes_no_event() {
    let run = |keep_reports: bool| {
        let mut w = Watch::new(AnalyzeOptions::default(), T0);
        if keep_reports {
            w.keep_reports();
        }
        let tap = w.add_tap(place());
        let mut owner = |_: &Place, _: SocketAddr, _: SocketAddr| None;
        let mut events = Vec::new();
        feed_all(&mut w, tap, &request_frames(), 0);
        let forbidden = answer(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        let reset = packet(true, 1000 + 1 + REQUEST.len() as u32, 0, RST, &[]);
        feed_all(&mut w, tap, &[forbidden, reset], 4);
        w.poll(T0, &mut owner, &mut events);
        w.finish(T0, &mut owner, &mut events);
        (events, w.summary(T0, true), w.take_reports())
    };
    let (lean, lean_summary, none) = run(false);
    let (full, full_summary, reports) = run(true);
    assert!(none.is_empty());
    assert!(
        lean.iter().any(|e| matches!(e, Event::Finding(_))),
        "{lean:?}"
    );
    assert_eq!(format!("{lean:?}"), format!("{full:?}"));
    assert_eq!(format!("{lean_summary:?}"), format!("{full_summary:?}"));
    let protocols = &reports[0].protocols;
    assert_eq!(protocols.get("tcp"), Some(&6), "{protocols:?}");
    assert_eq!(protocols.get("http"), Some(&2), "{protocols:?}");
}

/// The text summary says which path names client processes and what its lookups
/// found; a loss from the owner records is shouted.
#[test]
fn the_text_summary_names_the_attribution_path() {
    let w = Watch::new(AnalyzeOptions::default(), T0);
    let mut s = w.summary(T0 + 1_000_000_000, true);
    let line = |s: &super::report::Summary| {
        let mut out = Vec::new();
        super::view::write_event(
            &mut out,
            &Event::Summary(s.clone()),
            &crate::output::Term::default(),
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(
        line(&s).contains("client owners by sock-diag: 0 from BPF"),
        "{}",
        line(&s)
    );
    s.attribution = "bpf";
    s.owners.bpf = 250;
    s.owners.sock_diag = 2;
    s.owners.not_found = 1;
    let text = line(&s);
    assert!(
        text.contains("client owners by bpf: 250 from BPF, 2 from sock_diag, 1 not found"),
        "{text}"
    );
    assert!(!text.contains("EVICTED"), "{text}");
    s.owners.kernel_evicted = 3;
    assert!(
        line(&s).contains(", 3 EVICTED before lookup"),
        "{}",
        line(&s)
    );
}

/// Feeds tests/fixtures/`relative` to capture point `tap`, the frames numbered
/// `range` (1-based, as the file numbers them) only.
fn feed_fixture(w: &mut Watch, tap: usize, relative: &str, range: std::ops::RangeInclusive<usize>) {
    let bytes = crate::test_captures::fixture_bytes(relative);
    let (link, records) = crate::test_captures::read_classic_pcap(&bytes).expect(relative);
    for (ts, orig, at) in records
        .into_iter()
        .enumerate()
        .filter(|(i, _)| range.contains(&(i + 1)))
        .map(|(_, r)| r)
    {
        w.feed(tap, ts, orig, link, &bytes[at]);
    }
}

/// (code, severity, frames) of the findings among `events`.
fn findings_of(events: &[Event]) -> Vec<(Code, &'static str, Vec<u64>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Finding(f) => Some((f.code, f.severity.as_str(), f.frames.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn path_and_tunnel_findings_come_while_running_and_not_again_at_the_end() {
    for (fixture, live, at_end) in [
        ("lab/pmtud.pcap", vec![Code::PmtuReported], vec![]),
        (
            "lab/pmtu-black-hole.pcap",
            vec![Code::PmtuBlackHole],
            vec![Code::TcpRtoBackoff],
        ),
        (
            "lab/vxlan-one-source-port.pcap",
            vec![
                Code::EcmpSingleOuterFlow,
                Code::TunnelLowEntropy,
                Code::TunnelMtu,
            ],
            vec![],
        ),
    ] {
        let mut w = Watch::new(AnalyzeOptions::default(), T0);
        let tap = w.add_tap(place());
        feed_fixture(&mut w, tap, fixture, 1..=usize::MAX);
        let mut events = Vec::new();
        w.note_sections(T0, &mut events);
        let mut codes: Vec<Code> = findings_of(&events).into_iter().map(|f| f.0).collect();
        codes.sort();
        assert_eq!(codes, live, "{fixture}: {events:?}");
        // Asked again, nothing new.
        w.note_sections(T0, &mut events);
        assert_eq!(findings_of(&events).len(), live.len(), "{fixture}");
        events.clear();
        w.finish(T0, &mut |_, _, _| None, &mut events);
        let codes: Vec<Code> = findings_of(&events).into_iter().map(|f| f.0).collect();
        assert_eq!(codes, at_end, "{fixture}: {events:?}");
    }
}

#[test]
fn fhrp_state_changes_are_findings_as_they_happen() {
    let fixture = "fhrp/tcpdump__HSRP_failover.pcap";
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    let tap = w.add_tap(place());
    // Up to the standby taking over (frame 17): first sightings are no change.
    feed_fixture(&mut w, tap, fixture, 1..=16);
    let mut events = Vec::new();
    w.note_sections(T0, &mut events);
    assert!(events.is_empty(), "{events:?}");
    feed_fixture(&mut w, tap, fixture, 17..=20);
    w.note_sections(T0, &mut events);
    assert_eq!(
        findings_of(&events),
        vec![(Code::FhrpStateChange, "warning", vec![17])]
    );
    let Event::Finding(f) = &events[0] else {
        unreachable!()
    };
    assert!(
        f.summary.starts_with("HSRP group 1 (virtual IP ")
            && f.summary.ends_with("went from Standby to Active"),
        "{}",
        f.summary
    );
    assert!(f
        .wireshark_filter
        .starts_with("(hsrp || hsrp2) && ip.src == "));
    feed_fixture(&mut w, tap, fixture, 21..=usize::MAX);
    events.clear();
    // The rest come with the end of the run, once.
    w.finish(T0, &mut |_, _, _| None, &mut events);
    assert_eq!(
        findings_of(&events),
        vec![(Code::FhrpStateChange, "info", vec![26])]
    );
}

/// An IPv4 + UDP datagram from the client to `group`.
fn to_group(group: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 36, 0, 1, 0, 0, 8, 17, 0, 0];
    p.extend_from_slice(&CLIENT);
    p.extend_from_slice(&group);
    p.extend_from_slice(&[0x13, 0x88, 0x13, 0x88, 0, 16, 0, 0]);
    p.extend_from_slice(&[0; 8]);
    p
}

#[test]
fn groups_that_share_a_mac_are_a_finding_once() {
    let mut w = Watch::new(AnalyzeOptions::default(), T0);
    let tap = w.add_tap(place());
    let mut events = Vec::new();
    feed_all(&mut w, tap, &[to_group([239, 1, 1, 1])], 0);
    w.note_sections(T0, &mut events);
    assert!(events.is_empty(), "{events:?}");
    // 239.129.1.1 differs only in a bit the MAC leaves out.
    feed_all(&mut w, tap, &[to_group([239, 129, 1, 1])], 1);
    w.note_sections(T0, &mut events);
    assert_eq!(
        findings_of(&events),
        vec![(Code::MulticastMacCollision, "warning", vec![1, 2])]
    );
    let Event::Finding(f) = &events[0] else {
        unreachable!()
    };
    assert_eq!(f.wireshark_filter, "eth.dst == 01:00:5e:01:01:01");
    assert!(
        f.summary.contains("239.1.1.1, 239.129.1.1"),
        "{}",
        f.summary
    );
    // A third group on the same MAC: the same collision, not told again.
    feed_all(&mut w, tap, &[to_group([224, 1, 1, 1])], 2);
    w.note_sections(T0, &mut events);
    w.finish(T0, &mut |_, _, _| None, &mut events);
    assert_eq!(findings_of(&events).len(), 1, "{events:?}");
}
