//! What the engines read frames from: one captured frame ([`RawFrame`]) and the
//! [`FrameSource`] seam that hands them out, whatever the frames come from (a capture
//! file today, live kernel rings for `watch`). The sources themselves live in
//! `netkit-os`; the engines only ever see this trait, so they run on a file, on a ring
//! or on frames built by a test alike.

use serde::Serialize;
use std::fmt;

/// One captured frame, borrowed from its source until the source's next call.
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

/// A source of captured frames, read once, in order.
pub trait FrameSource {
    /// The next frame, or `None` at the end (or at damage that stops reading, which
    /// [`FrameSource::warnings`] then names).
    fn next_frame(&mut self) -> Option<RawFrame<'_>>;

    /// The next frame whether or not a filter keeps it, and whether it does. Frame
    /// numbers already count every record; an engine reading this way can also number
    /// TCP streams and time frames over the whole file, as Wireshark does under a
    /// display filter, while reporting only the frames kept. Default: no filter.
    fn next_frame_any(&mut self) -> Option<(RawFrame<'_>, bool)> {
        self.next_frame().map(|f| (f, true))
    }

    /// Bytes of input consumed so far (for progress; 0 when it has no meaning).
    fn bytes_read(&self) -> u64 {
        0
    }

    /// Damage met so far: reading stopped there, or records were skipped.
    fn warnings(&self) -> &[ReadWarning] {
        &[]
    }

    /// LINKTYPE_* of every interface met so far (a pcapng file may add some late).
    fn linktypes(&self) -> Vec<u16> {
        Vec::new()
    }

    /// TLS key log text embedded in the source (pcapng Decryption Secrets Blocks)
    /// since the last call.
    fn take_tls_secrets(&mut self) -> Option<String> {
        None
    }
}
