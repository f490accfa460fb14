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
    /// The TCP timer running on the socket (`ss -o`), when one is.
    pub timer: Option<SockTimer>,
    pub tcp_info: Option<TcpInfo>,
    #[serde(skip)]
    pub bound_ifindex: u32,
}

/// A TCP socket's running timer, as `ss -o` shows it: `timer:(keepalive,119min,0)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SockTimer {
    /// `on` (retransmission), `keepalive`, `timewait` or `persist` (zero-window probe).
    pub name: String,
    /// Time until it fires, milliseconds.
    pub expires_ms: u64,
    /// Retransmissions (or probes) so far.
    pub retrans: u8,
}

impl std::fmt::Display for SockTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.expires_ms;
        let when = if ms >= 60_000 {
            format!("{}min", ms / 60_000)
        } else if ms >= 1000 {
            format!("{:.1}sec", ms as f64 / 1000.0)
        } else {
            format!("{ms}ms")
        };
        write!(f, "timer:({},{when},{})", self.name, self.retrans)
    }
}

/// `ss -s`: one namespace's sockets counted (`--json`: one object per namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub netns: String,
    pub tcp: u64,
    pub tcp_estab: u64,
    pub tcp_listen: u64,
    pub tcp_timewait: u64,
    pub tcp_other: u64,
    pub udp: u64,
    /// Sockets by address family (IPv4, IPv6).
    pub inet: u64,
    pub inet6: u64,
}
