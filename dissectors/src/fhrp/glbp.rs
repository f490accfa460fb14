//! Cisco Gateway Load Balancing Protocol (UDP 3222 to 224.0.0.102).
//!
//! GLBP has no public specification; this layout is the one Wireshark's dissector
//! infers, confirmed against the PacketLife election capture. Header (12 bytes):
//! version (1), a byte that is 0 in multicast hellos and 1/2 in unicast
//! request/response exchanges, group (u16), 2 unknown bytes, owner ID (the sender's
//! MAC). Then TLVs of type (1) and length (1, counting the 2-byte header):
//! 1 Hello (virtual gateway state, priority, timers, virtual IP), 2 Request/Response
//! (one virtual forwarder: number, state, priority, weight, virtual MAC), 3 Auth.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use crate::l2ctl::ser;
use crate::link::Mac;

const LAYER: &str = "glbp";
pub const PORT: u16 = 3222;
const HEADER_LEN: usize = 12;
const TLV_HEADER_LEN: usize = 2;

/// Virtual gateway / forwarder state. Only the values seen on the wire are named
/// (Wireshark knows the same four); anything else is kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Listen,
    Speak,
    Standby,
    Active,
    Unknown(u8),
}

impl From<u8> for State {
    fn from(v: u8) -> Self {
        match v {
            0x04 => State::Listen,
            0x08 => State::Speak,
            0x10 => State::Standby,
            0x20 => State::Active,
            n => State::Unknown(n),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Listen => f.write_str("Listen"),
            State::Speak => f.write_str("Speak"),
            State::Standby => f.write_str("Standby"),
            State::Active => f.write_str("Active"),
            State::Unknown(n) => write!(f, "State{n}"),
        }
    }
}

/// Hello TLV: the sender's view of the virtual gateway (AVG election).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hello {
    pub vg_state: State,
    pub priority: u8,
    pub hello_ms: u32,
    pub hold_ms: u32,
    /// Seconds the AVG keeps redirecting to a forwarder that went away.
    pub redirect_s: u16,
    /// Seconds before such a forwarder is dropped.
    pub timeout_s: u16,
    /// The virtual IP (address type 1 = IPv4, 2 = IPv6); `None` for other types.
    pub virtual_ip: Option<IpAddr>,
}

/// Request/Response TLV: one virtual forwarder (AVF) and its virtual MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forwarder {
    /// Forwarder number 1–4 (0 in a request that asks for one).
    pub forwarder: u8,
    pub vf_state: State,
    pub priority: u8,
    pub weight: u8,
    pub virtual_mac: Mac,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GlbpTlv<'a> {
    Hello(Hello),
    Forwarder(Forwarder),
    /// Auth type 0 none, 1 plain text, 2 MD5 string, 3 MD5 chain; data as sent.
    Auth {
        auth_type: u8,
        #[serde(serialize_with = "ser::hex")]
        data: &'a [u8],
    },
    Other {
        tlv_type: u8,
        #[serde(serialize_with = "ser::hex")]
        value: &'a [u8],
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Glbp<'a> {
    pub version: u8,
    /// Byte 1 of the header: 0 in multicast hellos, 1 or 2 in unicast exchanges.
    pub kind: u8,
    pub group: u16,
    /// The sender's MAC address.
    pub owner_id: Mac,
    pub tlvs: Vec<GlbpTlv<'a>>,
    #[serde(serialize_with = "ser::opt_error")]
    pub error: Option<DecodeError>,
}

/// Decode a GLBP UDP payload. Fails only when the 12-byte header is incomplete; a cut
/// or malformed TLV keeps the TLVs before it plus `error`.
pub fn parse(payload: &[u8]) -> Result<Glbp<'_>> {
    if payload.len() < HEADER_LEN {
        return Err(DecodeError::truncated(LAYER, 0, HEADER_LEN, payload.len()));
    }
    let mut c = Cursor::new(LAYER, payload);
    let version = c.u8()?;
    let kind = c.u8()?;
    let group = c.u16()?;
    c.skip(2)?;
    let owner_id = Mac(c.array()?);
    let mut glbp = Glbp {
        version,
        kind,
        group,
        owner_id,
        tlvs: Vec::new(),
        error: None,
    };
    while !c.is_empty() {
        let start = c.pos();
        let header = c.u8().and_then(|t| Ok((t, c.u8()?)));
        let Ok((tlv_type, len)) = header else {
            glbp.error = Some(DecodeError::truncated(
                LAYER,
                start,
                TLV_HEADER_LEN,
                payload.len() - start,
            ));
            break;
        };
        let len = usize::from(len);
        if len < TLV_HEADER_LEN {
            glbp.error = Some(DecodeError::invalid(
                LAYER,
                start + 1,
                "TLV length below the 2-byte header",
            ));
            break;
        }
        let Ok(value) = c.take(len - TLV_HEADER_LEN) else {
            glbp.error = Some(DecodeError::truncated(
                LAYER,
                start,
                len,
                payload.len() - start,
            ));
            break;
        };
        match decode_tlv(tlv_type, value) {
            Ok(t) => glbp.tlvs.push(t),
            Err(e) => {
                glbp.tlvs.push(GlbpTlv::Other { tlv_type, value });
                glbp.error.get_or_insert(e.at(start + TLV_HEADER_LEN));
            }
        }
    }
    Ok(glbp)
}

fn decode_tlv(tlv_type: u8, value: &[u8]) -> Result<GlbpTlv<'_>> {
    let mut c = Cursor::new(LAYER, value);
    let tlv = match tlv_type {
        1 => {
            c.skip(1)?;
            let vg_state = State::from(c.u8()?);
            c.skip(1)?;
            let priority = c.u8()?;
            c.skip(2)?;
            let hello_ms = c.u32()?;
            let hold_ms = c.u32()?;
            let redirect_s = c.u16()?;
            let timeout_s = c.u16()?;
            c.skip(2)?;
            let addr_type = c.u8()?;
            let addr_len = c.u8()?;
            let addr = c.take(usize::from(addr_len))?;
            let virtual_ip = match (addr_type, addr.len()) {
                (1, 4) => Cursor::new(LAYER, addr)
                    .array::<4>()
                    .ok()
                    .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
                (2, 16) => Cursor::new(LAYER, addr)
                    .array::<16>()
                    .ok()
                    .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
                _ => None,
            };
            GlbpTlv::Hello(Hello {
                vg_state,
                priority,
                hello_ms,
                hold_ms,
                redirect_s,
                timeout_s,
                virtual_ip,
            })
        }
        2 => {
            let forwarder = c.u8()?;
            let vf_state = State::from(c.u8()?);
            c.skip(1)?;
            let priority = c.u8()?;
            let weight = c.u8()?;
            c.skip(7)?;
            GlbpTlv::Forwarder(Forwarder {
                forwarder,
                vf_state,
                priority,
                weight,
                virtual_mac: Mac(c.array()?),
            })
        }
        3 => {
            let auth_type = c.u8()?;
            let auth_len = c.u8()?;
            GlbpTlv::Auth {
                auth_type,
                data: c.take(usize::from(auth_len))?,
            }
        }
        _ => GlbpTlv::Other { tlv_type, value },
    };
    Ok(tlv)
}

impl Glbp<'_> {
    pub fn hello(&self) -> Option<&Hello> {
        self.tlvs.iter().find_map(|t| match t {
            GlbpTlv::Hello(h) => Some(h),
            _ => None,
        })
    }

    pub fn forwarders(&self) -> impl Iterator<Item = &Forwarder> {
        self.tlvs.iter().filter_map(|t| match t {
            GlbpTlv::Forwarder(f) => Some(f),
            _ => None,
        })
    }
}

impl fmt::Display for Glbp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GLBP group {}", self.group)?;
        for t in &self.tlvs {
            match t {
                GlbpTlv::Hello(h) => {
                    write!(f, " Hello {} prio {}", h.vg_state, h.priority)?;
                    if let Some(ip) = h.virtual_ip {
                        write!(f, " vip {ip}")?;
                    }
                }
                GlbpTlv::Forwarder(v) => write!(
                    f,
                    " Fwd {} {} weight {} vmac {}",
                    v.forwarder, v.vf_state, v.weight, v.virtual_mac
                )?,
                GlbpTlv::Auth { auth_type, .. } => write!(f, " Auth {auth_type}")?,
                GlbpTlv::Other { tlv_type, .. } => write!(f, " TLV {tlv_type}")?,
            }
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

    /// fhrp/packetlife__GLBP_election.cap frame 38: Hello (AVG Active) + forwarder 1.
    const HELLO_AND_FWD: &str = "010000010000c2007cb80000011c002000c8000000000bb8000027100258384000000104c0a800010214012000a764003840025800000007b4000101";
    /// Same capture, frame 28: unicast response assigning forwarder 2.
    const RESPONSE: &str = "010200010000c2007cb8000002140200000000000000000000000007b4000102";

    #[test]
    fn hello_and_forwarder_match_tshark() {
        let p = hex(HELLO_AND_FWD);
        let g = parse(&p).unwrap();
        assert_eq!(g.error, None);
        assert_eq!((g.version, g.kind, g.group), (1, 0, 1));
        assert_eq!(g.owner_id.to_string(), "c2:00:7c:b8:00:00");
        let h = g.hello().unwrap();
        assert_eq!((h.vg_state, h.priority), (State::Active, 200));
        assert_eq!(
            (h.hello_ms, h.hold_ms, h.redirect_s, h.timeout_s),
            (3000, 10000, 600, 14400)
        );
        assert_eq!(h.virtual_ip, Some(IpAddr::from([192, 168, 0, 1])));
        let fwd: Vec<_> = g.forwarders().collect();
        assert_eq!(fwd.len(), 1);
        assert_eq!(
            (
                fwd[0].forwarder,
                fwd[0].vf_state,
                fwd[0].priority,
                fwd[0].weight
            ),
            (1, State::Active, 167, 100)
        );
        assert_eq!(fwd[0].virtual_mac.to_string(), "00:07:b4:00:01:01");
        assert_eq!(
            g.to_string(),
            "GLBP group 1 Hello Active prio 200 vip 192.168.0.1 Fwd 1 Active weight 100 vmac 00:07:b4:00:01:01"
        );
    }

    #[test]
    fn unicast_response() {
        let p = hex(RESPONSE);
        let g = parse(&p).unwrap();
        assert_eq!(g.kind, 2);
        assert_eq!(g.hello(), None);
        let f = g.forwarders().next().unwrap();
        assert_eq!((f.forwarder, f.vf_state), (2, State::Unknown(0)));
        assert_eq!(f.virtual_mac.to_string(), "00:07:b4:00:01:02");
    }

    #[test]
    fn every_truncation_is_reported() {
        let p = hex(HELLO_AND_FWD);
        let boundaries = [HEADER_LEN, HEADER_LEN + 28];
        for len in 0..p.len() {
            match parse(&p[..len]) {
                Err(e) => {
                    assert!(len < HEADER_LEN);
                    assert_eq!(e.offset, 0);
                }
                Ok(g) if boundaries.contains(&len) => assert_eq!(g.error, None),
                Ok(g) => {
                    let e = g.error.unwrap();
                    let cut_tlv = if len < HEADER_LEN + 28 {
                        HEADER_LEN
                    } else {
                        HEADER_LEN + 28
                    };
                    assert_eq!(e.offset, cut_tlv, "len {len}");
                    assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
                }
            }
        }
    }

    #[test]
    fn short_hello_value_is_kept_raw() {
        let mut p = hex(RESPONSE);
        p.truncate(HEADER_LEN);
        p.extend_from_slice(&[1, 4, 0, 0x20]);
        let g = parse(&p).unwrap();
        assert!(matches!(g.tlvs[0], GlbpTlv::Other { tlv_type: 1, .. }));
        assert_eq!(g.error.unwrap().offset, HEADER_LEN + 2 + 2);
    }
}
