//! Layer 2: raw CDP/LLDP sockets ([`raw`]), and the I/O of the l2trace tracer
//! ([`tracer`]), agent ([`agent`]) and neighbour listener ([`neighbors`]). What they
//! decide is `netkit_cmds::l2trace` and `netkit_cmds::neighbors`.

pub mod agent;
pub mod neighbors;
pub mod raw;
pub mod tracer;

use crate::caps::MissingCaps;
use crate::netlink::DumpError;
use crate::netns::NetnsError;

/// Why an l2trace or neighbours job could not be done. One line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum L2Error {
    #[error("no interface named {0}")]
    NoInterface(String),
    #[error("{0} is not a bridge")]
    NotABridge(String),
    #[error("bridge {0} has no IPv4 address: give one with --listen")]
    NoAddress(String),
    #[error("no interface to listen on")]
    NothingToListenOn,
    #[error("no interface to find a switch on: give one with --via")]
    NoUplink,
    #[error(
        "no CDP/LLDP neighbour with an IPv4 address heard on any interface: give a switch \
         with --via"
    )]
    NoSwitchHeard,
    #[error("{0}: raw sockets need CAP_NET_RAW (run netkit as root or with sudo)")]
    RawNeedsCapNetRaw(String),
    /// A raw socket on `iface` failed (`why` says at which step).
    #[error("{iface}: {why}")]
    Raw { iface: String, why: String },
    #[error(transparent)]
    Caps(#[from] MissingCaps),
    #[error(transparent)]
    Netlink(#[from] DumpError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("nft: {0}")]
    Nft(String),
    /// The UDP 2228 socket failed (`why` says at which step).
    #[error("{0}")]
    Udp(String),
}
