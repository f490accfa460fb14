//! JA4 client fingerprints (FoxIO's JA4 specification, technical_details/JA4.md of
//! github.com/FoxIO-LLC/ja4, BSD-3-Clause): the ClientHello summarised as
//! `t13d1516h2_8daaf6152771_e5627efa2ab1`.
//!
//! Part a: transport (`t`, TLS over TCP: the only one followed here), version (the
//! highest supported_versions entry, else the legacy version), `d` with an SNI
//! extension or `i` without, the cipher and extension counts (two digits, at most 99),
//! and the first and last characters of the first ALPN value (`00` without one). Part
//! b: the sorted cipher list, part c: the sorted extension list without SNI and ALPN,
//! then `_` and the signature algorithms in the client's order; each as lower-case
//! 4-digit hex joined by commas, SHA-256, first 12 hex digits (`000000000000` for an
//! empty list). GREASE values (RFC 8701) are left out everywhere.

use netkit_dissectors::app::tls::{is_grease, ClientHello};
use sha2::{Digest, Sha256};

const SNI: u16 = 0x0000;
const ALPN: u16 = 0x0010;

/// The JA4 version label of a protocol version.
fn version_label(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// The first and last characters of the first ALPN value: the characters themselves
/// when both are ASCII alphanumerics, else the first and last digits of the value's
/// hex; `00` without a (non-empty) first value.
fn alpn_chars(first: Option<&[u8]>) -> String {
    let Some(v) = first.filter(|v| !v.is_empty()) else {
        return "00".into();
    };
    let (a, z) = (v[0], v[v.len() - 1]);
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        return format!("{}{}", a as char, z as char);
    }
    let hex = |b: u8| char::from_digit(u32::from(b), 16).unwrap_or('0');
    format!("{}{}", hex(a >> 4), hex(z & 0x0f))
}

/// `values` as JA4 writes a list: 4-digit lower-case hex joined by commas.
fn hex_list(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The first 12 hex digits of the SHA-256 of `s`.
fn hash12(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The JA4 fingerprint of a ClientHello sent over TCP.
pub fn ja4(ch: &ClientHello<'_>) -> String {
    let version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(ch.legacy_version);
    let mut ciphers: Vec<u16> = ch
        .cipher_suites
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let extensions: Vec<u16> = ch
        .extensions
        .iter()
        .copied()
        .filter(|e| !is_grease(*e))
        .collect();
    let destination = if extensions.contains(&SNI) { 'd' } else { 'i' };
    let a = format!(
        "t{}{destination}{:02}{:02}{}",
        version_label(version),
        ciphers.len().min(99),
        extensions.len().min(99),
        alpn_chars(ch.alpn.first().copied())
    );
    ciphers.sort_unstable();
    let b = if ciphers.is_empty() {
        "000000000000".to_string()
    } else {
        hash12(&hex_list(&ciphers))
    };
    let mut hashed_ext: Vec<u16> = extensions
        .into_iter()
        .filter(|e| *e != SNI && *e != ALPN)
        .collect();
    hashed_ext.sort_unstable();
    let c = if hashed_ext.is_empty() {
        "000000000000".to_string()
    } else {
        let sig: Vec<u16> = ch
            .signature_algorithms
            .iter()
            .copied()
            .filter(|s| !is_grease(*s))
            .collect();
        let mut text = hex_list(&hashed_ext);
        if !sig.is_empty() {
            text.push('_');
            text += &hex_list(&sig);
        }
        hash12(&text)
    };
    format!("{a}_{b}_{c}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the JA4 specification (technical_details/JA4.md,
    /// "Example" and "Extension hash"), with GREASE values added where a browser puts
    /// them: they must change nothing.
    fn spec_example() -> ClientHello<'static> {
        ClientHello {
            legacy_version: 0x0303,
            cipher_suites: vec![
                0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x8a8a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005,
                0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0xbaba,
            ],
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_versions: vec![0x7a7a, 0x0304, 0x0303],
            alpn: vec![b"h2", b"http/1.1"],
            sni: Some("example.com"),
            ..ClientHello::default()
        }
    }

    #[test]
    fn the_specifications_worked_example() {
        assert_eq!(ja4(&spec_example()), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn without_signature_algorithms_sni_or_alpn() {
        let mut ch = spec_example();
        ch.signature_algorithms.clear();
        // The specification's hash of the extension list alone.
        assert!(ja4(&ch).ends_with("_6d807ffa2a79"), "{}", ja4(&ch));
        ch.extensions.retain(|e| *e != SNI && *e != ALPN);
        ch.alpn.clear();
        assert!(ja4(&ch).starts_with("t13i151400_8daaf6152771_6d807ffa2a79"));
        ch.cipher_suites.clear();
        ch.extensions.clear();
        ch.supported_versions.clear();
        assert_eq!(ja4(&ch), "t12i000000_000000000000_000000000000");
    }

    #[test]
    fn alpn_characters() {
        // The specification's examples of first ALPN values.
        for (value, want) in [
            (&b"h2"[..], "h2"),
            (b"http/1.1", "h1"),
            (b"h", "hh"),
            (b"", "00"),
            (&[0xab], "ab"),
            (&[0x20], "20"),
            (&[0xab, 0xcd], "ad"),
            (&[0x20, 0x61], "21"),
            (&[0x30, 0xab], "3b"),
            (&[0x61, 0x20], "60"),
            (&[0x30, 0x31, 0xab, 0xcd], "3d"),
            (&[0x30, 0xab, 0xcd, 0x31], "01"),
        ] {
            assert_eq!(alpn_chars(Some(value)), want, "{value:02x?}");
        }
        assert_eq!(alpn_chars(None), "00");
    }

    #[test]
    fn counts_stop_at_99() {
        let mut ch = spec_example();
        ch.cipher_suites = (1..=150).collect();
        assert_eq!(&ja4(&ch)[4..6], "99");
    }
}
