//! Entry points for the fuzz targets in `fuzz/` (and the unit tests that stand in for
//! them), kept here so each target stays a one-liner.

use std::io::Read;

use super::bpf::{Insn, Program};
use super::source::Source;
use super::CaptureFile;
use netkit_cmds::source::ReadWarning;

/// A reader that hands out at most 7 bytes per call, like a slow pipe, so the
/// streaming path refills and compacts its buffer as often as possible.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = buf.len().min(7).min(rest.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

type Seen = (u64, i64, u32, u16, u32, Vec<u8>);

fn read_all(
    file: Result<CaptureFile, super::CaptureError>,
) -> Result<(Vec<Seen>, Vec<ReadWarning>, u64), String> {
    let mut file = file.map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    while let Some(f) = file.next_frame() {
        seen.push((
            f.number,
            f.ts_ns,
            f.orig_len,
            f.linktype,
            f.interface,
            f.data.to_vec(),
        ));
    }
    Ok((seen, file.warnings().to_vec(), file.bytes_read()))
}

/// Reads `data` as a capture file from memory and as a trickling stream through a tiny
/// buffer; both must give the same frames, warnings and byte counts. Never panics
/// unless they disagree.
pub fn read_both_ways(data: &[u8]) {
    // Compressed input is recognised by its magic and read through a decoder, whose
    // reads of damaged data may stop at different places: it gets the compressed
    // reader's invariant (the pcap fuzz targets mutate their seeds into these magics).
    if super::compressed::Compression::from_magic(data).is_some() {
        return read_compressed(data);
    }
    let whole = read_all(CaptureFile::from_bytes(data.to_vec()));
    let trickle = Trickle {
        data: data.to_vec(),
        pos: 0,
    };
    let stream = Source::from_reader_sized(Box::new(trickle), 16);
    let streamed = read_all(CaptureFile::start("<memory>".to_string(), stream, None));
    assert_eq!(whole, streamed, "in-memory and streamed reads differ");
}

/// Bytes as a BPF program (first byte: instruction count - 1; 8 bytes per
/// instruction) followed by a packet; validated programs must run without panicking.
pub fn run_bpf(data: &[u8]) {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count) + 1;
    let Some((code, packet)) = rest.split_at_checked(count * 8) else {
        return;
    };
    let insns = code
        .chunks_exact(8)
        .map(|c| {
            let code = u16::from_le_bytes([c[0], c[1]]);
            Insn::new(
                code,
                c[2],
                c[3],
                u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    if let Ok(program) = Program::new(insns) {
        let wire_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let _ = program.run(packet, wire_len);
    }
}

/// Reads `data` as it comes, compressed or not (gzip, zstd and lz4 are recognised by
/// their magic), from memory and as a trickling stream through a tiny buffer: the
/// decoders must never panic; input read without a warning either way must give the
/// same frames both ways, and damaged input frames of which one read is a prefix of
/// the other. (Not more: a decoder that meets damage drops what it decoded in the same
/// call, as flate2 does, so how much comes out before the error depends on how the
/// input arrived; what comes out is the same bytes.)
pub fn read_compressed(data: &[u8]) {
    let whole = read_all(CaptureFile::from_bytes(data.to_vec()));
    let trickle = Trickle {
        data: data.to_vec(),
        pos: 0,
    };
    let streamed = read_all(CaptureFile::from_reader_sized(
        "<memory>",
        Box::new(trickle),
        Some(16),
    ));
    match (&whole, &streamed) {
        (Ok(a), Ok(b)) if a.1.is_empty() && b.1.is_empty() => {
            assert_eq!(a, b, "in-memory and streamed reads of sound input differ")
        }
        _ => {
            let frames = |r: &Result<(Vec<Seen>, Vec<ReadWarning>, u64), String>| {
                r.as_ref().map(|x| x.0.clone()).unwrap_or_default()
            };
            let (a, b) = (frames(&whole), frames(&streamed));
            let n = a.len().min(b.len());
            assert_eq!(
                a.get(..n),
                b.get(..n),
                "in-memory and streamed reads of damaged input disagree before the damage"
            );
        }
    }
}
