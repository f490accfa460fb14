//! Every frame of every capture (shipped fixtures, and ../shared/pcaps when present)
//! goes through the dissector and the one-line summary whole, cut at every length, and
//! with bytes flipped: nothing may panic, and a cut frame must report an error or decode
//! a prefix of the layers the whole frame decodes.

mod common;

use netkit_dissectors::{dissect, DissectOptions};
use netkit_os::capture::CaptureFile;
use std::path::Path;

use common::XorShift;

fn exercise_dir(dir: &Path) -> (usize, usize) {
    let mut opts = DissectOptions::default();
    opts.add_decode_as("udp.port=8472:vxlan").unwrap();
    let mut files = 0;
    let mut frames = 0;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for row in common::manifest(dir) {
        let path = dir.join(&row["file"]);
        let mut f = CaptureFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        files += 1;
        while let Some(raw) = f.next_frame() {
            frames += 1;
            let whole = dissect(raw.linktype, raw.data, &opts);
            let _ = whole.summary();
            for i in 0..whole.layers.len() {
                let _ = netkit_dissectors::app::summarize(&whole.layers, i);
            }
            // Every cut in the headers; past 256 bytes (payload) every 61st is enough.
            for cut in (0..raw.data.len()).filter(|c| *c < 256 || c % 61 == 0) {
                let part = dissect(raw.linktype, &raw.data[..cut], &opts);
                let _ = part.summary();
                // What a cut frame decodes is never more than the whole frame had.
                assert!(
                    part.layers.len() <= whole.layers.len() + 1,
                    "{} frame {}: cut at {cut} decoded more layers",
                    row["file"],
                    raw.number
                );
            }
            let mut mutated = raw.data.to_vec();
            for _ in 0..16 {
                if mutated.is_empty() {
                    break;
                }
                let i = (rng.next() as usize) % mutated.len();
                mutated[i] ^= 1 << (rng.next() % 8);
                let m = dissect(raw.linktype, &mutated, &opts);
                let _ = m.summary();
                for i in 0..m.layers.len() {
                    let _ = netkit_dissectors::app::summarize(&m.layers, i);
                }
            }
        }
    }
    (files, frames)
}

#[test]
fn fixtures_never_panic_whole_cut_or_mutated() {
    let (files, frames) = exercise_dir(&common::fixtures_dir());
    eprintln!("tests/fixtures: {files} files, {frames} frames exercised");
    assert!(files >= 80 && frames > 1000);
}

#[test]
fn shared_corpus_never_panics_whole_cut_or_mutated() {
    let Some(dir) = common::shared_pcaps() else {
        return;
    };
    let (files, frames) = exercise_dir(&dir);
    eprintln!("../shared/pcaps: {files} files, {frames} frames exercised");
    assert_eq!(files, 114);
}
