//! Raw Layer-2 frames for CDP and LLDP: one AF_PACKET socket per interface, opened
//! here (a thin, commented shim over socket(2), because the filter and the options
//! below must be set before the first frame is queued). The framing of the two
//! protocols is `netkit_cmds::neighbors::frames`.
//!
//! What reaches user space is decided in the kernel, so a host on a bridge port can
//! neither inject nor delete neighbours through frames it sends to someone else:
//!
//! - a classic BPF filter passes only frames to the CDP and LLDP group addresses
//!   (and, for the l2trace agent, UDP 2228 datagrams to its own address, so it knows
//!   which port a query came in on); transit traffic never wakes netkit;
//! - `PACKET_IGNORE_OUTGOING`: a tap on a bridge port also sees every frame the
//!   bridge sends out of that port (flooded broadcasts, unicast to the host behind
//!   it); those are not the neighbour's. Kernels older than 4.20 lack the option,
//!   so [`recv`] also drops frames whose packet type is `PACKET_OUTGOING`;
//! - the filter is attached before the socket is bound to a protocol and an
//!   interface, so no frame is queued unfiltered;
//! - the CDP and LLDP groups are joined with `PACKET_ADD_MEMBERSHIP` (dropped by the
//!   kernel when the socket closes) instead of switching the interface to
//!   promiscuous mode.
#![allow(unsafe_code)]

use super::L2Error;
use netkit_dissectors::link::Mac;
use nix::libc;
use pnet_datalink::NetworkInterface;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// An interface we can send and receive raw frames on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub index: u32,
    pub mac: Mac,
    pub ipv4: Vec<Ipv4Addr>,
    pub up: bool,
    pub loopback: bool,
}

fn iface_of(i: &NetworkInterface) -> Iface {
    Iface {
        name: i.name.clone(),
        index: i.index,
        mac: i.mac.map_or(Mac([0; 6]), |m| Mac(m.octets())),
        ipv4: i
            .ips
            .iter()
            .filter_map(|n| match n.ip() {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .collect(),
        up: i.is_up(),
        loopback: i.is_loopback(),
    }
}

/// The interfaces of the calling thread's namespace.
pub fn interfaces() -> Vec<Iface> {
    pnet_datalink::interfaces().iter().map(iface_of).collect()
}

/// The group addresses CDP and LLDP are sent to: CDP's, and LLDP's three (nearest
/// bridge, nearest non-TPMR bridge, nearest customer bridge).
pub const DISCOVERY_GROUPS: [[u8; 6]; 4] = [
    [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc],
    [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e],
    [0x01, 0x80, 0xc2, 0x00, 0x00, 0x03],
    [0x01, 0x80, 0xc2, 0x00, 0x00, 0x00],
];

/// The UDP port of Cisco's L2 traceroute.
const L2T_PORT: u32 = 2228;

/// What a channel lets through to user space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// CDP and LLDP frames to their group addresses.
    Discovery,
    /// Those, and IPv4 UDP datagrams to port 2228 of this address (unfragmented):
    /// the agent learns on which port and from which MAC each query came.
    DiscoveryAndQueriesTo(Ipv4Addr),
}

/// A target of a jump in [`filter_program`], resolved to an offset.
#[derive(Clone, Copy)]
enum To {
    Next,
    Accept,
    Reject,
    Queries,
}

/// The classic BPF program for `wanted` (loads are in network byte order).
pub fn filter_program(wanted: Wanted) -> Vec<libc::sock_filter> {
    const LD_W_ABS: u16 = 0x20;
    const LD_H_ABS: u16 = 0x28;
    const LD_B_ABS: u16 = 0x30;
    const LD_H_IND: u16 = 0x48;
    const LDX_MSH: u16 = 0xb1;
    const JEQ_K: u16 = 0x15;
    const JSET_K: u16 = 0x45;
    const RET_K: u16 = 0x06;
    // (code, jt, jf, k) with symbolic jumps, resolved below.
    let mut prog: Vec<(u16, To, To, u32)> = vec![
        (LD_W_ABS, To::Next, To::Next, 0),
        (JEQ_K, To::Next, To::Next, 0x0100_0ccc),
    ];
    // Index 1 goes on to CDP's last two bytes, or jumps to LLDP's prefix (below).
    let cdp = vec![
        (LD_H_ABS, To::Next, To::Next, 4),
        (JEQ_K, To::Accept, To::Queries, 0xcccc),
    ];
    let lldp = vec![
        (JEQ_K, To::Next, To::Queries, 0x0180_c200),
        (LD_H_ABS, To::Next, To::Next, 4),
        (JEQ_K, To::Accept, To::Next, 0x000e),
        (JEQ_K, To::Accept, To::Next, 0x0003),
        (JEQ_K, To::Accept, To::Queries, 0x0000),
    ];
    prog.extend(cdp);
    let lldp_at = prog.len();
    prog.extend(lldp);
    let mut queries_at = prog.len();
    if let Wanted::DiscoveryAndQueriesTo(ip) = wanted {
        prog.extend([
            (LD_H_ABS, To::Next, To::Next, 12),
            (JEQ_K, To::Next, To::Reject, 0x0800),
            (LD_B_ABS, To::Next, To::Next, 23),
            (JEQ_K, To::Next, To::Reject, 17),
            (LD_W_ABS, To::Next, To::Next, 30),
            (JEQ_K, To::Next, To::Reject, u32::from(ip)),
            (LD_H_ABS, To::Next, To::Next, 20),
            (JSET_K, To::Reject, To::Next, 0x3fff),
            (LDX_MSH, To::Next, To::Next, 14),
            (LD_H_IND, To::Next, To::Next, 16),
            (JEQ_K, To::Accept, To::Reject, L2T_PORT),
        ]);
    }
    let accept_at = prog.len();
    prog.push((RET_K, To::Next, To::Next, 0x0004_0000));
    let reject_at = prog.len();
    prog.push((RET_K, To::Next, To::Next, 0));
    if queries_at == accept_at {
        // No queries wanted: what is not discovery is rejected.
        queries_at = reject_at;
    }
    let at = |i: usize, t: To| -> u8 {
        let target = match t {
            To::Next => i + 1,
            To::Accept => accept_at,
            To::Reject => reject_at,
            To::Queries => queries_at,
        };
        u8::try_from(target - i - 1).unwrap_or(0)
    };
    prog.iter()
        .enumerate()
        .map(|(i, &(code, jt, jf, k))| {
            let (jt, jf) = if i == 1 {
                // Not CDP's first four bytes: try LLDP's.
                (0, u8::try_from(lldp_at - 2).unwrap_or(0))
            } else if code == JEQ_K || code == JSET_K {
                (at(i, jt), at(i, jf))
            } else {
                (0, 0)
            };
            libc::sock_filter { code, jt, jf, k }
        })
        .collect()
}

/// One AF_PACKET socket bound to one interface.
#[derive(Debug)]
struct Socket {
    fd: OwnedFd,
    ifindex: i32,
}

/// The sending half of a channel (sends never block: a full queue is an error).
#[derive(Debug, Clone)]
pub struct Sender(Arc<Socket>);
/// The receiving half of a channel.
#[derive(Debug)]
pub struct Receiver(Arc<Socket>);

fn last_error(iface: &str, step: &str) -> L2Error {
    let e = std::io::Error::last_os_error();
    if e.kind() == ErrorKind::PermissionDenied {
        return L2Error::RawNeedsCapNetRaw(iface.to_string());
    }
    L2Error::Raw {
        iface: iface.to_string(),
        why: format!("{step}: {e}"),
    }
}

fn set_option<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> i32 {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(0);
    // SAFETY: `value` points to a live, initialised T of `len` bytes for the duration
    // of the call, and the kernel only reads it.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast(),
            len,
        )
    }
}

/// `PACKET_IGNORE_OUTGOING` (linux/if_packet.h; absent from older libc crates).
const PACKET_IGNORE_OUTGOING: i32 = 23;

/// Opens a raw channel on `name` that passes what `wanted` says; reads give up after
/// `read_timeout`.
pub fn open_filtered(
    name: &str,
    read_timeout: Duration,
    wanted: Wanted,
) -> Result<(Sender, Receiver), L2Error> {
    let ifindex = interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .and_then(|i| i32::try_from(i.index).ok())
        .ok_or_else(|| L2Error::NoInterface(name.to_string()))?;
    // Protocol 0: the socket receives nothing until it is bound below, after the
    // filter is in place.
    // SAFETY: plain socket(2); the result is checked before it is owned.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(last_error(name, "cannot open a raw socket"));
    }
    // SAFETY: `raw` is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut prog = filter_program(wanted);
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).unwrap_or(0),
        filter: prog.as_mut_ptr(),
    };
    if set_option(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog) < 0 {
        return Err(last_error(name, "cannot attach the CDP/LLDP filter"));
    }
    // Best effort: recv() checks the packet type too.
    let one: i32 = 1;
    let _ = set_option(&fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &one);
    for group in DISCOVERY_GROUPS {
        let mut addr = [0u8; 8];
        addr[..6].copy_from_slice(&group);
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex,
            mr_type: u16::try_from(libc::PACKET_MR_MULTICAST).unwrap_or(0),
            mr_alen: 6,
            mr_address: addr,
        };
        if set_option(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq) < 0 {
            return Err(last_error(name, "cannot join the CDP/LLDP groups"));
        }
    }
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(read_timeout.as_secs()).unwrap_or(1),
        tv_usec: libc::suseconds_t::from(read_timeout.subsec_micros()),
    };
    if set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv) < 0 {
        return Err(last_error(name, "cannot set a read timeout"));
    }
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = u16::try_from(libc::AF_PACKET).unwrap_or(0);
    sll.sll_protocol = u16::try_from(libc::ETH_P_ALL).unwrap_or(0).to_be();
    sll.sll_ifindex = ifindex;
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_ll>()).unwrap_or(0);
    // SAFETY: `sll` is a valid sockaddr_ll of `len` bytes, only read by the kernel.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), std::ptr::from_ref(&sll).cast(), len) };
    if rc < 0 {
        return Err(last_error(name, "cannot bind the raw socket"));
    }
    let s = Arc::new(Socket { fd, ifindex });
    Ok((Sender(Arc::clone(&s)), Receiver(s)))
}

/// Opens a raw channel on `name` for CDP and LLDP; reads give up after `read_timeout`.
pub fn open(name: &str, read_timeout: Duration) -> Result<(Sender, Receiver), L2Error> {
    open_filtered(name, read_timeout, Wanted::Discovery)
}

/// The next frame received on the interface (never one it sent), or `None` when the
/// read timed out.
pub fn recv(rx: &mut Receiver) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 9216];
    loop {
        // SAFETY: as in open_filtered, a zeroed sockaddr_ll is valid.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len =
            libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_ll>()).unwrap_or(0);
        // SAFETY: `buf` and `from` are writable for the lengths passed; the kernel
        // writes at most that much and reports how much.
        let n = unsafe {
            libc::recvfrom(
                rx.0.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                std::ptr::from_mut(&mut from).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            continue;
        }
        buf.truncate(usize::try_from(n).unwrap_or(0));
        return Ok(Some(buf));
    }
}

/// Sends one frame without waiting: a full transmit queue is an error, never a stall.
pub fn send(tx: &mut Sender, frame: &[u8]) -> std::io::Result<()> {
    let _ = tx.0.ifindex;
    // SAFETY: `frame` is readable for its length; the socket is bound to one interface.
    let n = unsafe {
        libc::send(
            tx.0.fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over `frame` the way the kernel does, for the
    /// instructions [`filter_program`] uses.
    fn run(prog: &[libc::sock_filter], frame: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |off: usize, size: usize| -> Option<u32> {
            let b = frame.get(off..off + size)?;
            Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v)))
        };
        loop {
            let i = prog[pc];
            let k = i.k as usize;
            match i.code {
                0x20 => {
                    a = match load(k, 4) {
                        Some(v) => v,
                        None => return 0,
                    }
                }
                0x28 => {
                    a = match load(k, 2) {
                        Some(v) => v,
                        None => return 0,
                    }
                }
                0x30 => {
                    a = match load(k, 1) {
                        Some(v) => v,
                        None => return 0,
                    }
                }
                0x48 => {
                    a = match load(x as usize + k, 2) {
                        Some(v) => v,
                        None => return 0,
                    }
                }
                0xb1 => {
                    x = match load(k, 1) {
                        Some(v) => 4 * (v & 0xf),
                        None => return 0,
                    }
                }
                0x15 | 0x45 => {
                    let hit = if i.code == 0x15 {
                        a == i.k
                    } else {
                        a & i.k != 0
                    };
                    pc += usize::from(if hit { i.jt } else { i.jf });
                }
                0x06 => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc += 1;
        }
    }

    fn frame(dst: [u8; 6], ethertype: u16) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.resize(60, 0);
        f
    }

    fn udp(dst_ip: [u8; 4], dport: u16, frag: u16) -> Vec<u8> {
        let mut f = frame([2, 0, 0, 0, 0, 2], 0x0800);
        f[14] = 0x45;
        f[20..22].copy_from_slice(&frag.to_be_bytes());
        f[23] = 17;
        f[30..34].copy_from_slice(&dst_ip);
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn only_discovery_groups_pass_and_queries_only_when_asked() {
        let d = filter_program(Wanted::Discovery);
        let me = Ipv4Addr::new(10, 0, 0, 1);
        let q = filter_program(Wanted::DiscoveryAndQueriesTo(me));
        for group in DISCOVERY_GROUPS {
            assert_ne!(run(&d, &frame(group, 40)), 0, "{group:x?}");
            assert_ne!(run(&q, &frame(group, 40)), 0, "{group:x?}");
        }
        // CDP to broadcast or unicast, LLDP to another 01:80:c2 address: refused.
        for dst in [
            [0xff; 6],
            [2, 0, 0, 0, 0, 9],
            [0x01, 0x80, 0xc2, 0x00, 0x00, 0x01],
            [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcd],
        ] {
            assert_eq!(run(&d, &frame(dst, 40)), 0, "{dst:x?}");
            assert_eq!(run(&q, &frame(dst, 0x88cc)), 0, "{dst:x?}");
        }
        let query = udp([10, 0, 0, 1], 2228, 0x4000);
        assert_eq!(run(&d, &query), 0);
        assert_ne!(run(&q, &query), 0);
        assert_eq!(run(&q, &udp([10, 0, 0, 2], 2228, 0)), 0);
        assert_eq!(run(&q, &udp([10, 0, 0, 1], 2229, 0)), 0);
        // A later fragment (offset set) carries no UDP header.
        assert_eq!(run(&q, &udp([10, 0, 0, 1], 2228, 0x0010)), 0);
    }
}
