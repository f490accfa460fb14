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
/// What a live capture says when libpcap is not installed.
pub(super) const MISSING_LIVE: &str =
    "live capture needs the libpcap runtime (libpcap.so.0.8): apt-get install libpcap0.8";

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
    let _guard = crate::lock(&COMPILING);
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

// ---------------------------------------------------------------------------------------
// Live capture (`netkit top`): a pcap_t activated on a device, read with pcap_dispatch.
// On Linux libpcap reads through a TPACKET_V3 mmap ring, so a frame handed to the
// callback points into that ring and stays valid until the callback returns.
// ---------------------------------------------------------------------------------------

/// `struct pcap_pkthdr` on Linux: a `struct timeval` (two longs), caplen, len.
#[repr(C)]
struct PktHeader {
    ts_sec: std::ffi::c_long,
    ts_usec: std::ffi::c_long,
    caplen: u32,
    len: u32,
}

/// `struct pcap_stat` (the first three fields are all Linux fills in).
#[repr(C)]
#[derive(Default)]
struct RawStat {
    ps_recv: c_uint,
    ps_drop: c_uint,
    ps_ifdrop: c_uint,
}

type Create = unsafe extern "C" fn(*const c_char, *mut c_char) -> *mut PcapT;
type SetInt = unsafe extern "C" fn(*mut PcapT, c_int) -> c_int;
type Activate = unsafe extern "C" fn(*mut PcapT) -> c_int;
type SetFilter = unsafe extern "C" fn(*mut PcapT, *mut BpfProgram) -> c_int;
type Stats = unsafe extern "C" fn(*mut PcapT, *mut RawStat) -> c_int;
type Datalink = unsafe extern "C" fn(*mut PcapT) -> c_int;
/// `pcap_handler`: called by pcap_dispatch once per frame.
type Handler = unsafe extern "C" fn(*mut u8, *const PktHeader, *const u8);
type Dispatch = unsafe extern "C" fn(*mut PcapT, c_int, Handler, *mut u8) -> c_int;
type SetNonblock = unsafe extern "C" fn(*mut PcapT, c_int, *mut c_char) -> c_int;
type SelectableFd = unsafe extern "C" fn(*mut PcapT) -> c_int;

/// The functions live capture needs on top of [`Api`].
struct LiveApi {
    create: Create,
    set_snaplen: SetInt,
    set_promisc: SetInt,
    set_timeout: SetInt,
    set_immediate_mode: SetInt,
    set_buffer_size: SetInt,
    set_datalink: SetInt,
    activate: Activate,
    setfilter: SetFilter,
    stats: Stats,
    datalink: Datalink,
    dispatch: Dispatch,
    setnonblock: SetNonblock,
    selectable_fd: SelectableFd,
}

fn live_api() -> Option<(&'static Api, &'static LiveApi)> {
    static LIVE: OnceLock<Option<LiveApi>> = OnceLock::new();
    let api = api()?;
    let live = LIVE
        .get_or_init(|| {
            let lib = &api.library;
            // SAFETY: each type matches its prototype in <pcap/pcap.h> (pcap_create and
            // the pcap_set_* family since libpcap 1.0, pcap_set_immediate_mode since
            // 1.5); `lib` lives in a `static` for the rest of the process.
            unsafe {
                Some(LiveApi {
                    create: *lib.get::<Create>(b"pcap_create\0").ok()?,
                    set_snaplen: *lib.get::<SetInt>(b"pcap_set_snaplen\0").ok()?,
                    set_promisc: *lib.get::<SetInt>(b"pcap_set_promisc\0").ok()?,
                    set_timeout: *lib.get::<SetInt>(b"pcap_set_timeout\0").ok()?,
                    set_immediate_mode: *lib.get::<SetInt>(b"pcap_set_immediate_mode\0").ok()?,
                    set_buffer_size: *lib.get::<SetInt>(b"pcap_set_buffer_size\0").ok()?,
                    set_datalink: *lib.get::<SetInt>(b"pcap_set_datalink\0").ok()?,
                    activate: *lib.get::<Activate>(b"pcap_activate\0").ok()?,
                    setfilter: *lib.get::<SetFilter>(b"pcap_setfilter\0").ok()?,
                    stats: *lib.get::<Stats>(b"pcap_stats\0").ok()?,
                    datalink: *lib.get::<Datalink>(b"pcap_datalink\0").ok()?,
                    dispatch: *lib.get::<Dispatch>(b"pcap_dispatch\0").ok()?,
                    setnonblock: *lib.get::<SetNonblock>(b"pcap_setnonblock\0").ok()?,
                    selectable_fd: *lib.get::<SelectableFd>(b"pcap_get_selectable_fd\0").ok()?,
                })
            }
        })
        .as_ref()?;
    Some((api, live))
}

/// Why a live capture could not be opened.
#[derive(Debug)]
pub(super) enum LiveError {
    Missing,
    /// PCAP_ERROR_PERM_DENIED: no CAP_NET_RAW.
    Permission,
    NoSuchDevice,
    Other(String),
}

const PCAP_ERROR_NO_SUCH_DEVICE: c_int = -5;
const PCAP_ERROR_PERM_DENIED: c_int = -8;
// SLL2 (cooked v2: interface index and packet type in every frame), asked for when
// capturing in cooked mode; the dissectors' number, as libpcap's C int.
const DLT_LINUX_SLL2: c_int = netkit_dissectors::link::linktype::LINUX_SLL2 as c_int;

/// What to open.
pub(super) struct LiveConfig<'a> {
    pub(super) device: &'a str,
    pub(super) snaplen: u32,
    pub(super) buffer_bytes: u32,
    /// Deliver each frame at once instead of waiting for a ring block to fill.
    pub(super) immediate: bool,
    /// How long `next` may block, in milliseconds.
    pub(super) timeout_ms: u32,
    /// Ask for Linux cooked v2 framing (direction and ifindex per frame).
    pub(super) cooked_v2: bool,
    pub(super) filter: Option<&'a str>,
}

/// An activated capture handle. Not `Sync`: libpcap handles must not be used from two
/// threads at once. It may move between threads (libpcap keeps no thread-local state
/// per handle), but the AF_PACKET socket inside stays bound to the network namespace
/// of the thread that opened it.
pub(super) struct LiveHandle {
    handle: *mut PcapT,
    api: &'static Api,
    live: &'static LiveApi,
    linktype: u16,
}

// SAFETY: a pcap_t is plain heap state plus file descriptors; libpcap documents handles
// as usable from any thread as long as one thread at a time uses them, which `&mut self`
// on every method guarantees.
unsafe impl Send for LiveHandle {}

/// One frame handed over by [`LiveHandle::dispatch`], borrowed from libpcap's ring.
pub(super) struct LiveFrame<'a> {
    pub(super) ts_ns: i64,
    pub(super) orig_len: u32,
    pub(super) data: &'a [u8],
}

impl LiveHandle {
    pub(super) fn open(cfg: &LiveConfig<'_>) -> Result<LiveHandle, LiveError> {
        let (api, live) = live_api().ok_or(LiveError::Missing)?;
        let device = CString::new(cfg.device)
            .map_err(|_| LiveError::Other("interface name contains a NUL byte".to_string()))?;
        // PCAP_ERRBUF_SIZE is 256.
        let mut errbuf = [0 as c_char; 256];
        // SAFETY: `device` is NUL-terminated and `errbuf` has the PCAP_ERRBUF_SIZE bytes
        // libpcap may write; both outlive the call.
        let handle = unsafe { (live.create)(device.as_ptr(), errbuf.as_mut_ptr()) };
        if handle.is_null() {
            // SAFETY: on failure libpcap wrote a NUL-terminated message into `errbuf`
            // (zero-initialised, so it is terminated even if libpcap wrote nothing).
            let msg = unsafe { CStr::from_ptr(errbuf.as_ptr()) };
            return Err(LiveError::Other(msg.to_string_lossy().into_owned()));
        }
        let mut this = LiveHandle {
            handle,
            api,
            live,
            linktype: 0,
        };
        let clamp = |v: u32| c_int::try_from(v).unwrap_or(c_int::MAX);
        // SAFETY: `handle` is a created, not yet activated pcap_t, which is what the
        // pcap_set_* calls require; they only store the integers. Their results are
        // ignored on purpose: each only fails on an activated handle.
        unsafe {
            (live.set_snaplen)(handle, clamp(cfg.snaplen));
            (live.set_promisc)(handle, 0);
            (live.set_timeout)(handle, clamp(cfg.timeout_ms));
            (live.set_buffer_size)(handle, clamp(cfg.buffer_bytes));
            if cfg.immediate {
                (live.set_immediate_mode)(handle, 1);
            }
        }
        // SAFETY: activating the handle created above; on failure it stays valid for
        // pcap_geterr and is closed by `Drop`.
        let rc = unsafe { (live.activate)(handle) };
        if rc < 0 {
            return Err(match rc {
                PCAP_ERROR_PERM_DENIED => LiveError::Permission,
                PCAP_ERROR_NO_SUCH_DEVICE => LiveError::NoSuchDevice,
                _ => LiveError::Other(this.error()),
            });
        }
        if cfg.cooked_v2 {
            // SAFETY: `handle` is activated; pcap_set_datalink takes a plain DLT value
            // and fails harmlessly (keeping the old type) when it is not offered.
            unsafe { (live.set_datalink)(handle, DLT_LINUX_SLL2) };
        }
        // SAFETY: `handle` is activated.
        let dlt = unsafe { (live.datalink)(handle) };
        this.linktype = u16::try_from(dlt).unwrap_or(0);
        if let Some(expr) = cfg.filter {
            this.set_filter(expr)?;
        }
        Ok(this)
    }

    fn set_filter(&mut self, expr: &str) -> Result<(), LiveError> {
        let expr = CString::new(expr)
            .map_err(|_| LiveError::Other("filter contains a NUL byte".to_string()))?;
        let mut program = BpfProgram {
            bf_len: 0,
            bf_insns: std::ptr::null(),
        };
        let rc = {
            // See `compile`: one compile at a time.
            static COMPILING: Mutex<()> = Mutex::new(());
            let _guard = crate::lock(&COMPILING);
            // SAFETY: `self.handle` is activated (pcap_compile then uses its link type
            // and snaplen), `program` is a valid out-parameter and `expr` outlives the call.
            unsafe {
                (self.api.compile)(
                    self.handle,
                    &mut program,
                    expr.as_ptr(),
                    1,
                    PCAP_NETMASK_UNKNOWN,
                )
            }
        };
        if rc != 0 {
            return Err(LiveError::Other(self.error()));
        }
        // SAFETY: `program` was filled by a successful pcap_compile; pcap_setfilter copies
        // it into the kernel and libpcap, so it is freed right after, exactly once.
        let rc = unsafe { (self.live.setfilter)(self.handle, &mut program) };
        // SAFETY: as above, freed once after its last use.
        unsafe { (self.api.freecode)(&mut program) };
        if rc != 0 {
            return Err(LiveError::Other(self.error()));
        }
        Ok(())
    }

    /// The DLT/LINKTYPE of the frames (they agree for the link types Linux delivers).
    pub(super) fn linktype(&self) -> u16 {
        self.linktype
    }

    /// Hands every frame that is ready to `f`, straight from the ring (pcap_next_ex's
    /// one-shot path would copy each frame out, because the ring slot goes back to the
    /// kernel before it returns). Returns how many frames were handed over; 0 when
    /// none was ready (a non-blocking handle) or the timeout passed.
    pub(super) fn dispatch(&mut self, f: &mut dyn FnMut(LiveFrame<'_>)) -> Result<usize, String> {
        struct Ctx<'f, 'g> {
            f: &'f mut (dyn FnMut(LiveFrame<'_>) + 'g),
            panic: Option<Box<dyn std::any::Any + Send>>,
        }
        unsafe extern "C" fn trampoline(user: *mut u8, header: *const PktHeader, data: *const u8) {
            // SAFETY: `user` is the `Ctx` passed to pcap_dispatch below, alive and not
            // otherwise borrowed for the whole call.
            let ctx = unsafe { &mut *user.cast::<Ctx<'_, '_>>() };
            if ctx.panic.is_some() || header.is_null() || data.is_null() {
                return;
            }
            // SAFETY: libpcap points `header` at a filled pcap_pkthdr and `data` at
            // `caplen` bytes of the ring, valid until this callback returns; the frame
            // handed to `f` cannot outlive the call.
            let (h, bytes) = unsafe {
                let h = &*header;
                (h, std::slice::from_raw_parts(data, h.caplen as usize))
            };
            // `c_long` is 32 bits on some targets, 64 here: the conversion is needed
            // elsewhere even if it is the identity on x86_64.
            #[allow(clippy::useless_conversion)]
            let frame = LiveFrame {
                ts_ns: i64::from(h.ts_sec) * 1_000_000_000 + i64::from(h.ts_usec) * 1000,
                orig_len: h.len,
                data: bytes,
            };
            // Unwinding through libpcap's C frames is undefined (Rust aborts instead):
            // catch the panic here and resume it once pcap_dispatch has returned.
            let f = &mut ctx.f;
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(frame))) {
                ctx.panic = Some(p);
            }
        }
        let mut ctx = Ctx { f, panic: None };
        // SAFETY: `self.handle` is activated; `trampoline` matches pcap_handler and
        // `ctx` outlives the call. cnt -1 means "everything ready now".
        let rc = unsafe {
            (self.live.dispatch)(
                self.handle,
                -1,
                trampoline,
                std::ptr::addr_of_mut!(ctx).cast::<u8>(),
            )
        };
        if let Some(p) = ctx.panic {
            std::panic::resume_unwind(p);
        }
        usize::try_from(rc).map_err(|_| self.error())
    }

    /// Makes `dispatch` return at once when no frame is ready (for polling several
    /// handles from one thread).
    pub(super) fn set_nonblocking(&mut self) -> Result<(), String> {
        let mut errbuf = [0 as c_char; 256];
        // SAFETY: `self.handle` is activated and `errbuf` has PCAP_ERRBUF_SIZE bytes.
        let rc = unsafe { (self.live.setnonblock)(self.handle, 1, errbuf.as_mut_ptr()) };
        if rc < 0 {
            // SAFETY: on failure libpcap wrote a NUL-terminated message into `errbuf`.
            let msg = unsafe { CStr::from_ptr(errbuf.as_ptr()) };
            return Err(msg.to_string_lossy().into_owned());
        }
        Ok(())
    }

    /// The descriptor to poll(2) for readiness, `None` when libpcap offers none.
    pub(super) fn selectable_fd(&self) -> Option<std::os::fd::RawFd> {
        // SAFETY: `self.handle` is activated; the call only reads it.
        let fd = unsafe { (self.live.selectable_fd)(self.handle) };
        (fd >= 0).then_some(fd)
    }

    /// (received, dropped by the kernel, dropped by the interface).
    pub(super) fn stats(&mut self) -> Option<(u32, u32, u32)> {
        let mut s = RawStat::default();
        // SAFETY: `self.handle` is activated and `s` is a valid pcap_stat to fill.
        let rc = unsafe { (self.live.stats)(self.handle, &mut s) };
        (rc == 0).then_some((s.ps_recv, s.ps_drop, s.ps_ifdrop))
    }

    fn error(&self) -> String {
        // SAFETY: pcap_geterr returns the handle's NUL-terminated error buffer, valid
        // until the handle is closed; it is copied out at once.
        let msg = unsafe { CStr::from_ptr((self.api.geterr)(self.handle)) };
        msg.to_string_lossy().into_owned()
    }
}

/// Waits until one of `handles` has frames ready, or `timeout_ms` passed.
pub(super) fn wait_any(handles: &[&LiveHandle], timeout_ms: u16) -> Result<(), String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::BorrowedFd;
    let mut fds: Vec<PollFd<'_>> = handles
        .iter()
        .filter_map(|h| h.selectable_fd())
        // SAFETY: the descriptor belongs to a handle borrowed for this whole call, so it
        // stays open while `fds` lives.
        .map(|fd| PollFd::new(unsafe { BorrowedFd::borrow_raw(fd) }, PollFlags::POLLIN))
        .collect();
    match poll(&mut fds, PollTimeout::from(timeout_ms)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(e.desc().to_string()),
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        // SAFETY: `handle` came from pcap_create and is closed exactly once, here.
        unsafe { (self.api.close)(self.handle) };
    }
}
