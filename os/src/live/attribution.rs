//! Socket -> process, per namespace, on demand.
//!
//! When the capture thread sees a flow it does not know, it hands the key here at
//! once. This thread (inside the flow's namespace) asks sock_diag for the sockets of
//! that protocol and family and picks the one with the exact tuple (UDP falls back to
//! the unconnected socket bound to the local port; ICMP echo flows are matched to ping
//! sockets by identifier, or to the raw ICMP socket), then maps the socket inode to its
//! process through an index that is refreshed incrementally: first the processes that
//! appeared in the last seconds (where a short-lived client lives), then, at most every
//! [`FULL_SCAN_EVERY_NS`], all of them. Looking up at the first packet rather than at
//! the next display tick is what attributes connections that last 10 ms.

use super::LiveError;
use crate::netlink as nldump;
use crate::netns::Netns;
use netkit_cmds::top::engine::{Engine, FlowKey, ProcInfo, Proto};
use netkit_cmds::watch::report::Process;
use netlink_packet_core::{Emitable, Parseable};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags,
};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::netlink::sockets::{AF_INET, AF_INET6, INET_DIAG_MSG_LEN, SOCK_DIAG_BY_FAMILY};
use crate::netlink::NETLINK_SOCK_DIAG;
use netkit_cmds::ss::{IPPROTO_TCP, IPPROTO_UDP};
/// Processes first seen this recently are rescanned on every miss.
const RECENT_NS: u128 = 3_000_000_000;
/// Rescan every process at most this often.
const FULL_SCAN_EVERY_NS: u128 = 250_000_000;
/// Index entries kept before the index starts over.
const MAX_INDEXED: usize = 1 << 20;

/// One socket as sock_diag or /proc/net reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub inode: u64,
}

/// Picks the socket that owns a flow: the exact tuple first, then (UDP, ICMP) a socket
/// bound to the local port whose address and peer are the flow's or wildcards.
pub fn find_socket(rows: &[SockRow], key: &FlowKey) -> Option<u64> {
    let exact = rows
        .iter()
        .find(|r| r.inode != 0 && r.local == key.local && r.remote == key.remote);
    if let Some(r) = exact {
        return Some(r.inode);
    }
    if key.proto == Proto::Tcp {
        return None;
    }
    rows.iter()
        .find(|r| {
            r.inode != 0
                && r.local.port() == key.local.port()
                && (r.local.ip().is_unspecified() || r.local.ip() == key.local.ip())
                && (r.remote.ip().is_unspecified() || r.remote == key.remote)
        })
        .map(|r| r.inode)
}

/// Parses `/proc/net/{icmp,icmp6,raw,raw6}` rows: `sl local rem st ... uid timeout inode`.
/// For ping sockets the "port" is the echo identifier; for raw sockets, the protocol.
pub fn parse_proc_net(text: &str) -> Vec<SockRow> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(remote), Some(inode)) =
            (fields.get(1), fields.get(2), fields.get(9))
        else {
            continue;
        };
        let (Some(local), Some(remote), Ok(inode)) =
            (hex_endpoint(local), hex_endpoint(remote), inode.parse())
        else {
            continue;
        };
        out.push(SockRow {
            local,
            remote,
            inode,
        });
    }
    out
}

/// `0100007F:0035` or a 32-digit IPv6 address in four host-order words.
fn hex_endpoint(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                b[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Socket inode -> owning process, kept fresh incrementally.
pub struct PidIndex {
    proc_root: std::path::PathBuf,
    inodes: HashMap<u64, Arc<ProcInfo>>,
    first_seen: HashMap<i32, Instant>,
    last_full: Option<Instant>,
    /// Each process's container, from its cgroup (one name lookup per container).
    containers: crate::cgroup::Containers,
    /// Counters for the report and tests.
    pub full_scans: u64,
    pub partial_scans: u64,
}

impl PidIndex {
    pub fn new(proc_root: impl Into<std::path::PathBuf>) -> PidIndex {
        PidIndex {
            proc_root: proc_root.into(),
            inodes: HashMap::new(),
            first_seen: HashMap::new(),
            last_full: None,
            containers: crate::cgroup::Containers::default(),
            full_scans: 0,
            partial_scans: 0,
        }
    }

    /// The process holding socket `inode`, scanning as little of /proc as it can.
    pub fn owner(&mut self, inode: u64) -> Option<Arc<ProcInfo>> {
        if let Some(p) = self.inodes.get(&inode) {
            return Some(p.clone());
        }
        if let Some(p) = self.scan(inode, false) {
            return Some(p);
        }
        let due = self
            .last_full
            .is_none_or(|t| t.elapsed().as_nanos() >= FULL_SCAN_EVERY_NS);
        if due {
            return self.scan(inode, true);
        }
        None
    }

    /// Looks for `inode` in the processes that appeared recently (or, `full`, in all
    /// of them), newest PID first (PIDs grow, so a client that just started is found
    /// after a handful of reads), and stops as soon as it is found: a 10 ms process
    /// must be read before it exits.
    fn scan(&mut self, inode: u64, full: bool) -> Option<Arc<ProcInfo>> {
        let dir = fs::read_dir(&self.proc_root).ok()?;
        let now = Instant::now();
        if full {
            self.full_scans += 1;
            self.last_full = Some(now);
        } else {
            self.partial_scans += 1;
        }
        let mut pids: Vec<i32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .collect();
        pids.sort_unstable_by(|a, b| b.cmp(a));
        if full {
            let alive: HashSet<i32> = pids.iter().copied().collect();
            self.first_seen.retain(|pid, _| alive.contains(pid));
            // Sockets of processes that exited only cost memory: with short-lived
            // clients the index would grow by every socket they ever had.
            self.inodes.retain(|_, p| alive.contains(&p.pid));
            if self.inodes.len() > MAX_INDEXED {
                self.inodes.clear();
            }
        }
        let mut found = None;
        for pid in pids {
            let first = *self.first_seen.entry(pid).or_insert(now);
            let recent = now.duration_since(first).as_nanos() < RECENT_NS;
            if found.is_none() && (full || recent) {
                self.scan_pid(pid);
                found = self.inodes.get(&inode).cloned();
            }
        }
        found
    }

    fn scan_pid(&mut self, pid: i32) {
        let fd_dir = self.proc_root.join(pid.to_string()).join("fd");
        let Ok(fds) = fs::read_dir(&fd_dir) else {
            return;
        };
        let mut found = Vec::new();
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            found.push(inode);
        }
        if found.is_empty() {
            return;
        }
        // Read the name now: a short-lived process may be gone when its flow is shown.
        let base = self.proc_root.join(pid.to_string());
        let comm = fs::read_to_string(base.join("comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default();
        let cmdline = fs::read(base.join("cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .trim_end_matches('\0')
                    .replace('\0', " ")
            })
            .unwrap_or_default();
        let container = self.containers.of_pid(&self.proc_root, pid);
        let info = Arc::new(ProcInfo {
            pid,
            comm,
            cmdline,
            container,
        });
        for inode in found {
            // A socket shared by several processes (inherited over fork) stays with
            // the first one found, usually the parent that created it.
            self.inodes.entry(inode).or_insert_with(|| info.clone());
        }
    }
}

/// Dumps every TCP or UDP socket of one family in this thread's namespace.
fn dump(sock: &netlink_sys::Socket, proto: u8, family: u8) -> Vec<SockRow> {
    let req = InetRequest {
        family,
        protocol: proto,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::from_bits_retain(0xfff),
        socket_id: if family == AF_INET {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        },
    };
    let mut body = vec![0u8; req.buffer_len()];
    req.emit(&mut body);
    let Ok(replies) = nldump::dump(sock, SOCK_DIAG_BY_FAMILY, &body) else {
        return Vec::new();
    };
    replies
        .iter()
        .filter_map(|p| parse_diag(p.get(..INET_DIAG_MSG_LEN)?))
        .collect()
}

/// The tuple and inode of one `struct inet_diag_msg`, read with the same header
/// parser as `ss` (sockets.rs); the attributes after it are not needed here.
fn parse_diag(msg: &[u8]) -> Option<SockRow> {
    let h = InetResponseHeader::parse(msg.get(..INET_DIAG_MSG_LEN)?).ok()?;
    let id = &h.socket_id;
    Some(SockRow {
        local: SocketAddr::new(id.source_address, id.source_port),
        remote: SocketAddr::new(id.destination_address, id.destination_port),
        inode: u64::from(h.inode),
    })
}

/// IPv4-mapped IPv6 sockets (a v6 socket talking to a v4 peer) show up in the v6 dump
/// with mapped addresses; the capture sees plain v4.
fn unmap(row: SockRow) -> SockRow {
    let plain = |a: SocketAddr| match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    };
    SockRow {
        local: plain(row.local),
        remote: plain(row.remote),
        inode: row.inode,
    }
}

/// Asks sock_diag for the one TCP socket with exactly this tuple (no dump: the kernel
/// looks it up in its hash table, tens of microseconds), as a plain socket and then as
/// an IPv4-mapped one on an IPv6 socket.
fn exact_tcp(sock: &netlink_sys::Socket, key: &FlowKey) -> Option<SockRow> {
    let mut candidates = vec![(key.local, key.remote)];
    if let (IpAddr::V4(l), IpAddr::V4(r)) = (key.local.ip(), key.remote.ip()) {
        candidates.push((
            SocketAddr::new(IpAddr::V6(l.to_ipv6_mapped()), key.local.port()),
            SocketAddr::new(IpAddr::V6(r.to_ipv6_mapped()), key.remote.port()),
        ));
    }
    for (local, remote) in candidates {
        let req = InetRequest {
            family: if local.is_ipv6() { AF_INET6 } else { AF_INET },
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::from_bits_retain(0xfff),
            socket_id: SocketId {
                source_port: local.port(),
                destination_port: remote.port(),
                source_address: local.ip(),
                destination_address: remote.ip(),
                interface_id: 0,
                // INET_DIAG_NOCOOKIE: match by tuple only.
                cookie: [0xff; 8],
            },
        };
        let mut body = vec![0u8; req.buffer_len()];
        req.emit(&mut body);
        if let Ok(reply) = nldump::request(sock, SOCK_DIAG_BY_FAMILY, &body) {
            if let Some(row) = reply.get(..INET_DIAG_MSG_LEN).and_then(parse_diag) {
                return Some(unmap(row));
            }
        }
    }
    None
}

fn sockets_for(sock: &netlink_sys::Socket, key: &FlowKey) -> Vec<SockRow> {
    let v6 = key.local.is_ipv6();
    match key.proto {
        Proto::Tcp => exact_tcp(sock, key).into_iter().collect(),
        Proto::Udp => {
            let proto = IPPROTO_UDP;
            let mut rows = dump(sock, proto, if v6 { AF_INET6 } else { AF_INET });
            if !v6 {
                rows.extend(dump(sock, proto, AF_INET6).into_iter().map(unmap));
            }
            rows
        }
        Proto::Icmp => {
            let read = |f: &str| fs::read_to_string(format!("/proc/thread-self/net/{f}"));
            let (ping, raw) = if v6 {
                ("icmp6", "raw6")
            } else {
                ("icmp", "raw")
            };
            let mut rows = parse_proc_net(&read(ping).unwrap_or_default());
            // Raw ICMP sockets (ping run as root): the "port" is the protocol. They
            // see every echo, so they only stand in when no ping socket matched, and
            // only for echo flows (identifier as port): an error such as port
            // unreachable (port 0) belongs to no raw socket.
            let icmp_proto = if v6 { 58 } else { 1 };
            if key.local.port() == 0 {
                return rows;
            }
            rows.extend(
                parse_proc_net(&read(raw).unwrap_or_default())
                    .into_iter()
                    .filter(|r| r.local.port() == icmp_proto)
                    .map(|r| SockRow {
                        local: SocketAddr::new(r.local.ip(), key.local.port()),
                        remote: r.remote,
                        inode: r.inode,
                    }),
            );
            rows
        }
        Proto::Ip(_) => Vec::new(),
    }
}

/// The attribution thread of one namespace: answers lookups until the capture thread
/// hangs up. Runs inside the namespace (sock_diag and /proc/thread-self/net are per
/// namespace).
pub fn run(
    label: &str,
    lookups: &Receiver<(FlowKey, i64)>,
    engine: &Mutex<Engine>,
) -> Result<(), LiveError> {
    let sock = nldump::open(NETLINK_SOCK_DIAG).map_err(|err| LiveError::SockDiag {
        label: label.to_string(),
        err,
    })?;
    let mut index = PidIndex::new("/proc");
    super::top::boost_this_thread();
    // From here on only /proc of other users' processes needs a capability.
    crate::caps::keep_only(&crate::caps::PROC_READ)?;
    // NETKIT_TOP_DEBUG=1 logs every lookup to stderr (for attribution failures).
    let debug = std::env::var_os("NETKIT_TOP_DEBUG").is_some();
    while let Ok(first) = lookups.recv() {
        let started = Instant::now();
        let mut batch = vec![first];
        batch.extend(lookups.try_iter());
        // One dump per (protocol, family) serves the whole batch.
        let mut cache: HashMap<(Proto, bool), Vec<SockRow>> = HashMap::new();
        let mut answers = Vec::with_capacity(batch.len());
        let mut exact = Vec::new();
        for (key, frame_ts) in batch {
            // TCP is looked up by exact tuple; the others share one dump per batch.
            let rows = if key.proto == Proto::Tcp {
                exact.clear();
                exact.extend(sockets_for(&sock, &key));
                &exact
            } else {
                cache
                    .entry((key.proto, key.local.is_ipv6()))
                    .or_insert_with(|| sockets_for(&sock, &key))
            };
            let inode = find_socket(rows, &key);
            let owner = inode.and_then(|inode| index.owner(inode));
            if debug {
                eprintln!(
                    "top: lookup {key:?}: {} sockets, inode {inode:?}, owner {:?}, \
                     {} us after the batch started, {} us after the frame",
                    rows.len(),
                    owner.as_ref().map(|p| p.pid),
                    started.elapsed().as_micros(),
                    (crate::clock::unix_ns() - frame_ts) / 1000
                );
            }
            answers.push((key, owner));
        }
        let mut e = crate::lock(engine);
        for (key, owner) in answers {
            e.set_owner(&key, owner);
        }
    }
    Ok(())
}

/// The process that owns the TCP connection `local` <-> `remote` in namespace `ns`,
/// with its command line: one exact sock_diag lookup there, then the /proc scan of
/// socket owners. `None` when the socket is not (or no longer) local to `ns`.
pub fn tcp_owner(ns: &Netns, local: SocketAddr, remote: SocketAddr) -> Option<Process> {
    let key = FlowKey {
        netns: 0,
        proto: Proto::Tcp,
        local,
        remote,
    };
    let row = crate::netns::run_in(ns, || {
        let sock = nldump::open(NETLINK_SOCK_DIAG).ok()?;
        exact_tcp(&sock, &key)
    })
    .ok()??;
    let owner = crate::proc::socket_owners()
        .remove(&row.inode)?
        .into_iter()
        .min_by_key(|o| o.pid)?;
    Some(Process {
        pid: owner.pid,
        comm: owner.comm,
        cmdline: crate::proc::cmdline(owner.pid).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn key(proto: Proto, local: &str, remote: &str) -> FlowKey {
        FlowKey {
            netns: 0,
            proto,
            local: sa(local),
            remote: sa(remote),
        }
    }

    #[test]
    fn exact_tuple_first_then_unconnected_udp() {
        let rows = [
            SockRow {
                local: sa("0.0.0.0:53"),
                remote: sa("0.0.0.0:0"),
                inode: 10,
            },
            SockRow {
                local: sa("10.0.0.1:53"),
                remote: sa("10.0.0.9:4000"),
                inode: 11,
            },
            SockRow {
                local: sa("10.0.0.1:80"),
                remote: sa("10.0.0.2:5000"),
                inode: 0, // TIME-WAIT: no owner
            },
        ];
        let k = key(Proto::Udp, "10.0.0.1:53", "10.0.0.9:4000");
        assert_eq!(find_socket(&rows, &k), Some(11));
        let k = key(Proto::Udp, "10.0.0.1:53", "10.0.0.7:4000");
        assert_eq!(find_socket(&rows, &k), Some(10));
        // TCP never falls back to a wildcard, and inode 0 is nobody.
        let k = key(Proto::Tcp, "10.0.0.1:53", "10.0.0.7:4000");
        assert_eq!(find_socket(&rows, &k), None);
        let k = key(Proto::Tcp, "10.0.0.1:80", "10.0.0.2:5000");
        assert_eq!(find_socket(&rows, &k), None);
    }

    #[test]
    fn parses_proc_net_icmp_and_raw6() {
        let icmp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 12: 0100000A:0BB8 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n";
        let rows = parse_proc_net(icmp);
        assert_eq!(
            rows,
            vec![SockRow {
                local: sa("10.0.0.1:3000"),
                remote: sa("0.0.0.0:0"),
                inode: 4242
            }]
        );
        let raw6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            \x20 58: 00000000000000000000000001000000:003A 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0\n";
        let rows = parse_proc_net(raw6);
        assert_eq!(rows[0].local, sa("[::1]:58"));
        assert_eq!(rows[0].inode, 77);
        assert!(parse_proc_net("header\nbroken line\n").is_empty());
    }

    #[test]
    fn parses_an_inet_diag_message() {
        let mut m = vec![2u8, 1, 0, 0];
        m.extend_from_slice(&40000u16.to_be_bytes());
        m.extend_from_slice(&80u16.to_be_bytes());
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[10, 0, 0, 1]);
        let mut dst = [0u8; 16];
        dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        m.extend_from_slice(&src);
        m.extend_from_slice(&dst);
        m.extend_from_slice(&[0u8; 28]);
        m.extend_from_slice(&1234u32.to_ne_bytes());
        assert_eq!(m.len(), INET_DIAG_MSG_LEN);
        let r = parse_diag(&m).unwrap();
        assert_eq!(r.local, sa("10.0.0.1:40000"));
        assert_eq!(r.remote, sa("10.0.0.2:80"));
        assert_eq!(r.inode, 1234);
        assert!(parse_diag(&m[..50]).is_none());
        let mapped = SockRow {
            local: sa("[::ffff:10.0.0.1]:80"),
            remote: sa("[::ffff:10.0.0.2]:9"),
            inode: 1,
        };
        assert_eq!(unmap(mapped).local, sa("10.0.0.1:80"));
    }

    #[test]
    fn index_forgets_the_sockets_of_processes_that_exited() {
        // A fake /proc: two processes with two sockets each.
        let root = std::env::temp_dir().join(format!("nk-pidindex-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (pid, inodes) in [(100, [11u64, 12]), (200, [21, 22])] {
            let fd = root.join(format!("{pid}/fd"));
            fs::create_dir_all(&fd).unwrap();
            for (i, inode) in inodes.iter().enumerate() {
                std::os::unix::fs::symlink(format!("socket:[{inode}]"), fd.join(i.to_string()))
                    .unwrap();
            }
            fs::write(root.join(format!("{pid}/comm")), format!("p{pid}\n")).unwrap();
            fs::write(root.join(format!("{pid}/cmdline")), b"prog\0--flag\0").unwrap();
        }
        let id = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        fs::write(
            root.join("200/cgroup"),
            format!("1:name=systemd:/\n0::/system.slice/docker-{id}.scope\n"),
        )
        .unwrap();
        let mut index = PidIndex::new(&root);
        assert_eq!(index.owner(11).unwrap().pid, 100);
        assert_eq!(index.owner(22).unwrap().cmdline, "prog --flag");
        // Process 200 is in a docker container, 100 (no cgroup file) in none.
        let c = index.owner(21).unwrap().container.clone().unwrap();
        assert_eq!(c.id.as_deref(), Some(id));
        assert_eq!(index.owner(11).unwrap().container, None);
        assert_eq!(index.inodes.len(), 4);
        // Process 100 exits; the next full scan drops its sockets.
        fs::remove_dir_all(root.join("100")).unwrap();
        assert_eq!(index.scan(99, true), None);
        let mut left: Vec<u64> = index.inodes.keys().copied().collect();
        left.sort_unstable();
        assert_eq!(left, vec![21, 22]);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn index_finds_this_process_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let me = std::process::id() as i32;
        let link = fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter_map(|e| fs::read_link(e.path()).ok())
            .filter_map(|t| {
                t.to_str()?
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap();
        let mut index = PidIndex::new("/proc");
        let p = index.owner(link).unwrap();
        assert_eq!(p.pid, me);
        assert!(index.partial_scans + index.full_scans >= 1);
        assert_eq!(index.owner(u64::MAX), None);
        drop(listener);
    }
}
