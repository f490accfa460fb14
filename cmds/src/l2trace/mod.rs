//! `netkit l2trace`: Cisco's Layer-2 traceroute (UDP 2228) as a tracer and as an agent
//! for Linux bridges.
//!
//! - [`tracer`]: the `traceroute mac` state machine, talking through a [`tracer::Transport`];
//! - [`agent`]: what the responder answers, from the bridge's tables, who may ask and
//!   how often.
//!
//! The sockets (UDP 2228, raw CDP/LLDP, the bridge FDB over netlink) are
//! `netkit_os::l2`'s; the neighbour cache is [`crate::neighbors`].

pub mod agent;
pub mod tracer;

use netkit_dissectors::link::Mac;
use std::net::Ipv4Addr;

/// A trace endpoint as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Station {
    Mac(Mac),
    Ip(Ipv4Addr),
}

/// A station that is neither a MAC nor an IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is neither a MAC nor an IPv4 address ({why})")]
pub struct BadStation {
    pub text: String,
    pub why: String,
}

impl std::str::FromStr for Station {
    type Err = BadStation;

    fn from_str(s: &str) -> Result<Self, BadStation> {
        if let Ok(ip) = s.parse::<Ipv4Addr>() {
            return Ok(Station::Ip(ip));
        }
        s.parse::<Mac>().map(Station::Mac).map_err(|e| BadStation {
            text: s.to_string(),
            why: e.to_string(),
        })
    }
}
