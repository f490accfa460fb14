//! Helpers shared by the integration tests: where the captures are, and MANIFEST rows.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Captures shipped with the repository (redistributable licences only).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The full corpus beside the repository, when this checkout has it (a fresh clone
/// does not: tests that need it say so and skip).
pub fn shared_pcaps() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps");
    if p.join("MANIFEST.tsv").is_file() {
        Some(p)
    } else {
        eprintln!(
            "skipping the ../shared/pcaps part: {} does not exist",
            p.display()
        );
        None
    }
}

/// MANIFEST.tsv rows as column -> value maps.
pub fn manifest(dir: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

pub fn netkit() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_netkit"))
}

/// `pcap analyze` with default options on a capture under tests/fixtures.
pub fn analyze_fixture(rel: &str) -> netkit_cmds::analyze::Report {
    let f = fixtures_dir().join(rel);
    netkit_cmds::analyze::analyze_file(&f, &Default::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// A small deterministic generator (xorshift64), so a failing input reproduces.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
