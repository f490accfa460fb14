//! What the `mcast` views print as JSON (docs/CLI.md): serde structs whose field names
//! are the contract.

use crate::ns::NsProblem;
use netkit_dissectors::link::Mac;
use netkit_dissectors::mcast::{Ipv6GroupDetail, MacKind, Scope};
use serde::Serialize;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarningOut {
    pub code: String,
    pub message: String,
}

/// One element of `mcast map --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapEntry {
    pub group: String,
    pub family: &'static str,
    pub mac: String,
    pub scope: Scope,
    pub name: Option<&'static str>,
    pub warnings: Vec<WarningOut>,
    /// Human wording of `scope`.
    pub scope_description: &'static str,
    /// SSM group (232/8, ff3x::/32).
    pub ssm: bool,
    /// AS number of a GLOP (233/8) group.
    pub glop_as: Option<u16>,
    /// IPv6 flags, embedded RP, unicast prefix, solicited-node target; null for IPv4.
    pub ipv6: Option<Ipv6GroupDetail>,
}

/// One candidate group of a reverse lookup, annotated so the likely one stands out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub group: String,
    pub scope: Option<Scope>,
    pub name: Option<&'static str>,
}

/// `mcast reverse --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReverseEntry {
    pub mac: String,
    pub kind: MacKind,
    pub groups: Vec<String>,
    pub group_id: Option<u16>,
    pub note: String,
    /// GLBP forwarder number.
    pub forwarder: Option<u8>,
    /// `groups` with scope and well-known name.
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollisionOut {
    pub mac: String,
    pub groups: Vec<String>,
}

impl From<super::rules::Collision> for CollisionOut {
    fn from(c: super::rules::Collision) -> Self {
        CollisionOut {
            mac: c.mac.to_string(),
            groups: c.groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupWarning {
    pub group: String,
    pub code: String,
    pub message: String,
    /// The plan file's label for the group, if it had one.
    pub label: Option<String>,
}

/// A group given more than once in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    pub group: String,
    pub count: usize,
    /// Plan file lines it is on (groups given as arguments have none).
    pub lines: Vec<usize>,
}

/// A plan line that is not a multicast group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLineError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// `mcast check --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub collisions: Vec<CollisionOut>,
    pub warnings: Vec<GroupWarning>,
    pub duplicates: Vec<Duplicate>,
    /// Plan lines that could not be checked (the rest of the plan still was).
    pub bad_lines: Vec<PlanLineError>,
    /// How many distinct groups were checked.
    pub checked: usize,
}

/// An IPv4 or IPv6 group joined on an interface, from /proc/net/igmp or igmp6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub ifindex: u32,
    pub interface: String,
    pub group: IpAddr,
    pub users: u32,
}

/// A link-layer address in an interface's multicast filter, from /proc/net/dev_mcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFilter {
    pub ifindex: u32,
    pub interface: String,
    pub mac: Mac,
}

/// The three multicast files of one namespace, read inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcMulticast {
    pub igmp: String,
    pub igmp6: String,
    pub dev_mcast: String,
}

/// One element of `mcast groups --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinedGroup {
    pub netns: String,
    pub interface: String,
    pub group: String,
    pub mac: String,
    pub family: &'static str,
    pub ifindex: u32,
    /// Sockets/users holding the membership.
    pub users: u32,
    pub name: Option<&'static str>,
    pub scope: Option<Scope>,
    /// Whether the MAC is in the interface's link-layer filter (dev_mcast); false is
    /// normal for `lo` and for devices in allmulti/promiscuous mode.
    pub in_dev_mcast: bool,
    /// Other groups joined on the same interface and namespace with the same MAC.
    pub collisions: Vec<String>,
}

/// The outcome of `mcast groups`: rows, plus namespaces that could not be read (with
/// `--all-netns` one unreadable namespace is a warning, not a failure).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupsReport {
    pub groups: Vec<JoinedGroup>,
    /// Namespaces that could not be read, and what could not be looked at, one line
    /// each.
    pub errors: Vec<String>,
    /// The same namespaces, typed (for the exit status); not in the JSON.
    #[serde(skip)]
    pub problems: Vec<NsProblem>,
}
