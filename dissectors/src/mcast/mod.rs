//! Multicast group <-> MAC arithmetic, scopes, well-known groups and virtual MACs.
//!
//! Pure functions, no I/O: the protocol knowledge. The advice built on it (flooding
//! traps, collisions in a plan) is the `mcast` command's (`netkit_cmds::mcast::rules`).
//! What an engineer must know when mapping groups to MACs by hand:
//!
//! * IPv4 (RFC 1112 §6.4): `01:00:5e` + a zero bit + the low 23 bits of the group. The
//!   5 bits after the `1110` prefix are dropped, so 32 groups share every MAC.
//! * IPv6 (RFC 2464 §7): `33:33` + the low 32 bits of the group; 96 bits are dropped.
//! * 224.0.0.0/24 is never constrained by IGMP snooping (RFC 4541 §2.1.2), and every
//!   group `X.0.0.Y` / `X.128.0.Y` shares its MAC with `224.0.0.Y`, so switches that
//!   snoop by MAC flood it the same way.
//!
//! Reverse lookups also recognise first-hop-redundancy virtual MACs (HSRP, VRRP, GLBP)
//! and the IEEE/Cisco control addresses that show up in captures.

mod mac;
mod mapping;
mod registry;
mod scope;

pub use mac::*;
pub use mapping::*;
pub use registry::*;
pub use scope::*;
