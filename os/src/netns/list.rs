//! `netkit ns list`: every network namespace on the machine once, by nsfs inode: named
//! ones (`ip netns`, Docker sandboxes) and those only held by a process (containers,
//! sandboxes), each with its nsid, the VRF it stands for by vendor convention, how many
//! processes are in it and its interfaces.

use super::each::{each, WorkError};
use super::{Netns, NetnsError};
use crate::netlink::{self as nldump, Links, NETLINK_ROUTE};
use crate::netns;
use netkit_cmds::ns::NsInfo;
use std::collections::HashMap;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Docker keeps one namespace file per sandbox here (`SandboxKey`).
pub const DOCKER_NETNS_DIR: &str = "/run/docker/netns";
const RTM_GETNSID: u16 = 90;
const NETNSA_NSID: u16 = 1;
const NETNSA_FD: u16 = 3;

/// The VRF a namespace name stands for, and the platform whose convention says so
/// (../shared/notes/netns-vrf-and-multicast.md A4).
pub fn vrf_by_convention(name: &str) -> Option<(String, &'static str)> {
    if name == netns::HOST_LABEL {
        return Some(("default".to_string(), "host"));
    }
    let rules: [(&str, &str); 3] = [
        ("ns-", "Arista EOS"),
        ("srbase-", "Nokia SR Linux"),
        ("vrf-", "Cisco IOS XR 7"),
    ];
    for (prefix, platform) in rules {
        if let Some(v) = name.strip_prefix(prefix) {
            if !v.is_empty() {
                return Some((v.to_string(), platform));
            }
        }
    }
    match name {
        "global-vrf" | "tpnns" => Some(("default".to_string(), "Cisco IOS XR 6")),
        "srbase" => Some(("base".to_string(), "Nokia SR Linux")),
        _ => None,
    }
}

/// What made a named namespace: container runtimes name theirs by prefix.
fn named_source(name: &str) -> &'static str {
    if name.starts_with("cni-") {
        "cni"
    } else if name.starts_with("netns-") {
        "podman"
    } else {
        "netns"
    }
}

/// Processes per namespace (dev, inode): count, lowest pid and its comm.
fn process_scan() -> HashMap<(u64, u64), (usize, i32, String)> {
    let mut map: HashMap<(u64, u64), (usize, i32, String)> = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return map;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // A process may exit between readdir and stat: skip it.
        let Ok(meta) = fs::metadata(format!("/proc/{pid}/ns/net")) else {
            continue;
        };
        let slot = map
            .entry((meta.dev(), meta.ino()))
            .or_insert((0, i32::MAX, String::new()));
        slot.0 += 1;
        if pid < slot.1 {
            slot.1 = pid;
            slot.2 = fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim_end().to_string())
                .unwrap_or_default();
        }
    }
    map
}

/// The nsid the current namespace has assigned to the namespace at `path`
/// (`RTM_GETNSID` with `NETNSA_FD`), or None when none is assigned.
pub fn nsid_of(sock: &netlink_sys::Socket, path: &Path) -> Option<i32> {
    let file = File::open(path).ok()?;
    let mut body = vec![0u8; 4]; // struct rtgenmsg, padded
    body.extend_from_slice(&8u16.to_ne_bytes());
    body.extend_from_slice(&NETNSA_FD.to_ne_bytes());
    body.extend_from_slice(&(file.as_raw_fd() as u32).to_ne_bytes());
    let answer = nldump::request(sock, RTM_GETNSID, &body).ok()?;
    let (_, v) = nldump::attrs(answer.get(4..)?).find(|(k, _)| *k == NETNSA_NSID)?;
    let id = nldump::ne_u32(v, 0)? as i32;
    (id >= 0).then_some(id)
}

/// Every namespace once, and a warning per namespace that could not be looked into.
/// `run_dir` is normally /run/netns.
pub fn list_in(run_dir: &Path) -> Result<(Vec<NsInfo>, Vec<String>), NetnsError> {
    let mut found: Vec<(Netns, String)> = Vec::new();
    let mut aliases: HashMap<(u64, u64), Vec<String>> = HashMap::new();
    let mut add = |ns: Netns, source: &str, found: &mut Vec<(Netns, String)>| {
        let key = (ns.dev, ns.inode);
        if found.iter().any(|(f, _)| (f.dev, f.inode) == key) {
            aliases.entry(key).or_default().push(ns.label);
        } else {
            found.push((ns, source.to_string()));
        }
    };
    if let Ok(h) = netns::host() {
        add(h, "host", &mut found);
    }
    for ns in netns::list_named_in(run_dir)? {
        let src = named_source(&ns.label);
        add(ns, src, &mut found);
    }
    for ns in netns::list_named_in(Path::new(DOCKER_NETNS_DIR)).unwrap_or_default() {
        add(ns, "docker", &mut found);
    }
    let procs = process_scan();
    let mut unnamed: Vec<(i32, Netns)> = Vec::new();
    for (&(dev, inode), (_, pid, _)) in &procs {
        if !found.iter().any(|(f, _)| (f.dev, f.inode) == (dev, inode)) {
            unnamed.push((
                *pid,
                Netns {
                    label: format!("pid:{pid}"),
                    path: format!("/proc/{pid}/ns/net").into(),
                    dev,
                    inode,
                },
            ));
        }
    }
    unnamed.sort_by_key(|(pid, _)| *pid);
    for (_, ns) in unnamed {
        add(ns, "process", &mut found);
    }

    let namespaces: Vec<Netns> = found.iter().map(|(n, _)| n.clone()).collect();
    let ifaces = each(&namespaces, |label| {
        let link_dump = |err| WorkError::Dump {
            what: "link dump",
            err,
        };
        let sock = nldump::open(NETLINK_ROUTE).map_err(link_dump)?;
        let links = Links::dump(&sock).map_err(link_dump)?;
        let mut by_index: Vec<(u32, String)> =
            links.0.into_iter().map(|(i, l)| (i, l.name)).collect();
        by_index.sort();
        Ok(vec![(
            label.to_string(),
            by_index.into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
        )])
    });
    let mut warnings: Vec<String> = ifaces.problems.iter().map(|p| p.message.clone()).collect();
    warnings.extend(netns::hidden_processes_warning());
    let ifaces: HashMap<String, Vec<String>> = ifaces.rows.into_iter().collect();
    let nsid_sock = nldump::open(NETLINK_ROUTE).ok();

    let mut out = Vec::new();
    for (ns, source) in found {
        let key = (ns.dev, ns.inode);
        let procs_here = procs.get(&key);
        let vrf = vrf_by_convention(&ns.label);
        out.push(NsInfo {
            nsid: nsid_sock.as_ref().and_then(|s| nsid_of(s, &ns.path)),
            etc_netns: source != "process"
                && source != "host"
                && Path::new("/etc/netns").join(&ns.label).is_dir(),
            interfaces: ifaces.get(&ns.label).cloned().unwrap_or_default(),
            pids: procs_here.map_or(0, |p| p.0),
            pid: procs_here.map(|p| p.1),
            comm: procs_here.map(|p| p.2.clone()),
            vrf: vrf.as_ref().map(|v| v.0.clone()),
            convention: vrf.map(|v| v.1.to_string()),
            aliases: aliases.remove(&key).unwrap_or_default(),
            name: ns.label,
            inode: ns.inode,
            source,
        });
    }
    // A namespace whose interfaces could not be listed (its process exited meanwhile,
    // no permission to enter) is still listed; the reason goes to the warnings.
    Ok((out, warnings))
}

pub fn list() -> Result<(Vec<NsInfo>, Vec<String>), NetnsError> {
    list_in(Path::new(netns::NETNS_RUN_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_conventions() {
        assert_eq!(
            vrf_by_convention("ns-VRF1"),
            Some(("VRF1".to_string(), "Arista EOS"))
        );
        assert_eq!(
            vrf_by_convention("srbase-mgmt"),
            Some(("mgmt".to_string(), "Nokia SR Linux"))
        );
        assert_eq!(
            vrf_by_convention("vrf-blue"),
            Some(("blue".to_string(), "Cisco IOS XR 7"))
        );
        assert_eq!(
            vrf_by_convention("global-vrf").map(|v| v.0),
            Some("default".to_string())
        );
        assert_eq!(vrf_by_convention("ns-"), None);
        assert_eq!(vrf_by_convention("cni-1234"), None);
        assert_eq!(named_source("cni-1234"), "cni");
        assert_eq!(named_source("netns-ab"), "podman");
        assert_eq!(named_source("ns-VRF1"), "netns");
    }

    #[test]
    fn lists_the_current_namespace_once_with_its_interfaces() {
        let dir = std::env::temp_dir().join(format!("nk-nslist-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let (all, _) = list_in(&dir).unwrap();
        let me = fs::metadata("/proc/self/ns/net").unwrap();
        let mine: Vec<&NsInfo> = all.iter().filter(|n| n.inode == me.ino()).collect();
        assert_eq!(mine.len(), 1);
        assert!(mine[0].pids >= 1);
        assert!(
            mine[0].interfaces.iter().any(|i| i == "lo"),
            "{:?}",
            mine[0]
        );
    }
}
