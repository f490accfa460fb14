//! The `tls` section without keys against tshark on the same captures: for every TCP
//! stream tshark decodes a hello in, the ClientHello and ServerHello frames, the
//! negotiated version, the SNI, the ALPN names (offered and selected) and the clear-text
//! alerts must be tshark's. Captures: tests/fixtures/tls (real OpenSSL handshakes made
//! by tests/lab/tls-fixtures.sh) and every capture of ../shared/pcaps with TCP in it
//! (the TLS ones are those where tshark finds a handshake; the counts are printed).
//!
//! A hello netkit decodes where tshark does not is allowed only on a frame tshark
//! itself flags with a TCP analysis problem (its reassembly gave up there); each one
//! is printed.

mod common;

use common::tls_fields::{compare, Tally};

#[test]
fn tls_fields_equal_tsharks_on_fixtures_and_shared_captures() {
    if !common::have("tshark") {
        eprintln!("skipping: needs tshark installed");
        return;
    }
    let mut fixtures = Tally::default();
    for f in common::captures_in(&common::fixtures_dir().join("tls")) {
        compare(&f, &mut fixtures);
    }
    assert!(fixtures.captures >= 7, "the tls fixtures are all TLS");
    eprintln!(
        "fixtures: {} captures, {} streams equal (versions {}, SNI {}, ALPN names {}, alerts {})",
        fixtures.captures,
        fixtures.streams,
        fixtures.versions,
        fixtures.sni,
        fixtures.alpn,
        fixtures.alerts
    );
    let Some(dir) = common::shared_pcaps() else {
        return;
    };
    let mut shared = Tally::default();
    for row in common::manifest(&dir) {
        if row.get("tcp_streams").and_then(|s| s.parse::<u64>().ok()) == Some(0) {
            continue;
        }
        compare(&dir.join(&row["file"]), &mut shared);
    }
    eprintln!(
        "../shared/pcaps: {} TLS captures, {} streams equal (versions {}, SNI {}, ALPN names {}, alerts {}); {} hello(s) netkit-only on frames tshark flags",
        shared.captures,
        shared.streams,
        shared.versions,
        shared.sni,
        shared.alpn,
        shared.alerts,
        shared.netkit_only
    );
}

/// The findings each fixture must raise (and the good ones none), without tshark.
#[test]
fn tls_findings_on_the_fixtures() {
    let cases: [(&str, &[&str]); 7] = [
        ("tls13-http11.pcapng", &[]),
        ("tls13-chacha.pcapng", &[]),
        ("tls12-gcm.pcapng", &[]),
        ("tls12-chacha.pcapng", &[]),
        ("version-alert.pcapng", &["tls_fatal_alert"]),
        ("unknown-ca.pcapng", &["tls_fatal_alert"]),
        (
            "tls12-expired.pcapng",
            &["tls_cert_expired", "tls_cert_name_mismatch"],
        ),
    ];
    for (file, want) in cases {
        let r = common::analyze_fixture(&format!("tls/{file}"));
        let mut codes: Vec<String> = r
            .findings
            .iter()
            .filter(|f| f.code.as_str().starts_with("tls_"))
            .map(|f| f.code.as_str().to_string())
            .collect();
        codes.sort();
        assert_eq!(codes, want, "{file}: {:#?}", r.findings);
        let c = &r.tls.connections[0];
        assert_eq!(
            c.completed,
            want.is_empty() || want[0] != "tls_fatal_alert",
            "{file}"
        );
        if c.completed {
            assert!(c.handshake_ms >= c.handshake_rtt_ms, "{file}");
        }
    }
    let r = common::analyze_fixture("tls/version-alert.pcapng");
    let a = &r.tls.connections[0].alerts[0];
    assert_eq!(
        (a.from, a.level, a.description),
        ("server", "fatal", "protocol_version")
    );
    let r = common::analyze_fixture("tls/unknown-ca.pcapng");
    let a = &r.tls.connections[0].alerts[0];
    assert_eq!((a.from, a.description), ("client", "unknown_ca"));
}
