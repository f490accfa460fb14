//! Small UDP datagrams at a fixed rate, for bench/top.sh's FLOOD mode.
//!
//!   udpflood send ADDR:PORT LEN PPS SECS   prints "SENT datagrams BYTES bytes SECS s"
//!   udpflood sink PORT SECS                 binds the port and never reads
//!
//! iperf3 writes one datagram per sendto(2), which on this 2-core VM tops out near
//! 4x the packet rate of the 400 Mbit/s TCP run; sendmmsg(2) in batches of 32 lets
//! the sender reach 8x, so the monitors, not the sender, decide the figure. The sink
//! keeps the datagrams from drawing ICMP port-unreachables (which would add frames);
//! the kernel drops them at its full receive buffer, which costs less than reading.
//! Built by bench/top.sh with plain rustc (std only, no crates).
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

// struct iovec, struct msghdr and struct mmsghdr of Linux's UAPI (x86_64 and aarch64).
#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}
#[repr(C)]
struct MsgHdr {
    name: *mut u8,
    namelen: u32,
    iov: *mut IoVec,
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
}
#[repr(C)]
struct MMsgHdr {
    hdr: MsgHdr,
    len: u32,
}
extern "C" {
    fn sendmmsg(fd: i32, msgvec: *mut MMsgHdr, vlen: u32, flags: i32) -> i32;
}

const BATCH: usize = 32;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    match args.get(i).map(|s| s.parse()) {
        Some(Ok(v)) => v,
        _ => {
            eprintln!("udpflood: bad or missing {what}");
            std::process::exit(2)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sink") => {
            let port: u16 = arg(&args, 2, "PORT");
            let secs: f64 = arg(&args, 3, "SECS");
            let _socket = UdpSocket::bind(("0.0.0.0", port)).expect("udpflood: bind");
            std::thread::sleep(Duration::from_secs_f64(secs));
        }
        Some("send") => send(&args),
        _ => {
            eprintln!("usage: udpflood send ADDR:PORT LEN PPS SECS | udpflood sink PORT SECS");
            std::process::exit(2)
        }
    }
}

fn send(args: &[String]) {
    let to: String = arg(args, 2, "ADDR:PORT");
    let len: usize = arg(args, 3, "LEN");
    let pps: f64 = arg(args, 4, "PPS");
    let secs: f64 = arg(args, 5, "SECS");
    let socket = UdpSocket::bind("0.0.0.0:0").expect("udpflood: bind");
    socket.connect(&to).expect("udpflood: connect");
    let mut payload = vec![0x5a_u8; len];
    let mut iovs: Vec<IoVec> = (0..BATCH)
        .map(|_| IoVec {
            base: payload.as_mut_ptr(),
            len,
        })
        .collect();
    let mut msgs: Vec<MMsgHdr> = iovs
        .iter_mut()
        .map(|iov| MMsgHdr {
            hdr: MsgHdr {
                name: std::ptr::null_mut(),
                namelen: 0,
                iov,
                iovlen: 1,
                control: std::ptr::null_mut(),
                controllen: 0,
                flags: 0,
            },
            len: 0,
        })
        .collect();
    let start = Instant::now();
    let stop = Duration::from_secs_f64(secs);
    let mut sent = 0_u64;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= stop {
            break;
        }
        // Paced: never ahead of the rate, a batch at a time when behind.
        if sent as f64 >= elapsed.as_secs_f64() * pps {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        }
        // SAFETY: msgs points at BATCH valid headers whose iovecs point into payload,
        // which outlives the call; the kernel only reads them.
        let n = unsafe { sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
        if n > 0 {
            sent += n as u64;
        }
    }
    println!(
        "{sent} datagrams {} bytes {:.3} s",
        sent * len as u64,
        start.elapsed().as_secs_f64()
    );
}
