//! `ns list --json`: one object per namespace.

use serde::Serialize;

/// One namespace as `ns list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsInfo {
    /// The /run/netns name, `host`, a Docker sandbox id, or `pid:N` (lowest pid).
    pub name: String,
    pub inode: u64,
    /// The VRF this namespace stands for by vendor convention, when the name says.
    pub vrf: Option<String>,
    /// Which convention matched (`Arista EOS`, `Nokia SR Linux`, ...).
    pub convention: Option<String>,
    /// Processes whose network namespace this is.
    pub pids: usize,
    /// A process in it and its command name (the lowest pid).
    pub pid: Option<i32>,
    pub comm: Option<String>,
    pub interfaces: Vec<String>,
    /// `host`, `netns` (ip netns), `cni`, `podman`, `docker` or `process`.
    pub source: String,
    /// The id the current namespace knows it by (`ip netns list`'s `id:`), if assigned.
    pub nsid: Option<i32>,
    /// Other names for the same namespace (e.g. a CNI name and a Docker id).
    pub aliases: Vec<String>,
    /// /etc/netns/NAME exists: `ns exec` will bind its files over /etc.
    pub etc_netns: bool,
}
