//! `watch --write DIR`: the frames behind each finding, so it opens in Wireshark.
//!
//! Each capture point keeps its most recent frames in a bounded buffer (oldest
//! evicted first, and counted). When a finding names a connection, the frames of that
//! connection still held become one [`Evidence`]: the binary writes it as a pcapng
//! file whose interface is named `namespace/interface` and whose frames carry the
//! finding's code and process as packet comments.

use netkit_dissectors::{Frame, Layer};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

/// Bytes of frames each capture point keeps for evidence.
pub const BUFFER_BYTES: usize = 8 << 20;

/// One frame kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFrame {
    pub number: u64,
    pub ts_ns: i64,
    pub orig_len: u32,
    pub linktype: u16,
    pub data: Vec<u8>,
}

/// The recent frames of one capture point.
#[derive(Debug, Default)]
pub struct Buffer {
    frames: VecDeque<(Option<ConnKey>, KeptFrame)>,
    bytes: usize,
    /// Frames let go to stay within [`BUFFER_BYTES`].
    pub evicted: u64,
}

/// A TCP connection, the same whichever way a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey(SocketAddr, SocketAddr);

impl ConnKey {
    pub fn new(a: SocketAddr, b: SocketAddr) -> ConnKey {
        if a <= b {
            ConnKey(a, b)
        } else {
            ConnKey(b, a)
        }
    }

    fn of(frame: &Frame<'_>) -> Option<ConnKey> {
        let (ip, tcp) = frame.innermost_tcp()?;
        let (src, dst): (IpAddr, IpAddr) = match ip {
            Layer::Ipv4(h) => (h.src.into(), h.dst.into()),
            Layer::Ipv6(h) => (h.src.into(), h.dst.into()),
            _ => return None,
        };
        Some(ConnKey::new(
            SocketAddr::new(src, tcp.src_port),
            SocketAddr::new(dst, tcp.dst_port),
        ))
    }
}

impl Buffer {
    pub fn push(&mut self, kept: KeptFrame, frame: &Frame<'_>) {
        self.bytes += kept.data.len();
        self.frames.push_back((ConnKey::of(frame), kept));
        while self.bytes > BUFFER_BYTES {
            let Some((_, old)) = self.frames.pop_front() else {
                break;
            };
            self.bytes -= old.data.len();
            self.evicted += 1;
        }
    }

    /// The frames held of one connection, in capture order.
    pub fn of_conn(&self, conn: ConnKey) -> Vec<KeptFrame> {
        self.frames
            .iter()
            .filter(|(k, _)| *k == Some(conn))
            .map(|(_, f)| f.clone())
            .collect()
    }
}

/// The frames behind one finding, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// A file name (no directory) that says when, where and what:
    /// `20261203T074001Z-blue-veth0-websocket_rejected-stream3`.
    pub name: String,
    /// `namespace/interface`, the pcapng interface name.
    pub interface: String,
    /// The comment each frame of the finding carries (code, summary, process).
    pub comment: String,
    /// Frame numbers the finding names (they get the comment; the others a shorter one).
    pub finding_frames: Vec<u64>,
    pub frames: Vec<KeptFrame>,
}
