//! `route --json`: one object per route (docs/CLI.md).

use serde::Serialize;

/// One next hop of a route (one leg of a multipath route, or a nexthop object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nexthop {
    pub gateway: Option<String>,
    pub dev: Option<String>,
    /// Relative weight as `ip route` prints it (kernel value + 1).
    pub weight: u32,
    pub encap: Option<String>,
    /// MPLS: the outgoing label stack (swap/push), `ip -f mpls route`'s `as to`.
    pub newdst: Option<String>,
}

/// One route. `netns` is filled in by the caller that knows the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub netns: String,
    /// `inet`, `inet6` or `mpls`.
    pub family: String,
    /// `main`, `local`, `default` or the table number.
    pub table: String,
    /// The VRF device bound to this table, when there is one.
    pub vrf: Option<String>,
    /// Route type: `unicast`, `local`, `broadcast`, `multicast`, `blackhole`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// `default`, an address (full-length prefix) or `addr/len`; for MPLS the label.
    pub dst: String,
    pub gateway: Option<String>,
    pub dev: Option<String>,
    pub proto: String,
    pub scope: String,
    pub metric: Option<u32>,
    pub prefsrc: Option<String>,
    /// Lightweight-tunnel encapsulation, e.g. `mpls 20/30`.
    pub encap: Option<String>,
    /// The nexthop object id when the route names one (`nhid N`, as FRR installs).
    pub nhid: Option<u32>,
    /// ECMP legs, or the members of the nexthop object (group) the route uses.
    pub nexthops: Vec<Nexthop>,
}

/// `route get ADDR`: the route one namespace takes to a destination (the kernel's own
/// lookup, as `ip route get`), or why it has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lookup {
    pub netns: String,
    /// The destination asked about.
    pub to: String,
    /// Route type of the answer: `unicast`, `local`, `unreachable`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub table: Option<String>,
    pub vrf: Option<String>,
    pub gateway: Option<String>,
    pub dev: Option<String>,
    /// The source address the kernel would use.
    pub prefsrc: Option<String>,
    /// Why there is no route (`Network is unreachable`), when there is none.
    pub error: Option<String>,
}
