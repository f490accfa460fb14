//! Compressed captures: gzip (tcpdump -G/-C with -z gzip, `gzip` of a finished file),
//! zstd and lz4 (Wireshark writes both), recognised by their magic bytes, never by the
//! file name, and decompressed as a stream so memory stays bounded whatever the size.
//!
//! All three decoders are pure Rust (flate2 on miniz_oxide, ruzstd, lz4_flex), so
//! building netkit needs no C compiler and no libz/libzstd/liblz4 headers.
//!
//! Memory: gzip needs its 32 KiB window, lz4 at most two 4 MiB blocks, zstd its frame's
//! window, which ruzstd refuses above 100 MiB (the zstd tool itself refuses more than
//! 128 MiB without `--memory`), so a hostile header cannot make us allocate more.

use std::io::{self, BufRead, BufReader, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// The compression around a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    /// The LZ4 frame format (`lz4` tool, Wireshark), not the legacy or raw block format.
    Lz4,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// How many leading bytes [`Compression::from_magic`] needs to decide.
pub(super) const MAGIC_LEN: usize = 4;

impl Compression {
    /// Recognises a compressed stream from its first bytes; `None` for anything else
    /// (including plain pcap and pcapng, whose magics differ from all three).
    pub fn from_magic(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&GZIP_MAGIC) {
            Some(Compression::Gzip)
        } else if head.starts_with(&ZSTD_MAGIC) {
            Some(Compression::Zstd)
        } else if head.starts_with(&LZ4_MAGIC) {
            Some(Compression::Lz4)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
        }
    }
}

/// Reads up to [`MAGIC_LEN`] bytes from `reader` to see whether it is compressed, and
/// returns a reader of the capture itself: the decompressed stream, or the original
/// bytes (the ones looked at included) when it is not compressed.
pub(super) fn sniff(
    mut reader: Box<dyn Read + Send>,
) -> io::Result<(Option<Compression>, Box<dyn Read + Send>)> {
    let mut head = [0u8; MAGIC_LEN];
    let mut got = 0;
    while got < MAGIC_LEN {
        match reader.read(head.get_mut(got..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = head.get(..got).unwrap_or_default().to_vec();
    let kind = Compression::from_magic(&head);
    let whole: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).chain(reader));
    Ok(match kind {
        None => (None, whole),
        Some(k) => (Some(k), decoder(k, whole)),
    })
}

fn decoder(kind: Compression, raw: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    let inner: Box<dyn Read + Send> = match kind {
        // Multi-member: `cat a.gz b.gz` and pigz output are one stream of several members.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(ZstdFrames::new(raw)),
        Compression::Lz4 => Box::new(Lz4Checked::new(raw)),
    };
    Box::new(Named { kind, inner })
}

/// Puts the format's name in front of decoder errors, so a warning reads
/// "gzip stream: ..." and people know the damage is in the compression, not the capture.
struct Named {
    kind: Compression,
    inner: Box<dyn Read + Send>,
}

impl Read for Named {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let why = match e.kind() {
                io::ErrorKind::UnexpectedEof => "the compressed file ends early".to_string(),
                _ => e.to_string(),
            };
            io::Error::new(e.kind(), format!("{} stream: {why}", self.kind.name()))
        })
    }
}

/// A zstd stream of any number of frames, skippable frames (metadata some tools
/// write) passed over, as the zstd tool reads them. ruzstd's own streaming reader
/// stops after one frame, so this drives its frame decoder directly.
struct ZstdFrames {
    src: BufReader<Box<dyn Read + Send>>,
    dec: FrameDecoder,
    in_frame: bool,
}

impl ZstdFrames {
    fn new(raw: Box<dyn Read + Send>) -> ZstdFrames {
        ZstdFrames {
            src: BufReader::new(raw),
            dec: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Reads the next frame header; false at the clean end of the stream.
    fn start_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.src.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.dec.reset(&mut self.src) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let want = u64::from(length);
                    let skipped = io::copy(&mut (&mut self.src).take(want), &mut io::sink())?;
                    if skipped < want {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

/// ruzstd's errors as I/O errors; running out of input stays `UnexpectedEof` so that a
/// truncated file is reported as such.
fn zstd_error(e: FrameDecoderError) -> io::Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::UnexpectedEof {
                return io::ErrorKind::UnexpectedEof.into();
            }
        }
        cause = c.source();
    }
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Read for ZstdFrames {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.start_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            // One block at a time, and only while nothing can be handed out: asking
            // for all of `buf` (1 MiB) at once would lose the blocks decoded before a
            // truncation to the error. Every decode_blocks call decodes a block or
            // fails, so this ends; memory stays at the window plus one block.
            while self.dec.can_collect() == 0 && !self.dec.is_finished() {
                self.dec
                    .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(zstd_error)?;
            }
            let n = self.dec.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.dec.is_finished() && self.dec.can_collect() == 0 {
                self.in_frame = false;
                // The content checksum (the zstd tool writes one by default) is the
                // only way damage inside a block can show; the data has gone out by
                // now, but the damage is reported rather than passed over.
                let (said, found) = (
                    self.dec.get_checksum_from_data(),
                    self.dec.get_calculated_checksum(),
                );
                if let (Some(said), Some(found)) = (said, found) {
                    if said != found {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "content checksum mismatch (frame says {said:08x}, data gives \
                                 {found:08x}): the data is damaged"
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// lz4_flex's frame decoder, plus the check it lacks: it takes a stream that ends at a
/// block boundary or inside a block's 4-byte size for a clean end, which would drop the
/// rest of a truncated file without a word. [`Lz4Walk`] follows the frame layout over
/// the compressed bytes as the decoder reads them, so the end can be told apart.
struct Lz4Checked {
    dec: lz4_flex::frame::FrameDecoder<Lz4Walk>,
}

impl Lz4Checked {
    fn new(raw: Box<dyn Read + Send>) -> Lz4Checked {
        Lz4Checked {
            dec: lz4_flex::frame::FrameDecoder::new(Lz4Walk {
                raw,
                ..Lz4Walk::default()
            }),
        }
    }
}

impl Read for Lz4Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // lz4_flex returns 0 at the end of each frame; the stream ends only when a
        // read at a frame boundary consumes nothing more.
        loop {
            let before = self.dec.get_ref().consumed;
            let n = self.dec.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if !self.dec.get_ref().at_frame_end() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if self.dec.get_ref().consumed == before {
                return Ok(0);
            }
            // A fresh decoder for the next frame: lz4_flex 0.11 reuses its buffers
            // across frames and trips its own debug assertion when the next frame's
            // block mode differs.
            let placeholder = lz4_flex::frame::FrameDecoder::new(Lz4Walk::default());
            let walk = std::mem::replace(&mut self.dec, placeholder).into_inner();
            self.dec = lz4_flex::frame::FrameDecoder::new(walk);
        }
    }
}

/// The compressed lz4 bytes, with where in the frame layout the stream is
/// (lz4 frame format: magic, descriptor, blocks each led by a 4-byte size, a zero end
/// mark, an optional content checksum).
struct Lz4Walk {
    raw: Box<dyn Read + Send>,
    state: Lz4State,
    /// Compressed bytes read so far.
    consumed: u64,
}

#[derive(Clone, Copy)]
enum Lz4State {
    Magic {
        got: usize,
        bytes: [u8; 4],
    },
    /// The descriptor's FLG byte, which says how long the rest is.
    Flags,
    /// The rest of the descriptor.
    Descriptor {
        left: usize,
        flags: u8,
    },
    BlockSize {
        got: usize,
        bytes: [u8; 4],
        flags: u8,
    },
    /// Block data and its optional checksum.
    Block {
        left: u64,
        flags: u8,
    },
    ContentChecksum {
        left: usize,
    },
    SkippableSize {
        got: usize,
        bytes: [u8; 4],
    },
    Skippable {
        left: u64,
    },
    /// A layout this walk does not know (the legacy format): no judgement.
    Unknown,
}

impl Default for Lz4Walk {
    fn default() -> Lz4Walk {
        Lz4Walk {
            raw: Box::new(io::empty()),
            state: Lz4State::Magic {
                got: 0,
                bytes: [0; 4],
            },
            consumed: 0,
        }
    }
}

const LZ4_FLAG_CONTENT_SIZE: u8 = 0x08;
const LZ4_FLAG_DICT_ID: u8 = 0x01;
const LZ4_FLAG_CONTENT_CHECKSUM: u8 = 0x04;
const LZ4_FLAG_BLOCK_CHECKSUM: u8 = 0x10;

impl Lz4Walk {
    fn at_frame_end(&self) -> bool {
        matches!(
            self.state,
            Lz4State::Magic { got: 0, .. } | Lz4State::Unknown
        )
    }

    fn observe(&mut self, mut data: &[u8]) {
        use Lz4State as S;
        while let Some((&b, rest)) = data.split_first() {
            self.state = match self.state {
                S::Magic { mut got, mut bytes } => {
                    if let Some(slot) = bytes.get_mut(got) {
                        *slot = b;
                    }
                    got += 1;
                    if got < 4 {
                        S::Magic { got, bytes }
                    } else if bytes == LZ4_MAGIC {
                        S::Flags
                    } else if u32::from_le_bytes(bytes) & 0xffff_fff0 == 0x184d_2a50 {
                        S::SkippableSize {
                            got: 0,
                            bytes: [0; 4],
                        }
                    } else {
                        S::Unknown
                    }
                }
                S::Flags => {
                    let mut left = 2; // BD and the header checksum
                    if b & LZ4_FLAG_CONTENT_SIZE != 0 {
                        left += 8;
                    }
                    if b & LZ4_FLAG_DICT_ID != 0 {
                        left += 4;
                    }
                    S::Descriptor { left, flags: b }
                }
                S::Descriptor { left, flags } => {
                    if left > 1 {
                        S::Descriptor {
                            left: left - 1,
                            flags,
                        }
                    } else {
                        S::BlockSize {
                            got: 0,
                            bytes: [0; 4],
                            flags,
                        }
                    }
                }
                S::BlockSize {
                    mut got,
                    mut bytes,
                    flags,
                } => {
                    if let Some(slot) = bytes.get_mut(got) {
                        *slot = b;
                    }
                    got += 1;
                    if got < 4 {
                        S::BlockSize { got, bytes, flags }
                    } else {
                        let size = u32::from_le_bytes(bytes) & 0x7fff_ffff;
                        let checksum = if flags & LZ4_FLAG_BLOCK_CHECKSUM != 0 {
                            4
                        } else {
                            0
                        };
                        if size == 0 {
                            if flags & LZ4_FLAG_CONTENT_CHECKSUM != 0 {
                                S::ContentChecksum { left: 4 }
                            } else {
                                S::Magic {
                                    got: 0,
                                    bytes: [0; 4],
                                }
                            }
                        } else {
                            S::Block {
                                left: u64::from(size) + checksum,
                                flags,
                            }
                        }
                    }
                }
                S::Block { left, flags } => {
                    // Pass over the block in one step rather than byte by byte.
                    let take = (left as usize).min(data.len());
                    data = data.get(take..).unwrap_or_default();
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        S::BlockSize {
                            got: 0,
                            bytes: [0; 4],
                            flags,
                        }
                    } else {
                        S::Block { left, flags }
                    };
                    continue;
                }
                S::ContentChecksum { left } => {
                    if left > 1 {
                        S::ContentChecksum { left: left - 1 }
                    } else {
                        S::Magic {
                            got: 0,
                            bytes: [0; 4],
                        }
                    }
                }
                S::SkippableSize { mut got, mut bytes } => {
                    if let Some(slot) = bytes.get_mut(got) {
                        *slot = b;
                    }
                    got += 1;
                    if got < 4 {
                        S::SkippableSize { got, bytes }
                    } else {
                        match u32::from_le_bytes(bytes) {
                            0 => S::Magic {
                                got: 0,
                                bytes: [0; 4],
                            },
                            n => S::Skippable { left: u64::from(n) },
                        }
                    }
                }
                S::Skippable { left } => {
                    let take = (left as usize).min(data.len());
                    data = data.get(take..).unwrap_or_default();
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        S::Magic {
                            got: 0,
                            bytes: [0; 4],
                        }
                    } else {
                        S::Skippable { left }
                    };
                    continue;
                }
                S::Unknown => return,
            };
            data = rest;
        }
    }
}

impl Read for Lz4Walk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.raw.read(buf)?;
        self.consumed += n as u64;
        self.observe(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// 300 KB that does not compress to nothing, so the formats make several blocks.
    fn sample() -> Vec<u8> {
        let mut x = 0x1234_5678_9abc_def0u64;
        (0..300_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 3 == 0 {
                    b'a'
                } else {
                    x as u8
                }
            })
            .collect()
    }

    fn decode(data: &[u8]) -> (Option<Compression>, Vec<u8>, Option<io::Error>) {
        let (kind, mut r) = sniff(Box::new(io::Cursor::new(data.to_vec()))).unwrap();
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).err();
        (kind, out, err)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn lz4(data: &[u8]) -> Vec<u8> {
        let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn plain_bytes_pass_through_untouched() {
        for data in [&b""[..], b"\x1f", b"\xd4\xc3\xb2\xa1rest of a pcap"] {
            let (kind, out, err) = decode(data);
            assert_eq!((kind, out.as_slice()), (None, data));
            assert!(err.is_none());
        }
    }

    #[test]
    fn concatenated_members_and_frames_are_all_read() {
        let (a, b) = (sample(), b"second part".to_vec());
        let want = [a.clone(), b.clone()].concat();
        // A skippable zstd frame (magic, length, payload) between two real ones.
        let skippable = [&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0][..], b"abc"].concat();
        let cases = [
            (Compression::Gzip, [gzip(&a), gzip(&b)].concat()),
            (Compression::Zstd, [zstd(&a), skippable, zstd(&b)].concat()),
            (Compression::Lz4, [lz4(&a), lz4(&b)].concat()),
        ];
        for (kind, bytes) in cases {
            let (got_kind, out, err) = decode(&bytes);
            assert_eq!(got_kind, Some(kind));
            assert!(err.is_none(), "{kind:?}: {err:?}");
            assert!(
                out == want,
                "{kind:?}: {} of {} bytes",
                out.len(),
                want.len()
            );
        }
    }

    /// Cut anywhere, every format reports the truncation as an error; lz4_flex alone
    /// would take a cut at a block boundary for the end of the data.
    #[test]
    fn every_cut_is_an_error_never_a_clean_end() {
        let data = sample();
        for (kind, bytes) in [
            (Compression::Gzip, gzip(&data)),
            (Compression::Zstd, zstd(&data)),
            (Compression::Lz4, lz4(&data)),
        ] {
            // Shorter than the magic, the bytes are not recognised as compressed.
            let mut cuts: Vec<usize> = (MAGIC_LEN..bytes.len()).step_by(997).collect();
            if kind == Compression::Lz4 {
                // Frame descriptor: magic, FLG, BD, header checksum (no content size
                // here); then blocks of a 4-byte size and the data.
                assert_eq!(bytes[4] & LZ4_FLAG_CONTENT_SIZE, 0);
                let mut at = 7;
                while let Some(size) = bytes.get(at..at + 4) {
                    let size = u32::from_le_bytes(size.try_into().unwrap()) & 0x7fff_ffff;
                    if size == 0 {
                        break;
                    }
                    at += 4 + size as usize;
                    cuts.extend([at, at + 2]);
                }
                assert!(cuts.len() > 3, "expected several lz4 blocks");
            }
            cuts.push(bytes.len() - 1);
            for cut in cuts {
                let (_, out, err) = decode(&bytes[..cut]);
                let err = err.unwrap_or_else(|| {
                    panic!("{kind:?} cut at {cut}: clean end after {} bytes", out.len())
                });
                assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{kind:?}: {err}");
                assert!(err.to_string().starts_with(kind.name()), "{err}");
                assert!(data.starts_with(&out), "{kind:?} cut at {cut}: wrong bytes");
            }
        }
    }

    #[test]
    fn damaged_data_is_an_error() {
        let data = sample();
        // lz4 can only tell with a content checksum, which the lz4 tool writes by
        // default and lz4_flex only when asked.
        let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(
            lz4_flex::frame::FrameInfo::new().content_checksum(true),
            Vec::new(),
        );
        e.write_all(&data).unwrap();
        let lz4_checked = e.finish().unwrap();
        for mut bytes in [gzip(&data), zstd(&data), lz4_checked] {
            let mid = bytes.len() / 2;
            for b in bytes.get_mut(mid..mid + 64).unwrap() {
                *b ^= 0x5a;
            }
            let (kind, _, err) = decode(&bytes);
            assert!(err.is_some(), "{kind:?}: damage not noticed");
        }
    }
}
