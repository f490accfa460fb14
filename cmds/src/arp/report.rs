//! `arp --json`: one object per neighbour (docs/CLI.md).

use serde::Serialize;

/// One neighbour entry. `netns` is filled in by the caller that knows the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neighbour {
    pub netns: String,
    pub ip: String,
    /// Link-layer address; absent for INCOMPLETE/FAILED entries.
    pub mac: Option<String>,
    pub dev: String,
    /// NUD state names joined with `,` (the kernel field is a bitmask), `NONE` when 0.
    pub state: String,
    /// The VRF device the interface is enslaved to, when there is one.
    pub vrf: Option<String>,
    pub router: bool,
}
