//! A pcapng writer: one section, interface description blocks (one per link type met,
//! or named ones added explicitly), and an enhanced packet block per frame with
//! nanosecond timestamps. pcapng rather than pcap because the frames written may come
//! from interfaces of different link types, and because an interface can carry a name
//! (`netkit top --write` names them `namespace/interface`).

use std::io::{self, Write};

pub struct PcapngWriter<W: Write> {
    out: W,
    /// Link type of each interface described so far; the index is the interface id.
    interfaces: Vec<u16>,
    /// Which of them were added by [`PcapngWriter::write`] (found again by link type);
    /// named interfaces from [`PcapngWriter::add_interface`] are never reused that way.
    anonymous: Vec<bool>,
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// pcapng option codes used here.
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const SHB_USERAPPL: u16 = 4;

/// Appends one option (code, length, value padded to 4 bytes).
fn push_option(block: &mut Vec<u8>, code: u16, value: &[u8]) {
    // An option length is 16 bits; longer values (never produced here) are cut.
    let value = &value[..value.len().min(0xfff0)];
    block.extend_from_slice(&code.to_le_bytes());
    block.extend_from_slice(&(value.len() as u16).to_le_bytes());
    block.extend_from_slice(value);
    block.resize(pad4(block.len()), 0);
}

/// Frames a block body: type, total length, body, total length again.
fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&block_type.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

impl<W: Write> PcapngWriter<W> {
    pub fn new(out: W) -> io::Result<Self> {
        PcapngWriter::with_application(out, None)
    }

    /// Like [`PcapngWriter::new`], naming the writing program in the section header
    /// (`shb_userappl`, shown by Wireshark's capture file properties).
    pub fn with_application(mut out: W, application: Option<&str>) -> io::Result<Self> {
        // Section header block: byte-order magic, version 1.0, section length unknown.
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        if let Some(app) = application {
            push_option(&mut body, SHB_USERAPPL, app.as_bytes());
            push_option(&mut body, OPT_ENDOFOPT, &[]);
        }
        out.write_all(&block(0x0a0d_0d0a, &body))?;
        Ok(PcapngWriter {
            out,
            interfaces: Vec::new(),
            anonymous: Vec::new(),
        })
    }

    /// Describes a new interface and returns its id for [`PcapngWriter::write_packet`]:
    /// its link type, an optional `if_name`, and the snap length frames were cut to
    /// (0: no limit). Timestamps are in nanoseconds (`if_tsresol` = 9).
    pub fn add_interface(
        &mut self,
        linktype: u16,
        name: Option<&str>,
        snaplen: u32,
    ) -> io::Result<u32> {
        self.describe(linktype, name, snaplen, false)
    }

    fn describe(
        &mut self,
        linktype: u16,
        name: Option<&str>,
        snaplen: u32,
        anonymous: bool,
    ) -> io::Result<u32> {
        let mut body = Vec::with_capacity(48);
        body.extend_from_slice(&linktype.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&snaplen.to_le_bytes());
        if let Some(name) = name {
            push_option(&mut body, IF_NAME, name.as_bytes());
        }
        push_option(&mut body, IF_TSRESOL, &[9]);
        push_option(&mut body, OPT_ENDOFOPT, &[]);
        self.out.write_all(&block(1, &body))?;
        self.interfaces.push(linktype);
        self.anonymous.push(anonymous);
        Ok(self.interfaces.len() as u32 - 1)
    }

    fn interface_for(&mut self, linktype: u16) -> io::Result<u32> {
        let found = self
            .interfaces
            .iter()
            .zip(&self.anonymous)
            .position(|(l, anon)| *l == linktype && *anon);
        match found {
            Some(i) => Ok(i as u32),
            None => self.describe(linktype, None, 0, true),
        }
    }

    /// Writes a Decryption Secrets Block holding TLS key log text (secrets type
    /// 'TLSK'), as `editcap --inject-secrets` does: Wireshark and netkit decrypt the
    /// packets after it with those secrets.
    pub fn write_tls_secrets(&mut self, keylog: &[u8]) -> io::Result<()> {
        if keylog.is_empty() {
            return Ok(());
        }
        let mut body = Vec::with_capacity(8 + pad4(keylog.len()));
        body.extend_from_slice(&0x544c_534bu32.to_le_bytes());
        body.extend_from_slice(&(keylog.len() as u32).to_le_bytes());
        body.extend_from_slice(keylog);
        body.resize(pad4(body.len()), 0);
        self.out.write_all(&block(0x0000_000A, &body))
    }

    /// Writes one frame as captured (`data`), with its original length and timestamp,
    /// on an unnamed interface of its link type (described when first met).
    pub fn write(
        &mut self,
        linktype: u16,
        ts_ns: i64,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let iface = self.interface_for(linktype)?;
        self.write_packet(iface, ts_ns, orig_len, data)
    }

    /// Writes one frame on an interface returned by [`PcapngWriter::add_interface`].
    /// No allocation: the block is written in three pieces.
    pub fn write_packet(
        &mut self,
        interface: u32,
        ts_ns: i64,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        if interface as usize >= self.interfaces.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("pcapng: interface {interface} was never described"),
            ));
        }
        let ts = ts_ns.max(0) as u64;
        let block_len = (32 + pad4(data.len())) as u32;
        let mut head = [0u8; 28];
        head[0..4].copy_from_slice(&6u32.to_le_bytes());
        head[4..8].copy_from_slice(&block_len.to_le_bytes());
        head[8..12].copy_from_slice(&interface.to_le_bytes());
        head[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
        head[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
        head[20..24].copy_from_slice(&(data.len() as u32).to_le_bytes());
        head[24..28].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        let mut tail = [0u8; 7];
        let pad = pad4(data.len()) - data.len();
        tail[pad..pad + 4].copy_from_slice(&block_len.to_le_bytes());
        self.out.write_all(&tail[..pad + 4])
    }

    /// Like [`PcapngWriter::write_packet`], with a packet comment (`opt_comment`,
    /// shown by Wireshark as `frame.comment`).
    pub fn write_packet_with_comment(
        &mut self,
        interface: u32,
        ts_ns: i64,
        orig_len: u32,
        data: &[u8],
        comment: &str,
    ) -> io::Result<()> {
        if interface as usize >= self.interfaces.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("pcapng: interface {interface} was never described"),
            ));
        }
        let ts = ts_ns.max(0) as u64;
        let mut body = Vec::with_capacity(20 + pad4(data.len()) + pad4(comment.len()) + 8);
        body.extend_from_slice(&interface.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&orig_len.to_le_bytes());
        body.extend_from_slice(data);
        body.resize(pad4(body.len()), 0);
        push_option(&mut body, OPT_COMMENT, comment.as_bytes());
        push_option(&mut body, OPT_ENDOFOPT, &[]);
        self.out.write_all(&block(6, &body))
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureFile;

    #[test]
    fn written_frames_read_back_with_link_types_and_nanoseconds() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        w.write(1, 1_700_000_000_123_456_789, 60, &[0xaa; 14])
            .unwrap();
        w.write(101, 1_700_000_001_000_000_001, 21, &[0x45; 21])
            .unwrap();
        w.write(1, 1_700_000_002_000_000_000, 100, &[0xbb; 15])
            .unwrap();
        let bytes = w.finish().unwrap();
        let mut f = CaptureFile::from_bytes(bytes).unwrap();
        let mut seen = Vec::new();
        while let Some(fr) = f.next_frame() {
            seen.push((
                fr.number,
                fr.linktype,
                fr.ts_ns,
                fr.orig_len,
                fr.data.to_vec(),
            ));
        }
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());
        // Interfaces are described as link types are first met.
        assert_eq!(f.linktypes(), vec![1, 101]);
        assert_eq!(
            seen,
            vec![
                (1, 1, 1_700_000_000_123_456_789, 60, vec![0xaa; 14]),
                (2, 101, 1_700_000_001_000_000_001, 21, vec![0x45; 21]),
                (3, 1, 1_700_000_002_000_000_000, 100, vec![0xbb; 15]),
            ]
        );
    }

    #[test]
    fn commented_packets_read_back_whole() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        let i = w.add_interface(1, Some("blue/veth0"), 0).unwrap();
        w.write_packet_with_comment(
            i,
            1_700_000_000_000_000_001,
            61,
            &[0xee; 61],
            "netkit watch error websocket_rejected",
        )
        .unwrap();
        w.write_packet_with_comment(i, 1_700_000_000_000_000_002, 60, &[0xef; 60], "")
            .unwrap();
        assert!(w.write_packet_with_comment(5, 0, 1, &[0], "x").is_err());
        let bytes = w.finish().unwrap();
        assert!(bytes
            .windows(37)
            .any(|b| b == b"netkit watch error websocket_rejected"));
        let mut f = CaptureFile::from_bytes(bytes).unwrap();
        let mut seen = Vec::new();
        while let Some(fr) = f.next_frame() {
            seen.push((fr.ts_ns, fr.orig_len, fr.data.to_vec()));
        }
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());
        assert_eq!(
            seen,
            vec![
                (1_700_000_000_000_000_001, 61, vec![0xee; 61]),
                (1_700_000_000_000_000_002, 60, vec![0xef; 60]),
            ]
        );
    }

    #[test]
    fn named_interfaces_and_the_application_are_recorded() {
        let mut w = PcapngWriter::with_application(Vec::new(), Some("netkit top")).unwrap();
        let red = w.add_interface(276, Some("red/veth0"), 512).unwrap();
        let blue = w.add_interface(276, Some("blue/eth1"), 512).unwrap();
        // An unnamed interface of the same link type is a third one.
        w.write(276, 5, 3, &[1, 2, 3]).unwrap();
        w.write_packet(blue, 1_000_000_007, 1500, &[0xcc; 33])
            .unwrap();
        w.write_packet(red, 2_000_000_000, 60, &[0xdd; 60]).unwrap();
        assert!(w.write_packet(9, 0, 1, &[0]).is_err());
        let bytes = w.finish().unwrap();
        let mut f = CaptureFile::from_bytes(bytes).unwrap();
        let mut seen = Vec::new();
        while let Some(fr) = f.next_frame() {
            seen.push((fr.interface, fr.ts_ns, fr.orig_len, fr.data.len()));
        }
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());
        assert_eq!(
            f.interface_names(),
            vec![
                Some("red/veth0".to_string()),
                Some("blue/eth1".to_string()),
                None
            ]
        );
        assert_eq!(
            seen,
            vec![
                (2, 5, 3, 3),
                (1, 1_000_000_007, 1500, 33),
                (0, 2_000_000_000, 60, 60)
            ]
        );
    }
}
