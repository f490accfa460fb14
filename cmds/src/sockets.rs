//! TCP and UDP sockets of one namespace through NETLINK_SOCK_DIAG, as `ss -tuanpi`
//! shows them: state, queues, owning processes and TCP internals (rtt, cwnd,
//! retransmits, congestion algorithm, bytes acked/received, TCP-MD5 keys).
//!
//! `tcp_info` grows with every kernel release, so it is decoded here into a zeroed
//! struct from however many bytes the kernel sent (as `ss` does), never demanding a
//! minimum length: the netlink-packet-sock-diag `rich_nlas` decoder refuses short ones.

use crate::nldump::{self, DumpError};
use netlink_packet_core::{Emitable, Parseable};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags,
};
use netlink_sys::Socket;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// `struct inet_diag_msg` is 72 bytes; attributes follow.
const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_CONG: u16 = 4;
const INET_DIAG_MD5SIG: u16 = 18;
/// `struct tcp_diag_md5sig`: family, prefixlen, keylen, addr[4], key[80].
const TCP_DIAG_MD5SIG_LEN: usize = 100;

// TCP_* state numbers (include/net/tcp_states.h).
const TCP_SYN_RECV: u8 = 3;
const TCP_TIME_WAIT: u8 = 6;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;

/// Which sockets to show, as `ss -t -u -l -a` choose them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filter {
    pub tcp: bool,
    pub udp: bool,
    /// `-l`: listening (TCP LISTEN, unconnected UDP) only.
    pub listening: bool,
    /// `-a`: every state.
    pub all: bool,
}

impl Filter {
    /// The TCP state bitmask of the request: `ss`'s default leaves out listening,
    /// closed, TIME-WAIT and SYN-RECV sockets; `-l` keeps only LISTEN/UNCONN; `-a` all.
    pub fn states(&self) -> u32 {
        let bit = |s: u8| 1u32 << s;
        let all = 0xfff_u32;
        if self.all {
            all
        } else if self.listening {
            bit(TCP_LISTEN) | bit(TCP_CLOSE)
        } else {
            all & !(bit(TCP_LISTEN) | bit(TCP_CLOSE) | bit(TCP_TIME_WAIT) | bit(TCP_SYN_RECV))
        }
    }

    fn protocols(&self) -> Vec<u8> {
        match (self.tcp, self.udp) {
            (true, false) => vec![IPPROTO_TCP],
            (false, true) => vec![IPPROTO_UDP],
            _ => vec![IPPROTO_TCP, IPPROTO_UDP],
        }
    }
}

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
    pub local: String,
    pub peer: String,
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

/// `ss`'s state names, indexed by TCP_* number.
pub fn state_name(state: u8, proto: u8) -> &'static str {
    match state {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 | 12 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "UNCONN",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 if proto == IPPROTO_UDP => "UNCONN",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// `ip:port`, IPv6 as `[addr]:port` (../shared/CLI.md).
pub fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Decodes `struct tcp_info` from `b`, however long: missing trailing fields read as
/// zero (older kernels send less), extra ones are ignored (newer kernels send more).
pub fn decode_tcp_info(b: &[u8]) -> TcpInfo {
    let mut z = [0u8; 232];
    let n = b.len().min(z.len());
    z[..n].copy_from_slice(&b[..n]);
    let u32_at = |o: usize| u32::from_ne_bytes([z[o], z[o + 1], z[o + 2], z[o + 3]]);
    let u64_at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&z[o..o + 8]);
        u64::from_ne_bytes(a)
    };
    let ms = |us: u32| f64::from(us) / 1000.0;
    TcpInfo {
        retransmits: z[2],
        rto_ms: ms(u32_at(8)),
        mss: u32_at(16),
        rtt_ms: ms(u32_at(68)),
        rttvar_ms: ms(u32_at(72)),
        ssthresh: u32_at(76),
        cwnd: u32_at(80),
        total_retrans: u32_at(100),
        bytes_acked: u64_at(120),
        bytes_received: u64_at(128),
        min_rtt_ms: ms(u32_at(148)),
        bytes_sent: u64_at(200),
        congestion: None,
        md5: None,
    }
}

/// Does this thread hold CAP_NET_ADMIN? Without it the kernel leaves out MD5 keys, so
/// "no key" cannot be told from "not allowed to see".
pub fn has_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// Dumps the sockets of the socket's namespace that pass `filter`.
pub fn dump(sock: &Socket, filter: &Filter) -> Result<Vec<SockEntry>, DumpError> {
    let net_admin = has_net_admin();
    let mut out = Vec::new();
    for proto in filter.protocols() {
        for family in [AF_INET, AF_INET6] {
            let req = InetRequest {
                family,
                protocol: proto,
                extensions: if proto == IPPROTO_TCP {
                    ExtensionFlags::INFO | ExtensionFlags::CONG
                } else {
                    ExtensionFlags::empty()
                },
                states: StateFlags::from_bits_retain(filter.states()),
                socket_id: if family == AF_INET {
                    SocketId::new_v4()
                } else {
                    SocketId::new_v6()
                },
            };
            let mut body = vec![0u8; req.buffer_len()];
            req.emit(&mut body);
            for payload in nldump::dump(sock, SOCK_DIAG_BY_FAMILY, &body)? {
                if let Some(e) = parse_response(&payload, proto, net_admin) {
                    out.push(e);
                }
            }
        }
    }
    Ok(out)
}

/// Turns one `inet_diag_msg` (plus attributes) into a [`SockEntry`].
pub fn parse_response(payload: &[u8], proto: u8, net_admin: bool) -> Option<SockEntry> {
    let h = InetResponseHeader::parse(payload.get(..INET_DIAG_MSG_LEN)?).ok()?;
    let id = &h.socket_id;
    let mut entry = SockEntry {
        netns: String::new(),
        proto: if proto == IPPROTO_TCP { "tcp" } else { "udp" }.to_string(),
        state: state_name(h.state, proto).to_string(),
        local: endpoint(id.source_address, id.source_port),
        peer: endpoint(id.destination_address, id.destination_port),
        dev: None,
        recv_q: h.recv_queue,
        send_q: h.send_queue,
        uid: h.uid,
        inode: h.inode,
        process: Vec::new(),
        tcp_info: None,
        bound_ifindex: id.interface_id,
    };
    // TIME-WAIT sockets carry no attributes; listeners do (and hold a BGP speaker's
    // MD5 keys), so every TCP socket the kernel sent INET_DIAG_INFO for gets tcp_info.
    if proto == IPPROTO_TCP {
        let mut info = None;
        let mut cong = None;
        let mut md5 = net_admin.then_some(false);
        for (kind, v) in nldump::attrs(payload.get(INET_DIAG_MSG_LEN..).unwrap_or_default()) {
            match kind {
                INET_DIAG_INFO => info = Some(decode_tcp_info(v)),
                INET_DIAG_CONG => {
                    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
                    cong = Some(String::from_utf8_lossy(&v[..end]).into_owned());
                }
                INET_DIAG_MD5SIG => md5 = Some(v.len() >= TCP_DIAG_MD5SIG_LEN),
                _ => {}
            }
        }
        if let Some(mut i) = info {
            i.congestion = cong;
            i.md5 = md5;
            entry.tcp_info = Some(i);
        }
    }
    Some(entry)
}

/// socket inode -> owning processes, from one scan of every `/proc/<pid>/fd`. Socket
/// inodes are global (one sockfs for the whole machine), so one scan serves every
/// namespace. Processes that vanish or deny access during the scan are skipped.
pub fn socket_owners() -> HashMap<u64, Vec<Owner>> {
    let mut map: HashMap<u64, Vec<Owner>> = HashMap::new();
    let Ok(procs) = procfs::process::all_processes() else {
        return map;
    };
    for p in procs.flatten() {
        let Ok(fds) = p.fd() else { continue };
        let mut inodes: Vec<u64> = fds
            .flatten()
            .filter_map(|fd| match fd.target {
                procfs::process::FDTarget::Socket(inode) => Some(inode),
                _ => None,
            })
            .collect();
        if inodes.is_empty() {
            continue;
        }
        inodes.sort_unstable();
        inodes.dedup();
        let comm = p.stat().map(|s| s.comm).unwrap_or_default();
        for inode in inodes {
            map.entry(inode).or_default().push(Owner {
                pid: p.pid(),
                comm: comm.clone(),
            });
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_info_bytes(len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len.max(232)];
        b[2] = 1; // retransmits
        b[16..20].copy_from_slice(&1448u32.to_ne_bytes());
        b[68..72].copy_from_slice(&1500u32.to_ne_bytes()); // rtt 1.5 ms
        b[80..84].copy_from_slice(&10u32.to_ne_bytes());
        b[100..104].copy_from_slice(&3u32.to_ne_bytes());
        b[120..128].copy_from_slice(&123_456u64.to_ne_bytes());
        b[128..136].copy_from_slice(&654_321u64.to_ne_bytes());
        b.truncate(len);
        b
    }

    #[test]
    fn tcp_info_full_short_and_long() {
        let full = decode_tcp_info(&tcp_info_bytes(232));
        assert_eq!(full.retransmits, 1);
        assert_eq!(full.mss, 1448);
        assert_eq!(full.rtt_ms, 1.5);
        assert_eq!(full.cwnd, 10);
        assert_eq!(full.total_retrans, 3);
        assert_eq!(full.bytes_acked, 123_456);
        assert_eq!(full.bytes_received, 654_321);
        // An old kernel's 104-byte struct: fields past the end read as zero.
        let short = decode_tcp_info(&tcp_info_bytes(104));
        assert_eq!(
            (short.cwnd, short.total_retrans, short.bytes_acked),
            (10, 3, 0)
        );
        // A newer kernel's longer struct decodes the same known fields.
        assert_eq!(decode_tcp_info(&tcp_info_bytes(280)), full);
        assert_eq!(decode_tcp_info(&[]), TcpInfo::default());
    }

    #[test]
    fn state_filter_matches_ss() {
        let default = Filter::default().states();
        assert_eq!(default & (1 << 1), 1 << 1); // ESTABLISHED
        assert_eq!(default & (1 << TCP_TIME_WAIT), 0);
        assert_eq!(default & (1 << TCP_LISTEN), 0);
        let l = Filter {
            listening: true,
            ..Filter::default()
        };
        assert_eq!(l.states(), (1 << 10) | (1 << 7));
        assert_eq!(state_name(10, IPPROTO_UDP), "UNCONN");
        assert_eq!(state_name(12, IPPROTO_TCP), "SYN-RECV");
    }

    #[test]
    fn parses_an_inet_diag_message_with_attributes() {
        // inet_diag_msg: family 2, state ESTAB, timer, retrans, sport 179, dport 40000,
        // src 10.0.0.1, dst 10.0.0.2, if 0, cookie; expires, rq 5, wq 7, uid 0, inode 99.
        let mut p = vec![2u8, 1, 0, 0];
        p.extend_from_slice(&179u16.to_be_bytes());
        p.extend_from_slice(&40000u16.to_be_bytes());
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[10, 0, 0, 1]);
        let mut dst = [0u8; 16];
        dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[0u8; 4 + 8 + 4]);
        for v in [5u32, 7, 0, 99] {
            p.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(p.len(), INET_DIAG_MSG_LEN);
        // INET_DIAG_CONG "cubic\0", then INET_DIAG_INFO (104 bytes), then one MD5 key.
        p.extend_from_slice(&[10, 0, 4, 0, b'c', b'u', b'b', b'i', b'c', 0, 0, 0]);
        p.extend_from_slice(&108u16.to_ne_bytes());
        p.extend_from_slice(&2u16.to_ne_bytes());
        p.extend_from_slice(&tcp_info_bytes(104));
        p.extend_from_slice(&104u16.to_ne_bytes());
        p.extend_from_slice(&18u16.to_ne_bytes());
        p.extend_from_slice(&[0u8; 100]);
        let e = parse_response(&p, IPPROTO_TCP, false).unwrap();
        assert_eq!(e.state, "ESTAB");
        assert_eq!(e.local, "10.0.0.1:179");
        assert_eq!(e.peer, "10.0.0.2:40000");
        assert_eq!((e.recv_q, e.send_q, e.inode), (5, 7, 99));
        let ti = e.tcp_info.unwrap();
        assert_eq!(ti.congestion.as_deref(), Some("cubic"));
        assert_eq!(ti.cwnd, 10);
        assert_eq!(ti.md5, Some(true));
        // Without the attribute and without CAP_NET_ADMIN, MD5 is unknown, not "no".
        let e = parse_response(&p[..p.len() - 104], IPPROTO_TCP, false).unwrap();
        assert_eq!(e.tcp_info.unwrap().md5, None);
        let e = parse_response(&p[..p.len() - 104], IPPROTO_TCP, true).unwrap();
        assert_eq!(e.tcp_info.unwrap().md5, Some(false));
        assert!(parse_response(&p[..40], IPPROTO_TCP, true).is_none());
    }
}
