//! What the kernel knows that a switch needs: the bridge forwarding table (FDB), the
//! bridge's ports, and the IPv4 neighbour table (ARP) for `traceroute mac ip`.
//!
//! Everything comes from rtnetlink, read synchronously (one request, a read loop until
//! `NLMSG_DONE`) on a `netlink-sys` socket, and decoded with `netlink-packet-route`.
//! The FDB is `RTM_GETNEIGH` with family `AF_BRIDGE`, exactly what `bridge fdb show`
//! asks for, so there is no need to parse that command's text. The socket belongs to
//! the namespace of the thread that opens it, so callers that work in another
//! namespace open it inside `netns::run_in`.

use netkit_dissectors::link::Mac;
use netlink_packet_core::{Parseable, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::Ipv4Addr;

const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_GETLINK: u16 = 18;
const RTM_GETNEIGH: u16 = 30;
const AF_INET: u8 = 2;
const AF_BRIDGE: u8 = 7;
/// `ndm_state` bits (include/uapi/linux/neighbour.h).
const NUD_INCOMPLETE: u16 = 0x01;
const NUD_FAILED: u16 = 0x20;
const NUD_PERMANENT: u16 = 0x80;

/// One network interface of the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<Mac>,
    /// The ifindex of the bridge (or bond, VRF) the interface is enslaved to.
    pub master: Option<u32>,
    /// The interface is a Linux bridge (IFLA_INFO_KIND "bridge").
    pub is_bridge: bool,
}

/// One learned or static entry of a bridge's forwarding table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    pub mac: Mac,
    /// The bridge port the MAC was learned on (the bridge itself for its own MACs).
    pub port: u32,
    /// Only on VLAN-aware bridges (`vlan_filtering 1`).
    pub vlan: Option<u16>,
    /// `NUD_PERMANENT`: one of the bridge's or its ports' own addresses.
    pub local: bool,
}

fn open() -> Result<Socket, String> {
    let mut sock =
        Socket::new(NETLINK_ROUTE).map_err(|e| format!("cannot open netlink socket: {e}"))?;
    sock.bind_auto()
        .map_err(|e| format!("cannot bind netlink socket: {e}"))?;
    let _ = sock.set_rx_buf_sz(1 << 20);
    Ok(sock)
}

/// Sends a dump request and returns each answer's payload (after the netlink header).
fn dump(msg_type: u16, body: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let sock = open()?;
    let seq = 1u32;
    let len = NLMSG_HDR_LEN + body.len();
    let mut req = Vec::with_capacity(len);
    req.extend_from_slice(&(len as u32).to_ne_bytes());
    req.extend_from_slice(&msg_type.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(body);
    sock.send_to(&req, &SocketAddr::new(0, 0), 0)
        .map_err(|e| format!("netlink send: {e}"))?;
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    loop {
        buf.clear();
        let n = sock
            .recv(&mut buf, 0)
            .map_err(|e| format!("netlink receive: {e}"))?;
        let data = buf.get(..n).unwrap_or_default();
        let mut off = 0usize;
        while let Some(hdr) = data.get(off..off + NLMSG_HDR_LEN) {
            let ne32 = |i: usize| hdr.get(i..i + 4).map(|b| [b[0], b[1], b[2], b[3]]);
            let mlen = ne32(0).map_or(0, u32::from_ne_bytes) as usize;
            let mtype = u16::from_ne_bytes([hdr[4], hdr[5]]);
            let mseq = ne32(8).map_or(0, u32::from_ne_bytes);
            let Some(payload) = data.get(off + NLMSG_HDR_LEN..off + mlen.max(NLMSG_HDR_LEN)) else {
                return Err("truncated netlink message".to_string());
            };
            if mlen < NLMSG_HDR_LEN {
                return Err("malformed netlink message".to_string());
            }
            off += (mlen + 3) & !3;
            if mseq != seq {
                continue;
            }
            match mtype {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let errno = payload
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    if errno == 0 {
                        return Ok(out);
                    }
                    return Err(format!(
                        "netlink dump: {}",
                        std::io::Error::from_raw_os_error(-errno)
                    ));
                }
                _ => out.push(payload.to_vec()),
            }
        }
    }
}

fn mac_of(bytes: &[u8]) -> Option<Mac> {
    <[u8; 6]>::try_from(bytes).ok().map(Mac)
}

/// Every interface of the calling thread's namespace.
pub fn links() -> Result<Vec<Link>, String> {
    // struct ifinfomsg: family, pad, type u16, index i32, flags u32, change u32.
    let body = [0u8; 16];
    let mut out = Vec::new();
    for payload in dump(RTM_GETLINK, &body)? {
        let Ok(msg) = LinkMessage::parse(payload.as_slice()) else {
            continue;
        };
        let mut link = Link {
            index: msg.header.index,
            name: format!("if{}", msg.header.index),
            mac: None,
            master: None,
            is_bridge: false,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(a) => link.mac = mac_of(a),
                LinkAttribute::Controller(m) => link.master = Some(*m),
                LinkAttribute::LinkInfo(infos) => {
                    link.is_bridge = infos
                        .iter()
                        .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge)));
                }
                _ => {}
            }
        }
        out.push(link);
    }
    Ok(out)
}

/// The forwarding table of the bridge with ifindex `bridge`.
pub fn bridge_fdb(bridge: u32) -> Result<Vec<FdbEntry>, String> {
    // struct ndmsg with family AF_BRIDGE and nothing else: the whole FDB of the
    // namespace; entries of other bridges are filtered out below by NDA_MASTER.
    let mut body = [0u8; 12];
    body[0] = AF_BRIDGE;
    let mut out = Vec::new();
    for payload in dump(RTM_GETNEIGH, &body)? {
        let raw_state = payload
            .get(8..10)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]));
        let Ok(msg) = NeighbourMessage::parse(payload.as_slice()) else {
            continue;
        };
        if let Some(e) = fdb_entry(&msg, raw_state, bridge) {
            out.push(e);
        }
    }
    Ok(out)
}

fn fdb_entry(msg: &NeighbourMessage, raw_state: u16, bridge: u32) -> Option<FdbEntry> {
    let mut mac = None;
    let mut vlan = None;
    let mut master = None;
    for attr in &msg.attributes {
        match attr {
            NeighbourAttribute::LinkLayerAddress(a) => mac = mac_of(a),
            NeighbourAttribute::Vlan(v) => vlan = Some(*v),
            NeighbourAttribute::Controller(m) => master = Some(*m),
            _ => {}
        }
    }
    // NTF_SELF entries without a master are a device's own unicast/multicast address
    // lists (ndo_dflt_fdb_dump), not stations the bridge learned.
    let on_bridge = master == Some(bridge)
        || (msg.header.ifindex == bridge && !msg.header.flags.contains(NeighbourFlags::Own));
    if !on_bridge {
        return None;
    }
    Some(FdbEntry {
        mac: mac?,
        port: msg.header.ifindex,
        vlan,
        local: raw_state & NUD_PERMANENT != 0,
    })
}

/// The MAC the kernel's ARP table holds for `ip`, if it has a usable entry.
pub fn arp_lookup(ip: Ipv4Addr) -> Result<Option<Mac>, String> {
    let mut body = [0u8; 12];
    body[0] = AF_INET;
    for payload in dump(RTM_GETNEIGH, &body)? {
        let raw_state = payload
            .get(8..10)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]));
        if raw_state & (NUD_INCOMPLETE | NUD_FAILED) != 0 {
            continue;
        }
        let Ok(msg) = NeighbourMessage::parse(payload.as_slice()) else {
            continue;
        };
        let mut dst = None;
        let mut mac = None;
        for attr in &msg.attributes {
            match attr {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => dst = Some(*a),
                NeighbourAttribute::LinkLayerAddress(a) => mac = mac_of(a),
                _ => {}
            }
        }
        if dst == Some(ip) && mac.is_some() {
            return Ok(mac);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWNEIGH payload as the kernel sends it for a learned bridge entry:
    /// ndmsg (family 7, ifindex, state, flags, type), NDA_LLADDR, NDA_MASTER, NDA_VLAN.
    fn bridge_neigh(port: u32, state: u16, flags: u8, master: Option<u32>) -> Vec<u8> {
        let mut p: Vec<u8> = [
            &[7u8, 0, 0, 0][..],
            &port.to_ne_bytes(),
            &state.to_ne_bytes(),
        ]
        .concat();
        p.extend_from_slice(&[flags, 0]);
        p.extend_from_slice(&[10, 0, 2, 0, 0x02, 0, 0, 0, 0, 0x0a, 0, 0]);
        if let Some(m) = master {
            p.extend_from_slice(&[8, 0, 9, 0]);
            p.extend_from_slice(&m.to_ne_bytes());
        }
        p.extend_from_slice(&[6, 0, 5, 0]);
        p.extend_from_slice(&20u16.to_ne_bytes());
        p.extend_from_slice(&[0, 0]);
        p
    }

    #[test]
    fn learned_entry_on_our_bridge_is_kept() {
        let p = bridge_neigh(5, 0x02, 0x04, Some(3));
        let msg = NeighbourMessage::parse(p.as_slice()).unwrap();
        let e = fdb_entry(&msg, 0x02, 3).unwrap();
        assert_eq!(e.mac.to_string(), "02:00:00:00:00:0a");
        assert_eq!((e.port, e.vlan, e.local), (5, Some(20), false));
        // The same entry seen from another bridge is not ours.
        assert!(fdb_entry(&msg, 0x02, 4).is_none());
    }

    #[test]
    fn device_address_lists_are_not_stations() {
        // NTF_SELF, no master: a port's own multicast list.
        let p = bridge_neigh(5, 0x80, 0x02, None);
        let msg = NeighbourMessage::parse(p.as_slice()).unwrap();
        assert!(fdb_entry(&msg, 0x80, 3).is_none());
        // The bridge's own address (on the bridge device, NTF_MASTER): local.
        let p = bridge_neigh(3, 0x80, 0x04, Some(3));
        let msg = NeighbourMessage::parse(p.as_slice()).unwrap();
        assert!(fdb_entry(&msg, 0x80, 3).unwrap().local);
    }
}
