//! `pcap analyze --tls-keylog` on the OpenSSL fixtures of tests/fixtures/tls (made by
//! tests/lab/tls-fixtures.sh with the client's own key log beside each capture):
//! TLS 1.3 AES-256-GCM and ChaCha20-Poly1305, TLS 1.2 ECDHE AES-128-GCM,
//! ChaCha20-Poly1305, AES-128-CBC-SHA with encrypt-then-MAC and AES-256-CBC-SHA384
//! with MAC-then-encrypt. With the right key log every protected record opens (the
//! close_notify alerts, encrypted on the wire, are read by name; the HTTP request of
//! tls13-http11 decrypts whole); with a key log from another session
//! the records fail authentication and are reported, never a panic; with a key log that
//! lacks a session, the session is counted as without keys.

mod common;

use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join("tls").join(name)
}

fn analyze(capture: &str, keylogs: &[PathBuf]) -> Value {
    let mut cmd = common::netkit();
    cmd.args(["pcap", "analyze", "--json"])
        .arg(fixture(capture));
    for k in keylogs {
        cmd.arg("--tls-keylog").arg(k);
    }
    let out = cmd.output().expect("run netkit");
    assert!(
        out.status.success(),
        "{capture}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn codes(r: &Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

const DECRYPTABLE: [&str; 6] = [
    "tls13-http11",
    "tls13-chacha",
    "tls12-gcm",
    "tls12-chacha",
    "tls12-cbc-etm",
    "tls12-cbc-mte",
];

#[test]
fn every_record_opens_with_the_sessions_key_log() {
    for name in DECRYPTABLE {
        let r = analyze(
            &format!("{name}.pcapng"),
            &[fixture(&format!("{name}.keys"))],
        );
        let c = &r["tls"]["connections"][0];
        assert_eq!(c["decrypted"], true, "{name}");
        assert_eq!(c["decryption_failures"], 0, "{name}");
        assert_eq!(c["completed"], true, "{name}");
        let alerts: Vec<&str> = c["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["description"].as_str().unwrap())
            .collect();
        assert_eq!(alerts, ["close_notify", "close_notify"], "{name}");
        assert_eq!(r["tls"]["sessions_without_keys"], 0, "{name}");
        assert!(
            !codes(&r).iter().any(|c| c.starts_with("tls_")),
            "{name}: {:?}",
            codes(&r)
        );
    }
    // The HTTP request (tshark with the same key log decodes `GET /` in frame 12)
    // and s_server's -www status page.
    let r = analyze("tls13-http11.pcapng", &[fixture("tls13-http11.keys")]);
    let c = &r["tls"]["connections"][0];
    assert_eq!(c["client_plain_bytes"], 18, "GET / HTTP/1.1 + CRLF CRLF");
    assert!(c["server_plain_bytes"].as_u64().unwrap() > 1000);
    // The same request and page over the two CBC suites (tshark with the key logs
    // reads their close_notify alerts too).
    for (name, suite) in [
        ("tls12-cbc-etm", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
        ("tls12-cbc-mte", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    ] {
        let r = analyze(
            &format!("{name}.pcapng"),
            &[fixture(&format!("{name}.keys"))],
        );
        let c = &r["tls"]["connections"][0];
        assert_eq!(c["cipher_suite"], suite, "{name}");
        assert_eq!(c["client_plain_bytes"], 18, "{name}: GET / HTTP/1.1");
        assert!(c["server_plain_bytes"].as_u64().unwrap() > 1000, "{name}");
    }
    // Without a key log nothing is decrypted and nothing is said about keys.
    let r = analyze("tls13-http11.pcapng", &[]);
    assert_eq!(r["tls"]["connections"][0]["decrypted"], false);
    assert_eq!(r["tls"]["sessions_without_keys"], Value::Null);
}

#[test]
fn another_sessions_secrets_fail_authentication_and_are_reported() {
    // Each fixture's key log line names its own client random: put another
    // session's secret under this session's random.
    let dir = std::env::temp_dir().join(format!("nk17-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, other) in [
        ("tls12-gcm", "tls12-chacha"),
        ("tls13-chacha", "tls13-http11"),
        // The wrong master secret: CBC records fail their MAC or padding.
        ("tls12-cbc-mte", "tls12-cbc-etm"),
        ("tls12-cbc-etm", "tls12-cbc-mte"),
    ] {
        let mine = std::fs::read_to_string(fixture(&format!("{name}.keys"))).unwrap();
        let theirs = std::fs::read_to_string(fixture(&format!("{other}.keys"))).unwrap();
        let random = |line: &str| line.split_whitespace().nth(1).unwrap().to_string();
        let my_random = mine
            .lines()
            .find(|l| !l.starts_with('#'))
            .map(random)
            .unwrap();
        let forged: String = theirs
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let mut p: Vec<&str> = l.split_whitespace().collect();
                p[1] = &my_random;
                format!("{}\n", p.join(" "))
            })
            .collect();
        let path = dir.join(format!("{name}.forged"));
        std::fs::write(&path, forged).unwrap();
        let r = analyze(&format!("{name}.pcapng"), &[path]);
        let c = &r["tls"]["connections"][0];
        assert_eq!(c["decrypted"], true, "{name}: the secrets were found");
        assert!(c["decryption_failures"].as_u64().unwrap() >= 1, "{name}");
        assert!(
            codes(&r).contains(&"tls_decrypt_failed".to_string()),
            "{name}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_key_log_without_the_session_counts_it() {
    let r = analyze("tls12-gcm.pcapng", &[fixture("tls13-http11.keys")]);
    assert_eq!(r["tls"]["sessions_without_keys"], 1);
    assert!(codes(&r).contains(&"tls_no_keys".to_string()));
}

/// Secrets embedded by `editcap --inject-secrets` (a pcapng Decryption Secrets Block)
/// decrypt without --tls-keylog: the wss:// upgrade gets its verdict.
#[test]
fn secrets_embedded_in_pcapng_decrypt() {
    if !common::have("editcap") {
        eprintln!("skipping: needs editcap (package tshark)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("nk17-dsb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("wss13-ok-dsb.pcapng");
    let st = std::process::Command::new("editcap")
        .arg("--inject-secrets")
        .arg(format!("tls,{}", fixture("wss13-ok.keys").display()))
        .arg(fixture("wss13-ok.pcapng"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let o = common::netkit()
        .args(["pcap", "analyze", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(r["tls"]["connections"][0]["decrypted"], true);
    assert_eq!(r["websocket"]["upgrades"][0]["verdict"], "accepted");
}

/// `--write-streams` of the wss12-reject fixture with its key log, written in `dir`
/// (created): a capture that carries its secrets in a Decryption Secrets Block.
fn streams_with_secrets(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let out = dir.join("streams.pcapng");
    let st = common::netkit()
        .args(["pcap", "analyze", "--tls-keylog"])
        .arg(fixture("wss12-reject.keys"))
        .arg("--write-streams")
        .arg(&out)
        .arg(fixture("wss12-reject.pcapng"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    out
}

/// `--write-streams` keeps the key log (a Decryption Secrets Block before the
/// packets): the written streams decrypt on their own, with the same verdict.
#[test]
fn write_streams_keeps_the_secrets() {
    let dir = std::env::temp_dir().join(format!("nk17-ws-{}", std::process::id()));
    let out = streams_with_secrets(&dir);
    let o = common::netkit()
        .args(["pcap", "analyze", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(r["tls"]["connections"][0]["decrypted"], true);
    assert_eq!(r["websocket"]["upgrades"][0]["verdict"], "rejected");
}

/// Secrets embedded in the capture reach the TLS section whatever the split of
/// `--jobs` (the two-thread split once dropped them: its worker never saw them). The
/// capture with the secrets is `--write-streams`' own output, as above.
#[test]
fn embedded_secrets_decrypt_on_every_split() {
    let dir = std::env::temp_dir().join(format!("nk19-dsb-jobs-{}", std::process::id()));
    let with_secrets = streams_with_secrets(&dir);
    let run = |args: &[&str]| {
        let o = common::netkit()
            .args(["pcap", "analyze", "--json"])
            .args(args)
            .arg(&with_secrets)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    let one = run(&["--jobs", "1"]);
    let r: Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(r["tls"]["connections"][0]["decrypted"], true);
    assert_eq!(r["websocket"]["upgrades"][0]["verdict"], "rejected");
    let export = dir.join("flows.ndjson");
    let export = export.to_str().unwrap();
    for args in [
        vec!["--jobs", "2"],
        vec!["--jobs", "3"],
        vec!["--jobs", "3", "--export", export],
    ] {
        assert!(run(&args) == one, "{args:?}: not the report of --jobs 1");
    }
    std::fs::remove_dir_all(&dir).ok();
}
