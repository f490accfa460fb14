use std::io::Read;
use std::path::{Path, PathBuf};

use super::source::Source;
use super::*;
use netkit_cmds::source::{Format, ReadWarning};

/// The shared corpus, when this checkout sits next to it.
fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("NETKIT_PCAPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps"));
    if dir.join("MANIFEST.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: no capture corpus at {}", dir.display());
        None
    }
}

/// (file, frames) for every capture in MANIFEST.tsv.
fn manifest(dir: &Path) -> Vec<(PathBuf, u64)> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, frames) = (col("file"), col("frames"));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (dir.join(f[file]), f[frames].parse().unwrap())
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
struct Owned {
    number: u64,
    ts_ns: i64,
    orig_len: u32,
    linktype: u16,
    interface: u32,
    data: Vec<u8>,
}

fn drain(file: &mut CaptureFile) -> Vec<Owned> {
    let mut out = Vec::new();
    while let Some(f) = file.next_frame() {
        out.push(Owned {
            number: f.number,
            ts_ns: f.ts_ns,
            orig_len: f.orig_len,
            linktype: f.linktype,
            interface: f.interface,
            data: f.data.to_vec(),
        });
    }
    out
}

/// A reader handing out at most `chunk` bytes per call, like a slow pipe.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn streamed(data: Vec<u8>, chunk: usize, buffer: usize) -> Result<CaptureFile, CaptureError> {
    let reader = Box::new(Trickle {
        data,
        pos: 0,
        chunk,
    });
    CaptureFile::start(
        "<stream>".to_string(),
        Source::from_reader_sized(reader, buffer),
        None,
    )
}

#[test]
fn corpus_frame_counts_match_tshark() {
    let Some(dir) = corpus() else { return };
    let files = manifest(&dir);
    assert_eq!(files.len(), 114);
    for (path, frames) in files {
        let mut file = CaptureFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let read = drain(&mut file);
        let mut file = CaptureFile::open_mapped(&path).unwrap_or_else(|e| panic!("{e}"));
        let mapped = drain(&mut file);
        assert_eq!(read, mapped, "{}", path.display());
        assert_eq!(mapped.len() as u64, frames, "{}", path.display());
        assert!(
            file.warnings().is_empty(),
            "{}: {:?}",
            path.display(),
            file.warnings()
        );
        assert_eq!(file.bytes_read(), std::fs::metadata(&path).unwrap().len());
        assert!(mapped
            .iter()
            .enumerate()
            .all(|(i, f)| f.number == i as u64 + 1));
        // The streaming path must see exactly the same frames, even through a tiny buffer
        // and a pipe that returns a few bytes at a time.
        let bytes = std::fs::read(&path).unwrap();
        let mut stream = streamed(bytes, 61, 64).unwrap();
        assert_eq!(drain(&mut stream), mapped, "{}", path.display());
    }
}

#[test]
fn corpus_time_stamps_and_link_types_match_tshark() {
    let Some(dir) = corpus() else { return };
    // Values from `tshark -T fields -e frame.time_epoch -e frame.interface_id`.
    let check = |name: &str, format: Format, nanos: bool, want: &[(i64, u32, u16)]| {
        let mut file = CaptureFile::open(&dir.join(name)).unwrap();
        assert_eq!(file.format(), format, "{name}");
        assert_eq!(file.nanosecond(), nanos, "{name}");
        let got: Vec<(i64, u32, u16)> = drain(&mut file)
            .iter()
            .map(|f| (f.ts_ns, f.interface, f.linktype))
            .collect();
        assert_eq!(&got[..want.len()], want, "{name}");
    };
    check(
        "misc/tcpdump__tcp-handshake-nano.pcap",
        Format::Pcap,
        true,
        &[
            (1_418_145_369_924_505_488, 0, 113),
            (1_418_145_370_052_027_262, 0, 113),
        ],
    );
    check(
        "misc/arkime__bigendian.pcap",
        Format::Pcap,
        false,
        &[
            (1_335_958_313_152_630_000, 0, 1),
            (1_335_958_317_529_201_000, 0, 1),
        ],
    );
    check(
        "misc/zeek__pcapng-multi-interface.pcapng",
        Format::Pcapng,
        true,
        &[
            (1_767_663_089_500_330_493, 0, 1),
            (1_767_663_089_514_291_940, 0, 1),
            (1_767_663_437_111_897_000, 1, 1),
        ],
    );
    check(
        "tcp/ndpi__rtsp.pcap",
        Format::Pcapng,
        false,
        &[(1_627_567_277_506_127_000, 0, 113)],
    );
    check(
        "misc/tcpdump__LINKTYPE_RAW_ipv4.pcap",
        Format::Pcap,
        false,
        &[],
    );
    let file = CaptureFile::open(&dir.join("misc/zeek__pcapng-multi-interface.pcapng")).unwrap();
    assert_eq!(file.linktypes(), vec![1, 1]);
    assert_eq!(
        file.interface_names(),
        vec![
            Some("eth0".to_string()),
            Some(r"\Device\NPF_{5AE6EDB4-EFF9-46B3-A3C2-EE50C688A9E6}".to_string())
        ]
    );
    let raw = CaptureFile::open(&dir.join("misc/tcpdump__LINKTYPE_RAW_ipv4.pcap")).unwrap();
    assert_eq!(raw.linktypes(), vec![101]);
}

// ---- hand-built files ----

fn put16(v: &mut Vec<u8>, x: u16, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}

fn put32(v: &mut Vec<u8>, x: u32, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}

fn pcap_header(magic: u32, be: bool, snaplen: u32, linktype: u32) -> Vec<u8> {
    let mut v = Vec::new();
    put32(&mut v, magic, be);
    put16(&mut v, 2, be);
    put16(&mut v, 4, be);
    put32(&mut v, 0, be);
    put32(&mut v, 0, be);
    put32(&mut v, snaplen, be);
    put32(&mut v, linktype, be);
    v
}

fn pcap_record(v: &mut Vec<u8>, be: bool, sec: u32, frac: u32, data: &[u8], orig: u32) {
    put32(v, sec, be);
    put32(v, frac, be);
    put32(v, data.len() as u32, be);
    put32(v, orig, be);
    v.extend_from_slice(data);
}

fn open(bytes: Vec<u8>) -> CaptureFile {
    CaptureFile::from_bytes(bytes).unwrap()
}

#[test]
fn pcap_both_byte_orders_and_resolutions() {
    for be in [false, true] {
        for (magic, nanos) in [(0xa1b2_c3d4, false), (0xa1b2_3c4d, true)] {
            let mut v = pcap_header(magic, be, 65535, 1 | 0x1000_0000); // FCS bits set
            pcap_record(&mut v, be, 1_700_000_000, 123_456, b"abcd", 60);
            pcap_record(&mut v, be, 1_700_000_001, 7, b"efghij", 6);
            let mut f = open(v);
            assert_eq!(f.format(), Format::Pcap);
            assert_eq!(f.nanosecond(), nanos);
            assert_eq!(f.linktypes(), vec![1]);
            let frames = drain(&mut f);
            let scale = if nanos { 1 } else { 1000 };
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0].ts_ns, 1_700_000_000_000_000_000 + 123_456 * scale);
            assert_eq!(frames[0].data, b"abcd");
            assert_eq!(frames[0].orig_len, 60);
            assert_eq!(frames[1].ts_ns, 1_700_000_001_000_000_000 + 7 * scale);
            assert_eq!(frames[1].data, b"efghij");
            assert_eq!(f.bytes_read(), 24 + 16 + 4 + 16 + 6);
            assert!(f.warnings().is_empty());
        }
    }
}

#[test]
fn modified_pcap_has_longer_record_headers() {
    let mut v = pcap_header(0xa1b2_cd34, false, 65535, 1);
    pcap_record(&mut v, false, 5, 6, &[], 3);
    // The record header grows by ifindex, protocol, packet type and padding; with
    // caplen 3 the three data bytes follow those 8.
    let len = v.len();
    v[len - 8..len - 4].copy_from_slice(&3u32.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0, 2, 0, 8, 0, 0]);
    v.extend_from_slice(b"xyz");
    let frames = drain(&mut open(v));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].data, b"xyz");
}

#[test]
fn empty_capture_is_fine_but_empty_file_is_not() {
    let mut f = open(pcap_header(0xa1b2_c3d4, false, 65535, 1));
    assert!(f.next_frame().is_none());
    assert!(f.warnings().is_empty());
    let e = CaptureFile::from_bytes(Vec::new()).err().unwrap();
    assert_eq!(
        e.to_string(),
        "<memory>: empty file (pcap or pcapng header expected)"
    );
}

#[test]
fn not_a_capture_file_names_the_magic() {
    let e = CaptureFile::from_bytes(b"#!/bin/sh\necho hi\n".to_vec())
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "<memory>: not a capture file (pcap or pcapng magic expected, found 0x23212f62)"
    );
    let e = CaptureFile::from_bytes(vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0])
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "<memory>: truncated pcap file header (6 of 24 bytes)"
    );
}

#[test]
fn open_reports_missing_file() {
    let e = CaptureFile::open(Path::new("/nonexistent/x.pcap"))
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.pcap: cannot open:"),
        "{e}"
    );
}

#[test]
fn truncated_final_record_stops_with_frame_and_offset() {
    let mut v = pcap_header(0xa1b2_c3d4, false, 65535, 1);
    pcap_record(&mut v, false, 1, 0, &[1; 10], 10);
    pcap_record(&mut v, false, 2, 0, &[2; 10], 10);
    v.truncate(v.len() - 3);
    for mut f in [open(v.clone()), streamed(v, 5, 16).unwrap()] {
        assert_eq!(drain(&mut f).len(), 1);
        assert_eq!(
            f.warnings(),
            &[ReadWarning {
                frame: 2,
                offset: 50,
                message: "stopped at frame 2, byte offset 50: truncated record: 10 bytes \
                          captured, only 7 left in the file"
                    .to_string()
            }]
        );
        assert_eq!(f.bytes_read(), 50);
        assert!(f.next_frame().is_none());
    }
}

#[test]
fn truncated_record_header_and_absurd_length_stop() {
    let mut v = pcap_header(0xa1b2_c3d4, true, 65535, 1);
    v.extend_from_slice(&[0; 9]);
    let mut f = open(v);
    assert!(f.next_frame().is_none());
    assert_eq!(
        f.warnings()[0].message,
        "stopped at frame 1, byte offset 24: truncated record header (9 of 16 bytes)"
    );

    let mut v = pcap_header(0xa1b2_c3d4, false, 65535, 1);
    pcap_record(&mut v, false, 1, 0, &[0; 4], 4);
    put32(&mut v, 1, false);
    put32(&mut v, 0, false);
    put32(&mut v, u32::MAX, false);
    put32(&mut v, 60, false);
    let mut f = open(v);
    assert_eq!(drain(&mut f).len(), 1);
    assert_eq!(
        f.warnings()[0].message,
        "stopped at frame 2, byte offset 44: record length 4294967295 exceeds the \
         262144-byte limit (snaplen 65535)"
    );
}

// pcapng

fn block(v: &mut Vec<u8>, be: bool, btype: u32, body: &[u8]) {
    let padded = body.len().next_multiple_of(4);
    let len = (12 + padded) as u32;
    put32(v, btype, be);
    put32(v, len, be);
    v.extend_from_slice(body);
    v.resize(v.len() + padded - body.len(), 0);
    put32(v, len, be);
}

fn shb(v: &mut Vec<u8>, be: bool) {
    let mut body = Vec::new();
    put32(&mut body, 0x1a2b_3c4d, be);
    put16(&mut body, 1, be);
    put16(&mut body, 0, be);
    body.extend_from_slice(&[0xff; 8]); // section length unknown
    block(v, be, 0x0a0d_0d0a, &body);
}

fn option(body: &mut Vec<u8>, be: bool, code: u16, value: &[u8]) {
    put16(body, code, be);
    put16(body, value.len() as u16, be);
    body.extend_from_slice(value);
    body.resize(body.len().next_multiple_of(4), 0);
}

fn idb(v: &mut Vec<u8>, be: bool, linktype: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) {
    let mut body = Vec::new();
    put16(&mut body, linktype, be);
    put16(&mut body, 0, be);
    put32(&mut body, snaplen, be);
    for (code, value) in options {
        option(&mut body, be, *code, value);
    }
    if !options.is_empty() {
        option(&mut body, be, 0, &[]);
    }
    block(v, be, 1, &body);
}

fn epb(v: &mut Vec<u8>, be: bool, iface: u32, ts: u64, data: &[u8], orig: u32) {
    let mut body = Vec::new();
    put32(&mut body, iface, be);
    put32(&mut body, (ts >> 32) as u32, be);
    put32(&mut body, ts as u32, be);
    put32(&mut body, data.len() as u32, be);
    put32(&mut body, orig, be);
    body.extend_from_slice(data);
    block(v, be, 6, &body);
}

/// Two sections: the first with an Ethernet interface in nanoseconds and a raw-IP one in
/// 2^-10 s units offset by 100 s; the second restarts numbering with a Linux SLL one.
fn multi_section(be: bool) -> Vec<u8> {
    let mut v = Vec::new();
    shb(&mut v, be);
    idb(&mut v, be, 1, 0, &[(2, b"eth0".to_vec()), (9, vec![9])]);
    let offset = if be {
        100u64.to_be_bytes()
    } else {
        100u64.to_le_bytes()
    };
    idb(
        &mut v,
        be,
        101,
        1500,
        &[(9, vec![0x80 | 10]), (14, offset.to_vec())],
    );
    block(&mut v, be, 4, &[0, 0, 0, 0]); // name resolution block: skipped
    epb(&mut v, be, 0, 1_700_000_000_123_456_789, b"first", 5);
    epb(&mut v, be, 1, 3 * 1024 + 512, b"second!", 70);
    // Simple packet block on interface 0: no time stamp, 4 of 9 bytes captured.
    let mut spb = Vec::new();
    put32(&mut spb, 9, be);
    spb.extend_from_slice(b"spb!");
    block(&mut v, be, 3, &spb);
    // Obsolete packet block on interface 1.
    let mut pb = Vec::new();
    put16(&mut pb, 1, be);
    put16(&mut pb, 0, be);
    put32(&mut pb, 0, be);
    put32(&mut pb, 2048, be);
    put32(&mut pb, 2, be);
    put32(&mut pb, 2, be);
    pb.extend_from_slice(b"pb");
    block(&mut v, be, 2, &pb);
    block(&mut v, be, 0x4000_0bad, b"custom"); // unknown block type: skipped
    shb(&mut v, be);
    idb(&mut v, be, 113, 65535, &[]);
    epb(&mut v, be, 0, 42_000_000, b"third section", 13);
    v
}

#[test]
fn pcapng_sections_interfaces_and_packet_blocks() {
    for be in [false, true] {
        let bytes = multi_section(be);
        let len = bytes.len() as u64;
        for mut f in [open(bytes.clone()), streamed(bytes.clone(), 3, 8).unwrap()] {
            assert_eq!(f.format(), Format::Pcapng);
            // Interfaces before the first packet are known right after opening.
            assert_eq!(f.linktypes(), vec![1, 101]);
            assert!(f.nanosecond());
            let frames = drain(&mut f);
            type Row<'a> = (u64, i64, u32, u16, u32, &'a [u8]);
            let got: Vec<Row> = frames
                .iter()
                .map(|f| {
                    (
                        f.number,
                        f.ts_ns,
                        f.orig_len,
                        f.linktype,
                        f.interface,
                        &f.data[..],
                    )
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    (1, 1_700_000_000_123_456_789, 5, 1, 0, &b"first"[..]),
                    (2, 100_000_000_000 + 3_500_000_000, 70, 101, 1, b"second!"),
                    (3, 100_000_000_000 + 3_500_000_000, 9, 1, 0, b"spb!"),
                    (4, 100_000_000_000 + 2_000_000_000, 2, 101, 1, b"pb"),
                    // No if_tsresol: microseconds.
                    (5, 42_000_000_000, 13, 113, 2, b"third section"),
                ],
                "big endian: {be}"
            );
            assert_eq!(f.linktypes(), vec![1, 101, 113]);
            assert_eq!(
                f.interface_names(),
                vec![Some("eth0".to_string()), None, None]
            );
            assert!(f.warnings().is_empty(), "{:?}", f.warnings());
            assert_eq!(f.bytes_read(), len);
        }
    }
}

#[test]
fn pcapng_block_length_mismatch_stops() {
    let mut v = Vec::new();
    shb(&mut v, false);
    idb(&mut v, false, 1, 0, &[]);
    epb(&mut v, false, 0, 1, b"ok", 2);
    let at = v.len();
    epb(&mut v, false, 0, 2, b"bad", 3);
    let end = v.len();
    v[end - 4] = 0x99; // trailing length no longer matches
    let mut f = open(v);
    assert_eq!(drain(&mut f).len(), 1);
    assert_eq!(
        f.warnings(),
        &[ReadWarning {
            frame: 2,
            offset: at as u64,
            message: format!(
                "stopped at frame 2, byte offset {at}: block length mismatch: 36 at the start \
                 of the block, 153 at its end"
            ),
        }]
    );
}

#[test]
fn pcapng_damage_variants_stop_cleanly() {
    let base = {
        let mut v = Vec::new();
        shb(&mut v, true);
        idb(&mut v, true, 1, 0, &[]);
        v
    };
    // Truncated final block.
    let mut v = base.clone();
    epb(&mut v, true, 0, 1, b"abcdefgh", 8);
    v.truncate(v.len() - 5);
    let mut f = open(v);
    assert!(f.next_frame().is_none());
    assert!(f.warnings()[0]
        .message
        .contains("truncated block: type 0x00000006 declares 40 bytes, only 35 left"));
    // Captured length larger than its block.
    let mut v = base.clone();
    epb(&mut v, true, 0, 1, b"abcd", 4);
    let caplen_at = v.len() - 4 - 4 - 4 - 4;
    v[caplen_at..caplen_at + 4].copy_from_slice(&200u32.to_be_bytes());
    let mut f = open(v);
    assert!(f.next_frame().is_none());
    assert!(f.warnings()[0]
        .message
        .ends_with("captured length 200 exceeds the 4 bytes its block holds"));
    // Block length not a multiple of four.
    let mut v = base.clone();
    v.extend_from_slice(&[0, 0, 0, 6, 0, 0, 0, 13, 0, 0, 0, 0, 0]);
    let mut f = open(v);
    assert!(f.next_frame().is_none());
    assert!(f.warnings()[0]
        .message
        .ends_with("block type 0x00000006 has invalid length 13"));
}

#[test]
fn pcapng_unknown_interface_is_skipped_with_a_warning() {
    let mut v = Vec::new();
    shb(&mut v, false);
    idb(&mut v, false, 1, 0, &[]);
    epb(&mut v, false, 7, 1, b"lost", 4);
    epb(&mut v, false, 0, 1, b"kept", 4);
    let mut f = open(v);
    let frames = drain(&mut f);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].number, 2);
    assert_eq!(f.warnings().len(), 1);
    assert!(f.warnings()[0]
        .message
        .starts_with("frame 1, byte offset 48: packet refers to interface 7"));
}

#[test]
fn power_of_two_and_coarse_resolutions() {
    assert_eq!(
        pcapng::Resolution::from_option(0x80 | 1).to_ns(3),
        1_500_000_000
    );
    assert_eq!(pcapng::Resolution::from_option(3).to_ns(5), 5_000_000);
    assert_eq!(pcapng::Resolution::from_option(12).to_ns(5_000), 5);
    assert_eq!(pcapng::Resolution::from_option(0x7f).to_ns(u64::MAX), 0);
    assert_eq!(pcapng::Resolution::from_option(0xff).to_ns(u64::MAX), 0);
}

#[test]
fn garbage_never_panics() {
    // A cheap deterministic stand-in for the fuzz targets: flip bytes of real files.
    let mut seeds = vec![multi_section(false), multi_section(true)];
    let mut v = pcap_header(0xa1b2_c3d4, false, 65535, 1);
    pcap_record(&mut v, false, 1, 2, &[0x45; 40], 40);
    seeds.push(v);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..5000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut prog = state.to_le_bytes().repeat(5);
        prog[0] %= 4;
        fuzzing::run_bpf(&prog);
    }
    for seed in &seeds {
        for _ in 0..2000 {
            let mut bytes = seed.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bytes.len() as u64) as usize;
                bytes[at] = (state >> 32) as u8;
            }
            let cut = (state >> 40) as usize % (bytes.len() + 1);
            bytes.truncate(cut.max(bytes.len() / 2));
            fuzzing::read_both_ways(&bytes);
        }
    }
}

/// The `compressed_reader` fuzz target's function on flipped bytes of a real capture
/// compressed three ways: damage in the compression (headers, block sizes,
/// checksums) must give warnings or errors, never a panic, and the in-memory and
/// trickled reads must agree.
#[test]
fn compressed_garbage_never_panics() {
    use std::io::Write;
    let plain = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/lab/h2-extended-connect.pcap"),
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
    lz.write_all(&plain).unwrap();
    let seeds = [
        gz.finish().unwrap(),
        ruzstd::encoding::compress_to_vec(
            plain.as_slice(),
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
        lz.finish().unwrap(),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for seed in &seeds {
        fuzzing::read_compressed(seed);
        for _ in 0..1000 {
            let mut bytes = seed.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Past the 4-byte magic, so the input stays compressed.
                let at = 4 + (state % (bytes.len() as u64 - 4)) as usize;
                bytes[at] = (state >> 32) as u8;
            }
            let cut = (state >> 40) as usize % (bytes.len() + 1);
            bytes.truncate(cut.max(bytes.len() / 2));
            fuzzing::read_compressed(&bytes);
        }
    }
}

// ---- BPF filters, checked against libpcap ----

const FILTERS: [&str; 12] = [
    "tcp",
    "udp port 53",
    "vlan",
    "tcp[13] & 4 != 0",
    "host 10.0.0.1",
    "ip6",
    "arp",
    "not ip",
    "mpls",
    "greater 1000",
    "ether proto 0x88cc",
    "icmp[icmptype] == 11",
];

fn libpcap_present() -> bool {
    let ok = libpcap::compile(1, 65535, "tcp").is_ok();
    if !ok {
        eprintln!("skipped: libpcap runtime not installed");
    }
    ok
}

#[test]
fn bpf_interpreter_agrees_with_libpcap_on_the_corpus() {
    let Some(dir) = corpus() else { return };
    if !libpcap_present() {
        return;
    }
    let mut compared = 0u64;
    let mut accepted = 0u64;
    for (path, _) in manifest(&dir) {
        let mut file = CaptureFile::open(&path).unwrap();
        let mut programs: Vec<Vec<Option<Program>>> = Vec::new();
        while let Some(frame) = file.next_frame() {
            let iface = frame.interface as usize;
            while programs.len() <= iface {
                programs.push(Vec::new());
            }
            if programs[iface].is_empty() {
                programs[iface] = FILTERS
                    .iter()
                    .map(|expr| {
                        // Some filters make no sense on some link types (e.g. `vlan` on
                        // raw IP); libpcap refuses them, and so do we.
                        libpcap::compile(frame.linktype, 262144, expr)
                            .ok()
                            .map(|i| Program::new(i).unwrap())
                    })
                    .collect();
            }
            for (program, expr) in programs[iface].iter().zip(FILTERS) {
                let Some(program) = program else { continue };
                let ours = program.matches(frame.data, frame.orig_len);
                let theirs = libpcap::reference::offline_filter(
                    program.instructions(),
                    frame.data,
                    frame.orig_len,
                )
                .unwrap();
                assert_eq!(
                    ours,
                    theirs,
                    "{} frame {} filter '{expr}'",
                    path.display(),
                    frame.number
                );
                compared += 1;
                accepted += u64::from(ours);
            }
        }
    }
    // Both outcomes must have been exercised for the comparison to mean anything.
    assert!(compared > 50_000, "{compared}");
    assert!(
        accepted > 5_000 && accepted < compared / 2,
        "{accepted} of {compared}"
    );
}

#[test]
fn set_filter_keeps_numbering_and_counts_like_tcpdump() {
    let Some(dir) = corpus() else { return };
    if !libpcap_present() {
        return;
    }
    // `tcpdump -r FILE 'tcp[13] & 4 != 0' | wc -l` = 3 frames carry RST here.
    let path = dir.join("tcp/chrissanders__http_espn_fail.pcapng");
    let mut file = CaptureFile::open(&path).unwrap();
    file.set_filter("tcp[13] & 4 != 0").unwrap();
    let frames = drain(&mut file);
    let tcpdump = std::process::Command::new("tcpdump")
        .args(["-nr"])
        .arg(&path)
        .arg("tcp[13] & 4 != 0")
        .output();
    if let Ok(out) = tcpdump {
        if out.status.success() {
            let lines = String::from_utf8_lossy(&out.stdout).lines().count();
            assert_eq!(frames.len(), lines);
        }
    }
    assert!(!frames.is_empty());
    assert!(frames.iter().all(|f| f.data.get(14 + 20 + 13).is_some()));
    assert_eq!(file.frames_read(), 569);

    let mut file = CaptureFile::open(&path).unwrap();
    let e = file.set_filter("tcp port").err().unwrap();
    assert!(
        e.to_string().starts_with(&format!(
            "{}: bad filter 'tcp port' for link type 1:",
            path.display()
        )),
        "{e}"
    );
}

#[test]
fn filter_compiles_lazily_for_later_interfaces() {
    if !libpcap_present() {
        return;
    }
    let mut f = open(multi_section(false));
    f.set_filter("greater 10").unwrap();
    // Frame 5 sits on an SLL interface that appears after set_filter; the filter must
    // be compiled for it then. Wire lengths are 5, 70, 9, 2 and 13.
    let numbers: Vec<u64> = drain(&mut f).iter().map(|f| f.number).collect();
    assert_eq!(numbers, vec![2, 5]);
    assert!(f.warnings().is_empty(), "{:?}", f.warnings());
    let mut f = open(multi_section(false));
    f.set_filter("").unwrap(); // the empty filter accepts everything
    assert_eq!(drain(&mut f).len(), 5);
    assert!(f.warnings().is_empty());
}

#[test]
fn bsd_loopback_families_are_presented_as_this_host_compiles_filters() {
    use super::bpf::loopback_header_for_filter as header;
    let linux_v6 = 10u32.to_ne_bytes();
    // AF_INET6 of NetBSD/OpenBSD, FreeBSD and Darwin, written little- or big-endian.
    for af in [24u32, 28, 30] {
        assert_eq!(header(0, &af.to_le_bytes()), Some(linux_v6), "{af} LE");
        assert_eq!(header(0, &af.to_be_bytes()), Some(linux_v6), "{af} BE");
        // DLT_LOOP: network byte order.
        assert_eq!(header(108, &af.to_be_bytes()), Some(10u32.to_be_bytes()));
    }
    // IPv4 is 2 everywhere; only the byte order may need turning.
    assert_eq!(header(0, &2u32.to_ne_bytes()), None);
    assert_eq!(header(0, &[0, 0, 0, 0x1e, 0x60]), Some(linux_v6));
    // Other link types and unknown families are left alone.
    assert_eq!(header(1, &30u32.to_le_bytes()), None);
    assert_eq!(header(0, &7u32.to_le_bytes()), None);
    assert_eq!(header(0, &[30]), None);
}

/// The pcap fuzz targets mutate their seeds into compression magics: such input gets
/// the compressed reader's invariant, not "both reads identical" (the fuzz smoke found
/// these two: an LZ4 magic before a pcap header, a zstd magic before a pcapng one).
#[test]
fn the_pcap_fuzz_targets_accept_compressed_garbage() {
    fuzzing::read_both_ways(&[4, 34, 77, 24, 161, 178, 161, 178, 195, 215, 195, 215]);
    fuzzing::read_both_ways(&[
        40, 181, 47, 253, 10, 13, 13, 10, 108, 0, 0, 0, 77, 60, 43, 26, 1, 0, 0, 0, 255, 255, 255,
        255, 255, 255, 255, 255, 3, 0, 23, 0, 76, 105, 110, 117, 120, 32, 51, 46, 49, 54, 46, 48,
        45, 52, 56, 45, 103, 101, 110, 101, 114, 105, 99, 0, 4, 0, 41, 0, 68, 117, 109, 112, 99,
        97, 112, 32, 49, 46, 49, 48, 46, 54, 32, 40, 118, 49, 46, 49, 48, 46, 54, 32, 102, 114,
        111, 109, 32, 109, 97, 115, 116, 101, 114, 45, 49, 46, 49, 48, 41, 0, 0, 0, 0, 0, 0, 0,
        108, 0, 0, 0, 1, 0, 0, 0, 80, 0, 0, 0, 1, 0, 0, 0, 255, 255, 0, 0, 2, 0, 14, 0, 116, 97,
        112, 98, 53, 52, 57, 48, 53, 52, 56, 45, 51, 97, 0, 0, 9, 0, 1, 0, 6, 0, 0, 0, 12, 0, 23,
        0, 76, 105, 110, 117, 120, 32, 51, 46, 49, 54, 46, 48, 45, 52, 56, 45, 103, 101, 110, 101,
        114, 105, 99, 0, 0, 0, 0, 0, 80, 0, 0, 0, 6, 0, 0, 0, 92, 0, 0, 0, 0, 0, 0, 0, 207, 36, 5,
        0, 65, 126, 26, 245, 58, 0, 0, 0, 58, 0, 0, 0, 1, 0, 94, 0, 0, 22, 250, 22, 62, 53, 209,
        67, 8, 0, 70, 192, 0, 44, 10, 49, 0, 0, 1, 2, 119, 183, 192, 168, 1, 101, 224, 0, 0, 22,
        148, 4, 0, 0, 34, 0, 230, 248, 0, 0, 0, 1, 5, 0, 0, 1, 239, 1, 1, 1, 1, 1, 1, 1, 0, 0, 92,
        0, 0, 0, 6, 0, 0, 0, 92, 0, 0, 0, 0, 0, 0, 0, 207, 36, 5, 0, 98, 208, 41, 248, 58, 0, 0, 0,
        58, 0, 0, 0, 1, 0, 94, 0, 0, 22, 250, 22, 62, 53, 209, 67, 8, 0, 70, 192, 0, 44, 10, 51, 0,
        0, 1, 2, 119, 181, 192, 168, 1, 101, 224, 0, 0, 22, 148, 4, 0, 0, 34, 0, 234, 248, 0, 0, 0,
        1, 1, 0, 0, 1, 239, 1, 1, 1, 1, 1, 1, 1, 0, 0, 92, 0, 0, 0,
    ]);
}

/// A mapped capture truncated while it is read (logrotate's copytruncate, say) makes
/// the next access to its memory fault with SIGBUS: one line and exit status 1, not a
/// crash. The test runs itself again as a child that maps a capture, truncates it and
/// reads on.
#[test]
fn a_mapped_capture_that_shrinks_while_read_is_one_line_and_exit_1() {
    const CHILD: &str = "NETKIT_TEST_SHRINKING_CAPTURE";
    if let Some(path) = std::env::var_os(CHILD) {
        let path = PathBuf::from(path);
        let mut file = CaptureFile::open_mapped(&path).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(0))
            .unwrap();
        let frames = drain(&mut file).len();
        panic!("{frames} frames read from a mapped file truncated to nothing, no fault");
    }
    let dir = std::env::temp_dir().join(format!("netkit-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shrinking.pcap");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/lab/h2-extended-connect.pcap"),
        &path,
    )
    .unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "capture::tests::a_mapped_capture_that_shrinks_while_read_is_one_line_and_exit_1",
            "--nocapture",
        ])
        .env(CHILD, &path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "child: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("netkit:"))
        .collect();
    assert_eq!(
        lines,
        [
            "netkit: the capture file could not be read through its memory map (SIGBUS: it \
          shrank while it was read, or the storage failed)"
        ],
        "child: {stderr}"
    );
}
