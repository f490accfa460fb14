//! `netkit top --write PATH`: a ring of the frames captured recently, written out as
//! pcapng when the user asks (key `w`, SIGUSR1, or at the end of a `--json` run), so a
//! spike seen on the screen can be opened in Wireshark afterwards.
//!
//! The ring is bounded by bytes and shared by every capture thread: it is a pool of
//! fixed-size chunks ([`CHUNK_BYTES`]). Each capture thread appends frames (as
//! captured: snap length bytes, original length, timestamp, link type) to a chunk of
//! its own; a full chunk joins the pool's queue and the thread takes a free chunk, or
//! once the budget is used up, the oldest full chunk. So the hot path is one
//! uncontended lock and one copy into memory allocated beforehand (a chunk is
//! allocated once, the first time the budget grows, and reused ever after): no
//! allocation per frame. A busy namespace takes most of the budget, an idle one none.
//!
//! A dump holds full chunks by reference (an `Arc`) and copies only the partly filled
//! ones, so capture threads wait for nothing but that short copy; a chunk pinned by a
//! dump in progress is not reused (a fresh one stands in), so frames the dump is
//! writing are never overwritten under it.

use super::pcapng_writer::PcapngWriter;
use crate::lock;
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Size of one chunk of the ring.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// Default `--write-ring-mb`.
pub const DEFAULT_RING_MB: u32 = 64;
/// ts_ns (8), orig_len (4), caplen (4), linktype (2), padding (2).
const RECORD_HEADER: usize = 20;
use netkit_dissectors::link::linktype::LINUX_SLL2 as LINKTYPE_LINUX_SLL2;

/// One record: (ts_ns, orig_len, linktype, data).
type Record<'a> = (i64, u32, u16, &'a [u8]);

/// Frames of one namespace, in capture order.
struct Chunk {
    netns: u32,
    buf: Vec<u8>,
}

impl Chunk {
    /// The record at byte `at`: (ts_ns, orig_len, linktype, data), and where the next
    /// one starts.
    fn record_at(&self, at: usize) -> Option<(Record<'_>, usize)> {
        let head = self.buf.get(at..at + RECORD_HEADER)?;
        let ts = i64::from_le_bytes(head[0..8].try_into().ok()?);
        let orig = u32::from_le_bytes(head[8..12].try_into().ok()?);
        let cap = u32::from_le_bytes(head[12..16].try_into().ok()?) as usize;
        let link = u16::from_le_bytes(head[16..18].try_into().ok()?);
        let end = at + RECORD_HEADER + cap;
        let data = self.buf.get(at + RECORD_HEADER..end)?;
        Some(((ts, orig, link, data), end))
    }

    /// (byte offset, ts_ns) of every record.
    fn stamps(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let ((ts, ..), next) = self.record_at(at)?;
            let here = at;
            at = next;
            Some((here, ts))
        })
    }
}

struct Pool {
    /// Full chunks, oldest first.
    full: VecDeque<Arc<Chunk>>,
    /// Chunk buffers allocated so far (the budget counts them all, wherever they are).
    allocated: usize,
    /// The current chunk of every writer, for dumps.
    writers: Vec<Arc<Mutex<Chunk>>>,
}

/// The frame ring, shared by the capture threads (through [`RingWriter`]s) and the
/// thread that dumps it.
pub struct Ring {
    pool: Mutex<Pool>,
    max_chunks: usize,
    /// Snap length the frames were captured with, for the pcapng interfaces.
    snaplen: u32,
}

/// What a dump wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpSummary {
    pub path: PathBuf,
    pub frames: u64,
    /// Size of the file written.
    pub file_bytes: u64,
    /// From the oldest frame written to the time of the dump, in seconds.
    pub span_s: f64,
}

impl std::fmt::Display for DumpSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {} frames ({:.1} MB, last {:.0} s) to {}",
            self.frames,
            self.file_bytes as f64 / 1e6,
            self.span_s,
            self.path.display()
        )
    }
}

impl Ring {
    /// A ring of at most `bytes` of frame records (at least one chunk per capture
    /// thread, which may exceed a tiny budget).
    pub fn new(bytes: u64, snaplen: u32) -> Arc<Ring> {
        let max_chunks = usize::try_from(bytes / CHUNK_BYTES as u64)
            .unwrap_or(usize::MAX)
            .max(1);
        Arc::new(Ring {
            pool: Mutex::new(Pool {
                full: VecDeque::new(),
                allocated: 0,
                writers: Vec::new(),
            }),
            max_chunks,
            snaplen,
        })
    }

    /// A writer for the capture thread of namespace `netns` (index into the engine's
    /// namespace list).
    pub fn writer(self: &Arc<Ring>, netns: u32) -> RingWriter {
        let current = Arc::new(Mutex::new(Chunk {
            netns,
            buf: Vec::new(),
        }));
        lock(&self.pool).writers.push(current.clone());
        RingWriter {
            ring: self.clone(),
            current,
        }
    }

    /// An empty buffer of [`CHUNK_BYTES`] capacity: a new one while the budget allows,
    /// else the oldest full chunk's (unless a dump holds it).
    fn fresh_buffer(&self) -> Vec<u8> {
        let mut pool = lock(&self.pool);
        if pool.allocated < self.max_chunks {
            pool.allocated += 1;
            drop(pool);
            return Vec::with_capacity(CHUNK_BYTES);
        }
        match pool.full.pop_front().map(Arc::try_unwrap) {
            Some(Ok(mut chunk)) => {
                chunk.buf.clear();
                chunk.buf
            }
            // Pinned by a dump (the dump frees it when done), or no full chunk at all
            // because every chunk is some writer's current one: a new buffer stands in.
            _ => Vec::with_capacity(CHUNK_BYTES),
        }
    }

    fn retire(&self, chunk: Chunk) {
        if !chunk.buf.is_empty() {
            lock(&self.pool).full.push_back(Arc::new(chunk));
        }
    }

    /// Bytes of frame records held (full chunks and writers' current ones).
    pub fn held_bytes(&self) -> u64 {
        let pool = lock(&self.pool);
        let full: usize = pool.full.iter().map(|c| c.buf.len()).sum();
        let current: usize = pool.writers.iter().map(|w| lock(w).buf.len()).sum();
        (full + current) as u64
    }

    /// Writes the frames held (those newer than `last_s` seconds before `now_unix_ns`
    /// when given) to `path`, or to `path` with a numeric suffix when it exists
    /// (`spike.pcapng`, `spike-1.pcapng`, ...): a second dump never overwrites the
    /// first. `interface_name(netns, ifindex)` names the pcapng interfaces
    /// (`namespace/interface`). Frames are written in timestamp order.
    pub fn dump(
        &self,
        path: &Path,
        last_s: Option<f64>,
        now_unix_ns: i64,
        interface_name: &mut dyn FnMut(u32, Option<u32>) -> String,
    ) -> io::Result<DumpSummary> {
        let chunks: Vec<Arc<Chunk>> = {
            let mut pool = lock(&self.pool);
            pool.writers.retain(|w| Arc::strong_count(w) > 1);
            let mut chunks: Vec<Arc<Chunk>> = pool.full.iter().cloned().collect();
            for w in &pool.writers {
                let w = lock(w);
                if !w.buf.is_empty() {
                    chunks.push(Arc::new(Chunk {
                        netns: w.netns,
                        buf: w.buf.clone(),
                    }));
                }
            }
            chunks
        };
        let cutoff = last_s.map_or(i64::MIN, |s| now_unix_ns - (s * 1e9) as i64);
        // (ts, chunk, byte offset): sorting merges the namespaces' streams.
        let mut order: Vec<(i64, u32, u32)> = Vec::new();
        for (ci, chunk) in chunks.iter().enumerate() {
            for (at, ts) in chunk.stamps() {
                if ts >= cutoff {
                    order.push((ts, ci as u32, at as u32));
                }
            }
        }
        order.sort_unstable();
        let (file, path) = create_unique(path)?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let mut w = PcapngWriter::with_application(out, Some("netkit top --write"))?;
        let mut interfaces: HashMap<(u32, u16, Option<u32>), u32> = HashMap::new();
        let oldest = order.first().map(|o| o.0);
        for (_, ci, at) in &order {
            let chunk = &chunks[*ci as usize];
            let Some(((ts, orig, link, data), _)) = chunk.record_at(*at as usize) else {
                continue;
            };
            let ifindex = (link == LINKTYPE_LINUX_SLL2)
                .then(|| data.get(4..8))
                .flatten()
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let key = (chunk.netns, link, ifindex);
            let iface = match interfaces.get(&key) {
                Some(i) => *i,
                None => {
                    let name = interface_name(chunk.netns, ifindex);
                    let id = w.add_interface(link, Some(&name), self.snaplen)?;
                    interfaces.insert(key, id);
                    id
                }
            };
            w.write_packet(iface, ts, orig, data)?;
        }
        let file = w.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let file_bytes = file.metadata()?.len();
        Ok(DumpSummary {
            path,
            frames: order.len() as u64,
            file_bytes,
            span_s: oldest.map_or(0.0, |t| (now_unix_ns - t).max(0) as f64 / 1e9),
        })
    }
}

/// Creates `path`, or `stem-N.ext` for the first N that does not exist yet.
fn create_unique(path: &Path) -> io::Result<(File, PathBuf)> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
    for n in 0..100_000u32 {
        let candidate = if n == 0 {
            path.to_path_buf()
        } else {
            let name = match &ext {
                Some(e) => format!("{stem}-{n}.{e}"),
                None => format!("{stem}-{n}"),
            };
            path.with_file_name(name)
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(f) => return Ok((f, candidate)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create {}: {e}", candidate.display()),
                ))
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{} and 99,999 numbered variants exist", path.display()),
    ))
}

/// One capture thread's end of the ring.
pub struct RingWriter {
    ring: Arc<Ring>,
    current: Arc<Mutex<Chunk>>,
}

impl RingWriter {
    /// Keeps a copy of one frame. Frames longer than a chunk keep their first bytes
    /// (the original length says how long they were).
    #[inline]
    pub fn push(&self, ts_ns: i64, orig_len: u32, linktype: u16, data: &[u8]) {
        let data = &data[..data.len().min(CHUNK_BYTES - RECORD_HEADER)];
        let need = RECORD_HEADER + data.len();
        let mut c = lock(&self.current);
        if c.buf.capacity() - c.buf.len() < need {
            let buf = std::mem::take(&mut c.buf);
            let netns = c.netns;
            // The pool's lock is taken without holding ours for longer than needed:
            // dumps lock the pool first, then each writer.
            drop(c);
            self.ring.retire(Chunk { netns, buf });
            let fresh = self.ring.fresh_buffer();
            c = lock(&self.current);
            c.buf = fresh;
        }
        let mut head = [0u8; RECORD_HEADER];
        head[0..8].copy_from_slice(&ts_ns.to_le_bytes());
        head[8..12].copy_from_slice(&orig_len.to_le_bytes());
        head[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        head[16..18].copy_from_slice(&linktype.to_le_bytes());
        c.buf.extend_from_slice(&head);
        c.buf.extend_from_slice(data);
    }
}

impl Drop for RingWriter {
    /// A capture that ends (its namespace was deleted) leaves its last frames in the
    /// ring: they are what the user wants to look at.
    fn drop(&mut self) {
        let mut c = lock(&self.current);
        let buf = std::mem::take(&mut c.buf);
        let netns = c.netns;
        drop(c);
        self.ring.retire(Chunk { netns, buf });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureFile;

    /// An SLL2 frame on interface `ifindex` whose payload bytes are all `fill`.
    fn sll2(ifindex: u32, fill: u8, len: usize) -> Vec<u8> {
        let mut f = vec![0x08, 0x00, 0, 0];
        f.extend_from_slice(&ifindex.to_be_bytes());
        f.extend_from_slice(&[0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.resize(len, fill);
        f
    }

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nk-ring-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const T0: i64 = 1_700_000_000_000_000_000;

    #[test]
    fn dump_merges_namespaces_in_time_order_and_names_interfaces() {
        let ring = Ring::new(4 << 20, 512);
        let red = ring.writer(0);
        let blue = ring.writer(1);
        red.push(T0, 1514, 276, &sll2(3, 0xaa, 100));
        blue.push(T0 + 5, 60, 276, &sll2(7, 0xbb, 60));
        red.push(T0 + 10, 1514, 276, &sll2(3, 0xcc, 100));
        let dir = tmp("order");
        let path = dir.join("spike.pcapng");
        let names = ["red", "blue"];
        let mut namer =
            |ns: u32, ifx: Option<u32>| format!("{}/if{}", names[ns as usize], ifx.unwrap());
        let s = ring
            .dump(&path, None, T0 + 2_000_000_000, &mut namer)
            .unwrap();
        assert_eq!((s.frames, s.path.clone()), (3, path.clone()));
        assert!((s.span_s - 2.0).abs() < 1e-6);
        assert_eq!(s.file_bytes, std::fs::metadata(&path).unwrap().len());
        let mut f = CaptureFile::open(&path).unwrap();
        let mut seen = Vec::new();
        while let Some(fr) = f.next_frame() {
            seen.push((fr.ts_ns - T0, fr.orig_len, fr.interface, fr.data[30]));
        }
        assert!(f.warnings().is_empty());
        assert_eq!(
            seen,
            vec![(0, 1514, 0, 0xaa), (5, 60, 1, 0xbb), (10, 1514, 0, 0xcc)]
        );
        assert_eq!(
            f.interface_names(),
            vec![Some("red/if3".to_string()), Some("blue/if7".to_string())]
        );
        assert_eq!(f.linktypes(), vec![276, 276]);
        // A second dump does not overwrite the first; a time bound keeps the newest.
        let s2 = ring
            .dump(&path, Some(1.5), T0 + 1_500_000_004, &mut namer)
            .unwrap();
        assert_eq!(s2.path, dir.join("spike-1.pcapng"));
        assert_eq!(s2.frames, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ring_is_bounded_and_keeps_the_newest_frames() {
        // Two chunks of budget, 1000-byte frames: about 260 fit per chunk.
        let ring = Ring::new(2 * CHUNK_BYTES as u64, 512);
        let w = ring.writer(0);
        let total = 5_000u32;
        for i in 0..total {
            let mut f = sll2(1, 0, 1000);
            f[20..24].copy_from_slice(&i.to_be_bytes());
            w.push(T0 + i64::from(i), 1000, 276, &f);
        }
        assert!(ring.held_bytes() <= 2 * CHUNK_BYTES as u64);
        assert!(lock(&ring.pool).allocated <= 2);
        let dir = tmp("bound");
        let path = dir.join("x.pcapng");
        let s = ring
            .dump(&path, None, T0, &mut |_, _| "a/b".into())
            .unwrap();
        let mut f = CaptureFile::open(&path).unwrap();
        let mut ids = Vec::new();
        while let Some(fr) = f.next_frame() {
            ids.push(u32::from_be_bytes(fr.data[20..24].try_into().unwrap()));
        }
        assert_eq!(ids.len() as u64, s.frames);
        assert!(s.frames > 260 && s.frames < 530, "{}", s.frames);
        // The newest frames, consecutive, ending with the last one pushed.
        assert_eq!(*ids.last().unwrap(), total - 1);
        assert!(ids.windows(2).all(|p| p[1] == p[0] + 1));
        // A writer that goes away (its capture ended) leaves its frames behind.
        drop(w);
        let s2 = ring
            .dump(&path, None, T0, &mut |_, _| "a/b".into())
            .unwrap();
        assert_eq!(s2.frames, s.frames);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn oversized_frames_are_cut_to_a_chunk() {
        let ring = Ring::new(2 * CHUNK_BYTES as u64, 0);
        let w = ring.writer(0);
        w.push(T0, 400_000, 1, &vec![7u8; 300_000]);
        w.push(T0 + 1, 60, 1, &[1u8; 60]);
        let dir = tmp("big");
        let s = ring
            .dump(&dir.join("b"), None, T0, &mut |_, _| "x".into())
            .unwrap();
        assert_eq!(s.frames, 2);
        let mut f = CaptureFile::open(&s.path).unwrap();
        let fr = f.next_frame().unwrap();
        assert_eq!(
            (fr.orig_len, fr.data.len()),
            (400_000, CHUNK_BYTES - RECORD_HEADER)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
