//! A pcapng writer: one section, one interface description per link type met, and an
//! enhanced packet block per frame with nanosecond timestamps. pcapng rather than pcap
//! because the frames written may come from interfaces of different link types.

use std::io::{self, Write};

pub struct PcapngWriter<W: Write> {
    out: W,
    /// Link type of each interface described so far; the index is the interface id.
    interfaces: Vec<u16>,
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

impl<W: Write> PcapngWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        // Section header block: byte-order magic, version 1.0, section length unknown.
        let mut shb = Vec::with_capacity(28);
        shb.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        out.write_all(&shb)?;
        Ok(PcapngWriter {
            out,
            interfaces: Vec::new(),
        })
    }

    fn interface_for(&mut self, linktype: u16) -> io::Result<u32> {
        if let Some(i) = self.interfaces.iter().position(|l| *l == linktype) {
            return Ok(i as u32);
        }
        // Interface description block with if_tsresol = 9 (nanoseconds) and snaplen 0
        // (no limit).
        let mut idb = Vec::with_capacity(32);
        idb.extend_from_slice(&1u32.to_le_bytes());
        idb.extend_from_slice(&32u32.to_le_bytes());
        idb.extend_from_slice(&linktype.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        idb.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
        idb.extend_from_slice(&1u16.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 0, 0]);
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        idb.extend_from_slice(&32u32.to_le_bytes());
        self.out.write_all(&idb)?;
        self.interfaces.push(linktype);
        Ok(self.interfaces.len() as u32 - 1)
    }

    /// Writes one frame as captured (`data`), with its original length and timestamp.
    pub fn write(
        &mut self,
        linktype: u16,
        ts_ns: i64,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let iface = self.interface_for(linktype)?;
        let ts = ts_ns.max(0) as u64;
        let block_len = 32 + pad4(data.len());
        let mut epb = Vec::with_capacity(block_len);
        epb.extend_from_slice(&6u32.to_le_bytes());
        epb.extend_from_slice(&(block_len as u32).to_le_bytes());
        epb.extend_from_slice(&iface.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&orig_len.to_le_bytes());
        epb.extend_from_slice(data);
        epb.resize(28 + pad4(data.len()), 0);
        epb.extend_from_slice(&(block_len as u32).to_le_bytes());
        self.out.write_all(&epb)
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
}
