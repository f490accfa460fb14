//! What the kernel knows that a switch needs: the bridge forwarding table (FDB), the
//! bridge's ports, and the IPv4 neighbour table (ARP) for `traceroute mac ip`.
//!
//! Everything comes from rtnetlink, read synchronously with [`super::dump`] and
//! decoded with `netlink-packet-route`.
//! The FDB is `RTM_GETNEIGH` with family `AF_BRIDGE`, exactly what `bridge fdb show`
//! asks for, so there is no need to parse that command's text. The socket belongs to
//! the namespace of the thread that opens it, so callers that work in another
//! namespace open it inside `netns::run_in`.

use super::{DumpError, Link, Links};
use netkit_cmds::l2trace::agent::FdbEntry;
use netkit_dissectors::link::Mac;
use netlink_packet_core::Parseable;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use std::net::Ipv4Addr;

const RTM_GETNEIGH: u16 = 30;
const AF_INET: u8 = 2;
const AF_BRIDGE: u8 = 7;
/// `ndm_state` bits (include/uapi/linux/neighbour.h).
const NUD_INCOMPLETE: u16 = 0x01;
const NUD_FAILED: u16 = 0x20;
const NUD_PERMANENT: u16 = 0x80;

/// One rtnetlink dump in the calling thread's namespace, through the project's shared
/// netlink reader (which also retries dumps the kernel interrupts).
fn dump(msg_type: u16, body: &[u8]) -> Result<Vec<Vec<u8>>, DumpError> {
    let sock = super::open(super::NETLINK_ROUTE)?;
    super::dump(&sock, msg_type, body)
}

fn mac_of(bytes: &[u8]) -> Option<Mac> {
    <[u8; 6]>::try_from(bytes).ok().map(Mac)
}

/// Every interface of the calling thread's namespace.
pub fn links() -> Result<Vec<Link>, DumpError> {
    let sock = super::open(super::NETLINK_ROUTE)?;
    let mut links: Vec<Link> = Links::dump(&sock)?.0.into_values().collect();
    links.sort_by_key(|l| l.index);
    Ok(links)
}

/// The forwarding table of the bridge with ifindex `bridge`.
pub fn bridge_fdb(bridge: u32) -> Result<Vec<FdbEntry>, DumpError> {
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
pub fn arp_lookup(ip: Ipv4Addr) -> Result<Option<Mac>, DumpError> {
    Ok(arp_table()?.remove(&ip))
}

/// Every usable entry of the kernel's ARP table (not incomplete, not failed).
pub fn arp_table() -> Result<std::collections::HashMap<Ipv4Addr, Mac>, DumpError> {
    let mut table = std::collections::HashMap::new();
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
        if let (Some(ip), Some(mac)) = (dst, mac) {
            table.insert(ip, mac);
        }
    }
    Ok(table)
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
