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

/// `pcap show --tls-keylog` on the same captures: the decrypted upgrade request and
/// its answer show under the frames tshark (and `pcap analyze`) name; without the
/// key log nothing is decrypted; with another capture's key log, stderr says how many
/// sessions had no secrets.
#[test]
fn pcap_show_prints_the_decrypted_http_lines() {
    let dir = common::fixtures_dir().join("tls");
    let with_tshark = common::have("tshark");
    for case in &CASES {
        let pcap = dir.join(format!("{}.pcapng", case.name));
        let keys = dir.join(format!("{}.keys", case.name));
        let show = |keys: Option<&std::path::Path>| {
            let mut cmd = common::netkit();
            cmd.args(["pcap", "show", "--json"]);
            if let Some(k) = keys {
                cmd.arg("--tls-keylog").arg(k);
            }
            let out = cmd.arg(&pcap).output().unwrap();
            assert!(out.status.success(), "{}", case.name);
            let lines: Vec<(u64, String, String)> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .flat_map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    let frame = v["frame"].as_u64().unwrap();
                    v["decrypted"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |d| {
                            (
                                frame,
                                d["from"].as_str().unwrap().to_string(),
                                d["line"].as_str().unwrap_or("").to_string(),
                            )
                        })
                })
                .collect();
            (lines, String::from_utf8_lossy(&out.stderr).into_owned())
        };
        let (lines, stderr) = show(Some(&keys));
        assert_eq!(stderr, "", "{}", case.name);
        let request = lines
            .iter()
            .find(|l| l.2 == "GET /socket HTTP/1.1")
            .unwrap_or_else(|| panic!("{}: no decrypted request in {lines:?}", case.name));
        assert_eq!(request.1, "client", "{}", case.name);
        let status = if case.verdict == "accepted" {
            "101"
        } else {
            "403"
        };
        let answer = lines
            .iter()
            .find(|l| l.2.starts_with(&format!("HTTP/1.1 {status} ")))
            .unwrap_or_else(|| panic!("{}: no decrypted {status} in {lines:?}", case.name));
        assert_eq!(answer.1, "server", "{}", case.name);
        let analyzed = &netkit(case.name)["websocket"]["upgrades"][0];
        assert_eq!(analyzed["request_frame"], request.0, "{}", case.name);
        assert_eq!(analyzed["response_frame"], answer.0, "{}", case.name);
        if with_tshark {
            let http = tshark_http(case.name);
            let theirs = http.iter().find(|h| h.1.is_none()).unwrap();
            assert_eq!(
                request.0, theirs.0,
                "{}: request frame, tshark's",
                case.name
            );
        }

        let (plain, stderr) = show(None);
        assert!(plain.is_empty(), "{}: decrypted without keys", case.name);
        assert_eq!(stderr, "", "{}", case.name);
        // Another capture's secrets: nothing decrypted, and said.
        let other = if case.name == "wss13-ok" {
            "wss12-ok"
        } else {
            "wss13-ok"
        };
        let (wrong, stderr) = show(Some(&dir.join(format!("{other}.keys"))));
        assert!(wrong.is_empty(), "{}: decrypted with wrong keys", case.name);
        assert!(
            stderr.contains("no secrets for 1 TLS session"),
            "{}: {stderr}",
            case.name
        );
    }
}
