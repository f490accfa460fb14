//! `pcap analyze` on the project's own HAProxy captures (tests/fixtures/lab, made by
//! tests/lab/haproxy-websocket.sh): a real HAProxy 2.6 in front of a real RFC 6455
//! server, with 3% random loss on the proxy's inbound side so Linux retransmits on
//! the background connections around the one `GET /socket` upgrade.
//!
//! Every expected value below comes from tshark 4.0.17, not from netkit: frame
//! numbers of the upgrade request (`http.request.uri == "/socket"`, the first copy,
//! not its retransmission) and of its answer (`http.response_in`), the status
//! (`http.response.code`), Wireshark's `tcp.stream` number, the frames tshark marks
//! with each `tcp.analysis.*` flag, the retransmissions on the upgrade's connection
//! after its answer, and the frame of the RST. tests/lab/expectations.py prints
//! them; tests/lab/README.md tabulates them. The tests only read the committed
//! captures, so they need no root and no tshark.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// The `tcp.flags` names of CLI.md, each tshark's `tcp.analysis.<name>`.
const TCP_FLAGS: [&str; 14] = [
    "retransmission",
    "fast_retransmission",
    "spurious_retransmission",
    "out_of_order",
    "duplicate_ack",
    "lost_segment",
    "zero_window",
    "keep_alive",
    "ack_lost_segment",
    "window_update",
    "window_full",
    "zero_window_probe",
    "keep_alive_ack",
    "reused_ports",
];

struct Upgrade {
    stream: u64,
    request_frame: u64,
    response_frame: Option<u64>,
    status: Option<u64>,
    verdict: &'static str,
    /// Retransmissions tshark flags on the upgrade's connection after the answer
    /// (after the request when there is none).
    retransmissions_after: u64,
    rst_frames: &'static [u64],
}

struct Lab {
    file: &'static str,
    frames: u64,
    /// tshark's frames for each `tcp.analysis.<flag>` (`-Y`, single pass); flags
    /// not listed have none.
    tcp_flags: &'static [(&'static str, &'static [u64])],
    upgrade: Upgrade,
    /// The finding that must come first (error severity), `None` for the good case.
    first_finding: Option<&'static str>,
}

fn analyze(file: &str) -> Value {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "lab", file]
        .iter()
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(["pcap", "analyze", "--json", "--frames"])
        .arg(&path)
        .output()
        .expect("run netkit");
    assert!(
        out.status.success(),
        "netkit pcap analyze --json --frames {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("pcap analyze --json prints one JSON document")
}

fn check(lab: &Lab) {
    let report = analyze(lab.file);
    let file = lab.file;

    assert_eq!(report["capture"]["frames"], lab.frames, "{file}: frames");
    // tcpdump ran with `tcp port N`, so every frame is TCP.
    let tcp = report["protocols"]["tcp"].as_u64().unwrap_or(0);
    assert!(tcp > 0, "{file}: protocols.tcp is {tcp}");
    assert_eq!(tcp, lab.frames, "{file}: protocols.tcp");
    for name in TCP_FLAGS {
        let want: &[u64] = lab
            .tcp_flags
            .iter()
            .find(|(flag, _)| *flag == name)
            .map_or(&[], |(_, frames)| frames);
        assert_eq!(
            report["tcp"]["flagged_frames"][name],
            json!(want),
            "{file}: frames flagged {name}, against tshark's tcp.analysis.{name}"
        );
        assert_eq!(
            report["tcp"]["flags"][name],
            want.len(),
            "{file}: tcp.flags.{name}"
        );
    }
    // The capture is only a fixture for the story if Linux really retransmitted.
    let retransmissions = lab
        .tcp_flags
        .iter()
        .find(|(flag, _)| *flag == "retransmission")
        .map_or(0, |(_, frames)| frames.len());
    assert!(
        retransmissions >= 5,
        "{file}: {retransmissions} retransmissions, too few for the story"
    );

    let upgrades = report["websocket"]["upgrades"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: websocket.upgrades is not an array"));
    let summary: Vec<String> = upgrades
        .iter()
        .map(|u| {
            format!(
                "{} req {} resp {} {}",
                u["verdict"], u["request_frame"], u["response_frame"], u["status"]
            )
        })
        .collect();
    assert_eq!(
        upgrades.len(),
        1,
        "{file}: the client sent one upgrade request (a TCP retransmission of it is \
         not a second upgrade); netkit reports {summary:?}"
    );
    let got = &upgrades[0];
    let want = &lab.upgrade;
    assert_eq!(got["verdict"], want.verdict, "{file}: verdict");
    assert_eq!(got["stream"], want.stream, "{file}: stream");
    assert_eq!(
        got["request_frame"], want.request_frame,
        "{file}: request_frame"
    );
    assert_eq!(
        got["response_frame"],
        json!(want.response_frame),
        "{file}: response_frame"
    );
    assert_eq!(got["status"], json!(want.status), "{file}: status");
    assert_eq!(got["path"], "/socket", "{file}: path");
    assert_eq!(got["host"], "lab.example", "{file}: host");
    assert_eq!(
        got["client"].as_str().map(|c| c.starts_with("10.99.1.2:")),
        Some(true),
        "{file}: client"
    );
    assert_eq!(
        got["after"]["retransmissions"], want.retransmissions_after,
        "{file}: after.retransmissions"
    );
    assert_eq!(
        got["after"]["rst"],
        !want.rst_frames.is_empty(),
        "{file}: after.rst"
    );
    if let Some(frames) = got["after"].get("rst_frames") {
        assert_eq!(frames, &json!(want.rst_frames), "{file}: after.rst_frames");
    }

    let findings = report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: findings is not an array"));
    match lab.first_finding {
        Some(code) => {
            let first = findings
                .first()
                .unwrap_or_else(|| panic!("{file}: no findings, expected {code} first"));
            assert_eq!(
                (first["code"].as_str(), first["severity"].as_str()),
                (Some(code), Some("error")),
                "{file}: the failed upgrade must be the first finding, at error severity; \
                 findings[0] is {first}"
            );
            assert_eq!(first["stream"], want.stream, "{file}: finding stream");
            let frames = &first["frames"];
            let has = |n: u64| frames.as_array().is_some_and(|f| f.iter().any(|x| x == n));
            assert!(
                has(want.request_frame),
                "{file}: finding frames {frames} lack the request"
            );
            if let Some(resp) = want.response_frame {
                assert!(
                    has(resp),
                    "{file}: finding frames {frames} lack the response"
                );
            }
            let filter = first["wireshark_filter"].as_str().unwrap_or("");
            assert!(
                filter.contains(&want.request_frame.to_string()),
                "{file}: wireshark_filter {filter:?} does not select the request frame"
            );
        }
        None => {
            let errors: Vec<&Value> = findings
                .iter()
                .filter(|f| f["severity"] == "error")
                .collect();
            assert!(
                errors.is_empty(),
                "{file}: a good upgrade gave error findings {errors:?}"
            );
        }
    }
}

#[test]
fn upgrade_rejected_403() {
    check(&Lab {
        file: "upgrade-rejected-403.pcap",
        frames: 325,
        tcp_flags: &[
            ("retransmission", &[92, 186, 291, 312, 313, 317]),
            ("fast_retransmission", &[186]),
            ("spurious_retransmission", &[313]),
            ("duplicate_ack", &[67, 183, 184, 185, 314]),
            ("window_update", &[66]),
        ],
        upgrade: Upgrade {
            stream: 8,
            request_frame: 320,
            response_frame: Some(321),
            status: Some(403),
            verdict: "rejected",
            retransmissions_after: 0,
            rst_frames: &[],
        },
        first_finding: Some("websocket_rejected"),
    });
}

/// The first copy of the upgrade request (frame 226) is lost on the way in, the
/// client retransmits it (frame 281, flagged by tshark) and HAProxy answers 403
/// (frame 282, `http.request_in == 226`): still one upgrade, rejected.
#[test]
fn upgrade_rejected_403_after_request_retransmission() {
    check(&Lab {
        file: "upgrade-rejected-403-retransmitted.pcap",
        frames: 324,
        tcp_flags: &[
            ("retransmission", &[66, 212, 227, 228, 281, 287]),
            ("window_update", &[61, 62, 65]),
        ],
        upgrade: Upgrade {
            stream: 8,
            request_frame: 226,
            response_frame: Some(282),
            status: Some(403),
            verdict: "rejected",
            retransmissions_after: 0,
            rst_frames: &[],
        },
        first_finding: Some("websocket_rejected"),
    });
}

/// HAProxy `http-request silent-drop`: the request is ACKed, nothing ever answers,
/// and when the client gives up 4 s later its FIN meets an RST (frame 331).
#[test]
fn upgrade_silently_dropped() {
    check(&Lab {
        file: "upgrade-silently-dropped.pcap",
        frames: 331,
        tcp_flags: &[
            ("retransmission", &[47, 153, 207, 219, 248, 304, 319]),
            ("fast_retransmission", &[219, 319]),
            ("out_of_order", &[45]),
            ("duplicate_ack", &[72, 189, 217, 218, 317, 318]),
            ("window_update", &[40, 43, 44, 71, 216]),
        ],
        upgrade: Upgrade {
            stream: 8,
            request_frame: 302,
            response_frame: None,
            status: None,
            verdict: "unanswered",
            retransmissions_after: 0,
            rst_frames: &[331],
        },
        first_finding: Some("websocket_unanswered"),
    });
}

/// A firewall in front of HAProxy drops every segment carrying the upgrade
/// request: the request (frame 301) is retransmitted five times (325-329) with
/// exponential backoff and never answered. One upgrade, not six.
#[test]
fn upgrade_dropped_by_firewall() {
    check(&Lab {
        file: "upgrade-dropped-by-firewall.pcap",
        frames: 329,
        tcp_flags: &[
            (
                "retransmission",
                &[143, 144, 209, 210, 302, 313, 314, 325, 326, 327, 328, 329],
            ),
            ("spurious_retransmission", &[314]),
            ("duplicate_ack", &[60, 88, 315]),
            ("window_update", &[59]),
        ],
        upgrade: Upgrade {
            stream: 8,
            request_frame: 301,
            response_frame: None,
            status: None,
            verdict: "unanswered",
            retransmissions_after: 5,
            rst_frames: &[],
        },
        first_finding: Some("websocket_unanswered"),
    });
}

#[test]
fn upgrade_accepted() {
    let lab = Lab {
        file: "upgrade-accepted.pcap",
        frames: 360,
        tcp_flags: &[
            ("retransmission", &[271, 272, 293, 294, 359]),
            ("duplicate_ack", &[163, 243, 360]),
        ],
        upgrade: Upgrade {
            stream: 8,
            request_frame: 318,
            response_frame: Some(319),
            status: Some(101),
            verdict: "accepted",
            retransmissions_after: 0,
            rst_frames: &[],
        },
        first_finding: None,
    };
    check(&lab);
    // tshark: 8 text frames (4 echoed messages each way), then a close each way, code 1000.
    let upgrade = &analyze(lab.file)["websocket"]["upgrades"][0];
    assert_eq!(upgrade["messages"], 8, "text messages");
    assert_eq!(upgrade["close_code"], 1000, "close code");
}

/// HAProxy `http-request return status 200` on /socket: the upgrade is ignored.
#[test]
fn upgrade_ignored_200() {
    check(&Lab {
        file: "upgrade-ignored-200.pcap",
        frames: 330,
        tcp_flags: &[
            ("retransmission", &[180, 182, 249, 269, 285, 296, 312, 323]),
            ("fast_retransmission", &[285, 312]),
            ("duplicate_ack", &[282, 283, 284, 309, 310, 311]),
            ("window_update", &[181]),
        ],
        upgrade: Upgrade {
            stream: 8,
            request_frame: 263,
            response_frame: Some(264),
            status: Some(200),
            verdict: "ignored",
            retransmissions_after: 0,
            rst_frames: &[],
        },
        first_finding: Some("websocket_ignored"),
    });
}

/// The backend answers 101 with a wrong Sec-WebSocket-Accept and HAProxy passes it
/// through; the client fails the connection without a close frame.
#[test]
fn bad_accept() {
    check(&Lab {
        file: "bad-accept.pcap",
        frames: 330,
        tcp_flags: &[
            ("retransmission", &[56, 110, 127, 153, 230, 309, 329]),
            ("fast_retransmission", &[110]),
            ("duplicate_ack", &[108, 109, 152, 330]),
            ("window_update", &[123, 124]),
        ],
        upgrade: Upgrade {
            stream: 8,
            request_frame: 323,
            response_frame: Some(324),
            status: Some(101),
            verdict: "bad_accept",
            retransmissions_after: 0,
            rst_frames: &[],
        },
        first_finding: Some("websocket_bad_accept"),
    });
}
