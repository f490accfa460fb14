//! WebSocket over wss:// decrypted with the client's key log, against tshark with the
//! same key log (`-o tls.keylog_file:F -Y http`): a python websockets client and
//! server (tests/lab/wss_pair.py, captured by tests/lab/tls-fixtures.sh) over TLS 1.2
//! (ECDHE AES-128-GCM) and TLS 1.3 (AES-256-GCM), the upgrade accepted (echo, close
//! 1000) or rejected with 403. The verdicts must be the clear-text ones (accepted,
//! rejected with its finding), and the request frame, status and Upgrade header
//! tshark's. The response frame is tshark's for the 101s; for a 403 whose body comes
//! in a later record, tshark names the frame that completes the body, netkit the one
//! with the head (as over clear text), and the test checks exactly that.

mod common;

use serde_json::Value;
use std::process::Command;

struct Case {
    name: &'static str,
    verdict: &'static str,
    finding: Option<&'static str>,
}

const CASES: [Case; 4] = [
    Case {
        name: "wss13-ok",
        verdict: "accepted",
        finding: None,
    },
    Case {
        name: "wss12-ok",
        verdict: "accepted",
        finding: None,
    },
    Case {
        name: "wss13-reject",
        verdict: "rejected",
        finding: Some("websocket_rejected"),
    },
    Case {
        name: "wss12-reject",
        verdict: "rejected",
        finding: Some("websocket_rejected"),
    },
];

/// tshark's decrypted HTTP: (frame, response code, upgrade header) per HTTP frame.
fn tshark_http(name: &str) -> Vec<(u64, Option<u64>, String)> {
    let dir = common::fixtures_dir().join("tls");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(dir.join(format!("{name}.pcapng")))
        .arg("-o")
        .arg(format!(
            "tls.keylog_file:{}",
            dir.join(format!("{name}.keys")).display()
        ))
        .args(["-Y", "http", "-T", "fields", "-e", "frame.number"])
        .args(["-e", "http.response.code", "-e", "http.upgrade"])
        .output()
        .expect("run tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].parse().unwrap(),
                f.get(1).and_then(|s| s.parse().ok()),
                f.get(2).unwrap_or(&"").to_string(),
            )
        })
        .collect()
}

fn netkit(name: &str) -> Value {
    let dir = common::fixtures_dir().join("tls");
    let out = common::netkit()
        .args(["pcap", "analyze", "--json", "--tls-keylog"])
        .arg(dir.join(format!("{name}.keys")))
        .arg(dir.join(format!("{name}.pcapng")))
        .output()
        .expect("run netkit");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn wss_verdicts_and_decrypted_http_equal_tsharks() {
    let with_tshark = common::have("tshark");
    if !with_tshark {
        eprintln!("tshark missing: checking verdicts only, not tshark's fields");
    }
    for case in &CASES {
        let r = netkit(case.name);
        let ups = r["websocket"]["upgrades"].as_array().unwrap();
        assert_eq!(ups.len(), 1, "{}", case.name);
        let u = &ups[0];
        assert_eq!(u["verdict"], case.verdict, "{}", case.name);
        assert_eq!(r["tls"]["connections"][0]["decryption_failures"], 0);
        let codes: Vec<&str> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            case.finding.into_iter().collect::<Vec<_>>(),
            "{}",
            case.name
        );
        // Without the key log: no upgrade at all, the TLS handshake only.
        let plain = common::netkit()
            .args(["pcap", "analyze", "--json"])
            .arg(
                common::fixtures_dir()
                    .join("tls")
                    .join(format!("{}.pcapng", case.name)),
            )
            .output()
            .unwrap();
        let plain: Value = serde_json::from_slice(&plain.stdout).unwrap();
        assert_eq!(plain["websocket"]["upgrades"].as_array().unwrap().len(), 0);
        if !with_tshark {
            continue;
        }
        let http = tshark_http(case.name);
        let request = http.iter().find(|h| h.1.is_none()).expect("a request");
        let response = http.iter().find(|h| h.1.is_some()).expect("a response");
        assert_eq!(u["request_frame"], request.0, "{}", case.name);
        assert_eq!(request.2, "websocket", "{}", case.name);
        assert_eq!(u["status"], response.1.unwrap(), "{}", case.name);
        let ours = u["response_frame"].as_u64().unwrap();
        if response.1 == Some(101) {
            assert_eq!(ours, response.0, "{}", case.name);
            assert_eq!(response.2, "websocket", "{}", case.name);
        } else {
            assert!(
                ours <= response.0,
                "{}: head in {ours}, body ends in {}",
                case.name,
                response.0
            );
        }
        eprintln!(
            "{}: request {} status {} ({}) equal tshark's; response frame netkit {ours}, tshark {}",
            case.name,
            request.0,
            response.1.unwrap(),
            case.verdict,
            response.0
        );
    }
}
