//! Frame sources: pcap and pcapng capture files (and stdin) with optional BPF filters
//! ([`CaptureFile`]), live kernel rings ([`LiveCapture`]), and what netkit writes
//! captures with ([`pcapng_writer`], `top --write`'s [`ring`]).
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
mod compressed;
#[doc(hidden)]
pub mod evidence;
mod file;
pub mod fuzzing;
pub mod inputs;
mod libpcap;
mod live;
mod mapped;
mod pcap;
mod pcapng;
pub mod pcapng_writer;
pub mod ring;
mod source;

pub use bpf::{Insn, Program};
pub use compressed::Compression;
pub use file::CaptureFile;
pub use live::{LiveCapture, LiveOptions, LiveStats};

/// Largest captured length accepted for one record: libpcap's own maximum snaplen.
/// Anything longer is taken as damage, not as a packet.
pub const MAX_RECORD_LEN: u32 = 256 * 1024;

/// How many skipped-record warnings are kept; past this they are only counted, so a
/// hostile file cannot make the warning list grow without bound.
const MAX_KEPT_WARNINGS: usize = 100;

/// Why a capture could not be opened, filtered or read. Every variant is one sentence
/// for the user; [`crate::Failure`] says what kind of failure it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read (`action` is "cannot open" or "cannot read").
    #[error("{path}: {action}: {why}")]
    Io {
        path: String,
        action: &'static str,
        why: String,
    },
    /// The bytes are not a capture netkit can read (empty, wrong magic, a header cut
    /// short, a pcapng file whose section header is damaged).
    #[error("{path}: {why}")]
    NotACapture { path: String, why: String },
    /// libpcap refused the filter expression for this link type.
    #[error("{path}: bad filter '{expr}' for link type {linktype}: {why}")]
    BadFilter {
        path: String,
        expr: String,
        linktype: u16,
        why: String,
    },
    /// `-f` filters (`live: false`) and live captures need the libpcap runtime, which
    /// is not installed.
    #[error("{}", if *live { libpcap::MISSING_LIVE } else { libpcap::MISSING })]
    LibpcapMissing { live: bool },
    /// Opening a live capture needs CAP_NET_RAW.
    #[error("{}", LIVE_PERMISSION)]
    NeedsCapNetRaw,
    #[error("no interface named {0}")]
    NoSuchInterface(String),
    /// libpcap failed on a live capture (`what` says at which step).
    #[error("{what} {device}: {why}")]
    Live {
        what: &'static str,
        device: String,
        why: String,
    },
}

impl CaptureError {
    fn io(path: &str, action: &'static str, e: std::io::Error) -> CaptureError {
        CaptureError::Io {
            path: path.to_string(),
            action,
            why: e.to_string(),
        }
    }

    fn not_a_capture(path: &str, why: impl Into<String>) -> CaptureError {
        CaptureError::NotACapture {
            path: path.to_string(),
            why: why.into(),
        }
    }
}

/// What every live capture says without CAP_NET_RAW.
pub const LIVE_PERMISSION: &str = "live capture needs CAP_NET_RAW: run netkit as root or with \
     sudo, or give it the capability (setcap cap_net_raw+ep)";

/// What the filter needs to know about one interface to compile for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LinkInfo {
    linktype: u16,
    snaplen: u32,
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

#[cfg(test)]
mod tests;
