//! TCP and UDP sockets of one namespace through NETLINK_SOCK_DIAG, as `ss -tuanpi`
//! shows them: state, queues, owning processes and TCP internals (rtt, cwnd,
//! retransmits, congestion algorithm, bytes acked/received, TCP-MD5 keys).
//!
//! `tcp_info` grows with every kernel release, so it is decoded here into a zeroed
//! struct from however many bytes the kernel sent (as `ss` does), never demanding a
//! minimum length: the netlink-packet-sock-diag `rich_nlas` decoder refuses short ones.

use super::DumpError;
use netkit_cmds::ss::{state_name, Filter, SockEntry, SockTimer, TcpInfo, IPPROTO_TCP};
use netlink_packet_core::{Emitable, Parseable};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags, Timer,
};
use netlink_sys::Socket;
use std::net::SocketAddr;

pub(crate) const SOCK_DIAG_BY_FAMILY: u16 = 20;
pub(crate) const AF_INET: u8 = 2;
pub(crate) const AF_INET6: u8 = 10;
/// `struct inet_diag_msg` is 72 bytes; attributes follow.
pub(crate) const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_CONG: u16 = 4;
const INET_DIAG_MD5SIG: u16 = 18;
/// `struct tcp_diag_md5sig`: family, prefixlen, keylen, addr[4], key[80].
const TCP_DIAG_MD5SIG_LEN: usize = 100;

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

/// The old `TCPDIAG_GETSOCK` request (`struct inet_diag_req`): unlike
/// SOCK_DIAG_BY_FAMILY it asks for both address families at once (the kernel turns it
/// into an AF_UNSPEC dump).
const TCPDIAG_GETSOCK: u16 = 18;
const EINVAL: i32 = 22;
const ENOENT: i32 = 2;
const EOPNOTSUPP: i32 = 95;

/// Sockets in use in the calling thread's namespace, per protocol and family, from
/// /proc/thread-self/net/sockstat{,6}: TCP (v4, v6, TIME-WAIT) and UDP (v4, v6).
/// None when the files cannot be read (then every table is dumped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InUse {
    pub tcp: u64,
    pub tcp6: u64,
    pub tcp_tw: u64,
    pub udp: u64,
    pub udp6: u64,
}

/// Parses sockstat and sockstat6 (`TCP: inuse 3 orphan 0 tw 1 ...`, `TCP6: inuse 2`).
pub fn parse_sockstat(v4: &str, v6: &str) -> InUse {
    let field = |text: &str, proto: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(proto)?.strip_prefix(": "))
            .and_then(|rest| {
                let f: Vec<&str> = rest.split_whitespace().collect();
                f.chunks(2)
                    .find(|kv| kv.first() == Some(&name))
                    .and_then(|kv| kv.get(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    InUse {
        tcp: field(v4, "TCP", "inuse"),
        tcp_tw: field(v4, "TCP", "tw"),
        udp: field(v4, "UDP", "inuse"),
        tcp6: field(v6, "TCP6", "inuse"),
        udp6: field(v6, "UDP6", "inuse"),
    }
}

fn in_use_here() -> Option<InUse> {
    let v4 = std::fs::read_to_string("/proc/thread-self/net/sockstat").ok()?;
    // No IPv6 (ipv6.disable=1): no sockstat6 and no IPv6 sockets.
    let v6 = std::fs::read_to_string("/proc/thread-self/net/sockstat6").unwrap_or_default();
    Some(parse_sockstat(&v4, &v6))
}

/// Dumps the sockets of the socket's namespace that pass `filter`.
///
/// Every dump walks the kernel's socket hash table, which all namespaces share (unless
/// `tcp_child_ehash_entries` gave them their own): that walk, not the sockets, is the
/// fixed cost per namespace with `--all-netns`. So tables the namespace has no socket
/// in (sockstat says so, per namespace) are not dumped, and TCP is dumped once for
/// both families with the old TCPDIAG_GETSOCK request instead of once per family.
pub fn dump(sock: &Socket, filter: &Filter) -> Result<Vec<SockEntry>, DumpError> {
    dump_tables(sock, filter, in_use_here())
}

/// [`dump`] for a socket opened in another namespace than the calling thread's: the
/// thread's sockstat says nothing of that namespace, so every table is dumped.
pub fn dump_from_elsewhere(sock: &Socket, filter: &Filter) -> Result<Vec<SockEntry>, DumpError> {
    dump_tables(sock, filter, None)
}

/// Dumps the tables `filter` asks for, but those `in_use` says are empty.
fn dump_tables(
    sock: &Socket,
    filter: &Filter,
    in_use: Option<InUse>,
) -> Result<Vec<SockEntry>, DumpError> {
    let net_admin = has_net_admin();
    let mut out = Vec::new();
    for proto in filter.protocols() {
        if proto == IPPROTO_TCP {
            if in_use.is_some_and(|u| u.tcp + u.tcp6 + u.tcp_tw == 0) {
                continue;
            }
            match dump_tcp_both_families(sock, filter, net_admin) {
                Ok(rows) => {
                    out.extend(rows);
                    continue;
                }
                // A kernel without the old request: one dump per family below.
                Err(DumpError::Kernel(EINVAL | ENOENT | EOPNOTSUPP)) => {}
                Err(e) => return Err(e),
            }
        }
        for family in [AF_INET, AF_INET6] {
            let empty = in_use.is_some_and(|u| match (proto, family) {
                (IPPROTO_TCP, _) => u.tcp + u.tcp6 + u.tcp_tw == 0,
                (_, AF_INET) => u.udp == 0,
                _ => u.udp6 == 0,
            });
            if empty {
                continue;
            }
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
            for payload in super::dump(sock, SOCK_DIAG_BY_FAMILY, &body)? {
                if let Some(e) = parse_response(&payload, proto, net_admin) {
                    out.push(e);
                }
            }
        }
    }
    Ok(out)
}

fn timer(t: &Timer) -> SockTimer {
    let (name, left, retrans) = match t {
        Timer::Retransmit(d, n) => ("on", d.as_millis(), *n),
        Timer::KeepAlive(d) => ("keepalive", d.as_millis(), 0),
        Timer::TimeWait => ("timewait", 0, 0),
        Timer::Probe(d) => ("persist", d.as_millis(), 0),
    };
    SockTimer {
        name: name.to_string(),
        expires_ms: u64::try_from(left).unwrap_or(u64::MAX),
        retrans,
    }
}

/// TCP sockets of both families in one dump (`struct inet_diag_req`: family,
/// src_len, dst_len, ext, 48-byte socket id, states, dbs).
fn dump_tcp_both_families(
    sock: &Socket,
    filter: &Filter,
    net_admin: bool,
) -> Result<Vec<SockEntry>, DumpError> {
    let mut body = vec![0u8; 60];
    body[3] = (ExtensionFlags::INFO | ExtensionFlags::CONG).bits();
    body[52..56].copy_from_slice(&filter.states().to_ne_bytes());
    Ok(super::dump(sock, TCPDIAG_GETSOCK, &body)?
        .iter()
        .filter_map(|p| parse_response(p, IPPROTO_TCP, net_admin))
        .collect())
}

/// Turns one `inet_diag_msg` (plus attributes) into a [`SockEntry`].
pub fn parse_response(payload: &[u8], proto: u8, net_admin: bool) -> Option<SockEntry> {
    let h = InetResponseHeader::parse(payload.get(..INET_DIAG_MSG_LEN)?).ok()?;
    let id = &h.socket_id;
    let mut entry = SockEntry {
        netns: String::new(),
        proto: if proto == IPPROTO_TCP { "tcp" } else { "udp" }.to_string(),
        state: state_name(h.state, proto).to_string(),
        local: SocketAddr::new(id.source_address, id.source_port),
        peer: SocketAddr::new(id.destination_address, id.destination_port),
        dev: None,
        recv_q: h.recv_queue,
        send_q: h.send_queue,
        uid: h.uid,
        inode: h.inode,
        process: Vec::new(),
        tcp_info: None,
        timer: h.timer.as_ref().map(timer),
        bound_ifindex: id.interface_id,
    };
    // TIME-WAIT sockets carry no attributes; listeners do (and hold a BGP speaker's
    // MD5 keys), so every TCP socket the kernel sent INET_DIAG_INFO for gets tcp_info.
    if proto == IPPROTO_TCP {
        let mut info = None;
        let mut cong = None;
        let mut md5 = net_admin.then_some(false);
        for (kind, v) in super::attrs(payload.get(INET_DIAG_MSG_LEN..).unwrap_or_default()) {
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
    fn sockstat_counts_per_protocol_and_family() {
        let v4 = "sockets: used 27\nTCP: inuse 3 orphan 0 tw 2 alloc 4 mem 1\n\
                  UDP: inuse 1 mem 0\nUDPLITE: inuse 0\n";
        let v6 = "TCP6: inuse 5\nUDP6: inuse 0\nUDPLITE6: inuse 0\n";
        assert_eq!(
            parse_sockstat(v4, v6),
            InUse {
                tcp: 3,
                tcp6: 5,
                tcp_tw: 2,
                udp: 1,
                udp6: 0
            }
        );
        assert_eq!(parse_sockstat("", ""), InUse::default());
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
        assert_eq!(e.local, "10.0.0.1:179".parse().unwrap());
        assert_eq!(e.peer, "10.0.0.2:40000".parse().unwrap());
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
