//! IP protocol 112: VRRPv2 (RFC 3768), VRRPv3 (RFC 5798, IPv4 and IPv6), and CARP.
//!
//! CARP (the BSD Common Address Redundancy Protocol) reuses protocol 112, the VRRP
//! multicast groups and the VRRP virtual-MAC range, and also calls itself version 2,
//! type 1. tshark's default dissector for protocol 112 is VRRP, so a CARP advertisement
//! shows up in tshark as a (strange) "VRRP" packet. netkit tells them apart from the
//! payload: a CARP message is 36 bytes (8-byte header, 8-byte counter, 20-byte SHA-1
//! HMAC) with `authlen` = 7 in the byte where VRRP keeps its address count, while a
//! VRRPv2 message with 7 addresses would be 44 bytes long. This is the same test
//! Wireshark's CARP heuristic makes.
//!
//! VRRP layout: version/type (4+4 bits), VRID, priority, address count, then v2: auth
//! type, advertisement interval (s), checksum, addresses, 8 bytes of auth data; v3:
//! 4 reserved bits + 12-bit interval (centiseconds), checksum, addresses (4 or 16 bytes
//! each, per the IP version).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::internet_checksum;
use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use crate::l2ctl::{printable, ser};
use crate::link::Mac;

const LAYER: &str = "vrrp";
pub const IP_PROTOCOL: u8 = 112;
const HEADER_LEN: usize = 8;
const CARP_LEN: usize = 36;
const CARP_AUTHLEN: u8 = 7;
const V2_AUTH_LEN: usize = 8;

/// Everything that arrives on IP protocol 112. Named `Vrrp` because that is what the
/// caller asked for; the `Carp` variant is the BSD protocol sharing the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vrrp<'a> {
    Vrrp(VrrpAdvert<'a>),
    Carp(Carp<'a>),
}

/// Alias that says what the enum really covers.
pub type Proto112<'a> = Vrrp<'a>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    None,
    /// RFC 2338 simple text password (deprecated by RFC 3768, still seen).
    SimpleText,
    /// RFC 2338 IP Authentication Header.
    IpAh,
    Unknown(u8),
}

impl From<u8> for AuthType {
    fn from(v: u8) -> Self {
        match v {
            0 => AuthType::None,
            1 => AuthType::SimpleText,
            2 => AuthType::IpAh,
            n => AuthType::Unknown(n),
        }
    }
}

/// A VRRP advertisement (type 1; other types are kept with their number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VrrpAdvert<'a> {
    /// 2 or 3 (other values are decoded with the v3 layout).
    pub version: u8,
    pub msg_type: u8,
    pub vrid: u8,
    /// 255 = address owner, 0 = the master is leaving.
    pub priority: u8,
    pub address_count: u8,
    /// v2 only.
    pub auth_type: Option<AuthType>,
    /// Advertisement interval in centiseconds (v2's seconds are converted).
    pub interval_cs: u16,
    pub checksum: u16,
    pub addresses: Vec<IpAddr>,
    /// v2 only: the 8 authentication bytes (a NUL-padded password for simple text).
    #[serde(serialize_with = "ser::opt_padded")]
    pub auth_data: Option<&'a [u8]>,
    #[serde(serialize_with = "ser::opt_error")]
    pub error: Option<DecodeError>,
    #[serde(skip)]
    message: &'a [u8],
}

/// A CARP advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Carp<'a> {
    pub version: u8,
    pub msg_type: u8,
    /// Virtual host id (the VRRP VRID position; same virtual-MAC range).
    pub vhid: u8,
    /// Added to `advbase` to rank hosts: lower skew wins.
    pub advskew: u8,
    pub authlen: u8,
    pub demotion: u8,
    /// Base advertisement interval in seconds.
    pub advbase: u8,
    pub checksum: u16,
    pub counter: u64,
    #[serde(serialize_with = "ser::hex")]
    pub hmac: &'a [u8],
    #[serde(skip)]
    message: &'a [u8],
}

fn is_carp(payload: &[u8]) -> bool {
    // Version 2, type 1, authlen 7, and too short for a VRRPv2 message with 7 addresses.
    matches!(payload, [0x21, _, _, CARP_AUTHLEN, ..])
        && (CARP_LEN..HEADER_LEN + 7 * 4 + V2_AUTH_LEN).contains(&payload.len())
}

/// Decode an IP protocol 112 payload. `ip_version` (4 or 6) sets the size of VRRPv3
/// addresses. Fails only when the 8-byte header is incomplete; missing addresses or
/// authentication data leave `error` set.
pub fn parse(payload: &[u8], ip_version: u8) -> Result<Vrrp<'_>> {
    if payload.len() < HEADER_LEN {
        return Err(DecodeError::truncated(LAYER, 0, HEADER_LEN, payload.len()));
    }
    let mut c = Cursor::new(LAYER, payload);
    let ver_type = c.u8()?;
    let (version, msg_type) = (ver_type >> 4, ver_type & 0x0F);
    if is_carp(payload) {
        let vhid = c.u8()?;
        let advskew = c.u8()?;
        let authlen = c.u8()?;
        let demotion = c.u8()?;
        let advbase = c.u8()?;
        let checksum = c.u16()?;
        let counter = c.u64()?;
        let hmac = c.take(20)?;
        return Ok(Vrrp::Carp(Carp {
            version,
            msg_type,
            vhid,
            advskew,
            authlen,
            demotion,
            advbase,
            checksum,
            counter,
            hmac,
            message: payload,
        }));
    }
    let vrid = c.u8()?;
    let priority = c.u8()?;
    let address_count = c.u8()?;
    let (auth_type, interval_cs) = if version == 2 {
        let auth = AuthType::from(c.u8()?);
        (Some(auth), u16::from(c.u8()?) * 100)
    } else {
        (None, c.u16()? & 0x0FFF)
    };
    let checksum = c.u16()?;
    let mut advert = VrrpAdvert {
        version,
        msg_type,
        vrid,
        priority,
        address_count,
        auth_type,
        interval_cs,
        checksum,
        addresses: Vec::with_capacity(usize::from(address_count)),
        auth_data: None,
        error: None,
        message: payload,
    };
    let v6 = version != 2 && ip_version == 6;
    for _ in 0..address_count {
        let addr = if v6 {
            c.array::<16>().map(|a| IpAddr::V6(Ipv6Addr::from(a)))
        } else {
            c.array::<4>().map(|a| IpAddr::V4(Ipv4Addr::from(a)))
        };
        match addr {
            Ok(a) => advert.addresses.push(a),
            Err(e) => {
                advert.error = Some(e);
                return Ok(Vrrp::Vrrp(advert));
            }
        }
    }
    if version == 2 {
        match c.take(V2_AUTH_LEN) {
            Ok(a) => advert.auth_data = Some(a),
            Err(e) => advert.error = Some(e),
        }
    }
    Ok(Vrrp::Vrrp(advert))
}

impl VrrpAdvert<'_> {
    /// Whether the checksum is right. v2 sums the message alone; v3 also covers the IP
    /// pseudo-header, so it needs the packet's source and destination (`None` without
    /// them).
    pub fn checksum_ok(&self, ip_src_dst: Option<(IpAddr, IpAddr)>) -> Option<bool> {
        if self.version == 2 {
            return Some(internet_checksum(self.message, None) == 0);
        }
        let (src, dst) = ip_src_dst?;
        Some(internet_checksum(self.message, Some((src, dst, IP_PROTOCOL))) == 0)
    }

    /// The simple-text password (v2 auth type 1) without its NUL padding.
    pub fn auth_text(&self) -> Option<String> {
        match (self.auth_type, self.auth_data) {
            (Some(AuthType::SimpleText), Some(d)) => Some(printable(d)),
            _ => None,
        }
    }

    /// The virtual router MAC of RFC 5798 §7.3: `00:00:5e:00:01:VRID` for IPv4,
    /// `00:00:5e:00:02:VRID` for IPv6.
    pub fn virtual_mac(&self, ip_version: u8) -> Mac {
        let family = if ip_version == 6 { 2 } else { 1 };
        Mac([0x00, 0x00, 0x5e, 0x00, family, self.vrid])
    }
}

impl Carp<'_> {
    /// CARP's checksum covers the message alone, as VRRPv2's does.
    pub fn checksum_ok(&self) -> bool {
        internet_checksum(self.message, None) == 0
    }
}

impl fmt::Display for Vrrp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vrrp::Vrrp(v) => {
                write!(f, "VRRPv{} ", v.version)?;
                if v.msg_type == 1 {
                    f.write_str("Advertisement")?;
                } else {
                    write!(f, "type {}", v.msg_type)?;
                }
                write!(f, " vrid {} prio {}", v.vrid, v.priority)?;
                for (i, a) in v.addresses.iter().enumerate() {
                    f.write_str(if i == 0 { " vip " } else { "," })?;
                    write!(f, "{a}")?;
                }
                if v.interval_cs % 100 == 0 {
                    write!(f, " intvl {}s", v.interval_cs / 100)?;
                } else {
                    write!(f, " intvl {}cs", v.interval_cs)?;
                }
                if let Some(e) = &v.error {
                    write!(f, " [{e}]")?;
                }
                Ok(())
            }
            Vrrp::Carp(c) => write!(
                f,
                "CARP Advertisement vhid {} advbase {} advskew {} demote {}",
                c.vhid, c.advbase, c.advskew, c.demotion
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    fn advert(v: Vrrp<'_>) -> VrrpAdvert<'_> {
        match v {
            Vrrp::Vrrp(a) => a,
            Vrrp::Carp(c) => panic!("CARP {c:?}"),
        }
    }

    /// fhrp/packetlife__VRRP_failover.cap frame 1: VRRPv2, VRID 1, prio 200, from
    /// 192.168.0.10.
    const V2_PACKETLIFE: &str = "2101c80100015652c0a800010000000000000000";
    /// fhrp/libpcap__vrrp.pcap frame 4: VRRPv2 with 3 addresses and text auth.
    const V2_TEXT_AUTH: &str = "212ac003010af01f0a042a010a042a020a042a036162636465666768";
    /// fhrp/libpcap__vrrp.pcap frame 3: VRRPv3 over IPv4 10.0.0.91 -> 224.0.0.18.
    const V3_IPV4: &str = "312cbf0203e8b3c60a042c640a042cc8";
    /// fhrp/libpcap__vrrp.pcap frame 1: VRRPv3 over IPv6, 5 addresses,
    /// fe80::d6ca:6dff:fe66:cf60 -> ff02::12.
    const V3_IPV6: &str = "312ebf0503e85f12fe8000000000000002005efffe00022e200100000000000000000000eeff000a200100000000000000000000eeff000b200100000000000000000000eeff000c200100000000000000000000eeff000d";

    #[test]
    fn vrrpv2_matches_tshark() {
        let p = hex(V2_PACKETLIFE);
        let v = advert(parse(&p, 4).unwrap());
        assert_eq!((v.version, v.msg_type, v.vrid, v.priority), (2, 1, 1, 200));
        assert_eq!(v.auth_type, Some(AuthType::None));
        assert_eq!(v.interval_cs, 100);
        assert_eq!(v.checksum, 0x5652);
        assert_eq!(v.addresses, [IpAddr::from([192, 168, 0, 1])]);
        assert_eq!(v.checksum_ok(None), Some(true));
        assert_eq!(v.virtual_mac(4).to_string(), "00:00:5e:00:01:01");
        assert_eq!(v.error, None);
        assert_eq!(
            Vrrp::Vrrp(v).to_string(),
            "VRRPv2 Advertisement vrid 1 prio 200 vip 192.168.0.1 intvl 1s"
        );
    }

    #[test]
    fn vrrpv2_simple_text_auth() {
        let p = hex(V2_TEXT_AUTH);
        let v = advert(parse(&p, 4).unwrap());
        assert_eq!(v.auth_type, Some(AuthType::SimpleText));
        assert_eq!(v.auth_text().as_deref(), Some("abcdefgh"));
        assert_eq!(v.addresses.len(), 3);
        assert_eq!(v.interval_cs, 1000);
        assert_eq!(v.checksum_ok(None), Some(true));
    }

    #[test]
    fn vrrpv3_ipv4_checksum_needs_the_pseudo_header() {
        let p = hex(V3_IPV4);
        let v = advert(parse(&p, 4).unwrap());
        assert_eq!(
            (v.version, v.vrid, v.priority, v.interval_cs),
            (3, 44, 191, 1000)
        );
        assert_eq!(
            v.addresses,
            [
                IpAddr::from([10, 4, 44, 100]),
                IpAddr::from([10, 4, 44, 200])
            ]
        );
        let src = IpAddr::from([10, 0, 0, 91]);
        let dst = IpAddr::from([224, 0, 0, 18]);
        assert_eq!(v.checksum_ok(None), None);
        assert_eq!(v.checksum_ok(Some((src, dst))), Some(true));
        assert_eq!(
            v.checksum_ok(Some((IpAddr::from([10, 0, 0, 92]), dst))),
            Some(false)
        );
        assert_eq!(
            Vrrp::Vrrp(v).to_string(),
            "VRRPv3 Advertisement vrid 44 prio 191 vip 10.4.44.100,10.4.44.200 intvl 10s"
        );
    }

    #[test]
    fn vrrpv3_ipv6() {
        let p = hex(V3_IPV6);
        let v = advert(parse(&p, 6).unwrap());
        assert_eq!((v.vrid, v.address_count), (46, 5));
        assert_eq!(
            v.addresses[0],
            "fe80::200:5eff:fe00:22e".parse::<IpAddr>().unwrap()
        );
        assert_eq!(v.addresses[4], "2001::eeff:d".parse::<IpAddr>().unwrap());
        let src: IpAddr = "fe80::d6ca:6dff:fe66:cf60".parse().unwrap();
        let dst: IpAddr = "ff02::12".parse().unwrap();
        assert_eq!(v.checksum_ok(Some((src, dst))), Some(true));
        assert_eq!(v.virtual_mac(6).to_string(), "00:00:5e:00:02:2e");
    }

    #[test]
    fn carp_is_told_apart_synthetic() {
        // No CARP capture in the corpus: built from the OpenBSD carp(4) header layout.
        // vhid 5, advskew 100, authlen 7, demote 0, advbase 1, counter 1, zero HMAC.
        let mut p = hex("21 05 64 07 00 01 0000 0000000000000001");
        p.extend_from_slice(&[0; 20]);
        let sum = internet_checksum(&p, None);
        p[6..8].copy_from_slice(&sum.to_be_bytes());
        match parse(&p, 4).unwrap() {
            Vrrp::Carp(c) => {
                assert_eq!((c.vhid, c.advskew, c.advbase, c.counter), (5, 100, 1, 1));
                assert!(c.checksum_ok());
                assert_eq!(
                    Vrrp::Carp(c).to_string(),
                    "CARP Advertisement vhid 5 advbase 1 advskew 100 demote 0"
                );
            }
            other => panic!("{other:?}"),
        }
        // The same first bytes with the length a 7-address VRRPv2 needs stay VRRP.
        p.resize(44, 0);
        assert!(matches!(parse(&p, 4).unwrap(), Vrrp::Vrrp(_)));
    }

    #[test]
    fn every_truncation_is_reported() {
        for (msg, ipv) in [(V2_TEXT_AUTH, 4), (V3_IPV6, 6)] {
            let p = hex(msg);
            for len in 0..p.len() {
                match parse(&p[..len], ipv) {
                    Err(e) => {
                        assert!(len < HEADER_LEN);
                        assert_eq!(e.offset, 0);
                    }
                    Ok(v) => {
                        let v = advert(v);
                        let e = v.error.unwrap();
                        assert!(e.offset >= HEADER_LEN && e.offset <= len, "len {len}");
                    }
                }
            }
        }
    }
}
