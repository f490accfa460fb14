//! `watch --write DIR`: the evidence of each finding (netkit_cmds::watch::evidence) as
//! one pcapng file, never overwriting one, within a byte budget.

use super::pcapng_writer::PcapngWriter;
use netkit_cmds::watch::evidence::Evidence;
use std::io::Write;
use std::path::PathBuf;

/// `--write DIR`: one pcapng file per finding, within a byte budget.
pub struct EvidenceWriter {
    pub dir: PathBuf,
    budget: u64,
    /// Bytes and files written so far.
    pub written: u64,
    pub files: u64,
    /// Findings whose evidence was not written because the budget was spent.
    pub refused: u64,
}

impl EvidenceWriter {
    /// Writes into `dir` (which must exist), at most `budget` bytes in all.
    pub fn new(dir: PathBuf, budget: u64) -> EvidenceWriter {
        EvidenceWriter {
            dir,
            budget,
            written: 0,
            files: 0,
            refused: 0,
        }
    }

    /// Writes one finding's frames; a failure is a warning on stderr and the next
    /// finding is tried all the same.
    pub fn write(&mut self, e: &Evidence) {
        let size: u64 = e.frames.iter().map(|f| f.data.len() as u64 + 64).sum();
        if e.frames.is_empty() {
            return;
        }
        if self.written + size > self.budget {
            self.refused += 1;
            return;
        }
        let safe: String = e
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // Never overwrite: NAME.pcapng, NAME-1.pcapng, ...
        let mut path = self.dir.join(format!("{safe}.pcapng"));
        let mut n = 0;
        let file = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => break f,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                    n += 1;
                    path = self.dir.join(format!("{safe}-{n}.pcapng"));
                }
                Err(err) => {
                    eprintln!("netkit: warning: cannot write {}: {err}", path.display());
                    return;
                }
            }
        };
        let written = (|| -> std::io::Result<()> {
            let mut w = PcapngWriter::with_application(
                std::io::BufWriter::new(file),
                Some("netkit watch"),
            )?;
            let linktype = e.frames[0].linktype;
            let iface = w.add_interface(linktype, Some(&e.interface), 0)?;
            for f in &e.frames {
                let comment = if e.finding_frames.contains(&f.number) {
                    e.comment.clone()
                } else {
                    String::new()
                };
                if comment.is_empty() {
                    w.write_packet(iface, f.ts_ns, f.orig_len, &f.data)?;
                } else {
                    w.write_packet_with_comment(iface, f.ts_ns, f.orig_len, &f.data, &comment)?;
                }
            }
            w.finish()?.flush()
        })();
        match written {
            Ok(()) => {
                self.written += size;
                self.files += 1;
            }
            Err(err) => eprintln!("netkit: warning: cannot write {}: {err}", path.display()),
        }
    }
}
