//! Link layers: the capture's link type, Ethernet II, 802.3 + LLC/SNAP, 802.1Q/802.1ad
//! tags, Linux cooked captures (SLL, SLL2), BSD null/loopback, Cisco HDLC and PPP.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacParseError {
    /// Separated notation with the wrong number of parts (5 or 7 octets, ...).
    WrongOctetCount(usize),
    /// Unseparated notation that is not 12 hex digits.
    WrongDigitCount(usize),
    /// Cisco dotted notation that is not three groups of four hex digits.
    BadDottedGroups,
    /// A part that is empty, too long, or holds a non-hex character.
    BadHex(String),
}

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MacParseError::WrongOctetCount(n) => write!(f, "{n} octets, a MAC has 6"),
            MacParseError::WrongDigitCount(n) => write!(f, "{n} hex digits, a MAC has 12"),
            MacParseError::BadDottedGroups => {
                f.write_str("dotted notation needs three groups of four hex digits")
            }
            MacParseError::BadHex(part) => write!(f, "'{part}' is not a hex octet"),
        }
    }
}

impl std::error::Error for MacParseError {}

impl FromStr for Mac {
    type Err = MacParseError;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` (one or two digits per octet),
    /// Cisco's `aabb.ccdd.eeff` and plain `aabbccddeeff`, in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let sep = if s.contains(':') {
            Some(':')
        } else if s.contains('-') {
            Some('-')
        } else {
            None
        };
        if let Some(sep) = sep {
            let parts: Vec<&str> = s.split(sep).collect();
            if parts.len() != 6 {
                return Err(MacParseError::WrongOctetCount(parts.len()));
            }
            let mut out = [0u8; 6];
            for (slot, part) in out.iter_mut().zip(parts) {
                *slot = hex_octet(part)?;
            }
            return Ok(Mac(out));
        }
        if s.contains('.') {
            let groups: Vec<&str> = s.split('.').collect();
            if groups.len() != 3 || groups.iter().any(|g| g.len() != 4) {
                return Err(MacParseError::BadDottedGroups);
            }
            return plain_hex(&groups.concat());
        }
        plain_hex(s)
    }
}

fn hex_octet(part: &str) -> Result<u8, MacParseError> {
    if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MacParseError::BadHex(part.to_string()));
    }
    u8::from_str_radix(part, 16).map_err(|_| MacParseError::BadHex(part.to_string()))
}

fn plain_hex(s: &str) -> Result<Mac, MacParseError> {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MacParseError::BadHex(s.to_string()));
    }
    if s.len() != 12 {
        return Err(MacParseError::WrongDigitCount(s.len()));
    }
    let mut out = [0u8; 6];
    for (i, slot) in out.iter_mut().enumerate() {
        let pair = s.get(2 * i..2 * i + 2).unwrap_or("");
        *slot = hex_octet(pair)?;
    }
    Ok(Mac(out))
}

/// Link-layer header types as pcap/pcapng files number them (tcpdump.org linktypes).
pub mod linktype {
    pub const NULL: u16 = 0;
    pub const ETHERNET: u16 = 1;
    pub const PPP: u16 = 9;
    /// OpenBSD's DLT_RAW value, seen in old files.
    pub const RAW_OPENBSD: u16 = 14;
    pub const PPP_HDLC: u16 = 50;
    pub const RAW: u16 = 101;
    pub const C_HDLC: u16 = 104;
    pub const LOOP: u16 = 108;
    pub const LINUX_SLL: u16 = 113;
    pub const IPV4: u16 = 228;
    pub const IPV6: u16 = 229;
    pub const LINUX_SLL2: u16 = 276;
    /// BSD/OS and some others wrote DLT_RAW as 12.
    pub const RAW_BSDOS: u16 = 12;

    /// The short name Wireshark's capinfos uses, for the `capture.linktype` field.
    pub fn name(lt: u16) -> &'static str {
        match lt {
            NULL => "null",
            ETHERNET => "ether",
            PPP => "ppp",
            PPP_HDLC => "ppp-hdlc",
            RAW | RAW_OPENBSD | RAW_BSDOS => "rawip",
            C_HDLC => "chdlc",
            LOOP => "loop",
            LINUX_SLL => "linux-sll",
            IPV4 => "rawip4",
            IPV6 => "rawip6",
            LINUX_SLL2 => "linux-sll2",
            _ => "unknown",
        }
    }
}

/// EtherTypes this dissector dispatches on.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ tag types some vendors still send.
    pub const QINQ_OLD1: u16 = 0x9100;
    pub const QINQ_OLD2: u16 = 0x9200;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MCAST: u16 = 0x8848;
    pub const PPPOE_DISCOVERY: u16 = 0x8863;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const LLDP: u16 = 0x88cc;
    /// Transparent Ethernet bridging: an Ethernet frame follows (GRE, Geneve).
    pub const TEB: u16 = 0x6558;
    pub const ERSPAN_II: u16 = 0x88be;
    pub const ERSPAN_III: u16 = 0x22eb;
    pub const PPP: u16 = 0x880b;
    pub const WCCP: u16 = 0x883e;
    pub const CISCO_CDP: u16 = 0x2000;
    pub const CISCO_SLARP: u16 = 0x8035;
    pub const CISCO_METADATA: u16 = 0x8909;
}

/// A MAC address, printed as `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    pub const fn new(bytes: [u8; 6]) -> Self {
        Mac(bytes)
    }

    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// The I/G bit: set on group (multicast and broadcast) addresses.
    pub fn is_group(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub fn is_multicast(&self) -> bool {
        self.is_group()
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
}

impl From<[u8; 6]> for Mac {
    fn from(bytes: [u8; 6]) -> Self {
        Mac(bytes)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl Mac {
    /// Cisco's dotted notation, `aabb.ccdd.eeff`, as IOS prints MACs.
    pub fn dotted(&self) -> String {
        let o = self.0;
        format!(
            "{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ethernet {
    pub dst: Mac,
    pub src: Mac,
    /// EtherType, or the 802.3 length when <= 1500 (then an [`Llc`] layer follows).
    pub ethertype: u16,
}

/// IEEE 802.2 LLC header, with the SNAP extension when DSAP/SSAP are 0xAA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Llc {
    pub dsap: u8,
    pub ssap: u8,
    pub control: u8,
    pub snap: Option<Snap>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Snap {
    pub oui: u32,
    pub pid: u16,
}

/// One 802.1Q (or 802.1ad / pre-standard QinQ) tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Vlan {
    /// The tag protocol identifier that announced this tag (0x8100, 0x88a8, ...).
    pub tpid: u16,
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
    /// EtherType (or 802.3 length) after the tag.
    pub ethertype: u16,
}

/// Linux "cooked" capture header, version 1 (16 bytes) or 2 (20 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sll {
    pub version: u8,
    pub packet_type: u16,
    pub arphrd: u16,
    pub addr: [u8; 8],
    pub addr_len: u8,
    pub protocol: u16,
    /// SLL2 only: the interface index the packet was captured on.
    pub ifindex: Option<u32>,
}

/// BSD loopback: a 4-byte address family, host byte order (NULL) or network (LOOP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Null {
    pub family: u32,
}

/// Cisco HDLC: address, control, protocol (an EtherType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CiscoHdlc {
    pub address: u8,
    pub protocol: u16,
}

/// PPP: protocol field (after optional FF 03 address/control).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ppp {
    pub protocol: u16,
}

/// PPPoE header (RFC 2516).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pppoe {
    pub code: u8,
    pub session: u16,
    pub length: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Mac, MacParseError> {
        s.parse()
    }

    #[test]
    fn mac_notations() {
        let want = Mac([0x01, 0x00, 0x5e, 0x00, 0x00, 0x05]);
        for s in [
            "01:00:5e:00:00:05",
            "01-00-5E-00-00-05",
            "0100.5e00.0005",
            "01005e000005",
            " 1:0:5e:0:0:5 ",
        ] {
            assert_eq!(parse(s), Ok(want), "{s}");
        }
        assert_eq!(want.to_string(), "01:00:5e:00:00:05");
        assert_eq!(
            parse("01:00:5e:00:05"),
            Err(MacParseError::WrongOctetCount(5))
        );
        assert_eq!(
            parse("01:00:5e:00:00:05:07"),
            Err(MacParseError::WrongOctetCount(7))
        );
        assert_eq!(
            parse("01005e00000"),
            Err(MacParseError::WrongDigitCount(11))
        );
        assert_eq!(parse("0100.5e00.005"), Err(MacParseError::BadDottedGroups));
        assert_eq!(
            parse("01:00:5g:00:00:05"),
            Err(MacParseError::BadHex("5g".into()))
        );
        assert_eq!(
            parse("01:00:5e:00:00:005"),
            Err(MacParseError::BadHex("005".into()))
        );
        assert_eq!(parse(""), Err(MacParseError::WrongDigitCount(0)));
        assert_eq!(
            parse("01:00-5e:00:00:05"),
            Err(MacParseError::WrongOctetCount(5))
        );
        assert!(parse("é1005e000005").is_err());
    }
}
