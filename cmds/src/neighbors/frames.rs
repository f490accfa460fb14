//! The Ethernet framing of CDP (802.3 + LLC/SNAP) and LLDP (Ethernet II): building
//! the frames we send and finding the PDU in the frames we receive.

use netkit_dissectors::link::Mac;

/// CDP (and VTP, DTP, PAgP, UDLD) multicast.
pub const CDP_MAC: Mac = Mac([0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc]);
/// LLDP "nearest bridge" multicast: never forwarded by an 802.1D bridge.
pub const LLDP_MAC: Mac = Mac([0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]);
/// Every LLDP group address (802.1AB): nearest bridge, nearest non-TPMR bridge,
/// nearest customer bridge.
pub const LLDP_GROUPS: [Mac; 3] = [
    LLDP_MAC,
    Mac([0x01, 0x80, 0xc2, 0x00, 0x00, 0x03]),
    Mac([0x01, 0x80, 0xc2, 0x00, 0x00, 0x00]),
];
const ETHERTYPE_LLDP: u16 = 0x88cc;
const LLC_SNAP_CDP: [u8; 8] = [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00];
const MIN_FRAME: usize = 60;

fn pad(mut f: Vec<u8>) -> Vec<u8> {
    if f.len() < MIN_FRAME {
        f.resize(MIN_FRAME, 0);
    }
    f
}

/// An 802.3 + LLC/SNAP frame carrying a CDP PDU.
pub fn cdp_frame(src: Mac, pdu: &[u8]) -> Vec<u8> {
    let mut f = CDP_MAC.octets().to_vec();
    f.extend_from_slice(&src.octets());
    let len = u16::try_from(LLC_SNAP_CDP.len() + pdu.len()).unwrap_or(u16::MAX);
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(&LLC_SNAP_CDP);
    f.extend_from_slice(pdu);
    pad(f)
}

/// An Ethernet II frame carrying an LLDPDU.
pub fn lldp_frame(src: Mac, pdu: &[u8]) -> Vec<u8> {
    let mut f = LLDP_MAC.octets().to_vec();
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&ETHERTYPE_LLDP.to_be_bytes());
    f.extend_from_slice(pdu);
    pad(f)
}

/// A discovery PDU found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery<'a> {
    /// The CDP PDU, padding already trimmed by the 802.3 length.
    Cdp(&'a [u8]),
    Lldp(&'a [u8]),
}

/// The sender's MAC and the CDP or LLDP PDU of an (untagged or 802.1Q-tagged) frame.
pub fn classify(frame: &[u8]) -> Option<(Mac, Discovery<'_>)> {
    let src = Mac(frame.get(6..12)?.try_into().ok()?);
    let mut off = 12;
    let mut tl = u16::from_be_bytes(frame.get(off..off + 2)?.try_into().ok()?);
    if tl == 0x8100 {
        off += 4;
        tl = u16::from_be_bytes(frame.get(off..off + 2)?.try_into().ok()?);
    }
    let body = frame.get(off + 2..)?;
    if tl == ETHERTYPE_LLDP {
        return Some((src, Discovery::Lldp(body)));
    }
    if tl < 0x0600 && body.get(..8)? == LLC_SNAP_CDP {
        let pdu = body.get(8..usize::from(tl).max(8))?;
        return Some((src, Discovery::Cdp(pdu)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdp_frame_round_trips_through_classify() {
        let src = Mac([2, 0, 0, 0, 0, 1]);
        let pdu = [2u8, 180, 0x12, 0x34, 0, 1, 0, 6, b's', b'w'];
        let f = cdp_frame(src, &pdu);
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &[0, 18]);
        assert_eq!(classify(&f), Some((src, Discovery::Cdp(&pdu[..]))));
    }

    #[test]
    fn lldp_frame_is_found_behind_a_vlan_tag() {
        let src = Mac([2, 0, 0, 0, 0, 2]);
        let mut f = lldp_frame(src, &[0, 0]);
        assert_eq!(&f[..6], &LLDP_MAC.octets());
        f.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
        match classify(&f) {
            Some((m, Discovery::Lldp(p))) => {
                assert_eq!(m, src);
                assert_eq!(&p[..2], &[0, 0]);
            }
            other => panic!("{other:?}"),
        }
        // IPv4 and a truncated frame are not discovery frames.
        let mut ip = f.clone();
        ip[16..18].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(classify(&ip), None);
        assert_eq!(classify(&f[..13]), None);
    }
}
