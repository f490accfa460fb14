//! `pcap analyze` on the captures made by tests/lab/h2-websocket.sh: HTTP/2 over
//! clear text between Python h2 4.4.1 peers on loopback. The server advertises
//! SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; one RFC 8441 extended CONNECT to /chat is
//! answered 200 (then one WebSocket text message each way in DATA frames), the next
//! one, to /forbidden, 403. h2-extended-connect.pcap starts with the client preface
//! (prior knowledge, CONNECTs on streams 1 and 3); h2c-upgrade-extended-connect.pcap
//! starts with an HTTP/1.1 `Upgrade: h2c` GET answered 101 (that GET is stream 1, the
//! CONNECTs are streams 3 and 5).
//!
//! Expected frame numbers, streams, paths and statuses are tshark 4.0's (`tshark
//! -d tcp.port==18441,http2` for the first file, `-d tcp.port==18441,http` for the
//! second, `-Y http2 -T fields -e frame.number -e http2.streamid
//! -e http2.headers.path -e http2.headers.status`).

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const PRIOR_KNOWLEDGE: &str = "h2-extended-connect.pcap";
const H2C_UPGRADE: &str = "h2c-upgrade-extended-connect.pcap";

fn analyze(name: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lab")
        .join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(["pcap", "analyze", "--json"])
        .arg(&file)
        .output()
        .expect("run netkit");
    assert!(
        out.status.success(),
        "netkit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("pcap analyze --json prints one JSON document")
}

/// (HTTP/2 stream, path, request frame, response frame, status, verdict, messages)
type Expected = (u32, &'static str, u64, u64, u16, &'static str, u64);

fn check_upgrades(name: &str, expected: [Expected; 2]) {
    let report = analyze(name);
    let upgrades = report["websocket"]["upgrades"]
        .as_array()
        .expect("websocket.upgrades is an array");
    assert_eq!(upgrades.len(), 2, "{upgrades:#?}");
    for (u, (h2_stream, path, req, resp, status, verdict, messages)) in
        upgrades.iter().zip(expected)
    {
        assert_eq!(u["method"], "CONNECT");
        assert_eq!(u["http2_stream"], h2_stream);
        assert_eq!(u["path"], path);
        assert_eq!(u["host"], "lab.example:18441");
        assert_eq!(u["stream"], 0, "the one TCP connection");
        assert_eq!(u["request_frame"], req);
        assert_eq!(u["response_frame"], resp);
        assert_eq!(u["status"], status);
        assert_eq!(u["verdict"], verdict);
        assert_eq!(u["messages"], messages);
        assert!(u["response_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    }
    // One masked text frame from the client, one reply from the server.
    assert_eq!(upgrades[0]["client_messages"], 1);
    assert_eq!(upgrades[0]["server_messages"], 1);
}

#[test]
fn prior_knowledge_extended_connects_accepted_and_rejected() {
    check_upgrades(
        PRIOR_KNOWLEDGE,
        [
            (1, "/chat", 10, 11, 200, "accepted", 2),
            (3, "/forbidden", 14, 15, 403, "rejected", 0),
        ],
    );
}

#[test]
fn h2c_upgrade_extended_connects_accepted_and_rejected() {
    check_upgrades(
        H2C_UPGRADE,
        [
            (3, "/chat", 14, 16, 200, "accepted", 2),
            (5, "/forbidden", 19, 20, 403, "rejected", 0),
        ],
    );
}

#[test]
fn rejected_extended_connect_is_an_error_finding() {
    let report = analyze(PRIOR_KNOWLEDGE);
    let findings = report["findings"].as_array().expect("findings array");
    let rejected: Vec<&Value> = findings
        .iter()
        .filter(|f| f["code"] == "websocket_rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{findings:#?}");
    assert_eq!(rejected[0]["severity"], "error");
    assert_eq!(rejected[0]["frames"], serde_json::json!([14, 15]));
    assert!(
        rejected[0]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("/forbidden") && s.contains("403")),
        "{}",
        rejected[0]["summary"]
    );
    // The accepted upgrade closed cleanly (no Close frame): no finding about it.
    assert!(!findings
        .iter()
        .any(|f| f["summary"].as_str().is_some_and(|s| s.contains("/chat"))));
}
