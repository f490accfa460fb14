//! One direction of a TCP byte stream put back in order: segments that arrive out of
//! order wait (bounded) until the hole before them is filled, retransmitted bytes are
//! delivered once, and each delivered chunk carries the frame whose arrival made it
//! deliverable (Wireshark's rule: a reassembled PDU belongs to the frame that
//! completed it).
//!
//! Sequence numbers are mapped to a 64-bit offset from the stream's first byte, so
//! wrap-around needs no care past the mapping.

use std::collections::BTreeMap;

/// Bytes held out of order per direction before giving up on the hole.
pub const MAX_PENDING_BYTES: usize = 1 << 20;

/// One chunk of in-order bytes, and the frame (and time) that made it deliverable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub frame: u64,
    pub ts_ns: i64,
    pub data: Vec<u8>,
    /// Bytes before this chunk were never captured (a hole given up on).
    pub after_gap: bool,
}

#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of offset `next_off` (the next byte to deliver).
    next_seq: Option<u32>,
    next_off: u64,
    /// Out-of-order bytes by stream offset.
    pending: BTreeMap<u64, (u64, i64, Vec<u8>)>,
    pending_bytes: usize,
    /// Holes given up on because too much waited behind them.
    pub overflows: u64,
}

impl Reassembler {
    /// A stream whose next byte has sequence number `seq` (after a SYN: its ISN + 1).
    pub fn starting_at(seq: u32) -> Self {
        Reassembler {
            next_seq: Some(seq),
            ..Reassembler::default()
        }
    }

    /// Whether the stream's start is known yet.
    pub fn started(&self) -> bool {
        self.next_seq.is_some()
    }

    /// The stream offset of `seq`, relative to the next byte expected (negative:
    /// already delivered).
    fn offset_of(&self, seq: u32) -> i64 {
        let next = self.next_seq.unwrap_or(seq);
        self.next_off as i64 + i64::from(seq.wrapping_sub(next) as i32)
    }

    /// The common case without a copy: when nothing waits out of order and `payload`
    /// continues the stream, takes it and returns its new bytes (empty when all were
    /// seen); None when it must go through [`Self::push`] (a hole before it, or
    /// segments waiting that it may complete).
    pub fn push_in_order<'p>(&mut self, seq: u32, payload: &'p [u8]) -> Option<&'p [u8]> {
        if !self.pending.is_empty() {
            return None;
        }
        if self.next_seq.is_none() {
            self.next_seq = Some(seq);
        }
        let off = self.offset_of(seq);
        let next = self.next_off as i64;
        let end = off + payload.len() as i64;
        if end <= next {
            return Some(&[]);
        }
        if off > next {
            return None;
        }
        let fresh = payload.get((next - off) as usize..)?;
        self.next_off += fresh.len() as u64;
        self.next_seq = self.next_seq.map(|s| s.wrapping_add(fresh.len() as u32));
        Some(fresh)
    }

    /// Takes one segment; pushes what became deliverable, in order, to `out`.
    pub fn push(&mut self, seq: u32, payload: &[u8], frame: u64, ts_ns: i64, out: &mut Vec<Chunk>) {
        if payload.is_empty() {
            return;
        }
        if self.next_seq.is_none() {
            self.next_seq = Some(seq);
        }
        let off = self.offset_of(seq);
        let end = off + payload.len() as i64;
        let next = self.next_off as i64;
        if end <= next {
            return; // all seen: a retransmission
        }
        if off > next {
            // A hole before it: wait, unless too much waits already.
            let off = off as u64;
            let keep = match self.pending.get(&off) {
                Some((_, _, d)) => d.len() < payload.len(),
                None => true,
            };
            if keep {
                if let Some((_, _, old)) =
                    self.pending.insert(off, (frame, ts_ns, payload.to_vec()))
                {
                    self.pending_bytes -= old.len();
                }
                self.pending_bytes += payload.len();
            }
            if self.pending_bytes > MAX_PENDING_BYTES {
                self.give_up_hole(out);
            }
            return;
        }
        let fresh = &payload[(next - off) as usize..];
        self.deliver(fresh.to_vec(), frame, ts_ns, false, out);
        self.drain(frame, ts_ns, out);
    }

    fn deliver(
        &mut self,
        data: Vec<u8>,
        frame: u64,
        ts_ns: i64,
        after_gap: bool,
        out: &mut Vec<Chunk>,
    ) {
        let n = data.len();
        self.next_off += n as u64;
        self.next_seq = self.next_seq.map(|s| s.wrapping_add(n as u32));
        out.push(Chunk {
            frame,
            ts_ns,
            data,
            after_gap,
        });
    }

    /// Delivers the waiting segments the stream now reaches, attributed to `frame`
    /// (the one that filled the hole).
    fn drain(&mut self, frame: u64, ts_ns: i64, out: &mut Vec<Chunk>) {
        while let Some((&off, _)) = self.pending.first_key_value() {
            if off > self.next_off {
                break;
            }
            let Some((_, (_, _, data))) = self.pending.pop_first() else {
                break;
            };
            self.pending_bytes -= data.len();
            let skip = (self.next_off - off) as usize;
            if let Some(fresh) = data.get(skip..).filter(|f| !f.is_empty()) {
                self.deliver(fresh.to_vec(), frame, ts_ns, false, out);
            }
        }
    }

    /// Too much is waiting: the hole will not be filled within bounds. Jump to the
    /// first waiting segment and deliver from there, marked as after a gap.
    fn give_up_hole(&mut self, out: &mut Vec<Chunk>) {
        self.overflows += 1;
        let Some((off, (frame, ts_ns, data))) = self.pending.pop_first() else {
            return;
        };
        self.pending_bytes -= data.len();
        let jump = off - self.next_off;
        self.next_off = off;
        self.next_seq = self.next_seq.map(|s| s.wrapping_add(jump as u32));
        self.deliver(data, frame, ts_ns, true, out);
        self.drain(frame, ts_ns, out);
    }

    /// Bytes waiting behind a hole (for memory accounting).
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(chunks: &[Chunk]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.data.clone()).collect()
    }

    /// The in-place path gives the bytes `push` would, and hands over to it at a hole.
    #[test]
    fn in_order_fast_path_matches_push() {
        let mut r = Reassembler::default();
        assert_eq!(r.push_in_order(100, b"abc"), Some(&b"abc"[..]));
        // A retransmission overlapping the end: only the new byte.
        assert_eq!(r.push_in_order(101, b"bcd"), Some(&b"d"[..]));
        assert_eq!(r.push_in_order(100, b"ab"), Some(&b""[..]));
        // A hole: not in order; push keeps it, and then the fast path must wait.
        assert_eq!(r.push_in_order(106, b"gh"), None);
        let mut out = Vec::new();
        r.push(106, b"gh", 5, 0, &mut out);
        assert!(out.is_empty());
        assert_eq!(r.push_in_order(104, b"ef"), None);
        r.push(104, b"ef", 6, 0, &mut out);
        assert_eq!(bytes(&out), b"efgh");
        assert_eq!(r.push_in_order(108, b"i"), Some(&b"i"[..]));
    }

    #[test]
    fn out_of_order_retransmitted_overlapping_and_wrapping() {
        let data: Vec<u8> = (0..100u8).collect();
        let base = u32::MAX - 30; // wraps inside the stream
        let mut r = Reassembler::starting_at(base);
        let mut out = Vec::new();
        let at = |i: usize| base.wrapping_add(i as u32);
        r.push(at(40), &data[40..70], 2, 0, &mut out); // early
        assert!(out.is_empty());
        r.push(at(0), &data[0..20], 3, 0, &mut out);
        r.push(at(0), &data[0..20], 4, 0, &mut out); // retransmission
        r.push(at(10), &data[10..45], 5, 0, &mut out); // overlaps both sides, fills
        r.push(at(60), &data[60..100], 6, 0, &mut out);
        assert_eq!(bytes(&out), data);
        assert_eq!(
            out.iter().map(|c| c.frame).collect::<Vec<_>>(),
            vec![3, 5, 5, 6]
        );
        assert_eq!(r.overflows, 0);
    }

    #[test]
    fn a_hole_never_filled_is_given_up_within_the_bound() {
        let mut r = Reassembler::starting_at(0);
        let mut out = Vec::new();
        let seg = vec![7u8; 60_000];
        for i in 0..20u32 {
            r.push(1000 + i * 60_000, &seg, u64::from(i), 0, &mut out);
        }
        assert_eq!(r.overflows, 1);
        assert!(out.first().is_some_and(|c| c.after_gap));
        assert!(r.pending_bytes() <= MAX_PENDING_BYTES);
    }
}
