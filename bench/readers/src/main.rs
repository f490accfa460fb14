//! Reads one capture with several readers and prints frames/s and GB/s for each, best of
//! N rounds with a hot page cache:
//!   cargo run --release --manifest-path bench/readers/Cargo.toml -- FILE [ROUNDS]
//! Every reader visits every frame and touches its bytes (a checksum of first and last
//! byte), so none can skip work; the frame counts and checksums must agree.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use netkit_os::capture::CaptureFile;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Tally {
    frames: u64,
    bytes: u64,
    check: u64,
}

impl Tally {
    fn add(&mut self, data: &[u8]) {
        self.frames += 1;
        self.bytes += data.len() as u64;
        let first = data.first().copied().unwrap_or(0) as u64;
        let last = data.last().copied().unwrap_or(0) as u64;
        self.check = self
            .check
            .wrapping_mul(31)
            .wrapping_add(first ^ (last << 8));
    }
}

fn netkit_read(path: &Path) -> Tally {
    let mut file = CaptureFile::open(path).expect("netkit open");
    drain(&mut file)
}

fn netkit_mmap(path: &Path) -> Tally {
    let mut file = CaptureFile::open_mapped(path).expect("netkit open");
    drain(&mut file)
}

fn netkit_bpf(path: &Path) -> Tally {
    let mut file = CaptureFile::open(path).expect("netkit open");
    file.set_filter("tcp[13] & 4 != 0 or tcp[13] & 2 != 0")
        .expect("filter (needs libpcap)");
    drain(&mut file)
}

fn drain(file: &mut CaptureFile) -> Tally {
    let mut t = Tally {
        frames: 0,
        bytes: 0,
        check: 0,
    };
    while let Some(f) = file.next_frame() {
        t.add(f.data);
    }
    assert!(file.warnings().is_empty(), "{:?}", file.warnings());
    t
}

fn pcap_file_crate(path: &Path) -> Tally {
    let file = BufReader::with_capacity(1 << 20, File::open(path).expect("open"));
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("pcap-file open");
    let mut t = Tally {
        frames: 0,
        bytes: 0,
        check: 0,
    };
    while let Some(p) = reader.next_packet() {
        t.add(&p.expect("pcap-file packet").data);
    }
    t
}

mod libpcap {
    //! libpcap's own pcap_next_ex loop, loaded at run time like netkit does.
    use std::ffi::{c_char, c_int, CString};

    use super::Tally;

    #[repr(C)]
    struct PktHdr {
        ts_sec: i64,
        ts_usec: i64,
        caplen: u32,
        len: u32,
    }

    type OpenOffline = unsafe extern "C" fn(*const c_char, *mut c_char) -> *mut u8;
    type NextEx = unsafe extern "C" fn(*mut u8, *mut *const PktHdr, *mut *const u8) -> c_int;
    type Close = unsafe extern "C" fn(*mut u8);

    pub fn run(path: &std::path::Path) -> Option<Tally> {
        // SAFETY: loading libpcap only runs its initialisers; the prototypes below match
        // <pcap/pcap.h>, and `lib` outlives every call through them.
        unsafe {
            let lib = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"]
                .iter()
                .find_map(|n| libloading::Library::new(*n).ok())?;
            let open: libloading::Symbol<OpenOffline> = lib.get(b"pcap_open_offline\0").ok()?;
            let next: libloading::Symbol<NextEx> = lib.get(b"pcap_next_ex\0").ok()?;
            let close: libloading::Symbol<Close> = lib.get(b"pcap_close\0").ok()?;
            let name = CString::new(path.to_str()?).ok()?;
            let mut err = [0 as c_char; 512];
            let p = open(name.as_ptr(), err.as_mut_ptr());
            if p.is_null() {
                return None;
            }
            let mut t = Tally {
                frames: 0,
                bytes: 0,
                check: 0,
            };
            let mut hdr: *const PktHdr = std::ptr::null();
            let mut data: *const u8 = std::ptr::null();
            // pcap_next_ex returns 1 per packet and -2 at the end of the file; the header
            // and data stay valid until the next call.
            while next(p, &mut hdr, &mut data) == 1 {
                let caplen = (*hdr).caplen as usize;
                t.add(std::slice::from_raw_parts(data, caplen));
            }
            close(p);
            Some(t)
        }
    }
}

fn best(rounds: usize, mut f: impl FnMut() -> Option<Tally>) -> Option<(Duration, Tally)> {
    let mut best: Option<(Duration, Tally)> = None;
    for _ in 0..rounds {
        let start = Instant::now();
        let t = f()?;
        let took = start.elapsed();
        if best.is_none_or(|(d, _)| took < d) {
            best = Some((took, t));
        }
    }
    best
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: netkit-bench-readers FILE [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let path = Path::new(&path);
    let size = std::fs::metadata(path).expect("stat").len();
    // Warm the page cache so every reader sees the same hot file.
    std::io::copy(&mut File::open(path).expect("open"), &mut std::io::sink()).expect("read");

    println!(
        "{} ({:.3} GB), best of {rounds}",
        path.display(),
        size as f64 / 1e9
    );
    println!(
        "{:<28} {:>10} {:>9} {:>12} {:>7}",
        "reader", "frames", "seconds", "frames/s", "GB/s"
    );
    let readers: [(&str, &dyn Fn() -> Option<Tally>); 5] = [
        ("netkit open (read 1 MiB)", &|| Some(netkit_read(path))),
        ("netkit open_mapped (mmap)", &|| Some(netkit_mmap(path))),
        ("netkit open + BPF filter", &|| Some(netkit_bpf(path))),
        ("pcap-file 2 (BufReader)", &|| Some(pcap_file_crate(path))),
        ("libpcap pcap_next_ex", &|| libpcap::run(path)),
    ];
    let mut reference: Option<Tally> = None;
    for (name, f) in readers {
        let Some((took, t)) = best(rounds, f) else {
            println!("{name:<28} (not available)");
            continue;
        };
        let secs = took.as_secs_f64();
        let filtered = name.contains("BPF");
        println!(
            "{name:<28} {:>10} {:>9.3} {:>12.0} {:>7.2}{}",
            t.frames,
            secs,
            if filtered {
                reference.map_or(0, |r| r.frames)
            } else {
                t.frames
            } as f64
                / secs,
            size as f64 / 1e9 / secs,
            if filtered {
                "  (frames: matches; frames/s: all frames read)"
            } else {
                ""
            }
        );
        if !filtered {
            match reference {
                None => reference = Some(t),
                Some(r) => assert_eq!(r, t, "{name} disagrees with netkit open"),
            }
        }
    }
}
