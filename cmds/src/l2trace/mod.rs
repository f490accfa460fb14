//! `netkit l2trace`: Cisco's Layer-2 traceroute (UDP 2228) as a tracer and as an agent
//! for Linux bridges, plus the CDP/LLDP neighbour listener behind `netkit neighbors`.
//!
//! - [`tracer`]: the `traceroute mac` state machine and its UDP transport;
//! - [`agent`]: the responder that answers for a Linux bridge;
//! - [`fdb`]: the bridge FDB, links and ARP table over rtnetlink;
//! - [`rawl2`]: raw CDP/LLDP frames (pnet datalink channels);
//! - [`neighbors`]: the neighbour cache, our announcements, and the listener.

pub mod agent;
pub mod fdb;
pub mod neighbors;
pub mod rawl2;
pub mod tracer;

use netkit_dissectors::link::Mac;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// A trace endpoint as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Station {
    Mac(Mac),
    Ip(Ipv4Addr),
}

impl std::str::FromStr for Station {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(ip) = s.parse::<Ipv4Addr>() {
            return Ok(Station::Ip(ip));
        }
        s.parse::<Mac>()
            .map(Station::Mac)
            .map_err(|e| format!("'{s}' is neither a MAC nor an IPv4 address ({e})"))
    }
}

/// The MAC behind an IPv4 address, as `traceroute mac ip` finds it: one of our own
/// addresses gives our interface's MAC; otherwise the ARP table, after provoking an
/// ARP request (a datagram to the discard port) when there is no entry yet.
pub fn resolve_ip(ip: Ipv4Addr) -> Result<Option<Mac>, String> {
    if let Some(i) = rawl2::interfaces().iter().find(|i| i.ipv4.contains(&ip)) {
        return Ok(Some(i.mac));
    }
    if let Some(m) = fdb::arp_lookup(ip)? {
        return Ok(Some(m));
    }
    if let Ok(s) = UdpSocket::bind("0.0.0.0:0") {
        let _ = s.send_to(b"", SocketAddrV4::new(ip, 9));
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(m) = fdb::arp_lookup(ip)? {
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
pub fn default_start(name: &str) -> Result<Ipv4Addr, String> {
    let links = fdb::links()?;
    let ifaces = rawl2::interfaces();
    for l in &links {
        let is_bridge = l.is_bridge && links.iter().any(|p| p.master == Some(l.index));
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
        .ok_or("no interface to find a switch on: give one with --via")?;
    crate::caps::require(
        "l2trace",
        &[(
            crate::caps::Cap::NetRaw,
            "raw sockets to find the first switch by CDP/LLDP; --via IP needs none",
        )],
    )?;
    let found = neighbors::listen(&neighbors::ListenOptions {
        interfaces: Vec::new(),
        wait: Duration::from_secs(2),
        announce: Some(neighbors::Identity {
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
        .ok_or_else(|| "no CDP/LLDP neighbour with an IPv4 address heard on any interface: give a switch with --via".to_string())
}
