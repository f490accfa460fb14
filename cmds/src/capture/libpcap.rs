//! The libpcap shim: loads libpcap at run time (no build-time dependency) and uses it
//! only to compile filter expressions into classic BPF, which `bpf` then runs.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use std::sync::{Mutex, OnceLock};

use libloading::Library;

use super::bpf::Insn;

/// What `-f` says when libpcap is not installed.
pub(super) const MISSING: &str =
    "BPF filters need the libpcap runtime (libpcap.so.0.8): apt-get install libpcap0.8";

/// Debian's soname first, then upstream's, then the development symlink.
const NAMES: [&str; 3] = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];

const PCAP_NETMASK_UNKNOWN: u32 = 0xffff_ffff;

#[derive(Debug)]
pub(super) enum CompileError {
    Missing,
    Invalid(String),
}

/// Opaque `pcap_t`.
#[repr(C)]
pub(super) struct PcapT {
    _private: [u8; 0],
}

/// `struct bpf_program`.
#[repr(C)]
pub(super) struct BpfProgram {
    pub(super) bf_len: c_uint,
    pub(super) bf_insns: *const RawInsn,
}

/// `struct bpf_insn`, as libpcap lays it out.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct RawInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut PcapT;
type Compile =
    unsafe extern "C" fn(*mut PcapT, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type Close = unsafe extern "C" fn(*mut PcapT);
type GetErr = unsafe extern "C" fn(*mut PcapT) -> *const c_char;

pub(super) struct Api {
    pub(super) open_dead: OpenDead,
    pub(super) compile: Compile,
    pub(super) freecode: FreeCode,
    pub(super) close: Close,
    pub(super) geterr: GetErr,
    /// Keeps the library mapped for as long as the function pointers above are used;
    /// it lives in a `static` and is never dropped.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) library: Library,
}

fn api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(load).as_ref()
}

fn load() -> Option<Api> {
    NAMES.iter().find_map(|name| {
        // SAFETY: loading libpcap runs its ELF initialisers, which only set up internal
        // tables; libpcap has no initialiser with observable side effects on our process.
        let library = unsafe { Library::new(*name) }.ok()?;
        // SAFETY: each type above matches the C prototype in <pcap/pcap.h>, unchanged
        // since libpcap 0.8; the pointers stay valid because `library` is stored with them.
        unsafe {
            Some(Api {
                open_dead: *library.get::<OpenDead>(b"pcap_open_dead\0").ok()?,
                compile: *library.get::<Compile>(b"pcap_compile\0").ok()?,
                freecode: *library.get::<FreeCode>(b"pcap_freecode\0").ok()?,
                close: *library.get::<Close>(b"pcap_close\0").ok()?,
                geterr: *library.get::<GetErr>(b"pcap_geterr\0").ok()?,
                library,
            })
        }
    })
}

/// The loaded library, for the tests that compare against libpcap's own interpreter.
#[cfg(test)]
pub(super) fn library() -> Option<&'static Library> {
    api().map(|a| &a.library)
}

/// pcap files store LINKTYPE_* values; `pcap_open_dead` wants the platform's DLT_*.
/// They differ only for a few old types (values from libpcap's pcap-common.c, Linux).
fn dlt_for(linktype: u16) -> c_int {
    match linktype {
        100 => 11, // ATM_RFC1483
        101 => 12, // RAW
        102 => 15, // SLIP_BSDOS
        103 => 16, // PPP_BSDOS
        106 => 19, // ATM_CLIP
        other => c_int::from(other),
    }
}

/// Compiles `expr` for a link type and snap length into BPF instructions.
pub(super) fn compile(linktype: u16, snaplen: u32, expr: &str) -> Result<Vec<Insn>, CompileError> {
    let api = api().ok_or(CompileError::Missing)?;
    let expr = CString::new(expr)
        .map_err(|_| CompileError::Invalid("filter contains a NUL byte".to_string()))?;
    // Old libpcap versions kept parser state in globals; one compile at a time is safe
    // everywhere and compiling is rare.
    static COMPILING: Mutex<()> = Mutex::new(());
    let _guard = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
    let snaplen = c_int::try_from(snaplen).unwrap_or(c_int::MAX);
    // SAFETY: pcap_open_dead takes plain integers and returns an owned handle or NULL.
    let handle = unsafe { (api.open_dead)(dlt_for(linktype), snaplen) };
    if handle.is_null() {
        return Err(CompileError::Invalid("pcap_open_dead failed".to_string()));
    }
    let mut program = BpfProgram {
        bf_len: 0,
        bf_insns: std::ptr::null(),
    };
    // SAFETY: `handle` is the live handle from above, `program` a valid out-parameter and
    // `expr` a NUL-terminated string that outlives the call.
    let rc = unsafe { (api.compile)(handle, &mut program, expr.as_ptr(), 1, PCAP_NETMASK_UNKNOWN) };
    let result = if rc != 0 {
        // SAFETY: after a failed compile pcap_geterr returns the handle's NUL-terminated
        // error buffer, valid until the handle is closed; we copy it out before closing.
        let msg = unsafe { CStr::from_ptr((api.geterr)(handle)) };
        Err(CompileError::Invalid(msg.to_string_lossy().into_owned()))
    } else {
        let insns = if program.bf_insns.is_null() {
            Vec::new()
        } else {
            // SAFETY: on success libpcap set `bf_insns` to an array of `bf_len`
            // instructions that stays allocated until pcap_freecode; we copy it now.
            unsafe { std::slice::from_raw_parts(program.bf_insns, program.bf_len as usize) }
                .iter()
                .map(|r| Insn::new(r.code, r.jt, r.jf, r.k))
                .collect()
        };
        // SAFETY: `program` was filled by a successful pcap_compile and is freed once.
        unsafe { (api.freecode)(&mut program) };
        Ok(insns)
    };
    // SAFETY: `handle` came from pcap_open_dead and is closed exactly once, after its last use.
    unsafe { (api.close)(handle) };
    result
}

#[cfg(test)]
pub(super) mod reference {
    //! libpcap's own interpreter, to check ours against.
    use super::*;

    #[repr(C)]
    struct PktHdr {
        ts_sec: i64,
        ts_usec: i64,
        caplen: u32,
        len: u32,
    }

    type OfflineFilter = unsafe extern "C" fn(*const BpfProgram, *const PktHdr, *const u8) -> c_int;

    /// Runs `insns` through libpcap's `pcap_offline_filter`; `None` without libpcap.
    pub(in super::super) fn offline_filter(
        insns: &[Insn],
        packet: &[u8],
        wire_len: u32,
    ) -> Option<bool> {
        let library = library()?;
        // SAFETY: the prototype matches <pcap/pcap.h> (available since libpcap 1.0).
        let filter = unsafe {
            *library
                .get::<OfflineFilter>(b"pcap_offline_filter\0")
                .ok()?
        };
        let raw: Vec<RawInsn> = insns
            .iter()
            .map(|i| RawInsn {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let program = BpfProgram {
            bf_len: raw.len() as c_uint,
            bf_insns: raw.as_ptr(),
        };
        let header = PktHdr {
            ts_sec: 0,
            ts_usec: 0,
            caplen: packet.len() as u32,
            len: wire_len,
        };
        // SAFETY: `program` points at `raw`, `header.caplen` is the length of `packet`, and
        // all three outlive the call, which only reads them.
        Some(unsafe { filter(&program, &header, packet.as_ptr()) } != 0)
    }
}
