//! Capture files: pcap and pcapng (and stdin), read frame by frame with an optional
//! BPF filter. See the module above for how bytes are buffered and damage reported.

use std::io::{Read, Seek};
use std::path::Path;

use netkit_cmds::source::{Format, FrameSource, RawFrame, ReadWarning, SharedBytes};

use super::bpf::{self, Program};
use super::compressed::{self, Compression};
use super::source::Source;
use super::{
    libpcap, pcap, pcapng, CaptureError, LinkInfo, Step, MAX_KEPT_WARNINGS, MAX_RECORD_LEN,
};

enum Layout {
    Pcap(pcap::Layout),
    Pcapng(pcapng::State),
}

/// Per-interface compiled filter; pcapng interfaces may appear after `set_filter`.
enum Slot {
    Pending,
    Ready(Program),
    Failed,
}

struct Filter {
    expr: String,
    slots: Vec<Slot>,
}

/// A capture file being read frame by frame.
pub struct CaptureFile {
    name: String,
    src: Source,
    /// The compression the capture was read through, if any.
    compression: Option<Compression>,
    layout: Layout,
    frames: u64,
    /// Records that read whole (filtered out or not), unlike skipped or damaged ones.
    readable: u64,
    last_ts: i64,
    done: bool,
    warnings: Vec<ReadWarning>,
    dropped_warnings: u64,
    filter: Option<Filter>,
}

impl CaptureFile {
    /// Opens a pcap or pcapng file; "-" reads stdin. Either way the input is streamed
    /// through one buffer, so pipes and FIFOs work and nothing needs to be seekable.
    /// gzip, zstd and lz4 compressed captures are recognised by their first bytes and
    /// decompressed as they are read.
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        let name = path.display().to_string();
        if path.as_os_str() == "-" {
            return CaptureFile::from_reader("-", Box::new(std::io::stdin()));
        }
        let file =
            std::fs::File::open(path).map_err(|e| CaptureError::io(&name, "cannot open", e))?;
        CaptureFile::from_reader(&name, Box::new(file))
    }

    /// As [`CaptureFile::open`], but memory-maps regular files instead of reading them,
    /// so that other threads can read the frames where they lie
    /// ([`FrameSource::shared_bytes`]); `pcap analyze` on two threads and more uses it.
    /// Compressed files, FIFOs and devices are streamed.
    pub fn open_mapped(path: &Path) -> Result<CaptureFile, CaptureError> {
        let name = path.display().to_string();
        let mut file =
            std::fs::File::open(path).map_err(|e| CaptureError::io(&name, "cannot open", e))?;
        let mut head = [0u8; compressed::MAGIC_LEN];
        let got = read_head(&mut file, &mut head)
            .and_then(|got| file.rewind().map(|()| got))
            .map_err(|e| CaptureError::io(&name, "cannot read", e))?;
        if Compression::from_magic(head.get(..got).unwrap_or_default()).is_some() {
            return CaptureFile::from_reader(&name, Box::new(file));
        }
        let src = Source::from_file_mapped(file)
            .map_err(|e| CaptureError::io(&name, "cannot read", e))?;
        CaptureFile::start(name, src, None)
    }

    /// Reads a capture held in memory (used by the fuzz targets and tests); compressed
    /// bytes are decompressed as with [`CaptureFile::open`].
    pub fn from_bytes(data: Vec<u8>) -> Result<CaptureFile, CaptureError> {
        let name = "<memory>".to_string();
        match Compression::from_magic(&data) {
            None => CaptureFile::start(name, Source::from_vec(data), None),
            Some(_) => CaptureFile::from_reader(&name, Box::new(std::io::Cursor::new(data))),
        }
    }

    /// Reads a capture from any byte stream, buffering only what the current frame needs
    /// (decompressing it first when it is compressed).
    pub fn from_reader(
        name: &str,
        reader: Box<dyn Read + Send>,
    ) -> Result<CaptureFile, CaptureError> {
        CaptureFile::from_reader_sized(name, reader, None)
    }

    /// As [`CaptureFile::from_reader`] with a stream buffer of `size` bytes to start
    /// with (the fuzz targets use tiny ones to exercise refills).
    pub(super) fn from_reader_sized(
        name: &str,
        reader: Box<dyn Read + Send>,
        size: Option<usize>,
    ) -> Result<CaptureFile, CaptureError> {
        let (kind, reader) =
            compressed::sniff(reader).map_err(|e| CaptureError::io(name, "cannot read", e))?;
        let src = match size {
            Some(n) => Source::from_reader_sized(reader, n),
            None => Source::from_reader(reader),
        };
        CaptureFile::start(name.to_string(), src, kind)
    }

    pub(super) fn start(
        name: String,
        mut src: Source,
        compression: Option<Compression>,
    ) -> Result<CaptureFile, CaptureError> {
        // "gzip data: not a capture file" says what was found inside the compression.
        let inside = |why: String| match compression {
            Some(c) => format!("{} data: {why}", c.name()),
            None => why,
        };
        let got = src
            .fill(4)
            .map_err(|e| CaptureError::io(&name, "cannot read", e))?;
        let window = src.window();
        let magic = match window.get(..4) {
            Some(m) => <[u8; 4]>::try_from(m).unwrap_or_default(),
            None if got == 0 => {
                return Err(CaptureError::not_a_capture(
                    &name,
                    inside("empty file (pcap or pcapng header expected)".to_string()),
                ))
            }
            None => {
                return Err(CaptureError::not_a_capture(
                    &name,
                    inside(format!("not a capture file (only {got} bytes long)")),
                ))
            }
        };
        let layout = if magic == pcapng::SHB_MAGIC {
            Layout::Pcapng(pcapng::State::default())
        } else if let Some(kind) = pcap::magic_kind(magic) {
            let need = pcap::FILE_HEADER_LEN;
            let got = src
                .fill(need)
                .map_err(|e| CaptureError::io(&name, "cannot read", e))?;
            let layout = pcap::parse_header(kind, src.window()).ok_or_else(|| {
                CaptureError::not_a_capture(
                    &name,
                    inside(format!(
                        "truncated pcap file header ({got} of {need} bytes)"
                    )),
                )
            })?;
            src.advance(need);
            Layout::Pcap(layout)
        } else {
            return Err(CaptureError::not_a_capture(
                &name,
                inside(format!(
                    "not a capture file (pcap or pcapng magic expected, found 0x{:08x})",
                    u32::from_be_bytes(magic)
                )),
            ));
        };
        let mut file = CaptureFile {
            name,
            src,
            compression,
            layout,
            frames: 0,
            readable: 0,
            last_ts: 0,
            done: false,
            warnings: Vec::new(),
            dropped_warnings: 0,
            filter: None,
        };
        file.read_leading_blocks();
        // Reading that stopped at byte 0 stopped at the section header: nothing in the
        // file is readable, so it is unusable (exit 1), not damaged with partial results.
        if matches!(file.layout, Layout::Pcapng(_)) {
            if let Some(w) = file.warnings.iter().find(|w| w.offset == 0) {
                let why = format!("unusable pcapng file: {}", w.message);
                return Err(CaptureError::not_a_capture(&file.name, why));
            }
        }
        Ok(file)
    }

    /// Processes the pcapng blocks before the first packet (section header, interface
    /// descriptions), so link types are known before the first `next_frame`.
    fn read_leading_blocks(&mut self) {
        while !self.done {
            let Layout::Pcapng(state) = &mut self.layout else {
                return;
            };
            if pcapng::next_is_packet(&mut self.src, state) {
                return;
            }
            match pcapng::read_block(&mut self.src, state) {
                Step::Skip => {}
                Step::Frame(_) | Step::SkipRecord(_) => return, // unreachable by the check above; stay safe
                Step::End => self.done = true,
                Step::Stop(msg) => self.stop(msg),
            }
        }
    }

    /// The compression around the capture (`None` for a plain pcap or pcapng file).
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// The file's container format.
    pub fn format(&self) -> Format {
        match self.layout {
            Layout::Pcap(_) => Format::Pcap,
            Layout::Pcapng(_) => Format::Pcapng,
        }
    }

    /// LINKTYPE_* of each interface known so far (pcap: exactly one).
    pub fn linktypes(&self) -> Vec<u16> {
        self.links().iter().map(|l| l.linktype).collect()
    }

    /// TLS key log text from the pcapng Decryption Secrets Blocks read since the last
    /// call (none for pcap).
    pub fn take_tls_secrets(&mut self) -> Option<String> {
        match &mut self.layout {
            Layout::Pcapng(s) => {
                let b = s.take_tls_secrets();
                (!b.is_empty()).then(|| String::from_utf8_lossy(&b).into_owned())
            }
            Layout::Pcap(_) => None,
        }
    }

    /// True when time stamps have sub-microsecond resolution.
    pub fn nanosecond(&self) -> bool {
        match &self.layout {
            Layout::Pcap(l) => l.nanos,
            Layout::Pcapng(s) => s.nanosecond(),
        }
    }

    /// Interface names from pcapng `if_name` options, `None` where absent (pcap: `[None]`).
    pub fn interface_names(&self) -> Vec<Option<String>> {
        match &self.layout {
            Layout::Pcap(_) => vec![None],
            Layout::Pcapng(s) => s.names(),
        }
    }

    fn links(&self) -> Vec<LinkInfo> {
        match &self.layout {
            Layout::Pcap(l) => vec![LinkInfo {
                linktype: l.linktype,
                snaplen: l.snaplen,
            }],
            Layout::Pcapng(s) => s.links(),
        }
    }

    /// Keeps only frames matching the BPF expression (tcpdump syntax). It is compiled
    /// now for every interface known so far (so a bad expression fails here) and later
    /// for pcapng interfaces that appear further into the file.
    pub fn set_filter(&mut self, expr: &str) -> Result<(), CaptureError> {
        let links = self.links();
        let check = if links.is_empty() {
            vec![LinkInfo {
                linktype: 1,
                snaplen: MAX_RECORD_LEN,
            }]
        } else {
            links.clone()
        };
        let mut slots = Vec::with_capacity(links.len());
        for link in &check {
            let program = compile(expr, *link).map_err(|e| match e {
                libpcap::CompileError::Missing => CaptureError::LibpcapMissing { live: false },
                libpcap::CompileError::Invalid(why) => CaptureError::BadFilter {
                    path: self.name.clone(),
                    expr: expr.to_string(),
                    linktype: link.linktype,
                    why,
                },
            })?;
            slots.push(Slot::Ready(program));
        }
        slots.truncate(links.len());
        self.filter = Some(Filter {
            expr: expr.to_string(),
            slots,
        });
        Ok(())
    }

    /// The next frame (that passes the filter), or `None` at the end of the file or at
    /// damage that stops reading (see [`CaptureFile::warnings`]).
    pub fn next_frame(&mut self) -> Option<RawFrame<'_>> {
        self.next_record(false).map(|(f, _)| f)
    }

    /// The next frame, also when the filter rejects it, and whether it passed (see
    /// [`FrameSource::next_frame_any`]).
    pub fn next_frame_any(&mut self) -> Option<(RawFrame<'_>, bool)> {
        self.next_record(true)
    }

    fn next_record(&mut self, keep_rejected: bool) -> Option<(RawFrame<'_>, bool)> {
        loop {
            if self.done {
                return None;
            }
            let number = self.frames + 1;
            let offset = self.src.offset();
            let step = match &mut self.layout {
                Layout::Pcap(l) => pcap::read_record(&mut self.src, l),
                Layout::Pcapng(s) => pcapng::read_block(&mut self.src, s),
            };
            let rec = match step {
                Step::Frame(rec) => rec,
                Step::Skip => continue,
                Step::SkipRecord(msg) => {
                    self.frames = number;
                    self.note(ReadWarning {
                        frame: number,
                        offset,
                        message: format!("frame {number}, byte offset {offset}: {msg}"),
                    });
                    continue;
                }
                Step::End => {
                    self.finish();
                    return None;
                }
                Step::Stop(msg) => {
                    self.stop_at(number, offset, msg);
                    return None;
                }
            };
            self.frames = number;
            self.readable += 1;
            self.last_ts = match &self.layout {
                Layout::Pcapng(_) if rec.ts_ns == pcapng::NO_TIMESTAMP => self.last_ts,
                _ => rec.ts_ns,
            };
            let link = match &self.layout {
                Layout::Pcap(l) => LinkInfo {
                    linktype: l.linktype,
                    snaplen: l.snaplen,
                },
                Layout::Pcapng(s) => match s.link(rec.interface) {
                    Some(link) => link,
                    None => continue, // read_block only returns known interfaces
                },
            };
            let range = rec.start..rec.start + rec.len;
            let mut passed = true;
            if let Some(filter) = &mut self.filter {
                let data = self.src.buf().get(range.clone()).unwrap_or_default();
                let ok = filter_accepts(
                    filter,
                    &mut self.warnings,
                    rec.interface,
                    link,
                    data,
                    rec.orig_len,
                    number,
                    offset,
                );
                if !ok && !keep_rejected {
                    continue;
                }
                passed = ok;
            }
            // Borrowed only here, right before returning, so the loop above may go on.
            let data = self.src.buf().get(range).unwrap_or_default();
            let frame = RawFrame {
                number,
                ts_ns: self.last_ts,
                orig_len: rec.orig_len,
                linktype: link.linktype,
                interface: rec.interface,
                data,
            };
            return Some((frame, passed));
        }
    }

    /// Damage that stopped reading, and records that were skipped.
    pub fn warnings(&self) -> &[ReadWarning] {
        &self.warnings
    }

    /// Bytes of the file consumed so far (the whole file once `next_frame` returned `None`
    /// without a stopping warning).
    pub fn bytes_read(&self) -> u64 {
        self.src.offset()
    }

    /// Records read so far, including those the filter skipped.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// Damage met before any record could be read: nothing in the file is usable. A
    /// valid capture with no records is not damaged, so this is false for it.
    pub fn nothing_readable(&self) -> Option<&ReadWarning> {
        (self.readable == 0)
            .then(|| self.warnings.first())
            .flatten()
    }

    fn stop(&mut self, msg: String) {
        let (number, offset) = (self.frames + 1, self.src.offset());
        self.stop_at(number, offset, msg);
    }

    fn stop_at(&mut self, frame: u64, offset: u64, msg: String) {
        self.warnings.push(ReadWarning {
            frame,
            offset,
            message: format!("stopped at frame {frame}, byte offset {offset}: {msg}"),
        });
        self.finish();
    }

    fn note(&mut self, warning: ReadWarning) {
        if self.warnings.len() < MAX_KEPT_WARNINGS {
            self.warnings.push(warning);
        } else {
            self.dropped_warnings += 1;
        }
    }

    fn finish(&mut self) {
        self.done = true;
        if self.dropped_warnings > 0 {
            let (frame, offset) = (self.frames, self.src.offset());
            let message = format!("{} more skipped records not listed", self.dropped_warnings);
            self.warnings.push(ReadWarning {
                frame,
                offset,
                message,
            });
            self.dropped_warnings = 0;
        }
    }
}

/// Reads up to `head.len()` bytes; fewer only at the end of the file.
fn read_head(file: &mut std::fs::File, head: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < head.len() {
        match file.read(head.get_mut(got..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn compile(expr: &str, link: LinkInfo) -> Result<Program, libpcap::CompileError> {
    let snaplen = match link.snaplen {
        0 => MAX_RECORD_LEN,
        n => n.min(MAX_RECORD_LEN),
    };
    let insns = libpcap::compile(link.linktype, snaplen, expr)?;
    Program::new(insns).map_err(libpcap::CompileError::Invalid)
}

/// Runs the filter for one frame, compiling it first for an interface seen for the
/// first time. An interface the filter cannot be compiled for drops all its frames,
/// with one warning.
#[allow(clippy::too_many_arguments)]
fn filter_accepts(
    filter: &mut Filter,
    warnings: &mut Vec<ReadWarning>,
    interface: u32,
    link: LinkInfo,
    data: &[u8],
    orig_len: u32,
    number: u64,
    offset: u64,
) -> bool {
    let index = interface as usize;
    if filter.slots.len() <= index {
        filter.slots.resize_with(index + 1, || Slot::Pending);
    }
    let Some(slot) = filter.slots.get_mut(index) else {
        return false;
    };
    if let Slot::Pending = slot {
        *slot = match compile(&filter.expr, link) {
            Ok(p) => Slot::Ready(p),
            Err(e) => {
                let why = match e {
                    libpcap::CompileError::Missing => libpcap::MISSING.to_string(),
                    libpcap::CompileError::Invalid(m) => m,
                };
                warnings.push(ReadWarning {
                    frame: number,
                    offset,
                    message: format!(
                        "frame {number}, byte offset {offset}: filter '{}' cannot be used on \
                         interface {interface} (link type {}): {why}; its frames are skipped",
                        filter.expr, link.linktype
                    ),
                });
                Slot::Failed
            }
        };
    }
    match slot {
        Slot::Ready(p) => match bpf::loopback_header_for_filter(link.linktype, data) {
            Some(header) => {
                let mut copy = data.to_vec();
                copy[..4].copy_from_slice(&header);
                p.matches(&copy, orig_len)
            }
            None => p.matches(data, orig_len),
        },
        _ => false,
    }
}

impl FrameSource for CaptureFile {
    fn next_frame(&mut self) -> Option<RawFrame<'_>> {
        CaptureFile::next_frame(self)
    }

    fn next_frame_any(&mut self) -> Option<(RawFrame<'_>, bool)> {
        CaptureFile::next_frame_any(self)
    }

    fn bytes_read(&self) -> u64 {
        CaptureFile::bytes_read(self)
    }

    fn warnings(&self) -> &[ReadWarning] {
        CaptureFile::warnings(self)
    }

    fn linktypes(&self) -> Vec<u16> {
        CaptureFile::linktypes(self)
    }

    fn take_tls_secrets(&mut self) -> Option<String> {
        CaptureFile::take_tls_secrets(self)
    }

    fn shared_bytes(&self) -> Option<SharedBytes> {
        self.src.shared()
    }

    fn release_shared(&mut self, end: usize) {
        self.src.release_before(end);
    }
}
