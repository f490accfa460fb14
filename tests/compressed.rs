//! Compressed captures through the built binary: every capture of tests/fixtures
//! compressed with gzip, zstd and lz4 (by the Rust encoders, and by the gzip, zstd
//! and lz4 tools when they are installed) must give `pcap analyze --json` output
//! identical to the plain file's, apart from `capture.file`, and the same `pcap show`
//! output; compressed input on stdin
//! and through `pcap show`; a truncated compressed file gives partial results and a
//! warning naming the compression, exit 0.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

#[derive(Clone, Copy, Debug)]
enum Codec {
    Gzip,
    Zstd,
    Lz4,
}

const CODECS: [Codec; 3] = [Codec::Gzip, Codec::Zstd, Codec::Lz4];

impl Codec {
    fn ext(self) -> &'static str {
        match self {
            Codec::Gzip => "gz",
            Codec::Zstd => "zst",
            Codec::Lz4 => "lz4",
        }
    }

    fn tool(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Lz4 => "lz4",
        }
    }

    /// Compresses with the pure-Rust encoders.
    fn with_crate(self, data: &[u8]) -> Vec<u8> {
        match self {
            Codec::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Codec::Zstd => {
                ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
            }
            Codec::Lz4 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
        }
    }

    /// Compresses with the command-line tool, as people's archives are made.
    fn with_tool(self, data: &[u8]) -> Vec<u8> {
        let mut child = std::process::Command::new(self.tool())
            .args(["-c", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = data.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap().unwrap();
        assert!(out.status.success(), "{} failed", self.tool());
        out.stdout
    }
}

fn fixtures() -> Vec<PathBuf> {
    let files = common::captures_in(&common::fixtures_dir());
    assert!(files.len() > 50, "fixtures missing: {}", files.len());
    files
}

fn analyze(path: &Path) -> Output {
    common::netkit()
        .args(["pcap", "analyze", "--json"])
        .arg(path)
        .output()
        .unwrap()
}

/// `pcap show`'s stdout and exit status (its warnings on stderr name the file).
fn show(path: &Path) -> (Vec<u8>, Option<i32>) {
    let out = common::netkit()
        .args(["pcap", "show"])
        .arg(path)
        .output()
        .unwrap();
    (out.stdout, out.status.code())
}

/// The report with `capture.file` blanked, or the failure.
fn normalised(out: &Output) -> Result<serde_json::Value, String> {
    if !out.status.success() {
        return Err(format!("exit {:?}", out.status.code()));
    }
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["capture"]["file"] = serde_json::Value::Null;
    Ok(v)
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netkit-compressed-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct RemoveDir(PathBuf);
impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_fixture_compressed_gives_the_plain_report() {
    let dir = scratch("same");
    let _guard = RemoveDir(dir.clone());
    let mut compared = 0;
    let tools: Vec<Codec> = CODECS
        .into_iter()
        .filter(|c| {
            let ok = common::have(c.tool());
            if !ok {
                eprintln!(
                    "{} not installed: only the Rust encoder is checked",
                    c.tool()
                );
            }
            ok
        })
        .collect();
    for f in fixtures() {
        let plain = std::fs::read(&f).unwrap();
        let want = normalised(&analyze(&f));
        let want_show = show(&f);
        for codec in CODECS {
            let mut variants = vec![("crate", codec.with_crate(&plain))];
            if tools.iter().any(|t| t.tool() == codec.tool()) {
                variants.push(("tool", codec.with_tool(&plain)));
            }
            for (by, bytes) in variants {
                // A name that hides the compression: detection is by magic bytes.
                let c = dir.join(format!("{by}-{}.bin", codec.ext()));
                std::fs::write(&c, &bytes).unwrap();
                let got = normalised(&analyze(&c));
                assert!(
                    got == want,
                    "{} compressed with {codec:?} ({by}) differs from the plain file",
                    f.display()
                );
                assert!(
                    show(&c) == want_show,
                    "{}: pcap show of it compressed with {codec:?} ({by}) differs",
                    f.display()
                );
                compared += 1;
            }
        }
    }
    eprintln!("{compared} compressed files gave the plain files' analyze and show output");
}

#[test]
fn compressed_stdin_and_show() {
    let f = common::fixtures_dir().join("lab/upgrade-accepted.pcap");
    let plain = std::fs::read(&f).unwrap();
    let want_show = common::netkit()
        .args(["pcap", "show"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(want_show.status.success());
    let want = normalised(&analyze(&f)).unwrap();
    for codec in CODECS {
        let bytes = codec.with_crate(&plain);
        for cmd in [
            &["pcap", "analyze", "--json", "-"][..],
            &["pcap", "show", "-"],
        ] {
            let mut child = common::netkit()
                .args(cmd)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let input = bytes.clone();
            let feeder = std::thread::spawn(move || stdin.write_all(&input));
            let out = child.wait_with_output().unwrap();
            feeder.join().unwrap().unwrap();
            assert!(out.status.success(), "{codec:?} {cmd:?}");
            if cmd[1] == "show" {
                assert_eq!(out.stdout, want_show.stdout, "{codec:?} show on stdin");
            } else {
                assert_eq!(
                    normalised(&out).unwrap(),
                    want,
                    "{codec:?} analyze on stdin"
                );
            }
        }
    }
}

#[test]
fn truncated_compressed_file_gives_partial_results_and_a_warning() {
    let dir = scratch("cut");
    let _guard = RemoveDir(dir.clone());
    // zstd holds back its window (the zstd tool's default is 2 MiB at level 3 when
    // the size is not known) until it can be handed out, so the capture must be well
    // larger than that, and not compress to nearly nothing, for a cut to leave
    // frames (lz4 decodes whole blocks, 4 MiB by default): 60,000 Ethernet frames of
    // random bytes, 13.6 MB.
    let mut rng = common::XorShift(0x5eed_c0de);
    // pcap file header: magic, version 2.4, zone, sigfigs, snaplen, Ethernet.
    let mut plain = Vec::new();
    plain.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    plain.extend_from_slice(&2u16.to_le_bytes());
    plain.extend_from_slice(&4u16.to_le_bytes());
    for w in [0u32, 0, 65535, 1] {
        plain.extend_from_slice(&w.to_le_bytes());
    }
    for i in 0..60_000u32 {
        for w in [1_700_000_000 + i / 1000, (i % 1000) * 1000, 200, 200] {
            plain.extend_from_slice(&w.to_le_bytes());
        }
        for _ in 0..25 {
            plain.extend_from_slice(&rng.next().to_le_bytes());
        }
    }
    let f = dir.join("big.pcap");
    std::fs::write(&f, &plain).unwrap();
    let total = frames(&analyze(&f));
    for codec in CODECS {
        let mut variants = vec![("crate", codec.with_crate(&plain))];
        if common::have(codec.tool()) {
            variants.push(("tool", codec.with_tool(&plain)));
        }
        for (by, bytes) in variants {
            // Three quarters: frames are lost. One byte short: the frames may all be
            // there (only a checksum or end mark is missing), but the damage is still
            // reported.
            for cut in [bytes.len() * 3 / 4, bytes.len() - 1] {
                let c = dir.join(format!("cut.{}", codec.ext()));
                std::fs::write(&c, &bytes[..cut]).unwrap();
                let out = analyze(&c);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success(),
                    "{codec:?} ({by}) cut at {cut}: exit {:?}: {stderr}",
                    out.status
                );
                assert!(!stderr.contains("panicked"), "{stderr}");
                let got = frames(&out);
                assert!(
                    got > 0 && (got < total || cut == bytes.len() - 1),
                    "{codec:?} ({by}) cut at {cut}/{}: {got} of {total} frames",
                    bytes.len()
                );
                let name = format!("{codec:?}").to_lowercase();
                assert!(
                    stderr.contains("netkit: warning:")
                        && stderr
                            .contains(&format!("{name} stream: the compressed file ends early")),
                    "{codec:?} ({by}) cut at {cut}: no warning: {stderr}"
                );
                eprintln!(
                    "{codec:?} ({by}) cut at {cut} of {}: {got} of {total} frames",
                    bytes.len()
                );
            }
        }
    }
}

#[test]
fn compressed_non_capture_is_refused_with_what_was_inside() {
    let dir = scratch("junk");
    let _guard = RemoveDir(dir.clone());
    for codec in CODECS {
        let c = dir.join("junk");
        std::fs::write(&c, codec.with_crate(b"hello, this is not a capture")).unwrap();
        let out = analyze(&c);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let name = format!("{codec:?}").to_lowercase();
        assert!(
            stderr.contains(&format!("{name} data: not a capture file")),
            "{stderr}"
        );
    }
}

fn frames(out: &Output) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    v["capture"]["frames"].as_u64().expect("capture.frames")
}
