//! The captures a command line names: files, directories (every file in them) and
//! glob patterns, expanded here as well as by the shell so that a quoted pattern
//! (`'trace.pcap*'`, needed when a set has more files than a command line holds)
//! works. The members of a directory or pattern are a set, put in the order of their
//! first time stamps: tcpdump's rotated names (`trace.pcap`, `trace.pcap1`, ...,
//! `trace.pcap10`) do not sort by name into time order.

use std::path::{Path, PathBuf};

use super::CaptureFile;

/// Characters that make an argument a pattern (when no file has that very name).
fn is_pattern(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The files `args` name, in order: each directory and pattern expanded to its members
/// (ordered by first time stamp), other arguments as given (`-` is standard input). A
/// pattern that matches nothing stays as it is, so opening it says why (as a shell
/// without nullglob leaves it).
pub fn expand(args: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            out.push(arg.clone());
        } else if arg.is_dir() {
            let mut members: Vec<PathBuf> = std::fs::read_dir(arg)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                        .map(|e| e.path())
                        .filter(|p| p.is_file())
                        .collect()
                })
                .unwrap_or_default();
            if members.is_empty() {
                // Opening the directory says plainly that it holds no capture.
                out.push(arg.clone());
                continue;
            }
            order_by_first_frame(&mut members);
            out.extend(members);
        } else if !arg.exists() && is_pattern(&arg.to_string_lossy()) {
            let mut members = glob(arg);
            if members.is_empty() {
                out.push(arg.clone());
                continue;
            }
            order_by_first_frame(&mut members);
            out.extend(members);
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// Time stamp of the first frame, or `None` when the file cannot be read or has none.
pub fn first_frame_ts(path: &Path) -> Option<i64> {
    CaptureFile::open(path).ok()?.next_frame().map(|f| f.ts_ns)
}

/// Orders a set by the first frame's time stamp; files without one (unreadable, not a
/// capture, empty) go last, by name, so that they are still named as they are read.
fn order_by_first_frame(members: &mut Vec<PathBuf>) {
    let mut keyed: Vec<(Option<i64>, PathBuf)> =
        members.drain(..).map(|p| (first_frame_ts(&p), p)).collect();
    keyed.sort_by(|(ta, pa), (tb, pb)| match (ta, tb) {
        (Some(a), Some(b)) => a.cmp(b).then_with(|| pa.cmp(pb)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => pa.cmp(pb),
    });
    members.extend(keyed.into_iter().map(|(_, p)| p));
}

/// The files a pattern matches, component by component (`*`, `?`, `[...]`, `[!...]`).
/// A name starting with `.` is matched only by a component that starts with `.`, as
/// in the shell.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    use std::path::Component;
    let mut bases: Vec<PathBuf> = vec![PathBuf::new()];
    let parts: Vec<Component> = pattern.components().collect();
    for (n, part) in parts.iter().enumerate() {
        let last = n + 1 == parts.len();
        let text = part.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &bases {
            if !matches!(part, Component::Normal(_)) || !is_pattern(&text) {
                let p = base.join(part.as_os_str());
                if last || p.is_dir() {
                    next.push(p);
                }
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (!name.starts_with('.') || text.starts_with('.'))
                        && wildcard_match(text.as_bytes(), name.as_bytes())
                })
                .map(|e| base.join(e.file_name()))
                .filter(|p| if last { p.is_file() } else { p.is_dir() })
                .collect();
            found.sort();
            next.extend(found);
        }
        bases = next;
    }
    bases.retain(|p| p.is_file());
    bases
}

/// Whether `name` matches the shell wildcard `pat`.
fn wildcard_match(pat: &[u8], name: &[u8]) -> bool {
    // Iterative with one backtrack point for the last `*`: linear in practice, and no
    // recursion a long pattern could exhaust.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, len)) = class_match(&pat[p..], name[n]) {
                        if ok {
                            p += len;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        // An unclosed `[` is an ordinary character.
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at the start of `pat`: whether `c` is in it and the class's length,
/// or `None` when the class is not closed.
fn class_match(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    while i < pat.len() {
        if pat[i] == b']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
            found |= pat[i] <= c && c <= pat[i + 2];
            i += 3;
        } else {
            found |= pat[i] == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let m = |p: &str, n: &str| wildcard_match(p.as_bytes(), n.as_bytes());
        assert!(m("trace.pcap*", "trace.pcap"));
        assert!(m("trace.pcap*", "trace.pcap17"));
        assert!(m("*.gz", "a.pcap.gz"));
        assert!(!m("*.gz", "a.pcap.gzip"));
        assert!(m("t?.pcap", "t1.pcap"));
        assert!(!m("t?.pcap", "t12.pcap"));
        assert!(m("t[0-9].pcap", "t7.pcap"));
        assert!(!m("t[!0-9].pcap", "t7.pcap"));
        assert!(m("t[!0-9].pcap", "tx.pcap"));
        assert!(m("a*b*c", "aXXbYYbc"));
        assert!(!m("a*b*c", "aXXbYYbd"));
        assert!(m("[ab", "[ab"));
    }

    #[test]
    fn a_quoted_pattern_and_a_directory_expand_in_time_order() {
        let dir = std::env::temp_dir().join(format!("nk19-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Names that sort against time: trace.pcap10 is the earliest.
        for (name, ts) in [
            ("trace.pcap", 30),
            ("trace.pcap2", 20),
            ("trace.pcap10", 10),
        ] {
            let f = std::fs::File::create(dir.join(name)).unwrap();
            let mut w = crate::capture::pcapng_writer::PcapngWriter::new(f).unwrap();
            w.write(1, ts * 1_000_000_000, 14, &[0u8; 14]).unwrap();
            w.finish().unwrap();
        }
        std::fs::write(dir.join("notes.txt"), b"not a capture").unwrap();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(expand(&[dir.join("trace.pcap*")])),
            ["trace.pcap10", "trace.pcap2", "trace.pcap"]
        );
        assert_eq!(
            names(expand(std::slice::from_ref(&dir))),
            ["trace.pcap10", "trace.pcap2", "trace.pcap", "notes.txt"]
        );
        let none = dir.join("nothing*");
        assert_eq!(expand(std::slice::from_ref(&none)), vec![none]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
