//! Issue 20, "truth in every line": places where a report said something that was not
//! so. Each test builds the capture it needs (so it runs without the shared corpus) and,
//! where the issue named a corpus capture, checks that one too when it is present.

mod common;

use common::{netkit, shared_pcaps};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const SYN: u8 = 0x02;

/// One TCP segment to write: time in µs from the start, direction, header fields.
#[derive(Clone, Copy)]
struct Seg {
    at_us: i64,
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    len: usize,
    /// The IPv4 total length to write instead of the true one (0 as TSO captures do).
    ip_total_len: Option<u16>,
    client_port: u16,
    /// An MSS option (SYNs).
    mss: Option<u16>,
}

fn seg(at_us: i64, from_client: bool, seq: u32, ack: u32, flags: u8, len: usize) -> Seg {
    Seg {
        at_us,
        from_client,
        seq,
        ack,
        flags,
        len,
        ip_total_len: None,
        client_port: 40000,
        mss: None,
    }
}

/// Ethernet + IPv4 + TCP, client 10.0.0.1:40000, server 10.0.0.2:80.
fn frame_bytes(s: &Seg) -> Vec<u8> {
    let (src, dst, sport, dport) = if s.from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], s.client_port, 80u16)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 80, s.client_port)
    };
    let mut b = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    let opts: Vec<u8> = match s.mss {
        Some(m) => vec![2, 4, (m >> 8) as u8, m as u8],
        None => Vec::new(),
    };
    let total = s.ip_total_len.unwrap_or((40 + opts.len() + s.len) as u16);
    b.extend_from_slice(&[0x45, 0]);
    b.extend_from_slice(&total.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    b.extend_from_slice(&src);
    b.extend_from_slice(&dst);
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&s.seq.to_be_bytes());
    b.extend_from_slice(&s.ack.to_be_bytes());
    b.push((((20 + opts.len()) / 4) << 4) as u8);
    b.push(s.flags);
    b.extend_from_slice(&64240u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&opts);
    b.resize(b.len() + s.len, 0x61);
    b
}

/// `inner` (an Ethernet frame) in VXLAN (VNI 42) over UDP 4789 between 192.0.2.1 and
/// 192.0.2.2: 50 bytes of overhead.
fn vxlan(inner: &[u8]) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 8, 0];
    let udp_len = 8 + 8 + inner.len();
    b.extend_from_slice(&[0x45, 0]);
    b.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    b.extend_from_slice(&50000u16.to_be_bytes());
    b.extend_from_slice(&4789u16.to_be_bytes());
    b.extend_from_slice(&(udp_len as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 42, 0]);
    b.extend_from_slice(inner);
    b
}

/// A classic little-endian microsecond pcap of Ethernet frames.
fn pcap(frames: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4_u32, 0x0004_0002, 0, 0, 262_144, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let t0 = 1_700_000_000_i64 * 1_000_000;
    for (at_us, b) in frames {
        let t = t0 + at_us;
        for v in [
            (t / 1_000_000) as u32,
            (t % 1_000_000) as u32,
            b.len() as u32,
            b.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(b);
    }
    out
}

/// A per-test scratch directory under the target dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("netkit-truth-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn segments(&self, name: &str, segs: &[Seg]) -> PathBuf {
        let frames: Vec<(i64, Vec<u8>)> = segs.iter().map(|s| (s.at_us, frame_bytes(s))).collect();
        self.write(name, &pcap(&frames))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // NETKIT_TRUTH_KEEP=1 keeps the captures, to replay them through tshark.
        if std::env::var_os("NETKIT_TRUTH_KEEP").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str], file: &Path) -> Output {
    netkit().args(args).arg(file).output().unwrap()
}

fn human(file: &Path) -> String {
    let out = run(&["pcap", "analyze"], file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(file: &Path) -> Value {
    let out = run(&["pcap", "analyze", "--json"], file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The findings as (code, severity).
fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn corpus(rel: &str) -> Option<PathBuf> {
    let Some(dir) = shared_pcaps() else {
        eprintln!("skip: ../shared/pcaps absent");
        return None;
    };
    let p = dir.join(rel);
    p.exists().then_some(p).or_else(|| {
        eprintln!("skip: {rel} absent");
        None
    })
}

/// A handshake, then one 648-byte segment the server never acknowledges.
fn handshake() -> Vec<Seg> {
    vec![
        seg(0, true, 100, 0, SYN, 0),
        seg(10_000, false, 500, 101, SYN | ACK, 0),
        seg(20_000, true, 101, 501, ACK, 0),
    ]
}

// Item 4: retransmission trouble judged by share and RTO backoff, and no "no problems
// found" above a section that found trouble.

#[test]
fn rto_backoff_is_an_error_whatever_the_count() {
    let dir = Scratch::new("backoff");
    let mut segs = handshake();
    // The same segment at 0.2, 0.6, 1.4, 3.0, 6.2 s: gaps 0.2, 0.4, 0.8, 1.6, 3.2 s.
    for at in [30_000, 230_000, 630_000, 1_430_000, 3_030_000, 6_230_000] {
        segs.push(seg(at, true, 101, 501, ACK | PSH, 648));
    }
    let f = dir.segments("backoff.pcap", &segs);
    let r = json(&f);
    assert_eq!(
        findings(&r),
        vec![("tcp_rto_backoff".to_string(), "error".to_string())]
    );
    let text = human(&f);
    assert!(!text.contains("no problems found"), "{text}");
    assert!(text.contains("5 more times"), "{text}");

    // Two retransmissions at a steady interval are neither backoff nor (at 2 of 6)
    // below the floor of 3: no finding.
    let mut steady = handshake();
    for at in [30_000, 230_000, 430_000] {
        steady.push(seg(at, true, 101, 501, ACK | PSH, 648));
    }
    steady.push(seg(440_000, false, 501, 749, ACK, 0));
    let f = dir.segments("steady.pcap", &steady);
    assert_eq!(findings(&json(&f)), vec![]);
}

#[test]
fn chrissanders_retransmissions_are_reported() {
    let Some(f) = corpus("tcp/chrissanders__tcp_retransmissions.pcapng") else {
        return;
    };
    let r = json(&f);
    assert_eq!(
        findings(&r),
        vec![("tcp_rto_backoff".to_string(), "error".to_string())]
    );
    let frames: Vec<u64> = r["findings"][0]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(frames, vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn no_problems_is_never_printed_beside_trouble() {
    let dir = Scratch::new("lost");
    // A clean exchange: "no problems found" is the truth.
    let mut clean = handshake();
    clean.push(seg(30_000, true, 101, 501, ACK | PSH, 100));
    clean.push(seg(40_000, false, 501, 201, ACK | PSH, 100));
    clean.push(seg(50_000, true, 201, 601, ACK, 0));
    let f = dir.segments("clean.pcap", &clean);
    assert!(human(&f).contains("no problems found"));

    // The server's first 100 bytes were never captured: a previous segment not
    // captured, which the TCP section lists as a stream with trouble.
    let mut lost = handshake();
    lost.push(seg(30_000, true, 101, 501, ACK | PSH, 100));
    lost.push(seg(40_000, false, 601, 201, ACK | PSH, 100));
    lost.push(seg(50_000, true, 201, 701, ACK, 0));
    let f = dir.segments("lost.pcap", &lost);
    let text = human(&f);
    assert!(text.contains("Worst streams (1 with trouble)"), "{text}");
    assert!(!text.contains("no problems found"), "{text}");
    assert!(text.contains("but 1 TCP stream shows trouble"), "{text}");
}

// Item 3: a SYN sent shortly before the capture ended is cut off, not unanswered.

/// A handshake with a 380 ms round trip and a short exchange, 10.0.0.1:40000 -> :80.
fn slow_connection() -> Vec<Seg> {
    vec![
        seg(0, true, 100, 0, SYN, 0),
        seg(380_000, false, 500, 101, SYN | ACK, 0),
        seg(380_100, true, 101, 501, ACK, 0),
        seg(380_200, true, 101, 501, ACK | PSH, 100),
        seg(760_000, false, 501, 201, ACK | PSH, 100),
        seg(760_100, true, 201, 601, ACK, 0),
    ]
}

fn syn_from(port: u16, at_us: i64) -> Seg {
    Seg {
        client_port: port,
        ..seg(at_us, true, 7000, 0, SYN, 0)
    }
}

#[test]
fn syns_just_before_the_end_are_cut_off_not_unanswered() {
    let dir = Scratch::new("cutoff");
    // Two SYNs 0.4 s and 0.1 s before the last frame: their answers (a 380 ms round
    // trip away) could not have been captured yet.
    let mut segs = slow_connection();
    segs.push(syn_from(40001, 800_000));
    segs.push(syn_from(40002, 1_100_000));
    segs.push(seg(1_200_000, true, 201, 601, ACK, 0));
    let f = dir.segments("cutoff.pcap", &segs);
    let r = json(&f);
    assert_eq!(
        findings(&r),
        vec![("syn_cut_off".to_string(), "info".to_string())],
        "{r:#}"
    );
    assert_eq!(r["findings"][0]["frames"], serde_json::json!([7, 8]));

    // The same SYN 5 s before the end had all the time in the world: unanswered.
    let mut segs = slow_connection();
    segs.push(syn_from(40001, 800_000));
    segs.push(seg(5_800_000, true, 201, 601, ACK, 0));
    let f = dir.segments("unanswered.pcap", &segs);
    assert_eq!(
        findings(&json(&f)),
        vec![("syn_unanswered".to_string(), "warning".to_string())]
    );
}

#[test]
fn weibo_syns_are_cut_off() {
    let Some(f) = corpus("tcp/ndpi__weibo.pcap") else {
        return;
    };
    let r = json(&f);
    let codes = findings(&r);
    assert!(
        !codes.iter().any(|(c, _)| c == "syn_unanswered"),
        "{codes:?}"
    );
    assert!(codes.contains(&("syn_cut_off".to_string(), "info".to_string())));
}

// Item 1: an IPv4 total length (or IPv6 payload length) of 0 is offload, not an empty
// segment.

/// Frames tshark flags with any `tcp.analysis` flag, when tshark is installed.
fn tshark_flagged(file: &Path) -> Option<Vec<u64>> {
    let out = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(file)
        .args([
            "-Y",
            "tcp.analysis.flags",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ])
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    })
}

/// Frames netkit flags with any TCP analysis flag, and each frame's payload length as
/// `pcap show` prints it.
fn netkit_flagged(file: &Path) -> Vec<u64> {
    let out = run(&["pcap", "analyze", "--json", "--frames"], file);
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut frames: Vec<u64> = r["tcp"]["flagged_frames"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| v.as_array().unwrap().iter().map(|f| f.as_u64().unwrap()))
        .collect();
    frames.sort_unstable();
    frames.dedup();
    frames
}

#[test]
fn ip_length_zero_is_offload_like_tshark() {
    let dir = Scratch::new("tso");
    // The client's host captured its own 3,926-byte TSO segment: IPv4 total length 0.
    let mut segs = handshake();
    segs.push(Seg {
        ip_total_len: Some(0),
        ..seg(30_000, true, 101, 501, ACK | PSH, 3926)
    });
    segs.push(seg(30_100, true, 4027, 501, ACK | PSH, 100));
    segs.push(seg(40_000, false, 501, 4127, ACK, 0));
    segs.push(seg(50_000, false, 501, 4127, ACK | PSH, 50));
    segs.push(seg(60_000, true, 4127, 551, ACK, 0));
    let f = dir.segments("tso.pcap", &segs);
    // tshark 4.0.17 flags nothing on this capture ("reported as 0, presumed to be
    // because of TCP segmentation offload"); before, netkit read Len=0 and flagged a
    // previous segment not captured (frame 5) and an ACK of unseen data.
    assert_eq!(netkit_flagged(&f), Vec::<u64>::new());
    if let Some(t) = tshark_flagged(&f) {
        assert_eq!(t, Vec::<u64>::new(), "tshark disagrees");
    }
    assert_eq!(findings(&json(&f)), vec![]);
    let show = netkit().args(["pcap", "show"]).arg(&f).output().unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.lines().nth(3).unwrap().contains("Len=3926"), "{show}");
}

// Item 10: nothing readable is an error; damage is a finding.

#[test]
fn a_first_record_unreadable_is_an_error_and_damage_a_finding() {
    let dir = Scratch::new("damage");
    let mut segs = handshake();
    segs.push(seg(30_000, true, 101, 501, ACK | PSH, 100));
    let frames: Vec<(i64, Vec<u8>)> = segs.iter().map(|s| (s.at_us, frame_bytes(s))).collect();
    let good = pcap(&frames);

    // The first record claims 2 GiB: nothing in the file can be read.
    let mut absurd = good.clone();
    absurd[32..36].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let f = dir.write("absurd.pcap", &absurd);
    for args in [
        &["pcap", "analyze"][..],
        &["pcap", "analyze", "--json"],
        &["pcap", "show"],
    ] {
        let out = run(args, &f);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("nothing readable: stopped at frame 1, byte offset 24"),
            "{args:?}: {stderr}"
        );
    }

    // Cut inside the fourth record: three frames and a finding naming where.
    let f = dir.write("cut.pcap", &good[..good.len() - 50]);
    let r = json(&f);
    assert_eq!(r["capture"]["frames"], 3);
    assert_eq!(
        findings(&r),
        vec![("capture_damaged".to_string(), "warning".to_string())]
    );
    let d = &r["findings"][0];
    assert_eq!(d["frames"], serde_json::json!([4]));
    let offset = 24 + 3 * (16 + 54);
    assert!(
        d["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("stopped at frame 4, byte offset {offset}")),
        "{d}"
    );
    let text = human(&f);
    assert!(text.contains("WARNING the capture is damaged"), "{text}");
    assert!(!text.contains("no problems found"), "{text}");

    // A valid capture with no records is empty, not damaged.
    let f = dir.write("empty.pcap", &good[..24]);
    assert!(human(&f).contains("no problems found"));
}

// Item 2: segments beyond the receiver's MSS are offload, not a path's MTU.

fn tunnelled(segs: &[Seg]) -> Vec<(i64, Vec<u8>)> {
    segs.iter()
        .map(|s| (s.at_us, vxlan(&frame_bytes(s))))
        .collect()
}

fn handshake_with_mss(mss: u16) -> Vec<Seg> {
    vec![
        Seg {
            mss: Some(mss),
            ..seg(0, true, 100, 0, SYN, 0)
        },
        Seg {
            mss: Some(mss),
            ..seg(10_000, false, 500, 101, SYN | ACK, 0)
        },
        seg(20_000, true, 101, 501, ACK, 0),
        seg(30_000, true, 101, 501, ACK | PSH, 100),
    ]
}

#[test]
fn segments_beyond_the_mss_are_offload_not_an_mtu_problem() {
    let dir = Scratch::new("offload");
    // A 8,984-byte segment on a connection that negotiated MSS 1460: GRO/TSO.
    let mut segs = handshake_with_mss(1460);
    segs.push(seg(40_000, false, 501, 201, ACK | PSH, 8984));
    segs.push(seg(50_000, true, 201, 9485, ACK, 0));
    let f = dir.write("offload.pcap", &pcap(&tunnelled(&segs)));
    let r = json(&f);
    assert_eq!(
        findings(&r),
        vec![("tcp_offload".to_string(), "info".to_string())],
        "{:#}",
        r["findings"]
    );
    assert_eq!(
        r["paths"]["mtu"]["tcp"][0]["beyond_mss_segments"],
        serde_json::json!([0, 1])
    );

    // Full-size segments within the MSS do make 1,550-byte outer packets: the MTU
    // warning stays.
    let mut segs = handshake_with_mss(1460);
    segs.push(seg(40_000, false, 501, 201, ACK | PSH, 1460));
    segs.push(seg(50_000, true, 201, 1961, ACK, 0));
    let f = dir.write("full.pcap", &pcap(&tunnelled(&segs)));
    assert_eq!(
        findings(&json(&f)),
        vec![("tunnel_mtu".to_string(), "warning".to_string())]
    );
}

#[test]
fn zeek_vxlan_http_is_offload() {
    let f = common::fixtures_dir().join("encap/zeek__vxlan-encapsulated-http.pcap");
    let r = json(&f);
    assert_eq!(
        findings(&r),
        vec![("tcp_offload".to_string(), "info".to_string())]
    );
}

// Item 5: `-f` keeps Wireshark's stream numbers and relative times.

/// Runs netkit with a BPF filter; None (with a message) when libpcap is missing.
fn filtered(args: &[&str], filter: &str, file: &Path) -> Option<String> {
    let out = netkit()
        .args(args)
        .args(["-f", filter])
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("libpcap runtime") {
        eprintln!("skip: {stderr}");
        return None;
    }
    assert!(out.status.success(), "{stderr}");
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn a_filter_keeps_stream_numbers_and_times() {
    let dir = Scratch::new("filter");
    // Streams 0 and 1 to port 22 and 443, then stream 2 to port 80 stalled on its
    // retransmission timer.
    let on = |port: u16, s: Seg| Seg {
        client_port: port,
        ..s
    };
    let mut segs = Vec::new();
    for (i, port) in [(0, 41000u16), (1, 41001)] {
        let t = i * 100_000;
        segs.push(on(port, seg(t, true, 1, 0, SYN, 0)));
        segs.push(on(port, seg(t + 10_000, false, 1, 2, SYN | ACK, 0)));
    }
    // The other two streams' server port differs: rewrite it below.
    let mut frames: Vec<(i64, Vec<u8>)> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut b = frame_bytes(s);
            let port: u16 = if i < 2 { 22 } else { 443 };
            let at = if s.from_client { 36 } else { 34 };
            b[at..at + 2].copy_from_slice(&port.to_be_bytes());
            (s.at_us, b)
        })
        .collect();
    let mut http = handshake();
    for at in [30_000, 230_000, 630_000, 1_430_000, 3_030_000] {
        http.push(seg(at, true, 101, 501, ACK | PSH, 648));
    }
    frames.extend(http.iter().map(|s| (s.at_us + 1_000_000, frame_bytes(s))));
    let f = dir.write("three.pcap", &pcap(&frames));

    let Some(out) = filtered(&["pcap", "analyze", "--json"], "tcp port 80", &f) else {
        return;
    };
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["findings"][0]["code"], "tcp_rto_backoff");
    assert_eq!(r["findings"][0]["stream"], 2, "{:#}", r["findings"]);
    assert!(r["findings"][0]["wireshark_filter"]
        .as_str()
        .unwrap()
        .starts_with("tcp.stream eq 2 "));
    assert_eq!(r["tcp"]["streams"], 1);
    assert_eq!(r["tcp"]["streams_detail"][0]["stream"], 2);
    assert_eq!(r["tcp"]["streams_detail"][0]["first_frame"], 5);

    // pcap show: frame 5 of zeek__icmp_dot1q is at 34.029970 s, as tshark shows it.
    let f = common::fixtures_dir().join("encap/zeek__icmp_dot1q.pcap");
    let Some(out) = filtered(&["pcap", "show"], "vlan and icmp", &f) else {
        return;
    };
    let first: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&first[..2], &["5", "34.029970"], "{out}");
}

// Item 11: every section with something to say appears in the human report.

fn human_of(args: &[&str], rel: &str) -> String {
    let out = run(args, &common::fixtures_dir().join(rel));
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_human_report_shows_every_section() {
    // FHRP state changes, the coup named.
    let text = human_of(&["pcap", "analyze"], "fhrp/tcpdump__HSRP_coup.pcap");
    assert!(
        text.contains(
            "frame 27: hsrp group 1: 192.168.0.10 Listen -> Active (takes over from 192.168.0.30)"
        ),
        "{text}"
    );
    // Tunnels and paths.
    let text = human_of(
        &["pcap", "analyze"],
        "encap/zeek__vxlan-encapsulated-http.pcap",
    );
    assert!(text.contains("Tunnels (1 outer flows)"), "{text}");
    assert!(text.contains("vni 1"), "{text}");
    assert!(text.contains("\nPaths\n"), "{text}");
    let text = human_of(&["pcap", "analyze"], "encap/tcpdump__mpls-traceroute.pcap");
    assert!(text.contains("traceroute 12.4.4.4 -> 12.1.1.1"), "{text}");
    assert!(text.contains("MPLS L=100704"), "{text}");
    // --frames without --json lists the frames behind each flag.
    let text = human_of(
        &["pcap", "analyze", "--frames"],
        "tcp/zeek__retransmit-fast009.pcap",
    );
    assert!(
        text.contains("TCP analysis flags, frame by frame"),
        "{text}"
    );
    assert!(
        text.contains("  retransmission           32 34 36\n"),
        "{text}"
    );
    assert!(
        text.contains("  duplicate_ack            29 30 31 33 35\n"),
        "{text}"
    );
}

// Item 9: --write-streams writes every stream behind a finding.

#[test]
fn write_streams_keeps_every_attempt_of_a_finding() {
    let dir = Scratch::new("write");
    // One answered connection, then three attempts to another server, each SYN
    // retried once a second later and never answered.
    let mut segs = slow_connection();
    for (i, port) in [41001u16, 41002, 41003].into_iter().enumerate() {
        let t = 1_000_000 + i as i64 * 100_000;
        for at in [t, t + 1_000_000] {
            segs.push(syn_from(port, at));
        }
    }
    segs.push(seg(9_000_000, true, 201, 601, ACK, 0));
    let f = dir.segments("attempts.pcap", &segs);
    let r = json(&f);
    assert_eq!(
        findings(&r),
        vec![("syn_unanswered".to_string(), "warning".to_string())]
    );
    assert!(r["findings"][0]["summary"]
        .as_str()
        .unwrap()
        .starts_with("3 connection attempts to "));

    let written = dir.0.join("evidence.pcapng");
    let out = netkit()
        .args(["pcap", "analyze", "--write-streams"])
        .arg(&written)
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = json(&written);
    assert_eq!(again["capture"]["frames"], 6, "the 6 SYNs, nothing else");
    let summary = again["findings"][0]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("3 connection attempts to "),
        "{summary}"
    );
}

// Item 8: PIM Join/Prune messages count as joins and leaves of their group.

#[test]
fn pim_joins_and_prunes_are_counted() {
    let r = json(&common::fixtures_dir().join("multicast/tcpdump__PIM-SM_join_prune.pcap"));
    let g = r["multicast"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "239.123.123.123")
        .expect("the joined group is in the multicast section");
    // tshark: pim.type == 3 in frames 3 8 14 19 25 31 36 42 (1 join each) and 45
    // (1 prune), each for (*, 239.123.123.123) with RP 1.1.1.1 (flags SWR).
    assert_eq!(g["joins"], 8);
    assert_eq!(
        g["join_frames"],
        serde_json::json!([3, 8, 14, 19, 25, 31, 36, 42])
    );
    assert_eq!(g["leaves"], 1);
    assert_eq!(g["leave_frames"], serde_json::json!([45]));
    assert_eq!(
        g["pim_joined_sources"],
        serde_json::json!(["* (RP 1.1.1.1)"])
    );
    let text = human_of(
        &["pcap", "analyze"],
        "multicast/tcpdump__PIM-SM_join_prune.pcap",
    );
    assert!(
        text.contains("239.123.123.123: PIM joins * (RP 1.1.1.1)"),
        "{text}"
    );
}

// Item 6: in tunnels, pcap show describes the innermost conversation and names the
// tunnel; never an inner address with an outer port.

fn show_first(rel: &str) -> String {
    let out = netkit()
        .args(["pcap", "show", "-c", "1"])
        .arg(common::fixtures_dir().join(rel))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tunnel_summaries_pair_inner_addresses_with_inner_ports() {
    // tshark: frame 1 is 192.168.203.3 -> 192.168.203.5 ICMP inside VXLAN from
    // 192.168.203.1 to 192.168.202.1.
    let line = show_first("encap/tcpdump__vxlan.pcap");
    assert!(
        line.contains(
            "192.168.203.3 → 192.168.203.5 ICMP Echo request (type 8 code 0) id=0x050c, seq=1 (in vxlan 192.168.203.1 → 192.168.202.1)"
        ),
        "{line}"
    );
    assert!(!line.contains(":4789"), "{line}");
    let line = show_first("encap/zeek__geneve.pcap");
    assert!(line.contains("30.0.0.1 → 30.0.0.2 ICMP"), "{line}");
    assert!(line.contains("(in geneve 20.0.0.1 → 20.0.0.2)"), "{line}");
    let line = show_first("encap/tcpdump__mpls-over-udp.pcap");
    assert!(line.contains("10.3.0.10 → 10.1.0.10 ICMP"), "{line}");
    assert!(!line.contains(":6635"), "{line}");
    // A TCP conversation inside two tunnels keeps its own ports.
    let line = show_first("encap/arkime__gre-erspan-vxlan.pcap");
    assert!(
        line.contains("10.16.27.12:65174 → 10.16.27.131:80 TCP [SYN]"),
        "{line}"
    );
    assert!(line.contains("(in gre 100.20.9.2 → 100.20.9.1)"), "{line}");
}

// Item 7: BPF filters match what tcpdump matches, on every link type of the captures,
// BSD loopback (DLT_NULL) with every BSD's AF_INET6 included.

/// Time stamps of the frames `pcap show -f FILTER` lists (`None`: no usable list).
fn netkit_ts(file: &Path, filter: Option<&str>) -> Option<Vec<String>> {
    let mut c = netkit();
    c.args(["pcap", "show", "--json"]);
    if let Some(f) = filter {
        c.args(["-f", f]);
    }
    let out = c.arg(file).output().ok()?;
    if !out.status.success() || String::from_utf8_lossy(&out.stderr).contains("cannot be used") {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["ts"].as_str().unwrap_or_default().to_string())
            .collect(),
    )
}

#[test]
fn bpf_filters_match_tcpdump_on_every_link_type() {
    if !common::have("tcpdump") {
        eprintln!("skip: tcpdump not installed");
        return;
    }
    let dir = Scratch::new("bpf");
    let mut files = Vec::new();
    let mut roots = vec![common::fixtures_dir()];
    roots.extend(shared_pcaps());
    for root in roots {
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p
                    .extension()
                    .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
                {
                    files.push(p);
                }
            }
        }
    }
    let filters = [
        "ip",
        "ip6",
        "tcp",
        "udp",
        "port 81",
        "icmp or icmp6",
        "vlan",
        "arp",
    ];
    let (mut compared, mut failures) = (0, Vec::new());
    for file in &files {
        for filter in filters {
            // tcpdump writes the frames it matches; netkit lists them back.
            let kept = dir.0.join("kept.pcap");
            let ok = std::process::Command::new("tcpdump")
                .args(["-r"])
                .arg(file)
                .args(["--time-stamp-precision=nano", "-w"])
                .arg(&kept)
                .arg(filter)
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                continue; // tcpdump cannot filter this file this way (link types)
            }
            let (Some(want), Some(got)) = (netkit_ts(&kept, None), netkit_ts(file, Some(filter)))
            else {
                continue;
            };
            compared += 1;
            if want != got {
                failures.push(format!(
                    "{} -f '{filter}': tcpdump {} frames, netkit {}",
                    file.display(),
                    want.len(),
                    got.len()
                ));
            }
        }
    }
    eprintln!("{compared} (capture, filter) pairs compared with tcpdump");
    assert!(compared > 100, "too few comparisons: {compared}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// Item 12: pcap show's TCP lines read as Wireshark's: relative numbers, the scaled
// window, SYN options, analysis tags; ICMP echo id/seq; NDP target and MAC.

fn show_all(rel: &str) -> Vec<String> {
    let out = netkit()
        .args(["pcap", "show"])
        .arg(common::fixtures_dir().join(rel))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn show_reads_tcp_as_wireshark_does() {
    // Values from tshark 4.0.17 on the same frames.
    let l = show_all("tcp/zeek__ssh-dups.pcap");
    assert!(
        l[0].ends_with("TCP [SYN] Seq=0 Ack=0 Win=65535 Len=0 MSS=1460 SACK_PERM WS=64"),
        "{}",
        l[0]
    );
    assert!(
        l[1].ends_with("Seq=0 Ack=1 Win=28960 Len=0 MSS=1460 SACK_PERM WS=128"),
        "{}",
        l[1]
    );
    // Win=2058 raw, scaled by 64: 131712, as tshark shows it.
    assert!(
        l[3].ends_with("TCP [PSH, ACK] Seq=1 Ack=1 Win=131712 Len=21"),
        "{}",
        l[3]
    );
    assert!(
        l[4].contains("[TCP Retransmission] TCP [PSH, ACK] Seq=1 Ack=1"),
        "{}",
        l[4]
    );
    let l = show_all("tcp/zeek__retransmit-fast009.pcap");
    assert!(
        l[28].contains("[TCP Dup ACK] TCP [ACK] Seq=475 Ack=12871 Win=65535 Len=0"),
        "{}",
        l[28]
    );
    assert!(
        l[31].contains("[TCP Fast Retransmission] TCP [ACK] Seq=12871 Ack=475 Win=6432 Len=1430"),
        "{}",
        l[31]
    );
    // ICMP echo and NDP.
    let l = show_all("encap/tcpdump__vxlan.pcap");
    assert!(
        l[0].contains("ICMP Echo request (type 8 code 0) id=0x050c, seq=1"),
        "{}",
        l[0]
    );
    let l = show_all("multicast/zeek__icmp6-nd-options.pcap");
    assert!(
        l[0].ends_with("Neighbor Solicitation (type 135 code 0) target fe80::c000:54ff:fef5:0"),
        "{}",
        l[0]
    );
    assert!(
        l[1].ends_with("target fe80::c000:54ff:fef5:0 MAC c2:00:54:f5:00:00"),
        "{}",
        l[1]
    );
}

/// With tshark installed: Seq, Ack, Win and Len of every TCP line of the TCP fixtures
/// equal tshark's tcp.seq, tcp.ack, tcp.window_size and tcp.len.
#[test]
fn show_tcp_numbers_equal_tsharks() {
    if !common::have("tshark") {
        eprintln!("skip: tshark not installed");
        return;
    }
    let num = |line: &str, key: &str| -> Option<u64> {
        let at = line.find(&format!(" {key}="))? + key.len() + 2;
        line[at..].split(' ').next()?.parse().ok()
    };
    let mut compared = 0;
    for entry in std::fs::read_dir(common::fixtures_dir().join("tcp"))
        .unwrap()
        .flatten()
    {
        let path = entry.path();
        let out = netkit().args(["pcap", "show"]).arg(&path).output().unwrap();
        let ours = String::from_utf8(out.stdout).unwrap();
        let t = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "tcp.seq",
                "-e",
                "tcp.ack",
            ])
            .args([
                "-e",
                "tcp.window_size",
                "-e",
                "tcp.len",
                "-e",
                "tcp.flags.ack",
            ])
            .env("WIRESHARK_CONFIG_DIR", "/nonexistent")
            .output()
            .unwrap();
        let theirs: std::collections::HashMap<u64, Vec<String>> =
            String::from_utf8_lossy(&t.stdout)
                .lines()
                .filter_map(|l| {
                    let f: Vec<String> = l.split('\t').map(String::from).collect();
                    Some((f.first()?.parse().ok()?, f))
                })
                .collect();
        for line in ours.lines().filter(|l| l.contains(" TCP [")) {
            let frame: u64 = line.split_whitespace().next().unwrap().parse().unwrap();
            let Some(f) = theirs.get(&frame) else {
                continue;
            };
            // Tunnelled or doubled TCP headers: tshark lists one value per header.
            if f.len() < 6 || f[1].contains(',') || f[1].is_empty() {
                continue;
            }
            let want = |i: usize| f[i].parse::<u64>().ok();
            assert_eq!(num(line, "Seq"), want(1), "{}: {line}", path.display());
            if f[5] == "1" {
                assert_eq!(num(line, "Ack"), want(2), "{}: {line}", path.display());
            }
            assert_eq!(num(line, "Win"), want(3), "{}: {line}", path.display());
            assert_eq!(num(line, "Len"), want(4), "{}: {line}", path.display());
            compared += 1;
        }
    }
    eprintln!("{compared} TCP lines compared with tshark");
    assert!(compared > 1000, "{compared}");
}
