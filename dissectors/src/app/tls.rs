//! TLS (RFC 8446, RFC 5246): record headers, handshake message framing, and the
//! handshake messages a troubleshooter reads without keys (ClientHello, ServerHello,
//! Certificate, NewSessionTicket) plus alerts.
//!
//! Everything here works on byte slices a caller has reassembled: [`parse_record`]
//! takes the start of a record stream and says how long the first record is (or that
//! more bytes are needed, as a `Truncated` error), [`parse_handshake`] does the same
//! for the handshake messages inside the handshake records' payloads, and
//! [`Handshake::decode`] turns one message into its typed form. No decoder panics on
//! any input; lengths inside a message are checked against their enclosing length.

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};

const LAYER: &str = "tls";

/// A record's content type (RFC 8446 §5.1).
pub mod content {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
    pub const HEARTBEAT: u8 = 24;
}

/// Handshake message types (RFC 8446 §4, RFC 5246 §7.4).
pub mod hs {
    pub const HELLO_REQUEST: u8 = 0;
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const END_OF_EARLY_DATA: u8 = 5;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const CERTIFICATE_VERIFY: u8 = 15;
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    pub const FINISHED: u8 = 20;
    pub const KEY_UPDATE: u8 = 24;
}

/// Extension types read here (IANA TLS ExtensionType registry).
mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ALPN: u16 = 16;
    pub const ENCRYPT_THEN_MAC: u16 = 22;
    pub const SESSION_TICKET: u16 = 35;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const KEY_SHARE: u16 = 51;
}

/// The largest record body the RFCs allow: 2^14 plus 2048 bytes of expansion for
/// protected records (RFC 5246 §6.2.3; TLS 1.3 allows 2^14 + 256).
pub const MAX_RECORD_BODY: usize = (1 << 14) + 2048;

/// The record header's length: type, version, length.
pub const RECORD_HEADER_LEN: usize = 5;

/// One record: its header's fields and its body (ciphertext once protected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub content_type: u8,
    /// The record layer's legacy version (0x0303 for every TLS 1.2 and 1.3 record).
    pub version: u16,
    pub body: &'a [u8],
}

impl Record<'_> {
    /// Bytes the record takes on the wire, header included.
    pub fn wire_len(&self) -> usize {
        RECORD_HEADER_LEN + self.body.len()
    }
}

/// True when `b` starts like a TLS record header (a known content type, major version
/// 3, a length within the limit): the cheap sniff that decides whether a TCP stream is
/// followed as TLS at all.
pub fn looks_like_record(b: &[u8]) -> bool {
    match b {
        [t, 3, minor, hi, lo, ..] => {
            (content::CHANGE_CIPHER_SPEC..=content::HEARTBEAT).contains(t)
                && *minor <= 4
                && usize::from(u16::from_be_bytes([*hi, *lo])) <= MAX_RECORD_BODY
        }
        _ => false,
    }
}

/// The first record of `data`. A `Truncated` error means the record is not complete
/// yet (wait for more bytes); an `Invalid` one that this is not a TLS record stream.
pub fn parse_record(data: &[u8]) -> Result<Record<'_>> {
    let mut c = Cursor::new(LAYER, data);
    let content_type = c.u8()?;
    if !(content::CHANGE_CIPHER_SPEC..=content::HEARTBEAT).contains(&content_type) {
        return Err(DecodeError::invalid(
            LAYER,
            0,
            "unknown record content type",
        ));
    }
    let version = c.u16()?;
    if version >> 8 != 3 {
        return Err(DecodeError::invalid(LAYER, 1, "record version is not 3.x"));
    }
    let len = usize::from(c.u16()?);
    if len > MAX_RECORD_BODY {
        return Err(DecodeError::invalid(
            LAYER,
            3,
            "record longer than 2^14+2048",
        ));
    }
    let body = c.take(len)?;
    Ok(Record {
        content_type,
        version,
        body,
    })
}

/// One handshake message, framed but not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake<'a> {
    pub msg_type: u8,
    pub body: &'a [u8],
}

impl Handshake<'_> {
    /// Bytes the message takes in the handshake stream (4-byte header included).
    pub fn wire_len(&self) -> usize {
        4 + self.body.len()
    }
}

/// The first handshake message of a handshake byte stream (the concatenated
/// payloads of handshake records). `Truncated`: the message continues in a later
/// record.
pub fn parse_handshake(data: &[u8]) -> Result<Handshake<'_>> {
    let mut c = Cursor::new(LAYER, data);
    let msg_type = c.u8()?;
    let len = c.u24()? as usize;
    let body = c.take(len)?;
    Ok(Handshake { msg_type, body })
}

/// A decoded handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeMsg<'a> {
    ClientHello(ClientHello<'a>),
    ServerHello(ServerHello<'a>),
    /// The certificates (DER) of a TLS 1.2 (or earlier) Certificate message, leaf
    /// first. TLS 1.3's is encrypted and never seen here without keys.
    Certificate(Vec<&'a [u8]>),
    NewSessionTicket,
    /// Any other type, not decoded further.
    Other(u8),
}

/// What a ClientHello offers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello<'a> {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: &'a [u8],
    pub cipher_suites: Vec<u16>,
    /// The host_name of the server_name extension.
    pub sni: Option<&'a str>,
    /// ALPN protocol names offered, in the client's order.
    pub alpn: Vec<&'a [u8]>,
    /// supported_versions, when present (TLS 1.3 clients).
    pub supported_versions: Vec<u16>,
    /// A non-empty session_ticket extension: resuming with a TLS 1.2 ticket.
    pub ticket: bool,
    /// A pre_shared_key extension: offering TLS 1.3 resumption.
    pub psk: bool,
    pub early_data: bool,
    /// Every extension type, in order (for fingerprints and diagnostics).
    pub extensions: Vec<u16>,
    /// The signature_algorithms extension's schemes, in the client's order (JA4).
    pub signature_algorithms: Vec<u16>,
}

/// What a ServerHello chose.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerHello<'a> {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: &'a [u8],
    pub cipher_suite: u16,
    /// The supported_versions extension's selected version (TLS 1.3).
    pub selected_version: Option<u16>,
    /// The one ALPN protocol selected.
    pub alpn: Option<&'a [u8]>,
    /// A pre_shared_key extension: the server accepted a TLS 1.3 PSK (resumption).
    pub psk: bool,
    /// A HelloRetryRequest (RFC 8446 §4.1.3: a ServerHello with this fixed random).
    pub hello_retry: bool,
    /// The server agreed to encrypt-then-MAC (RFC 7366): a TLS 1.2 CBC suite then
    /// MACs the ciphertext instead of the plaintext.
    pub encrypt_then_mac: bool,
}

impl ServerHello<'_> {
    /// The version the connection uses: supported_versions when present, else the
    /// legacy field.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }
}

/// RFC 8446 §4.1.3: the SHA-256 of "HelloRetryRequest", used as a ServerHello random.
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

impl<'a> Handshake<'a> {
    /// The typed message. Errors name the offset within the message body.
    pub fn decode(&self) -> Result<HandshakeMsg<'a>> {
        match self.msg_type {
            hs::CLIENT_HELLO => client_hello(self.body).map(HandshakeMsg::ClientHello),
            hs::SERVER_HELLO => server_hello(self.body).map(HandshakeMsg::ServerHello),
            hs::CERTIFICATE => certificates(self.body).map(HandshakeMsg::Certificate),
            hs::NEW_SESSION_TICKET => Ok(HandshakeMsg::NewSessionTicket),
            t => Ok(HandshakeMsg::Other(t)),
        }
    }
}

/// A length-prefixed vector: `prefix` bytes of length (1, 2 or 3), then the bytes.
fn vector<'a>(c: &mut Cursor<'a>, prefix: usize) -> Result<&'a [u8]> {
    let len = match prefix {
        1 => usize::from(c.u8()?),
        2 => usize::from(c.u16()?),
        _ => c.u24()? as usize,
    };
    c.take(len)
}

/// The extensions block: (type, body) pairs. Absent (pre-TLS-1.0 hellos) is empty.
fn extensions<'a>(c: &mut Cursor<'a>) -> Result<Vec<(u16, &'a [u8])>> {
    if c.is_empty() {
        return Ok(Vec::new());
    }
    let block = vector(c, 2)?;
    let mut e = Cursor::new(LAYER, block);
    let mut out = Vec::new();
    while !e.is_empty() {
        let t = e.u16()?;
        let body = vector(&mut e, 2)?;
        out.push((t, body));
    }
    Ok(out)
}

fn client_hello(body: &[u8]) -> Result<ClientHello<'_>> {
    let mut c = Cursor::new(LAYER, body);
    let mut h = ClientHello {
        legacy_version: c.u16()?,
        random: c.array()?,
        session_id: vector(&mut c, 1)?,
        ..ClientHello::default()
    };
    let suites = vector(&mut c, 2)?;
    h.cipher_suites = suites
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    vector(&mut c, 1)?; // compression methods
    for (t, b) in extensions(&mut c)? {
        h.extensions.push(t);
        let mut e = Cursor::new(LAYER, b);
        match t {
            ext::SERVER_NAME if !b.is_empty() => {
                let list = vector(&mut e, 2)?;
                let mut l = Cursor::new(LAYER, list);
                while !l.is_empty() {
                    let name_type = l.u8()?;
                    let name = vector(&mut l, 2)?;
                    if name_type == 0 && h.sni.is_none() {
                        h.sni = std::str::from_utf8(name).ok();
                    }
                }
            }
            ext::ALPN => {
                let list = vector(&mut e, 2)?;
                let mut l = Cursor::new(LAYER, list);
                while !l.is_empty() {
                    h.alpn.push(vector(&mut l, 1)?);
                }
            }
            ext::SUPPORTED_VERSIONS => {
                let list = vector(&mut e, 1)?;
                h.supported_versions = list
                    .chunks_exact(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect();
            }
            ext::SIGNATURE_ALGORITHMS => {
                let list = vector(&mut e, 2)?;
                h.signature_algorithms = list
                    .chunks_exact(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect();
            }
            ext::SESSION_TICKET => h.ticket = !b.is_empty(),
            ext::PRE_SHARED_KEY => h.psk = true,
            ext::EARLY_DATA => h.early_data = true,
            _ => {}
        }
    }
    Ok(h)
}

fn server_hello(body: &[u8]) -> Result<ServerHello<'_>> {
    let mut c = Cursor::new(LAYER, body);
    let mut h = ServerHello {
        legacy_version: c.u16()?,
        random: c.array()?,
        session_id: vector(&mut c, 1)?,
        cipher_suite: c.u16()?,
        ..ServerHello::default()
    };
    h.hello_retry = h.random == HELLO_RETRY_RANDOM;
    c.u8()?; // compression method
    for (t, b) in extensions(&mut c)? {
        let mut e = Cursor::new(LAYER, b);
        match t {
            ext::SUPPORTED_VERSIONS => h.selected_version = Some(e.u16()?),
            ext::ALPN => {
                let list = vector(&mut e, 2)?;
                let mut l = Cursor::new(LAYER, list);
                h.alpn = Some(vector(&mut l, 1)?);
            }
            ext::PRE_SHARED_KEY => h.psk = true,
            ext::ENCRYPT_THEN_MAC => h.encrypt_then_mac = true,
            ext::KEY_SHARE => {}
            _ => {}
        }
    }
    Ok(h)
}

fn certificates(body: &[u8]) -> Result<Vec<&[u8]>> {
    let mut c = Cursor::new(LAYER, body);
    let list = vector(&mut c, 3)?;
    let mut l = Cursor::new(LAYER, list);
    let mut out = Vec::new();
    while !l.is_empty() {
        out.push(vector(&mut l, 3)?);
    }
    Ok(out)
}

/// An alert record's two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// 1 warning, 2 fatal.
    pub level: u8,
    pub description: u8,
}

impl Alert {
    /// A clear-text alert record body is exactly two bytes; anything else is an
    /// encrypted alert, whose content is unknown without keys.
    pub fn parse(body: &[u8]) -> Option<Alert> {
        match body {
            [level, description] => Some(Alert {
                level: *level,
                description: *description,
            }),
            _ => None,
        }
    }

    pub fn is_fatal(&self) -> bool {
        self.level == 2
    }

    pub fn level_name(&self) -> &'static str {
        match self.level {
            1 => "warning",
            2 => "fatal",
            _ => "unknown",
        }
    }

    /// The description's RFC name (`handshake_failure`), or `unknown`.
    pub fn name(&self) -> &'static str {
        alert_name(self.description)
    }
}

/// RFC 8446 §6 / IANA TLS Alerts registry names.
pub fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

/// A protocol version as people write it (`TLS 1.3`), or its hex value.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        _ if v & 0x0f0f == 0x0a0a => format!("GREASE 0x{v:04x}"),
        _ => format!("0x{v:04x}"),
    }
}

/// GREASE values (RFC 8701) a client sprinkles into lists so servers tolerate
/// unknown ones; they mean nothing and are left out of what is reported.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// The IANA name of a cipher suite, or its hex value for one not in this table
/// (the suites browsers, curl, OpenSSL and the major servers negotiate).
pub fn cipher_suite_name(s: u16) -> String {
    let name = match s {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0x1304 => "TLS_AES_128_CCM_SHA256",
        0x1305 => "TLS_AES_128_CCM_8_SHA256",
        0xC02B => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02C => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02F => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xC030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xCCA8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCA9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCAA => "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xC009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xC00A => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xC013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xC014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xC023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xC024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xC027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xC028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0x009C => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009D => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009E => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009F => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x0067 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        0x006B => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0x002F => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x003C => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003D => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x000A => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
        0x00FF => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        _ => return format!("0x{s:04X}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A ClientHello offering TLS 1.3 and 1.2, SNI example.com, ALPN h2 + http/1.1.
    fn client_hello_bytes() -> Vec<u8> {
        let mut exts = Vec::new();
        // server_name: list(2) [type 0, name(2)]
        let name = b"example.com";
        let mut sni = vec![0, 0];
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        let l = (sni.len() - 2) as u16;
        sni[..2].copy_from_slice(&l.to_be_bytes());
        push_ext(&mut exts, 0, &sni);
        push_ext(
            &mut exts,
            16,
            &[
                0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
            ],
        );
        push_ext(&mut exts, 43, &[4, 3, 4, 3, 3]);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut msg = vec![1];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        msg
    }

    fn push_ext(out: &mut Vec<u8>, t: u16, body: &[u8]) {
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }

    #[test]
    fn client_hello_in_a_record() {
        let msg = client_hello_bytes();
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        rec.extend_from_slice(&msg);
        assert!(looks_like_record(&rec));
        let r = parse_record(&rec).unwrap();
        assert_eq!(r.content_type, content::HANDSHAKE);
        assert_eq!(r.wire_len(), rec.len());
        let h = parse_handshake(r.body).unwrap();
        let HandshakeMsg::ClientHello(ch) = h.decode().unwrap() else {
            panic!("not a ClientHello")
        };
        assert_eq!(ch.sni, Some("example.com"));
        assert_eq!(ch.alpn, vec![&b"h2"[..], &b"http/1.1"[..]]);
        assert_eq!(ch.supported_versions, vec![0x0304, 0x0303]);
        assert_eq!(ch.cipher_suites, vec![0x1301, 0xc02f]);
        // Every shorter prefix is truncated, never a panic or a wrong success.
        for n in 0..rec.len() {
            let e = parse_record(&rec[..n]).unwrap_err();
            assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{n}");
        }
        for n in 0..msg.len() - 1 {
            let _ = parse_handshake(&msg[..n]).map(|h| h.decode());
        }
    }

    #[test]
    fn alerts_and_names() {
        let a = Alert::parse(&[2, 40]).unwrap();
        assert!(a.is_fatal());
        assert_eq!(a.name(), "handshake_failure");
        assert_eq!(Alert::parse(&[1, 2, 3]), None);
        assert_eq!(version_name(0x0304), "TLS 1.3");
        assert_eq!(cipher_suite_name(0x1302), "TLS_AES_256_GCM_SHA384");
        assert_eq!(cipher_suite_name(0x1234), "0x1234");
        assert!(is_grease(0x3a3a) && !is_grease(0x0303));
    }

    #[test]
    fn not_tls() {
        assert!(!looks_like_record(b"GET / HTTP/1.1\r\n"));
        assert!(matches!(
            parse_record(b"GET / HTTP/1.1").unwrap_err().kind,
            ErrorKind::Invalid(_)
        ));
    }
}
