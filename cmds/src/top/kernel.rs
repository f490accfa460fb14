//! The records `netkit top`'s BPF programs (bpf/top.bpf.c) leave in their maps,
//! decoded from the maps' raw bytes: who owns a socket (`owners`, keyed by socket
//! cookie) and the bytes of each socket's flows (`traffic`). Pure decoding, so that
//! it is tested and fuzzed without a kernel; netkit-os reads the maps.
//!
//! The layouts are the C structs' (`struct sock_owner`, `struct flow_key`,
//! `struct flow_counts`), native byte order, no padding.

use super::engine::Proto;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes of `struct sock_owner`.
pub const OWNER_LEN: usize = 88;
/// Bytes of `struct bound_key`.
pub const BOUND_KEY_LEN: usize = 16;
/// Bytes of `struct flow_key`.
pub const FLOW_KEY_LEN: usize = 64;
/// Bytes of `struct flow_counts`.
pub const FLOW_COUNTS_LEN: usize = 32;

/// `sock_release` ran: the socket is closed.
const OWNER_CLOSED: u32 = 1;
/// An accepted socket: no process was recorded (pid 0).
const OWNER_PASSIVE: u32 = 2;
/// An accepted socket named after the process that bound its listener.
const OWNER_LISTENER: u32 = 4;

/// One socket's owner as the kernel recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockOwner {
    pub netns_cookie: u64,
    /// cgroup v2 id of the process (None when no process was recorded).
    pub cgroup_id: Option<u64>,
    /// The process (tgid); None for an accepted socket, whose owner userspace finds.
    pub pid: Option<i32>,
    pub tid: u32,
    pub uid: u32,
    pub closed: bool,
    /// An accepted socket, named after the process that bound its listening socket.
    pub from_listener: bool,
    pub proto: u8,
    /// What is known of the tuple: the local end after a bind or accept, the remote
    /// one after a connect or send (port 0 / unspecified address when not known).
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub comm: String,
}

/// One flow of one socket: its counters since the socket's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockFlow {
    pub cookie: u64,
    pub netns_cookie: u64,
    /// The device the packets went through (its link header is not in the counts).
    pub ifindex: u32,
    pub proto: Proto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounts {
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub rx_packets: u64,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(a)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

/// The address of a 16-byte field: IPv4 in its first 4 bytes when `family` is 4.
fn addr(family: u8, b: &[u8]) -> Option<IpAddr> {
    match family {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[..16]);
            let v6 = Ipv6Addr::from(a);
            // A dual-stack socket's IPv4 peer: shown as the IPv4 address, as the
            // packet path (which sees IPv4 headers) does.
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
        _ => None,
    }
}

fn proto(n: u8) -> Proto {
    match n {
        6 => Proto::Tcp,
        17 => Proto::Udp,
        1 | 58 => Proto::Icmp,
        n => Proto::Ip(n),
    }
}

impl SockOwner {
    /// Decodes a `struct sock_owner`; None when `b` is not exactly one.
    pub fn parse(b: &[u8]) -> Option<SockOwner> {
        if b.len() != OWNER_LEN {
            return None;
        }
        let pid = u32_at(b, 16);
        let flags = u32_at(b, 28);
        let family = b[32];
        let lport = u16_at(b, 34);
        let rport = u16_at(b, 36);
        let end = |port: u16, at: usize| {
            let ip = addr(family, &b[at..at + 16])?;
            (port != 0 || !ip.is_unspecified()).then_some(SocketAddr::new(ip, port))
        };
        let comm = &b[72..88];
        let comm_len = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
        let has_process = pid != 0 && flags & OWNER_PASSIVE == 0;
        Some(SockOwner {
            netns_cookie: u64_at(b, 0),
            cgroup_id: has_process.then(|| u64_at(b, 8)),
            pid: has_process.then_some(i32::try_from(pid).ok()).flatten(),
            tid: u32_at(b, 20),
            uid: u32_at(b, 24),
            closed: flags & OWNER_CLOSED != 0,
            from_listener: flags & OWNER_LISTENER != 0,
            proto: b[33],
            local: end(lport, 40),
            remote: end(rport, 56),
            comm: String::from_utf8_lossy(&comm[..comm_len]).into_owned(),
        })
    }
}

/// A listening socket's entry in the programs' `bound` map, as `post_bind` writes it
/// when a process binds: `(struct bound_key, struct sock_owner)` for the TCP port
/// `port` of the namespace `netns_cookie`, owned by `pid`. For listeners bound before
/// the probe started, so that the connections they accept are named after their
/// process in the kernel too.
pub fn listener_entry(
    netns_cookie: u64,
    port: u16,
    family: u8,
    pid: u32,
    uid: u32,
    comm: &str,
) -> ([u8; BOUND_KEY_LEN], [u8; OWNER_LEN]) {
    const IPPROTO_TCP: u8 = 6;
    let mut key = [0u8; BOUND_KEY_LEN];
    key[0..8].copy_from_slice(&netns_cookie.to_ne_bytes());
    key[8..10].copy_from_slice(&port.to_ne_bytes());
    key[10] = IPPROTO_TCP;
    let mut owner = [0u8; OWNER_LEN];
    owner[0..8].copy_from_slice(&netns_cookie.to_ne_bytes());
    // cgroup id 0: the listener's process is alive, its container is read from /proc.
    owner[16..20].copy_from_slice(&pid.to_ne_bytes());
    owner[20..24].copy_from_slice(&pid.to_ne_bytes());
    owner[24..28].copy_from_slice(&uid.to_ne_bytes());
    owner[32] = family;
    owner[33] = IPPROTO_TCP;
    owner[34..36].copy_from_slice(&port.to_ne_bytes());
    // The kernel's comm is at most 15 bytes and NUL-terminated.
    let name = comm.as_bytes();
    let n = name.len().min(15);
    owner[72..72 + n].copy_from_slice(&name[..n]);
    (key, owner)
}

impl SockFlow {
    /// Decodes a `struct flow_key`; None when `b` is not exactly one or its family
    /// is neither 4 nor 6.
    pub fn parse(b: &[u8]) -> Option<SockFlow> {
        if b.len() != FLOW_KEY_LEN {
            return None;
        }
        let family = b[20];
        let local = addr(family, &b[28..44])?;
        let remote = addr(family, &b[44..60])?;
        Some(SockFlow {
            cookie: u64_at(b, 0),
            netns_cookie: u64_at(b, 8),
            ifindex: u32_at(b, 16),
            proto: proto(b[21]),
            local: SocketAddr::new(local, u16_at(b, 22)),
            remote: SocketAddr::new(remote, u16_at(b, 24)),
        })
    }
}

impl FlowCounts {
    pub fn parse(b: &[u8]) -> Option<FlowCounts> {
        if b.len() != FLOW_COUNTS_LEN {
            return None;
        }
        Some(FlowCounts {
            tx_bytes: u64_at(b, 0),
            tx_packets: u64_at(b, 8),
            rx_bytes: u64_at(b, 16),
            rx_packets: u64_at(b, 24),
        })
    }

    /// What was added since `before` (counters only grow; a smaller one means the
    /// entry was evicted and made again, so all of it is new).
    pub fn since(&self, before: &FlowCounts) -> FlowCounts {
        if self.tx_bytes < before.tx_bytes
            || self.rx_bytes < before.rx_bytes
            || self.tx_packets < before.tx_packets
            || self.rx_packets < before.rx_packets
        {
            return *self;
        }
        FlowCounts {
            tx_bytes: self.tx_bytes - before.tx_bytes,
            tx_packets: self.tx_packets - before.tx_packets,
            rx_bytes: self.rx_bytes - before.rx_bytes,
            rx_packets: self.rx_packets - before.rx_packets,
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == FlowCounts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner_bytes(pid: u32, flags: u32, family: u8) -> Vec<u8> {
        let mut b = vec![0u8; OWNER_LEN];
        b[0..8].copy_from_slice(&77u64.to_ne_bytes());
        b[8..16].copy_from_slice(&4242u64.to_ne_bytes());
        b[16..20].copy_from_slice(&pid.to_ne_bytes());
        b[20..24].copy_from_slice(&(pid + 1).to_ne_bytes());
        b[24..28].copy_from_slice(&1000u32.to_ne_bytes());
        b[28..32].copy_from_slice(&flags.to_ne_bytes());
        b[32] = family;
        b[33] = 6;
        b[34..36].copy_from_slice(&5555u16.to_ne_bytes());
        b[40..44].copy_from_slice(&[10, 0, 0, 1]);
        b[72..76].copy_from_slice(b"curl");
        b
    }

    #[test]
    fn an_owner_record_decodes_field_by_field() {
        let o = SockOwner::parse(&owner_bytes(321, OWNER_CLOSED, 4)).unwrap();
        assert_eq!(o.pid, Some(321));
        assert_eq!(o.tid, 322);
        assert_eq!(o.uid, 1000);
        assert_eq!(o.cgroup_id, Some(4242));
        assert_eq!(o.netns_cookie, 77);
        assert!(o.closed);
        assert_eq!(o.comm, "curl");
        assert_eq!(o.local, Some("10.0.0.1:5555".parse().unwrap()));
        assert_eq!(o.remote, None);
        // An accepted socket has no process (userspace looks it up).
        let p = SockOwner::parse(&owner_bytes(0, OWNER_PASSIVE, 6)).unwrap();
        assert_eq!((p.pid, p.cgroup_id, p.closed), (None, None, false));
        assert!(SockOwner::parse(&owner_bytes(1, 0, 4)[..87]).is_none());
    }

    #[test]
    fn a_listener_entry_reads_back_as_its_process() {
        let (key, owner) = listener_entry(77, 8080, 4, 4321, 1000, "a-very-long-server-name");
        assert_eq!(u64_at(&key, 0), 77);
        assert_eq!((u16_at(&key, 8), key[10]), (8080, 6));
        assert!(key[11..].iter().all(|&b| b == 0));
        let o = SockOwner::parse(&owner).unwrap();
        assert_eq!(
            (o.pid, o.tid, o.uid, o.netns_cookie),
            (Some(4321), 4321, 1000, 77)
        );
        assert_eq!((o.proto, o.closed, o.from_listener), (6, false, false));
        assert_eq!(o.comm, "a-very-long-ser", "15 bytes, as the kernel keeps");
        assert_eq!(o.local, Some("0.0.0.0:8080".parse().unwrap()));
    }

    #[test]
    fn a_flow_key_decodes_and_unmaps_ipv4_in_ipv6() {
        let mut b = vec![0u8; FLOW_KEY_LEN];
        b[0..8].copy_from_slice(&9u64.to_ne_bytes());
        b[8..16].copy_from_slice(&3u64.to_ne_bytes());
        b[16..20].copy_from_slice(&2u32.to_ne_bytes());
        b[20] = 6;
        b[21] = 17;
        b[22..24].copy_from_slice(&53u16.to_ne_bytes());
        b[24..26].copy_from_slice(&4000u16.to_ne_bytes());
        b[28..44].copy_from_slice(&Ipv4Addr::new(10, 1, 1, 1).to_ipv6_mapped().octets());
        b[44..60].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
        let f = SockFlow::parse(&b).unwrap();
        assert_eq!((f.cookie, f.netns_cookie, f.proto), (9, 3, Proto::Udp));
        assert_eq!(f.ifindex, 2);
        assert_eq!(f.local, "10.1.1.1:53".parse().unwrap());
        assert_eq!(f.remote, "[::1]:4000".parse().unwrap());
        b[20] = 5;
        assert!(SockFlow::parse(&b).is_none());
    }

    #[test]
    fn counts_since_a_reading_and_after_an_eviction() {
        let a = FlowCounts {
            tx_bytes: 100,
            tx_packets: 2,
            rx_bytes: 50,
            rx_packets: 1,
        };
        let b = FlowCounts {
            tx_bytes: 160,
            tx_packets: 3,
            ..a
        };
        assert_eq!(
            b.since(&a),
            FlowCounts {
                tx_bytes: 60,
                tx_packets: 1,
                rx_bytes: 0,
                rx_packets: 0
            }
        );
        // Evicted and made again: smaller than before, all of it is new.
        assert_eq!(a.since(&b), a);
        assert!(a.since(&a).is_zero());
    }
}
