//! Link Layer Discovery Protocol (IEEE 802.1AB): decoder and encoder.
//!
//! Input is the LLDPDU, the bytes after EtherType 0x88CC. Each TLV has a 16-bit header
//! of type (7 bits) and length (9 bits, the value only, so at most 511). The PDU is
//! Chassis ID, Port ID, TTL, optional TLVs, End (type 0, length 0); decoding stops at
//! End, so Ethernet padding after it is ignored.
//!
//! Like CDP, TLVs whose value has the layout their type prescribes become typed
//! variants and everything else is kept raw, so [`Lldp::to_repr`] followed by
//! [`LldpRepr::emit`] gives back the received bytes up to the End TLV.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::{printable, ser};
use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use crate::link::Mac;

const LAYER: &str = "lldp";
const TLV_HEADER_LEN: usize = 2;
const MAX_VALUE_LEN: usize = 511;

pub mod tlv_type {
    pub const END: u8 = 0;
    pub const CHASSIS_ID: u8 = 1;
    pub const PORT_ID: u8 = 2;
    pub const TTL: u8 = 3;
    pub const PORT_DESCRIPTION: u8 = 4;
    pub const SYSTEM_NAME: u8 = 5;
    pub const SYSTEM_DESCRIPTION: u8 = 6;
    pub const CAPABILITIES: u8 = 7;
    pub const MGMT_ADDRESS: u8 = 8;
    pub const ORG_SPECIFIC: u8 = 127;
}

/// Chassis ID subtypes (802.1AB table 8-2).
pub mod chassis_subtype {
    pub const CHASSIS_COMPONENT: u8 = 1;
    pub const INTERFACE_ALIAS: u8 = 2;
    pub const PORT_COMPONENT: u8 = 3;
    pub const MAC_ADDRESS: u8 = 4;
    pub const NETWORK_ADDRESS: u8 = 5;
    pub const INTERFACE_NAME: u8 = 6;
    pub const LOCAL: u8 = 7;
}

/// Port ID subtypes (802.1AB table 8-3).
pub mod port_subtype {
    pub const INTERFACE_ALIAS: u8 = 1;
    pub const PORT_COMPONENT: u8 = 2;
    pub const MAC_ADDRESS: u8 = 3;
    pub const NETWORK_ADDRESS: u8 = 4;
    pub const INTERFACE_NAME: u8 = 5;
    pub const AGENT_CIRCUIT_ID: u8 = 6;
    pub const LOCAL: u8 = 7;
}

/// OUI of IEEE 802.1 organisationally specific TLVs.
pub const OUI_IEEE_8021: [u8; 3] = [0x00, 0x80, 0xC2];
/// OUI of IEEE 802.3 organisationally specific TLVs.
pub const OUI_IEEE_8023: [u8; 3] = [0x00, 0x12, 0x0F];

/// IANA address family numbers used in network-address IDs and management addresses.
const AF_IPV4: u8 = 1;
const AF_IPV6: u8 = 2;
const AF_802: u8 = 6;

/// A decoded LLDPDU: TLVs in wire order (ending with [`LldpTlv::End`] when present),
/// plus the reason decoding stopped early, if it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lldp<'a> {
    pub tlvs: Vec<LldpTlv>,
    #[serde(serialize_with = "ser::opt_error")]
    pub error: Option<DecodeError>,
    #[serde(skip)]
    pdu: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LldpTlv {
    End,
    ChassisId(LldpId),
    PortId(LldpId),
    /// Seconds; 0 means "forget this neighbour" (sent on shutdown).
    Ttl(u16),
    PortDescription(String),
    SystemName(String),
    SystemDescription(String),
    /// System capabilities: supported and enabled bitmaps (see [`SystemCapabilities`]).
    Capabilities(SystemCapabilities),
    MgmtAddress(MgmtAddress),
    /// 802.1 subtype 1: the port's VLAN for untagged frames.
    PortVlanId(u16),
    /// Any other organisationally specific TLV (type 127).
    OrgSpecific {
        oui: [u8; 3],
        subtype: u8,
        #[serde(serialize_with = "ser::hex")]
        info: Vec<u8>,
    },
    /// Any other TLV, or a known type whose value does not have the expected layout.
    Other {
        tlv_type: u8,
        #[serde(serialize_with = "ser::hex")]
        value: Vec<u8>,
    },
}

/// A Chassis ID or Port ID: its subtype and the raw identifier. How the bytes read
/// depends on the subtype (a MAC, a network address, or text); see
/// [`Lldp::chassis_id`] and [`Lldp::port_id`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LldpId {
    pub subtype: u8,
    #[serde(serialize_with = "ser::hex")]
    pub value: Vec<u8>,
}

impl LldpId {
    /// Human-readable form. `mac_subtype` and `net_subtype` differ between chassis and
    /// port IDs, which is why the caller names them.
    fn render(&self, mac_subtype: u8, net_subtype: u8) -> String {
        if self.subtype == mac_subtype {
            if let Ok(mac) = <[u8; 6]>::try_from(self.value.as_slice()) {
                return Mac(mac).to_string();
            }
        }
        if self.subtype == net_subtype {
            if let Some(ip) = network_address(&self.value) {
                return ip.to_string();
            }
        }
        printable(&self.value)
    }
}

/// A network-address ID or management address: IANA family byte, then the address.
fn network_address(v: &[u8]) -> Option<IpAddr> {
    match v.split_first() {
        Some((&AF_IPV4, a)) => <[u8; 4]>::try_from(a)
            .ok()
            .map(|a| Ipv4Addr::from(a).into()),
        Some((&AF_IPV6, a)) => <[u8; 16]>::try_from(a)
            .ok()
            .map(|a| Ipv6Addr::from(a).into()),
        _ => None,
    }
}

/// System Capabilities TLV (type 7): what the system can do and what is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SystemCapabilities {
    pub supported: u16,
    pub enabled: u16,
}

impl SystemCapabilities {
    pub const OTHER: u16 = 0x0001;
    pub const REPEATER: u16 = 0x0002;
    pub const BRIDGE: u16 = 0x0004;
    pub const WLAN_AP: u16 = 0x0008;
    pub const ROUTER: u16 = 0x0010;
    pub const TELEPHONE: u16 = 0x0020;
    pub const DOCSIS: u16 = 0x0040;
    pub const STATION: u16 = 0x0080;
    pub const CVLAN: u16 = 0x0100;
    pub const SVLAN: u16 = 0x0200;
    pub const TWO_PORT_MAC_RELAY: u16 = 0x0400;

    const NAMES: [(u16, &'static str); 11] = [
        (Self::OTHER, "other"),
        (Self::REPEATER, "repeater"),
        (Self::BRIDGE, "bridge"),
        (Self::WLAN_AP, "wlan_ap"),
        (Self::ROUTER, "router"),
        (Self::TELEPHONE, "telephone"),
        (Self::DOCSIS, "docsis"),
        (Self::STATION, "station"),
        (Self::CVLAN, "cvlan"),
        (Self::SVLAN, "svlan"),
        (Self::TWO_PORT_MAC_RELAY, "two_port_mac_relay"),
    ];

    /// Names of the bits set in `bits` (one of the two bitmaps).
    pub fn names(bits: u16) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Management Address TLV (type 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MgmtAddress {
    /// IANA address family: 1 IPv4, 2 IPv6, 6 IEEE 802 MAC, ...
    pub family: u8,
    #[serde(serialize_with = "ser::hex")]
    pub address: Vec<u8>,
    /// 1 unknown, 2 ifIndex, 3 system port number.
    pub interface_subtype: u8,
    pub interface_number: u32,
    #[serde(serialize_with = "ser::hex")]
    pub oid: Vec<u8>,
}

impl MgmtAddress {
    pub fn ip(&self) -> Option<IpAddr> {
        let mut v = vec![self.family];
        v.extend_from_slice(&self.address);
        network_address(&v)
    }
}

impl fmt::Display for MgmtAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ip(), <[u8; 6]>::try_from(self.address.as_slice())) {
            (Some(ip), _) => write!(f, "{ip}"),
            (None, Ok(mac)) if self.family == AF_802 => write!(f, "{}", Mac(mac)),
            _ => write!(f, "family {} {}", self.family, ser::Hex(&self.address)),
        }
    }
}

/// Decode an LLDPDU. Fails only when not even one TLV header fits; otherwise a
/// truncated or malformed TLV sets `error` and keeps what came before.
pub fn parse(pdu: &[u8]) -> Result<Lldp<'_>> {
    if pdu.len() < TLV_HEADER_LEN {
        return Err(DecodeError::truncated(LAYER, 0, TLV_HEADER_LEN, pdu.len()));
    }
    let mut lldp = Lldp {
        tlvs: Vec::new(),
        error: None,
        pdu,
    };
    let mut c = Cursor::new(LAYER, pdu);
    while !c.is_empty() {
        let start = c.pos();
        let Ok(header) = c.u16() else {
            lldp.error = Some(DecodeError::truncated(
                LAYER,
                start,
                TLV_HEADER_LEN,
                pdu.len() - start,
            ));
            break;
        };
        let tlv_type = (header >> 9) as u8;
        let len = usize::from(header & 0x01FF);
        let Ok(value) = c.take(len) else {
            lldp.error = Some(DecodeError::truncated(
                LAYER,
                start,
                TLV_HEADER_LEN + len,
                pdu.len() - start,
            ));
            break;
        };
        match decode_tlv(tlv_type, value) {
            Ok(LldpTlv::End) => {
                lldp.tlvs.push(LldpTlv::End);
                break;
            }
            Ok(tlv) => lldp.tlvs.push(tlv),
            Err(e) => {
                lldp.tlvs.push(LldpTlv::Other {
                    tlv_type,
                    value: value.to_vec(),
                });
                lldp.error.get_or_insert(e.at(start + TLV_HEADER_LEN));
            }
        }
    }
    Ok(lldp)
}

/// Text of a value already checked to be UTF-8 (lossless then).
fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Text TLVs that are not UTF-8 stay raw (`Other`), so re-encoding stays exact.
fn is_text(v: &[u8]) -> bool {
    std::str::from_utf8(v).is_ok()
}

fn decode_tlv(tlv_type: u8, v: &[u8]) -> Result<LldpTlv> {
    use tlv_type::*;
    let id = || -> Result<LldpId> {
        let mut c = Cursor::new(LAYER, v);
        Ok(LldpId {
            subtype: c.u8()?,
            value: c.rest().to_vec(),
        })
    };
    let tlv = match (tlv_type, v.len()) {
        (END, 0) => LldpTlv::End,
        (CHASSIS_ID, n) if n >= 1 => LldpTlv::ChassisId(id()?),
        (PORT_ID, n) if n >= 1 => LldpTlv::PortId(id()?),
        (TTL, 2) => LldpTlv::Ttl(Cursor::new(LAYER, v).u16()?),
        (PORT_DESCRIPTION, _) if is_text(v) => LldpTlv::PortDescription(text(v)),
        (SYSTEM_NAME, _) if is_text(v) => LldpTlv::SystemName(text(v)),
        (SYSTEM_DESCRIPTION, _) if is_text(v) => LldpTlv::SystemDescription(text(v)),
        (CAPABILITIES, 4) => {
            let mut c = Cursor::new(LAYER, v);
            LldpTlv::Capabilities(SystemCapabilities {
                supported: c.u16()?,
                enabled: c.u16()?,
            })
        }
        (MGMT_ADDRESS, _) => LldpTlv::MgmtAddress(decode_mgmt_address(v)?),
        (ORG_SPECIFIC, n) if n >= 4 => {
            let mut c = Cursor::new(LAYER, v);
            let oui: [u8; 3] = c.array()?;
            let subtype = c.u8()?;
            match (oui, subtype, c.remaining()) {
                (OUI_IEEE_8021, 1, 2) => LldpTlv::PortVlanId(c.u16()?),
                _ => LldpTlv::OrgSpecific {
                    oui,
                    subtype,
                    info: c.rest().to_vec(),
                },
            }
        }
        _ => LldpTlv::Other {
            tlv_type,
            value: v.to_vec(),
        },
    };
    Ok(tlv)
}

/// Address string length (1 + address), family, address, interface numbering subtype,
/// interface number, OID length, OID; nothing may follow.
fn decode_mgmt_address(v: &[u8]) -> Result<MgmtAddress> {
    let mut c = Cursor::new(LAYER, v);
    let addr_len = usize::from(c.u8()?);
    if addr_len < 1 {
        return Err(DecodeError::invalid(
            LAYER,
            0,
            "management address length 0",
        ));
    }
    let family = c.u8()?;
    let address = c.take(addr_len - 1)?.to_vec();
    let interface_subtype = c.u8()?;
    let interface_number = c.u32()?;
    let oid_len = usize::from(c.u8()?);
    let oid = c.take(oid_len)?.to_vec();
    if !c.is_empty() {
        return Err(c.invalid("bytes after the management address OID"));
    }
    Ok(MgmtAddress {
        family,
        address,
        interface_subtype,
        interface_number,
        oid,
    })
}

impl<'a> Lldp<'a> {
    pub fn pdu(&self) -> &'a [u8] {
        self.pdu
    }

    fn find<'s, T>(&'s self, f: impl FnMut(&'s LldpTlv) -> Option<T>) -> Option<T> {
        self.tlvs.iter().find_map(f)
    }

    pub fn chassis_id_raw(&self) -> Option<&LldpId> {
        self.find(|t| match t {
            LldpTlv::ChassisId(id) => Some(id),
            _ => None,
        })
    }

    pub fn port_id_raw(&self) -> Option<&LldpId> {
        self.find(|t| match t {
            LldpTlv::PortId(id) => Some(id),
            _ => None,
        })
    }

    /// The chassis ID as text: a MAC, an IP address, or the name, per its subtype.
    pub fn chassis_id(&self) -> Option<String> {
        self.chassis_id_raw().map(|id| {
            id.render(
                chassis_subtype::MAC_ADDRESS,
                chassis_subtype::NETWORK_ADDRESS,
            )
        })
    }

    /// The port ID as text, per its subtype.
    pub fn port_id(&self) -> Option<String> {
        self.port_id_raw()
            .map(|id| id.render(port_subtype::MAC_ADDRESS, port_subtype::NETWORK_ADDRESS))
    }

    /// The first TTL TLV (the mandatory one; later duplicates are not standard).
    pub fn ttl(&self) -> Option<u16> {
        self.find(|t| match t {
            LldpTlv::Ttl(s) => Some(*s),
            _ => None,
        })
    }

    pub fn port_description(&self) -> Option<String> {
        self.find(|t| match t {
            LldpTlv::PortDescription(s) => Some(printable(s.as_bytes())),
            _ => None,
        })
    }

    pub fn system_name(&self) -> Option<String> {
        self.find(|t| match t {
            LldpTlv::SystemName(s) => Some(printable(s.as_bytes())),
            _ => None,
        })
    }

    pub fn system_description(&self) -> Option<String> {
        self.find(|t| match t {
            LldpTlv::SystemDescription(s) => Some(printable(s.as_bytes())),
            _ => None,
        })
    }

    pub fn capabilities(&self) -> Option<SystemCapabilities> {
        self.find(|t| match t {
            LldpTlv::Capabilities(c) => Some(*c),
            _ => None,
        })
    }

    pub fn mgmt_addresses(&self) -> Vec<&MgmtAddress> {
        self.tlvs
            .iter()
            .filter_map(|t| match t {
                LldpTlv::MgmtAddress(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// The first IPv4 management address (what L2 traceroute uses as `NBR_IP`).
    pub fn mgmt_ipv4(&self) -> Option<Ipv4Addr> {
        self.mgmt_addresses().iter().find_map(|m| match m.ip() {
            Some(IpAddr::V4(a)) => Some(a),
            _ => None,
        })
    }

    pub fn port_vlan_id(&self) -> Option<u16> {
        self.find(|t| match t {
            LldpTlv::PortVlanId(v) => Some(*v),
            _ => None,
        })
    }

    /// An owned copy that [`LldpRepr::emit`] turns back into the same bytes.
    pub fn to_repr(&self) -> LldpRepr {
        LldpRepr {
            tlvs: self.tlvs.clone(),
        }
    }
}

impl fmt::Display for Lldp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LLDP")?;
        if let Some(c) = self.chassis_id() {
            write!(f, " chassis {c}")?;
        }
        if let Some(p) = self.port_id() {
            write!(f, " port {p}")?;
        }
        if let Some(t) = self.ttl() {
            write!(f, " ttl {t}")?;
        }
        if let Some(n) = self.system_name() {
            write!(f, " name {n}")?;
        }
        if let Some(ip) = self.mgmt_ipv4() {
            write!(f, " ip {ip}")?;
        }
        if let Some(e) = &self.error {
            write!(f, " [{e}]")?;
        }
        Ok(())
    }
}

/// An owned LLDPDU to send; TLVs are written in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LldpRepr {
    pub tlvs: Vec<LldpTlv>,
}

impl LldpRepr {
    /// The mandatory TLVs: a MAC chassis ID, an interface-name port ID, the TTL, End.
    /// Add optional TLVs with [`LldpRepr::with`].
    pub fn new(chassis_mac: Mac, port_name: &str, ttl: u16) -> Self {
        LldpRepr {
            tlvs: vec![
                LldpTlv::ChassisId(LldpId {
                    subtype: chassis_subtype::MAC_ADDRESS,
                    value: chassis_mac.octets().to_vec(),
                }),
                LldpTlv::PortId(LldpId {
                    subtype: port_subtype::INTERFACE_NAME,
                    value: port_name.as_bytes().to_vec(),
                }),
                LldpTlv::Ttl(ttl),
                LldpTlv::End,
            ],
        }
    }

    /// Add a TLV before a trailing End TLV (or at the end when there is none).
    #[must_use]
    pub fn with(mut self, tlv: LldpTlv) -> Self {
        let at = match self.tlvs.last() {
            Some(LldpTlv::End) => self.tlvs.len() - 1,
            _ => self.tlvs.len(),
        };
        self.tlvs.insert(at, tlv);
        self
    }

    /// A management-address TLV for an IP address with an ifIndex.
    pub fn mgmt_ip(ip: IpAddr, if_index: u32) -> LldpTlv {
        let (family, address) = match ip {
            IpAddr::V4(a) => (AF_IPV4, a.octets().to_vec()),
            IpAddr::V6(a) => (AF_IPV6, a.octets().to_vec()),
        };
        LldpTlv::MgmtAddress(MgmtAddress {
            family,
            address,
            interface_subtype: 2,
            interface_number: if_index,
            oid: Vec::new(),
        })
    }

    /// Encode. Values longer than 511 bytes are cut to fit the 9-bit length; a type
    /// above 127 keeps its low 7 bits.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for tlv in &self.tlvs {
            let (t, value) = encode_tlv(tlv);
            let value = value.get(..MAX_VALUE_LEN).unwrap_or(&value);
            let header = (u16::from(t & 0x7F) << 9) | value.len() as u16;
            out.extend_from_slice(&header.to_be_bytes());
            out.extend_from_slice(value);
        }
        out
    }
}

fn encode_tlv(tlv: &LldpTlv) -> (u8, Vec<u8>) {
    use tlv_type::*;
    let id = |i: &LldpId| {
        let mut v = vec![i.subtype];
        v.extend_from_slice(&i.value);
        v
    };
    match tlv {
        LldpTlv::End => (END, Vec::new()),
        LldpTlv::ChassisId(i) => (CHASSIS_ID, id(i)),
        LldpTlv::PortId(i) => (PORT_ID, id(i)),
        LldpTlv::Ttl(t) => (TTL, t.to_be_bytes().to_vec()),
        LldpTlv::PortDescription(s) => (PORT_DESCRIPTION, s.as_bytes().to_vec()),
        LldpTlv::SystemName(s) => (SYSTEM_NAME, s.as_bytes().to_vec()),
        LldpTlv::SystemDescription(s) => (SYSTEM_DESCRIPTION, s.as_bytes().to_vec()),
        LldpTlv::Capabilities(c) => {
            let mut v = c.supported.to_be_bytes().to_vec();
            v.extend_from_slice(&c.enabled.to_be_bytes());
            (CAPABILITIES, v)
        }
        LldpTlv::MgmtAddress(m) => {
            // The length byte covers the family byte too, so 254 address bytes at most.
            let address = m.address.get(..254).unwrap_or(&m.address);
            let oid = m.oid.get(..255).unwrap_or(&m.oid);
            let mut v = vec![address.len() as u8 + 1, m.family];
            v.extend_from_slice(address);
            v.push(m.interface_subtype);
            v.extend_from_slice(&m.interface_number.to_be_bytes());
            v.push(oid.len() as u8);
            v.extend_from_slice(oid);
            (MGMT_ADDRESS, v)
        }
        LldpTlv::PortVlanId(vid) => {
            let mut v = OUI_IEEE_8021.to_vec();
            v.push(1);
            v.extend_from_slice(&vid.to_be_bytes());
            (ORG_SPECIFIC, v)
        }
        LldpTlv::OrgSpecific { oui, subtype, info } => {
            let mut v = oui.to_vec();
            v.push(*subtype);
            v.extend_from_slice(info);
            (ORG_SPECIFIC, v)
        }
        LldpTlv::Other { tlv_type, value } => (*tlv_type, value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::testutil::hex;

    // Real LLDPDUs (after EtherType 0x88CC) from the captures in /work/shared/pcaps.
    /// cdp/tcpdump__LLDP_and_CDP.pcap frame 3: Catalyst 3560 "S2".
    const S2_3560: &str = "02070400192fa7b28d040d0155706c696e6b20746f205331060200780a0c53322e636973636f2e636f6d0cbe436973636f20494f5320536f6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b392d4d292c2056657273696f6e2031322e322834342953452c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205361742030352d4a616e2d30382030303a3135206279207765696c697508134769676162697445746865726e6574302f31330e0400140004fe060080c2010001fe0900120f0103c03600100000";
    /// cdp/tcpdump__LLDP_and_CDP.pcap frame 4: Catalyst 3560 "S1".
    const S1_3560: &str = "0207040018ba98688f0407074661302f3133060200780a0c53312e636973636f2e636f6d0cbe436973636f20494f5320536f6674776172652c20433335363020536f667477617265202843333536302d414456495053455256494345534b392d4d292c2056657273696f6e2031322e322834342953452c2052454c4541534520534f4654574152452028666331290a436f707972696768742028632920313938362d3230303820627920436973636f2053797374656d732c20496e632e0a436f6d70696c6564205361742030352d4a616e2d30382030303a3135206279207765696c697508104661737445746865726e6574302f31330e0400140004fe060080c2010001fe0900120f0103003600100000";
    /// misc/arkime__wireshark-lldp.pcap frame 1: Extreme switch, duplicate TTLs, End, padding.
    const EXTREME_PADDED: &str = "0207040004961fa726040405312f33060200780602000106020002060200030000ffffffffffffffffffffffffffffffaabb";
    /// misc/arkime__wireshark-lldp.pcap frame 2: Extreme Summit300-48 with 802.1/802.3 TLVs.
    const SUMMIT300: &str = "020704000130f9ada0040405312f3106020078081753756d6d69743330302d34382d506f72742031303031000a0d53756d6d69743330302d3438000c4c53756d6d69743330302d3438202d2056657273696f6e20372e34652e3120284275696c642035292062792052656c656173655f4d61737465722030352f32372f30352030343a35333a3131000e0400140014100e0706000130f9ada002000003e900fe0700120f02070100fe0900120f01036c000010fe0900120f030100000000fe0600120f0405f2fe060080c20101e8fe070080c202010000fe170080c20301e81076322d303438382d30332d3035303500fe050080c204000000";
    /// misc/arkime__wireshark-lldp.pcap frame 3: HP ProCurve 2600 with LLDP-MED TLVs.
    const PROCURVE: &str = "02070400132157ca4004020731060200780801310a1a50726f43757276652053776974636820323630302d382d5057520c5f50726f4375727665204a38373632412053776974636820323630302d382d5057522c207265766973696f6e20482e30382e38392c20524f4d20482e30382e355820282f73772f636f64652f6275696c642f666973682874735f30385f3529290e0400140004100c05010fff7a94020000000000fe0900120f01036c000010fe070012bb01000f04fe080012bb02014065aefe2e0012bb030228025553010243410309526f736576696c6c650609466f6f7468696c6c731304383030301a0352334cfe070012bb040300410000";

    #[test]
    fn cisco_3560_lldp_fields_match_tshark() {
        let pdu = hex(S2_3560);
        let lldp = parse(&pdu).unwrap();
        assert_eq!(lldp.error, None);
        assert_eq!(lldp.chassis_id(), Some("00:19:2f:a7:b2:8d".to_string()));
        assert_eq!(lldp.chassis_id_raw().unwrap().subtype, 4);
        assert_eq!(lldp.port_id(), Some("Uplink to S1".to_string()));
        assert_eq!(
            lldp.port_id_raw().unwrap().subtype,
            port_subtype::INTERFACE_ALIAS
        );
        assert_eq!(lldp.ttl(), Some(120));
        assert_eq!(lldp.system_name().as_deref(), Some("S2.cisco.com"));
        assert_eq!(
            lldp.port_description().as_deref(),
            Some("GigabitEthernet0/13")
        );
        assert!(lldp
            .system_description()
            .unwrap()
            .starts_with("Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M)"));
        let caps = lldp.capabilities().unwrap();
        assert_eq!((caps.supported, caps.enabled), (0x0014, 0x0004));
        assert_eq!(
            SystemCapabilities::names(caps.supported),
            ["bridge", "router"]
        );
        assert_eq!(lldp.port_vlan_id(), Some(1));
        assert!(lldp.tlvs.contains(&LldpTlv::OrgSpecific {
            oui: OUI_IEEE_8023,
            subtype: 1,
            info: vec![0x03, 0xc0, 0x36, 0x00, 0x10],
        }));
        assert_eq!(lldp.tlvs.last(), Some(&LldpTlv::End));
        assert_eq!(
            lldp.to_string(),
            "LLDP chassis 00:19:2f:a7:b2:8d port Uplink to S1 ttl 120 name S2.cisco.com"
        );
    }

    #[test]
    fn extreme_summit_with_management_address_and_8021_tlvs() {
        let pdu = hex(SUMMIT300);
        let lldp = parse(&pdu).unwrap();
        assert_eq!(lldp.error, None);
        assert_eq!(lldp.port_id().as_deref(), Some("1/1"));
        // The port description carries a trailing NUL on the wire.
        assert_eq!(
            lldp.port_description().as_deref(),
            Some("Summit300-48-Port 1001")
        );
        assert_eq!(lldp.system_name().as_deref(), Some("Summit300-48"));
        let m = lldp.mgmt_addresses();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].family, 6);
        assert_eq!(m[0].to_string(), "00:01:30:f9:ad:a0");
        assert_eq!((m[0].interface_subtype, m[0].interface_number), (2, 1001));
        assert_eq!(lldp.port_vlan_id(), Some(488));
        assert_eq!(lldp.mgmt_ipv4(), None);
    }

    #[test]
    fn procurve_network_address_chassis_and_ipv4_management() {
        let pdu = hex(PROCURVE);
        let lldp = parse(&pdu).unwrap();
        assert_eq!(lldp.error, None);
        assert_eq!(lldp.chassis_id().as_deref(), Some("00:13:21:57:ca:40"));
        assert_eq!(lldp.port_id().as_deref(), Some("1"));
        assert_eq!(lldp.mgmt_ipv4(), Some(Ipv4Addr::new(15, 255, 122, 148)));
    }

    #[test]
    fn decoding_stops_at_end_and_ignores_padding() {
        // Extreme frame with three extra TTL TLVs, End, then 0xff padding.
        let pdu = hex(EXTREME_PADDED);
        let lldp = parse(&pdu).unwrap();
        assert_eq!(lldp.error, None);
        assert_eq!(lldp.ttl(), Some(120));
        assert_eq!(lldp.tlvs.len(), 7);
        assert_eq!(lldp.tlvs.last(), Some(&LldpTlv::End));
        let reencoded = lldp.to_repr().emit();
        assert_eq!(reencoded, pdu[..reencoded.len()]);
        assert!(pdu[reencoded.len()..]
            .iter()
            .all(|&b| b == 0xff || b == 0xaa || b == 0xbb));
    }

    #[test]
    fn real_pdus_reencode_byte_for_byte() {
        for h in [S2_3560, S1_3560, SUMMIT300, PROCURVE] {
            let pdu = hex(h);
            let lldp = parse(&pdu).unwrap();
            assert_eq!(lldp.to_repr().emit(), pdu);
        }
    }

    #[test]
    fn built_pdu_round_trips() {
        let repr = LldpRepr::new(Mac([2, 0, 0, 0, 0, 1]), "eth0", 120)
            .with(LldpTlv::SystemName("lab-sw1".into()))
            .with(LldpTlv::Capabilities(SystemCapabilities {
                supported: SystemCapabilities::BRIDGE,
                enabled: SystemCapabilities::BRIDGE,
            }))
            .with(LldpRepr::mgmt_ip("10.0.0.1".parse().unwrap(), 3))
            .with(LldpTlv::PortVlanId(10));
        let bytes = repr.emit();
        let lldp = parse(&bytes).unwrap();
        assert_eq!(lldp.error, None);
        assert_eq!(lldp.to_repr(), repr);
        assert_eq!(lldp.chassis_id().as_deref(), Some("02:00:00:00:00:01"));
        assert_eq!(lldp.port_id().as_deref(), Some("eth0"));
        assert_eq!(lldp.mgmt_ipv4(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(lldp.port_vlan_id(), Some(10));
        assert_eq!(bytes[..2], [0x02, 0x07]);
        assert_eq!(bytes[bytes.len() - 2..], [0, 0]);
    }

    #[test]
    fn every_truncation_is_reported_at_the_cut_tlv() {
        let pdu = hex(S2_3560);
        let full = parse(&pdu).unwrap();
        let mut starts = vec![0];
        for t in &full.tlvs {
            let (_, v) = encode_tlv(t);
            starts.push(starts.last().unwrap() + TLV_HEADER_LEN + v.len());
        }
        for len in 0..pdu.len() {
            match parse(&pdu[..len]) {
                Err(e) => {
                    assert!(len < 2);
                    assert_eq!(e.offset, 0);
                }
                Ok(lldp) => {
                    let complete = starts.iter().filter(|&&s| s <= len).count() - 1;
                    assert_eq!(lldp.tlvs.len(), complete, "len {len}");
                    match lldp.error {
                        None => assert!(starts.contains(&len), "len {len}"),
                        Some(e) => {
                            assert_eq!(e.offset, starts[complete], "len {len}");
                            assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
                        }
                    }
                    let _ = lldp.to_string();
                }
            }
        }
    }

    #[test]
    fn malformed_management_address_is_kept_raw() {
        // Address length 5 claims IPv4, but the TLV ends right after the address.
        let pdu = hex("0207040200000000010403053130100605010a0000010000");
        let lldp = parse(&pdu).unwrap();
        assert!(matches!(lldp.tlvs[2], LldpTlv::Other { tlv_type: 8, .. }));
        assert_eq!(lldp.tlvs.last(), Some(&LldpTlv::End));
        let e = lldp.error.unwrap();
        assert_eq!(e.offset, 16 + 6);
    }
}
