//! `ss --json`: one object per socket (docs/CLI.md).

use serde::Serialize;
use std::net::SocketAddr;

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub pid: i32,
    pub comm: String,
}

/// TCP internals from `INET_DIAG_INFO`/`INET_DIAG_CONG`/`INET_DIAG_MD5SIG`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TcpInfo {
    /// Smoothed round-trip time and its variation, milliseconds.
    pub rtt_ms: f64,
    pub rttvar_ms: f64,
    pub min_rtt_ms: f64,
    pub rto_ms: f64,
    /// Congestion window, in segments.
    pub cwnd: u32,
    pub ssthresh: u32,
    pub mss: u32,
    /// Retransmissions of the current unacknowledged segment (`tcpi_retransmits`).
    pub retransmits: u8,
    /// Every retransmission over the connection's life (`tcpi_total_retrans`).
    pub total_retrans: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub congestion: Option<String>,
    /// TCP-MD5 (RFC 2385, BGP sessions) keys configured: `true`/`false`, or absent when
    /// the kernel would not say (it reports keys only to CAP_NET_ADMIN).
    pub md5: Option<bool>,
}

/// One socket. `netns` is filled in by the caller that knows the namespace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SockEntry {
    pub netns: String,
    pub proto: String,
    /// `ss`'s names: ESTAB, LISTEN, UNCONN, TIME-WAIT, SYN-SENT, ...
    pub state: String,
    /// `ip:port` in JSON, IPv6 as `[addr]:port`.
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// The device the socket is bound to (`SO_BINDTODEVICE`, a VRF), by ifindex name.
    pub dev: Option<String>,
    pub recv_q: u32,
    pub send_q: u32,
    pub uid: u32,
    pub inode: u32,
    pub process: Vec<Owner>,
    pub tcp_info: Option<TcpInfo>,
    #[serde(skip)]
    pub bound_ifindex: u32,
}
