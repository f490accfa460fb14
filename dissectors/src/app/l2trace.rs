//! Cisco Layer 2 traceroute ("L2T", `traceroute mac`) messages on UDP 2228: decoder
//! and encoder, used by both the tracer and the agent.
//!
//! Header (5 bytes): message type (1 REQUEST_DST, 2 REQUEST_SRC, 3 REPLY_DST,
//! 4 REPLY_SRC), version (1), length of the whole payload (u16), attribute count. Then
//! attributes of type (1), length (1, **counting the 2-byte header**), value. Strings
//! are NUL-terminated on the wire; decoded strings exclude the NUL.
//!
//! IOS labels attribute 1 "SRC_MAC" and attribute 2 "DST_MAC" but its trace engine (and
//! every real tracer seen) uses them the other way round: type 2 carries the trace
//! **source** and type 1 the trace **destination**. The same swap applies to the port
//! attributes: 7/9/11 describe the port toward the destination (egress in Cisco's hop
//! display), 8/10/12 the port toward the source (ingress). The variants below are named
//! by role, with the IOS label in their docs.
//!
//! The decoder is lenient about the attribute count (a mismatch only sets
//! [`L2tMessage::count_mismatch`]) and strict about lengths: an attribute that overruns
//! the message, or a fixed-size attribute of the wrong size, is an error.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use crate::link::Mac;

const LAYER: &str = "l2trace";
pub const PORT: u16 = 2228;
pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 5;
const ATTR_HEADER_LEN: usize = 2;
/// Longest string an attribute can carry: 255 minus the header and the NUL.
pub const MAX_STRING_LEN: usize = 252;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MsgType {
    RequestDst,
    RequestSrc,
    ReplyDst,
    ReplySrc,
    Unknown(u8),
}

impl From<u8> for MsgType {
    fn from(v: u8) -> Self {
        match v {
            1 => MsgType::RequestDst,
            2 => MsgType::RequestSrc,
            3 => MsgType::ReplyDst,
            4 => MsgType::ReplySrc,
            n => MsgType::Unknown(n),
        }
    }
}

impl From<MsgType> for u8 {
    fn from(t: MsgType) -> u8 {
        match t {
            MsgType::RequestDst => 1,
            MsgType::RequestSrc => 2,
            MsgType::ReplyDst => 3,
            MsgType::ReplySrc => 4,
            MsgType::Unknown(n) => n,
        }
    }
}

impl MsgType {
    /// The reply type that answers this request type.
    pub fn reply_type(self) -> Option<MsgType> {
        match self {
            MsgType::RequestDst => Some(MsgType::ReplyDst),
            MsgType::RequestSrc => Some(MsgType::ReplySrc),
            _ => None,
        }
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgType::RequestDst => f.write_str("REQUEST_DST"),
            MsgType::RequestSrc => f.write_str("REQUEST_SRC"),
            MsgType::ReplyDst => f.write_str("REPLY_DST"),
            MsgType::ReplySrc => f.write_str("REPLY_SRC"),
            MsgType::Unknown(n) => write!(f, "TYPE_{n}"),
        }
    }
}

/// Port speed as Cisco encodes it: log10 of the speed in Mbit/s, 0 = auto/unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Speed(pub u32);

impl Speed {
    pub const AUTO: Speed = Speed(0);

    /// The code for a speed in Mbit/s; speeds that are not a power of ten (2.5G, 25G,
    /// 40G) cannot be expressed and become auto.
    pub fn from_mbps(mbps: u64) -> Speed {
        let mut v = 10u64;
        for code in 1..=9 {
            if v == mbps {
                return Speed(code);
            }
            v = v.saturating_mul(10);
        }
        Speed::AUTO
    }

    /// Mbit/s, or `None` for auto and codes too large to mean anything.
    pub fn mbps(&self) -> Option<u64> {
        match self.0 {
            1..=9 => Some(10u64.pow(self.0)),
            _ => None,
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mbps() {
            None if self.0 == 0 => f.write_str("auto"),
            None => write!(f, "speed{}", self.0),
            Some(m) if m >= 1000 => write!(f, "{}G", m / 1000),
            Some(m) => write!(f, "{m}M"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Duplex {
    Auto,
    Half,
    Full,
    Unknown(u8),
}

impl From<u8> for Duplex {
    fn from(v: u8) -> Self {
        match v {
            0 => Duplex::Auto,
            1 => Duplex::Half,
            2 => Duplex::Full,
            n => Duplex::Unknown(n),
        }
    }
}

impl From<Duplex> for u8 {
    fn from(d: Duplex) -> u8 {
        match d {
            Duplex::Auto => 0,
            Duplex::Half => 1,
            Duplex::Full => 2,
            Duplex::Unknown(n) => n,
        }
    }
}

impl fmt::Display for Duplex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duplex::Auto => f.write_str("auto"),
            Duplex::Half => f.write_str("half"),
            Duplex::Full => f.write_str("full"),
            Duplex::Unknown(n) => write!(f, "duplex{n}"),
        }
    }
}

/// Result code of a reply (attribute 15). Only codes observed from real switches are
/// named; IOS prints "Unknown return code" for others, so unnamed codes degrade well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    /// 1: the MAC is on a port with no CDP neighbour: the trace ends here.
    Success,
    /// 2: the MAC is behind exactly one CDP neighbour; NBR_IP and NBR_DEV_ID follow.
    NeighborFollows,
    /// 3: the VLAN does not exist on this switch.
    UnknownVlan,
    /// 5: several CDP neighbours on the port (a hub); the trace aborts.
    MultipleNeighbors,
    /// 7: the source MAC is not in the MAC table (in that VLAN).
    SrcMacNotFound,
    /// 8: the destination MAC is not in the MAC table.
    DstMacNotFound,
    Unknown(u8),
}

impl From<u8> for ReplyStatus {
    fn from(v: u8) -> Self {
        match v {
            1 => ReplyStatus::Success,
            2 => ReplyStatus::NeighborFollows,
            3 => ReplyStatus::UnknownVlan,
            5 => ReplyStatus::MultipleNeighbors,
            7 => ReplyStatus::SrcMacNotFound,
            8 => ReplyStatus::DstMacNotFound,
            n => ReplyStatus::Unknown(n),
        }
    }
}

impl From<ReplyStatus> for u8 {
    fn from(s: ReplyStatus) -> u8 {
        match s {
            ReplyStatus::Success => 1,
            ReplyStatus::NeighborFollows => 2,
            ReplyStatus::UnknownVlan => 3,
            ReplyStatus::MultipleNeighbors => 5,
            ReplyStatus::SrcMacNotFound => 7,
            ReplyStatus::DstMacNotFound => 8,
            ReplyStatus::Unknown(n) => n,
        }
    }
}

impl fmt::Display for ReplyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ReplyStatus::Success => "found, no CDP neighbour",
            ReplyStatus::NeighborFollows => "found behind a CDP neighbour",
            ReplyStatus::UnknownVlan => "unknown VLAN",
            ReplyStatus::MultipleNeighbors => "multiple CDP neighbours",
            ReplyStatus::SrcMacNotFound => "source MAC not found",
            ReplyStatus::DstMacNotFound => "destination MAC not found",
            ReplyStatus::Unknown(n) => return write!(f, "{n} (unknown code)"),
        };
        write!(f, "{} ({text})", u8::from(*self))
    }
}

pub mod attr_type {
    pub const TRACE_DST_MAC: u8 = 0x01;
    pub const TRACE_SRC_MAC: u8 = 0x02;
    pub const VLAN: u8 = 0x03;
    pub const DEV_NAME: u8 = 0x04;
    pub const DEV_TYPE: u8 = 0x05;
    pub const DEV_IP: u8 = 0x06;
    pub const DST_PORT_NAME: u8 = 0x07;
    pub const SRC_PORT_NAME: u8 = 0x08;
    pub const DST_PORT_SPEED: u8 = 0x09;
    pub const SRC_PORT_SPEED: u8 = 0x0A;
    pub const DST_PORT_DUPLEX: u8 = 0x0B;
    pub const SRC_PORT_DUPLEX: u8 = 0x0C;
    pub const NBR_IP: u8 = 0x0D;
    pub const SRC_IP: u8 = 0x0E;
    pub const REPLY_STATUS: u8 = 0x0F;
    pub const NBR_DEV_ID: u8 = 0x10;
}

/// One L2T attribute, named by its role in a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attr {
    /// 0x01, IOS label `L2_ATTR_SRC_MAC`: the trace **destination** MAC.
    TraceDstMac(Mac),
    /// 0x02, IOS label `L2_ATTR_DST_MAC`: the trace **source** MAC (sent first).
    TraceSrcMac(Mac),
    /// 0x03
    Vlan(u16),
    /// 0x04: the responder's hostname.
    DevName(String),
    /// 0x05: the responder's platform, e.g. `cisco WS-C3550-24`.
    DevType(String),
    /// 0x06: the responder's management IP.
    DevIp(Ipv4Addr),
    /// 0x07, IOS `INPORT_NAME`: the port toward the destination (egress).
    DstPortName(String),
    /// 0x08, IOS `OUTPORT_NAME`: the port toward the source (ingress).
    SrcPortName(String),
    /// 0x09
    DstPortSpeed(Speed),
    /// 0x0A
    SrcPortSpeed(Speed),
    /// 0x0B
    DstPortDuplex(Duplex),
    /// 0x0C
    SrcPortDuplex(Duplex),
    /// 0x0D: the next hop's management IP.
    NbrIp(Ipv4Addr),
    /// 0x0E: the querier's IPv4 address.
    SrcIp(Ipv4Addr),
    /// 0x0F
    Status(ReplyStatus),
    /// 0x10: in replies the next hop's CDP device ID; in queries the tracer's name.
    NbrDevId(String),
    Unknown {
        attr_type: u8,
        value: Vec<u8>,
    },
}

/// A decoded or to-be-sent L2T message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L2tMessage {
    pub msg_type: MsgType,
    pub version: u8,
    pub attrs: Vec<Attr>,
    /// Set by [`parse`] when the header's attribute count differs from the number of
    /// attributes found (a warning: the message is still used).
    pub count_mismatch: bool,
}

/// Decode a UDP 2228 payload. Bytes after the header's length are ignored.
pub fn parse(payload: &[u8]) -> Result<L2tMessage> {
    let mut c = Cursor::new(LAYER, payload);
    let msg_type = MsgType::from(c.u8()?);
    let version = c.u8()?;
    let length = usize::from(c.u16()?);
    let count = c.u8()?;
    if length < HEADER_LEN {
        return Err(DecodeError::invalid(
            LAYER,
            2,
            "length below the 5-byte header",
        ));
    }
    let Some(message) = payload.get(..length) else {
        return Err(DecodeError::truncated(LAYER, 0, length, payload.len()));
    };
    let mut c = Cursor::new(LAYER, message);
    c.skip(HEADER_LEN)?;
    let mut attrs = Vec::new();
    while !c.is_empty() {
        let start = c.pos();
        let attr_type = c.u8()?;
        let len = usize::from(c.u8()?);
        if len <= ATTR_HEADER_LEN {
            return Err(DecodeError::invalid(
                LAYER,
                start + 1,
                "attribute length below 3",
            ));
        }
        let value = c
            .take(len - ATTR_HEADER_LEN)
            .map_err(|_| DecodeError::truncated(LAYER, start, len, message.len() - start))?;
        let attr = decode_attr(attr_type, value).map_err(|e| e.at(start + ATTR_HEADER_LEN))?;
        attrs.push(attr);
    }
    Ok(L2tMessage {
        msg_type,
        version,
        count_mismatch: usize::from(count) != attrs.len(),
        attrs,
    })
}

/// A NUL-terminated string value without its terminator (and anything after it).
fn string(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(v.get(..end).unwrap_or_default()).into_owned()
}

fn decode_attr(attr_type: u8, v: &[u8]) -> Result<Attr> {
    use attr_type::*;
    let fixed = |n: usize| -> Result<Cursor<'_>> {
        if v.len() == n {
            Ok(Cursor::new(LAYER, v))
        } else {
            Err(DecodeError::invalid(
                LAYER,
                0,
                "attribute value has the wrong size",
            ))
        }
    };
    let mac = || -> Result<Mac> { Ok(Mac(fixed(6)?.array()?)) };
    let ip = || -> Result<Ipv4Addr> { Ok(Ipv4Addr::from(fixed(4)?.array::<4>()?)) };
    let speed = || -> Result<Speed> { Ok(Speed(fixed(4)?.u32()?)) };
    let byte = || -> Result<u8> { fixed(1)?.u8() };
    Ok(match attr_type {
        TRACE_DST_MAC => Attr::TraceDstMac(mac()?),
        TRACE_SRC_MAC => Attr::TraceSrcMac(mac()?),
        VLAN => Attr::Vlan(fixed(2)?.u16()?),
        DEV_NAME => Attr::DevName(string(v)),
        DEV_TYPE => Attr::DevType(string(v)),
        DEV_IP => Attr::DevIp(ip()?),
        DST_PORT_NAME => Attr::DstPortName(string(v)),
        SRC_PORT_NAME => Attr::SrcPortName(string(v)),
        DST_PORT_SPEED => Attr::DstPortSpeed(speed()?),
        SRC_PORT_SPEED => Attr::SrcPortSpeed(speed()?),
        DST_PORT_DUPLEX => Attr::DstPortDuplex(Duplex::from(byte()?)),
        SRC_PORT_DUPLEX => Attr::SrcPortDuplex(Duplex::from(byte()?)),
        NBR_IP => Attr::NbrIp(ip()?),
        SRC_IP => Attr::SrcIp(ip()?),
        REPLY_STATUS => Attr::Status(ReplyStatus::from(byte()?)),
        NBR_DEV_ID => Attr::NbrDevId(string(v)),
        t => Attr::Unknown {
            attr_type: t,
            value: v.to_vec(),
        },
    })
}

fn encode_attr(attr: &Attr, out: &mut Vec<u8>) {
    use attr_type::*;
    let string_value = |s: &str| {
        // No interior NULs (they would end the string early) and room for the NUL.
        let mut v: Vec<u8> = s.bytes().filter(|&b| b != 0).take(MAX_STRING_LEN).collect();
        v.push(0);
        v
    };
    let (t, value): (u8, Vec<u8>) = match attr {
        Attr::TraceDstMac(m) => (TRACE_DST_MAC, m.octets().to_vec()),
        Attr::TraceSrcMac(m) => (TRACE_SRC_MAC, m.octets().to_vec()),
        Attr::Vlan(v) => (VLAN, v.to_be_bytes().to_vec()),
        Attr::DevName(s) => (DEV_NAME, string_value(s)),
        Attr::DevType(s) => (DEV_TYPE, string_value(s)),
        Attr::DevIp(a) => (DEV_IP, a.octets().to_vec()),
        Attr::DstPortName(s) => (DST_PORT_NAME, string_value(s)),
        Attr::SrcPortName(s) => (SRC_PORT_NAME, string_value(s)),
        Attr::DstPortSpeed(s) => (DST_PORT_SPEED, s.0.to_be_bytes().to_vec()),
        Attr::SrcPortSpeed(s) => (SRC_PORT_SPEED, s.0.to_be_bytes().to_vec()),
        Attr::DstPortDuplex(d) => (DST_PORT_DUPLEX, vec![u8::from(*d)]),
        Attr::SrcPortDuplex(d) => (SRC_PORT_DUPLEX, vec![u8::from(*d)]),
        Attr::NbrIp(a) => (NBR_IP, a.octets().to_vec()),
        Attr::SrcIp(a) => (SRC_IP, a.octets().to_vec()),
        Attr::Status(s) => (REPLY_STATUS, vec![u8::from(*s)]),
        Attr::NbrDevId(s) => (NBR_DEV_ID, string_value(s)),
        Attr::Unknown { attr_type, value } => (
            *attr_type,
            value.get(..255 - ATTR_HEADER_LEN).unwrap_or(value).to_vec(),
        ),
    };
    out.push(t);
    // Every value above is at most 253 bytes, so the length fits a byte.
    out.push((value.len() + ATTR_HEADER_LEN) as u8);
    out.extend_from_slice(&value);
}

/// The responding switch, as replies describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub platform: String,
    pub ip: Ipv4Addr,
}

/// The next hop: its management IP and CDP device ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    pub ip: Ipv4Addr,
    pub device_id: String,
}

/// A port in a REPLY_DST, with its speed and duplex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub name: String,
    pub speed: Speed,
    pub duplex: Duplex,
}

impl L2tMessage {
    fn new(msg_type: MsgType, attrs: Vec<Attr>) -> Self {
        L2tMessage {
            msg_type,
            version: VERSION,
            attrs,
            count_mismatch: false,
        }
    }

    fn request(
        msg_type: MsgType,
        src_mac: Mac,
        dst_mac: Mac,
        vlan: u16,
        tracer_ip: Ipv4Addr,
        name: &str,
    ) -> Self {
        // Cisco's order: source MAC (type 2) first, then destination, VLAN, querier IP,
        // name. IOS may depend on the order of the two MACs.
        Self::new(
            msg_type,
            vec![
                Attr::TraceSrcMac(src_mac),
                Attr::TraceDstMac(dst_mac),
                Attr::Vlan(vlan),
                Attr::SrcIp(tracer_ip),
                Attr::NbrDevId(name.to_string()),
            ],
        )
    }

    /// A REQUEST_SRC: "where is `src_mac` in `vlan`?", asked while walking toward the
    /// switch that holds the source.
    pub fn request_src(
        src_mac: Mac,
        dst_mac: Mac,
        vlan: u16,
        tracer_ip: Ipv4Addr,
        name: &str,
    ) -> Self {
        Self::request(MsgType::RequestSrc, src_mac, dst_mac, vlan, tracer_ip, name)
    }

    /// A REQUEST_DST: "which ports lead from source to destination here?", asked at
    /// every hop from the source switch on.
    pub fn request_dst(
        src_mac: Mac,
        dst_mac: Mac,
        vlan: u16,
        tracer_ip: Ipv4Addr,
        name: &str,
    ) -> Self {
        Self::request(MsgType::RequestDst, src_mac, dst_mac, vlan, tracer_ip, name)
    }

    fn reply_head(device: &Device, status: ReplyStatus, neighbor: Option<&Neighbor>) -> Vec<Attr> {
        let mut attrs = vec![
            Attr::DevName(device.name.clone()),
            Attr::DevType(device.platform.clone()),
            Attr::DevIp(device.ip),
            Attr::Status(status),
        ];
        if let Some(n) = neighbor {
            attrs.push(Attr::NbrIp(n.ip));
            attrs.push(Attr::NbrDevId(n.device_id.clone()));
        }
        attrs
    }

    /// A REPLY_SRC: device identity, status, and the neighbour to ask next (with
    /// status 2).
    pub fn reply_src(device: &Device, status: ReplyStatus, neighbor: Option<&Neighbor>) -> Self {
        Self::new(
            MsgType::ReplySrc,
            Self::reply_head(device, status, neighbor),
        )
    }

    /// A REPLY_DST: as [`L2tMessage::reply_src`] plus the port toward the destination
    /// (07/0B/09) and the port toward the source (08/0C/0A).
    pub fn reply_dst(
        device: &Device,
        status: ReplyStatus,
        neighbor: Option<&Neighbor>,
        toward_dst: Option<&PortInfo>,
        toward_src: Option<&PortInfo>,
    ) -> Self {
        let mut attrs = Self::reply_head(device, status, neighbor);
        if let Some(p) = toward_dst {
            attrs.push(Attr::DstPortName(p.name.clone()));
            attrs.push(Attr::DstPortDuplex(p.duplex));
            attrs.push(Attr::DstPortSpeed(p.speed));
        }
        if let Some(p) = toward_src {
            attrs.push(Attr::SrcPortName(p.name.clone()));
            attrs.push(Attr::SrcPortDuplex(p.duplex));
            attrs.push(Attr::SrcPortSpeed(p.speed));
        }
        Self::new(MsgType::ReplyDst, attrs)
    }

    /// Encode, attributes in the order given. The count byte saturates at 255 and the
    /// length at 65535 (neither happens with real messages).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![u8::from(self.msg_type), self.version, 0, 0];
        out.push(u8::try_from(self.attrs.len()).unwrap_or(u8::MAX));
        for a in &self.attrs {
            encode_attr(a, &mut out);
        }
        let len = u16::try_from(out.len()).unwrap_or(u16::MAX).to_be_bytes();
        if let Some(field) = out.get_mut(2..4) {
            field.copy_from_slice(&len);
        }
        out
    }

    fn find<'s, T>(&'s self, f: impl FnMut(&'s Attr) -> Option<T>) -> Option<T> {
        self.attrs.iter().find_map(f)
    }

    pub fn src_mac(&self) -> Option<Mac> {
        self.find(|a| match a {
            Attr::TraceSrcMac(m) => Some(*m),
            _ => None,
        })
    }

    pub fn dst_mac(&self) -> Option<Mac> {
        self.find(|a| match a {
            Attr::TraceDstMac(m) => Some(*m),
            _ => None,
        })
    }

    pub fn vlan(&self) -> Option<u16> {
        self.find(|a| match a {
            Attr::Vlan(v) => Some(*v),
            _ => None,
        })
    }

    pub fn dev_name(&self) -> Option<&str> {
        self.find(|a| match a {
            Attr::DevName(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn dev_type(&self) -> Option<&str> {
        self.find(|a| match a {
            Attr::DevType(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn dev_ip(&self) -> Option<Ipv4Addr> {
        self.find(|a| match a {
            Attr::DevIp(ip) => Some(*ip),
            _ => None,
        })
    }

    pub fn src_ip(&self) -> Option<Ipv4Addr> {
        self.find(|a| match a {
            Attr::SrcIp(ip) => Some(*ip),
            _ => None,
        })
    }

    pub fn nbr_ip(&self) -> Option<Ipv4Addr> {
        self.find(|a| match a {
            Attr::NbrIp(ip) => Some(*ip),
            _ => None,
        })
    }

    pub fn nbr_dev_id(&self) -> Option<&str> {
        self.find(|a| match a {
            Attr::NbrDevId(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn status(&self) -> Option<ReplyStatus> {
        self.find(|a| match a {
            Attr::Status(s) => Some(*s),
            _ => None,
        })
    }

    /// The port toward the destination (attribute 7), shown on the right of `=>`.
    pub fn dst_port(&self) -> Option<&str> {
        self.find(|a| match a {
            Attr::DstPortName(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The port toward the source (attribute 8), shown on the left of `=>`.
    pub fn src_port(&self) -> Option<&str> {
        self.find(|a| match a {
            Attr::SrcPortName(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn is_request(&self) -> bool {
        matches!(self.msg_type, MsgType::RequestDst | MsgType::RequestSrc)
    }
}

impl fmt::Display for L2tMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L2T {}", self.msg_type)?;
        if self.is_request() {
            if let Some(m) = self.src_mac() {
                write!(f, " src {m}")?;
            }
            if let Some(m) = self.dst_mac() {
                write!(f, " dst {m}")?;
            }
            if let Some(v) = self.vlan() {
                write!(f, " vlan {v}")?;
            }
            if let Some(ip) = self.src_ip() {
                write!(f, " from {ip}")?;
            }
            if let Some(n) = self.nbr_dev_id() {
                write!(f, " ({n})")?;
            }
        } else {
            if let Some(n) = self.dev_name() {
                write!(f, " {n}")?;
            }
            if let Some(t) = self.dev_type() {
                write!(f, " [{t}]")?;
            }
            if let Some(ip) = self.dev_ip() {
                write!(f, " {ip}")?;
            }
            if self.src_port().is_some() || self.dst_port().is_some() {
                write!(
                    f,
                    " {} => {}",
                    self.src_port().unwrap_or("?"),
                    self.dst_port().unwrap_or("?")
                )?;
            }
            if let Some(s) = self.status() {
                write!(f, " status {s}")?;
            }
            if let Some(ip) = self.nbr_ip() {
                write!(f, " next {ip}")?;
                if let Some(n) = self.nbr_dev_id() {
                    write!(f, " ({n})")?;
                }
            }
        }
        if self.count_mismatch {
            write!(f, " [attribute count mismatch]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::testutil::hex;

    // The worked example of the protocol note, §1.8 (synthesized from the rules there:
    // no public L2T capture exists).
    const QUERY: &str = "
        02 01 00 29 05
        02 08 00 0b 5f 73 04 91
        01 08 00 0b 5f 73 04 80
        03 04 00 0b
        0e 06 c0 a8 01 19
        10 0a 43 61 74 32 39 36 30 00";
    const REPLY: &str = "
        04 01 00 3c 06
        04 0a 43 61 74 33 35 35 30 00
        05 14 63 69 73 63 6f 20 57 53 2d 43 33 35 35 30 2d 32 34 00
        06 06 c0 a8 02 1a
        0f 03 02
        0d 06 c0 a8 02 1b
        10 0a 43 61 74 32 39 35 30 00";

    fn src() -> Mac {
        Mac([0x00, 0x0b, 0x5f, 0x73, 0x04, 0x91])
    }
    fn dst() -> Mac {
        Mac([0x00, 0x0b, 0x5f, 0x73, 0x04, 0x80])
    }

    #[test]
    fn worked_example_query_encodes_and_decodes() {
        let bytes = hex(QUERY);
        assert_eq!(bytes.len(), 41);
        let built =
            L2tMessage::request_src(src(), dst(), 11, Ipv4Addr::new(192, 168, 1, 25), "Cat2960");
        assert_eq!(built.emit(), bytes);
        let m = parse(&bytes).unwrap();
        assert_eq!(m, built);
        assert_eq!(m.msg_type, MsgType::RequestSrc);
        assert_eq!(m.src_mac(), Some(src()));
        assert_eq!(m.dst_mac(), Some(dst()));
        assert_eq!(m.vlan(), Some(11));
        assert_eq!(m.src_ip(), Some(Ipv4Addr::new(192, 168, 1, 25)));
        assert_eq!(m.nbr_dev_id(), Some("Cat2960"));
        assert!(!m.count_mismatch);
        assert_eq!(
            m.to_string(),
            "L2T REQUEST_SRC src 00:0b:5f:73:04:91 dst 00:0b:5f:73:04:80 vlan 11 from 192.168.1.25 (Cat2960)"
        );
    }

    #[test]
    fn worked_example_reply_encodes_and_decodes() {
        let bytes = hex(REPLY);
        assert_eq!(bytes.len(), 60);
        let device = Device {
            name: "Cat3550".into(),
            platform: "cisco WS-C3550-24".into(),
            ip: Ipv4Addr::new(192, 168, 2, 26),
        };
        let next = Neighbor {
            ip: Ipv4Addr::new(192, 168, 2, 27),
            device_id: "Cat2950".into(),
        };
        let built = L2tMessage::reply_src(&device, ReplyStatus::NeighborFollows, Some(&next));
        assert_eq!(built.emit(), bytes);
        let m = parse(&bytes).unwrap();
        assert_eq!(m, built);
        assert_eq!(m.dev_name(), Some("Cat3550"));
        assert_eq!(m.dev_type(), Some("cisco WS-C3550-24"));
        assert_eq!(m.dev_ip(), Some(Ipv4Addr::new(192, 168, 2, 26)));
        assert_eq!(m.status(), Some(ReplyStatus::NeighborFollows));
        assert_eq!(m.nbr_ip(), Some(Ipv4Addr::new(192, 168, 2, 27)));
        assert_eq!(m.nbr_dev_id(), Some("Cat2950"));
        assert_eq!(
            m.to_string(),
            "L2T REPLY_SRC Cat3550 [cisco WS-C3550-24] 192.168.2.26 status 2 (found behind a CDP neighbour) next 192.168.2.27 (Cat2950)"
        );
    }

    #[test]
    fn reply_dst_round_trips_with_ports() {
        let device = Device {
            name: "sw2".into(),
            platform: "netkit linux-bridge".into(),
            ip: Ipv4Addr::new(10, 0, 0, 2),
        };
        let egress = PortInfo {
            name: "veth-sw3".into(),
            speed: Speed::from_mbps(10_000),
            duplex: Duplex::Full,
        };
        let ingress = PortInfo {
            name: "veth-sw1".into(),
            speed: Speed::AUTO,
            duplex: Duplex::Auto,
        };
        let m = L2tMessage::reply_dst(
            &device,
            ReplyStatus::Success,
            None,
            Some(&egress),
            Some(&ingress),
        );
        let bytes = m.emit();
        let types: Vec<u8> = {
            let mut t = Vec::new();
            let mut i = HEADER_LEN;
            while i < bytes.len() {
                t.push(bytes[i]);
                i += usize::from(bytes[i + 1]);
            }
            t
        };
        assert_eq!(types, [4, 5, 6, 0x0f, 7, 0x0b, 9, 8, 0x0c, 0x0a]);
        let back = parse(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            back.to_string(),
            "L2T REPLY_DST sw2 [netkit linux-bridge] 10.0.0.2 veth-sw1 => veth-sw3 status 1 (found, no CDP neighbour)"
        );
        assert_eq!(Speed(4).to_string(), "10G");
        assert_eq!(Speed::from_mbps(2500), Speed::AUTO);
    }

    #[test]
    fn count_mismatch_is_only_a_warning() {
        let mut bytes = hex(QUERY);
        bytes[4] = 7;
        let m = parse(&bytes).unwrap();
        assert!(m.count_mismatch);
        assert_eq!(m.attrs.len(), 5);
        assert!(m.to_string().ends_with("[attribute count mismatch]"));
    }

    #[test]
    fn lengths_are_strict() {
        let bytes = hex(QUERY);
        // Every cut of the message is an error (the length field no longer fits).
        for len in 0..bytes.len() {
            let e = parse(&bytes[..len]).unwrap_err();
            assert!(e.offset <= len, "len {len}");
        }
        // An attribute that overruns the header's length.
        let mut b = bytes.clone();
        b[3] = 40;
        let e = parse(&b).unwrap_err();
        assert_eq!(e.offset, 31);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                needed: 10,
                available: 9
            }
        ));
        // A MAC attribute of the wrong size.
        let e = parse(&hex("02 01 00 0c 01 02 07 00 0b 5f 73 04")).unwrap_err();
        assert_eq!(e.offset, 7);
        // An attribute length below 3.
        let e = parse(&hex("02 01 00 07 01 03 02")).unwrap_err();
        assert_eq!(e.offset, 6);
        // Trailing bytes beyond the length field are ignored.
        let mut b = bytes.clone();
        b.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(parse(&b).unwrap(), parse(&bytes).unwrap());
    }

    #[test]
    fn unknown_values_are_kept() {
        let m = parse(&hex("03 01 00 0c 02 0f 03 09 7f 04 aa bb")).unwrap();
        assert_eq!(m.msg_type, MsgType::ReplyDst);
        assert_eq!(m.status(), Some(ReplyStatus::Unknown(9)));
        assert_eq!(
            m.attrs[1],
            Attr::Unknown {
                attr_type: 0x7f,
                value: vec![0xaa, 0xbb]
            }
        );
        assert_eq!(m.emit(), hex("03 01 00 0c 02 0f 03 09 7f 04 aa bb"));
    }

    #[test]
    fn long_strings_are_cut_to_fit() {
        let long = "x".repeat(400);
        let m = L2tMessage::request_dst(src(), dst(), 1, Ipv4Addr::LOCALHOST, &long);
        let bytes = m.emit();
        let back = parse(&bytes).unwrap();
        assert_eq!(back.nbr_dev_id().map(str::len), Some(MAX_STRING_LEN));
        assert_eq!(back.msg_type, MsgType::RequestDst);
    }
}
