//! What the engines read frames from: one captured frame ([`RawFrame`]) and the
//! [`FrameSource`] seam that hands them out, whatever the frames come from (a capture
//! file today, live kernel rings for `watch`). The sources themselves live in
//! `netkit-os`; the engines only ever see this trait, so they run on a file, on a ring
//! or on frames built by a test alike.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A whole input held in memory and shared between threads: a memory-mapped capture
/// file ([`FrameSource::shared_bytes`]).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// One captured frame, borrowed from its source until the source's next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFrame<'a> {
    /// 1-based record number in the file; counts every packet record, including the
    /// ones a filter skipped, so numbers match Wireshark's `frame.number`.
    pub number: u64,
    /// Nanoseconds since the Unix epoch. pcapng simple packet blocks carry no time
    /// stamp and inherit the previous frame's.
    pub ts_ns: i64,
    /// Length of the frame on the wire (may exceed `data.len()` when snapped).
    pub orig_len: u32,
    /// LINKTYPE_* value of the interface this frame was captured on.
    pub linktype: u16,
    /// Interface index, counted across all pcapng sections of the file (always 0 for pcap).
    pub interface: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// The container format of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pcap,
    Pcapng,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
        })
    }
}

/// Damage found while reading: either reading stopped there, or a record was skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadWarning {
    /// Number the damaged record has (or would have had).
    pub frame: u64,
    /// Byte offset of the damaged record or block in the file.
    pub offset: u64,
    /// Whole sentence, e.g. "stopped at frame 7, byte offset 1234: truncated record ...".
    pub message: String,
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A source of captured frames, read once, in order.
pub trait FrameSource {
    /// The next frame, or `None` at the end (or at damage that stops reading, which
    /// [`FrameSource::warnings`] then names).
    fn next_frame(&mut self) -> Option<RawFrame<'_>>;

    /// The next frame whether or not a filter keeps it, and whether it does. Frame
    /// numbers already count every record; an engine reading this way can also number
    /// TCP streams and time frames over the whole file, as Wireshark does under a
    /// display filter, while reporting only the frames kept. Default: no filter.
    fn next_frame_any(&mut self) -> Option<(RawFrame<'_>, bool)> {
        self.next_frame().map(|f| (f, true))
    }

    /// Bytes of input consumed so far (for progress; 0 when it has no meaning).
    fn bytes_read(&self) -> u64 {
        0
    }

    /// Damage met so far: reading stopped there, or records were skipped.
    fn warnings(&self) -> &[ReadWarning] {
        &[]
    }

    /// LINKTYPE_* of every interface met so far (a pcapng file may add some late).
    fn linktypes(&self) -> Vec<u16> {
        Vec::new()
    }

    /// TLS key log text embedded in the source (pcapng Decryption Secrets Blocks)
    /// since the last call.
    fn take_tls_secrets(&mut self) -> Option<String> {
        None
    }

    /// The whole input, when the frames handed out are slices of memory that stays
    /// put for the source's life (a memory-mapped file): another thread can then read
    /// a frame where it lies instead of from a copy.
    fn shared_bytes(&self) -> Option<SharedBytes> {
        None
    }

    /// Every frame lying before byte `end` of [`FrameSource::shared_bytes`] has been
    /// read by every thread that will read it: the memory holding them may be let go
    /// (a mapped file's pages leave the process's resident set, the file staying in
    /// the page cache).
    fn release_shared(&mut self, _end: usize) {}
}

/// The frame a member of a [`MergedSource`] has read but not yet handed out: copied,
/// because its reader's buffer moves on when the next member is read.
struct Head {
    ts_ns: i64,
    orig_len: u32,
    linktype: u16,
    interface: u32,
    passed: bool,
    data: Vec<u8>,
}

/// Several captures read as one, frames interleaved by time stamp as `mergecap` does:
/// one reader per member and a heap of their next frames, so memory is one frame per
/// member whatever the sizes. Equal time stamps go to the member listed first (a
/// rotated set is listed in its time order, so a frame split across a rotation keeps
/// its place). Frames are renumbered 1.. in merged order (as in mergecap's output),
/// and so are interfaces, as mergecap lists them when the members' interface tables
/// differ: the first member's interfaces first, then the second's, and so on, so
/// every frame keeps its own interface (its link type, its name) and two members'
/// interface 0 stay two interfaces. An interface a member describes only after its
/// first frame takes the next number free when its first frame comes.
pub struct MergedSource<S> {
    members: Vec<S>,
    names: Vec<String>,
    heads: Vec<Option<Head>>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(i64, usize)>>,
    /// The member whose head was handed out last: read on at the next call, once the
    /// borrow of its head has ended.
    handed_out: Option<usize>,
    started: bool,
    number: u64,
    /// Members' damage, each named by its file, gathered as each member ends.
    warnings: Vec<ReadWarning>,
    /// Per member, the merged number of each of its interfaces (by its own number),
    /// filled as they are met.
    interfaces: Vec<Vec<Option<u32>>>,
    /// Per member, the merged number of its interface 0, and how many interfaces it
    /// had described before its first frame (numbered from there in a block).
    blocks: Vec<(u32, u32)>,
    /// The next merged interface number not given out.
    next_interface: u32,
}

impl<S: FrameSource> MergedSource<S> {
    /// `members` with their names (used in warnings), in the order ties go.
    pub fn new(members: Vec<(String, S)>) -> Self {
        let (names, members): (Vec<_>, Vec<_>) = members.into_iter().unzip();
        let heads = members.iter().map(|_| None).collect();
        MergedSource {
            members,
            names,
            heads,
            heap: Default::default(),
            handed_out: None,
            started: false,
            number: 0,
            warnings: Vec::new(),
            interfaces: Vec::new(),
            blocks: Vec::new(),
            next_interface: 0,
        }
    }

    /// The merged number of member `i`'s interface `local`.
    fn interface_of(&mut self, i: usize, local: u32) -> u32 {
        let (first, described) = self.blocks[i];
        if local < described {
            return first + local;
        }
        let known = &mut self.interfaces[i];
        let at = local as usize;
        if known.len() <= at {
            known.resize(at + 1, None);
        }
        *known[at].get_or_insert_with(|| {
            self.next_interface += 1;
            self.next_interface - 1
        })
    }

    /// The members, for what they can say once read (damage, counts).
    pub fn members(&self) -> &[S] {
        &self.members
    }

    fn read_on(&mut self, i: usize) {
        match self.members[i].next_frame_any() {
            Some((f, passed)) => {
                let head = self.heads[i].get_or_insert_with(|| Head {
                    ts_ns: 0,
                    orig_len: 0,
                    linktype: 0,
                    interface: 0,
                    passed: false,
                    data: Vec::new(),
                });
                head.ts_ns = f.ts_ns;
                head.orig_len = f.orig_len;
                head.linktype = f.linktype;
                head.interface = f.interface;
                head.passed = passed;
                head.data.clear();
                head.data.extend_from_slice(f.data);
                self.heap.push(std::cmp::Reverse((head.ts_ns, i)));
            }
            None => {
                self.heads[i] = None;
                let name = &self.names[i];
                self.warnings
                    .extend(self.members[i].warnings().iter().map(|w| ReadWarning {
                        frame: w.frame,
                        offset: w.offset,
                        message: format!("{name}: {}", w.message),
                    }));
            }
        }
    }
}

impl<S: FrameSource> FrameSource for MergedSource<S> {
    fn next_frame(&mut self) -> Option<RawFrame<'_>> {
        loop {
            // Two steps so the borrow of a rejected frame ends before the next read.
            let (_, passed) = self.next_frame_any()?;
            if passed {
                break;
            }
        }
        let i = self.handed_out?;
        let head = self.heads[i].as_ref()?;
        Some(RawFrame {
            number: self.number,
            ts_ns: head.ts_ns,
            orig_len: head.orig_len,
            linktype: head.linktype,
            interface: head.interface,
            data: &head.data,
        })
    }

    fn next_frame_any(&mut self) -> Option<(RawFrame<'_>, bool)> {
        if !self.started {
            self.started = true;
            for i in 0..self.members.len() {
                self.read_on(i);
            }
            // Each member's interfaces described before its first frame, in a block
            // after the previous member's.
            for m in &self.members {
                let described = m.linktypes().len().max(1) as u32;
                self.blocks.push((self.next_interface, described));
                self.next_interface += described;
            }
            self.interfaces = vec![Vec::new(); self.members.len()];
        }
        if let Some(i) = self.handed_out.take() {
            self.read_on(i);
        }
        let std::cmp::Reverse((_, i)) = self.heap.pop()?;
        self.handed_out = Some(i);
        self.number += 1;
        let local = self.heads[i].as_ref()?.interface;
        let interface = self.interface_of(i, local);
        let head = self.heads[i].as_mut()?;
        head.interface = interface;
        Some((
            RawFrame {
                number: self.number,
                ts_ns: head.ts_ns,
                orig_len: head.orig_len,
                linktype: head.linktype,
                interface: head.interface,
                data: &head.data,
            },
            head.passed,
        ))
    }

    fn bytes_read(&self) -> u64 {
        self.members.iter().map(|m| m.bytes_read()).sum()
    }

    fn warnings(&self) -> &[ReadWarning] {
        &self.warnings
    }

    fn linktypes(&self) -> Vec<u16> {
        let mut all = Vec::new();
        for t in self.members.iter().flat_map(|m| m.linktypes()) {
            if !all.contains(&t) {
                all.push(t);
            }
        }
        all
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    /// Frames built by the test: (time stamp, one byte of data).
    struct Listed {
        frames: Vec<(i64, u8)>,
        at: usize,
        byte: [u8; 1],
    }

    impl FrameSource for Listed {
        fn next_frame(&mut self) -> Option<RawFrame<'_>> {
            let (ts, b) = *self.frames.get(self.at)?;
            self.at += 1;
            self.byte = [b];
            Some(RawFrame {
                number: self.at as u64,
                ts_ns: ts,
                orig_len: 1,
                linktype: 1,
                interface: 0,
                data: &self.byte,
            })
        }
    }

    fn listed(frames: &[(i64, u8)]) -> (String, Listed) {
        let l = Listed {
            frames: frames.to_vec(),
            at: 0,
            byte: [0],
        };
        ("m".to_string(), l)
    }

    #[test]
    fn interleaves_by_time_ties_to_the_first_member_and_renumbers() {
        let mut m = MergedSource::new(vec![
            listed(&[(1, b'a'), (5, b'b'), (5, b'c')]),
            listed(&[(2, b'x'), (5, b'y'), (9, b'z')]),
            listed(&[]),
        ]);
        let mut got = Vec::new();
        while let Some(f) = m.next_frame() {
            got.push((f.number, f.ts_ns, f.data[0]));
        }
        assert_eq!(
            got,
            vec![
                (1, 1, b'a'),
                (2, 2, b'x'),
                (3, 5, b'b'),
                (4, 5, b'c'),
                (5, 5, b'y'),
                (6, 9, b'z')
            ]
        );
        assert!(m.next_frame().is_none());
    }

    #[test]
    fn a_member_out_of_time_order_keeps_its_own_order() {
        let mut m = MergedSource::new(vec![listed(&[(3, 1), (1, 2)]), listed(&[(2, 3)])]);
        let mut got = Vec::new();
        while let Some(f) = m.next_frame() {
            got.push(f.data[0]);
        }
        assert_eq!(got, vec![3, 1, 2]);
    }
}
