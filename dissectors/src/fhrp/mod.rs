//! First-hop redundancy protocols: HSRP (v1, v2, IPv6), VRRP (v2, v3) with CARP told
//! apart, and GLBP.
//!
//! Each decoder takes the transport payload (the UDP payload for HSRP and GLBP, the IP
//! payload for VRRP/CARP on protocol 112), never panics, and keeps what it decoded when
//! the message is cut short, with a [`DecodeError`](crate::error::DecodeError) saying
//! where. Authentication data is kept as received: HSRP's and VRRPv2's plain-text keys
//! are shown because an operator hunting a group mismatch needs to see them.

pub mod glbp;
pub mod hsrp;
pub mod vrrp;

use std::net::IpAddr;

/// RFC 1071 Internet checksum of `data`, preceded by the IPv4 or IPv6 pseudo-header for
/// `(src, dst, protocol)` when given. A correct message sums to 0.
pub(crate) fn internet_checksum(data: &[u8], pseudo: Option<(IpAddr, IpAddr, u8)>) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for w in chunks.by_ref() {
            if let [hi, lo] = w {
                sum += u64::from(u16::from_be_bytes([*hi, *lo]));
            }
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(*last) << 8;
        }
    };
    if let Some((src, dst, proto)) = pseudo {
        let len = data.len() as u64;
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                add(&s.octets());
                add(&d.octets());
                add(&[0, proto]);
                add(&((len & 0xFFFF) as u16).to_be_bytes());
            }
            _ => {
                let v6 = |a: IpAddr| match a {
                    IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                    IpAddr::V6(a) => a.octets(),
                };
                add(&v6(src));
                add(&v6(dst));
                add(&((len & 0xFFFF_FFFF) as u32).to_be_bytes());
                add(&[0, 0, 0, proto]);
            }
        }
    }
    add(data);
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}
