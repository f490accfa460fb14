//! What /proc says that the views need: which processes hold which sockets, and the
//! multicast memberships of the calling thread's namespace.

use netkit_cmds::mcast::ProcMulticast;
use netkit_cmds::ss::Owner;
use std::collections::HashMap;

/// The command line of process `pid`, its arguments joined by spaces; None when it
/// is gone or unreadable, empty for a kernel thread.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&c| c == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// socket inode -> owning processes, from one scan of every `/proc/<pid>/fd`. Socket
/// inodes are global (one sockfs for the whole machine), so one scan serves every
/// namespace. Processes that vanish or deny access during the scan are skipped.
pub fn socket_owners() -> HashMap<u64, Vec<Owner>> {
    let mut map: HashMap<u64, Vec<Owner>> = HashMap::new();
    let Ok(procs) = procfs::process::all_processes() else {
        return map;
    };
    for p in procs.flatten() {
        let Ok(fds) = p.fd() else { continue };
        let mut inodes: Vec<u64> = fds
            .flatten()
            .filter_map(|fd| match fd.target {
                procfs::process::FDTarget::Socket(inode) => Some(inode),
                _ => None,
            })
            .collect();
        if inodes.is_empty() {
            continue;
        }
        inodes.sort_unstable();
        inodes.dedup();
        let comm = p.stat().map(|s| s.comm).unwrap_or_default();
        for inode in inodes {
            map.entry(inode).or_default().push(Owner {
                pid: p.pid(),
                comm: comm.clone(),
            });
        }
    }
    map
}

/// Reads the calling thread's namespace's files (`/proc/thread-self/net`, because
/// `/proc/self/net` follows the thread-group leader). A missing file (no IPv6, ...) is
/// read as empty.
pub fn read_proc_multicast() -> ProcMulticast {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/thread-self/net/{name}")).unwrap_or_default()
    };
    ProcMulticast {
        igmp: read("igmp"),
        igmp6: read("igmp6"),
        dev_mcast: read("dev_mcast"),
    }
}
