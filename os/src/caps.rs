//! Which capabilities this thread holds, to say up front which one a command lacks
//! instead of failing later with a bare "Operation not permitted"; and giving up
//! those a long-running command no longer needs ([`keep_only`]).
//!
//! Read from `CapEff` in /proc/thread-self/status: the effective set is what the kernel
//! checks, and it is per thread. Inside a user namespace it is relative to that
//! namespace, which is also what the kernel checks for its network namespace.

/// A capability a subcommand may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    NetAdmin,
    NetRaw,
    SysAdmin,
    SysPtrace,
    DacReadSearch,
    /// Loading BPF programs and maps (Linux 5.8+; before it CAP_SYS_ADMIN).
    Bpf,
    /// Tracing programs (with CAP_BPF; Linux 5.8+).
    Perfmon,
}

impl Cap {
    /// The bit number in the capability sets (include/uapi/linux/capability.h).
    pub fn bit(self) -> u32 {
        match self {
            Cap::NetAdmin => 12,
            Cap::NetRaw => 13,
            Cap::SysAdmin => 21,
            Cap::SysPtrace => 19,
            Cap::DacReadSearch => 2,
            Cap::Bpf => 39,
            Cap::Perfmon => 38,
        }
    }

    fn capability(self) -> ::caps::Capability {
        use ::caps::Capability as C;
        match self {
            Cap::NetAdmin => C::CAP_NET_ADMIN,
            Cap::NetRaw => C::CAP_NET_RAW,
            Cap::SysAdmin => C::CAP_SYS_ADMIN,
            Cap::SysPtrace => C::CAP_SYS_PTRACE,
            Cap::DacReadSearch => C::CAP_DAC_READ_SEARCH,
            Cap::Bpf => C::CAP_BPF,
            Cap::Perfmon => C::CAP_PERFMON,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Cap::NetAdmin => "CAP_NET_ADMIN",
            Cap::NetRaw => "CAP_NET_RAW",
            Cap::SysAdmin => "CAP_SYS_ADMIN",
            Cap::SysPtrace => "CAP_SYS_PTRACE",
            Cap::DacReadSearch => "CAP_DAC_READ_SEARCH",
            Cap::Bpf => "CAP_BPF",
            Cap::Perfmon => "CAP_PERFMON",
        }
    }
}

/// The effective set from a `/proc/.../status` text.
pub fn effective_in(status: &str) -> Option<u64> {
    set_in(status, "CapEff:")
}

/// One capability set (`field` is "CapEff:", "CapPrm:", ...) from a status text.
fn set_in(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// One capability set of the calling thread, `None` when /proc cannot say.
fn this_thread(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/status")
        .or_else(|_| std::fs::read_to_string("/proc/self/status"))
        .ok()
        .and_then(|status| set_in(&status, field))
}

/// The calling thread's effective set; `None` when /proc cannot say (then nothing is
/// refused up front, and the kernel's own error is reported later).
pub fn effective() -> Option<u64> {
    this_thread("CapEff:")
}

/// Those of `wanted` (each with why it is needed) missing from `set`.
pub fn missing_from<'a>(set: Option<u64>, wanted: &'a [(Cap, &'a str)]) -> Vec<(Cap, &'a str)> {
    let Some(set) = set else {
        return Vec::new();
    };
    wanted
        .iter()
        .filter(|(c, _)| set & (1u64 << c.bit()) == 0)
        .copied()
        .collect()
}

/// Whether the calling thread is known to lack `cap` (false when /proc cannot say).
pub fn lacks(cap: Cap) -> bool {
    !missing_from(effective(), &[(cap, "")]).is_empty()
}

/// A command lacks capabilities it needs; says every missing one and what it is for,
/// e.g. "l2trace agent needs CAP_NET_RAW (raw CDP/LLDP frames): run netkit as root or
/// with sudo".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} needs {}: run netkit as root or with sudo", list(.missing))]
pub struct MissingCaps {
    pub what: String,
    pub missing: Vec<(Cap, String)>,
}

fn list(missing: &[(Cap, String)]) -> String {
    missing
        .iter()
        .map(|(c, why)| format!("{} ({why})", c.name()))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `Err` naming every capability of `wanted` the calling thread lacks.
pub fn require(what: &str, wanted: &[(Cap, &str)]) -> Result<(), MissingCaps> {
    refuse(what, &missing_from(effective(), wanted))
}

fn refuse(what: &str, missing: &[(Cap, &str)]) -> Result<(), MissingCaps> {
    if missing.is_empty() {
        return Ok(());
    }
    Err(MissingCaps {
        what: what.to_string(),
        missing: missing.iter().map(|(c, w)| (*c, w.to_string())).collect(),
    })
}

/// What loading and attaching BPF tracing programs needs: CAP_BPF with CAP_PERFMON,
/// or CAP_SYS_ADMIN alone (which covers both, and is all kernels before 5.8 know).
pub fn require_bpf_tracing(what: &str) -> Result<(), NoBpfCaps> {
    require_bpf_tracing_in(what, effective())
}

fn require_bpf_tracing_in(what: &str, set: Option<u64>) -> Result<(), NoBpfCaps> {
    let has = |c: Cap| set.is_none_or(|s| s & (1u64 << c.bit()) != 0);
    if has(Cap::SysAdmin) || (has(Cap::Bpf) && has(Cap::Perfmon)) {
        return Ok(());
    }
    Err(NoBpfCaps(what.to_string()))
}

/// Neither CAP_BPF with CAP_PERFMON nor CAP_SYS_ADMIN: no BPF tracing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (loading BPF tracing programs): \
     run netkit as root or with sudo"
)]
pub struct NoBpfCaps(pub String);

/// Capabilities could not be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot drop capabilities: {0}")]
pub struct DropFailed(String);

/// What /proc lookups of other users' processes need (socket inodes under
/// /proc/PID/fd, command lines): kept by `top`'s attribution threads.
pub const PROC_READ: [Cap; 2] = [Cap::SysPtrace, Cap::DacReadSearch];

/// Keeps only those of `keep` that the calling thread holds now, in its effective,
/// permitted and inheritable sets, and clears its ambient set. Without capabilities
/// (not root) there is nothing to drop and this succeeds.
///
/// `top` needs CAP_NET_RAW and CAP_SYS_ADMIN only to open its captures inside their
/// namespaces; a tool left running as root on a router for hours should not keep
/// them. Capability sets belong to each thread on Linux: every thread drops its own,
/// threads it creates afterwards inherit the reduced sets, and a dropped capability
/// cannot be taken back (short of exec).
pub fn keep_only(keep: &[Cap]) -> Result<(), DropFailed> {
    use ::caps::{CapSet, CapsHashSet};
    let fail = |e: ::caps::errors::CapsError| DropFailed(e.to_string());
    let permitted = ::caps::read(None, CapSet::Permitted).map_err(fail)?;
    let kept: CapsHashSet = keep
        .iter()
        .map(|c| c.capability())
        .filter(|c| permitted.contains(c))
        .collect();
    if permitted == kept {
        return Ok(());
    }
    // Ambient first (it must stay within permitted and inheritable), then effective
    // before permitted (effective must stay within permitted at every step).
    ::caps::clear(None, CapSet::Ambient).map_err(fail)?;
    for set in [CapSet::Effective, CapSet::Permitted] {
        ::caps::set(None, set, &kept).map_err(fail)?;
    }
    let inheritable: CapsHashSet = ::caps::read(None, CapSet::Inheritable)
        .map_err(fail)?
        .intersection(&kept)
        .copied()
        .collect();
    ::caps::set(None, CapSet::Inheritable, &inheritable).map_err(fail)
}

/// [`keep_only`] `keep`, then sets NoNewPrivs: nothing this process executes
/// afterwards (the agent runs `nft`) can gain privileges through setuid bits or file
/// capabilities, and a root process's children get no more than it kept. Call it
/// before starting threads: each thread has its own sets, and only threads created
/// afterwards inherit the reduced ones.
pub fn lock_down(keep: &[Cap]) -> Result<(), DropFailed> {
    keep_only(keep)?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| DropFailed(format!("NoNewPrivs: {e}")))
}

/// The calling thread's permitted capabilities, as bits (for tests and messages).
pub fn permitted() -> Option<u64> {
    this_thread("CapPrm:")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: [(Cap, &str); 2] = [(Cap::NetRaw, "raw frames"), (Cap::NetAdmin, "nftables")];

    #[test]
    fn effective_set_is_read_from_status() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000003000\n";
        assert_eq!(effective_in(status), Some(0x3000));
        assert_eq!(effective_in("Name: x\n"), None);
    }

    #[test]
    fn missing_capabilities_are_named_with_their_reason() {
        // 0x3000 = bits 12 and 13: CAP_NET_ADMIN and CAP_NET_RAW.
        assert!(missing_from(Some(0x3000), &WANTED).is_empty());
        assert_eq!(
            missing_from(Some(1 << 13), &WANTED),
            vec![(Cap::NetAdmin, "nftables")]
        );
        // Unknown (no /proc): nothing refused up front.
        assert!(missing_from(None, &WANTED).is_empty());
        assert_eq!(
            refuse("l2trace agent", &missing_from(Some(0), &WANTED))
                .unwrap_err()
                .to_string(),
            "l2trace agent needs CAP_NET_RAW (raw frames) and CAP_NET_ADMIN (nftables): \
             run netkit as root or with sudo"
        );
        assert_eq!(refuse("x", &[]), Ok(()));
    }

    #[test]
    fn bpf_tracing_needs_bpf_and_perfmon_or_sys_admin() {
        let bit = |c: Cap| 1u64 << c.bit();
        assert!(require_bpf_tracing_in("drops", Some(bit(Cap::SysAdmin))).is_ok());
        assert!(require_bpf_tracing_in("drops", Some(bit(Cap::Bpf) | bit(Cap::Perfmon))).is_ok());
        let line = require_bpf_tracing_in("drops", Some(bit(Cap::Bpf)))
            .unwrap_err()
            .to_string();
        assert!(line.contains("CAP_BPF") && line.contains("CAP_PERFMON"));
        assert!(line.contains("CAP_SYS_ADMIN"), "{line}");
    }

    /// In a thread of its own, so the test runner's threads keep their sets.
    #[test]
    fn a_thread_keeps_only_what_it_asked_for_and_cannot_take_it_back() {
        let main_before = permitted();
        std::thread::spawn(|| {
            let before = permitted().unwrap();
            keep_only(&[Cap::NetRaw]).unwrap();
            assert_eq!(permitted().unwrap(), before & (1 << Cap::NetRaw.bit()));
            let admin = ::caps::Capability::CAP_SYS_ADMIN;
            assert!(::caps::raise(None, ::caps::CapSet::Effective, admin).is_err());
            keep_only(&[]).unwrap();
            assert_eq!(permitted(), Some(0));
            // Threads created now inherit the empty sets.
            assert_eq!(std::thread::spawn(permitted).join().unwrap(), Some(0));
        })
        .join()
        .unwrap();
        assert_eq!(permitted(), main_before, "other threads keep theirs");
    }
}
