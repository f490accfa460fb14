//! netkit-os: everything netkit does with the operating system, in one crate. It is
//! the only crate with `unsafe` (five commented shims: libpcap loaded at run time,
//! a memory-mapped capture file, the code between fork and exec of `ns exec`, the
//! filtered AF_PACKET sockets of `l2::raw`, the plain-data promise of the BPF map
//! types in `bpf::drops`) and the
//! only one with OS dependencies (nix, netlink, procfs, caps, libloading, memmap2,
//! pnet, crossterm).
//!
//! It depends on `netkit-cmds` for the engines' input types: the kernel's records are
//! read here straight into the types the engines and views take (a socket into
//! `netkit_cmds::ss::SockEntry`, a frame into `netkit_cmds::source::RawFrame`), so
//! nothing is converted twice and the engines never see an OS type.
//!
//! - [`capture`]: capture files (pcap, pcapng, stdin), live kernel rings, BPF filters,
//!   the pcapng writer, `top --write`'s ring;
//! - [`netlink`]: rtnetlink and sock_diag dumps (sockets, neighbours, routes, links,
//!   the bridge FDB);
//! - [`netns`]: namespaces: finding them, resolving a user's `NS`, entering one, `exec`,
//!   and running work in each of them;
//! - [`proc`]: what /proc says about processes (socket owners, multicast memberships);
//! - [`bpf`]: netkit's BPF programs (committed CO-RE objects) loaded with aya, the
//!   `drops` probe, and a reader of enum names from the kernel's BTF;
//! - [`caps`]: capabilities held, required and dropped;
//! - [`l2`]: raw Layer-2 sockets and the l2trace tracer's, agent's and neighbour
//!   listener's I/O;
//! - [`live`]: `top`'s live monitor (capture threads, socket attribution, the watch
//!   over namespaces);
//! - [`signals`], [`resolve`], [`term`]: signals, reverse DNS, the terminal.

pub mod bpf;
pub mod caps;
pub mod capture;
pub mod cgroup;
pub mod clock;
pub mod l2;
pub mod live;
pub mod netlink;
pub mod netns;
pub mod proc;
pub mod resolve;
pub mod signals;
pub mod term;

/// Locks `m`, taking over its data if a thread panicked while holding it: every
/// mutex here guards counts and queues that stay usable after a panic elsewhere, and
/// a capture or a report must not die of another thread's.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
