//! Helpers shared by the integration tests: where the captures are, and MANIFEST rows.
#![allow(dead_code)] // each test binary uses a different subset

pub mod bpf;
pub mod pair;
pub mod tls_fields;
pub mod tmux;

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

/// Every capture file (.pcap, .pcapng, .cap) under `dir`, sorted.
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap")
            ) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
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

/// Whether the tests run as root (namespaces, raw sockets and captures need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Whether `tool` is on the PATH.
pub fn have(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `python3` can import `module`, installing `package` with pip if not.
pub fn python_with(module: &str, package: &str) -> bool {
    let imports = || {
        std::process::Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if imports() {
        return true;
    }
    let _ = std::process::Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", package])
        .status();
    if imports() {
        return true;
    }
    eprintln!("skipping: python3 cannot import {module} (pip install {package} failed)");
    false
}

/// Why a live test cannot run here (not root, or one of `tools` missing), if so.
pub fn skip_reason(tools: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("needs root (namespaces, CAP_NET_RAW)".into());
    }
    tools
        .iter()
        .find(|t| !have(t))
        .map(|t| format!("needs {t} installed"))
}

/// Runs `ip ARGS` and fails the test with its stderr when it fails.
pub fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A script of tests/lab (lab builders, servers and clients the tests run).
pub fn lab_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lab")
        .join(name)
}

pub fn netkit() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_netkit"))
}

/// `pcap analyze` with default options on a capture under tests/fixtures.
pub fn analyze_fixture(rel: &str) -> netkit_cmds::pcap::analyze::Report {
    let f = fixtures_dir().join(rel);
    netkit::commands::pcap::analyze_path(&f, None, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"))
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

/// The JSON objects of a command's NDJSON output, one per non-blank line; a line that
/// is not JSON fails the test, with `stderr` (what the command said) in the message.
pub fn ndjson<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    stderr: &str,
) -> Vec<serde_json::Value> {
    lines
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{stderr}")))
        .collect()
}

/// [`ndjson`] of a file a command writes as it goes (a file not written yet holds no
/// object); a line that is not JSON names the file.
pub fn ndjson_file(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    ndjson(text.lines(), &path.display().to_string())
}
