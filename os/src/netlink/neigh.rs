//! The neighbour table (ARP for IPv4, NDP for IPv6) of one namespace, through
//! `RTM_GETNEIGH`, as `ip neigh show` prints it.

use super::{DumpError, Links};
use netkit_cmds::arp::{Family, Neighbour};
use netlink_packet_core::Parseable;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use netlink_sys::Socket;

const RTM_GETNEIGH: u16 = 30;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

// NUD_* state bits (include/uapi/linux/neighbour.h).
const NUD_STATES: [(u16, &str); 8] = [
    (0x01, "INCOMPLETE"),
    (0x02, "REACHABLE"),
    (0x04, "STALE"),
    (0x08, "DELAY"),
    (0x10, "PROBE"),
    (0x20, "FAILED"),
    (0x40, "NOARP"),
    (0x80, "PERMANENT"),
];
const NUD_NOARP: u16 = 0x40;

/// Names the NUD state bits the way `ip neigh` does.
pub fn state_name(bits: u16) -> String {
    let names: Vec<&str> = NUD_STATES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "NONE".to_string()
    } else {
        names.join(",")
    }
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff` (any length, for non-Ethernet links too).
pub fn mac_string(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Dumps the neighbours of the socket's namespace. Like `ip neigh show`, entries whose
/// state is only NOARP (or NONE) are left out: they are the kernel's bookkeeping for
/// loopback, multicast and point-to-point peers, not learned neighbours.
pub fn dump(sock: &Socket, links: &Links, family: Family) -> Result<Vec<Neighbour>, DumpError> {
    let families: &[u8] = match family {
        Family::V4 => &[AF_INET],
        Family::V6 => &[AF_INET6],
        Family::Both => &[AF_INET, AF_INET6],
    };
    let mut out = Vec::new();
    for &fam in families {
        // struct ndmsg: family, 3 pad bytes, ifindex, state u16, flags u8, type u8.
        let mut body = [0u8; 12];
        body[0] = fam;
        for payload in super::dump(sock, RTM_GETNEIGH, &body)? {
            let Some(raw_state) = super::ne_u16(&payload, 8) else {
                continue;
            };
            let Ok(msg) = NeighbourMessage::parse(payload.as_slice()) else {
                continue;
            };
            if let Some(n) = from_message(&msg, raw_state, links) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

fn from_message(msg: &NeighbourMessage, raw_state: u16, links: &Links) -> Option<Neighbour> {
    let shown = raw_state & 0xff & !NUD_NOARP != 0
        || msg.header.flags.contains(NeighbourFlags::Proxy)
        || msg.header.flags.contains(NeighbourFlags::ExtLearned);
    if !shown {
        return None;
    }
    let mut ip = None;
    let mut mac = None;
    for attr in &msg.attributes {
        match attr {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => ip = Some(a.to_string()),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => ip = Some(a.to_string()),
            NeighbourAttribute::LinkLayerAddress(b) => mac = Some(mac_string(b)),
            _ => {}
        }
    }
    Some(Neighbour {
        netns: String::new(),
        ip: ip?,
        mac,
        dev: links.name(msg.header.ifindex),
        state: state_name(raw_state),
        vrf: links.vrf_of(msg.header.ifindex),
        router: msg.header.flags.contains(NeighbourFlags::Router),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_follow_iproute2() {
        assert_eq!(state_name(0x80), "PERMANENT");
        assert_eq!(state_name(0x02), "REACHABLE");
        assert_eq!(state_name(0x0c), "STALE,DELAY");
        assert_eq!(state_name(0), "NONE");
    }

    #[test]
    fn parses_a_kernel_neighbour_message() {
        // RTM_NEWNEIGH payload for `10.1.0.2 dev if3 lladdr 02:00:00:00:00:02 PERMANENT`:
        // ndmsg (family 2, ifindex 3, state 0x80, flags 0, type 1), NDA_DST, NDA_LLADDR.
        let payload: Vec<u8> = [
            &[2u8, 0, 0, 0][..],
            &3u32.to_ne_bytes(),
            &0x80u16.to_ne_bytes(),
            &[0, 1],
            &[8, 0, 1, 0, 10, 1, 0, 2],
            &[10, 0, 2, 0, 2, 0, 0, 0, 0, 2, 0, 0],
        ]
        .concat();
        let msg = NeighbourMessage::parse(payload.as_slice()).unwrap();
        let n = from_message(&msg, 0x80, &Links::default()).unwrap();
        assert_eq!(n.ip, "10.1.0.2");
        assert_eq!(n.mac.as_deref(), Some("02:00:00:00:00:02"));
        assert_eq!(n.dev, "if3");
        assert_eq!(n.state, "PERMANENT");
        // A NOARP-only entry is hidden, as `ip neigh show` hides it.
        assert!(from_message(&msg, 0x40, &Links::default()).is_none());
    }
}
