//! `netkit ns exec NS -- CMD`: what `ip netns exec` does. The command runs in a forked
//! child that, before `exec`, leaves any `ip vrf exec` cgroup, enters the network
//! namespace, takes a private mount namespace (nothing propagates back), mounts a fresh
//! /sys (sysfs shows the devices of the namespace that mounts it) and binds every file
//! of /etc/netns/NAME over its /etc counterpart. The command's exit status is returned.
//!
//! On l3mdev platforms (Cumulus, SONiC, cRPD) a VRF is a device, not a namespace: a
//! name that resolves to no namespace but to a VRF device here runs through
//! `ip vrf exec`, which binds the command's sockets to that device (cgroup + BPF).
//!
//! This is the one module of the views that needs `unsafe`: `pre_exec` (code between
//! fork and exec) and signal dispositions.
#![allow(unsafe_code)]

use super::{Netns, NetnsError};
use crate::netlink::{Links, NETLINK_ROUTE};
use crate::netns;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{signal, SigHandler, Signal};
use std::ffi::{CString, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;

/// Where `ip netns exec` looks for per-namespace /etc files.
pub const ETC_NETNS_DIR: &str = "/etc/netns";

/// Why `ns exec` could not run the command (its own exit status is not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("ns exec needs a command: netkit ns exec NS -- CMD [ARG...]")]
    NoCommand,
    /// Preparing, starting or waiting for the command failed (one line says which).
    #[error("{0}")]
    Failed(String),
}

/// Everything the child needs, prepared before `fork`: after it only raw syscalls on
/// these values run (no allocation, no locks).
struct Prepared {
    ns_file: File,
    sysfs_source: CString,
    sys_read_only: bool,
    /// (source in /etc/netns/NAME, target in /etc, warning line if the bind fails)
    binds: Vec<(CString, CString, Vec<u8>)>,
    /// The parent cgroup's `cgroup.procs` when we are inside an `ip vrf exec` cgroup.
    leave_vrf_cgroup: Option<CString>,
}

fn cstring(p: &Path) -> Result<CString, ExecError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| ExecError::Failed(format!("path {} contains a NUL byte", p.display())))
}

/// The files to bind for namespace `name`, sorted, like iproute2's `bind_etc`.
fn etc_binds(name: &str) -> Result<Vec<(CString, CString, Vec<u8>)>, ExecError> {
    let dir = Path::new(ETC_NETNS_DIR).join(name);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<OsString> = entries.flatten().map(|e| e.file_name()).collect();
    names.sort();
    names
        .into_iter()
        .filter(|n| n != "." && n != "..")
        .map(|n| {
            let src = dir.join(&n);
            let dst = Path::new("/etc").join(&n);
            let warn = format!(
                "netkit: warning: cannot bind {} over {}\n",
                src.display(),
                dst.display()
            );
            Ok((cstring(&src)?, cstring(&dst)?, warn.into_bytes()))
        })
        .collect()
}

/// `ip vrf exec` puts a process in `<cgroup2>/<path>/vrf/<NAME>`; like `ip netns exec`
/// (`vrf_reset`) the child moves back to the cgroup above before switching namespace,
/// so a VRF binding from here is not carried into the other namespace.
fn vrf_cgroup_exit() -> Option<CString> {
    let cg = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cg.lines().find_map(|l| l.strip_prefix("0::"))?;
    let (parent, _) = path.split_once("/vrf/")?;
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    let root = mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_, dir, kind) = (f.next()?, f.next()?, f.next()?);
        (kind == "cgroup2").then(|| dir.to_string())
    })?;
    CString::new(format!("{root}{parent}/cgroup.procs")).ok()
}

fn sys_is_read_only() -> bool {
    nix::sys::statvfs::statvfs("/sys")
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false)
}

fn prepare(ns: &Netns, etc_name: Option<&str>) -> Result<Prepared, ExecError> {
    let ns_file = ns.open()?;
    Ok(Prepared {
        ns_file,
        sysfs_source: CString::new(ns.label.replace('\0', "")).unwrap_or_default(),
        sys_read_only: sys_is_read_only(),
        binds: match etc_name {
            Some(name) => etc_binds(name)?,
            None => Vec::new(),
        },
        leave_vrf_cgroup: vrf_cgroup_exit(),
    })
}

/// The switch done in the child between fork and exec (iproute2 `netns_switch`).
/// Only async-signal-safe system calls on data prepared before the fork.
fn switch(p: &Prepared) -> io::Result<()> {
    if let Some(procs) = &p.leave_vrf_cgroup {
        // Best effort, as iproute2: writing "0" moves the writer itself.
        if let Ok(fd) = nix::fcntl::open(
            procs.as_c_str(),
            nix::fcntl::OFlag::O_WRONLY,
            nix::sys::stat::Mode::empty(),
        ) {
            let _ = nix::unistd::write(&fd, b"0");
        }
    }
    setns(p.ns_file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
    // Our mounts below must not propagate back to the parent's mount namespace.
    mount(
        Some(c""),
        c"/",
        Some(c"none"),
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&std::ffi::CStr>,
    )
    .map_err(io::Error::from)?;
    let mut flags = MsFlags::empty();
    if umount2(c"/sys", MntFlags::MNT_DETACH).is_err() && p.sys_read_only {
        // The old /sys could not go and was read-only: keep the new one read-only too.
        flags |= MsFlags::MS_RDONLY;
    }
    mount(
        Some(p.sysfs_source.as_c_str()),
        c"/sys",
        Some(c"sysfs"),
        flags,
        None::<&std::ffi::CStr>,
    )
    .map_err(io::Error::from)?;
    for (src, dst, warn) in &p.binds {
        if mount(
            Some(src.as_c_str()),
            dst.as_c_str(),
            Some(c"none"),
            MsFlags::MS_BIND,
            None::<&std::ffi::CStr>,
        )
        .is_err()
        {
            let _ = nix::unistd::write(io::stderr(), warn);
        }
    }
    Ok(())
}

/// Runs `cmd` in namespace `ns` and returns its exit status (128 + signal number when a
/// signal ended it, as shells report). `etc_name` is the name whose /etc/netns files
/// are bound (named namespaces only).
pub fn exec_in(ns: &Netns, etc_name: Option<&str>, cmd: &[OsString]) -> Result<i32, ExecError> {
    let (program, args) = cmd.split_first().ok_or(ExecError::NoCommand)?;
    let prepared = prepare(ns, etc_name)?;
    let mut command = Command::new(program);
    command.args(args);
    // SAFETY: the closure runs in the forked child before exec. It only makes system
    // calls (open, write, setns, unshare, mount, umount2) on values prepared before the
    // fork (`prepared` is moved in and only borrowed), allocates nothing and takes no
    // locks, so it is async-signal-safe even though the parent has other threads.
    unsafe {
        command.pre_exec(move || switch(&prepared));
    }
    let mut child = command.spawn().map_err(|e| spawn_error(ns, program, e))?;
    // While the command runs, Ctrl-C and Ctrl-\ are for it, not for us (as system(3)):
    // the terminal sends them to the whole process group.
    // SAFETY: SigIgn installs no handler code, so no async-signal-safety requirement
    // arises; the previous dispositions are restored before returning.
    let old = unsafe {
        (
            signal(Signal::SIGINT, SigHandler::SigIgn).ok(),
            signal(Signal::SIGQUIT, SigHandler::SigIgn).ok(),
        )
    };
    let status = child.wait();
    // SAFETY: reinstalls the dispositions that were in place before (default or
    // whatever handler the runtime had), exactly as they were returned to us.
    unsafe {
        if let Some(h) = old.0 {
            let _ = signal(Signal::SIGINT, h);
        }
        if let Some(h) = old.1 {
            let _ = signal(Signal::SIGQUIT, h);
        }
    }
    let status = status.map_err(|e| {
        ExecError::Failed(format!("waiting for {}: {e}", program.to_string_lossy()))
    })?;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1))
}

fn spawn_error(ns: &Netns, program: &OsString, e: io::Error) -> ExecError {
    let prog = program.to_string_lossy();
    ExecError::Failed(match e.raw_os_error() {
        Some(1) => format!(
            "cannot enter namespace {}: permission denied (entering a namespace and \
             mounting /sys need CAP_SYS_ADMIN: run netkit as root or with sudo)",
            ns.label
        ),
        Some(2) => format!("cannot run {prog}: command not found"),
        _ => format!("cannot run {prog} in namespace {}: {e}", ns.label),
    })
}

/// Is `name` an l3mdev VRF device in the current namespace?
pub fn is_vrf_device(name: &str) -> bool {
    let Ok(sock) = crate::netlink::open(NETLINK_ROUTE) else {
        return false;
    };
    Links::dump(&sock).is_ok_and(|links| {
        links
            .0
            .values()
            .any(|l| l.name == name && l.kind.as_deref() == Some("vrf"))
    })
}

/// `netkit ns exec SPEC -- CMD`: resolves SPEC like every view (name, VRF name by
/// convention, `pid:N`, path); a name that is no namespace but a VRF device here runs
/// through `ip vrf exec`. Returns the command's exit status.
pub fn exec(spec: &str, cmd: &[OsString]) -> Result<i32, ExecError> {
    match netns::resolve(spec) {
        Ok(ns) => {
            let named = Path::new(netns::NETNS_RUN_DIR).join(&ns.label);
            let etc_name = (ns.path == named).then_some(ns.label.as_str());
            exec_in(&ns, etc_name, cmd)
        }
        Err(_) if is_vrf_device(spec) => {
            let mut vrf_cmd = vec![OsString::from("vrf"), "exec".into(), spec.into()];
            vrf_cmd.extend(cmd.iter().cloned());
            let status = Command::new("ip").args(&vrf_cmd).status().map_err(|e| {
                ExecError::Failed(format!(
                    "VRF {spec} is an l3mdev device; running `ip vrf exec` failed: {e}"
                ))
            })?;
            Ok(status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(1))
        }
        Err(e) => Err(e.into()),
    }
}
