//! `pcap analyze --html` in a real browser: headless Chromium (Debian's `chromium`,
//! which test.sh installs) loads reports of the HAProxy lab captures, a tunnel
//! capture, a multicast capture and a TLS capture (an expired certificate whose name
//! does not match the SNI: its findings must link to the TLS table, which names the
//! SNI). Each must run its script without a console error,
//! have the expected number of graphs in the DOM after the script ran (one timeline
//! plus four per troubled stream, counted independently from `--json`), and give a
//! screenshot that is not blank, in light and dark. The console check is shown able
//! to fail on a page with an injected error. Skips (saying why) without chromium.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const CAPTURES: [&str; 7] = [
    "lab/upgrade-rejected-403-retransmitted.pcap",
    "lab/upgrade-silently-dropped.pcap",
    "lab/upgrade-accepted.pcap",
    "lab/vxlan-inner-flows.pcap",
    "encap/zeek__vxlan-encapsulated-http.pcap",
    "multicast/zeek__home-multicast-short.pcap",
    "tls/tls12-expired.pcapng",
];
/// Troubled streams a report graphs (cmds' `series::MAX_GRAPHED`).
const MAX_GRAPHED: usize = 24;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("nk18-html-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one Chromium run left: the DOM after scripts (or the screenshot) and stderr.
struct Run {
    stdout: String,
    stderr: String,
}

fn chromium(dir: &Path, page: &Path, extra: &[&str]) -> Run {
    let profile = dir.join(format!("profile-{}", rand_tag()));
    let url = format!("file://{}", page.display());
    let mut cmd = Command::new("timeout");
    cmd.args(["120", "chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url);
    let out = cmd.output().expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn rand_tag() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The console errors Chromium logged for the page.
fn console_errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect()
}

fn skip() -> bool {
    if !common::have("chromium") {
        eprintln!("skipping: needs chromium installed (test.sh installs it)");
        return true;
    }
    false
}

/// Troubled streams in the JSON report, as the HTML report picks them.
fn expected_graphs(json: &serde_json::Value) -> usize {
    let troubled = json["tcp"]["streams_detail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            [
                "retransmission",
                "fast_retransmission",
                "spurious_retransmission",
                "lost_segment",
                "ack_lost_segment",
                "zero_window",
            ]
            .iter()
            .any(|k| s[*k].as_u64().unwrap_or(0) > 0)
                || !s["resets"].as_array().unwrap().is_empty()
        })
        .count();
    1 + 4 * troubled.min(MAX_GRAPHED)
}

/// A minimal PNG reader (8-bit RGB/RGBA, non-interlaced, as Chromium writes):
/// the pixels as RGB triples.
fn png_pixels(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut w, mut h, mut channels) = (0u32, 0u32, 0usize);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= data.len() {
        let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind = &data[at + 4..at + 8];
        let body = &data[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(body[0..4].try_into().unwrap());
                h = u32::from_be_bytes(body[4..8].try_into().unwrap());
                assert_eq!(body[8], 8, "bit depth");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("colour type {t}"),
                };
                assert_eq!(body[12], 0, "interlaced");
            }
            b"IDAT" => idat.extend_from_slice(body),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w as usize * channels;
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for row in 0..h as usize {
        let start = row * (stride + 1);
        let filter = raw[start];
        let mut line = raw[start + 1..start + 1 + stride].to_vec();
        for i in 0..stride {
            let a = if i >= channels { line[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            let add = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            line[i] = line[i].wrapping_add(add);
        }
        for px in line.chunks(channels) {
            pixels.push([px[0], px[1], px[2]]);
        }
        prev = line;
    }
    (w, h, pixels)
}

/// (distinct colours, share of pixels unlike the most common one).
fn screenshot_stats(path: &Path) -> (usize, f64, [u8; 3]) {
    let (_, _, px) = png_pixels(path);
    let mut counts = std::collections::HashMap::new();
    for p in &px {
        *counts.entry(*p).or_insert(0u64) += 1;
    }
    let (bg, most) = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(c, n)| (*c, *n))
        .unwrap();
    let other = 1.0 - most as f64 / px.len() as f64;
    (counts.len(), other, bg)
}

#[test]
fn reports_render_in_chromium_with_their_graphs_and_no_console_errors() {
    if skip() {
        return;
    }
    let dir = TempDir::new("render");
    let keep = std::env::var_os("NETKIT_KEEP_SCREENSHOTS").map(PathBuf::from);
    let mut summary = Vec::new();
    for rel in CAPTURES {
        let capture = common::fixtures_dir().join(rel);
        let name = rel.replace('/', "_");
        let html = dir.0.join(format!("{name}.html"));
        let out = common::netkit()
            .args(["pcap", "analyze", "--json", "--html"])
            .arg(&html)
            .arg(&capture)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let page = std::fs::read_to_string(&html).unwrap();
        // Self-contained: nothing is fetched (the only URL is the SVG namespace).
        for needle in ["<link", "src=\"http", "src='http", "@import", "url(http"] {
            assert!(!page.contains(needle), "{rel}: the page refers to {needle}");
        }

        let run = chromium(&dir.0, &html, &["--dump-dom"]);
        let errors = console_errors(&run.stderr);
        assert!(errors.is_empty(), "{rel}: console errors: {errors:?}");
        let want = expected_graphs(&json);
        let in_dom = run.stdout.matches("<svg class=\"graph\"").count();
        assert_eq!(in_dom, want, "{rel}: graphs in the DOM");
        // The script ran and saw them all.
        assert!(
            run.stdout.contains(&format!("data-graphs=\"{want}\"")),
            "{rel}: the page's script did not run to its end"
        );
        // The TLS section is a table, and a TLS finding's evidence link lands on it.
        for c in json["tls"]["connections"].as_array().unwrap() {
            let sni = c["sni"].as_str().unwrap_or_default();
            let table = run.stdout.split("-sec-tls\"").nth(1).unwrap_or_default();
            assert!(table.contains(sni), "{rel}: the TLS table lacks SNI {sni}");
        }
        if rel.starts_with("tls/") {
            assert!(
                run.stdout.contains("-sec-tls\"><h3>TLS</h3>")
                    && run.stdout.contains("href=\"#r0-sec-tls\""),
                "{rel}: a TLS finding links to the TLS section"
            );
        }
        let findings = json["findings"].as_array().unwrap().len();
        assert_eq!(
            run.stdout.matches("class=\"finding ").count(),
            findings,
            "{rel}"
        );

        for (mode, flags) in [("light", vec![]), ("dark", vec!["--force-dark-mode"])] {
            let shot = dir.0.join(format!("{name}-{mode}.png"));
            let mut args = vec![
                "--window-size=1280,2000".to_string(),
                format!("--screenshot={}", shot.display()),
            ];
            args.extend(flags.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = chromium(&dir.0, &html, &args);
            let errors = console_errors(&run.stderr);
            assert!(
                errors.is_empty(),
                "{rel} ({mode}): console errors: {errors:?}"
            );
            let (colours, other, bg) = screenshot_stats(&shot);
            assert!(colours >= 50, "{rel} ({mode}): only {colours} colours");
            assert!(
                other >= 0.05,
                "{rel} ({mode}): {:.1}% non-background",
                other * 100.0
            );
            let dark_bg = u32::from(bg[0]) + u32::from(bg[1]) + u32::from(bg[2]) < 200;
            assert_eq!(dark_bg, mode == "dark", "{rel} ({mode}): background {bg:?}");
            if let Some(k) = &keep {
                std::fs::create_dir_all(k).unwrap();
                std::fs::copy(&shot, k.join(shot.file_name().unwrap())).unwrap();
            }
            summary.push(format!(
                "{rel} {mode}: {want} graphs, {colours} colours, {:.1}% non-background",
                other * 100.0
            ));
        }
    }
    for s in summary {
        eprintln!("{s}");
    }
}

#[test]
fn the_console_check_catches_an_injected_error() {
    if skip() {
        return;
    }
    let dir = TempDir::new("inject");
    let html = dir.0.join("report.html");
    let capture = common::fixtures_dir().join(CAPTURES[0]);
    let out = common::netkit()
        .args(["pcap", "analyze", "--html"])
        .arg(&html)
        .arg(&capture)
        .output()
        .unwrap();
    assert!(out.status.success());
    let page = std::fs::read_to_string(&html).unwrap();
    let broken = page.replacen(
        "<script>",
        "<script>document.querySelector('svg.graph').dataset.nothing.length;</script><script>",
        1,
    );
    std::fs::write(&html, broken).unwrap();
    let run = chromium(&dir.0, &html, &["--dump-dom"]);
    let errors = console_errors(&run.stderr);
    assert!(
        errors.iter().any(|e| e.contains("Uncaught")),
        "the injected error went unnoticed: {}",
        run.stderr
    );
}
