//! Where the bytes come from: the whole file in memory (mapped or owned), or a stream
//! read into one buffer just far enough for the record being parsed.
//!
//! One thread streams files: with a 1 MiB buffer, read(2) beat mmap by 20-30% on a
//! hot 0.7 GB capture on an AMD EPYC VM (page-table setup for every 4 KiB page cost
//! more than copying it once; on the Intel Xeon VM of 2026-12-06 mapping won by 26%),
//! needs no `unsafe` and cannot fault if the file shrinks while it is read. Frames
//! borrow from the buffer either way, no copy per frame. `pcap analyze` on two threads
//! maps the file ([`Source::shared`]): the worker then reads frames where they lie,
//! where a stream would have to copy each frame once more for it.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use memmap2::Mmap;
use netkit_cmds::source::SharedBytes;

/// Start size of the stream buffer; it grows only for records larger than this.
const STREAM_BUF: usize = 1 << 20;
/// A mapped file's pages are let go in steps of this many bytes (a multiple of any
/// page size), so that few madvise(2) calls keep the resident set small.
const RELEASE_STEP: usize = 2 << 20;

enum Inner {
    /// Shared: the threads of `pcap analyze --jobs 2` read frames where they lie.
    Mapped(Arc<Mmap>),
    Owned(Vec<u8>),
    Stream {
        reader: Box<dyn Read + Send>,
        buf: Vec<u8>,
        end: usize,
        eof: bool,
    },
}

/// A cursor over the input. `pos` indexes `buf()`; `base` is the file offset of `buf()[0]`
/// (always 0 except for streams, whose buffer is compacted as reading goes on).
pub(super) struct Source {
    inner: Inner,
    pos: usize,
    base: u64,
    /// The mapped bytes before this have been let go ([`Source::release_before`]).
    released: usize,
}

impl Source {
    /// Maps a regular file; anything else (FIFOs, devices) is streamed.
    pub(super) fn from_file_mapped(file: File) -> io::Result<Source> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            // FIFOs, character devices, /dev/stdin: cannot be mapped, stream them.
            return Ok(Source::from_reader(Box::new(file)));
        }
        if meta.len() == 0 {
            // Mapping an empty file fails on Linux; there is nothing to map anyway.
            return Ok(Source::from_vec(Vec::new()));
        }
        match super::mapped::map(&file) {
            Ok(map) => Ok(Source::new(Inner::Mapped(Arc::new(map)))),
            Err(_) => Ok(Source::from_reader(Box::new(file))),
        }
    }

    pub(super) fn from_vec(data: Vec<u8>) -> Source {
        Source::new(Inner::Owned(data))
    }

    pub(super) fn from_reader(reader: Box<dyn Read + Send>) -> Source {
        Source::from_reader_sized(reader, STREAM_BUF)
    }

    /// A stream source whose buffer starts at `size` bytes (tests use tiny ones).
    pub(super) fn from_reader_sized(reader: Box<dyn Read + Send>, size: usize) -> Source {
        Source::new(Inner::Stream {
            reader,
            buf: vec![0; size.max(1)],
            end: 0,
            eof: false,
        })
    }

    fn new(inner: Inner) -> Source {
        Source {
            inner,
            pos: 0,
            base: 0,
            released: 0,
        }
    }

    /// Everything currently addressable; record ranges index into this.
    pub(super) fn buf(&self) -> &[u8] {
        match &self.inner {
            Inner::Mapped(m) => m.as_ref(),
            Inner::Owned(v) => v,
            Inner::Stream { buf, end, .. } => buf.get(..*end).unwrap_or_default(),
        }
    }

    /// The mapped file, which every frame read from this source lies in.
    pub(super) fn shared(&self) -> Option<SharedBytes> {
        match &self.inner {
            Inner::Mapped(m) => Some(Arc::clone(m) as SharedBytes),
            Inner::Owned(_) | Inner::Stream { .. } => None,
        }
    }

    /// Lets go of the mapped pages wholly before `end`, in steps of [`RELEASE_STEP`]:
    /// every thread is done with the frames there. Without it, a run on two threads
    /// kept every page of the file it had read resident: a peak RSS of 705 MB for a
    /// 714 MB capture, 17 MB with it (8 MB read by one thread, 13 MB by two threads
    /// copying it).
    pub(super) fn release_before(&mut self, end: usize) {
        if let Inner::Mapped(m) = &self.inner {
            let to = end.min(m.len()) / RELEASE_STEP * RELEASE_STEP;
            if to > self.released {
                super::mapped::release(m, self.released, to);
                self.released = to;
            }
        }
    }

    /// Buffer index of the cursor.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// File offset of the cursor.
    pub(super) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The bytes from the cursor on that are available now.
    pub(super) fn window(&self) -> &[u8] {
        self.buf().get(self.pos..).unwrap_or_default()
    }

    /// Makes at least `n` bytes available from the cursor, or all that is left when the
    /// input ends first; returns how many are available. May move the stream buffer, so
    /// no earlier slice of `buf()` may be held across it (the borrow checker sees to it).
    pub(super) fn fill(&mut self, n: usize) -> io::Result<usize> {
        let pos = self.pos;
        let Inner::Stream {
            reader,
            buf,
            end,
            eof,
        } = &mut self.inner
        else {
            return Ok(self.window().len());
        };
        if *end - pos >= n || *eof {
            return Ok(*end - pos);
        }
        if pos + n > buf.len() && pos > 0 {
            buf.copy_within(pos..*end, 0);
            *end -= pos;
            self.base += pos as u64;
            self.pos = 0;
        }
        let pos = self.pos;
        while *end - pos < n {
            if *end == buf.len() {
                // Grow only as data actually arrives, so a damaged length field cannot
                // make us allocate far more than the input holds.
                let grown = (buf.len() * 2).min(pos + n).max(buf.len() + 1);
                buf.resize(grown, 0);
            }
            let Some(space) = buf.get_mut(*end..) else {
                break;
            };
            match reader.read(space) {
                Ok(0) => {
                    *eof = true;
                    break;
                }
                Ok(got) => *end += got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(*end - pos)
    }

    /// Moves the cursor `n` bytes on; callers only advance over bytes `fill` provided.
    pub(super) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf().len());
    }
}
