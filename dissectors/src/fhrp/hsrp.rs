//! Cisco Hot Standby Router Protocol.
//!
//! * HSRPv1 (RFC 2281): UDP 1985 to 224.0.0.2, a fixed 20-byte message starting with
//!   version 0: op code, state, hello/hold time in seconds, priority, group, 8 bytes of
//!   plain-text authentication, virtual IPv4. Op code 3 (Advertise) instead carries an
//!   interface-state record.
//! * HSRPv2: UDP 1985 to 224.0.0.102, a sequence of TLVs (type, length of the value):
//!   1 Group State (40 bytes), 2 Interface State, 3 Text Authentication, 4 MD5
//!   Authentication.
//! * HSRP for IPv6: UDP 2029 to ff02::66, the v2 TLV format with IP version 6.
//!
//! The two formats are told apart by the first byte: 0 is the v1 version field, while
//! a v2 message starts with a TLV type (1 to 4).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use crate::l2ctl::{printable, ser};
use crate::link::Mac;

const LAYER: &str = "hsrp";
pub const PORT: u16 = 1985;
pub const PORT_IPV6: u16 = 2029;
const V1_LEN: usize = 20;
const GROUP_STATE_LEN: usize = 40;

/// Which HSRP flavour the message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HsrpVersion {
    V1,
    V2,
    /// HSRP for IPv6 (v2 format on UDP 2029).
    V2Ipv6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpCode {
    Hello,
    Coup,
    Resign,
    Advertise,
    Unknown(u8),
}

impl From<u8> for OpCode {
    fn from(v: u8) -> Self {
        match v {
            0 => OpCode::Hello,
            1 => OpCode::Coup,
            2 => OpCode::Resign,
            3 => OpCode::Advertise,
            n => OpCode::Unknown(n),
        }
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpCode::Hello => f.write_str("Hello"),
            OpCode::Coup => f.write_str("Coup"),
            OpCode::Resign => f.write_str("Resign"),
            OpCode::Advertise => f.write_str("Advertise"),
            OpCode::Unknown(n) => write!(f, "OpCode{n}"),
        }
    }
}

/// Group state. v1 encodes it as bit values (0, 1, 2, 4, 8, 16), v2 as 0–6; both map
/// here, and `Unknown` keeps the raw byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Disabled,
    Initial,
    Learn,
    Listen,
    Speak,
    Standby,
    Active,
    Unknown(u8),
}

impl State {
    fn from_v1(v: u8) -> Self {
        match v {
            0 => State::Initial,
            1 => State::Learn,
            2 => State::Listen,
            4 => State::Speak,
            8 => State::Standby,
            16 => State::Active,
            n => State::Unknown(n),
        }
    }

    fn from_v2(v: u8) -> Self {
        match v {
            0 => State::Disabled,
            1 => State::Initial,
            2 => State::Learn,
            3 => State::Listen,
            4 => State::Speak,
            5 => State::Standby,
            6 => State::Active,
            n => State::Unknown(n),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Disabled => f.write_str("Disabled"),
            State::Initial => f.write_str("Initial"),
            State::Learn => f.write_str("Learn"),
            State::Listen => f.write_str("Listen"),
            State::Speak => f.write_str("Speak"),
            State::Standby => f.write_str("Standby"),
            State::Active => f.write_str("Active"),
            State::Unknown(n) => write!(f, "State{n}"),
        }
    }
}

/// One group's hello/coup/resign: the whole v1 message, or a v2 Group State TLV.
/// Timers are in milliseconds for both versions (v1 sends seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupState {
    pub op_code: OpCode,
    pub state: State,
    pub group: u16,
    pub priority: u32,
    pub hello_ms: u32,
    pub hold_ms: u32,
    pub virtual_ip: IpAddr,
    /// v2 only: the sender's interface MAC (its "identifier").
    pub identifier: Option<Mac>,
}

impl GroupState {
    /// The virtual MAC this group uses unless configured otherwise:
    /// `00:00:0c:07:ac:XX` (v1), `00:00:0c:9f:fX:XX` (v2), `00:05:73:a0:0X:XX` (IPv6).
    pub fn default_virtual_mac(&self, version: HsrpVersion) -> Mac {
        let [hi, lo] = self.group.to_be_bytes();
        match version {
            HsrpVersion::V1 => Mac([0x00, 0x00, 0x0c, 0x07, 0xac, lo]),
            HsrpVersion::V2 => Mac([0x00, 0x00, 0x0c, 0x9f, 0xf0 | (hi & 0x0f), lo]),
            HsrpVersion::V2Ipv6 => Mac([0x00, 0x05, 0x73, 0xa0, hi & 0x0f, lo]),
        }
    }
}

/// Counts of active and passive groups on the interface (v1 Advertise, v2 TLV 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InterfaceState {
    pub active_groups: u16,
    pub passive_groups: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth<'a> {
    /// Plain-text key, 8 bytes NUL-padded (Cisco's default is `cisco`).
    Text(#[serde(serialize_with = "ser::padded")] &'a [u8]),
    Md5 {
        algorithm: u8,
        flags: u16,
        sender_ip: Ipv4Addr,
        key_id: u32,
        #[serde(serialize_with = "ser::hex")]
        digest: &'a [u8],
    },
}

/// A decoded HSRP message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hsrp<'a> {
    pub version: HsrpVersion,
    /// Usually one; v2 allows several Group State TLVs in one datagram.
    pub groups: Vec<GroupState>,
    pub interface_state: Option<InterfaceState>,
    pub auth: Option<Auth<'a>>,
    /// v2 TLVs of unknown type, kept as (type, value).
    #[serde(skip)]
    pub other_tlvs: Vec<(u8, &'a [u8])>,
    #[serde(serialize_with = "ser::opt_error")]
    pub error: Option<DecodeError>,
}

/// Decode an HSRP UDP payload. `udp_port` is the HSRP port the datagram used (1985 or
/// 2029); 2029 marks HSRP for IPv6. Fails only on an empty payload or an unknown first
/// byte; a message cut short keeps what decoded plus `error`.
pub fn parse(payload: &[u8], udp_port: u16) -> Result<Hsrp<'_>> {
    let first = *payload
        .first()
        .ok_or_else(|| DecodeError::truncated(LAYER, 0, 1, 0))?;
    let mut hsrp = Hsrp {
        version: HsrpVersion::V1,
        groups: Vec::new(),
        interface_state: None,
        auth: None,
        other_tlvs: Vec::new(),
        error: None,
    };
    match first {
        0 => {
            if let Err(e) = parse_v1(payload, &mut hsrp) {
                hsrp.error = Some(e);
            }
        }
        1..=4 => {
            hsrp.version = if udp_port == PORT_IPV6 {
                HsrpVersion::V2Ipv6
            } else {
                HsrpVersion::V2
            };
            parse_v2(payload, &mut hsrp);
        }
        _ => {
            return Err(DecodeError::invalid(
                LAYER,
                0,
                "neither HSRPv1 nor a v2 TLV",
            ))
        }
    }
    Ok(hsrp)
}

fn parse_v1<'a>(payload: &'a [u8], hsrp: &mut Hsrp<'a>) -> Result<()> {
    let mut c = Cursor::new(LAYER, payload);
    c.skip(1)?;
    let op_code = OpCode::from(c.u8()?);
    if op_code == OpCode::Advertise {
        // Advertise: type (u16), length (u16), state, reserved, active, passive, reserved.
        c.skip(6)?;
        hsrp.interface_state = Some(InterfaceState {
            active_groups: c.u16()?,
            passive_groups: c.u16()?,
        });
        return Ok(());
    }
    if payload.len() < V1_LEN {
        return Err(DecodeError::truncated(LAYER, 0, V1_LEN, payload.len()));
    }
    let state = State::from_v1(c.u8()?);
    let hello = c.u8()?;
    let hold = c.u8()?;
    let priority = c.u8()?;
    let group = c.u8()?;
    c.skip(1)?;
    hsrp.auth = Some(Auth::Text(c.take(8)?));
    let virtual_ip = IpAddr::V4(Ipv4Addr::from(c.array::<4>()?));
    hsrp.groups.push(GroupState {
        op_code,
        state,
        group: u16::from(group),
        priority: u32::from(priority),
        hello_ms: u32::from(hello) * 1000,
        hold_ms: u32::from(hold) * 1000,
        virtual_ip,
        identifier: None,
    });
    Ok(())
}

fn parse_v2<'a>(payload: &'a [u8], hsrp: &mut Hsrp<'a>) {
    let mut c = Cursor::new(LAYER, payload);
    while !c.is_empty() {
        let start = c.pos();
        let header = c.u8().and_then(|t| Ok((t, c.u8()?)));
        let Ok((tlv_type, len)) = header else {
            hsrp.error = Some(DecodeError::truncated(
                LAYER,
                start,
                2,
                payload.len() - start,
            ));
            return;
        };
        let Ok(value) = c.take(usize::from(len)) else {
            hsrp.error = Some(DecodeError::truncated(
                LAYER,
                start,
                2 + usize::from(len),
                payload.len() - start,
            ));
            return;
        };
        if let Err(e) = decode_v2_tlv(tlv_type, value, hsrp) {
            hsrp.error.get_or_insert(e.at(start + 2));
        }
    }
}

fn decode_v2_tlv<'a>(tlv_type: u8, value: &'a [u8], hsrp: &mut Hsrp<'a>) -> Result<()> {
    let mut c = Cursor::new(LAYER, value);
    match tlv_type {
        1 => {
            if value.len() < GROUP_STATE_LEN {
                return Err(DecodeError::truncated(
                    LAYER,
                    0,
                    GROUP_STATE_LEN,
                    value.len(),
                ));
            }
            let _version = c.u8()?;
            let op_code = OpCode::from(c.u8()?);
            let state = State::from_v2(c.u8()?);
            let ip_version = c.u8()?;
            let group = c.u16()?;
            let identifier = Mac(c.array()?);
            let priority = c.u32()?;
            let hello_ms = c.u32()?;
            let hold_ms = c.u32()?;
            let vip = c.array::<16>()?;
            let virtual_ip = if ip_version == 6 {
                IpAddr::V6(Ipv6Addr::from(vip))
            } else {
                let [a, b, cc, d, ..] = vip;
                IpAddr::V4(Ipv4Addr::new(a, b, cc, d))
            };
            hsrp.groups.push(GroupState {
                op_code,
                state,
                group,
                priority,
                hello_ms,
                hold_ms,
                virtual_ip,
                identifier: Some(identifier),
            });
        }
        2 => {
            hsrp.interface_state = Some(InterfaceState {
                active_groups: c.u16()?,
                passive_groups: c.u16()?,
            });
        }
        3 => hsrp.auth = Some(Auth::Text(value)),
        4 => {
            let algorithm = c.u8()?;
            c.skip(1)?;
            hsrp.auth = Some(Auth::Md5 {
                algorithm,
                flags: c.u16()?,
                sender_ip: Ipv4Addr::from(c.array::<4>()?),
                key_id: c.u32()?,
                digest: c.rest(),
            });
        }
        t => hsrp.other_tlvs.push((t, value)),
    }
    Ok(())
}

impl Hsrp<'_> {
    /// The plain-text key without its NUL padding, if the message carries one.
    pub fn auth_text(&self) -> Option<String> {
        match &self.auth {
            Some(Auth::Text(t)) => Some(printable(t)),
            _ => None,
        }
    }
}

impl fmt::Display for Hsrp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.version {
            HsrpVersion::V1 => "HSRPv1",
            HsrpVersion::V2 => "HSRPv2",
            HsrpVersion::V2Ipv6 => "HSRPv2 IPv6",
        })?;
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(
                f,
                " {} group {} {} prio {} vip {}",
                g.op_code, g.group, g.state, g.priority, g.virtual_ip
            )?;
        }
        if let Some(s) = self.interface_state {
            if self.groups.is_empty() {
                f.write_str(if self.version == HsrpVersion::V1 {
                    " Advertise"
                } else {
                    " Interface State"
                })?;
            }
            write!(
                f,
                " active {} passive {}",
                s.active_groups, s.passive_groups
            )?;
        }
        if let Some(Auth::Md5 { .. }) = self.auth {
            f.write_str(" md5")?;
        }
        if let Some(e) = &self.error {
            write!(f, " [{e}]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::testutil::hex;

    /// fhrp/ndpi__hsrp0.pcap frame 1: HSRPv1 hello, group 10, Active, prio 90.
    const V1_HELLO: &str = "000010030a5a0a00636973636f0000000a1ca8fe";
    /// fhrp/tcpdump__HSRP_coup.pcap frame 22: HSRPv1 coup, group 1, Listen, prio 200.
    const V1_COUP: &str = "000102030ac80100636973636f000000c0a80001";
    /// fhrp/tcpdump__HSRP_coup.pcap frame 8: HSRPv1 advertise (interface state).
    const V1_ADVERTISE: &str = "00030001000e0200000000016f000000";
    /// fhrp/networklessons__hsrpv2-election.pcapng frame 3: HSRPv2 Group State + text auth.
    const V2_HELLO: &str = "0128020004040001aabbcc0002100000009600000bb800002710c0a80cfe0000000000000000000000000308636973636f000000";
    /// fhrp/ndpi__hsrp2_ipv6.pcapng frame 3 (UDP 2029): Group State + MD5 auth.
    const V6_MD5: &str = "0128020004060010aabbcc000120000000690000271000004e20fe80000000000000000573fffea00010041c01000000000000010000000051d1ec51ab34509ab2e33188ca4fee3b";
    /// fhrp/ndpi__hsrp2_ipv6.pcapng frame 1: HSRPv2 Interface State only.
    const V2_IFSTATE: &str = "020400000001";

    #[test]
    fn v1_hello_matches_tshark() {
        let p = hex(V1_HELLO);
        let h = parse(&p, PORT).unwrap();
        assert_eq!(h.version, HsrpVersion::V1);
        assert_eq!(h.error, None);
        let g = &h.groups[0];
        assert_eq!(
            (g.op_code, g.state, g.group, g.priority),
            (OpCode::Hello, State::Active, 10, 90)
        );
        assert_eq!((g.hello_ms, g.hold_ms), (3000, 10000));
        assert_eq!(g.virtual_ip, IpAddr::from([10, 28, 168, 254]));
        assert_eq!(h.auth_text().as_deref(), Some("cisco"));
        assert_eq!(
            g.default_virtual_mac(h.version).to_string(),
            "00:00:0c:07:ac:0a"
        );
        assert_eq!(
            h.to_string(),
            "HSRPv1 Hello group 10 Active prio 90 vip 10.28.168.254"
        );
    }

    #[test]
    fn v1_coup_and_advertise() {
        let p = hex(V1_COUP);
        let h = parse(&p, PORT).unwrap();
        assert_eq!(
            h.to_string(),
            "HSRPv1 Coup group 1 Listen prio 200 vip 192.168.0.1"
        );
        let p = hex(V1_ADVERTISE);
        let h = parse(&p, PORT).unwrap();
        assert!(h.groups.is_empty());
        assert_eq!(
            h.interface_state,
            Some(InterfaceState {
                active_groups: 0,
                passive_groups: 1
            })
        );
        assert_eq!(h.to_string(), "HSRPv1 Advertise active 0 passive 1");
    }

    #[test]
    fn v2_group_state_matches_tshark() {
        let p = hex(V2_HELLO);
        let h = parse(&p, PORT).unwrap();
        assert_eq!(h.version, HsrpVersion::V2);
        assert_eq!(h.error, None);
        let g = &h.groups[0];
        assert_eq!((g.state, g.group, g.priority), (State::Speak, 1, 150));
        assert_eq!((g.hello_ms, g.hold_ms), (3000, 10000));
        assert_eq!(g.identifier, Some(Mac([0xaa, 0xbb, 0xcc, 0, 2, 0x10])));
        assert_eq!(g.virtual_ip, IpAddr::from([192, 168, 12, 254]));
        assert_eq!(h.auth_text().as_deref(), Some("cisco"));
        assert_eq!(
            g.default_virtual_mac(h.version).to_string(),
            "00:00:0c:9f:f0:01"
        );
        assert_eq!(
            h.to_string(),
            "HSRPv2 Hello group 1 Speak prio 150 vip 192.168.12.254"
        );
    }

    #[test]
    fn ipv6_group_with_md5_auth() {
        let p = hex(V6_MD5);
        let h = parse(&p, PORT_IPV6).unwrap();
        assert_eq!(h.version, HsrpVersion::V2Ipv6);
        let g = &h.groups[0];
        assert_eq!(
            (g.group, g.priority, g.hello_ms, g.hold_ms),
            (16, 105, 10000, 20000)
        );
        assert_eq!(
            g.virtual_ip,
            "fe80::5:73ff:fea0:10".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            g.default_virtual_mac(h.version).to_string(),
            "00:05:73:a0:00:10"
        );
        match h.auth {
            Some(Auth::Md5 {
                algorithm,
                sender_ip,
                key_id,
                digest,
                ..
            }) => {
                assert_eq!((algorithm, key_id), (1, 0));
                assert_eq!(sender_ip, Ipv4Addr::new(0, 0, 0, 1));
                assert_eq!(digest, &hex("51d1ec51ab34509ab2e33188ca4fee3b")[..]);
            }
            ref other => panic!("{other:?}"),
        }
        assert!(h.to_string().ends_with(" md5"));
    }

    #[test]
    fn v2_interface_state_only() {
        let p = hex(V2_IFSTATE);
        let h = parse(&p, PORT_IPV6).unwrap();
        assert_eq!(
            h.to_string(),
            "HSRPv2 IPv6 Interface State active 0 passive 1"
        );
    }

    #[test]
    fn every_truncation_is_reported() {
        for (name, msg) in [("v1", V1_HELLO), ("v2", V2_HELLO), ("v6", V6_MD5)] {
            let p = hex(msg);
            for len in 0..p.len() {
                if name != "v1" && len == 2 + GROUP_STATE_LEN {
                    continue; // a TLV boundary, checked below
                }
                match parse(&p[..len], PORT) {
                    Err(e) => assert_eq!((len, e.offset), (0, 0), "{name}"),
                    Ok(h) => {
                        let e = h.error.unwrap_or_else(|| panic!("{name} len {len}"));
                        assert!(e.offset <= len, "{name} len {len}");
                        assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
                        let _ = h.to_string();
                    }
                }
            }
        }
        // A cut at a v2 TLV boundary is a complete, shorter message.
        let p = hex(V2_HELLO);
        let h = parse(&p[..42], PORT).unwrap();
        assert_eq!((h.groups.len(), h.auth, h.error), (1, None, None));
    }

    #[test]
    fn unknown_first_byte_is_rejected() {
        assert!(parse(&[9, 0, 0], PORT).is_err());
    }
}
