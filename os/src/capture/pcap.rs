//! Classic pcap: a 24-byte file header, then records of a 16-byte header plus data.

use super::source::Source;
use super::{u16_at, u32_at, Record, Step, MAX_RECORD_LEN};

pub(super) const FILE_HEADER_LEN: usize = 24;

/// What the magic number says about the rest of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MagicKind {
    big_endian: bool,
    nanos: bool,
    /// Kuznetsov's patched libpcap (0xa1b2cd34) adds ifindex, protocol and packet type,
    /// 8 more bytes per record header.
    modified: bool,
}

pub(super) fn magic_kind(magic: [u8; 4]) -> Option<MagicKind> {
    let kind = |big_endian, nanos, modified| {
        Some(MagicKind {
            big_endian,
            nanos,
            modified,
        })
    };
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => kind(false, false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => kind(true, false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => kind(false, true, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => kind(true, true, false),
        [0x34, 0xcd, 0xb2, 0xa1] => kind(false, false, true),
        [0xa1, 0xb2, 0xcd, 0x34] => kind(true, false, true),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    pub(super) big_endian: bool,
    pub(super) nanos: bool,
    pub(super) linktype: u16,
    pub(super) snaplen: u32,
    record_header_len: usize,
}

/// Parses the file header; `None` when fewer than 24 bytes are there.
pub(super) fn parse_header(kind: MagicKind, header: &[u8]) -> Option<Layout> {
    let be = kind.big_endian;
    let snaplen = u32_at(header, 16, be)?;
    // The upper bits of the link-type field carry FCS information, not the type.
    let linktype = u16_at(header, if be { 22 } else { 20 }, be)?;
    Some(Layout {
        big_endian: be,
        nanos: kind.nanos,
        linktype,
        snaplen,
        record_header_len: if kind.modified { 24 } else { 16 },
    })
}

pub(super) fn read_record(src: &mut Source, layout: &Layout) -> Step {
    let hdr = layout.record_header_len;
    let avail = match src.fill(hdr) {
        Ok(n) => n,
        Err(e) => return Step::Stop(format!("read error: {e}")),
    };
    if avail == 0 {
        return Step::End;
    }
    if avail < hdr {
        return Step::Stop(format!("truncated record header ({avail} of {hdr} bytes)"));
    }
    let be = layout.big_endian;
    let w = src.window();
    let (Some(sec), Some(frac), Some(caplen), Some(orig_len)) = (
        u32_at(w, 0, be),
        u32_at(w, 4, be),
        u32_at(w, 8, be),
        u32_at(w, 12, be),
    ) else {
        return Step::Stop("truncated record header".to_string());
    };
    if caplen > MAX_RECORD_LEN {
        return Step::Stop(format!(
            "record length {caplen} exceeds the {MAX_RECORD_LEN}-byte limit (snaplen {})",
            layout.snaplen
        ));
    }
    let total = hdr + caplen as usize;
    let avail = match src.fill(total) {
        Ok(n) => n,
        Err(e) => return Step::Stop(format!("read error: {e}")),
    };
    if avail < total {
        return Step::Stop(format!(
            "truncated record: {caplen} bytes captured, only {} left in the file",
            avail - hdr
        ));
    }
    let frac_ns = if layout.nanos {
        frac as i64
    } else {
        frac as i64 * 1000
    };
    let start = src.pos() + hdr;
    src.advance(total);
    Step::Frame(Record {
        start,
        len: caplen as usize,
        ts_ns: sec as i64 * 1_000_000_000 + frac_ns,
        orig_len,
        interface: 0,
    })
}
