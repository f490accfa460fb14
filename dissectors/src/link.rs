//! Link layers: the capture's link type, Ethernet II, 802.3 + LLC/SNAP, 802.1Q/802.1ad
//! tags, Linux cooked captures (SLL, SLL2), BSD null/loopback, Cisco HDLC and PPP.

use serde::Serialize;
use std::fmt;

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
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
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
