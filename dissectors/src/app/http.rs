//! HTTP/1.x message heads (request or status line plus header fields), with the
//! helpers the WebSocket-upgrade analysis needs.
//!
//! [`parse_head`] runs on every TCP payload, so it first looks at a few bytes and
//! returns `None` unless they start like an HTTP/1.x request (a known method token
//! followed by a space) or status line (`HTTP/1.x `). Bodies are not decoded. A head
//! cut off by the end of the segment is returned with `complete: false` and the
//! header lines that were complete. Lines may end in CRLF or, as RFC 9112 §2.2
//! allows recipients to accept, a bare LF.
//!
//! Header values are `&str`; a value holding bytes that are not UTF-8 (obs-text, rare
//! and never in the headers interpreted here) is cut at the first such byte.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::error::{DecodeError, Result};

const LAYER: &str = "http";

/// Request methods recognised at the start of a payload (RFC 9110 §9 plus PATCH).
/// Anything else is not treated as HTTP, which keeps the fast path cheap and
/// avoids claiming arbitrary text protocols.
pub const METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH",
];

/// The HTTP/2 connection preface (RFC 9113 §3.4): a client speaking h2c with prior
/// knowledge starts with it. It is not an HTTP/1.x head, so [`parse_head`] returns
/// `None` for it; [`is_h2_preface`] lets a caller name it.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub fn is_h2_preface(payload: &[u8]) -> bool {
    payload.starts_with(H2_PREFACE)
}

/// An HTTP version from a start line: only 1.x is ever produced here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpVersion {
    pub major: u8,
    pub minor: u8,
}

impl fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP/{}.{}", self.major, self.minor)
    }
}

impl Serialize for HttpVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One header field, borrowed from the payload: (name as sent, value without the
/// surrounding whitespace).
pub type Header<'a> = (&'a str, &'a str);

/// A decoded HTTP/1.x head.
///
/// `head_len` is the number of bytes up to and including the empty line that ends
/// the head when `complete`; when the segment ended first (`complete: false`), it is
/// the number of bytes of the start line and complete header lines that were parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HttpHead<'a> {
    Request {
        method: &'a str,
        target: &'a str,
        version: HttpVersion,
        headers: Vec<Header<'a>>,
        head_len: usize,
        complete: bool,
    },
    Response {
        version: HttpVersion,
        status: u16,
        reason: &'a str,
        headers: Vec<Header<'a>>,
        head_len: usize,
        complete: bool,
    },
}

/// Decode the head at the start of `payload`. `None`: the payload does not start
/// like HTTP/1.x. `Some(Err)`: it does, but the start line or a header line is
/// malformed, or the segment ends inside the start line.
pub fn parse_head(payload: &[u8]) -> Option<Result<HttpHead<'_>>> {
    let start = sniff(payload)?;
    Some(parse_sniffed(payload, start))
}

/// The same first-bytes test [`parse_head`] starts with, without parsing further:
/// for a frame dissector that only labels a TCP payload as HTTP.
pub fn looks_like_http(payload: &[u8]) -> bool {
    sniff(payload).is_some()
}

enum StartKind {
    Request { method_len: usize },
    Response,
}

/// The cheap first look: a handful of byte comparisons, no allocation.
fn sniff(payload: &[u8]) -> Option<StartKind> {
    let first = *payload.first()?;
    if first == b'H' && payload.starts_with(b"HTTP/1.") {
        return match payload.get(7..9)? {
            &[digit, b' '] if digit.is_ascii_digit() => Some(StartKind::Response),
            _ => None,
        };
    }
    if !matches!(first, b'G' | b'P' | b'H' | b'D' | b'O' | b'C' | b'T') {
        return None;
    }
    METHODS.iter().find_map(|m| {
        let after = payload.strip_prefix(m.as_bytes())?;
        (after.first() == Some(&b' ')).then_some(StartKind::Request {
            method_len: m.len(),
        })
    })
}

fn parse_sniffed(payload: &[u8], kind: StartKind) -> Result<HttpHead<'_>> {
    let Some((line, mut pos)) = next_line(payload, 0) else {
        return Err(DecodeError::truncated(LAYER, payload.len(), 1, 0));
    };
    // The start line is checked before any header, so its error wins.
    let start = match kind {
        StartKind::Request { method_len } => request_line(line, method_len)?,
        StartKind::Response => status_line(line)?,
    };
    let mut headers = Vec::new();
    let complete = parse_header_lines(payload, &mut pos, &mut headers)?;
    Ok(match start {
        StartLine::Request {
            method,
            target,
            version,
        } => HttpHead::Request {
            method,
            target,
            version,
            headers,
            head_len: pos,
            complete,
        },
        StartLine::Response {
            version,
            status,
            reason,
        } => HttpHead::Response {
            version,
            status,
            reason,
            headers,
            head_len: pos,
            complete,
        },
    })
}

enum StartLine<'a> {
    Request {
        method: &'a str,
        target: &'a str,
        version: HttpVersion,
    },
    Response {
        version: HttpVersion,
        status: u16,
        reason: &'a str,
    },
}

/// `METHOD SP request-target SP HTTP/1.x` (RFC 9112 §3).
fn request_line(line: &[u8], method_len: usize) -> Result<StartLine<'_>> {
    let target_at = method_len + 1;
    let rest = line.get(target_at..).unwrap_or_default();
    let target_len = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| DecodeError::invalid(LAYER, target_at, "no HTTP version"))?;
    let (target, version) = rest.split_at(target_len);
    if target.is_empty() {
        return Err(DecodeError::invalid(
            LAYER,
            target_at,
            "empty request target",
        ));
    }
    let version_at = target_at + target_len + 1;
    let version = parse_version(version.get(1..).unwrap_or_default())
        .ok_or_else(|| DecodeError::invalid(LAYER, version_at, "not HTTP/1.x"))?;
    let target = std::str::from_utf8(target)
        .map_err(|_| DecodeError::invalid(LAYER, target_at, "request target is not UTF-8"))?;
    Ok(StartLine::Request {
        method: ascii(line.get(..method_len).unwrap_or_default()),
        target,
        version,
    })
}

/// `HTTP/1.x SP 3DIGIT SP [reason]` (RFC 9112 §4); a missing reason is accepted.
fn status_line(line: &[u8]) -> Result<StartLine<'_>> {
    let version = parse_version(line.get(..8).unwrap_or_default())
        .ok_or_else(|| DecodeError::invalid(LAYER, 0, "not HTTP/1.x"))?;
    let status = match line.get(9..12) {
        Some(&[a, b, c]) if [a, b, c].iter().all(u8::is_ascii_digit) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => {
            return Err(DecodeError::invalid(
                LAYER,
                9,
                "status code is not 3 digits",
            ))
        }
    };
    let reason = match line.get(12..) {
        None | Some([]) => "",
        Some([b' ', reason @ ..]) => utf8_prefix(reason),
        Some(_) => {
            return Err(DecodeError::invalid(
                LAYER,
                12,
                "status code is not 3 digits",
            ))
        }
    };
    Ok(StartLine::Response {
        version,
        status,
        reason,
    })
}

/// Parse header lines from `*pos` until the empty line. Returns whether the empty
/// line was seen; `*pos` ends after the last complete line consumed.
fn parse_header_lines<'a>(
    payload: &'a [u8],
    pos: &mut usize,
    headers: &mut Vec<Header<'a>>,
) -> Result<bool> {
    // Byte range of the last header's value, so an obs-fold continuation line can
    // extend it (the folded value stays one contiguous borrowed slice).
    let mut last_value: Option<(usize, usize)> = None;
    loop {
        let line_start = *pos;
        let Some((line, next)) = next_line(payload, line_start) else {
            return Ok(false);
        };
        *pos = next;
        if line.is_empty() {
            return Ok(true);
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // obs-fold (RFC 9112 §5.2): continuation of the previous value.
            let (value_start, _) = last_value.ok_or_else(|| {
                DecodeError::invalid(LAYER, line_start, "continuation line without a header")
            })?;
            let value_end = line_start + line.len();
            let value = trim_ows(payload.get(value_start..value_end).unwrap_or_default());
            if let Some(last) = headers.last_mut() {
                last.1 = utf8_prefix(value);
            }
            last_value = Some((value_start, value_end));
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| DecodeError::invalid(LAYER, line_start, "header line without ':'"))?;
        let (name, value) = line.split_at(colon);
        let name = trim_ows_end(name);
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(DecodeError::invalid(
                LAYER,
                line_start,
                "header name is not a token",
            ));
        }
        let raw_value = value.get(1..).unwrap_or_default();
        let leading = raw_value.len() - trim_ows_start(raw_value).len();
        let value_start = line_start + colon + 1 + leading;
        last_value = Some((value_start, line_start + line.len()));
        headers.push((ascii(name), utf8_prefix(trim_ows(raw_value))));
    }
}

/// The line starting at `start` (without its CR LF or LF) and the offset after it;
/// `None` when no line end follows.
fn next_line(payload: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rest = payload.get(start..)?;
    let lf = rest.iter().position(|&b| b == b'\n')?;
    let line = rest.get(..lf)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, start + lf + 1))
}

fn parse_version(bytes: &[u8]) -> Option<HttpVersion> {
    match bytes {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Some(HttpVersion {
                major: 1,
                minor: minor - b'0',
            })
        }
        _ => None,
    }
}

/// RFC 9110 §5.6.2 token characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn trim_ows_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    trim_ows_end(trim_ows_start(bytes))
}

/// The longest UTF-8 prefix of `bytes` (all of it, for well-formed headers).
fn utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            std::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or("")
        }
    }
}

/// For bytes already checked to be ASCII (token characters).
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

/// Comma-separated list elements (RFC 9110 §5.6.1), trimmed, empty ones dropped.
fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl<'a> HttpHead<'a> {
    pub fn headers(&self) -> &[Header<'a>] {
        match self {
            HttpHead::Request { headers, .. } | HttpHead::Response { headers, .. } => headers,
        }
    }

    pub fn head_len(&self) -> usize {
        match self {
            HttpHead::Request { head_len, .. } | HttpHead::Response { head_len, .. } => *head_len,
        }
    }

    /// False when the segment ended before the empty line that closes the head.
    pub fn is_complete(&self) -> bool {
        match self {
            HttpHead::Request { complete, .. } | HttpHead::Response { complete, .. } => *complete,
        }
    }

    pub fn version(&self) -> HttpVersion {
        match self {
            HttpHead::Request { version, .. } | HttpHead::Response { version, .. } => *version,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self, HttpHead::Request { .. })
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpHead::Response { status, .. } => Some(*status),
            HttpHead::Request { .. } => None,
        }
    }

    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers_all(name).next()
    }

    /// Every value of header `name`, in order.
    pub fn headers_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers()
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// Content-Length, when present and unambiguous (RFC 9110 §8.6: repeated
    /// identical values are allowed; differing ones are not, and give `None`).
    pub fn content_length(&self) -> Option<u64> {
        let mut found = None;
        for item in self.headers_all("content-length").flat_map(list_items) {
            if !item.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let value: u64 = item.parse().ok()?;
            if found.is_some_and(|f| f != value) {
                return None;
            }
            found = Some(value);
        }
        found
    }

    /// True when the last transfer coding is `chunked` (RFC 9112 §6.1).
    pub fn is_chunked(&self) -> bool {
        self.headers_all("transfer-encoding")
            .flat_map(list_items)
            .last()
            .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"))
    }

    /// The protocols named by the Upgrade header(s), as sent (`websocket`, `h2c`,
    /// `tcp`, `websocket/13`...).
    pub fn upgrade_tokens(&self) -> Vec<&'a str> {
        self.headers_all("upgrade").flat_map(list_items).collect()
    }

    /// The options of the Connection header(s) (`keep-alive`, `Upgrade`...).
    pub fn connection_tokens(&self) -> Vec<&'a str> {
        self.headers_all("connection")
            .flat_map(list_items)
            .collect()
    }

    /// Whether an Upgrade protocol's name (before any `/version`) is `protocol`.
    pub fn upgrades_to(&self, protocol: &str) -> bool {
        self.upgrade_tokens().iter().any(|token| {
            let name = token.split('/').next().unwrap_or(token).trim();
            name.eq_ignore_ascii_case(protocol)
        })
    }

    fn connection_has_upgrade(&self) -> bool {
        self.connection_tokens()
            .iter()
            .any(|t| t.eq_ignore_ascii_case("upgrade"))
    }

    /// A request asking for a WebSocket upgrade (RFC 6455 §4.1 items R5 and R6):
    /// Upgrade names `websocket` and Connection holds `upgrade`, both
    /// case-insensitive and list-aware. The method and key are not checked here, so
    /// a malformed attempt still counts as an attempt. h2c and other protocols are
    /// not WebSocket upgrades.
    pub fn websocket_upgrade(&self) -> bool {
        self.is_request() && self.upgrades_to("websocket") && self.connection_has_upgrade()
    }

    /// A 101 response switching to WebSocket (RFC 6455 §4.2.2 items S1-S3). The
    /// accept key is checked separately with [`crate::app::websocket::validate_accept`].
    pub fn websocket_switch(&self) -> bool {
        self.status() == Some(101) && self.upgrades_to("websocket") && self.connection_has_upgrade()
    }

    /// A request upgrading to cleartext HTTP/2 (RFC 7540 §3.2, h2c).
    pub fn h2c_upgrade(&self) -> bool {
        self.is_request() && self.upgrades_to("h2c") && self.connection_has_upgrade()
    }

    pub fn host(&self) -> Option<&'a str> {
        self.header("host")
    }

    pub fn websocket_key(&self) -> Option<&'a str> {
        self.header("sec-websocket-key")
    }

    pub fn websocket_accept(&self) -> Option<&'a str> {
        self.header("sec-websocket-accept")
    }

    pub fn websocket_protocol(&self) -> Option<&'a str> {
        self.header("sec-websocket-protocol")
    }

    pub fn websocket_version(&self) -> Option<&'a str> {
        self.header("sec-websocket-version")
    }
}

impl fmt::Display for HttpHead<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpHead::Request {
                method,
                target,
                version,
                ..
            } => write!(f, "{method} {target} {version}")?,
            HttpHead::Response {
                version,
                status,
                reason,
                ..
            } => {
                write!(f, "{version} {status}")?;
                if !reason.is_empty() {
                    write!(f, " {reason}")?;
                }
            }
        }
        if !self.is_complete() {
            f.write_str(" [head incomplete]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::websocket::{parse_frame, validate_accept, Opcode};
    use crate::error::ErrorKind;

    // TCP payloads from /work/shared/pcaps/websocket, byte for byte (extracted with
    // a pcap reader; expected values cross-checked with tshark 4.0 `http.*` fields).
    /// suricata-verify__basic_websockets.pcap frame 5 (178 bytes of TCP payload).
    const SURICATA_101_WITH_FRAME: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Date: Fri, 10 Nov 2023 05:56:10 GMT\r\n\
Connection: upgrade\r\n\
Upgrade: WebSocket\r\n\
Sec-WebSocket-Accept: JG7BhlBFb45PjCvd6g2j1t86sUo=\r\n\
\r\n\
\x81\n\
connected,";
    /// suricata-verify__http-request-header-multi.pcap frame 4 (299 bytes of TCP payload).
    const SURICATA_UNANSWERED_REQUEST: &[u8] = b"GET /s/ws HTTP/1.1\r\n\
Host: foobar.com:80\r\n\
User-Agent: Go-http-client/1.1\r\n\
Connection: Upgrade\r\n\
Key: 6a5c01728061bc79200fbea3ba58d6848d0f2a01e1ebc87c0e19bd931a564916\r\n\
Sec-WebSocket-Key: d+6fZ7D9YNUakDccr9olWw==\r\n\
Sec-WebSocket-Version: 13\r\n\
UUID: 54e07f644529b23de1fe3012b5a6100e\r\n\
Upgrade: websocket\r\n\
\r\n\
";
    /// zeek__docker-http-upgrade.pcap frame 14 (291 bytes of TCP payload).
    const DOCKER_UPGRADE_TCP_REQUEST: &[u8] = b"POST /v1.41/containers/cc4fc8e49cadbb8bc41437dc2f9979a72293eabc3f0ea5ce48b77f43cb1f1d5e/attach?stderr=1&stdin=1&stdout=1&stream=1 HTTP/1.1\r\n\
Host: 192.168.122.87:2375\r\n\
User-Agent: Docker-Client/27.3.1 (linux)\r\n\
Content-Length: 0\r\n\
Connection: Upgrade\r\n\
Content-Type: text/plain\r\n\
Upgrade: tcp\r\n\
\r\n\
";
    /// zeek__docker-http-upgrade.pcap frame 16 (109 bytes of TCP payload).
    const DOCKER_101_TCP: &[u8] = b"HTTP/1.1 101 UPGRADED\r\n\
Content-Type: application/vnd.docker.raw-stream\r\n\
Connection: Upgrade\r\n\
Upgrade: tcp\r\n\
\r\n\
";
    /// zeek__docker-http-upgrade.pcap frame 19 (211 bytes of TCP payload).
    const DOCKER_CHUNKED_200: &[u8] = b"HTTP/1.1 200 OK\r\n\
Api-Version: 1.41\r\n\
Content-Type: application/json\r\n\
Docker-Experimental: false\r\n\
Ostype: linux\r\n\
Server: Docker/20.10.17 (linux)\r\n\
Date: Tue, 26 Nov 2024 18:48:20 GMT\r\n\
Transfer-Encoding: chunked\r\n\
\r\n\
";
    /// zeek__websocket.pcap frame 4 (576 bytes of TCP payload).
    const ZEEK_WS_REQUEST: &[u8] = b"GET /echo?.kl=Y HTTP/1.1\r\n\
Host: sandbox.kaazing.net\r\n\
User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:54.0) Gecko/20100101 Firefox/54.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://kaazing.org\r\n\
Sec-WebSocket-Protocol: x-kaazing-handshake\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\
Sec-WebSocket-Key: vf3bSlxjI9R5oosJfwM/8Q==\r\n\
Connection: keep-alive, Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
Upgrade: websocket\r\n\
\r\n\
";
    /// zeek__websocket.pcap frame 7 (581 bytes of TCP payload).
    const ZEEK_WS_101: &[u8] = b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n\
Access-Control-Allow-Credentials: true\r\n\
Access-Control-Allow-Headers: content-type\r\n\
Access-Control-Allow-Headers: authorization\r\n\
Access-Control-Allow-Headers: x-websocket-extensions\r\n\
Access-Control-Allow-Headers: x-websocket-version\r\n\
Access-Control-Allow-Headers: x-websocket-protocol\r\n\
Access-Control-Allow-Origin: http://kaazing.org\r\n\
Connection: Upgrade\r\n\
Date: Thu, 03 Aug 2017 14:37:12 GMT\r\n\
Sec-WebSocket-Accept: 0Zl6vr6NCtorAnmvFsy68nbStvE=\r\n\
Sec-WebSocket-Protocol: x-kaazing-handshake\r\n\
Server: Kaazing Gateway\r\n\
Upgrade: websocket\r\n\
\r\n\
";
    /// zeek__wrong-accept-header.pcap frame 4 (292 bytes of TCP payload).
    const WRONG_ACCEPT_REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\
Host: localhost:8080\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: VMueuJIhu60C0hDKL+vS6g==\r\n\
Sec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
Sec-WebSocket-Protocol: v1\r\n\
User-Agent: Python/3.10 websockets/12.0\r\n\
\r\n\
";
    /// zeek__wrong-accept-header.pcap frame 6 (163 bytes of TCP payload).
    const WRONG_ACCEPT_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
connection: upgrade\r\n\
upgrade: websocket\r\n\
sec-websocket-accept: N8ntNYkX6Qerw4tK3s/CYzpSZNc=-wrong\r\n\
sec-websocket-protocol: v1\r\n\
\r\n\
";

    fn head(bytes: &[u8]) -> HttpHead<'_> {
        parse_head(bytes).expect("looks like HTTP").expect("parses")
    }

    #[test]
    fn captured_payload_lengths() {
        // Guards the literals above against transcription slips.
        assert_eq!(ZEEK_WS_REQUEST.len(), 576);
        assert_eq!(ZEEK_WS_101.len(), 581);
        assert_eq!(WRONG_ACCEPT_REQUEST.len(), 292);
        assert_eq!(WRONG_ACCEPT_101.len(), 163);
        assert_eq!(SURICATA_101_WITH_FRAME.len(), 178);
        assert_eq!(DOCKER_UPGRADE_TCP_REQUEST.len(), 291);
        assert_eq!(DOCKER_101_TCP.len(), 109);
        assert_eq!(DOCKER_CHUNKED_200.len(), 211);
        assert_eq!(SURICATA_UNANSWERED_REQUEST.len(), 299);
    }

    #[test]
    fn websocket_upgrade_request() {
        let h = head(ZEEK_WS_REQUEST);
        let HttpHead::Request {
            method,
            target,
            version,
            ref headers,
            head_len,
            complete,
        } = h
        else {
            panic!("not a request: {h:?}");
        };
        assert_eq!(method, "GET");
        assert_eq!(target, "/echo?.kl=Y");
        assert_eq!(version, HttpVersion { major: 1, minor: 1 });
        assert_eq!(headers.len(), 14);
        assert_eq!(headers[0], ("Host", "sandbox.kaazing.net"));
        assert_eq!(head_len, 576);
        assert!(complete);
        assert_eq!(h.header("connection"), Some("keep-alive, Upgrade"));
        assert_eq!(h.connection_tokens(), ["keep-alive", "Upgrade"]);
        assert_eq!(h.upgrade_tokens(), ["websocket"]);
        assert!(h.websocket_upgrade());
        assert!(!h.websocket_switch());
        assert!(!h.h2c_upgrade());
        assert_eq!(h.host(), Some("sandbox.kaazing.net"));
        assert_eq!(h.websocket_key(), Some("vf3bSlxjI9R5oosJfwM/8Q=="));
        assert_eq!(h.websocket_protocol(), Some("x-kaazing-handshake"));
        assert_eq!(h.websocket_version(), Some("13"));
        assert_eq!(h.content_length(), None);
        assert!(!h.is_chunked());
        assert_eq!(h.to_string(), "GET /echo?.kl=Y HTTP/1.1");
    }

    #[test]
    fn websocket_101_with_repeated_headers() {
        let h = head(ZEEK_WS_101);
        assert_eq!(h.status(), Some(101));
        let HttpHead::Response { reason, .. } = h else {
            panic!("not a response");
        };
        assert_eq!(reason, "Web Socket Protocol Handshake");
        assert_eq!(h.head_len(), 581);
        assert!(h.is_complete());
        assert_eq!(
            h.headers_all("ACCESS-CONTROL-ALLOW-HEADERS")
                .collect::<Vec<_>>(),
            [
                "content-type",
                "authorization",
                "x-websocket-extensions",
                "x-websocket-version",
                "x-websocket-protocol"
            ]
        );
        assert!(h.websocket_switch());
        assert!(
            !h.websocket_upgrade(),
            "responses are never upgrade requests"
        );
        assert_eq!(h.websocket_accept(), Some("0Zl6vr6NCtorAnmvFsy68nbStvE="));
        let key = head(ZEEK_WS_REQUEST).websocket_key().unwrap();
        assert!(validate_accept(key, h.websocket_accept().unwrap()));
        assert_eq!(h.to_string(), "HTTP/1.1 101 Web Socket Protocol Handshake");
    }

    #[test]
    fn wrong_accept_is_detectable() {
        let req = head(WRONG_ACCEPT_REQUEST);
        let resp = head(WRONG_ACCEPT_101);
        assert!(req.websocket_upgrade());
        assert_eq!(req.websocket_key(), Some("VMueuJIhu60C0hDKL+vS6g=="));
        assert_eq!(req.websocket_protocol(), Some("v1"));
        assert!(resp.websocket_switch());
        // Lower-case header names as sent by the Python websockets library.
        assert_eq!(resp.headers()[2].0, "sec-websocket-accept");
        assert_eq!(
            resp.websocket_accept(),
            Some("N8ntNYkX6Qerw4tK3s/CYzpSZNc=-wrong")
        );
        assert!(!validate_accept(
            req.websocket_key().unwrap(),
            resp.websocket_accept().unwrap()
        ));
    }

    #[test]
    fn head_len_points_at_the_first_websocket_frame() {
        // The server sent its first frame in the same segment as the 101.
        let h = head(SURICATA_101_WITH_FRAME);
        assert_eq!(h.head_len(), 166);
        assert_eq!(h.upgrade_tokens(), ["WebSocket"]);
        assert_eq!(h.connection_tokens(), ["upgrade"]);
        assert!(h.websocket_switch());
        let frame = parse_frame(&SURICATA_101_WITH_FRAME[h.head_len()..]).unwrap();
        assert_eq!(frame.opcode, Opcode::Text);
        assert_eq!(frame.payload, b"connected,");
    }

    #[test]
    fn docker_upgrade_to_tcp_is_not_websocket() {
        let req = head(DOCKER_UPGRADE_TCP_REQUEST);
        assert_eq!(req.to_string().split(' ').next(), Some("POST"));
        assert_eq!(req.upgrade_tokens(), ["tcp"]);
        assert!(req.upgrades_to("tcp"));
        assert!(!req.websocket_upgrade());
        assert_eq!(req.content_length(), Some(0));
        let resp = head(DOCKER_101_TCP);
        assert_eq!(resp.status(), Some(101));
        assert_eq!(resp.to_string(), "HTTP/1.1 101 UPGRADED");
        assert!(!resp.websocket_switch());
    }

    #[test]
    fn chunked_response() {
        let h = head(DOCKER_CHUNKED_200);
        assert!(h.is_chunked());
        assert_eq!(h.content_length(), None);
        assert_eq!(h.head_len(), 211);
        assert_eq!(h.to_string(), "HTTP/1.1 200 OK");
    }

    #[test]
    fn upgrade_request_without_response() {
        let h = head(SURICATA_UNANSWERED_REQUEST);
        assert!(h.websocket_upgrade());
        assert_eq!(h.websocket_key(), Some("d+6fZ7D9YNUakDccr9olWw=="));
        // A header merely named "Key" must not be taken for Sec-WebSocket-Key.
        assert_eq!(
            h.header("key"),
            Some("6a5c01728061bc79200fbea3ba58d6848d0f2a01e1ebc87c0e19bd931a564916")
        );
    }

    #[test]
    fn every_truncation_of_a_real_request() {
        let full = WRONG_ACCEPT_REQUEST;
        let request_line_len = b"GET / HTTP/1.1\r\n".len();
        for len in 0..=full.len() {
            let prefix = &full[..len];
            match parse_head(prefix) {
                None => assert!(len < 4, "\"GET \" is enough to claim HTTP (len {len})"),
                Some(Err(e)) => {
                    assert!(len < request_line_len, "len {len}: {e}");
                    assert_eq!(e.offset, len);
                    assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
                }
                Some(Ok(h)) => {
                    assert!(len >= request_line_len);
                    assert_eq!(h.is_complete(), len == full.len(), "len {len}");
                    assert!(h.head_len() <= len);
                    // head_len always ends on a line boundary.
                    assert_eq!(prefix[h.head_len() - 1], b'\n');
                    assert!(h.to_string().starts_with("GET / HTTP/1.1"));
                    // Only complete lines become headers.
                    let lines = prefix[request_line_len..h.head_len()]
                        .split(|&b| b == b'\n')
                        .filter(|l| l.len() > 1)
                        .count();
                    assert_eq!(h.headers().len(), lines, "len {len}");
                }
            }
        }
    }

    #[test]
    fn bare_lf_line_endings_and_folding() {
        let h = head(b"HTTP/1.0 200\nX-A:  one\n   two\nUpgrade:websocket/13 , h2c\n\nbody");
        assert_eq!(h.version(), HttpVersion { major: 1, minor: 0 });
        assert_eq!(h.status(), Some(200));
        assert_eq!(h.head_len(), 58);
        assert_eq!(h.header("x-a"), Some("one\n   two"));
        assert_eq!(h.upgrade_tokens(), ["websocket/13", "h2c"]);
        assert!(h.upgrades_to("websocket"));
        assert_eq!(h.to_string(), "HTTP/1.0 200");
    }

    #[test]
    fn h2c_upgrade_request() {
        // Synthetic, after RFC 7540 §3.2.
        let h = head(
            b"GET / HTTP/1.1\r\nHost: server.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        );
        assert!(h.h2c_upgrade());
        assert!(!h.websocket_upgrade());
        assert!(parse_head(H2_PREFACE).is_none());
        assert!(is_h2_preface(H2_PREFACE));
    }

    #[test]
    fn content_length_rules() {
        let cl = |v: &str| {
            let text = format!("HTTP/1.1 200 OK\r\n{v}\r\n\r\n");
            head(text.as_bytes()).content_length()
        };
        assert_eq!(cl("Content-Length: 42"), Some(42));
        assert_eq!(cl("Content-Length: 42\r\ncontent-length: 42"), Some(42));
        assert_eq!(cl("Content-Length: 42, 42"), Some(42));
        assert_eq!(cl("Content-Length: 42\r\nContent-Length: 43"), None);
        assert_eq!(cl("Content-Length: +42"), None);
        assert_eq!(cl("Content-Length: 99999999999999999999999"), None);
        assert_eq!(cl("X: 1"), None);
        let te = |v: &str| {
            let text = format!("HTTP/1.1 200 OK\r\n{v}\r\n\r\n");
            head(text.as_bytes()).is_chunked()
        };
        assert!(te("Transfer-Encoding: gzip, Chunked"));
        assert!(te("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"));
        assert!(!te("Transfer-Encoding: chunked, gzip"));
    }

    #[test]
    fn looks_like_http_agrees_with_parse_head() {
        for payload in [
            ZEEK_WS_REQUEST,
            DOCKER_101_TCP,
            b"DELETE /x HTTP/1.1\r\n",
            b"HTTP/1.0 200 OK",
        ] {
            assert!(looks_like_http(payload));
            assert!(parse_head(payload).is_some());
        }
        assert!(!looks_like_http(b"GETS / HTTP/1.1\r\n"));
        assert!(!looks_like_http(b"\x81\x0aconnected,"));
    }

    #[test]
    fn fast_rejection_of_non_http() {
        for payload in [
            &b""[..],
            b"G",
            b"GET",
            b"GETS / HTTP/1.1\r\n",
            b"get / HTTP/1.1\r\n",
            b"HTTP/2 200\r\n",
            b"HTTP/1.1",
            b"\x16\x03\x01\x02\x00",
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"\x81\x0aconnected,",
        ] {
            assert!(parse_head(payload).is_none(), "{payload:?}");
        }
    }

    #[test]
    fn malformed_heads_name_the_offset() {
        let err = |p: &[u8]| parse_head(p).unwrap().unwrap_err();
        let e = err(b"GET /\r\n\r\n");
        assert_eq!(
            (e.offset, e.kind),
            (4, ErrorKind::Invalid("no HTTP version"))
        );
        let e = err(b"GET  HTTP/1.1\r\n\r\n");
        assert_eq!(e.kind, ErrorKind::Invalid("empty request target"));
        let e = err(b"GET / HTTP/2.0\r\n\r\n");
        assert_eq!((e.offset, e.kind), (6, ErrorKind::Invalid("not HTTP/1.x")));
        let e = err(b"HTTP/1.1 20x OK\r\n\r\n");
        assert_eq!(e.offset, 9);
        let e = err(b"HTTP/1.1 2000\r\n\r\n");
        assert_eq!(e.offset, 12);
        let e = err(b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n");
        assert_eq!(
            (e.offset, e.kind),
            (17, ErrorKind::Invalid("header line without ':'"))
        );
        let e = err(b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n");
        assert_eq!(e.kind, ErrorKind::Invalid("header name is not a token"));
        // The start line is judged first, even when a header line is bad too.
        let e = err(b"GET / HTTP/3.0\r\nBad Name: x\r\n\r\n");
        assert_eq!(e.kind, ErrorKind::Invalid("not HTTP/1.x"));
        let e = err(b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n");
        assert_eq!(
            e.kind,
            ErrorKind::Invalid("continuation line without a header")
        );
    }

    #[test]
    fn non_utf8_value_is_cut_not_fatal() {
        let h = head(b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9 au lait\r\nA: b\r\n\r\n");
        assert_eq!(h.header("x-name"), Some("caf"));
        assert_eq!(h.header("a"), Some("b"));
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let alphabet = b"GET HTTP/1.1 :\r\n\t,websocket Upgrade\xff\x00";
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let mut bytes: Vec<u8> = if state & 1 == 0 {
                b"GET ".to_vec()
            } else {
                b"HTTP/1.1 ".to_vec()
            };
            let mut s = state;
            for _ in 0..len {
                s = s.rotate_left(5) ^ 0x5851_F42D;
                bytes.push(alphabet[(s % alphabet.len() as u64) as usize]);
            }
            if let Some(Ok(h)) = parse_head(&bytes) {
                assert!(h.head_len() <= bytes.len());
                let _ = (h.to_string(), h.upgrade_tokens(), h.content_length());
            }
        }
    }
}
