//! Frame sources: pcap and pcapng capture files (and stdin), with optional BPF filters.
//!
//! Frames are never copied one by one: files, stdin and pipes are read in 1 MiB chunks
//! into one buffer, and every [`RawFrame`] borrows its bytes from that buffer until the
//! next call to [`CaptureFile::next_frame`] ([`CaptureFile::open_mapped`] borrows from
//! a memory mapping instead; [`CaptureFile::from_bytes`] from a vector). The parser never panics: damage (a truncated record, an
//! absurd length, a pcapng block whose two length fields disagree) stops reading with a
//! [`ReadWarning`] that names the frame number and byte offset, and everything read
//! before the damage stays usable.
//!
//! BPF filters (`-f`) are compiled by libpcap, loaded at run time so the binary needs no
//! libpcap at build time, and executed by a small classic-BPF interpreter in safe Rust.

mod bpf;
#[doc(hidden)]
pub mod fuzzing;
mod libpcap;
mod mapped;
mod pcap;
mod pcapng;
mod source;

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

pub use bpf::{Insn, Program};

use source::Source;

/// Largest captured length accepted for one record: libpcap's own maximum snaplen.
/// Anything longer is taken as damage, not as a packet.
pub const MAX_RECORD_LEN: u32 = 256 * 1024;

/// How many skipped-record warnings are kept; past this they are only counted, so a
/// hostile file cannot make the warning list grow without bound.
const MAX_KEPT_WARNINGS: usize = 100;

/// The container format of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pcap,
    Pcapng,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
        })
    }
}

/// One captured frame, borrowed from the reader until its next `next_frame` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFrame<'a> {
    /// 1-based record number in the file; counts every packet record, including the
    /// ones a filter skipped, so numbers match Wireshark's `frame.number`.
    pub number: u64,
    /// Nanoseconds since the Unix epoch. pcapng simple packet blocks carry no time
    /// stamp and inherit the previous frame's.
    pub ts_ns: i64,
    /// Length of the frame on the wire (may exceed `data.len()` when snapped).
    pub orig_len: u32,
    /// LINKTYPE_* value of the interface this frame was captured on.
    pub linktype: u16,
    /// Interface index, counted across all pcapng sections of the file (always 0 for pcap).
    pub interface: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// Damage found while reading: either reading stopped there, or a record was skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadWarning {
    /// Number the damaged record has (or would have had).
    pub frame: u64,
    /// Byte offset of the damaged record or block in the file.
    pub offset: u64,
    /// Whole sentence, e.g. "stopped at frame 7, byte offset 1234: truncated record ...".
    pub message: String,
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A capture file could not be opened or a filter could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureError {
    path: String,
    message: String,
}

impl CaptureError {
    fn new(path: &str, message: impl Into<String>) -> CaptureError {
        CaptureError {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The file the error is about ("" when it is about the machine, not the file).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, without the file name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for CaptureError {}

/// What the filter needs to know about one interface to compile for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LinkInfo {
    linktype: u16,
    snaplen: u32,
}

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

/// Where one record's bytes are in the source buffer, plus its metadata.
struct Record {
    start: usize,
    len: usize,
    ts_ns: i64,
    orig_len: u32,
    interface: u32,
}

/// Outcome of reading one record or block.
enum Step {
    Frame(Record),
    /// A non-packet block: go on reading.
    Skip,
    /// A packet record that cannot be used (it still gets a frame number).
    SkipRecord(String),
    End,
    /// Damage: reading stops with this message.
    Stop(String),
}

/// A capture file being read frame by frame.
pub struct CaptureFile {
    name: String,
    src: Source,
    layout: Layout,
    frames: u64,
    last_ts: i64,
    done: bool,
    warnings: Vec<ReadWarning>,
    dropped_warnings: u64,
    filter: Option<Filter>,
}

impl CaptureFile {
    /// Opens a pcap or pcapng file; "-" reads stdin. Either way the input is streamed
    /// through one buffer, so pipes and FIFOs work and nothing needs to be seekable.
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        let name = path.display().to_string();
        if path.as_os_str() == "-" {
            return CaptureFile::from_reader("-", Box::new(std::io::stdin()));
        }
        let file = std::fs::File::open(path)
            .map_err(|e| CaptureError::new(&name, format!("cannot open: {e}")))?;
        CaptureFile::start(name, Source::from_file(file))
    }

    /// As [`CaptureFile::open`], but memory-maps regular files instead of reading them.
    /// Measured slower than `open` on our machines (see `source`); kept for the reader
    /// benchmark and for machines where mapping wins.
    pub fn open_mapped(path: &Path) -> Result<CaptureFile, CaptureError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path)
            .map_err(|e| CaptureError::new(&name, format!("cannot open: {e}")))?;
        let src = Source::from_file_mapped(file)
            .map_err(|e| CaptureError::new(&name, format!("cannot read: {e}")))?;
        CaptureFile::start(name, src)
    }

    /// Reads a capture held in memory (used by the fuzz targets and tests).
    pub fn from_bytes(data: Vec<u8>) -> Result<CaptureFile, CaptureError> {
        CaptureFile::start("<memory>".to_string(), Source::from_vec(data))
    }

    /// Reads a capture from any byte stream, buffering only what the current frame needs.
    pub fn from_reader(
        name: &str,
        reader: Box<dyn Read + Send>,
    ) -> Result<CaptureFile, CaptureError> {
        CaptureFile::start(name.to_string(), Source::from_reader(reader))
    }

    fn start(name: String, mut src: Source) -> Result<CaptureFile, CaptureError> {
        let got = src
            .fill(4)
            .map_err(|e| CaptureError::new(&name, format!("cannot read: {e}")))?;
        let window = src.window();
        let magic = match window.get(..4) {
            Some(m) => <[u8; 4]>::try_from(m).unwrap_or_default(),
            None if got == 0 => {
                return Err(CaptureError::new(
                    &name,
                    "empty file (pcap or pcapng header expected)",
                ))
            }
            None => {
                return Err(CaptureError::new(
                    &name,
                    format!("not a capture file (only {got} bytes long)"),
                ))
            }
        };
        let layout = if magic == pcapng::SHB_MAGIC {
            Layout::Pcapng(pcapng::State::default())
        } else if let Some(kind) = pcap::magic_kind(magic) {
            let need = pcap::FILE_HEADER_LEN;
            let got = src
                .fill(need)
                .map_err(|e| CaptureError::new(&name, format!("cannot read: {e}")))?;
            let layout = pcap::parse_header(kind, src.window()).ok_or_else(|| {
                CaptureError::new(
                    &name,
                    format!("truncated pcap file header ({got} of {need} bytes)"),
                )
            })?;
            src.advance(need);
            Layout::Pcap(layout)
        } else {
            return Err(CaptureError::new(
                &name,
                format!(
                    "not a capture file (pcap or pcapng magic expected, found 0x{:08x})",
                    u32::from_be_bytes(magic)
                ),
            ));
        };
        let mut file = CaptureFile {
            name,
            src,
            layout,
            frames: 0,
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
                return Err(CaptureError::new(&file.name, why));
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
                libpcap::CompileError::Missing => CaptureError::new("", libpcap::MISSING),
                libpcap::CompileError::Invalid(msg) => CaptureError::new(
                    &self.name,
                    format!("bad filter '{expr}' for link type {}: {msg}", link.linktype),
                ),
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
                if !ok {
                    continue;
                }
            }
            // Borrowed only here, right before returning, so the loop above may go on.
            let data = self.src.buf().get(range).unwrap_or_default();
            return Some(RawFrame {
                number,
                ts_ns: self.last_ts,
                orig_len: rec.orig_len,
                linktype: link.linktype,
                interface: rec.interface,
                data,
            });
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
        Slot::Ready(p) => p.matches(data, orig_len),
        _ => false,
    }
}

fn u16_at(b: &[u8], off: usize, big_endian: bool) -> Option<u16> {
    let a: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    })
}

fn u32_at(b: &[u8], off: usize, big_endian: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

fn u64_at(b: &[u8], off: usize, big_endian: bool) -> Option<u64> {
    let hi = u32_at(b, off, big_endian)? as u64;
    let lo = u32_at(b, off + 4, big_endian)? as u64;
    Some(if big_endian {
        (hi << 32) | lo
    } else {
        (lo << 32) | hi
    })
}

/// How to open a [`LiveCapture`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOptions {
    /// Interface name; `any` captures every interface of the namespace.
    pub device: String,
    /// Bytes kept per frame (headers plus a DNS answer; the wire length is kept apart).
    pub snaplen: u32,
    /// Kernel ring size in bytes.
    pub buffer_bytes: u32,
    /// Hand each frame over at once (needed to see a 10 ms connection while its
    /// process still lives) instead of when a ring block fills.
    pub immediate: bool,
    /// Longest time a ring block waits for more frames before it is handed over (and
    /// a blocking [`LiveCapture::dispatch`] returns), in milliseconds.
    pub timeout_ms: u32,
    /// Linux cooked v2 framing: every frame says its direction and interface index.
    pub cooked_v2: bool,
    /// A tcpdump filter expression, run in the kernel.
    pub filter: Option<String>,
}

impl LiveOptions {
    pub fn new(device: impl Into<String>) -> LiveOptions {
        LiveOptions {
            device: device.into(),
            snaplen: 512,
            buffer_bytes: 8 << 20,
            immediate: true,
            timeout_ms: 100,
            cooked_v2: false,
            filter: None,
        }
    }
}

/// Kernel counters of a live capture since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}

/// Frames from a network interface, through libpcap's mmap ring (loaded at run time).
/// The AF_PACKET socket belongs to the network namespace of the thread that opened it:
/// open it inside [`crate::netns::run_in`] (or a thread that entered the namespace).
pub struct LiveCapture {
    handle: libpcap::LiveHandle,
    device: String,
    count: u64,
}

impl LiveCapture {
    /// Opens and activates a capture. Errors are whole sentences; a missing CAP_NET_RAW
    /// says how to get it.
    pub fn open(opts: &LiveOptions) -> Result<LiveCapture, CaptureError> {
        let cfg = libpcap::LiveConfig {
            device: &opts.device,
            snaplen: opts.snaplen,
            buffer_bytes: opts.buffer_bytes,
            immediate: opts.immediate,
            timeout_ms: opts.timeout_ms,
            cooked_v2: opts.cooked_v2,
            filter: opts.filter.as_deref(),
        };
        let handle = libpcap::LiveHandle::open(&cfg).map_err(|e| {
            CaptureError::new(
                "",
                match e {
                    libpcap::LiveError::Missing => {
                        "live capture needs the libpcap runtime (libpcap.so.0.8): \
                         apt-get install libpcap0.8"
                            .to_string()
                    }
                    libpcap::LiveError::Permission => LIVE_PERMISSION.to_string(),
                    libpcap::LiveError::NoSuchDevice => {
                        format!("no interface named {}", opts.device)
                    }
                    libpcap::LiveError::Other(m) => {
                        format!("cannot capture on {}: {m}", opts.device)
                    }
                },
            )
        })?;
        Ok(LiveCapture {
            handle,
            device: opts.device.clone(),
            count: 0,
        })
    }

    /// The interface this capture reads.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// LINKTYPE_* of the frames.
    pub fn linktype(&self) -> u16 {
        self.handle.linktype()
    }

    /// Hands every frame ready now to `f` without copying it out of the ring; returns
    /// how many. After [`LiveCapture::set_nonblocking`] it returns 0 at once when none
    /// is ready, otherwise it waits up to the timeout. A panic in `f` is resumed after
    /// libpcap has returned.
    pub fn dispatch(&mut self, f: &mut dyn FnMut(RawFrame<'_>)) -> Result<usize, CaptureError> {
        let linktype = self.handle.linktype();
        let mut count = self.count;
        let handed = self.handle.dispatch(&mut |frame| {
            count += 1;
            f(RawFrame {
                number: count,
                ts_ns: frame.ts_ns,
                orig_len: frame.orig_len,
                linktype,
                interface: 0,
                data: frame.data,
            });
        });
        self.count = count;
        handed.map_err(|m| CaptureError::new("", format!("capture on {} failed: {m}", self.device)))
    }

    /// Non-blocking mode, for polling several captures from one thread.
    pub fn set_nonblocking(&mut self) -> Result<(), CaptureError> {
        self.handle
            .set_nonblocking()
            .map_err(|m| CaptureError::new("", format!("capture on {}: {m}", self.device)))
    }

    /// The descriptor that becomes readable when frames are ready.
    pub fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        self.handle.selectable_fd()
    }

    /// Waits until one of `captures` has frames ready (or an error to report), or
    /// `timeout_ms` passed; for several non-blocking captures read by one thread.
    pub fn wait_any(captures: &[&LiveCapture], timeout_ms: u16) -> Result<(), CaptureError> {
        let handles: Vec<&libpcap::LiveHandle> = captures.iter().map(|c| &c.handle).collect();
        libpcap::wait_any(&handles, timeout_ms)
            .map_err(|m| CaptureError::new("", format!("waiting for frames failed: {m}")))
    }

    /// Frames received and dropped so far, as the kernel counts them.
    pub fn stats(&mut self) -> Option<LiveStats> {
        self.handle
            .stats()
            .map(|(received, dropped, if_dropped)| LiveStats {
                received,
                dropped,
                if_dropped,
            })
    }
}

/// What every live capture says without CAP_NET_RAW.
pub const LIVE_PERMISSION: &str = "live capture needs CAP_NET_RAW: run netkit as root or with \
     sudo, or give it the capability (setcap cap_net_raw+ep)";

#[cfg(test)]
mod tests;
