//! HTTP/2 frames (RFC 9113) and HPACK header blocks (RFC 7541), enough to follow a
//! clear-text connection: frame headers, SETTINGS, HEADERS/CONTINUATION, DATA,
//! RST_STREAM and GOAWAY, and a header-block decoder with its dynamic table.
//!
//! The decoder is fed one direction of a connection in order; each direction has its
//! own [`HpackDecoder`], because each side's encoder keeps its own table.

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;

const LAYER: &str = "http2";
const HPACK: &str = "hpack";

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Every frame starts with a 9-byte header.
pub const FRAME_HEADER_LEN: usize = 9;

/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3): the server allows extended CONNECT.
pub const SETTINGS_ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS and PING acknowledgements share bit 0 with END_STREAM.
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FrameType {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    Goaway,
    WindowUpdate,
    Continuation,
    Unknown(u8),
}

impl FrameType {
    pub fn from_u8(v: u8) -> FrameType {
        match v {
            0 => FrameType::Data,
            1 => FrameType::Headers,
            2 => FrameType::Priority,
            3 => FrameType::RstStream,
            4 => FrameType::Settings,
            5 => FrameType::PushPromise,
            6 => FrameType::Ping,
            7 => FrameType::Goaway,
            8 => FrameType::WindowUpdate,
            9 => FrameType::Continuation,
            n => FrameType::Unknown(n),
        }
    }

    /// Wireshark's name for the type.
    pub fn name(self) -> String {
        match self {
            FrameType::Data => "DATA".into(),
            FrameType::Headers => "HEADERS".into(),
            FrameType::Priority => "PRIORITY".into(),
            FrameType::RstStream => "RST_STREAM".into(),
            FrameType::Settings => "SETTINGS".into(),
            FrameType::PushPromise => "PUSH_PROMISE".into(),
            FrameType::Ping => "PING".into(),
            FrameType::Goaway => "GOAWAY".into(),
            FrameType::WindowUpdate => "WINDOW_UPDATE".into(),
            FrameType::Continuation => "CONTINUATION".into(),
            FrameType::Unknown(n) => format!("Unknown type ({n})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameHeader {
    /// Payload length (24 bits), not counting the 9-byte header.
    pub length: u32,
    pub kind: FrameType,
    pub flags: u8,
    /// Stream identifier with the reserved bit cleared.
    pub stream_id: u32,
}

impl FrameHeader {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

pub fn parse_frame_header(data: &[u8]) -> Result<FrameHeader> {
    let mut c = Cursor::new(LAYER, data);
    let length = c.u24()?;
    let kind = FrameType::from_u8(c.u8()?);
    let flags = c.u8()?;
    let stream_id = c.u32()? & 0x7fff_ffff;
    Ok(FrameHeader {
        length,
        kind,
        flags,
        stream_id,
    })
}

/// One whole frame: its header and its payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Frame<'a> {
    pub header: FrameHeader,
    pub payload: &'a [u8],
}

impl H2Frame<'_> {
    /// Bytes the frame occupies on the wire.
    pub fn wire_len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload.len()
    }
}

/// Parses the frame at the start of `data`; `Truncated` when the frame continues past
/// the end of `data` (a stream reassembler waits for more bytes then).
pub fn parse_frame(data: &[u8]) -> Result<H2Frame<'_>> {
    let header = parse_frame_header(data)?;
    let mut c = Cursor::new(LAYER, data);
    c.skip(FRAME_HEADER_LEN)?;
    let payload = c.take(header.length as usize)?;
    Ok(H2Frame { header, payload })
}

/// HEADERS priority fields (present with the PRIORITY flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Priority {
    pub exclusive: bool,
    pub depends_on: u32,
    /// The wire value (actual weight minus one).
    pub weight: u8,
}

/// A frame's payload, decoded by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    Data {
        data: &'a [u8],
        end_stream: bool,
    },
    Headers {
        /// The header-block fragment (padding and priority removed).
        block: &'a [u8],
        priority: Option<Priority>,
        end_stream: bool,
        end_headers: bool,
    },
    Continuation {
        block: &'a [u8],
        end_headers: bool,
    },
    RstStream {
        error_code: u32,
    },
    Settings {
        ack: bool,
        settings: Vec<(u16, u32)>,
    },
    Goaway {
        last_stream_id: u32,
        error_code: u32,
        debug: &'a [u8],
    },
    /// PRIORITY, PUSH_PROMISE, PING, WINDOW_UPDATE and unknown types: not decoded.
    Other(&'a [u8]),
}

/// Strips the PADDED flag's pad-length byte and padding.
fn unpad<'a>(h: &FrameHeader, c: &mut Cursor<'a>) -> Result<&'a [u8]> {
    if !h.has(flags::PADDED) {
        return Ok(c.rest());
    }
    let pad_at = c.pos();
    let pad = c.u8()? as usize;
    let rest = c.rest();
    let keep = rest
        .len()
        .checked_sub(pad)
        .ok_or_else(|| DecodeError::invalid(LAYER, pad_at, "padding longer than the payload"))?;
    c.take(keep)
}

impl<'a> H2Frame<'a> {
    /// Decodes the payload. Errors are relative to the frame's first byte.
    pub fn decode(&self) -> Result<Payload<'a>> {
        let h = &self.header;
        let mut c = Cursor::new(LAYER, self.payload);
        let r = match h.kind {
            FrameType::Data => Payload::Data {
                data: unpad(h, &mut c)?,
                end_stream: h.has(flags::END_STREAM),
            },
            FrameType::Headers => {
                let pad_len = if h.has(flags::PADDED) {
                    Some(c.u8()? as usize)
                } else {
                    None
                };
                let priority = if h.has(flags::PRIORITY) {
                    let dep = c.u32()?;
                    Some(Priority {
                        exclusive: dep & 0x8000_0000 != 0,
                        depends_on: dep & 0x7fff_ffff,
                        weight: c.u8()?,
                    })
                } else {
                    None
                };
                let rest = c.rest();
                let keep = rest
                    .len()
                    .checked_sub(pad_len.unwrap_or(0))
                    .ok_or_else(|| {
                        DecodeError::invalid(LAYER, 0, "padding longer than the payload")
                    })?;
                Payload::Headers {
                    block: c.take(keep)?,
                    priority,
                    end_stream: h.has(flags::END_STREAM),
                    end_headers: h.has(flags::END_HEADERS),
                }
            }
            FrameType::Continuation => Payload::Continuation {
                block: self.payload,
                end_headers: h.has(flags::END_HEADERS),
            },
            FrameType::RstStream => Payload::RstStream {
                error_code: c.u32()?,
            },
            FrameType::Settings => {
                if !self.payload.len().is_multiple_of(6) {
                    return Err(DecodeError::invalid(
                        LAYER,
                        FRAME_HEADER_LEN,
                        "SETTINGS length not a multiple of 6",
                    ));
                }
                let mut settings = Vec::with_capacity(self.payload.len() / 6);
                while !c.is_empty() {
                    settings.push((c.u16()?, c.u32()?));
                }
                Payload::Settings {
                    ack: h.has(flags::ACK),
                    settings,
                }
            }
            FrameType::Goaway => Payload::Goaway {
                last_stream_id: c.u32()? & 0x7fff_ffff,
                error_code: c.u32()?,
                debug: c.rest(),
            },
            _ => Payload::Other(self.payload),
        };
        Ok(r)
    }
}

impl fmt::Display for H2Frame<'_> {
    /// Wireshark's Info style: `HEADERS[1]`, `SETTINGS[0]`, `RST_STREAM[3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.header.kind.name(), self.header.stream_id)?;
        match self.decode() {
            Ok(Payload::Settings { ack: true, .. }) => write!(f, " ACK"),
            Ok(Payload::RstStream { error_code }) => write!(f, " error {error_code}"),
            Ok(Payload::Goaway {
                last_stream_id,
                error_code,
                ..
            }) => write!(f, " last stream {last_stream_id}, error {error_code}"),
            _ => Ok(()),
        }
    }
}

// ------------------------------------------------------------------------- HPACK

/// A decoded header field. Names and values that are not UTF-8 are shown lossily.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

/// The value of the first field called `name` in a decoded header list.
pub fn header<'h>(fields: &'h [HeaderField], name: &str) -> Option<&'h str> {
    fields
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.value.as_str())
}

/// RFC 7541 Appendix A.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The default SETTINGS_HEADER_TABLE_SIZE.
pub const DEFAULT_TABLE_SIZE: usize = 4096;
/// Size updates above this are refused: a capture cannot make the decoder hold more.
const MAX_TABLE_SIZE: usize = 1 << 20;

/// One direction's HPACK decoding state: the dynamic table, newest entry first.
#[derive(Debug, Clone)]
pub struct HpackDecoder {
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
}

impl Default for HpackDecoder {
    fn default() -> Self {
        HpackDecoder {
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE,
        }
    }
}

/// An entry's size counts 32 bytes of overhead (RFC 7541 §4.1).
fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

impl HpackDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Current dynamic-table size in RFC 7541 units, and its limit.
    pub fn table_size(&self) -> (usize, usize) {
        (self.size, self.max_size)
    }

    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= entry_size(&n, &v),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            // Too big for the table: it empties it (RFC 7541 §4.4).
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.table.push_front((name, value));
    }

    fn lookup(&self, index: usize, at: usize) -> Result<(Vec<u8>, Vec<u8>)> {
        if index == 0 {
            return Err(DecodeError::invalid(HPACK, at, "index 0"));
        }
        if let Some((n, v)) = STATIC_TABLE.get(index - 1) {
            return Ok((n.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        self.table
            .get(index - 1 - STATIC_TABLE.len())
            .cloned()
            .ok_or_else(|| DecodeError::invalid(HPACK, at, "index beyond the dynamic table"))
    }

    /// Decodes one complete header block (HEADERS plus its CONTINUATIONs). On an error
    /// the fields decoded so far are returned with it; the table may then be out of
    /// step with the encoder, so later blocks of the direction cannot be trusted.
    pub fn decode(
        &mut self,
        block: &[u8],
    ) -> std::result::Result<Vec<HeaderField>, (Vec<HeaderField>, DecodeError)> {
        let mut out = Vec::new();
        let mut c = Cursor::new(HPACK, block);
        while !c.is_empty() {
            if let Err(e) = self.field(&mut c, &mut out) {
                return Err((out, e));
            }
        }
        Ok(out)
    }

    fn field(&mut self, c: &mut Cursor<'_>, out: &mut Vec<HeaderField>) -> Result<()> {
        let at = c.pos();
        let first = c.rest().first().copied().unwrap_or(0);
        let (name, value) = if first & 0x80 != 0 {
            // Indexed header field.
            let index = read_int(c, 7)?;
            self.lookup(index, at)?
        } else if first & 0x40 != 0 {
            // Literal with incremental indexing.
            let (n, v) = self.literal(c, 6, at)?;
            self.insert(n.clone(), v.clone());
            (n, v)
        } else if first & 0x20 != 0 {
            // Dynamic table size update.
            let size = read_int(c, 5)?;
            if size > MAX_TABLE_SIZE {
                return Err(DecodeError::invalid(
                    HPACK,
                    at,
                    "table size update too large",
                ));
            }
            self.max_size = size;
            self.evict_to(size);
            return Ok(());
        } else {
            // Literal without indexing (0000) or never indexed (0001).
            self.literal(c, 4, at)?
        };
        out.push(HeaderField {
            name: String::from_utf8_lossy(&name).into_owned(),
            value: String::from_utf8_lossy(&value).into_owned(),
        });
        Ok(())
    }

    fn literal(&self, c: &mut Cursor<'_>, prefix: u8, at: usize) -> Result<(Vec<u8>, Vec<u8>)> {
        let index = read_int(c, prefix)?;
        let name = if index == 0 {
            read_string(c)?
        } else {
            self.lookup(index, at)?.0
        };
        Ok((name, read_string(c)?))
    }
}

/// An HPACK integer with an N-bit prefix (RFC 7541 §5.1).
fn read_int(c: &mut Cursor<'_>, prefix: u8) -> Result<usize> {
    let max = (1usize << prefix) - 1;
    let mut value = c.u8()? as usize & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let at = c.pos();
        let b = c.u8()?;
        // Five continuation bytes already exceed any length a capture can hold.
        if shift > 28 {
            return Err(DecodeError::invalid(HPACK, at, "integer too large"));
        }
        value += ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// A string literal, Huffman-coded or raw (RFC 7541 §5.2).
fn read_string(c: &mut Cursor<'_>) -> Result<Vec<u8>> {
    let huffman = c.rest().first().is_some_and(|b| b & 0x80 != 0);
    let len = read_int(c, 7)?;
    let start = c.pos();
    let raw = c.take(len)?;
    if huffman {
        huffman_decode(raw).map_err(|e| e.at(start))
    } else {
        Ok(raw.to_vec())
    }
}

/// Code length in bits of each symbol 0..=256 (256 = EOS), RFC 7541 Appendix B.
/// The code is canonical, so the lengths alone define every code.
const HUFFMAN_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// The canonical-code tables: how many codes have each length, and the symbols
/// sorted by (length, symbol), which is the order of their codes.
struct Canonical {
    count: [u16; 31],
    symbols: [u16; 257],
}

fn canonical() -> &'static Canonical {
    static TABLE: OnceLock<Canonical> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut count = [0u16; 31];
        for &l in HUFFMAN_LENGTHS.iter() {
            if let Some(n) = count.get_mut(l as usize) {
                *n += 1;
            }
        }
        let mut order: Vec<u16> = (0..257).collect();
        order.sort_by_key(|&s| (HUFFMAN_LENGTHS.get(s as usize).copied().unwrap_or(0), s));
        let mut symbols = [0u16; 257];
        for (slot, s) in symbols.iter_mut().zip(order) {
            *slot = s;
        }
        Canonical { count, symbols }
    })
}

/// Decodes a Huffman-coded string (RFC 7541 §5.2, Appendix B). The final partial
/// code must be at most 7 bits of the EOS prefix (all ones); EOS itself is an error.
pub fn huffman_decode(data: &[u8]) -> Result<Vec<u8>> {
    let t = canonical();
    let mut out = Vec::with_capacity(data.len() * 8 / 5);
    // State of the symbol being read: its code so far, the first code and the index
    // of the first symbol of the current length.
    let (mut code, mut first, mut index, mut len) = (0u32, 0u32, 0usize, 0usize);
    let mut all_ones = true;
    for (i, byte) in data.iter().enumerate() {
        for bit in (0..8).rev() {
            let b = u32::from(byte >> bit & 1);
            code |= b;
            all_ones &= b == 1;
            len += 1;
            let count = u32::from(t.count.get(len).copied().unwrap_or(0));
            if code.wrapping_sub(first) < count {
                let pos = index + (code - first) as usize;
                let sym = t.symbols.get(pos).copied().unwrap_or(256);
                if sym == 256 {
                    return Err(DecodeError::invalid(HPACK, i, "EOS in a Huffman string"));
                }
                out.push(sym as u8);
                (code, first, index, len) = (0, 0, 0, 0);
                all_ones = true;
                continue;
            }
            if len >= 30 {
                return Err(DecodeError::invalid(HPACK, i, "invalid Huffman code"));
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
    }
    if len > 7 || !all_ones {
        return Err(DecodeError::invalid(
            HPACK,
            data.len().saturating_sub(1),
            "Huffman padding is not an EOS prefix",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn pairs(fields: &[HeaderField]) -> Vec<(&str, &str)> {
        fields
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect()
    }

    /// RFC 7541 C.3 (plain literals) and C.4 (the same requests Huffman-coded): the
    /// same three header lists and the same dynamic table afterwards.
    #[test]
    fn rfc7541_request_examples() {
        for blocks in [
            [
                "828684410f7777772e6578616d706c652e636f6d",
                "828684be58086e6f2d6361636865",
                "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
            ],
            [
                "828684418cf1e3c2e5f23a6ba0ab90f4ff",
                "828684be5886a8eb10649cbf",
                "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
            ],
        ] {
            let mut d = HpackDecoder::new();
            let first = d.decode(&hex(blocks[0])).unwrap();
            assert_eq!(
                pairs(&first),
                [
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":authority", "www.example.com")
                ]
            );
            assert_eq!(d.table_size(), (57, 4096));
            let second = d.decode(&hex(blocks[1])).unwrap();
            assert_eq!(second.len(), 5);
            assert_eq!(header(&second, ":authority"), Some("www.example.com"));
            assert_eq!(header(&second, "cache-control"), Some("no-cache"));
            assert_eq!(d.table_size(), (110, 4096));
            let third = d.decode(&hex(blocks[2])).unwrap();
            assert_eq!(
                pairs(&third),
                [
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":path", "/index.html"),
                    (":authority", "www.example.com"),
                    ("custom-key", "custom-value")
                ]
            );
            assert_eq!(d.table_size(), (164, 4096));
            assert_eq!(d.table_len(), 3);
        }
    }

    #[test]
    fn huffman_padding_and_eos() {
        // "www.example.com" from C.4.1.
        let ok = huffman_decode(&hex("f1e3c2e5f23a6ba0ab90f4ff")).unwrap();
        assert_eq!(ok, b"www.example.com");
        // Padding of 8 one-bits is longer than any EOS prefix allowed.
        assert!(huffman_decode(&hex("f1e3c2e5f23a6ba0ab90f4ffff")).is_err());
        // Padding with a zero bit: '0' is 00000, then 000 padding.
        assert!(huffman_decode(&[0x00]).is_err());
        // The full 30-bit EOS code.
        assert!(huffman_decode(&hex("fffffffc")).is_err());
    }

    /// The client and server frames of tests/fixtures/lab/h2-extended-connect.pcap
    /// (Python h2 4.4.1): frames 10 and 14 are extended CONNECTs on streams 1 and 3,
    /// 11 and 15 their answers (200, 403); tshark shows the same fields.
    #[test]
    fn extended_connect_exchange_from_lab_capture() {
        let mut client = HpackDecoder::new();
        let mut server = HpackDecoder::new();
        let f10 = hex(concat!(
            "0000440104000000014287bdab4e9c17b7ff4087b95d8749c87a3f87f058d072752a7f",
            "86448460938d3f418da071ae5f23a6ba0b702f34d07f408f4148b782c68393a952b772",
            "d8831eaf820b3f"
        ));
        let frame = parse_frame(&f10).unwrap();
        assert_eq!(frame.header.kind, FrameType::Headers);
        assert_eq!(frame.header.stream_id, 1);
        assert_eq!(frame.header.length, 0x44);
        assert_eq!(frame.to_string(), "HEADERS[1]");
        let Payload::Headers {
            block,
            end_headers: true,
            end_stream: false,
            priority: None,
        } = frame.decode().unwrap()
        else {
            panic!("not a HEADERS frame with END_HEADERS")
        };
        assert_eq!(
            pairs(&client.decode(block).unwrap()),
            [
                (":method", "CONNECT"),
                (":protocol", "websocket"),
                (":scheme", "http"),
                (":path", "/chat"),
                (":authority", "lab.example:18441"),
                ("sec-websocket-version", "13")
            ]
        );
        let f11 = hex("00000101040000000188");
        let Payload::Headers { block, .. } = parse_frame(&f11).unwrap().decode().unwrap() else {
            panic!("not HEADERS")
        };
        assert_eq!(
            header(&server.decode(block).unwrap(), ":status"),
            Some("200")
        );
        // The second request is mostly references into the client's dynamic table.
        let f14 = hex("00000f010400000003c2c18644886253d919a490b57fc0bf");
        let frame = parse_frame(&f14).unwrap();
        assert_eq!(frame.header.stream_id, 3);
        let Payload::Headers { block, .. } = frame.decode().unwrap() else {
            panic!("not HEADERS")
        };
        let fields = client.decode(block).unwrap();
        assert_eq!(header(&fields, ":method"), Some("CONNECT"));
        assert_eq!(header(&fields, ":protocol"), Some("websocket"));
        assert_eq!(header(&fields, ":path"), Some("/forbidden"));
        assert_eq!(header(&fields, ":authority"), Some("lab.example:18441"));
        let f15 = hex("0000050105000000034883680cff");
        let frame = parse_frame(&f15).unwrap();
        let Payload::Headers {
            block,
            end_stream: true,
            ..
        } = frame.decode().unwrap()
        else {
            panic!("not HEADERS with END_STREAM")
        };
        assert_eq!(
            header(&server.decode(block).unwrap(), ":status"),
            Some("403")
        );
    }

    #[test]
    fn settings_data_goaway_rst() {
        // The server's SETTINGS (frame 6) advertises ENABLE_CONNECT_PROTOCOL = 1.
        let f = hex("000006040000000000000800000001");
        let Payload::Settings { ack, settings } = parse_frame(&f).unwrap().decode().unwrap() else {
            panic!("not SETTINGS")
        };
        assert!(!ack);
        assert_eq!(settings, [(SETTINGS_ENABLE_CONNECT_PROTOCOL, 1)]);
        let ack = hex("000000040100000000");
        assert_eq!(parse_frame(&ack).unwrap().to_string(), "SETTINGS[0] ACK");
        // DATA on stream 1 carrying a masked WebSocket text frame (frame 12).
        let d = hex("00000b000000000001818574b350ae1cd63cc21b");
        let Payload::Data { data, end_stream } = parse_frame(&d).unwrap().decode().unwrap() else {
            panic!("not DATA")
        };
        assert!(!end_stream);
        assert_eq!(data, &hex("818574b350ae1cd63cc21b")[..]);
        // Padded DATA: pad length 2, "hi", two pad bytes.
        let p = hex("000005000800000001026869 0000".replace(' ', "").as_str());
        let Payload::Data { data, .. } = parse_frame(&p).unwrap().decode().unwrap() else {
            panic!("not DATA")
        };
        assert_eq!(data, b"hi");
        let g = hex("0000080700000000000000000000000000");
        assert_eq!(
            parse_frame(&g).unwrap().to_string(),
            "GOAWAY[0] last stream 0, error 0"
        );
        let r = hex("00000403000000000300000008");
        assert_eq!(
            parse_frame(&r).unwrap().decode().unwrap(),
            Payload::RstStream { error_code: 8 }
        );
        // HEADERS with PADDED and PRIORITY: pad 1, exclusive dependency on 3, weight 15.
        let h = hex("00000801 2c 00000005 01 80000003 0f 82 00"
            .replace(' ', "")
            .as_str());
        let Payload::Headers {
            block, priority, ..
        } = parse_frame(&h).unwrap().decode().unwrap()
        else {
            panic!("not HEADERS")
        };
        assert_eq!(block, [0x82]);
        assert_eq!(
            priority,
            Some(Priority {
                exclusive: true,
                depends_on: 3,
                weight: 15
            })
        );
    }

    #[test]
    fn truncation_and_bad_input_are_errors() {
        let f = hex("00000b000000000001818574");
        assert!(matches!(
            parse_frame(&f).unwrap_err().kind,
            crate::error::ErrorKind::Truncated { .. }
        ));
        // Padding longer than the payload.
        assert!(parse_frame(&hex("00000100080000000105"))
            .unwrap()
            .decode()
            .is_err());
        // SETTINGS of 5 bytes.
        assert!(parse_frame(&hex("0000050400000000000001000000"))
            .unwrap()
            .decode()
            .is_err());
        let mut d = HpackDecoder::new();
        // Index 62 with an empty dynamic table, then index 0.
        assert!(d.decode(&[0xbe]).is_err());
        assert!(d.decode(&[0x80]).is_err());
        // An integer that never ends.
        assert!(d
            .decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
            .is_err());
        // Table size update beyond the cap; the decoded prefix is returned with the error.
        let (partial, _) = d.decode(&[0x82, 0x3f, 0xe1, 0xff, 0xff, 0x7f]).unwrap_err();
        assert_eq!(pairs(&partial), [(":method", "GET")]);
    }

    /// Pseudo-random garbage never panics, whatever it decodes to.
    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut d = HpackDecoder::new();
        for round in 0..20_000 {
            let len = round % 64;
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = d.decode(&buf);
            let _ = huffman_decode(&buf);
            if let Ok(f) = parse_frame(&buf) {
                let _ = f.decode();
                let _ = f.to_string();
            }
            for t in 0..10u8 {
                let mut framed = vec![
                    0,
                    0,
                    len as u8,
                    t,
                    buf.first().copied().unwrap_or(0),
                    0,
                    0,
                    0,
                    1,
                ];
                framed.extend_from_slice(&buf);
                if let Ok(f) = parse_frame(&framed) {
                    let _ = f.decode();
                }
            }
        }
    }
}
