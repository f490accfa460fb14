//! `netkit arp`: IPv4 and IPv6 neighbours (ARP/NDP) of one namespace or all of them,
//! from `netkit_os::netlink::neigh`.

pub mod report;
pub mod view;

pub use report::Neighbour;

/// Which address families to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    Both,
}
