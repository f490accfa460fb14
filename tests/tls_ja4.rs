//! JA4 client fingerprints (`tls.connections[].ja4`) on real ClientHellos: the
//! TLS fixtures (tests/fixtures/tls) and every capture of ../shared/pcaps with TCP.
//!
//! - Against the specification's rules applied to tshark's dissection of the same
//!   hello (its cipher, extension, signature-algorithm, supported-versions, SNI and
//!   ALPN fields): GREASE left out, the counts, `d`/`i`, the ALPN characters (`00`
//!   without), the sorted cipher list and the sorted extension list without SNI and
//!   ALPN followed by the signature algorithms in order, each hashed with SHA-256 and
//!   cut to 12 hex digits. Every stream where both see a ClientHello must agree.
//! - Against FoxIO's reference implementation (python/ja4.py of
//!   github.com/FoxIO-LLC/ja4, which runs tshark) when NETKIT_JA4_REFERENCE names
//!   that ja4.py: every stream it fingerprints must have netkit's fingerprint.
//!
//! The specification's worked example is a unit test next to the code
//! (cmds/src/pcap/analyze/sections/tls/ja4.rs).

mod common;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn num(s: &str) -> Option<u16> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u16::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn nums(s: &str) -> Vec<u16> {
    s.split(',').filter_map(num).collect()
}

fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

fn hash12(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn joined(v: &[u16]) -> String {
    v.iter()
        .map(|x| format!("{x:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The JA4 of every ClientHello tshark decodes (the last one of a stream, as after a
/// HelloRetryRequest), by TCP stream, from tshark's fields.
fn ja4_from_tshark(path: &Path) -> BTreeMap<u32, String> {
    let rows = common::tls_fields::tshark(
        path,
        "tls.handshake.type == 1",
        &[
            "tcp.stream",
            "tls.handshake.version",
            "tls.handshake.extensions.supported_version",
            "tls.handshake.ciphersuite",
            "tls.handshake.extension.type",
            "tls.handshake.sig_hash_alg_len",
            "tls.handshake.sig_hash_alg",
            "tls.handshake.extensions_alpn_str",
            "tls.handshake.type",
        ],
    );
    let mut out = BTreeMap::new();
    for r in rows {
        let get = |i: usize| r.get(i).map(String::as_str).unwrap_or("");
        let Some(stream) = get(0).parse::<u32>().ok() else {
            continue;
        };
        // One ClientHello per frame only: fields of two would be mixed.
        if nums(get(8)).iter().filter(|t| **t == 1).count() != 1 {
            continue;
        }
        let version = nums(get(2))
            .into_iter()
            .filter(|v| !grease(*v))
            .max()
            .or_else(|| nums(get(1)).first().copied())
            .unwrap_or(0);
        let label = match version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            _ => "00",
        };
        let mut ciphers: Vec<u16> = nums(get(3)).into_iter().filter(|c| !grease(*c)).collect();
        let exts: Vec<u16> = nums(get(4)).into_iter().filter(|e| !grease(*e)).collect();
        // signature_algorithms (13) and signature_algorithms_cert (50) share tshark's
        // fields: take the list of extension 13 by its place among the two.
        let lens: Vec<usize> = get(5)
            .split(',')
            .filter_map(|l| l.parse::<usize>().ok())
            .collect();
        let algs = nums(get(6));
        let order: Vec<u16> = exts
            .iter()
            .copied()
            .filter(|e| *e == 13 || *e == 50)
            .collect();
        let mut sig = Vec::new();
        let mut at = 0;
        for (i, len) in lens.iter().enumerate() {
            let n = len / 2;
            if order.get(i) == Some(&13) {
                sig = algs.get(at..at + n).unwrap_or(&[]).to_vec();
            }
            at += n;
        }
        sig.retain(|s| !grease(*s));
        let alpn = get(7).split(',').next().unwrap_or("").as_bytes();
        let alpn = match (alpn.first(), alpn.last()) {
            (Some(a), Some(z)) if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() => {
                format!("{}{}", *a as char, *z as char)
            }
            (Some(a), Some(z)) => format!("{:x}{:x}", a >> 4, z & 0xf),
            _ => "00".into(),
        };
        let a = format!(
            "t{label}{}{:02}{:02}{alpn}",
            if exts.contains(&0) { 'd' } else { 'i' },
            ciphers.len().min(99),
            exts.len().min(99)
        );
        ciphers.sort();
        let b = if ciphers.is_empty() {
            "000000000000".into()
        } else {
            hash12(&joined(&ciphers))
        };
        let mut hashed: Vec<u16> = exts.into_iter().filter(|e| *e != 0 && *e != 16).collect();
        hashed.sort();
        let c = if hashed.is_empty() {
            "000000000000".into()
        } else if sig.is_empty() {
            hash12(&joined(&hashed))
        } else {
            hash12(&format!("{}_{}", joined(&hashed), joined(&sig)))
        };
        out.insert(stream, format!("{a}_{b}_{c}"));
    }
    out
}

fn ja4_from_netkit(path: &Path) -> BTreeMap<u32, String> {
    let report = netkit::commands::pcap::analyze_path(path, None, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    report
        .tls
        .connections
        .into_iter()
        .filter_map(|c| Some((c.stream?, c.ja4?)))
        .collect()
}

/// The shape every fingerprint has, whatever the hello.
fn well_formed(ja4: &str) -> bool {
    let parts: Vec<&str> = ja4.split('_').collect();
    let [a, b, c] = parts.as_slice() else {
        return false;
    };
    let a = a.as_bytes();
    a.len() == 10
        && a[0] == b't'
        && matches!(
            &a[1..3],
            b"13" | b"12" | b"11" | b"10" | b"s3" | b"s2" | b"00"
        )
        && matches!(a[3], b'd' | b'i')
        && a[4..8].iter().all(u8::is_ascii_digit)
        && a[8..].iter().all(u8::is_ascii_alphanumeric)
        && [b, c].iter().all(|h| {
            h.len() == 12
                && h.bytes()
                    .all(|x| x.is_ascii_digit() || (b'a'..=b'f').contains(&x))
        })
}

#[derive(Default)]
struct Tally {
    captures: usize,
    hellos: usize,
    equal: usize,
    netkit_only: usize,
}

fn compare(path: &Path, tally: &mut Tally) {
    let theirs = ja4_from_tshark(path);
    if theirs.is_empty() {
        return;
    }
    let ours = ja4_from_netkit(path);
    tally.captures += 1;
    for (stream, j) in &ours {
        assert!(well_formed(j), "{}: stream {stream}: {j}", path.display());
    }
    for (stream, want) in &theirs {
        tally.hellos += 1;
        match ours.get(stream) {
            Some(got) => {
                assert_eq!(got, want, "{} stream {stream}", path.display());
                tally.equal += 1;
            }
            // tshark decodes hellos in streams netkit did not follow from their start
            // only when the capture starts mid-stream; none of these captures does.
            None => panic!(
                "{} stream {stream}: tshark has a ClientHello ({want}), netkit no ja4",
                path.display()
            ),
        }
    }
    tally.netkit_only += ours.keys().filter(|s| !theirs.contains_key(s)).count();
}

fn all_captures() -> Vec<PathBuf> {
    let mut files = common::captures_in(&common::fixtures_dir().join("tls"));
    if let Some(dir) = common::shared_pcaps() {
        for row in common::manifest(&dir) {
            if row.get("tcp_streams").and_then(|s| s.parse::<u64>().ok()) == Some(0) {
                continue;
            }
            files.push(dir.join(&row["file"]));
        }
    }
    files
}

#[test]
fn ja4_follows_the_specification_on_real_client_hellos() {
    if !common::have("tshark") {
        eprintln!("skipping: needs tshark installed");
        return;
    }
    let mut tally = Tally::default();
    for f in all_captures() {
        compare(&f, &mut tally);
    }
    assert!(tally.captures >= 7, "the tls fixtures have ClientHellos");
    eprintln!(
        "ja4: {} captures with ClientHellos, {} of {} hellos tshark decodes have netkit's \
         fingerprint ({} fingerprinted by netkit only)",
        tally.captures, tally.equal, tally.hellos, tally.netkit_only
    );
}

#[test]
fn ja4_equals_foxios_reference_implementation() {
    let Some(reference) = std::env::var_os("NETKIT_JA4_REFERENCE") else {
        eprintln!(
            "skipping: set NETKIT_JA4_REFERENCE to FoxIO's python/ja4.py \
             (github.com/FoxIO-LLC/ja4) to compare with it"
        );
        return;
    };
    if !common::have("tshark") {
        eprintln!("skipping: needs tshark installed");
        return;
    }
    let scratch = std::env::temp_dir().join(format!("nk-ja4-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (mut captures, mut compared, mut reference_failed) = (0, 0, 0);
    for f in all_captures() {
        if ja4_from_tshark(&f).is_empty() {
            continue;
        }
        let out = scratch.join("out.json");
        let _ = std::fs::remove_file(&out);
        let ran = Command::new("python3")
            .arg(&reference)
            .arg(&f)
            .args(["-J", "--ja4", "-f"])
            .arg(&out)
            .output()
            .expect("run ja4.py");
        if !ran.status.success() {
            // The reference script's own failure (it crashes on some encapsulations):
            // said and counted, nothing to compare.
            eprintln!(
                "ja4: ja4.py failed on {}: {}",
                f.display(),
                String::from_utf8_lossy(&ran.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            reference_failed += 1;
            continue;
        }
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let theirs: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
        // TCP streams only (ja4.py also reports QUIC, which netkit does not follow).
        let theirs: BTreeMap<u32, String> = theirs
            .iter()
            .filter_map(|e| {
                let stream = e["stream"].as_u64()? as u32;
                // JA4.N for the N-th hello of the stream: the last one.
                let last = e
                    .as_object()?
                    .iter()
                    .filter(|(k, _)| k.starts_with("JA4.") && !k.contains('_'))
                    .max_by_key(|(k, _)| k[4..].parse::<u32>().unwrap_or(0))?;
                let v = last.1.as_str()?;
                v.starts_with('t').then(|| (stream, v.to_string()))
            })
            .collect();
        if theirs.is_empty() {
            continue;
        }
        captures += 1;
        let ours = ja4_from_netkit(&f);
        for (stream, want) in &theirs {
            assert_eq!(
                ours.get(stream),
                Some(want),
                "{} stream {stream}",
                f.display()
            );
            compared += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!(
        "ja4: {compared} fingerprints in {captures} captures equal FoxIO's ja4.py \
         ({reference_failed} captures it failed on)"
    );
    assert!(compared > 0, "ja4.py fingerprinted nothing");
}
