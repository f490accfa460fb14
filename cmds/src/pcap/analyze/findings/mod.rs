//! Findings: what went wrong, most important first, each with the frames that show
//! it and a Wireshark display filter to open them. Each section raises its own (at the
//! end of its run); findings that need two sections are raised in `joins.rs`. Every
//! code is described in [`registry`].

mod registry;

pub use registry::{Code, Entry};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    // Declared most severe first: sorting ascending puts errors on top.
    Error,
    Warning,
    Info,
}

impl Severity {
    /// As JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    pub summary: String,
    pub stream: Option<u32>,
    pub frames: Vec<u64>,
    pub wireshark_filter: String,
    /// Findings with the same group are one problem seen more than once (the same
    /// request rejected the same way by the same server, on several connections): the
    /// human report prints one line per group. `severity code: what they share`; a
    /// finding whose section knows no such sameness has a group of its own.
    pub group: String,
    /// When it happened (its first frame's time), for a group's first and last time.
    #[serde(skip)]
    pub ts_ns: Option<i64>,
}

/// The group of findings whose shared part is `shared`.
pub fn group_key(severity: Severity, code: Code, shared: &str) -> String {
    format!("{} {code}: {shared}", severity.as_str())
}

/// What a group's findings share, for its one line: the group key without its
/// severity and code.
pub fn group_text(group: &str) -> &str {
    group.split_once(": ").map_or(group, |(_, shared)| shared)
}

/// Gives every finding without a group one of its own (its whole summary), so that
/// only findings a section declared alike, or identical ones, share a line.
pub fn settle_groups(findings: &mut [Finding]) {
    for f in findings.iter_mut().filter(|f| f.group.is_empty()) {
        f.group = group_key(f.severity, f.code, &f.summary);
    }
}

/// `frame.number in {a b c}` (Wireshark 3.x+ set syntax), or `tcp.stream eq N` when
/// the whole conversation is the point.
pub fn frames_filter(frames: &[u64]) -> String {
    match frames {
        [] => String::new(),
        [one] => format!("frame.number == {one}"),
        many => {
            let list: Vec<String> = many.iter().map(u64::to_string).collect();
            format!("frame.number in {{{}}}", list.join(" "))
        }
    }
}

/// Most important first: severity, then the earliest frame.
pub fn rank(findings: &mut [Finding]) {
    findings.sort_by_key(|f| (f.severity, f.frames.first().copied().unwrap_or(u64::MAX)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_use_wireshark_syntax() {
        assert_eq!(frames_filter(&[4]), "frame.number == 4");
        assert_eq!(frames_filter(&[4, 6]), "frame.number in {4 6}");
    }

    #[test]
    fn errors_rank_before_warnings_then_by_frame() {
        let f = |severity, frame| Finding {
            group: String::new(),
            ts_ns: None,
            severity,
            code: Code::TcpReset,
            summary: String::new(),
            stream: None,
            frames: vec![frame],
            wireshark_filter: String::new(),
        };
        let mut v = vec![
            f(Severity::Info, 1),
            f(Severity::Warning, 2),
            f(Severity::Error, 9),
            f(Severity::Error, 3),
        ];
        rank(&mut v);
        let order: Vec<(Severity, u64)> = v.iter().map(|x| (x.severity, x.frames[0])).collect();
        assert_eq!(
            order,
            vec![
                (Severity::Error, 3),
                (Severity::Error, 9),
                (Severity::Warning, 2),
                (Severity::Info, 1)
            ]
        );
    }
}
