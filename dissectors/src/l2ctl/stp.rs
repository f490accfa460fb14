//! Spanning-tree BPDUs: 802.1D configuration and TCN, 802.1w RST, 802.1s MST, and the
//! VLAN TLV that Cisco PVST+ appends.
//!
//! Input is the BPDU after the LLC header `42 42 03` (or after the SNAP header with PID
//! 0x010B for PVST+). Layout: protocol id (u16, 0), version (0 STP, 2 RSTP, 3 MSTP),
//! BPDU type (0x00 config, 0x80 TCN, 0x02 RST/MST), then for config and RST BPDUs:
//! flags, root id, root path cost, bridge id, port id, and four timers in 1/256 s.

use std::fmt;

use serde::Serialize;

use super::{printable, ser};
use crate::cursor::Cursor;
use crate::error::{DecodeError, Result};
use crate::link::Mac;

const LAYER: &str = "stp";
/// Protocol id, version, type.
const HEADER_LEN: usize = 4;
/// A configuration BPDU is 35 bytes; an RST BPDU adds the version-1 length byte.
const CONFIG_LEN: usize = 35;
const RST_LEN: usize = 36;
const MSTI_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BpduType {
    Config,
    Tcn,
    /// Rapid (and multiple) spanning tree BPDU.
    Rst,
    Unknown(u8),
}

impl From<u8> for BpduType {
    fn from(v: u8) -> Self {
        match v {
            0x00 => BpduType::Config,
            0x80 => BpduType::Tcn,
            0x02 => BpduType::Rst,
            n => BpduType::Unknown(n),
        }
    }
}

/// A bridge identifier: 4-bit priority, 12-bit system-id extension (the VLAN or MST
/// instance in PVST+/MST), and a MAC address. Prints like Wireshark: `32768/1/aa:..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BridgeId {
    /// Priority without the extension (a multiple of 4096).
    pub priority: u16,
    pub system_id_ext: u16,
    pub mac: Mac,
}

impl BridgeId {
    fn read(c: &mut Cursor<'_>) -> Result<Self> {
        let prio = c.u16()?;
        Ok(BridgeId {
            priority: prio & 0xF000,
            system_id_ext: prio & 0x0FFF,
            mac: Mac(c.array()?),
        })
    }
}

impl fmt::Display for BridgeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.priority, self.system_id_ext, self.mac)
    }
}

/// BPDU flags. In 802.1D only TC (bit 0) and TCA (bit 7) exist; RSTP adds proposal,
/// port role, learning, forwarding and agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flags(pub u8);

impl Flags {
    pub fn topology_change(&self) -> bool {
        self.0 & 0x01 != 0
    }
    pub fn proposal(&self) -> bool {
        self.0 & 0x02 != 0
    }
    /// 0 unknown, 1 alternate/backup, 2 root, 3 designated.
    pub fn port_role(&self) -> u8 {
        (self.0 >> 2) & 0x03
    }
    pub fn learning(&self) -> bool {
        self.0 & 0x10 != 0
    }
    pub fn forwarding(&self) -> bool {
        self.0 & 0x20 != 0
    }
    pub fn agreement(&self) -> bool {
        self.0 & 0x40 != 0
    }
    pub fn topology_change_ack(&self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// The body shared by configuration and RST BPDUs. Timers are in seconds (the wire
/// unit is 1/256 s).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigBody {
    pub flags: Flags,
    pub root: BridgeId,
    pub root_path_cost: u32,
    pub bridge: BridgeId,
    /// Port priority in the top 4 bits, port number in the low 12.
    pub port_id: u16,
    pub message_age: f64,
    pub max_age: f64,
    pub hello_time: f64,
    pub forward_delay: f64,
}

/// The MSTP extension of an RST BPDU with version 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mst {
    pub config_format: u8,
    /// Region name, NUL padding removed.
    pub config_name: String,
    pub revision: u16,
    #[serde(serialize_with = "ser::hex")]
    pub digest: [u8; 16],
    pub cist_internal_root_path_cost: u32,
    pub cist_bridge: BridgeId,
    pub cist_remaining_hops: u8,
    pub mstis: Vec<Msti>,
}

/// One MSTI configuration message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Msti {
    pub flags: Flags,
    /// Regional root; its system-id extension is the instance number.
    pub regional_root: BridgeId,
    pub internal_root_path_cost: u32,
    /// Bridge priority (top 4 bits of the byte, times 256 = the usual value).
    pub bridge_priority: u8,
    pub port_priority: u8,
    pub remaining_hops: u8,
}

/// A decoded BPDU. `body` is absent for TCN BPDUs and for bodies cut short (then
/// `error` says where).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stp {
    pub version: u8,
    pub bpdu_type: BpduType,
    pub body: Option<ConfigBody>,
    /// VLAN from Cisco's PVST+ originating-VLAN TLV, when present.
    pub pvst_vlan: Option<u16>,
    pub mst: Option<Mst>,
    #[serde(serialize_with = "ser::opt_error")]
    pub error: Option<DecodeError>,
}

fn timer(c: &mut Cursor<'_>) -> Result<f64> {
    Ok(f64::from(c.u16()?) / 256.0)
}

fn read_body(c: &mut Cursor<'_>) -> Result<ConfigBody> {
    Ok(ConfigBody {
        flags: Flags(c.u8()?),
        root: BridgeId::read(c)?,
        root_path_cost: c.u32()?,
        bridge: BridgeId::read(c)?,
        port_id: c.u16()?,
        message_age: timer(c)?,
        max_age: timer(c)?,
        hello_time: timer(c)?,
        forward_delay: timer(c)?,
    })
}

fn read_mst(c: &mut Cursor<'_>) -> Result<Mst> {
    let v3_len = usize::from(c.u16()?);
    let start = c.pos();
    let config_format = c.u8()?;
    let config_name = printable(c.take(32)?);
    let revision = c.u16()?;
    let digest = c.array::<16>()?;
    let cist_internal_root_path_cost = c.u32()?;
    let cist_bridge = BridgeId::read(c)?;
    let cist_remaining_hops = c.u8()?;
    let fixed = c.pos() - start;
    let records = v3_len.saturating_sub(fixed) / MSTI_LEN;
    let mut mstis = Vec::with_capacity(records.min(64));
    for _ in 0..records {
        mstis.push(Msti {
            flags: Flags(c.u8()?),
            regional_root: BridgeId::read(c)?,
            internal_root_path_cost: c.u32()?,
            bridge_priority: c.u8()?,
            port_priority: c.u8()?,
            remaining_hops: c.u8()?,
        });
    }
    Ok(Mst {
        config_format,
        config_name,
        revision,
        digest,
        cist_internal_root_path_cost,
        cist_bridge,
        cist_remaining_hops,
        mstis,
    })
}

/// PVST+ appends `00 | type 0x0000 | length 0x0002 | VLAN` after a config BPDU; after an
/// RST BPDU the leading zero is the version-1 length byte. Either way it sits at 35.
fn pvst_vlan(bpdu: &[u8]) -> Option<u16> {
    match bpdu.get(CONFIG_LEN..CONFIG_LEN + 7)? {
        [0, 0, 0, 0, 2, hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Decode a BPDU. Fails when the 4-byte header is incomplete or the protocol id is not
/// 0; a body cut short yields the header plus `error`.
pub fn parse(bpdu: &[u8]) -> Result<Stp> {
    let mut c = Cursor::new(LAYER, bpdu);
    let protocol_id = c.u16()?;
    if protocol_id != 0 {
        return Err(DecodeError::invalid(
            LAYER,
            0,
            "protocol identifier is not 0",
        ));
    }
    let version = c.u8()?;
    let bpdu_type = BpduType::from(c.u8()?);
    let mut stp = Stp {
        version,
        bpdu_type,
        body: None,
        pvst_vlan: None,
        mst: None,
        error: None,
    };
    let needed = match bpdu_type {
        BpduType::Config => CONFIG_LEN,
        BpduType::Rst => RST_LEN,
        BpduType::Tcn | BpduType::Unknown(_) => return Ok(stp),
    };
    if bpdu.len() < needed {
        stp.error = Some(DecodeError::truncated(
            LAYER,
            HEADER_LEN,
            needed - HEADER_LEN,
            bpdu.len() - HEADER_LEN,
        ));
        return Ok(stp);
    }
    match read_body(&mut c) {
        Ok(b) => stp.body = Some(b),
        Err(e) => {
            stp.error = Some(e);
            return Ok(stp);
        }
    }
    stp.pvst_vlan = pvst_vlan(bpdu);
    if bpdu_type == BpduType::Rst && version >= 3 && bpdu.len() > RST_LEN {
        let mut m = Cursor::new(LAYER, bpdu);
        match m.skip(RST_LEN).and_then(|()| read_mst(&mut m)) {
            Ok(mst) => stp.mst = Some(mst),
            Err(e) => stp.error = Some(e),
        }
    }
    Ok(stp)
}

impl fmt::Display for Stp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match (self.version, self.mst.is_some()) {
            (_, true) => "MSTP",
            (0 | 1, _) => "STP",
            (2, _) => "RSTP",
            _ => "STP",
        };
        match self.bpdu_type {
            BpduType::Tcn => write!(f, "{name} Topology Change Notification")?,
            BpduType::Unknown(t) => write!(f, "{name} BPDU type 0x{t:02x}")?,
            BpduType::Config | BpduType::Rst => {
                let kind = if self.bpdu_type == BpduType::Config {
                    "Conf."
                } else {
                    "RST"
                };
                write!(f, "{name} {kind}")?;
                if let Some(b) = &self.body {
                    write!(
                        f,
                        " root {} cost {} bridge {} port 0x{:04x}",
                        b.root, b.root_path_cost, b.bridge, b.port_id
                    )?;
                    if b.flags.topology_change() {
                        f.write_str(" TC")?;
                    }
                    if b.flags.topology_change_ack() {
                        f.write_str(" TCA")?;
                    }
                }
                if let Some(v) = self.pvst_vlan {
                    write!(f, " vlan {v}")?;
                }
                if let Some(m) = &self.mst {
                    write!(
                        f,
                        " region {:?} rev {} msti {}",
                        m.config_name,
                        m.revision,
                        m.mstis.len()
                    )?;
                }
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

    /// misc/tcpdump__802.1D_spanning_tree.pcap frame 1 (after LLC 42 42 03).
    const CONFIG_8021D: &str =
        "00000000008001001906eab880000000008001001906eab88080050000140002000f00";
    /// encap/tcpdump__various_gre.pcap frame 2: PVST+ config BPDU for VLAN 1213.
    const PVST_1213: &str =
        "000000000084bdaabbcc0003000000000084bdaabbcc00030080020000140002000f00000000000204bd";

    #[test]
    fn config_bpdu_matches_tshark() {
        let b = hex(CONFIG_8021D);
        let stp = parse(&b).unwrap();
        assert_eq!((stp.version, stp.bpdu_type), (0, BpduType::Config));
        assert_eq!(stp.error, None);
        let body = stp.body.as_ref().unwrap();
        let id = BridgeId {
            priority: 32768,
            system_id_ext: 1,
            mac: Mac([0x00, 0x19, 0x06, 0xea, 0xb8, 0x80]),
        };
        assert_eq!(body.root, id);
        assert_eq!(body.bridge, id);
        assert_eq!(body.root_path_cost, 0);
        assert_eq!(body.port_id, 0x8005);
        assert_eq!(body.flags, Flags(0));
        assert_eq!(
            (
                body.message_age,
                body.max_age,
                body.hello_time,
                body.forward_delay
            ),
            (0.0, 20.0, 2.0, 15.0)
        );
        assert_eq!(stp.pvst_vlan, None);
        assert_eq!(
            stp.to_string(),
            "STP Conf. root 32768/1/00:19:06:ea:b8:80 cost 0 bridge 32768/1/00:19:06:ea:b8:80 port 0x8005"
        );
    }

    #[test]
    fn pvst_plus_vlan_tlv() {
        let b = hex(PVST_1213);
        let stp = parse(&b).unwrap();
        assert_eq!(stp.pvst_vlan, Some(1213));
        let body = stp.body.unwrap();
        assert_eq!(body.root.system_id_ext, 1213);
        assert_eq!(body.port_id, 0x8002);
    }

    #[test]
    fn tcn_bpdu() {
        let stp = parse(&hex("0000 0080")).unwrap();
        assert_eq!(stp.bpdu_type, BpduType::Tcn);
        assert_eq!(stp.body, None);
        assert_eq!(stp.to_string(), "STP Topology Change Notification");
    }

    // No RST or MST BPDU exists in the corpus; these are built by hand from 802.1Q-2018
    // §14 and labelled synthetic.
    #[test]
    fn rst_bpdu_flags_synthetic() {
        // Proposal + designated role + learning + forwarding + agreement = 0x7e.
        let b = hex(
            "0000 02 02 7e 1000aabbccddeeff 00000004 2000001122334455 8001 0100 1400 0200 0f00 00",
        );
        let stp = parse(&b).unwrap();
        assert_eq!((stp.version, stp.bpdu_type), (2, BpduType::Rst));
        let body = stp.body.as_ref().unwrap();
        assert!(body.flags.proposal() && body.flags.learning() && body.flags.forwarding());
        assert!(body.flags.agreement() && !body.flags.topology_change());
        assert_eq!(body.flags.port_role(), 3);
        assert_eq!(body.root.priority, 4096);
        assert_eq!(body.bridge.priority, 8192);
        assert_eq!(body.root_path_cost, 4);
        assert_eq!(body.message_age, 1.0);
        assert!(stp
            .to_string()
            .starts_with("RSTP RST root 4096/0/aa:bb:cc:dd:ee:ff cost 4"));
    }

    #[test]
    fn mst_bpdu_with_one_msti_synthetic() {
        let mut b = hex(
            "0000 03 02 3c 8000aabbccddeeff 00000000 8000aabbccddeeff 8001 0000 1400 0200 0f00 00",
        );
        let v3_len: u16 = 64 + 16;
        b.extend_from_slice(&v3_len.to_be_bytes());
        b.push(0); // format selector
        let mut name = b"REGION1".to_vec();
        name.resize(32, 0);
        b.extend_from_slice(&name);
        b.extend_from_slice(&7u16.to_be_bytes());
        b.extend_from_slice(&[0xab; 16]);
        b.extend_from_slice(&20000u32.to_be_bytes());
        b.extend_from_slice(&hex("8000aabbccddeeff"));
        b.push(20);
        b.extend_from_slice(&hex("3c 8005aabbccddeeff 00000000 80 80 14"));
        let stp = parse(&b).unwrap();
        assert_eq!(stp.error, None);
        let mst = stp.mst.as_ref().unwrap();
        assert_eq!(mst.config_name, "REGION1");
        assert_eq!(mst.revision, 7);
        assert_eq!(mst.cist_internal_root_path_cost, 20000);
        assert_eq!(mst.cist_remaining_hops, 20);
        assert_eq!(mst.mstis.len(), 1);
        assert_eq!(mst.mstis[0].regional_root.system_id_ext, 5);
        assert_eq!(mst.mstis[0].remaining_hops, 20);
        assert!(stp.to_string().contains("region \"REGION1\" rev 7 msti 1"));
        // Every cut inside the MST part is reported, never a panic.
        for len in RST_LEN + 1..b.len() {
            let stp = parse(&b[..len]).unwrap();
            assert!(stp.body.is_some());
            assert!(stp.error.is_some(), "len {len}");
        }
    }

    #[test]
    fn every_truncation_of_a_real_bpdu() {
        let b = hex(PVST_1213);
        for len in 0..b.len() {
            match parse(&b[..len]) {
                Err(e) => {
                    assert!(len < HEADER_LEN);
                    assert!(e.offset <= len);
                }
                Ok(stp) if len < CONFIG_LEN => {
                    let e = stp.error.unwrap();
                    assert_eq!(e.offset, HEADER_LEN);
                    assert_eq!(
                        e.kind,
                        ErrorKind::Truncated {
                            needed: CONFIG_LEN - HEADER_LEN,
                            available: len - HEADER_LEN
                        }
                    );
                }
                Ok(stp) => {
                    assert!(stp.body.is_some());
                    // The VLAN TLV is the last thing in the BPDU, so any cut loses it.
                    assert_eq!(stp.pvst_vlan, None);
                }
            }
        }
    }

    #[test]
    fn non_zero_protocol_id_is_rejected() {
        let e = parse(&hex("0001 0000")).unwrap_err();
        assert_eq!(e.offset, 0);
    }
}
