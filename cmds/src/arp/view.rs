//! `arp`'s table. The namespace column shows only when several namespaces are.

use super::Neighbour;
use crate::output::{Table, Term};

pub fn render(rows: &[Neighbour], with_ns: bool, term: &Term) -> String {
    let mut t = Table::new(["netns", "ip", "mac", "dev", "state", "vrf"]);
    for r in rows {
        t.row(vec![
            r.netns.clone(),
            r.ip.clone(),
            r.mac.clone().unwrap_or_default(),
            r.dev.clone(),
            r.state.clone(),
            r.vrf.clone().unwrap_or_default(),
        ]);
    }
    let t = t.droppable(["vrf", "state"]);
    if with_ns {
        t.render(term)
    } else {
        t.without_column(0).render(term)
    }
}
