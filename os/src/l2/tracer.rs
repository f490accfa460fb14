//! The tracer's I/O: the UDP 2228 transport, finding the MAC behind an IP (ARP), and
//! finding where a trace starts (a local bridge, or the switch on our uplink heard by
//! CDP/LLDP). The state machine itself is `netkit_cmds::l2trace::tracer`.

use super::L2Error;
use netkit_cmds::l2trace::tracer::{NoAnswer, Transport};
use netkit_cmds::neighbors::Identity;
use netkit_dissectors::app::l2trace::{self as l2t, L2tMessage, MsgType};
use netkit_dissectors::link::Mac;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// The real transport: one unconnected UDP socket (switches may answer from another
/// address than the one asked), one request in flight, bounded retries with doubling
/// timeouts. With IP_RECVERR the kernel reports ICMP errors to an unconnected socket
/// too, so a host where nothing listens on UDP 2228 (port unreachable) ends the wait
/// at once instead of after every retry.
pub struct UdpTransport {
    sock: UdpSocket,
    name: String,
    first_timeout: Duration,
    tries: u32,
}

impl UdpTransport {
    pub fn new(name: &str, first_timeout: Duration, tries: u32) -> Result<Self, L2Error> {
        let sock = UdpSocket::bind("0.0.0.0:0")
            .map_err(|e| L2Error::Udp(format!("cannot open a UDP socket: {e}")))?;
        // Best effort: without it a silent port costs the whole retry budget.
        let _ = nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::Ipv4RecvErr, &true);
        Ok(UdpTransport {
            sock,
            name: name.to_string(),
            first_timeout,
            tries: tries.max(1),
        })
    }

    /// Discards replies that arrived late for an earlier question, and any ICMP
    /// error still pending from one.
    fn drain(&self) {
        let mut buf = [0u8; 1500];
        if self.sock.set_nonblocking(true).is_ok() {
            loop {
                match self.sock.recv_from(&mut buf) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // A pending ICMP error is reported (and cleared) once; go on.
                    Err(_) => {}
                }
            }
            let _ = self.sock.set_nonblocking(false);
        }
    }
}

/// The address the kernel would use toward `target`: what goes into SRC_IP.
pub fn local_addr_toward(target: Ipv4Addr) -> Ipv4Addr {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect(SocketAddrV4::new(target, l2t::PORT))?;
            s.local_addr()
        })
        .ok()
        .and_then(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => Some(v4),
            std::net::IpAddr::V6(_) => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

impl Transport for UdpTransport {
    fn ask(
        &mut self,
        target: Ipv4Addr,
        kind: MsgType,
        src: Mac,
        dst: Mac,
        vlan: u16,
    ) -> Result<L2tMessage, NoAnswer> {
        let me = local_addr_toward(target);
        let req = match kind {
            MsgType::RequestSrc => L2tMessage::request_src(src, dst, vlan, me, &self.name),
            _ => L2tMessage::request_dst(src, dst, vlan, me, &self.name),
        }
        .emit();
        let want = kind.reply_type();
        self.drain();
        let mut wait = self.first_timeout;
        let mut waited = Duration::ZERO;
        let mut buf = [0u8; 2048];
        for _ in 0..self.tries {
            self.sock
                .send_to(&req, SocketAddrV4::new(target, l2t::PORT))
                .map_err(|e| NoAnswer::Socket(e.to_string()))?;
            let deadline = Instant::now() + wait;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let _ = self.sock.set_read_timeout(Some(left));
                match self.sock.recv_from(&mut buf) {
                    Ok((n, _from)) => {
                        // Any reply of the right type is ours: only one question is in
                        // flight, and Cisco answers from its client-facing address.
                        if let Ok(m) = l2t::parse(buf.get(..n).unwrap_or_default()) {
                            if Some(m.msg_type) == want {
                                return Ok(m);
                            }
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break
                    }
                    // ICMP port unreachable (IP_RECVERR): the host is there and
                    // said no one listens. Earlier errors were drained, and only this
                    // request is in flight, so it is this target's answer.
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                        return Err(NoAnswer::PortUnreachable)
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(NoAnswer::Socket(e.to_string())),
                }
            }
            waited += wait;
            wait = wait.saturating_mul(2);
        }
        Err(NoAnswer::Timeout {
            tries: self.tries,
            waited_s: waited.as_secs_f64(),
        })
    }
}

/// The MAC behind an IPv4 address, as `traceroute mac ip` finds it: one of our own
/// addresses gives our interface's MAC; otherwise the ARP table, after provoking an
/// ARP request (a datagram to the discard port) when there is no entry yet.
pub fn resolve_ip(ip: Ipv4Addr) -> Result<Option<Mac>, L2Error> {
    if let Some(i) = super::raw::interfaces()
        .iter()
        .find(|i| i.ipv4.contains(&ip))
    {
        return Ok(Some(i.mac));
    }
    if let Some(m) = crate::netlink::bridge::arp_lookup(ip)? {
        return Ok(Some(m));
    }
    if let Ok(s) = UdpSocket::bind("0.0.0.0:0") {
        let _ = s.send_to(b"", SocketAddrV4::new(ip, 9));
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(m) = crate::netlink::bridge::arp_lookup(ip)? {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// Where a trace starts when the user gave no `--via`: the address of a local bridge
/// (we are a switch, our agent answers for it), else the management address of the
/// CDP/LLDP neighbour on our uplink, found by sending a solicitation (our CDP and
/// LLDP with TTL 0: a netkit agent answers a newcomer at once and keeps nothing) and
/// listening up to two seconds for any announcement.
pub fn default_start(name: &str) -> Result<Ipv4Addr, L2Error> {
    let links = crate::netlink::bridge::links()?;
    let ifaces = super::raw::interfaces();
    for l in &links {
        let is_bridge = l.is_bridge() && links.iter().any(|p| p.master == Some(l.index));
        if !is_bridge {
            continue;
        }
        if let Some(ip) = ifaces
            .iter()
            .find(|i| i.index == l.index)
            .and_then(|i| i.ipv4.first())
        {
            return Ok(*ip);
        }
    }
    let me = ifaces
        .iter()
        .find(|i| i.up && !i.loopback)
        .ok_or(L2Error::NoUplink)?;
    crate::caps::require(
        "l2trace",
        &[(
            crate::caps::Cap::NetRaw,
            "raw sockets to find the first switch by CDP/LLDP; --via IP needs none",
        )],
    )?;
    let found = super::neighbors::listen(&super::neighbors::ListenOptions {
        tell: false,
        interfaces: Vec::new(),
        wait: Duration::from_secs(2),
        announce: Some(Identity {
            name: name.to_string(),
            platform: "netkit host".to_string(),
            mgmt_ip: me.ipv4.first().copied(),
            chassis_mac: me.mac,
            native_vlan: None,
            switch: false,
        }),
        solicit_only: true,
        stop_at_first_ip: true,
    })?;
    found
        .iter()
        .find_map(|n| n.mgmt_ip)
        .ok_or(L2Error::NoSwitchHeard)
}
