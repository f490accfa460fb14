//! The live side of `netkit top` and `netkit watch`: capture threads, socket
//! attribution, the watch over namespaces feeding `netkit_cmds::top`'s engine, and
//! the capture points whose frames `netkit_cmds::watch` analyses ([`taps`]).

pub mod attribution;
mod kernel;
pub mod taps;
pub mod top;
pub mod watch;

pub use kernel::ClientOwners;
pub use top::{AttributionChoice, Monitor, MonitorOptions, WriteTarget};

use crate::caps::DropFailed;
use crate::capture::CaptureError;
use crate::netlink::DumpError;
use crate::netns::NetnsError;

/// Why `top` could not start counting, or a namespace's capture stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Netlink(#[from] DumpError),
    #[error(transparent)]
    Caps(#[from] DropFailed),
    #[error("no interface named {name} in {place}")]
    NoInterface { name: String, place: String },
    /// Something failed inside one namespace (the error says what).
    #[error("namespace {label}: {err}")]
    InNamespace { label: String, err: Box<LiveError> },
    #[error("namespace {label}: cannot open sock_diag: {err}")]
    SockDiag { label: String, err: DumpError },
    #[error("capture in namespace {0} failed")]
    CaptureThread(String),
    #[error("nothing to write: start netkit top with --write PATH")]
    NoRing,
    /// `--attribution bpf` and BPF cannot be used here (the reason).
    #[error("{0}")]
    Bpf(String),
    #[error("cannot write {path}: {why}")]
    Write { path: String, why: String },
}
