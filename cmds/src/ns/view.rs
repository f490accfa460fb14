//! `ns list`'s table.

use super::NsInfo;
use crate::output::{Table, Term};

pub fn render(list: &[NsInfo], term: &Term) -> String {
    let mut t = Table::new([
        "name",
        "source",
        "inode",
        "nsid",
        "vrf",
        "pids",
        "process",
        "interfaces",
    ]);
    for n in list {
        let mut name = n.name.clone();
        if !n.aliases.is_empty() {
            name = format!("{name} ({})", n.aliases.join(", "));
        }
        t.row(vec![
            name,
            n.source.clone(),
            n.inode.to_string(),
            n.nsid.map(|i| i.to_string()).unwrap_or_default(),
            match (&n.vrf, &n.convention) {
                (Some(v), Some(c)) if c != "host" => format!("{v} ({c})"),
                (Some(v), _) => v.clone(),
                _ => String::new(),
            },
            n.pids.to_string(),
            match (n.pid, &n.comm) {
                (Some(p), Some(c)) => format!("{c}({p})"),
                _ => String::new(),
            },
            n.interfaces.join(" "),
        ]);
    }
    t.droppable(["nsid", "inode", "source", "pids"])
        .breakable(["process", "name"])
        .render(term)
}
