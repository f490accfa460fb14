//! Cisco Discovery Protocol (CDP v1 and v2): decoder, checksum and encoder.
//!
//! Input is the CDP PDU: from the version byte (right after the LLC/SNAP header
//! `AA AA 03 00 00 0C 20 00`) to the last TLV byte. The caller trims Ethernet padding
//! using the 802.3 length field, because the checksum covers the PDU only.
//!
//! Layout: version (1), TTL in seconds (1), checksum (2), then TLVs of type (u16) and
//! length (u16, counting the 4-byte TLV header). v1 and v2 share the format; v2 only
//! adds TLV types, so both are decoded the same way.
//!
//! Each TLV whose value has the size its type prescribes is decoded into a typed
//! [`CdpTlv`] variant that re-encodes to the same bytes; any other TLV is kept as
//! [`CdpTlv::Other`], so [`Cdp::to_repr`] followed by [`CdpRepr::emit`] reproduces a
//! received PDU byte for byte.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::ser;
use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};

const LAYER: &str = "cdp";
const HEADER_LEN: usize = 4;
const TLV_HEADER_LEN: usize = 4;
/// The largest value a TLV can carry: its u16 length also counts the header.
const MAX_TLV_VALUE: usize = u16::MAX as usize - TLV_HEADER_LEN;

/// The 802.2 protocol field that marks an IPv6 address in an address record.
const IPV6_8022_PROTOCOL: [u8; 8] = [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x86, 0xDD];
const NLPID_IPV4: u8 = 0xCC;

pub mod tlv_type {
    pub const DEVICE_ID: u16 = 0x0001;
    pub const ADDRESSES: u16 = 0x0002;
    pub const PORT_ID: u16 = 0x0003;
    pub const CAPABILITIES: u16 = 0x0004;
    pub const SOFTWARE_VERSION: u16 = 0x0005;
    pub const PLATFORM: u16 = 0x0006;
    pub const IP_PREFIXES: u16 = 0x0007;
    pub const PROTOCOL_HELLO: u16 = 0x0008;
    pub const VTP_DOMAIN: u16 = 0x0009;
    pub const NATIVE_VLAN: u16 = 0x000A;
    pub const DUPLEX: u16 = 0x000B;
    pub const VOIP_VLAN_REPLY: u16 = 0x000E;
    pub const VOIP_VLAN_QUERY: u16 = 0x000F;
    pub const POWER_CONSUMPTION: u16 = 0x0010;
    pub const MTU: u16 = 0x0011;
    pub const TRUST_BITMAP: u16 = 0x0012;
    pub const UNTRUSTED_COS: u16 = 0x0013;
    pub const SYSTEM_NAME: u16 = 0x0014;
    pub const MGMT_ADDRESSES: u16 = 0x0016;
    pub const LOCATION: u16 = 0x0017;
    pub const POWER_REQUESTED: u16 = 0x0019;
    pub const POWER_AVAILABLE: u16 = 0x001A;
}

/// Cisco's CDP checksum over a whole PDU, with the checksum field (bytes 2–3) read as
/// zero.
///
/// It is the RFC 1071 Internet checksum except for an odd final byte: IOS adds that byte
/// as a *signed* char to its 32-bit sum instead of padding it on the right. A byte below
/// 0x80 therefore counts as the low byte of a word (`0x00vv`), and a byte of 0x80 or
/// more counts as `0xFF00 + (v - 1)` (the sign extension, minus the carry the 32-bit
/// sum loses). Verified on real odd-length IOS frames; the ≥ 0x80 branch follows
/// Wireshark and lldpd.
pub fn checksum(pdu: &[u8]) -> u16 {
    // The checksum field counts as zero wherever it falls, even in a 3-byte input.
    let byte = |i: usize| -> u64 {
        if (2..4).contains(&i) {
            0
        } else {
            pdu.get(i).copied().map_or(0, u64::from)
        }
    };
    let mut sum: u64 = 0;
    let even_len = pdu.len() & !1;
    let mut i = 0;
    while i < even_len {
        sum += (byte(i) << 8) | byte(i + 1);
        i += 2;
    }
    if pdu.len() % 2 == 1 {
        let last = byte(pdu.len() - 1);
        sum += if last < 0x80 { last } else { 0xFF00 + last - 1 };
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// A decoded CDP PDU. `tlvs` are in wire order; `error` says why decoding stopped early
/// (or which TLV was malformed) while keeping everything decoded before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cdp<'a> {
    pub version: u8,
    /// Holdtime in seconds.
    pub ttl: u8,
    pub checksum: u16,
    pub tlvs: Vec<CdpTlv>,
    #[serde(serialize_with = "ser::opt_error")]
    pub error: Option<DecodeError>,
    #[serde(skip)]
    pdu: &'a [u8],
}

/// One CDP TLV. Typed variants are used only when the value has exactly the layout the
/// type prescribes, so that re-encoding gives the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CdpTlv {
    /// 0x0001: hostname (sometimes with a domain or a serial number).
    DeviceId(String),
    /// 0x0002: the sender's addresses on the interface.
    Addresses(Vec<CdpAddress>),
    /// 0x0003: the interface the PDU was sent through, e.g. `GigabitEthernet0/1`.
    PortId(String),
    /// 0x0004
    Capabilities(Capabilities),
    /// 0x0005: multi-line IOS banner.
    SoftwareVersion(String),
    /// 0x0006: e.g. `cisco WS-C3560G-24PS`.
    Platform(String),
    /// 0x0007 with a 4-byte value: the ODR default gateway.
    OdrDefaultGateway(Ipv4Addr),
    /// 0x0007 otherwise: prefixes as (network, prefix length).
    IpPrefixes(Vec<(Ipv4Addr, u8)>),
    /// 0x0008: OUI, protocol id (0x0112 = cluster management) and opaque data.
    ProtocolHello {
        oui: [u8; 3],
        protocol_id: u16,
        #[serde(serialize_with = "ser::hex")]
        data: Vec<u8>,
    },
    /// 0x0009
    VtpDomain(String),
    /// 0x000A
    NativeVlan(u16),
    /// 0x000B
    Duplex(Duplex),
    /// 0x000E: data byte, VLAN, and trailing bytes some phones add.
    VoipVlanReply {
        data: u8,
        vlan: u16,
        #[serde(serialize_with = "ser::hex")]
        extra: Vec<u8>,
    },
    /// 0x000F
    VoipVlanQuery {
        data: u8,
        vlan: u16,
        #[serde(serialize_with = "ser::hex")]
        extra: Vec<u8>,
    },
    /// 0x0010: milliwatts.
    PowerConsumption(u16),
    /// 0x0011
    Mtu(u32),
    /// 0x0012
    TrustBitmap(u8),
    /// 0x0013
    UntrustedPortCos(u8),
    /// 0x0014
    SystemName(String),
    /// 0x0016: management addresses, the preferred source of a neighbour's IP.
    MgmtAddresses(Vec<CdpAddress>),
    /// 0x0017
    Location { data: u8, location: String },
    /// 0x0019: request id, management id, requested levels in milliwatts.
    PowerRequested {
        request_id: u16,
        management_id: u16,
        milliwatts: Vec<u32>,
    },
    /// 0x001A
    PowerAvailable {
        request_id: u16,
        management_id: u16,
        milliwatts: Vec<u32>,
    },
    /// Any other TLV, or a known type whose value does not have the expected layout.
    Other {
        tlv_type: u16,
        #[serde(serialize_with = "ser::hex")]
        value: Vec<u8>,
    },
}

/// One record of an address TLV (0x0002 or 0x0016).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CdpAddress {
    /// NLPID 0xCC with a 4-byte address.
    Ipv4(Ipv4Addr),
    /// 802.2 `AA AA 03 00 00 00 86 DD` with a 16-byte address.
    Ipv6(Ipv6Addr),
    /// Anything else (DECnet, CLNS, AppleTalk, ...), kept as is.
    Other {
        protocol_type: u8,
        #[serde(serialize_with = "ser::hex")]
        protocol: Vec<u8>,
        #[serde(serialize_with = "ser::hex")]
        address: Vec<u8>,
    },
}

impl CdpAddress {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            CdpAddress::Ipv4(a) => Some(IpAddr::V4(*a)),
            CdpAddress::Ipv6(a) => Some(IpAddr::V6(*a)),
            CdpAddress::Other { .. } => None,
        }
    }
}

impl From<IpAddr> for CdpAddress {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => CdpAddress::Ipv4(a),
            IpAddr::V6(a) => CdpAddress::Ipv6(a),
        }
    }
}

/// Duplex of the sending port (TLV 0x000B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Duplex {
    Half,
    Full,
    Unknown(u8),
}

impl From<u8> for Duplex {
    fn from(v: u8) -> Self {
        match v {
            0 => Duplex::Half,
            1 => Duplex::Full,
            n => Duplex::Unknown(n),
        }
    }
}

impl From<Duplex> for u8 {
    fn from(d: Duplex) -> u8 {
        match d {
            Duplex::Half => 0,
            Duplex::Full => 1,
            Duplex::Unknown(n) => n,
        }
    }
}

/// The CDP capabilities bitmap (TLV 0x0004). Serializes as the list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities(pub u32);

impl Capabilities {
    pub const ROUTER: u32 = 0x001;
    pub const TRANSPARENT_BRIDGE: u32 = 0x002;
    pub const SOURCE_ROUTE_BRIDGE: u32 = 0x004;
    pub const SWITCH: u32 = 0x008;
    pub const HOST: u32 = 0x010;
    pub const IGMP: u32 = 0x020;
    pub const REPEATER: u32 = 0x040;
    pub const VOIP_PHONE: u32 = 0x080;
    pub const REMOTELY_MANAGED: u32 = 0x100;
    pub const CVTA: u32 = 0x200;
    pub const TWO_PORT_MAC_RELAY: u32 = 0x400;

    const NAMES: [(u32, &'static str); 11] = [
        (Self::ROUTER, "router"),
        (Self::TRANSPARENT_BRIDGE, "trans_bridge"),
        (Self::SOURCE_ROUTE_BRIDGE, "source_route_bridge"),
        (Self::SWITCH, "switch"),
        (Self::HOST, "host"),
        (Self::IGMP, "igmp"),
        (Self::REPEATER, "repeater"),
        (Self::VOIP_PHONE, "phone"),
        (Self::REMOTELY_MANAGED, "remote"),
        (Self::CVTA, "cvta"),
        (Self::TWO_PORT_MAC_RELAY, "two_port_mac_relay"),
    ];

    pub fn contains(&self, bit: u32) -> bool {
        self.0 & bit == bit
    }

    /// Names of the set bits; unnamed bits appear as one `0x...` entry.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Self::NAMES
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, name)| (*name).to_string())
            .collect();
        let known = Self::NAMES.iter().fold(0, |acc, (bit, _)| acc | bit);
        if self.0 & !known != 0 {
            out.push(format!("0x{:x}", self.0 & !known));
        }
        out
    }
}

impl Serialize for Capabilities {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// Decode a CDP PDU. Fails only when the 4-byte header is incomplete; a truncated or
/// malformed TLV ends decoding with `error` set and the TLVs before it kept.
pub fn parse(pdu: &[u8]) -> Result<Cdp<'_>> {
    let mut c = Cursor::new(LAYER, pdu);
    let version = c.u8()?;
    let ttl = c.u8()?;
    let checksum = c.u16()?;
    let mut cdp = Cdp {
        version,
        ttl,
        checksum,
        tlvs: Vec::new(),
        error: None,
        pdu,
    };
    while !c.is_empty() {
        let start = c.pos();
        let header = match (c.u16(), c.u16()) {
            (Ok(t), Ok(l)) => (t, l),
            _ => {
                cdp.error = Some(DecodeError::truncated(
                    LAYER,
                    start,
                    TLV_HEADER_LEN,
                    pdu.len() - start,
                ));
                break;
            }
        };
        let (tlv_type, len) = header;
        let len = usize::from(len);
        if len < TLV_HEADER_LEN {
            cdp.error = Some(DecodeError::invalid(
                LAYER,
                start + 2,
                "TLV length below the 4-byte header",
            ));
            break;
        }
        let value = match c.take(len - TLV_HEADER_LEN) {
            Ok(v) => v,
            Err(_) => {
                cdp.error = Some(DecodeError::truncated(LAYER, start, len, pdu.len() - start));
                break;
            }
        };
        let value_offset = start + TLV_HEADER_LEN;
        match decode_tlv(tlv_type, value) {
            Ok(tlv) => cdp.tlvs.push(tlv),
            Err(e) => {
                cdp.tlvs.push(CdpTlv::Other {
                    tlv_type,
                    value: value.to_vec(),
                });
                // Keep walking: the framing is intact, only this value is odd.
                cdp.error.get_or_insert(e.at(value_offset));
            }
        }
    }
    Ok(cdp)
}

/// Text of a value already checked to be UTF-8 (lossless then).
fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn is_text(v: &[u8]) -> bool {
    std::str::from_utf8(v).is_ok()
}

/// Decode one TLV value. An `Err` means a known type with a broken layout; values of
/// unexpected but self-consistent size simply become `Other`, and so do text values that
/// are not UTF-8 (kept raw, so re-encoding stays exact).
fn decode_tlv(tlv_type: u16, v: &[u8]) -> Result<CdpTlv> {
    use tlv_type::*;
    let other = || CdpTlv::Other {
        tlv_type,
        value: v.to_vec(),
    };
    let tlv = match (tlv_type, v.len()) {
        (DEVICE_ID, _) if is_text(v) => CdpTlv::DeviceId(text(v)),
        (ADDRESSES, _) => CdpTlv::Addresses(decode_addresses(v)?),
        (PORT_ID, _) if is_text(v) => CdpTlv::PortId(text(v)),
        (CAPABILITIES, 4) => CdpTlv::Capabilities(Capabilities(Cursor::new(LAYER, v).u32()?)),
        (SOFTWARE_VERSION, _) if is_text(v) => CdpTlv::SoftwareVersion(text(v)),
        (PLATFORM, _) if is_text(v) => CdpTlv::Platform(text(v)),
        (IP_PREFIXES, 4) => {
            CdpTlv::OdrDefaultGateway(Ipv4Addr::from(Cursor::new(LAYER, v).array::<4>()?))
        }
        (IP_PREFIXES, n) if n % 5 == 0 => {
            let mut c = Cursor::new(LAYER, v);
            let mut prefixes = Vec::with_capacity(n / 5);
            while !c.is_empty() {
                let net = Ipv4Addr::from(c.array::<4>()?);
                prefixes.push((net, c.u8()?));
            }
            CdpTlv::IpPrefixes(prefixes)
        }
        (PROTOCOL_HELLO, n) if n >= 5 => {
            let mut c = Cursor::new(LAYER, v);
            CdpTlv::ProtocolHello {
                oui: c.array()?,
                protocol_id: c.u16()?,
                data: c.rest().to_vec(),
            }
        }
        (VTP_DOMAIN, _) if is_text(v) => CdpTlv::VtpDomain(text(v)),
        (NATIVE_VLAN, 2) => CdpTlv::NativeVlan(Cursor::new(LAYER, v).u16()?),
        (DUPLEX, 1) => CdpTlv::Duplex(Duplex::from(Cursor::new(LAYER, v).u8()?)),
        (VOIP_VLAN_REPLY | VOIP_VLAN_QUERY, n) if n >= 3 => {
            let mut c = Cursor::new(LAYER, v);
            let data = c.u8()?;
            let vlan = c.u16()?;
            let extra = c.rest().to_vec();
            if tlv_type == VOIP_VLAN_REPLY {
                CdpTlv::VoipVlanReply { data, vlan, extra }
            } else {
                CdpTlv::VoipVlanQuery { data, vlan, extra }
            }
        }
        (POWER_CONSUMPTION, 2) => CdpTlv::PowerConsumption(Cursor::new(LAYER, v).u16()?),
        (MTU, 4) => CdpTlv::Mtu(Cursor::new(LAYER, v).u32()?),
        (TRUST_BITMAP, 1) => CdpTlv::TrustBitmap(Cursor::new(LAYER, v).u8()?),
        (UNTRUSTED_COS, 1) => CdpTlv::UntrustedPortCos(Cursor::new(LAYER, v).u8()?),
        (SYSTEM_NAME, _) if is_text(v) => CdpTlv::SystemName(text(v)),
        (MGMT_ADDRESSES, _) => CdpTlv::MgmtAddresses(decode_addresses(v)?),
        (LOCATION, n) if n >= 1 && v.get(1..).is_some_and(is_text) => {
            let mut c = Cursor::new(LAYER, v);
            CdpTlv::Location {
                data: c.u8()?,
                location: text(c.rest()),
            }
        }
        (POWER_REQUESTED | POWER_AVAILABLE, n) if n >= 4 && n % 4 == 0 => {
            let mut c = Cursor::new(LAYER, v);
            let request_id = c.u16()?;
            let management_id = c.u16()?;
            let mut milliwatts = Vec::with_capacity(c.remaining() / 4);
            while !c.is_empty() {
                milliwatts.push(c.u32()?);
            }
            if tlv_type == POWER_REQUESTED {
                CdpTlv::PowerRequested {
                    request_id,
                    management_id,
                    milliwatts,
                }
            } else {
                CdpTlv::PowerAvailable {
                    request_id,
                    management_id,
                    milliwatts,
                }
            }
        }
        _ => other(),
    };
    Ok(tlv)
}

/// An address TLV: u32 count, then that many records of protocol type (1), protocol
/// length (1), protocol, address length (2), address. Offsets in errors are relative to
/// the TLV value.
fn decode_addresses(v: &[u8]) -> Result<Vec<CdpAddress>> {
    let mut c = Cursor::new(LAYER, v);
    let count = c.u32()?;
    // Each record takes at least 4 bytes, which bounds the allocation for hostile counts.
    let mut out = Vec::with_capacity((count as usize).min(c.remaining() / 4));
    for _ in 0..count {
        let protocol_type = c.u8()?;
        let protocol_len = c.u8()?;
        let protocol = c.take(usize::from(protocol_len))?;
        let address_len = c.u16()?;
        let address = c.take(usize::from(address_len))?;
        let record = match (protocol_type, protocol, address.len()) {
            (1, [NLPID_IPV4], 4) => {
                CdpAddress::Ipv4(Ipv4Addr::from(Cursor::new(LAYER, address).array::<4>()?))
            }
            (2, p, 16) if p == IPV6_8022_PROTOCOL => {
                CdpAddress::Ipv6(Ipv6Addr::from(Cursor::new(LAYER, address).array::<16>()?))
            }
            _ => CdpAddress::Other {
                protocol_type,
                protocol: protocol.to_vec(),
                address: address.to_vec(),
            },
        };
        out.push(record);
    }
    if !c.is_empty() {
        return Err(c.invalid("bytes after the last address record"));
    }
    Ok(out)
}

impl<'a> Cdp<'a> {
    /// The PDU this was decoded from.
    pub fn pdu(&self) -> &'a [u8] {
        self.pdu
    }

    /// Whether the checksum field matches [`checksum`] over the PDU.
    pub fn checksum_ok(&self) -> bool {
        checksum(self.pdu) == self.checksum
    }

    fn find<'s, T>(&'s self, f: impl FnMut(&'s CdpTlv) -> Option<T>) -> Option<T> {
        self.tlvs.iter().find_map(f)
    }

    pub fn device_id(&self) -> Option<&str> {
        self.find(|t| match t {
            CdpTlv::DeviceId(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn port_id(&self) -> Option<&str> {
        self.find(|t| match t {
            CdpTlv::PortId(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn platform(&self) -> Option<&str> {
        self.find(|t| match t {
            CdpTlv::Platform(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn software_version(&self) -> Option<&str> {
        self.find(|t| match t {
            CdpTlv::SoftwareVersion(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn capabilities(&self) -> Option<Capabilities> {
        self.find(|t| match t {
            CdpTlv::Capabilities(c) => Some(*c),
            _ => None,
        })
    }

    pub fn vtp_domain(&self) -> Option<&str> {
        self.find(|t| match t {
            CdpTlv::VtpDomain(s) => Some(s.as_str()),
            _ => None,
        })
    }

    pub fn native_vlan(&self) -> Option<u16> {
        self.find(|t| match t {
            CdpTlv::NativeVlan(v) => Some(*v),
            _ => None,
        })
    }

    pub fn duplex(&self) -> Option<Duplex> {
        self.find(|t| match t {
            CdpTlv::Duplex(d) => Some(*d),
            _ => None,
        })
    }

    /// IP addresses from the Addresses TLV (0x0002).
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.ips(|t| match t {
            CdpTlv::Addresses(a) => Some(a),
            _ => None,
        })
    }

    /// IP addresses from the Management Addresses TLV (0x0016).
    pub fn mgmt_addresses(&self) -> Vec<IpAddr> {
        self.ips(|t| match t {
            CdpTlv::MgmtAddresses(a) => Some(a),
            _ => None,
        })
    }

    fn ips<'s>(&'s self, pick: impl Fn(&'s CdpTlv) -> Option<&'s Vec<CdpAddress>>) -> Vec<IpAddr> {
        self.tlvs
            .iter()
            .filter_map(pick)
            .flatten()
            .filter_map(CdpAddress::ip)
            .collect()
    }

    /// The neighbour's IPv4 address for L2 traceroute: the first management address,
    /// else the first interface address.
    pub fn mgmt_ipv4(&self) -> Option<Ipv4Addr> {
        let v4 = |ip: &IpAddr| match ip {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        };
        let mgmt = self.mgmt_addresses();
        let addrs = self.addresses();
        mgmt.iter()
            .find_map(v4)
            .or_else(|| addrs.iter().find_map(v4))
    }

    /// An owned copy that [`CdpRepr::emit`] turns back into the same bytes.
    pub fn to_repr(&self) -> CdpRepr {
        CdpRepr {
            version: self.version,
            ttl: self.ttl,
            tlvs: self.tlvs.clone(),
        }
    }
}

impl fmt::Display for Cdp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CDP")?;
        if let Some(d) = self.device_id() {
            write!(f, " device {d}")?;
        }
        if let Some(p) = self.port_id() {
            write!(f, " port {p}")?;
        }
        if let Some(p) = self.platform() {
            write!(f, " platform {p}")?;
        }
        if let Some(ip) = self.mgmt_ipv4() {
            write!(f, " ip {ip}")?;
        }
        if !self.checksum_ok() {
            f.write_str(" [bad checksum]")?;
        }
        if let Some(e) = &self.error {
            write!(f, " [{e}]")?;
        }
        Ok(())
    }
}

/// An owned CDP PDU to send. TLVs are written in the order given; IOS sends Device ID,
/// Software version, Platform, Addresses, Port ID, Capabilities, then the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CdpRepr {
    pub version: u8,
    pub ttl: u8,
    pub tlvs: Vec<CdpTlv>,
}

impl CdpRepr {
    /// A CDPv2 announcement with IOS's default holdtime (180 s) and the two TLVs every
    /// receiver needs; add more with [`CdpRepr::with`].
    pub fn new(device_id: &str, port_id: &str) -> Self {
        CdpRepr {
            version: 2,
            ttl: 180,
            tlvs: vec![
                CdpTlv::DeviceId(device_id.to_string()),
                CdpTlv::PortId(port_id.to_string()),
            ],
        }
    }

    /// Append a TLV (builder style).
    #[must_use]
    pub fn with(mut self, tlv: CdpTlv) -> Self {
        self.tlvs.push(tlv);
        self
    }

    /// Encode the PDU (version byte to last TLV byte) with a correct checksum. Values
    /// longer than a TLV can hold are cut at 65531 bytes.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 32 * self.tlvs.len());
        out.extend_from_slice(&[self.version, self.ttl, 0, 0]);
        for tlv in &self.tlvs {
            let (t, value) = encode_tlv(tlv);
            let value = value.get(..MAX_TLV_VALUE).unwrap_or(&value);
            out.extend_from_slice(&t.to_be_bytes());
            // Cannot overflow: the value was cut to MAX_TLV_VALUE above.
            let len = (value.len() + TLV_HEADER_LEN) as u16;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(value);
        }
        let sum = checksum(&out).to_be_bytes();
        if let Some(field) = out.get_mut(2..4) {
            field.copy_from_slice(&sum);
        }
        out
    }
}

fn encode_addresses(addrs: &[CdpAddress]) -> Vec<u8> {
    let mut v = (addrs.len() as u32).to_be_bytes().to_vec();
    for a in addrs {
        match a {
            CdpAddress::Ipv4(ip) => {
                v.extend_from_slice(&[1, 1, NLPID_IPV4, 0, 4]);
                v.extend_from_slice(&ip.octets());
            }
            CdpAddress::Ipv6(ip) => {
                v.extend_from_slice(&[2, 8]);
                v.extend_from_slice(&IPV6_8022_PROTOCOL);
                v.extend_from_slice(&[0, 16]);
                v.extend_from_slice(&ip.octets());
            }
            CdpAddress::Other {
                protocol_type,
                protocol,
                address,
            } => {
                let protocol = protocol.get(..255).unwrap_or(protocol);
                let address = address.get(..usize::from(u16::MAX)).unwrap_or(address);
                v.push(*protocol_type);
                v.push(protocol.len() as u8);
                v.extend_from_slice(protocol);
                v.extend_from_slice(&(address.len() as u16).to_be_bytes());
                v.extend_from_slice(address);
            }
        }
    }
    v
}

fn encode_tlv(tlv: &CdpTlv) -> (u16, Vec<u8>) {
    use tlv_type::*;
    let vlan_tlv = |data: u8, vlan: u16, extra: &[u8]| {
        let mut v = vec![data];
        v.extend_from_slice(&vlan.to_be_bytes());
        v.extend_from_slice(extra);
        v
    };
    let power = |request_id: u16, management_id: u16, mw: &[u32]| {
        let mut v = request_id.to_be_bytes().to_vec();
        v.extend_from_slice(&management_id.to_be_bytes());
        for m in mw {
            v.extend_from_slice(&m.to_be_bytes());
        }
        v
    };
    match tlv {
        CdpTlv::DeviceId(s) => (DEVICE_ID, s.as_bytes().to_vec()),
        CdpTlv::Addresses(a) => (ADDRESSES, encode_addresses(a)),
        CdpTlv::PortId(s) => (PORT_ID, s.as_bytes().to_vec()),
        CdpTlv::Capabilities(c) => (CAPABILITIES, c.0.to_be_bytes().to_vec()),
        CdpTlv::SoftwareVersion(s) => (SOFTWARE_VERSION, s.as_bytes().to_vec()),
        CdpTlv::Platform(s) => (PLATFORM, s.as_bytes().to_vec()),
        CdpTlv::OdrDefaultGateway(ip) => (IP_PREFIXES, ip.octets().to_vec()),
        CdpTlv::IpPrefixes(p) => {
            let mut v = Vec::with_capacity(p.len() * 5);
            for (net, len) in p {
                v.extend_from_slice(&net.octets());
                v.push(*len);
            }
            (IP_PREFIXES, v)
        }
        CdpTlv::ProtocolHello {
            oui,
            protocol_id,
            data,
        } => {
            let mut v = oui.to_vec();
            v.extend_from_slice(&protocol_id.to_be_bytes());
            v.extend_from_slice(data);
            (PROTOCOL_HELLO, v)
        }
        CdpTlv::VtpDomain(s) => (VTP_DOMAIN, s.as_bytes().to_vec()),
        CdpTlv::NativeVlan(n) => (NATIVE_VLAN, n.to_be_bytes().to_vec()),
        CdpTlv::Duplex(d) => (DUPLEX, vec![u8::from(*d)]),
        CdpTlv::VoipVlanReply { data, vlan, extra } => {
            (VOIP_VLAN_REPLY, vlan_tlv(*data, *vlan, extra))
        }
        CdpTlv::VoipVlanQuery { data, vlan, extra } => {
            (VOIP_VLAN_QUERY, vlan_tlv(*data, *vlan, extra))
        }
        CdpTlv::PowerConsumption(mw) => (POWER_CONSUMPTION, mw.to_be_bytes().to_vec()),
        CdpTlv::Mtu(m) => (MTU, m.to_be_bytes().to_vec()),
        CdpTlv::TrustBitmap(b) => (TRUST_BITMAP, vec![*b]),
        CdpTlv::UntrustedPortCos(b) => (UNTRUSTED_COS, vec![*b]),
        CdpTlv::SystemName(s) => (SYSTEM_NAME, s.as_bytes().to_vec()),
        CdpTlv::MgmtAddresses(a) => (MGMT_ADDRESSES, encode_addresses(a)),
        CdpTlv::Location { data, location } => {
            let mut v = vec![*data];
            v.extend_from_slice(location.as_bytes());
            (LOCATION, v)
        }
        CdpTlv::PowerRequested {
            request_id,
            management_id,
            milliwatts,
        } => (
            POWER_REQUESTED,
            power(*request_id, *management_id, milliwatts),
        ),
        CdpTlv::PowerAvailable {
            request_id,
            management_id,
            milliwatts,
        } => (
            POWER_AVAILABLE,
            power(*request_id, *management_id, milliwatts),
        ),
        CdpTlv::Other { tlv_type, value } => (*tlv_type, value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::testutil::hex;

    // Real CDP PDUs (version byte to last TLV byte), taken from the captures in
    // /work/shared/pcaps. Together they cover even and odd lengths and last bytes on
    // both sides of 0x80.

    /// cdp/tcpdump__3560_CDP.pcap frame 1: Catalyst 3560, 378 bytes, 14 TLVs.
    const C3560: &str = "02b4b0bd0001000a537769746368000500c4436973636f20494f5320536f6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b392d4d292c2056657273696f6e2031322e3228323529534542342c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3230303520627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205475652033302d4175672d30352031373a35362062792079656e616e6800060018636973636f2057532d4333353630472d3234505300020011000000010101cc0004c0a80001000300164769676162697445746865726e6574302f3500040008000000280008002400000c011200000000ffffffff010221ff000000000000001906eab880ff0000000900074c6162000a00060001000b0005010012000500001300050000160011000000010101cc0004c0a80001001a00100000000100000000ffffffff";
    /// cdp/zeek__cdp-v1.pcap frame 1: CDP version 1 from a cisco 1601, 278 bytes.
    const V1: &str = "01b4dff000010006523100020011000000010101cc0004c0a80a010003000d45746865726e6574300004000800000001000500d8436973636f20496e7465726e6574776f726b204f7065726174696e672053797374656d20536f667477617265200a494f532028746d29203136303020536f667477617265202843313630302d4e592d4c292c2056657273696f6e2031312e3228313229502c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3139393820627920636973636f2053797374656d732c20496e632e0a436f6d70696c6564205475652030332d4d61722d39382030363a33332062792064736368776172740006000e636973636f2031363031";
    /// cdp/pcapplusplus__VlanPackets.pcap frame 23 (the 802.1Q-tunnelling lab): a C3550,
    /// 353 bytes, odd length with last byte 0x00.
    const C3550_ODD: &str = "02b401a5000100065332000500c2436973636f20494f5320536f6674776172652c20433335353020536f667477617265202843333535302d495053455256494345534b392d4d292c2056657273696f6e2031322e32283434295345322c2052454c4541534520534f4654574152452028666332290a436f707972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205468752030312d4d61792d30382031363a313420627920616e746f6e696e6f00060015436973636f2057532d43333535302d323400020011000000010101cc000400000000000300144661737445746865726e6574302f313300040008000000280008002400000c011200000000ffffffff010221ff000000000000000f345f1680ff000000090009636973636f000a00060001000b0005010012000500001300050000160011000000010101cc000400000000";
    /// cdp/packetlife__3725_CDP.cap frame 1: a 3725 router, 328 bytes.
    const R3725: &str = "02b4ead3000100065231000500fb436973636f20494f5320536f6674776172652c203337303020536f667477617265202843333732352d414456454e54455250524953454b392d4d292c2056657273696f6e2031322e3428392954312c2052454c4541534520534f4654574152452028666332290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230303620627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205765642033302d4175672d30362031383a34382062792070726f645f72656c5f7465616d0006000e436973636f203337323500020011000000010101cc00040a000001000300134661737445746865726e6574302f30000400080000002900090004000b000500";
    /// cdp/arkime__gre-erspan.pcap frame 1 (CDP inside ERSPAN): CSR1000V with ODR
    /// prefixes and Port Unidirectional, 372 bytes.
    const CSR_ERSPAN: &str = "02b49a14000100084353523300050102436973636f20494f5320536f6674776172652c20494f532d584520536f66747761726520285838365f36345f4c494e55585f494f53442d414456454e54455250524953454b392d4d292c2056657273696f6e2031352e332832295330612c2052454c4541534520534f4654574152452028666331290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230313320627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205361742033302d4d61722d31332031393a3038206279206d6370726500060012636973636f20435352313030305600020011000000010101cc000417000003000300174769676162697445746865726e6574312e323300040008000000210007000e0a6e6e0018c0a801001e00160011000000010101cc000417000003001b000500";
    /// Every other distinct CDP PDU in the corpus (file#frame), for the checksum and
    /// re-encoding checks.
    const MORE_REAL: &[(&str, &str)] = &[
        ("arkime__gre-erspan.pcap#2", "02b4e534000100084353523200050102436973636f20494f5320536f6674776172652c20494f532d584520536f66747761726520285838365f36345f4c494e55585f494f53442d414456454e54455250524953454b392d4d292c2056657273696f6e2031352e332832295330612c2052454c4541534520534f4654574152452028666331290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230313320627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205361742033302d4d61722d31332031393a3038206279206d6370726500060012636973636f20435352313030305600020011000000010101cc000417000002000300174769676162697445746865726e6574312e323300040008000000210007001d02020202200a6e6e00180c000000180c0c0c0018c0a801001e00160011000000010101cc000417000002001b000500"),
        ("networklessons__802-1q-tunneling-cdp.pcapng#1", "02b4df8c000100065231000500fa436973636f20494f5320536f6674776172652c20494f537620536f667477617265202856494f532d414456454e54455250524953454b392d4d292c2056657273696f6e2031352e362833294d322c2052454c4541534520534f4654574152452028666332290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230313720627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205765642032392d4d61722d31372031343a30352062792070726f645f72656c5f7465616d0006000a436973636f2000020011000000010101cc0004c0a80c01000300164769676162697445746865726e6574302f31000400080000000500070009c0a80c001800160011000000010101cc0004c0a80c01"),
        ("networklessons__802-1q-tunneling-cdp.pcapng#2", "02b4de8a000100065232000500fa436973636f20494f5320536f6674776172652c20494f537620536f667477617265202856494f532d414456454e54455250524953454b392d4d292c2056657273696f6e2031352e362833294d322c2052454c4541534520534f4654574152452028666332290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230313720627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205765642032392d4d61722d31372031343a30352062792070726f645f72656c5f7465616d0006000a436973636f2000020011000000010101cc0004c0a80c02000300164769676162697445746865726e6574302f31000400080000000500070009c0a80c001800160011000000010101cc0004c0a80c02"),
        ("pcapplusplus__VlanPackets.pcap#21", "02b4bae2000100065231000500fd436973636f20494f5320536f6674776172652c203238303020536f667477617265202843323830304e4d2d414456495053455256494345534b392d4d292c2056657273696f6e2031322e3428323429542c2052454c4541534520534f4654574152452028666331290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230303920627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205765642032352d4665622d30392031373a35352062792070726f645f72656c5f7465616d0006000e436973636f203238313100020011000000010101cc00040a760a01000300134661737445746865726e6574302f300004000800000029000700130a760a00180a761400180a761e001800090004000b000501"),
        ("pcapplusplus__VlanPackets.pcap#22", "02b4286e000100065233000500fb436973636f20494f5320536f6674776172652c203138343120536f667477617265202843313834312d414456454e54455250524953454b392d4d292c2056657273696f6e2031322e3428323429542c2052454c4541534520534f4654574152452028666331290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230303920627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205765642032352d4665622d30392031353a33362062792070726f645f72656c5f7465616d0006000e436973636f203138343100020011000000010101cc00040ad11403000300134661737445746865726e6574302f300004000800000029000700130ad11400180ad11e00180ad128001800090004000b000501"),
        ("pcapplusplus__VlanPackets.pcap#24", "02b4ca1d000100065331000500c2436973636f20494f5320536f6674776172652c20433335353020536f667477617265202843333535302d495053455256494345534b392d4d292c2056657273696f6e2031322e32283434295345322c2052454c4541534520534f4654574152452028666332290a436f707972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205468752030312d4d61792d30382031363a313420627920616e746f6e696e6f00060015436973636f2057532d43333535302d323400020011000000010101cc000400000000000300144661737445746865726e6574302f313300040008000000280008002400000c011200000000ffffffff010221ff0000000000000013c4120f00ff000000090009636973636f000a00060001000b0005010012000500001300050000160011000000010101cc000400000000"),
        ("pcapplusplus__VlanPackets.pcap#25", "02b4bae0000100065232000500fd436973636f20494f5320536f6674776172652c203238303020536f667477617265202843323830304e4d2d414456495053455256494345534b392d4d292c2056657273696f6e2031322e3428323429542c2052454c4541534520534f4654574152452028666331290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230303920627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205765642032352d4665622d30392031373a35352062792070726f645f72656c5f7465616d0006000e436973636f203238313100020011000000010101cc00040a760a02000300134661737445746865726e6574302f300004000800000029000700130a760a00180a761400180a761e001800090004000b000501"),
        ("pcapplusplus__VlanPackets.pcap#26", "02b4286c000100065234000500fb436973636f20494f5320536f6674776172652c203138343120536f667477617265202843313834312d414456454e54455250524953454b392d4d292c2056657273696f6e2031322e3428323429542c2052454c4541534520534f4654574152452028666331290a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230303920627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205765642032352d4665622d30392031353a33362062792070726f645f72656c5f7465616d0006000e436973636f203138343100020011000000010101cc00040ad11404000300134661737445746865726e6574302f300004000800000029000700130ad11400180ad11e00180ad128001800090004000b000501"),
        ("tcpdump__LLDP_and_CDP.pcap#1", "02b40bea000100065331000500c2436973636f20494f5320536f6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b392d4d292c2056657273696f6e2031322e322834342953452c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205361742030352d4a616e2d30382030303a3135206279207765696c697500060017636973636f2057532d43333536302d3234545300020011000000010101cc000400000000000300144661737445746865726e6574302f313300040008000000280008002400000c011200000000ffffffff010220ff0000000000000018ba986880ff000000090004000a00060001000b0005010012000500001300050000160011000000010101cc000400000000001a00100000000100000000ffffffff"),
        ("tcpdump__LLDP_and_CDP.pcap#2", "02b4971d000100065332000500c2436973636f20494f5320536f6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b392d4d292c2056657273696f6e2031322e322834342953452c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205361742030352d4a616e2d30382030303a3135206279207765696c697500060018636973636f2057532d4333353630472d3234505300020011000000010101cc000400000000000300174769676162697445746865726e6574302f313300040008000000280008002400000c011200000000ffffffff010220ff00000000000000192fa7b280ff000000090004000a00060001000b0005010012000500001300050000160011000000010101cc000400000000001a00100000000100000000ffffffff"),
        ("tcpdump__LLDP_and_CDP.pcap#7", "02b40be9000100065331000500c2436973636f20494f5320536f6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b392d4d292c2056657273696f6e2031322e322834342953452c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205361742030352d4a616e2d30382030303a3135206279207765696c697500060017636973636f2057532d43333536302d3234545300020011000000010101cc000400000000000300144661737445746865726e6574302f313300040008000000280008002400000c011200000000ffffffff010221ff0000000000000018ba986880ff000000090004000a00060001000b0005010012000500001300050000160011000000010101cc000400000000001a00100000000100000000ffffffff"),
        ("tcpdump__LLDP_and_CDP.pcap#8", "02b4971c000100065332000500c2436973636f20494f5320536f6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b392d4d292c2056657273696f6e2031322e322834342953452c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205361742030352d4a616e2d30382030303a3135206279207765696c697500060018636973636f2057532d4333353630472d3234505300020011000000010101cc000400000000000300174769676162697445746865726e6574302f313300040008000000280008002400000c011200000000ffffffff010221ff00000000000000192fa7b280ff000000090004000a00060001000b0005010012000500001300050000160011000000010101cc000400000000001a00100000000100000000ffffffff"),
        ("arkime__mpls-basic.pcap#22", "02b4cb01000100107461677377373230362d333100020011000000010101cc00040a0102010003000f45746865726e6574322f300004000800000001000500eb436973636f20496e7465726e6574776f726b204f7065726174696e672053797374656d20536f667477617265200a494f532028746d29203732303020536f667477617265202843373230302d502d4d292c204578706572696d656e74616c2056657273696f6e2031322e312832303030303230393a32313336343829205b6173686f6b6e2d64703832393332203130315d0a436f707972696768742028632920313938362d3230303020627920636973636f2053797374656d732c20496e632e0a436f6d70696c6564205468752031302d4665622d30302031323a3433206279206173686f6b6e00060011636973636f2037323036565852000b000500"),
        ("tcpdump__various_gre.pcap#49", "02b4a82e00010006523100050105436973636f20494f5320536f6674776172652c204c696e757820536f667477617265202849383642495f4c494e55582d414456454e54455250524953454b392d4d292c2056657273696f6e2031352e3528332953322c20444556454c4f504d454e54205445535420534f4654574152450a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230313620627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564204d6f6e2030382d4665622d31362032303a34382062792070726f645f72656c5f7465616d0006000e4c696e757820556e697800020011000000010101cc0004ac1101360003000c54756e6e656c34300004000800000001000700090aac40061f00160011000000010101cc0004ac110136001b000500"),
        ("tcpdump__various_gre.pcap#63", "02b4a82b00010006523200050105436973636f20494f5320536f6674776172652c204c696e757820536f667477617265202849383642495f4c494e55582d414456454e54455250524953454b392d4d292c2056657273696f6e2031352e3528332953322c20444556454c4f504d454e54205445535420534f4654574152450a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230313620627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564204d6f6e2030382d4665622d31362032303a34382062792070726f645f72656c5f7465616d0006000e4c696e757820556e697800020011000000010101cc0004ac1101370003000c54756e6e656c34300004000800000001000700090aac40061f00160011000000010101cc0004ac110137001b000500"),
        ("tcpdump__various_gre.pcap#86", "02b42005000100075357310005014f436973636f20494f5320536f6674776172652c204c696e757820536f667477617265202849383642495f4c494e55584c322d414456454e54455250524953454b392d4d292c2056657273696f6e2031352e322848495f323031373032303229464c4f5f44534753372c204541524c59204445504c4f594d454e5420444556454c4f504d454e54204255494c442c2073796e63656420746f2020464c4f5f44534753375f504f5354434f4c4c415053455f5445414d5f545241434b5f445347535f5049350a546563686e6963616c20537570706f72743a20687474703a2f2f7777772e636973636f2e636f6d2f74656368737570706f72740a436f707972696768742028632920313938362d3230313720627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205468752030322d4665622d31372030333a3337206279206d6d656e0006000e4c696e757820556e697800020008000000000003000f45746865726e6574302f31000400080000002900090004000a00060001000b000501001200050000130005000016000800000000"),
    ];

    fn all_real() -> Vec<(&'static str, Vec<u8>)> {
        let mut v: Vec<(&'static str, Vec<u8>)> = [
            ("c3560", C3560),
            ("v1", V1),
            ("c3550_odd", C3550_ODD),
            ("r3725", R3725),
            ("csr_erspan", CSR_ERSPAN),
        ]
        .iter()
        .map(|(n, h)| (*n, hex(h)))
        .collect();
        v.extend(MORE_REAL.iter().map(|(n, h)| (*n, hex(h))));
        v
    }

    #[test]
    fn catalyst_3560_fields_match_tshark() {
        let pdu = hex(C3560);
        assert_eq!(pdu.len(), 378);
        let cdp = parse(&pdu).unwrap();
        assert_eq!(cdp.error, None);
        assert_eq!((cdp.version, cdp.ttl, cdp.checksum), (2, 180, 0xb0bd));
        assert!(cdp.checksum_ok());
        assert_eq!(cdp.tlvs.len(), 14);
        assert_eq!(cdp.device_id(), Some("Switch"));
        assert_eq!(cdp.port_id(), Some("GigabitEthernet0/5"));
        assert_eq!(cdp.platform(), Some("cisco WS-C3560G-24PS"));
        assert!(cdp.software_version().unwrap().starts_with(
            "Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(25)SEB4"
        ));
        assert_eq!(
            cdp.capabilities(),
            Some(Capabilities(Capabilities::SWITCH | Capabilities::IGMP))
        );
        assert_eq!(cdp.capabilities().unwrap().names(), ["switch", "igmp"]);
        assert_eq!(cdp.vtp_domain(), Some("Lab"));
        assert_eq!(cdp.native_vlan(), Some(1));
        assert_eq!(cdp.duplex(), Some(Duplex::Full));
        let ip: IpAddr = "192.168.0.1".parse().unwrap();
        assert_eq!(cdp.addresses(), [ip]);
        assert_eq!(cdp.mgmt_addresses(), [ip]);
        assert_eq!(cdp.mgmt_ipv4(), Some(Ipv4Addr::new(192, 168, 0, 1)));
        assert!(cdp.tlvs.contains(&CdpTlv::TrustBitmap(0)));
        assert!(cdp.tlvs.contains(&CdpTlv::UntrustedPortCos(0)));
        assert!(cdp.tlvs.contains(&CdpTlv::PowerAvailable {
            request_id: 0,
            management_id: 1,
            milliwatts: vec![0, 0xffff_ffff],
        }));
        assert!(matches!(
            cdp.tlvs.get(6),
            Some(CdpTlv::ProtocolHello { oui: [0, 0, 0x0c], protocol_id: 0x0112, data })
                if data.len() == 27
        ));
        assert_eq!(
            cdp.to_string(),
            "CDP device Switch port GigabitEthernet0/5 platform cisco WS-C3560G-24PS ip 192.168.0.1"
        );
    }

    #[test]
    fn cdp_version_1_router() {
        let pdu = hex(V1);
        let cdp = parse(&pdu).unwrap();
        assert_eq!((cdp.version, cdp.checksum), (1, 0xdff0));
        assert_eq!(cdp.device_id(), Some("R1"));
        assert_eq!(cdp.port_id(), Some("Ethernet0"));
        assert_eq!(cdp.platform(), Some("cisco 1601"));
        assert_eq!(cdp.capabilities(), Some(Capabilities(Capabilities::ROUTER)));
        assert_eq!(cdp.mgmt_ipv4(), Some(Ipv4Addr::new(192, 168, 10, 1)));
        assert!(cdp.mgmt_addresses().is_empty());
    }

    #[test]
    fn odr_prefixes_and_unknown_tlv_from_erspan_capture() {
        let pdu = hex(CSR_ERSPAN);
        let cdp = parse(&pdu).unwrap();
        assert_eq!(cdp.device_id(), Some("CSR3"));
        assert_eq!(cdp.port_id(), Some("GigabitEthernet1.23"));
        assert!(cdp.tlvs.contains(&CdpTlv::IpPrefixes(vec![
            (Ipv4Addr::new(10, 110, 110, 0), 24),
            (Ipv4Addr::new(192, 168, 1, 0), 30),
        ])));
        assert_eq!(
            cdp.tlvs.last(),
            Some(&CdpTlv::Other {
                tlv_type: 0x1b,
                value: vec![0]
            })
        );
        assert_eq!(cdp.mgmt_ipv4(), Some(Ipv4Addr::new(23, 0, 0, 3)));
    }

    #[test]
    fn zero_management_address_from_the_tunnelling_lab_c3550() {
        let pdu = hex(C3550_ODD);
        let cdp = parse(&pdu).unwrap();
        assert_eq!(cdp.platform(), Some("Cisco WS-C3550-24"));
        assert_eq!(cdp.vtp_domain(), Some("cisco"));
        assert_eq!(cdp.mgmt_ipv4(), Some(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn cdp_tunnelled_through_qinq_matches_tshark() {
        // Captured inside the provider's 802.1Q tunnel (outer tag VLAN 123).
        let (_, h) = MORE_REAL
            .iter()
            .find(|(n, _)| *n == "networklessons__802-1q-tunneling-cdp.pcapng#1")
            .unwrap();
        let pdu = hex(h);
        assert_eq!(pdu.len(), 343);
        let cdp = parse(&pdu).unwrap();
        assert_eq!(cdp.checksum, 0xdf8c);
        assert!(cdp.checksum_ok());
        assert_eq!(cdp.device_id(), Some("R1"));
        assert_eq!(cdp.port_id(), Some("GigabitEthernet0/1"));
        assert_eq!(cdp.platform(), Some("Cisco "));
        assert_eq!(
            cdp.capabilities(),
            Some(Capabilities(
                Capabilities::ROUTER | Capabilities::SOURCE_ROUTE_BRIDGE
            ))
        );
        assert_eq!(cdp.mgmt_ipv4(), Some(Ipv4Addr::new(192, 168, 12, 1)));
    }

    #[test]
    fn every_real_pdu_verifies_with_cisco_checksum() {
        let real = all_real();
        assert!(real.iter().any(|(_, p)| p.len() % 2 == 1));
        for (name, pdu) in &real {
            let cdp = parse(pdu).unwrap();
            assert_eq!(cdp.error, None, "{name}");
            assert!(cdp.checksum_ok(), "{name}: {:04x}", checksum(pdu));
        }
    }

    #[test]
    fn odd_final_byte_is_added_as_a_signed_char() {
        // Header 02 b4 <cksum>, then one byte. The byte counts as 0x00vv below 0x80 and as
        // 0xFF00 + v - 1 from 0x80 on, never as the padded word 0xvv00.
        let sum_of = |words: u32| !(((words & 0xffff) + (words >> 16)) as u16);
        assert_eq!(checksum(&[0x02, 0xb4, 0, 0, 0x0b]), sum_of(0x02b4 + 0x000b));
        assert_eq!(checksum(&[0x02, 0xb4, 0, 0, 0x7f]), sum_of(0x02b4 + 0x007f));
        assert_eq!(checksum(&[0x02, 0xb4, 0, 0, 0x80]), sum_of(0x02b4 + 0xff7f));
        assert_eq!(checksum(&[0x02, 0xb4, 0, 0, 0xff]), sum_of(0x02b4 + 0xfffe));
        // RFC 1071 padding would give a different value.
        assert_ne!(checksum(&[0x02, 0xb4, 0, 0, 0x0b]), sum_of(0x02b4 + 0x0b00));
        // The checksum field is ignored wherever the input ends.
        assert_eq!(checksum(&[0x02, 0xb4, 0xaa]), checksum(&[0x02, 0xb4]));
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn real_pdus_reencode_byte_for_byte() {
        for (name, pdu) in all_real() {
            let cdp = parse(&pdu).unwrap();
            assert_eq!(cdp.to_repr().emit(), pdu, "{name}");
        }
    }

    #[test]
    fn built_pdu_round_trips_with_valid_checksum() {
        let repr = CdpRepr::new("lab-sw1.example", "eth0")
            .with(CdpTlv::Platform("netkit linux-bridge".into()))
            .with(CdpTlv::Capabilities(Capabilities(Capabilities::SWITCH)))
            .with(CdpTlv::MgmtAddresses(vec![
                CdpAddress::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
                CdpAddress::Ipv6("2001:db8::1".parse().unwrap()),
            ]))
            .with(CdpTlv::NativeVlan(10))
            .with(CdpTlv::Duplex(Duplex::Full));
        let bytes = repr.emit();
        let cdp = parse(&bytes).unwrap();
        assert!(cdp.checksum_ok());
        assert_eq!(cdp.error, None);
        assert_eq!(cdp.to_repr(), repr);
        assert_eq!(cdp.mgmt_ipv4(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        // Both parities of length exercise the odd-byte rule on the way out too.
        let odd = CdpRepr::new("a", "b").with(CdpTlv::Other {
            tlv_type: 0x99,
            value: vec![0xc5],
        });
        let bytes = odd.emit();
        assert_eq!(bytes.len() % 2, 1);
        assert!(parse(&bytes).unwrap().checksum_ok());
    }

    #[test]
    fn every_truncation_keeps_the_tlvs_before_the_cut() {
        let pdu = hex(C3560);
        // TLV start offsets, to check where the error points.
        let full = parse(&pdu).unwrap();
        let mut starts = vec![HEADER_LEN];
        for t in &full.tlvs {
            let (_, v) = encode_tlv(t);
            starts.push(starts.last().unwrap() + TLV_HEADER_LEN + v.len());
        }
        for len in 0..pdu.len() {
            let cut = &pdu[..len];
            match parse(cut) {
                Err(e) => {
                    assert!(len < HEADER_LEN, "len {len}");
                    // The field that did not fit: version, TTL, or the checksum at 2.
                    assert_eq!(e.offset, len.min(2));
                }
                Ok(cdp) => {
                    let complete = starts.iter().filter(|&&s| s <= len).count() - 1;
                    assert_eq!(cdp.tlvs.len(), complete, "len {len}");
                    let at_boundary = starts.contains(&len);
                    match cdp.error {
                        None => assert!(at_boundary, "len {len}"),
                        Some(e) => {
                            assert!(!at_boundary);
                            assert_eq!(e.offset, starts[complete], "len {len}");
                            assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
                        }
                    }
                    let _ = cdp.to_string();
                }
            }
        }
    }

    #[test]
    fn tlv_length_below_header_stops_with_invalid() {
        let pdu = hex("02b4 0000 0001 0006 5231 0005 0002 ffff");
        let cdp = parse(&pdu).unwrap();
        assert_eq!(cdp.device_id(), Some("R1"));
        assert_eq!(cdp.tlvs.len(), 1);
        let e = cdp.error.unwrap();
        assert_eq!(e.offset, 12);
        assert!(matches!(e.kind, ErrorKind::Invalid(_)));
    }

    #[test]
    fn broken_address_record_is_kept_raw_and_reported() {
        // Count says 2 records, only one present; the next TLV still decodes.
        let pdu = hex("02b4 0000 0002 0011 00000002 0101cc0004c0a80001 0003 0006 6530");
        let cdp = parse(&pdu).unwrap();
        assert!(matches!(cdp.tlvs[0], CdpTlv::Other { tlv_type: 2, .. }));
        assert_eq!(cdp.port_id(), Some("e0"));
        let e = cdp.error.unwrap();
        assert_eq!(e.offset, 4 + 4 + 13);
    }

    #[test]
    fn non_utf8_text_stays_raw_and_reencodes() {
        let pdu = hex("02b4 0000 0001 0006 52ff 0003 0006 6530");
        let cdp = parse(&pdu).unwrap();
        assert_eq!(cdp.error, None);
        assert_eq!(
            cdp.tlvs[0],
            CdpTlv::Other {
                tlv_type: tlv_type::DEVICE_ID,
                value: vec![0x52, 0xff]
            }
        );
        assert_eq!(cdp.port_id(), Some("e0"));
        let mut expected = pdu.clone();
        expected[2..4].copy_from_slice(&checksum(&pdu).to_be_bytes());
        assert_eq!(cdp.to_repr().emit(), expected);
    }

    #[test]
    fn odd_sized_known_tlvs_stay_raw_and_reencode() {
        let repr = CdpRepr {
            version: 2,
            ttl: 10,
            tlvs: vec![
                CdpTlv::Other {
                    tlv_type: tlv_type::NATIVE_VLAN,
                    value: vec![0, 1, 2],
                },
                CdpTlv::Other {
                    tlv_type: tlv_type::CAPABILITIES,
                    value: vec![],
                },
            ],
        };
        let bytes = repr.emit();
        let cdp = parse(&bytes).unwrap();
        assert_eq!(cdp.error, None);
        assert_eq!(cdp.to_repr(), repr);
    }
}
