//! `netkit ns list|exec` and what every namespace-wide view shares: rows gathered from
//! several namespaces, each tagged with its namespace's label, and the namespaces that
//! could not be read, typed so the exit status never depends on message text.

pub mod report;
pub mod view;

pub use report::NsInfo;
use serde::Serialize;

/// Why one namespace could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NsProblemKind {
    /// Entering it needs CAP_SYS_ADMIN (or reading it another capability): the view is
    /// incomplete for lack of privilege, which makes the command fail (exit 1).
    Permission,
    /// It was deleted (or its process exited) while netkit looked.
    Gone,
    /// Anything else (a dump that failed, a table that kept changing).
    Failed,
}

/// One namespace that could not be read, and why (one line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsProblem {
    pub netns: String,
    pub kind: NsProblemKind,
    pub message: String,
}

impl std::fmt::Display for NsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Rows from every namespace that answered, and one problem per namespace that did
/// not (plus warnings about what could not be looked at, such as other users'
/// processes).
#[derive(Debug, Clone)]
pub struct NsRows<T> {
    pub rows: Vec<T>,
    pub problems: Vec<NsProblem>,
    /// Whole-view warnings that are not about one namespace.
    pub warnings: Vec<String>,
}

impl<T> Default for NsRows<T> {
    fn default() -> Self {
        NsRows {
            rows: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl<T> NsRows<T> {
    /// Namespaces left out for lack of privilege: the rows shown are real, but the job
    /// (every namespace) was not done.
    pub fn denied(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.kind == NsProblemKind::Permission)
            .count()
    }
}
