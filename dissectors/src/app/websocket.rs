//! WebSocket (RFC 6455): the handshake's accept-key arithmetic and frame headers.
//!
//! [`parse_frame`] decodes one frame header from the start of a byte slice and
//! borrows whatever part of the payload is present, so a caller can walk a
//! reassembled TCP byte stream frame by frame with [`WsFrame::total_len`] even when
//! the capture cut a frame short. Protocol violations that do not hide the frame
//! boundary (reserved opcodes, RSV bits, oversized control frames, non-minimal
//! lengths) are reported by [`WsFrame::violations`] rather than as errors, because a
//! diagnostic tool wants to see such frames, not lose them.
//!
//! SHA-1 and base64 are implemented here (small, tested against RFC 3174 and
//! RFC 4648 vectors) because the accept key is their only use in netkit.

use std::fmt;

use serde::Serialize;

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};

const LAYER: &str = "websocket";

/// RFC 6455 §1.3: the GUID the server appends to the client's key.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value a server must answer to `key`
/// (base64 of the SHA-1 of the trimmed key followed by the RFC 6455 GUID).
pub fn accept_for_key(key: &str) -> String {
    let mut input = Vec::with_capacity(key.len() + ACCEPT_GUID.len());
    input.extend_from_slice(key.trim().as_bytes());
    input.extend_from_slice(ACCEPT_GUID.as_bytes());
    base64_encode(&sha1(&input))
}

/// True when `accept` (surrounding whitespace ignored) is the correct answer to `key`.
pub fn validate_accept(key: &str, accept: &str) -> bool {
    accept.trim() == accept_for_key(key)
}

/// RFC 6455 §4.1: the key must be base64 that decodes to exactly 16 bytes, which
/// always looks like 22 base64 characters followed by `==`.
pub fn key_is_well_formed(key: &str) -> bool {
    let key = key.trim().as_bytes();
    let Some((body, padding)) = key.split_at_checked(22) else {
        return false;
    };
    // 16 bytes = 128 bits; the 22nd character carries only 2 data bits, so its low
    // four bits must be zero (it is one of A, Q, g, w).
    padding == b"=="
        && body.iter().all(|&c| base64_value(c).is_some())
        && body
            .last()
            .and_then(|&c| base64_value(c))
            .is_some_and(|v| v & 0x0f == 0)
}

/// Frame opcode (RFC 6455 §5.2); reserved values are kept as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
    Unknown(u8),
}

impl Opcode {
    pub fn from_u8(value: u8) -> Self {
        match value {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => Opcode::Unknown(other),
        }
    }

    pub fn value(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
            Opcode::Unknown(v) => v,
        }
    }

    /// Control frames are the opcodes with the high bit set (0x8-0xF).
    pub fn is_control(self) -> bool {
        self.value() & 0x08 != 0
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Wireshark's names, so summaries read the same in both tools.
        match self {
            Opcode::Continuation => f.write_str("Continuation"),
            Opcode::Text => f.write_str("Text"),
            Opcode::Binary => f.write_str("Binary"),
            Opcode::Close => f.write_str("Connection Close"),
            Opcode::Ping => f.write_str("Ping"),
            Opcode::Pong => f.write_str("Pong"),
            Opcode::Unknown(v) => write!(f, "Unknown opcode {v:#x}"),
        }
    }
}

/// One decoded WebSocket frame header plus the payload bytes present in the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsFrame<'a> {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: Opcode,
    /// The masking key; present exactly when the MASK bit is set.
    pub mask_key: Option<[u8; 4]>,
    /// Payload length announced by the header.
    pub declared_len: u64,
    /// Bytes of header: 2, plus 2 or 8 for the extended length, plus 4 for a mask key.
    pub header_len: usize,
    /// The payload bytes present in the input, still masked; shorter than
    /// `declared_len` when the input ends inside the frame.
    #[serde(skip)]
    pub payload: &'a [u8],
    /// Close frames only: the status code, when the first two payload bytes are present.
    pub close_code: Option<u16>,
    /// Close frames only: the reason text after the code (lossy UTF-8).
    pub close_reason: Option<String>,
}

impl WsFrame<'_> {
    pub fn masked(&self) -> bool {
        self.mask_key.is_some()
    }

    /// Header plus declared payload: where the next frame starts in the byte stream.
    pub fn total_len(&self) -> u64 {
        // header_len <= 14 and declared_len < 2^63 (checked in parse_frame): no overflow.
        self.header_len as u64 + self.declared_len
    }

    /// True when the input ended before the declared payload did.
    pub fn is_truncated(&self) -> bool {
        (self.payload.len() as u64) < self.declared_len
    }

    /// The present payload bytes with the mask removed (a copy; meant for control
    /// frames and other small payloads).
    pub fn unmasked_payload(&self) -> Vec<u8> {
        unmask(self.payload, self.mask_key)
    }

    /// RFC 6455 §5 rules this frame breaks that do not prevent decoding it. RSV bits
    /// are legal only with a negotiated extension (RSV1 = permessage-deflate), which
    /// the caller knows from the handshake.
    pub fn violations(&self) -> Vec<&'static str> {
        let mut found = Vec::new();
        if matches!(self.opcode, Opcode::Unknown(_)) {
            found.push("reserved opcode");
        }
        if self.rsv1 || self.rsv2 || self.rsv3 {
            found.push("RSV bits set (needs a negotiated extension)");
        }
        if self.opcode.is_control() {
            if self.declared_len > 125 {
                found.push("control frame payload longer than 125 bytes");
            }
            if !self.fin {
                found.push("fragmented control frame");
            }
        }
        let length_field = self.header_len - if self.masked() { 4 } else { 0 };
        let minimal = match length_field {
            4 => self.declared_len > 125,
            10 => self.declared_len > 0xffff,
            _ => true,
        };
        if !minimal {
            found.push("payload length not minimally encoded");
        }
        if self.opcode == Opcode::Close && self.declared_len == 1 {
            found.push("close payload of one byte (a code needs two)");
        }
        found
    }
}

impl fmt::Display for WsFrame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebSocket {}", self.opcode)?;
        if self.fin {
            f.write_str(" [FIN]")?;
        }
        if self.masked() {
            f.write_str(" [MASKED]")?;
        }
        if let Some(code) = self.close_code {
            write!(f, " {code} {}", close_code_name(code))?;
            if let Some(reason) = self.close_reason.as_deref().filter(|r| !r.is_empty()) {
                write!(f, " {reason:?}")?;
            }
        }
        write!(f, " len={}", self.declared_len)?;
        if self.is_truncated() {
            write!(f, " ({} captured)", self.payload.len())?;
        }
        Ok(())
    }
}

/// Decode the frame starting at `data[0]`. Fails only when the header itself is
/// incomplete or announces a length with the most significant bit set (RFC 6455
/// §5.2 forbids it, and such a length makes the stream position meaningless).
pub fn parse_frame(data: &[u8]) -> Result<WsFrame<'_>> {
    let mut cur = Cursor::new(LAYER, data);
    let b0 = cur.u8()?;
    let b1 = cur.u8()?;
    let declared_len = match b1 & 0x7f {
        126 => u64::from(cur.u16()?),
        127 => {
            let at = cur.pos();
            let len = cur.u64()?;
            if len >> 63 != 0 {
                return Err(DecodeError::invalid(
                    LAYER,
                    at,
                    "64-bit payload length has its most significant bit set",
                ));
            }
            len
        }
        short => u64::from(short),
    };
    let mask_key = if b1 & 0x80 != 0 {
        Some(cur.array::<4>()?)
    } else {
        None
    };
    let header_len = cur.pos();
    let rest = cur.rest();
    let present = usize::try_from(declared_len).map_or(rest.len(), |n| n.min(rest.len()));
    let payload = rest.get(..present).unwrap_or(rest);
    let opcode = Opcode::from_u8(b0 & 0x0f);

    let (close_code, close_reason) = if opcode == Opcode::Close {
        let body = unmask(payload, mask_key);
        match body.split_first_chunk::<2>() {
            Some((code, reason)) => (
                Some(u16::from_be_bytes(*code)),
                Some(String::from_utf8_lossy(reason).into_owned()),
            ),
            None => (None, None),
        }
    } else {
        (None, None)
    };

    Ok(WsFrame {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv2: b0 & 0x20 != 0,
        rsv3: b0 & 0x10 != 0,
        opcode,
        mask_key,
        declared_len,
        header_len,
        payload,
        close_code,
        close_reason,
    })
}

/// Name of a close status code (RFC 6455 §7.4.1 and the IANA registry).
pub fn close_code_name(code: u16) -> &'static str {
    match code {
        1000 => "Normal Closure",
        1001 => "Going Away",
        1002 => "Protocol Error",
        1003 => "Unsupported Data",
        1004 => "Reserved",
        1005 => "No Status Received",
        1006 => "Abnormal Closure",
        1007 => "Invalid Frame Payload Data",
        1008 => "Policy Violation",
        1009 => "Message Too Big",
        1010 => "Mandatory Extension",
        1011 => "Internal Error",
        1012 => "Service Restart",
        1013 => "Try Again Later",
        1014 => "Bad Gateway",
        1015 => "TLS Handshake",
        3000..=3999 => "Registered",
        4000..=4999 => "Private Use",
        _ => "Invalid",
    }
}

fn unmask(payload: &[u8], mask_key: Option<[u8; 4]>) -> Vec<u8> {
    match mask_key {
        Some(key) => payload
            .iter()
            .zip(key.iter().cycle())
            .map(|(b, k)| b ^ k)
            .collect(),
        None => payload.to_vec(),
    }
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64_encode(data: &[u8]) -> String {
    let sextet = |v: u32| char::from(BASE64_ALPHABET[(v & 0x3f) as usize]);
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut word = [0u8; 3];
        word[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, word[0], word[1], word[2]]);
        out.push(sextet(n >> 18));
        out.push(sextet(n >> 12));
        out.push(if chunk.len() > 1 { sextet(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(n) } else { '=' });
    }
    out
}

fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// SHA-1 (RFC 3174). Broken for collision resistance, but RFC 6455 fixes it for the
/// accept key, where it only proves the server read the handshake.
pub fn sha1(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];

    // Padding: 0x80, zeros up to 56 mod 64, then the bit length as u64 big-endian.
    let bit_len = (message.len() as u64).wrapping_mul(8);
    let mut tail = Vec::with_capacity(128);
    let full_blocks = message.len() / 64 * 64;
    tail.extend_from_slice(message.get(full_blocks..).unwrap_or_default());
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    tail.extend_from_slice(&bit_len.to_be_bytes());

    let blocks = message
        .get(..full_blocks)
        .unwrap_or_default()
        .chunks_exact(64)
        .chain(tail.chunks_exact(64));
    for block in blocks {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            if let &[b0, b1, b2, b3] = bytes {
                *word = u32::from_be_bytes([b0, b1, b2, b3]);
            }
        }
        for t in 16..80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (t, &wt) in w.iter().enumerate() {
            let (f, k) = match t {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(wt)
                .wrapping_add(k);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }

    let mut digest = [0u8; 20];
    for (out, word) in digest.chunks_exact_mut(4).zip(h) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::testutil::hex;

    /// Test inputs live for the whole test run, so frames can borrow them freely.
    fn frame_of(h: &str) -> Result<WsFrame<'static>> {
        parse_frame(Box::leak(hex(h).into_boxed_slice()))
    }

    #[test]
    fn sha1_matches_rfc3174_test_vectors() {
        let to_hex = |d: [u8; 20]| d.iter().map(|b| format!("{b:02X}")).collect::<String>();
        assert_eq!(
            to_hex(sha1(b"abc")),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
        assert_eq!(
            to_hex(sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983E441C3BD26EBAAE4AA1F95129E5E54670F1"
        );
        assert_eq!(
            to_hex(sha1(&vec![b'a'; 1_000_000])),
            "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F"
        );
        assert_eq!(
            to_hex(sha1(
                "0123456701234567012345670123456701234567012345670123456701234567"
                    .repeat(10)
                    .as_bytes()
            )),
            "DEA356A2CDDD90C7A7ECEDC5EBB563934F460452"
        );
        // Empty input and the 55/56/64-byte padding boundaries, checked with Python's
        // hashlib.
        assert_eq!(
            to_hex(sha1(b"")),
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
        );
        assert_eq!(
            to_hex(sha1(&[b'x'; 55])),
            "CEF734BA81A024479E09EB5A75B6DDAE62E6ABF1"
        );
        assert_eq!(
            to_hex(sha1(&[b'x'; 56])),
            "901305367C259952F4E7AF8323F480D59F81335B"
        );
        assert_eq!(
            to_hex(sha1(&[b'x'; 64])),
            "BB2FA3EE7AFB9F54C6DFB5D021F14B1FFE40C163"
        );
    }

    #[test]
    fn base64_matches_rfc4648_test_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64_encode(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(base64_encode(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[test]
    fn accept_key_matches_rfc6455_example() {
        // RFC 6455 §1.3 and §4.2.2.
        assert_eq!(
            accept_for_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(validate_accept(
            " dGhlIHNhbXBsZSBub25jZQ==\t",
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo= "
        ));
        assert!(!validate_accept(
            "dGhlIHNhbXBsZSBub25jZQ==",
            "s3pPLMBiTxaeKjo7cBXvY8YnUWI="
        ));
    }

    #[test]
    fn accept_keys_from_captured_handshakes() {
        // (Sec-WebSocket-Key, Sec-WebSocket-Accept) pairs from the 101 exchanges in
        // /work/shared/pcaps/websocket.
        let pairs = [
            ("bKdPyn3u98cTfZJSh4TNeQ==", "4EaeSCkuOGBy+rjOSJSMV+VMoC0="), // arkime
            ("dMPhrvRdHkSAyX3Vq/OfUg==", "JG7BhlBFb45PjCvd6g2j1t86sUo="), // suricata basic
            ("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="), // suricata ping
            ("E58pVwft35HPkD/MFCjtEA==", "HxOmr1a2nvOOc4Qiv7Ou3wrCsJc="), // zeek broker
            ("7K5Qx7HwJUsja5KzBhGvfQ==", "USseDip1PofjB67M6I5CNkbYbp0="), // zeek jupyter
            ("vf3bSlxjI9R5oosJfwM/8Q==", "0Zl6vr6NCtorAnmvFsy68nbStvE="), // zeek websocket
            ("h3O8u2T2ddfJaexKyok0Pw==", "RMj+HZNL5jRTQtDQs2hISOJs0JQ="), // zeek wstunnel
        ];
        for (key, accept) in pairs {
            assert_eq!(accept_for_key(key), accept, "{key}");
            assert!(validate_accept(key, accept));
        }
        // zeek__wrong-accept-header.pcap: the server appended "-wrong".
        assert!(!validate_accept(
            "VMueuJIhu60C0hDKL+vS6g==",
            "N8ntNYkX6Qerw4tK3s/CYzpSZNc=-wrong"
        ));
        assert!(validate_accept(
            "VMueuJIhu60C0hDKL+vS6g==",
            "N8ntNYkX6Qerw4tK3s/CYzpSZNc="
        ));
    }

    #[test]
    fn key_shape_check() {
        assert!(key_is_well_formed("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(key_is_well_formed(" bKdPyn3u98cTfZJSh4TNeQ== "));
        assert!(!key_is_well_formed("dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!key_is_well_formed("dGhlIHNhbXBsZSBub25jZQ==="));
        assert!(!key_is_well_formed("dGhlIHNhbXBsZSBub25jZR==")); // stray low bits
        assert!(!key_is_well_formed("dGhlIHNhbXBsZSBub25j*Q=="));
        assert!(!key_is_well_formed(""));
        // The suricata capture's non-WebSocket "Key:" header is hex, not a key.
        assert!(!key_is_well_formed(
            "6a5c01728061bc79200fbea3ba58d6848d0f2a01e1ebc87c0e19bd931a564916"
        ));
    }

    #[test]
    fn masked_client_text_frame() {
        // arkime__websocket.pcap frame 9 (tshark: Text [FIN] [MASKED], len 12,
        // key e17e8eb9).
        let data = hex("818ce17e8eb9951bfdcdc113ebca921fe9dc");
        let frame = parse_frame(&data).unwrap();
        assert!(frame.fin);
        assert!(!frame.rsv1 && !frame.rsv2 && !frame.rsv3);
        assert_eq!(frame.opcode, Opcode::Text);
        assert_eq!(frame.mask_key, Some([0xe1, 0x7e, 0x8e, 0xb9]));
        assert_eq!(frame.declared_len, 12);
        assert_eq!(frame.header_len, 6);
        assert_eq!(frame.total_len(), 18);
        assert_eq!(frame.payload, &data[6..]);
        assert_eq!(frame.unmasked_payload(), b"test message");
        assert!(!frame.is_truncated());
        assert!(frame.violations().is_empty());
        assert_eq!(frame.close_code, None);
        assert_eq!(frame.to_string(), "WebSocket Text [FIN] [MASKED] len=12");
    }

    #[test]
    fn unmasked_server_frame_with_16_bit_length() {
        // zeek__broker-websocket.pcap frame 11: 0x81 0x7e 0x0215 (533), 537 bytes.
        let mut data = hex("817e02157b2274797065223a2022646174612d6d");
        data.resize(537, b' ');
        let frame = parse_frame(&data).unwrap();
        assert_eq!(frame.opcode, Opcode::Text);
        assert!(!frame.masked());
        assert_eq!(frame.declared_len, 533);
        assert_eq!(frame.header_len, 4);
        assert_eq!(frame.total_len(), 537);
        assert_eq!(frame.payload.len(), 533);
        assert!(frame.payload.starts_with(b"{\"type\": \"data-m"));
        assert!(frame.violations().is_empty());
    }

    #[test]
    fn masked_client_frame_with_16_bit_length_cut_short() {
        // zeek__broker-websocket.pcap frame 13, first 20 bytes only: 0x81 0xfe 0x0169
        // (361) then key 7f581f6f.
        let data = hex("81fe01697f581f6f047a6b160f3d3d555f7a7b0e");
        let frame = parse_frame(&data).unwrap();
        assert_eq!(frame.declared_len, 361);
        assert_eq!(frame.header_len, 8);
        assert_eq!(frame.mask_key, Some([0x7f, 0x58, 0x1f, 0x6f]));
        assert_eq!(frame.total_len(), 369);
        assert_eq!(frame.payload.len(), 12);
        assert!(frame.is_truncated());
        assert_eq!(frame.unmasked_payload(), b"{\"type\": \"da");
        assert_eq!(
            frame.to_string(),
            "WebSocket Text [FIN] [MASKED] len=361 (12 captured)"
        );
    }

    #[test]
    fn close_frames_with_codes_and_reason() {
        // zeek__message-too-big-status.pcap frame 10 (tshark: code 1009, reason
        // "over size limit (4 > 2 bytes)") and frame 11 (server 1000).
        let data =
            hex("889fbd070557bef66a21d8752524d47d6077d16e683ec9272d639d3925659d657c23d8742c");
        let frame = parse_frame(&data).unwrap();
        assert_eq!(frame.opcode, Opcode::Close);
        assert!(frame.opcode.is_control());
        assert_eq!(frame.declared_len, 31);
        assert_eq!(frame.close_code, Some(1009));
        assert_eq!(
            frame.close_reason.as_deref(),
            Some("over size limit (4 > 2 bytes)")
        );
        assert_eq!(
            frame.to_string(),
            "WebSocket Connection Close [FIN] [MASKED] 1009 Message Too Big \
             \"over size limit (4 > 2 bytes)\" len=31"
        );

        let server = frame_of("880203e8").unwrap();
        assert_eq!(server.close_code, Some(1000));
        assert_eq!(server.close_reason.as_deref(), Some(""));
        assert_eq!(
            server.to_string(),
            "WebSocket Connection Close [FIN] 1000 Normal Closure len=2"
        );

        // zeek__broker-websocket.pcap frame 18: masked client close 1000.
        let client = frame_of("88820a0fe80c09e7").unwrap();
        assert_eq!(client.close_code, Some(1000));

        // zeek__websocket.pcap frame 21: masked close without a body.
        let empty = frame_of("888052994b1f").unwrap();
        assert_eq!(empty.declared_len, 0);
        assert_eq!(empty.close_code, None);
        assert_eq!(empty.close_reason, None);
    }

    #[test]
    fn ping_pong_frames() {
        // suricata-verify__websocket-ping.pcap frames 8 and 11.
        let ping = frame_of("8900").unwrap();
        assert_eq!(ping.opcode, Opcode::Ping);
        assert_eq!(ping.total_len(), 2);
        let pong = frame_of("8a00").unwrap();
        assert_eq!(pong.opcode, Opcode::Pong);
        // zeek__fragmented-http-reply.pcap frame 10: masked pong echoing "Zeek".
        let pong = frame_of("8a84ba0f4893e06a2df8").unwrap();
        assert_eq!(pong.unmasked_payload(), b"Zeek");
    }

    #[test]
    fn walks_two_frames_in_one_segment() {
        // zeek__two-binary-fragments.pcap frame 13: binary "Hello" without FIN,
        // then a continuation " there!" with FIN.
        let data = hex("020548656c6c6f800720746865726521");
        let first = parse_frame(&data).unwrap();
        assert_eq!(first.opcode, Opcode::Binary);
        assert!(!first.fin);
        assert_eq!(first.payload, b"Hello");
        let next = usize::try_from(first.total_len()).unwrap();
        let second = parse_frame(&data[next..]).unwrap();
        assert_eq!(second.opcode, Opcode::Continuation);
        assert!(second.fin);
        assert_eq!(second.payload, b" there!");
        assert_eq!(
            next + usize::try_from(second.total_len()).unwrap(),
            data.len()
        );
    }

    #[test]
    fn sixty_four_bit_length() {
        // Synthetic: no capture in the corpus has a 64-bit length.
        let mut data = hex("827f0000000000010000");
        data.extend_from_slice(&[0xAB; 10]);
        let frame = parse_frame(&data).unwrap();
        assert_eq!(frame.declared_len, 65536);
        assert_eq!(frame.header_len, 10);
        assert_eq!(frame.total_len(), 65546);
        assert_eq!(frame.payload.len(), 10);
        assert!(frame.violations().is_empty());

        let msb = hex("827f8000000000000000");
        let err = parse_frame(&msb).unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(matches!(err.kind, ErrorKind::Invalid(_)));

        // Largest legal length: total_len must not overflow.
        let max = frame_of("82ff7fffffffffffffff01020304").unwrap();
        assert_eq!(max.total_len(), (1u64 << 63) - 1 + 14);
    }

    #[test]
    fn violations_are_reported_without_failing() {
        // Synthetic headers.
        let v = frame_of("0b00").unwrap().violations();
        assert_eq!(v, ["reserved opcode", "fragmented control frame"]);
        let v = frame_of("c100").unwrap().violations();
        assert_eq!(v, ["RSV bits set (needs a negotiated extension)"]);
        let v = frame_of("897e0080").unwrap().violations();
        assert_eq!(v, ["control frame payload longer than 125 bytes"]);
        let v = frame_of("817e0005").unwrap().violations();
        assert_eq!(v, ["payload length not minimally encoded"]);
        let v = frame_of("8801").unwrap().violations();
        assert_eq!(v, ["close payload of one byte (a code needs two)"]);
        assert_eq!(
            frame_of("8f00").unwrap().to_string(),
            "WebSocket Unknown opcode 0xf [FIN] len=0"
        );
    }

    #[test]
    fn every_truncation_of_a_real_frame_is_handled() {
        // zeek__message-too-big-status.pcap frame 10 (masked close, 37 bytes).
        let data =
            hex("889fbd070557bef66a21d8752524d47d6077d16e683ec9272d639d3925659d657c23d8742c");
        for len in 0..=data.len() {
            match parse_frame(&data[..len]) {
                Ok(frame) => {
                    assert!(len >= 6, "header needs 6 bytes, got Ok at {len}");
                    assert_eq!(frame.payload.len(), len - 6);
                    assert_eq!(frame.total_len(), 37);
                    assert_eq!(frame.close_code.is_some(), len >= 8);
                }
                Err(e) => {
                    assert!(len < 6);
                    let needed_at = if len < 2 { len } else { 2 };
                    assert_eq!(e.offset, needed_at, "len {len}");
                    assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
                }
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (state >> ((i % 8) * 8)) as u8 ^ i as u8)
                .collect();
            if let Ok(frame) = parse_frame(&bytes) {
                assert!(frame.header_len + frame.payload.len() <= bytes.len());
                let _ = frame.to_string();
                let _ = frame.violations();
            }
        }
    }
}
