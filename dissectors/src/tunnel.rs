//! Tunnel headers: GRE (RFC 2784/2890, PPTP's enhanced GRE), ERSPAN I/II/III, VXLAN
//! (RFC 7348), Geneve (RFC 8926) and ESP (RFC 4303, also UDP-encapsulated per RFC
//! 3948). Each gives the outer flow identity (key, VNI, session, SPI) that the
//! encapsulation analysis groups inner flows by.

use crate::cursor::Cursor;
use crate::error::Result;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gre {
    pub version: u8,
    pub protocol: u16,
    pub checksum_present: bool,
    pub key: Option<u32>,
    pub sequence: Option<u32>,
    /// PPTP (version 1) acknowledgment number.
    pub ack: Option<u32>,
    pub header_len: u8,
}

impl Gre {
    pub fn parse(data: &[u8]) -> Result<Gre> {
        let mut c = Cursor::new("gre", data);
        let flags = c.u16()?;
        let protocol = c.u16()?;
        let checksum_present = flags & 0x8000 != 0;
        let routing_present = flags & 0x4000 != 0;
        let key_present = flags & 0x2000 != 0;
        let seq_present = flags & 0x1000 != 0;
        let ack_present = flags & 0x0080 != 0;
        let version = (flags & 0x7) as u8;
        if version > 1 {
            return Err(c.invalid("GRE version other than 0 or 1"));
        }
        if checksum_present || routing_present {
            // checksum + offset (RFC 1701 keeps them both when either bit is set)
            c.skip(4)?;
        }
        let key = if key_present { Some(c.u32()?) } else { None };
        let sequence = if seq_present { Some(c.u32()?) } else { None };
        let ack = if version == 1 && ack_present {
            Some(c.u32()?)
        } else {
            None
        };
        if routing_present {
            // RFC 1701 source route entries, ended by a NULL entry (af 0, length 0).
            loop {
                let _af = c.u16()?;
                let _offset = c.u8()?;
                let len = c.u8()?;
                if len == 0 {
                    break;
                }
                c.skip(usize::from(len))?;
            }
        }
        Ok(Gre {
            version,
            protocol,
            checksum_present,
            key,
            sequence,
            ack,
            header_len: c.pos() as u8,
        })
    }
}

/// ERSPAN header. Type I has none (the mirrored frame follows GRE directly), type II
/// 8 bytes, type III 12 bytes plus an optional 8-byte platform sub-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Erspan {
    pub erspan_type: u8,
    pub session: u16,
    pub vlan: u16,
    pub cos: u8,
    pub header_len: u8,
}

impl Erspan {
    pub fn type_i() -> Erspan {
        Erspan {
            erspan_type: 1,
            session: 0,
            vlan: 0,
            cos: 0,
            header_len: 0,
        }
    }

    pub fn parse_ii(data: &[u8]) -> Result<Erspan> {
        let mut c = Cursor::new("erspan", data);
        let w0 = c.u32()?;
        let _index = c.u32()?;
        Ok(Erspan {
            erspan_type: 2,
            vlan: ((w0 >> 16) & 0x0fff) as u16,
            cos: ((w0 >> 13) & 7) as u8,
            session: (w0 & 0x03ff) as u16,
            header_len: 8,
        })
    }

    pub fn parse_iii(data: &[u8]) -> Result<Erspan> {
        let mut c = Cursor::new("erspan", data);
        let w0 = c.u32()?;
        let _timestamp = c.u32()?;
        let w2 = c.u32()?;
        // O bit: an 8-byte platform-specific sub-header follows.
        let has_platform = w2 & 1 == 1;
        if has_platform {
            c.skip(8)?;
        }
        Ok(Erspan {
            erspan_type: 3,
            vlan: ((w0 >> 16) & 0x0fff) as u16,
            cos: ((w0 >> 13) & 7) as u8,
            session: (w0 & 0x03ff) as u16,
            header_len: c.pos() as u8,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Vxlan {
    pub flags: u8,
    pub vni: u32,
}

impl Vxlan {
    pub const HEADER_LEN: usize = 8;

    pub fn parse(data: &[u8]) -> Result<Vxlan> {
        let mut c = Cursor::new("vxlan", data);
        let flags = c.u8()?;
        c.skip(3)?;
        let vni = c.u24()?;
        c.skip(1)?;
        Ok(Vxlan { flags, vni })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Geneve {
    pub version: u8,
    pub oam: bool,
    pub critical: bool,
    pub protocol: u16,
    pub vni: u32,
    pub header_len: u16,
}

impl Geneve {
    pub fn parse(data: &[u8]) -> Result<Geneve> {
        let mut c = Cursor::new("geneve", data);
        let b0 = c.u8()?;
        let b1 = c.u8()?;
        let protocol = c.u16()?;
        let vni = c.u24()?;
        c.skip(1)?;
        let opt_len = usize::from(b0 & 0x3f) * 4;
        c.skip(opt_len)?;
        Ok(Geneve {
            version: b0 >> 6,
            oam: b1 & 0x80 != 0,
            critical: b1 & 0x40 != 0,
            protocol,
            vni,
            header_len: c.pos() as u16,
        })
    }
}

/// ESP: only the SPI and sequence number are in clear text; the SPI is the flow identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Esp<'a> {
    pub spi: u32,
    pub sequence: u32,
    /// Carried in UDP (NAT traversal, usually port 4500).
    pub udp_encapsulated: bool,
    /// What follows the sequence number: ciphertext, or with ESP-NULL (RFC 2410) the
    /// inner packet in clear followed by the trailer and ICV.
    #[serde(skip)]
    pub payload: &'a [u8],
}

impl<'a> Esp<'a> {
    pub fn parse(data: &'a [u8], udp_encapsulated: bool) -> Result<Esp<'a>> {
        let mut c = Cursor::new("esp", data);
        Ok(Esp {
            spi: c.u32()?,
            sequence: c.u32()?,
            udp_encapsulated,
            payload: c.rest(),
        })
    }

    /// The inner IPv4/IPv6 packet when the SA uses NULL encryption: the payload then
    /// starts with an IP header whose length fits before the 2-byte ESP trailer. IPv4
    /// headers must also carry a valid checksum, which ciphertext almost never does.
    pub fn null_encrypted_inner(&self) -> Option<&'a [u8]> {
        let p = self.payload;
        match p.first()? >> 4 {
            4 => {
                let ihl = usize::from(p[0] & 0x0f) * 4;
                let h = p.get(..ihl).filter(|_| ihl >= 20)?;
                let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
                if total < ihl || total + 2 > p.len() {
                    return None;
                }
                let sum: u32 = h
                    .chunks_exact(2)
                    .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                    .sum();
                let folded = (sum & 0xffff) + (sum >> 16);
                let folded = (folded & 0xffff) + (folded >> 16);
                (folded == 0xffff).then(|| &p[..total])
            }
            6 => {
                let plen = usize::from(u16::from_be_bytes([*p.get(4)?, *p.get(5)?]));
                let total = 40 + plen;
                (plen > 0 && total + 2 <= p.len()).then(|| &p[..total])
            }
            _ => None,
        }
    }
}

/// GTP-U (3GPP TS 29.281), UDP 2152: mobile-core user plane. The TEID is the tunnel
/// identity; G-PDU messages (type 255) carry a user IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gtpu {
    pub msg_type: u8,
    pub teid: u32,
    pub header_len: u16,
}

impl Gtpu {
    pub fn parse(data: &[u8]) -> Result<Gtpu> {
        let mut c = Cursor::new("gtp", data);
        let flags = c.u8()?;
        if flags >> 5 != 1 || flags & 0x10 == 0 {
            return Err(c.invalid("not GTPv1 (version 1, protocol type GTP)"));
        }
        let msg_type = c.u8()?;
        let _len = c.u16()?;
        let teid = c.u32()?;
        // E, S or PN set: sequence number, N-PDU number and next extension type follow.
        if flags & 0x07 != 0 {
            c.skip(3)?;
            let mut next_ext = c.u8()?;
            while next_ext != 0 {
                // Extension length counts 4-byte units including the length byte and
                // the next-type byte.
                let units = usize::from(c.u8()?);
                if units == 0 {
                    return Err(c.invalid("GTP extension header of length 0"));
                }
                c.skip(units * 4 - 2)?;
                next_ext = c.u8()?;
            }
        }
        Ok(Gtpu {
            msg_type,
            teid,
            header_len: c.pos() as u16,
        })
    }
}

/// L2TP version 2 (RFC 2661), UDP 1701: data messages carry PPP frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct L2tp {
    pub control: bool,
    pub tunnel: u16,
    pub session: u16,
    pub header_len: u16,
}

impl L2tp {
    pub fn parse(data: &[u8]) -> Result<L2tp> {
        let mut c = Cursor::new("l2tp", data);
        let flags = c.u16()?;
        if flags & 0x000f != 2 {
            return Err(c.invalid("not L2TP version 2"));
        }
        let control = flags & 0x8000 != 0;
        if flags & 0x4000 != 0 {
            c.skip(2)?; // length
        }
        let tunnel = c.u16()?;
        let session = c.u16()?;
        if flags & 0x0800 != 0 {
            c.skip(4)?; // Ns, Nr
        }
        if flags & 0x0200 != 0 {
            let pad = c.u16()?;
            c.skip(usize::from(pad))?;
        }
        Ok(L2tp {
            control,
            tunnel,
            session,
            header_len: c.pos() as u16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_with_key_and_sequence() {
        let h = [0x30, 0x00, 0x08, 0x00, 0, 0, 0, 42, 0, 0, 0, 7];
        let g = Gre::parse(&h).unwrap();
        assert_eq!(g.key, Some(42));
        assert_eq!(g.sequence, Some(7));
        assert_eq!(g.protocol, 0x0800);
        assert_eq!(g.header_len, 12);
        let e = Gre::parse(&h[..9]).unwrap_err();
        assert_eq!((e.layer, e.offset), ("gre", 8));
    }

    #[test]
    fn pptp_enhanced_gre_has_ack() {
        let h = [
            0x30, 0x81, 0x88, 0x0b, 0, 0x10, 0, 1, 0, 0, 0, 5, 0, 0, 0, 4,
        ];
        let g = Gre::parse(&h).unwrap();
        assert_eq!(g.version, 1);
        assert_eq!(g.ack, Some(4));
        assert_eq!(g.header_len, 16);
    }

    #[test]
    fn gtpu_with_sequence_and_extension_header() {
        // flags 0x34 (v1, PT, E), G-PDU, len, TEID 0x0a0b0c0d, seq/npdu, next ext 0x85,
        // one 4-byte PDU session container, then no more extensions.
        let h = [
            0x34, 0xff, 0, 0x30, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 0x85, 1, 0x10, 0x01, 0x00,
        ];
        let g = Gtpu::parse(&h).unwrap();
        assert_eq!((g.msg_type, g.teid, g.header_len), (0xff, 0x0a0b0c0d, 16));
        assert!(
            Gtpu::parse(&[0x50, 0xff, 0, 0, 0, 0, 0, 0]).is_err(),
            "GTPv2 is not GTP-U"
        );
    }

    #[test]
    fn l2tp_data_message_with_length() {
        let l = L2tp::parse(&[0x40, 0x02, 0, 20, 0, 7, 0, 9]).unwrap();
        assert_eq!(
            (l.control, l.tunnel, l.session, l.header_len),
            (false, 7, 9, 8)
        );
    }

    #[test]
    fn esp_null_shows_the_inner_packet_and_ciphertext_does_not() {
        // SPI, sequence, then an IPv4/ICMP packet (header checksum valid), pad length 0,
        // next header 4, and a 12-byte ICV.
        let inner = [
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0x66, 0xde, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0xf7,
            0xff, 0, 0, 0, 0,
        ];
        let mut p = vec![0, 0, 0, 7, 0, 0, 0, 1];
        p.extend(inner);
        p.extend([0, 4]);
        p.extend([0xaa; 12]);
        let esp = Esp::parse(&p, false).unwrap();
        assert_eq!(esp.null_encrypted_inner(), Some(&inner[..]));
        let mut bad = p.clone();
        bad[18] ^= 0xff; // corrupt the header checksum: looks like ciphertext now
        assert_eq!(
            Esp::parse(&bad, false).unwrap().null_encrypted_inner(),
            None
        );
    }

    #[test]
    fn erspan_ii_session_and_vlan() {
        let e = Erspan::parse_ii(&[0x10, 0x0a, 0x00, 0x64, 0, 0, 0, 0]).unwrap();
        assert_eq!((e.vlan, e.session), (10, 100));
    }

    #[test]
    fn vxlan_and_geneve_vni() {
        assert_eq!(
            Vxlan::parse(&[8, 0, 0, 0, 0, 0x12, 0x34, 0]).unwrap().vni,
            0x1234
        );
        let g = Geneve::parse(&[0x01, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2, 3, 4]).unwrap();
        assert_eq!((g.vni, g.protocol, g.header_len), (7, 0x6558, 12));
        assert!(Geneve::parse(&[0x01, 0, 0x65, 0x58, 0, 0, 7, 0]).is_err());
    }
}
