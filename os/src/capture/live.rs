//! Live captures: frames from a network interface through libpcap's TPACKET_V3 ring,
//! read in place (no copy per frame).

use serde::Serialize;

use netkit_cmds::source::RawFrame;

use super::{libpcap, CaptureError};

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
        let handle = libpcap::LiveHandle::open(&cfg).map_err(|e| match e {
            libpcap::LiveError::Missing => CaptureError::LibpcapMissing { live: true },
            libpcap::LiveError::Permission => CaptureError::NeedsCapNetRaw,
            libpcap::LiveError::NoSuchDevice => CaptureError::NoSuchInterface(opts.device.clone()),
            libpcap::LiveError::Other(why) => CaptureError::Live {
                what: "cannot capture on",
                device: opts.device.clone(),
                why,
            },
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
        handed.map_err(|why| CaptureError::Live {
            what: "capture failed on",
            device: self.device.clone(),
            why,
        })
    }

    /// Non-blocking mode, for polling several captures from one thread.
    pub fn set_nonblocking(&mut self) -> Result<(), CaptureError> {
        self.handle
            .set_nonblocking()
            .map_err(|why| CaptureError::Live {
                what: "cannot make non-blocking the capture on",
                device: self.device.clone(),
                why,
            })
    }

    /// The descriptor that becomes readable when frames are ready.
    pub fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        self.handle.selectable_fd()
    }

    /// Waits until one of `captures` has frames ready (or an error to report), or
    /// `timeout_ms` passed; for several non-blocking captures read by one thread.
    pub fn wait_any(captures: &[&LiveCapture], timeout_ms: u16) -> Result<(), CaptureError> {
        let handles: Vec<&libpcap::LiveHandle> = captures.iter().map(|c| &c.handle).collect();
        libpcap::wait_any(&handles, timeout_ms).map_err(|why| CaptureError::Live {
            what: "waiting for frames failed on",
            device: captures
                .iter()
                .map(|c| c.device.as_str())
                .collect::<Vec<_>>()
                .join(","),
            why,
        })
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
