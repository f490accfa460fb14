//! DNS messages (RFC 1035 and friends) over UDP or TCP, decoded with hickory-proto.
//!
//! hickory's `Message::from_vec` is all-or-nothing, so this module walks the message
//! itself: it reads the 12-byte header, then measures every question and resource
//! record (name labels, fixed fields, RDLENGTH) against the bytes present before
//! handing that record to hickory. That gives exact truncation offsets, keeps the
//! records decoded before a damaged one, and means a record hickory rejects (an odd
//! SVCB, a bad compression pointer) is kept as [`RecordData::Malformed`] instead of
//! discarding the whole message. Names, types and the data netkit uses (addresses
//! and the names that point at them) are copied into plain owned types so callers
//! never depend on hickory's API.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError as HickoryError};
use serde::{Serialize, Serializer};

use crate::cursor::Cursor;
use crate::error::{DecodeError, ErrorKind, Result};

const LAYER: &str = "dns";
const HEADER_LEN: usize = 12;
/// QTYPE + QCLASS after a question's name.
const QUESTION_FIXED: usize = 4;
/// TYPE + CLASS + TTL + RDLENGTH after a record's owner name.
const RECORD_FIXED: usize = 10;
const TYPE_OPT: u16 = 41;

/// DNS header OPCODE (RFC 6895 §2.2); unassigned values kept as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DnsOpcode {
    Query,
    IQuery,
    Status,
    Notify,
    Update,
    Dso,
    Unknown(u8),
}

impl DnsOpcode {
    pub fn from_u8(value: u8) -> Self {
        match value {
            0 => DnsOpcode::Query,
            1 => DnsOpcode::IQuery,
            2 => DnsOpcode::Status,
            4 => DnsOpcode::Notify,
            5 => DnsOpcode::Update,
            6 => DnsOpcode::Dso,
            other => DnsOpcode::Unknown(other),
        }
    }
}

/// Response code, including the EDNS extended bits (RFC 6891 §6.1.3) when an OPT
/// record is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rcode(pub u16);

impl Rcode {
    pub const NO_ERROR: Rcode = Rcode(0);
    pub const NX_DOMAIN: Rcode = Rcode(3);

    /// Wireshark's wording, so `pcap show` reads like tshark.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "No error",
            1 => "Format error",
            2 => "Server failure",
            3 => "No such name",
            4 => "Not implemented",
            5 => "Refused",
            6 => "Name exists",
            7 => "RRset exists",
            8 => "RRset does not exist",
            9 => "Not authoritative",
            10 => "Name out of zone",
            16 => "Bad OPT version",
            17 => "Bad key",
            18 => "Bad time",
            23 => "Bad cookie",
            _ => return None,
        })
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Unknown rcode {}", self.0),
        }
    }
}

impl Serialize for Rcode {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

/// A record or query type code, shown by its mnemonic (`A`, `AAAA`, `TYPE65280`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RrType(pub u16);

impl RrType {
    pub const A: RrType = RrType(1);
    pub const NS: RrType = RrType(2);
    pub const CNAME: RrType = RrType(5);
    pub const PTR: RrType = RrType(12);
    pub const AAAA: RrType = RrType(28);
    pub const OPT: RrType = RrType(TYPE_OPT);
}

impl fmt::Display for RrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match RecordType::from(self.0) {
            // RFC 3597 §5 spelling for types hickory has no name for.
            RecordType::Unknown(code) => write!(f, "TYPE{code}"),
            known => f.write_str(known.into()),
        }
    }
}

impl Serialize for RrType {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Record counts from the header (what the sender claimed, not what was decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DnsCounts {
    pub questions: u16,
    pub answers: u16,
    pub authorities: u16,
    pub additionals: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Without the trailing dot; the root is `<Root>`.
    pub name: String,
    pub qtype: RrType,
    pub qclass: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRecord {
    pub name: String,
    pub rtype: RrType,
    /// The CLASS field as sent (for OPT records: the requester's UDP payload size).
    pub class: u16,
    pub ttl: u32,
    pub data: RecordData,
}

/// The record data netkit reads; other types keep only their type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Ptr(String),
    Ns(String),
    Mx {
        preference: u16,
        exchange: String,
    },
    Soa {
        mname: String,
    },
    /// RDLENGTH 0 (an empty OPT, or an RFC 2136 update prerequisite).
    Empty,
    Other,
    /// hickory rejected the record data; the record's extent was still known.
    Malformed,
}

/// A decoded DNS message. When the input ends early or a record is damaged, the
/// parts decoded so far are kept and `error` says where decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dns {
    pub id: u16,
    pub is_response: bool,
    pub opcode: DnsOpcode,
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_desired: bool,
    pub recursion_available: bool,
    pub rcode: Rcode,
    pub counts: DnsCounts,
    pub questions: Vec<Question>,
    pub answers: Vec<ResourceRecord>,
    pub authorities: Vec<ResourceRecord>,
    pub additionals: Vec<ResourceRecord>,
    #[serde(serialize_with = "error_text")]
    pub error: Option<DecodeError>,
}

fn error_text<S: Serializer>(
    error: &Option<DecodeError>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match error {
        Some(e) => serializer.collect_str(e),
        None => serializer.serialize_none(),
    }
}

/// Decode a DNS message (the UDP payload). Fails only when the 12-byte header is
/// incomplete; anything later is reported in [`Dns::error`].
pub fn parse(payload: &[u8]) -> Result<Dns> {
    let mut cur = Cursor::new(LAYER, payload);
    let id = cur.u16()?;
    let flags = cur.u16()?;
    let counts = DnsCounts {
        questions: cur.u16()?,
        answers: cur.u16()?,
        authorities: cur.u16()?,
        additionals: cur.u16()?,
    };
    let [flags_hi, flags_lo] = flags.to_be_bytes();
    let mut dns = Dns {
        id,
        is_response: flags_hi & 0x80 != 0,
        opcode: DnsOpcode::from_u8((flags_hi >> 3) & 0x0f),
        authoritative: flags_hi & 0x04 != 0,
        truncated: flags_hi & 0x02 != 0,
        recursion_desired: flags_hi & 0x01 != 0,
        recursion_available: flags_lo & 0x80 != 0,
        rcode: Rcode(u16::from(flags_lo & 0x0f)),
        counts,
        questions: Vec::new(),
        answers: Vec::new(),
        authorities: Vec::new(),
        additionals: Vec::new(),
        error: None,
    };

    let mut walker = Walker {
        msg: payload,
        pos: HEADER_LEN,
        error: None,
        stopped: false,
    };
    dns.questions = walker.section(counts.questions, Walker::question);
    dns.answers = walker.section(counts.answers, Walker::record);
    dns.authorities = walker.section(counts.authorities, Walker::record);
    dns.additionals = walker.section(counts.additionals, Walker::record);
    dns.error = walker.error;

    if let Some(opt) = dns.additionals.iter().find(|r| r.rtype == RrType::OPT) {
        let extended = (opt.ttl >> 24) as u16;
        dns.rcode = Rcode((extended << 4) | dns.rcode.0);
    }
    Ok(dns)
}

/// Decode the first DNS message of a TCP payload (RFC 1035 §4.2.2: a 2-byte length
/// then the message). Offsets in errors count from the start of `payload`.
pub fn parse_tcp(payload: &[u8]) -> Result<Dns> {
    let mut cur = Cursor::new(LAYER, payload);
    let declared = usize::from(cur.u16()?);
    let rest = cur.rest();
    let msg = rest.get(..declared).unwrap_or(rest);
    let mut dns = parse(msg).map_err(|e| e.at(2))?;
    dns.error = dns.error.map(|e| e.at(2));
    if dns.error.is_none() && msg.len() < declared {
        // Every record fit, but the length prefix promises more bytes than arrived.
        dns.error = Some(DecodeError::truncated(LAYER, 2, declared, msg.len()));
    }
    Ok(dns)
}

/// Bytes the first length-prefixed message of a DNS-over-TCP stream occupies
/// (prefix included), so a caller can step to the next one.
pub fn tcp_message_len(payload: &[u8]) -> Option<usize> {
    match payload.get(..2)? {
        &[hi, lo] => Some(2 + usize::from(u16::from_be_bytes([hi, lo]))),
        _ => None,
    }
}

/// Sequential reader over the sections after the header; stops at the first
/// truncation and remembers the first error.
struct Walker<'a> {
    msg: &'a [u8],
    pos: usize,
    error: Option<DecodeError>,
    /// Set once an element's extent is unknown: nothing after it can be located.
    stopped: bool,
}

impl<'a> Walker<'a> {
    fn section<T>(&mut self, count: u16, mut item: impl FnMut(&mut Self) -> Option<T>) -> Vec<T> {
        // A question takes at least 5 bytes and a record 11, so the bytes left bound
        // how many can follow: garbage counts must not drive a large allocation.
        let remaining = self.msg.len().saturating_sub(self.pos);
        let mut out = Vec::with_capacity(usize::from(count).min(remaining / 5));
        for _ in 0..count {
            if self.stopped {
                break;
            }
            match item(self) {
                Some(value) => out.push(value),
                None => self.stopped = true,
            }
        }
        out
    }

    fn note(&mut self, error: DecodeError) {
        self.error.get_or_insert(error);
    }

    /// Offset just past the (possibly compressed) name starting at `start`.
    fn name_end(&self, start: usize) -> Result<usize> {
        let mut pos = start;
        loop {
            let Some(&len) = self.msg.get(pos) else {
                return Err(self.short(start, pos + 1));
            };
            match len & 0xc0 {
                0x00 if len == 0 => return Ok(pos + 1),
                0x00 => pos += 1 + usize::from(len),
                // A compression pointer ends the name in this position.
                0xc0 => pos += 2,
                _ => return Err(DecodeError::invalid(LAYER, pos, "reserved label type")),
            }
            if len & 0xc0 == 0xc0 {
                return if pos <= self.msg.len() {
                    Ok(pos)
                } else {
                    Err(self.short(start, pos))
                };
            }
        }
    }

    /// "The element at `start` needs at least up to `end`."
    fn short(&self, start: usize, end: usize) -> DecodeError {
        DecodeError::truncated(
            LAYER,
            start,
            end - start,
            self.msg.len().saturating_sub(start),
        )
    }

    /// A hickory decoder positioned at `start` of the whole message (compression
    /// pointers are offsets from the message start).
    fn decoder_at(&self, start: usize) -> BinDecoder<'a> {
        let mut decoder = BinDecoder::new(self.msg);
        // `start` was bounds-checked by name_end, so this cannot fail.
        let _ = decoder.read_slice(start);
        decoder
    }

    /// Callers check `at + 2 <= msg.len()` first; out of range reads as 0.
    fn u16_at(&self, at: usize) -> u16 {
        match self.msg.get(at..at + 2) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    fn u32_at(&self, at: usize) -> u32 {
        match self.msg.get(at..at + 4) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    fn question(&mut self) -> Option<Question> {
        let start = self.pos;
        let name_end = match self.name_end(start) {
            Ok(end) => end,
            Err(e) => {
                self.note(e);
                return None;
            }
        };
        let end = name_end + QUESTION_FIXED;
        if end > self.msg.len() {
            self.note(self.short(start, end));
            return None;
        }
        self.pos = end;
        let name = match Name::read(&mut self.decoder_at(start)) {
            Ok(name) => display_name(&name),
            Err(e) => {
                self.note(hickory_error(start, &e));
                String::from("<malformed>")
            }
        };
        Some(Question {
            name,
            qtype: RrType(self.u16_at(name_end)),
            qclass: self.u16_at(name_end + 2),
        })
    }

    fn record(&mut self) -> Option<ResourceRecord> {
        let start = self.pos;
        let name_end = match self.name_end(start) {
            Ok(end) => end,
            Err(e) => {
                self.note(e);
                return None;
            }
        };
        let fixed_end = name_end + RECORD_FIXED;
        if fixed_end > self.msg.len() {
            self.note(self.short(start, fixed_end));
            return None;
        }
        let rtype = RrType(self.u16_at(name_end));
        let class = self.u16_at(name_end + 2);
        let ttl = self.u32_at(name_end + 4);
        let rdlength = usize::from(self.u16_at(name_end + 8));
        let end = fixed_end + rdlength;
        if end > self.msg.len() {
            self.note(self.short(start, end));
            return None;
        }
        self.pos = end;

        let mut decoder = self.decoder_at(start);
        let (name, data) = match Record::read(&mut decoder) {
            Ok(record) if decoder.index() == end => {
                (display_name(&record.name), record_data(record.data))
            }
            Ok(_) => {
                self.note(DecodeError::invalid(
                    LAYER,
                    start,
                    "record data length does not match its contents",
                ));
                (self.owner_name(start), RecordData::Malformed)
            }
            Err(e) => {
                self.note(hickory_error(start, &e));
                (self.owner_name(start), RecordData::Malformed)
            }
        };
        Some(ResourceRecord {
            name,
            rtype,
            class,
            ttl,
            data,
        })
    }

    fn owner_name(&self, start: usize) -> String {
        Name::read(&mut self.decoder_at(start))
            .map_or_else(|_| String::from("<malformed>"), |n| display_name(&n))
    }
}

fn record_data(data: RData) -> RecordData {
    match data {
        RData::A(a) => RecordData::A(a.0),
        RData::AAAA(aaaa) => RecordData::Aaaa(aaaa.0),
        RData::CNAME(name) => RecordData::Cname(display_name(&name.0)),
        RData::PTR(name) => RecordData::Ptr(display_name(&name.0)),
        RData::NS(name) => RecordData::Ns(display_name(&name.0)),
        RData::MX(mx) => RecordData::Mx {
            preference: mx.preference,
            exchange: display_name(&mx.exchange),
        },
        RData::SOA(soa) => RecordData::Soa {
            mname: display_name(&soa.mname),
        },
        RData::Update0(_) => RecordData::Empty,
        _ => RecordData::Other,
    }
}

/// Names as Wireshark shows them: no trailing dot, `<Root>` for the root.
fn display_name(name: &Name) -> String {
    if name.is_root() {
        return String::from("<Root>");
    }
    let mut text = name.to_ascii();
    if text.ends_with('.') {
        text.pop();
    }
    text
}

/// hickory's error, as an `Invalid` at the start of the element it rejected.
fn hickory_error(at: usize, error: &HickoryError) -> DecodeError {
    let what = match error {
        HickoryError::InsufficientBytes => "record data shorter than its type needs",
        HickoryError::IncorrectRDataLengthRead { .. } => {
            "record data length does not match its contents"
        }
        HickoryError::PointerNotPriorToLabel { .. }
        | HickoryError::LabelOverlapsWithOther { .. } => {
            "name compression pointer does not point backwards"
        }
        HickoryError::UnrecognizedLabelCode(_) => "reserved label type",
        HickoryError::LabelBytesTooLong(_) => "label longer than 63 bytes",
        HickoryError::DomainNameTooLong(_) => "name longer than 255 bytes",
        HickoryError::EdnsNameNotRoot(_) => "OPT record owner is not the root",
        HickoryError::UnknownRecordTypeValue(_) => "meta type (ANY, AXFR, IXFR) with data",
        _ => "record data rejected by the DNS decoder",
    };
    DecodeError::invalid(LAYER, at, what)
}

impl Dns {
    /// Map each address in A/AAAA answers to the name a client asked for: the
    /// question name when the answer is reached from it through the CNAME chain,
    /// else the record's owner. `top` uses this to name remote hosts.
    pub fn address_names(&self) -> Vec<(IpAddr, &str)> {
        let mut out = Vec::new();
        for question in &self.questions {
            let mut chain: Vec<&str> = vec![&question.name];
            for answer in &self.answers {
                let owned_by_chain = chain.iter().any(|n| n.eq_ignore_ascii_case(&answer.name));
                match &answer.data {
                    RecordData::Cname(target) if owned_by_chain => chain.push(target),
                    RecordData::A(addr) if owned_by_chain => {
                        out.push((IpAddr::V4(*addr), question.name.as_str()));
                    }
                    RecordData::Aaaa(addr) if owned_by_chain => {
                        out.push((IpAddr::V6(*addr), question.name.as_str()));
                    }
                    _ => {}
                }
            }
        }
        for answer in &self.answers {
            let addr = match answer.data {
                RecordData::A(a) => IpAddr::V4(a),
                RecordData::Aaaa(a) => IpAddr::V6(a),
                _ => continue,
            };
            if !out.iter().any(|(known, _)| *known == addr) {
                out.push((addr, answer.name.as_str()));
            }
        }
        out
    }

    /// All answer, authority and additional records, in wire order.
    pub fn records(&self) -> impl Iterator<Item = &ResourceRecord> {
        self.answers
            .iter()
            .chain(&self.authorities)
            .chain(&self.additionals)
    }
}

impl fmt::Display for Dns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DNS ")?;
        match self.opcode {
            DnsOpcode::Query => f.write_str("standard query")?,
            DnsOpcode::IQuery => f.write_str("inverse query")?,
            DnsOpcode::Status => f.write_str("server status request")?,
            DnsOpcode::Notify => f.write_str("zone change notification")?,
            DnsOpcode::Update => f.write_str("dynamic update")?,
            DnsOpcode::Dso => f.write_str("stateful operation")?,
            DnsOpcode::Unknown(n) => write!(f, "opcode {n}")?,
        }
        if self.is_response {
            f.write_str(" response")?;
        }
        write!(f, " {:#06x}", self.id)?;
        if self.is_response && self.rcode != Rcode::NO_ERROR {
            write!(f, " {}", self.rcode)?;
        }
        for question in &self.questions {
            write!(f, " {} {}", question.qtype, question.name)?;
        }
        for record in self.records() {
            write!(f, " {record}")?;
        }
        match self.error.map(|e| e.kind) {
            Some(ErrorKind::Truncated { .. }) => f.write_str(" [truncated]")?,
            Some(ErrorKind::Invalid(_)) => f.write_str(" [malformed]")?,
            None => {}
        }
        Ok(())
    }
}

impl fmt::Display for ResourceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rtype)?;
        match &self.data {
            RecordData::A(a) => write!(f, " {a}"),
            RecordData::Aaaa(a) => write!(f, " {a}"),
            RecordData::Cname(n) | RecordData::Ptr(n) | RecordData::Ns(n) => write!(f, " {n}"),
            RecordData::Mx {
                preference,
                exchange,
            } => write!(f, " {preference} {exchange}"),
            RecordData::Soa { mname } => write!(f, " {mname}"),
            RecordData::Empty | RecordData::Other | RecordData::Malformed => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    // UDP payloads from the capture corpus (/work/shared/pcaps). Expected summaries
    // are tshark 4.0's Info column with "DNS s" in front of "Standard".

    /// tcp/chrissanders__http_espn_fail.pcapng frame 1.
    const ESPN_QUERY: &str = "b10b0100000100000000000003777777046573706e03636f6d0000010001";
    /// Same file, frame 2: CNAME then A, both compressed.
    const ESPN_RESPONSE: &str = "b10b8180000100020000000003777777046573706e03636f6d0000010001\
        c00c00050001000000e10014057265646972046573706e03676e7302676fc015\
        c02a00010001000000df00044447d49e";
    /// misc/zeek__pcapng-multi-interface.pcapng frame 2: three CNAMEs, an A, an OPT.
    const APPLE_RESPONSE: &str = "4fe88180000100040000000103777777056170706c6503636f6d0000010001\
        c00c000500010000010f001a0d7777772d6170706c652d636f6d0176076161706c696d67c016\
        c02b000500010000010f001b03777777056170706c6503636f6d07656467656b6579036e657400\
        c051000500010000010f00190565363835380564736365390a616b616d616965646765c067\
        c0780001000100000009000417c26518\
        00002904d0000000000000";
    /// Same file, frame 6: four AAAA answers.
    const GOOGLE_AAAA_RESPONSE: &str = "00058180000100040000000006676f6f676c6503636f6d00001c0001\
        c00c001c00010000007000102607f8b0402320070000000000000066\
        c00c001c00010000007000102607f8b040232007000000000000008b\
        c00c001c00010000007000102607f8b0402320070000000000000071\
        c00c001c00010000007000102607f8b040232007000000000000008a";
    /// encap/suricata-verify__vxlan.pcap frame 23 (inside VXLAN): a PTR answer.
    const PTR_RESPONSE: &str = "3a2e8180000100010000000003323234033134350331393602313807696e2d61646472046172706100000c0001\
        c00c000c00010000012c0037126563322d31382d3139362d3134352d3232340c65752d63656e7472616c2d3107636f6d7075746509616d617a6f6e61777303636f6d00";
    /// encap/zeek__gre-pptp.pcap frame 2 (inside PPTP/GRE): NXDOMAIN with an SOA.
    const NXDOMAIN_RESPONSE: &str = "a62c81830001000000010000357871742d6465746563742d6d6f6465322d39373731326538382d313637612d343562392d393365652d39313331343065373636373800001c0001\
        0000060001000002f5004001610c726f6f742d73657276657273036e657400056e73746c640c766572697369676e2d67727303636f6d00780d0909000007080000038400093a8000015180";
    /// multicast/zeek__home-multicast-short.pcap frame 4: an mDNS PTR question.
    const MDNS_QUERY: &str = "000000000001000000000000105f73706f746966792d636f6e6e656374045f746370056c6f63616c00000c0001";

    #[test]
    fn standard_query() {
        let dns = parse(&hex(ESPN_QUERY)).unwrap();
        assert_eq!(dns.id, 0xb10b);
        assert!(!dns.is_response);
        assert_eq!(dns.opcode, DnsOpcode::Query);
        assert!(dns.recursion_desired);
        assert_eq!(
            dns.counts,
            DnsCounts {
                questions: 1,
                answers: 0,
                authorities: 0,
                additionals: 0
            }
        );
        assert_eq!(
            dns.questions,
            [Question {
                name: "www.espn.com".into(),
                qtype: RrType::A,
                qclass: 1
            }]
        );
        assert_eq!(dns.error, None);
        assert_eq!(dns.to_string(), "DNS standard query 0xb10b A www.espn.com");
    }

    #[test]
    fn response_with_cname_and_a() {
        let dns = parse(&hex(ESPN_RESPONSE)).unwrap();
        assert!(dns.is_response);
        assert!(dns.recursion_available);
        assert_eq!(dns.rcode, Rcode::NO_ERROR);
        assert_eq!(
            dns.answers,
            [
                ResourceRecord {
                    name: "www.espn.com".into(),
                    rtype: RrType::CNAME,
                    class: 1,
                    ttl: 225,
                    data: RecordData::Cname("redir.espn.gns.go.com".into()),
                },
                ResourceRecord {
                    name: "redir.espn.gns.go.com".into(),
                    rtype: RrType::A,
                    class: 1,
                    ttl: 223,
                    data: RecordData::A(Ipv4Addr::new(68, 71, 212, 158)),
                },
            ]
        );
        assert_eq!(
            dns.to_string(),
            "DNS standard query response 0xb10b A www.espn.com CNAME redir.espn.gns.go.com \
             A 68.71.212.158"
        );
        assert_eq!(
            dns.address_names(),
            [(IpAddr::from([68, 71, 212, 158]), "www.espn.com")]
        );
    }

    #[test]
    fn cname_chain_with_edns() {
        let dns = parse(&hex(APPLE_RESPONSE)).unwrap();
        assert_eq!(dns.error, None);
        assert_eq!(dns.answers.len(), 4);
        assert_eq!(
            dns.answers.iter().map(|a| a.ttl).collect::<Vec<_>>(),
            [271, 271, 271, 9]
        );
        assert_eq!(dns.additionals.len(), 1);
        let opt = &dns.additionals[0];
        assert_eq!((opt.rtype, opt.name.as_str()), (RrType::OPT, "<Root>"));
        assert_eq!(opt.class, 1232, "OPT class is the UDP payload size");
        assert_eq!(
            dns.to_string(),
            "DNS standard query response 0x4fe8 A www.apple.com CNAME www-apple-com.v.aaplimg.com \
             CNAME www.apple.com.edgekey.net CNAME e6858.dsce9.akamaiedge.net A 23.194.101.24 OPT"
        );
        assert_eq!(
            dns.address_names(),
            [(IpAddr::from([23, 194, 101, 24]), "www.apple.com")]
        );
    }

    #[test]
    fn extended_rcode_comes_from_the_opt_record() {
        // Synthetic: the APPLE_RESPONSE OPT record with extended-rcode byte 1.
        let mut bytes = hex(APPLE_RESPONSE);
        let ext_rcode_at = bytes.len() - 6;
        bytes[ext_rcode_at] = 1;
        let dns = parse(&bytes).unwrap();
        assert_eq!(dns.rcode, Rcode(16));
        assert!(dns
            .to_string()
            .contains("0x4fe8 Bad OPT version A www.apple.com"));
    }

    #[test]
    fn aaaa_answers() {
        let dns = parse(&hex(GOOGLE_AAAA_RESPONSE)).unwrap();
        assert_eq!(
            dns.to_string(),
            "DNS standard query response 0x0005 AAAA google.com AAAA 2607:f8b0:4023:2007::66 \
             AAAA 2607:f8b0:4023:2007::8b AAAA 2607:f8b0:4023:2007::71 AAAA 2607:f8b0:4023:2007::8a"
        );
        let names = dns.address_names();
        assert_eq!(names.len(), 4);
        assert_eq!(
            names[0],
            ("2607:f8b0:4023:2007::66".parse().unwrap(), "google.com")
        );
    }

    #[test]
    fn ptr_answer() {
        let dns = parse(&hex(PTR_RESPONSE)).unwrap();
        assert_eq!(dns.answers[0].ttl, 300);
        assert_eq!(
            dns.answers[0].data,
            RecordData::Ptr("ec2-18-196-145-224.eu-central-1.compute.amazonaws.com".into())
        );
        assert_eq!(
            dns.to_string(),
            "DNS standard query response 0x3a2e PTR 224.145.196.18.in-addr.arpa \
             PTR ec2-18-196-145-224.eu-central-1.compute.amazonaws.com"
        );
        assert!(dns.address_names().is_empty());
    }

    #[test]
    fn nxdomain_with_soa_authority() {
        let dns = parse(&hex(NXDOMAIN_RESPONSE)).unwrap();
        assert_eq!(dns.rcode, Rcode::NX_DOMAIN);
        assert!(dns.answers.is_empty());
        assert_eq!(dns.authorities.len(), 1);
        assert_eq!(dns.authorities[0].name, "<Root>");
        assert_eq!(dns.authorities[0].ttl, 757);
        assert_eq!(
            dns.authorities[0].data,
            RecordData::Soa {
                mname: "a.root-servers.net".into()
            }
        );
        assert_eq!(
            dns.to_string(),
            "DNS standard query response 0xa62c No such name \
             AAAA xqt-detect-mode2-97712e88-167a-45b9-93ee-913140e76678 SOA a.root-servers.net"
        );
    }

    #[test]
    fn mdns_question() {
        let dns = parse(&hex(MDNS_QUERY)).unwrap();
        assert_eq!(dns.id, 0);
        assert_eq!(dns.questions[0].name, "_spotify-connect._tcp.local");
        assert_eq!(dns.questions[0].qtype, RrType::PTR);
        assert_eq!(
            dns.to_string(),
            "DNS standard query 0x0000 PTR _spotify-connect._tcp.local"
        );
    }

    #[test]
    fn tcp_length_prefix() {
        let msg = hex(ESPN_RESPONSE);
        let mut framed = vec![0x00, 0x4e];
        framed.extend_from_slice(&msg);
        assert_eq!(tcp_message_len(&framed), Some(80));
        assert_eq!(parse_tcp(&framed).unwrap(), parse(&msg).unwrap());

        // Cut inside the second answer (which starts at message offset 62).
        let cut = parse_tcp(&framed[..70]).unwrap();
        assert_eq!(cut.answers.len(), 1);
        let e = cut.error.unwrap();
        assert_eq!(e.offset, 64);
        // Six bytes cannot show RDLENGTH yet: at least name + 10 fixed bytes needed.
        assert_eq!(
            e.kind,
            ErrorKind::Truncated {
                needed: 12,
                available: 6
            }
        );
        let cut = parse_tcp(&framed[..77]).unwrap();
        assert_eq!(
            cut.error.unwrap().kind,
            ErrorKind::Truncated {
                needed: 16,
                available: 13
            }
        );

        // The prefix promises more than the complete message that follows.
        let mut long = framed.clone();
        long[1] = 0x60;
        let over = parse_tcp(&long).unwrap();
        assert_eq!(over.answers.len(), 2);
        assert_eq!(
            over.error.unwrap(),
            DecodeError::truncated("dns", 2, 0x60, 78)
        );

        assert_eq!(parse_tcp(&[0x00]).unwrap_err().offset, 0);
        assert_eq!(tcp_message_len(&[0x00]), None);
    }

    #[test]
    fn every_truncation_of_a_real_response() {
        let full = hex(ESPN_RESPONSE);
        // Question ends at 30, first answer at 62, second at 78.
        for len in 0..=full.len() {
            let result = parse(&full[..len]);
            if len < HEADER_LEN {
                let e = result.unwrap_err();
                assert_eq!(e.offset, len / 2 * 2, "len {len}");
                continue;
            }
            let dns = result.unwrap();
            let (questions, answers, error_at) = match len {
                12..=29 => (0, 0, Some(12)),
                30..=61 => (1, 0, Some(30)),
                62..=77 => (1, 1, Some(62)),
                _ => (1, 2, None),
            };
            assert_eq!(dns.questions.len(), questions, "len {len}");
            assert_eq!(dns.answers.len(), answers, "len {len}");
            assert_eq!(dns.error.map(|e| e.offset), error_at, "len {len}");
            if let Some(e) = dns.error {
                assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "len {len}");
                assert!(dns.to_string().ends_with(" [truncated]"));
            }
        }
    }

    #[test]
    fn bad_pointer_keeps_the_record_and_the_rest() {
        // Synthetic: the second answer's owner pointer made to point forward (0x4e).
        let mut bytes = hex(ESPN_RESPONSE);
        bytes[63] = 0x4e;
        let dns = parse(&bytes).unwrap();
        assert_eq!(dns.answers.len(), 2);
        assert_eq!(dns.answers[1].data, RecordData::Malformed);
        assert_eq!(dns.answers[1].name, "<malformed>");
        assert_eq!(dns.answers[1].rtype, RrType::A);
        assert_eq!(
            dns.error,
            Some(DecodeError::invalid(
                "dns",
                62,
                "name compression pointer does not point backwards"
            ))
        );
        assert!(dns.to_string().ends_with(" A [malformed]"));
    }

    #[test]
    fn reserved_label_type_stops_decoding() {
        // Synthetic: the question name starts with a 0x40 label byte.
        let mut bytes = hex(ESPN_RESPONSE);
        bytes[12] = 0x40;
        let dns = parse(&bytes).unwrap();
        assert!(dns.questions.is_empty());
        assert!(dns.answers.is_empty(), "nothing after an unmeasurable name");
        assert_eq!(
            dns.error,
            Some(DecodeError::invalid("dns", 12, "reserved label type"))
        );
    }

    #[test]
    fn rdata_length_that_disagrees_with_the_type() {
        // Synthetic: an A record with RDLENGTH 3.
        let bytes = hex("00018180000000010000000000000100010000003c0003010203");
        let dns = parse(&bytes).unwrap();
        assert_eq!(dns.answers.len(), 1);
        assert_eq!(dns.answers[0].data, RecordData::Malformed);
        assert_eq!(dns.answers[0].name, "<Root>");
        assert!(matches!(dns.error.unwrap().kind, ErrorKind::Invalid(_)));
    }

    #[test]
    fn huge_counts_on_a_short_message() {
        let dns = parse(&hex("1234 0100 ffff ffff ffff ffff")).unwrap();
        assert!(dns.questions.is_empty());
        assert_eq!(dns.counts.questions, 65535);
        assert_eq!(dns.error, Some(DecodeError::truncated("dns", 12, 1, 0)));
    }

    /// Mutations of real messages (bit flips, byte swaps, cuts): decoding must not
    /// panic, and whatever decodes must stay inside the input.
    #[test]
    fn mutated_messages_never_panic() {
        let seeds: Vec<Vec<u8>> = [
            ESPN_RESPONSE,
            APPLE_RESPONSE,
            GOOGLE_AAAA_RESPONSE,
            PTR_RESPONSE,
            NXDOMAIN_RESPONSE,
            MDNS_QUERY,
        ]
        .iter()
        .map(|h| hex(h))
        .collect();
        let mut state = 0xD1B5_4A32_D192_ED03u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..30_000 {
            let mut bytes = seeds[(next() % seeds.len() as u64) as usize].clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => bytes[at] ^= 1 << (next() % 8),
                    1 => bytes[at] = next() as u8,
                    _ => bytes.truncate(at.max(1)),
                }
            }
            if let Ok(dns) = parse(&bytes) {
                let _ = (dns.to_string(), dns.address_names());
                if let Some(e) = dns.error {
                    assert!(e.offset <= bytes.len());
                }
            }
            let _ = parse_tcp(&bytes);
        }
    }
}
