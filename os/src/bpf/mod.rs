//! netkit's BPF programs and their loader.
//!
//! The programs are C sources in `bpf/` at the top of the repository, compiled CO-RE
//! (with BTF) by `bpf/build.sh` into objects that are committed and embedded here with
//! `include_bytes_aligned!`, so building netkit needs no clang. The loader is aya
//! (pure Rust): it relocates each field access against the running kernel's BTF,
//! creates the maps, loads and attaches the programs.
//!
//! Everything is held by file descriptors owned by [`BpfObject`]: nothing is pinned in
//! bpffs and no link outlives the process, so exit, a panic or `kill -9` leaves
//! nothing attached (tests/drops_lab.rs proves the kill -9 case).
//!
//! [`BpfObject`] is general (any object's bytes, BTF tracepoints, cgroup hooks, maps
//! by name); [`drops`] is `netkit drops`'s use of it; [`btf`] reads enum names from the
//! kernel's BTF.

// aya's `Pod` marker (a plain-old-data promise about the map key and value types
// shared with the C side) is an unsafe trait, its impls in `drops.rs`; and
// setpriority for one thread (`lower_this_threads_priority`).
#![allow(unsafe_code)]

pub mod btf;
pub mod drops;
pub mod top;

use aya::programs::{BtfTracePoint, CgroupAttachMode, CgroupSockAddr, Program};
use aya::{Btf, Ebpf, EbpfLoader};
use std::os::fd::AsFd;

/// Why BPF could not be used. One line each, naming the object or program.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error(transparent)]
    MissingCaps(#[from] crate::caps::NoBpfCaps),
    #[error("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux; a kernel built with CONFIG_DEBUG_INFO_BTF is needed): {0}")]
    NoKernelBtf(String),
    #[error("cannot load BPF object {object}: {why}")]
    Load { object: &'static str, why: String },
    #[error("BPF object {object} has no program {program}")]
    NoProgram {
        object: &'static str,
        program: String,
    },
    #[error("cannot attach BPF program {program} to {hook}: {why}")]
    Attach {
        program: String,
        hook: String,
        why: String,
    },
    #[error("{0}")]
    NeedsCap(String),
    #[error("cannot reach the cgroup2 hierarchy: {0}")]
    Cgroup2(String),
    #[error("BPF map {map}: {why}")]
    Map { map: String, why: String },
}

/// An error and its causes on one line: aya's top-level messages ("error relocating
/// section") say little without their sources.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// Lowers the calling thread's scheduling priority (nice 10, this thread only: on
/// Linux a thread id names one thread). For threads that read BPF maps beside work
/// that must not wait, such as watch's analysis: the probe's load (parsing the
/// kernel's BTF) and its reads then take only CPU time nothing else wants.
pub fn lower_this_threads_priority() {
    let tid = nix::unistd::gettid().as_raw();
    // SAFETY: setpriority takes plain integers and changes only the nice value of
    // thread `tid`, this one; a failure (refused) leaves it as it was, which is fine.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// A value for a `const volatile` global of an object, set before loading.
#[derive(Debug, Clone, Copy)]
pub enum Global {
    U32(u32),
    U64(u64),
}

/// One loaded object: its maps and programs, held by file descriptors only.
pub struct BpfObject {
    name: &'static str,
    ebpf: Ebpf,
    btf: Btf,
}

impl std::fmt::Debug for BpfObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpfObject")
            .field("name", &self.name)
            .finish()
    }
}

impl BpfObject {
    /// Loads `bytes` (an ELF object, 4-byte aligned as `include_bytes_aligned!` gives)
    /// with its globals set and maps resized, relocated against the running kernel's
    /// BTF. Nothing is pinned.
    pub fn load(
        name: &'static str,
        bytes: &[u8],
        globals: &[(&str, Global)],
        max_entries: &[(&str, u32)],
    ) -> Result<BpfObject, BpfError> {
        let btf = Btf::from_sys_fs().map_err(|e| BpfError::NoKernelBtf(chain(&e)))?;
        let values: Vec<(&str, [u8; 8], usize)> = globals
            .iter()
            .map(|(n, g)| match g {
                Global::U32(v) => {
                    let mut b = [0; 8];
                    b[..4].copy_from_slice(&v.to_ne_bytes());
                    (*n, b, 4)
                }
                Global::U64(v) => (*n, v.to_ne_bytes(), 8),
            })
            .collect();
        let mut loader = EbpfLoader::new();
        loader.btf(Some(&btf));
        for (n, bytes, len) in &values {
            loader.override_global(n, &bytes[..*len], true);
        }
        for (map, n) in max_entries {
            loader.map_max_entries(map, *n);
        }
        let ebpf = loader.load(bytes).map_err(|e| BpfError::Load {
            object: name,
            why: chain(&e),
        })?;
        Ok(BpfObject { name, ebpf, btf })
    }

    /// Program `program` of object `object`, or which object lacks it. (Not a method:
    /// attaching borrows the object's BTF beside the program.)
    fn program_mut<'a>(
        ebpf: &'a mut aya::Ebpf,
        object: &'static str,
        program: &str,
    ) -> Result<&'a mut aya::programs::Program, BpfError> {
        ebpf.program_mut(program)
            .ok_or_else(|| BpfError::NoProgram {
                object,
                program: program.to_string(),
            })
    }

    /// Loads program `program` and attaches it to BTF tracepoint `tracepoint`
    /// (`SEC("tp_btf/<tracepoint>")`). The link lives as long as this object.
    pub fn attach_tp_btf(&mut self, program: &str, tracepoint: &str) -> Result<(), BpfError> {
        let attach_err = |why: String| BpfError::Attach {
            program: program.to_string(),
            hook: format!("tp_btf/{tracepoint}"),
            why,
        };
        let prog: &mut BtfTracePoint = Self::program_mut(&mut self.ebpf, self.name, program)?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| attach_err(chain(&e)))?;
        prog.load(tracepoint, &self.btf)
            .map_err(|e| attach_err(chain(&e)))?;
        prog.attach().map_err(|e| attach_err(chain(&e)))?;
        Ok(())
    }

    /// Loads program `program` (`SEC("cgroup/connect4")` and the other sock_addr
    /// hooks) and attaches it to the cgroup (v2) directory opened as `cgroup`. The
    /// link is a file descriptor of this object: closed at exit, nothing left attached.
    pub fn attach_cgroup_sock_addr(
        &mut self,
        program: &str,
        cgroup: &std::fs::File,
    ) -> Result<(), BpfError> {
        let attach_err = |why: String| BpfError::Attach {
            program: program.to_string(),
            hook: "cgroup".to_string(),
            why,
        };
        let prog: &mut CgroupSockAddr = Self::program_mut(&mut self.ebpf, self.name, program)?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| attach_err(chain(&e)))?;
        prog.load().map_err(|e| attach_err(chain(&e)))?;
        prog.attach(cgroup.as_fd(), CgroupAttachMode::Single)
            .map_err(|e| attach_err(chain(&e)))?;
        Ok(())
    }

    /// Loads program `program`, a cgroup hook of any kind (`cgroup/sock_create`,
    /// `cgroup/connect4`, `cgroup_skb/egress`, `sockops`, ...: the kind and attach
    /// point come from its section name) and attaches it to the cgroup (v2)
    /// directory opened as `cgroup`. The link is a file descriptor of this object.
    pub fn attach_cgroup(&mut self, program: &str, cgroup: &std::fs::File) -> Result<(), BpfError> {
        let attach_err = |why: String| BpfError::Attach {
            program: program.to_string(),
            hook: "cgroup".to_string(),
            why,
        };
        // Single: with bpf_link (kernels 5.7+) it is the only mode accepted, and links
        // of several programs (several netkits) coexist on one cgroup anyway.
        let mode = CgroupAttachMode::Single;
        let fd = cgroup.as_fd();
        match Self::program_mut(&mut self.ebpf, self.name, program)? {
            Program::CgroupSkb(p) => {
                let Some(kind) = *p.expected_attach_type() else {
                    return Err(attach_err("no ingress/egress in the section name".into()));
                };
                p.load().map_err(|e| attach_err(chain(&e)))?;
                p.attach(fd, kind, mode)
                    .map(|_| ())
                    .map_err(|e| attach_err(chain(&e)))
            }
            Program::CgroupSock(p) => {
                p.load().map_err(|e| attach_err(chain(&e)))?;
                p.attach(fd, mode)
                    .map(|_| ())
                    .map_err(|e| attach_err(chain(&e)))
            }
            Program::CgroupSockAddr(p) => {
                p.load().map_err(|e| attach_err(chain(&e)))?;
                p.attach(fd, mode)
                    .map(|_| ())
                    .map_err(|e| attach_err(chain(&e)))
            }
            Program::SockOps(p) => {
                p.load().map_err(|e| attach_err(chain(&e)))?;
                p.attach(fd, mode)
                    .map(|_| ())
                    .map_err(|e| attach_err(chain(&e)))
            }
            other => Err(attach_err(format!(
                "{:?} is not a cgroup hook",
                other.prog_type()
            ))),
        }
    }

    /// The map `name`, to be turned into a typed aya map (`HashMap`, `PerCpuHashMap`,
    /// `Array`, ...) with `try_from`.
    pub fn map_mut(&mut self, name: &str) -> Result<&mut aya::maps::Map, BpfError> {
        let object = self.name;
        self.ebpf.map_mut(name).ok_or_else(|| BpfError::Map {
            map: name.to_string(),
            why: format!("not in object {object}"),
        })
    }

    /// The running kernel's BTF, as parsed for the relocations.
    pub fn kernel_btf(&self) -> &Btf {
        &self.btf
    }
}
