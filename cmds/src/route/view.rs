//! `route`'s table. The namespace column shows only when several namespaces are.

use super::{Lookup, Route};
use crate::output::{Table, Term};

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

pub fn render(rows: &[Route], with_ns: bool, term: &Term) -> String {
    let mut t = Table::new([
        "netns",
        "family",
        "table",
        "type",
        "dst",
        "gateway",
        "dev",
        "proto",
        "scope",
        "metric",
        "encap / nexthops",
    ]);
    for r in rows {
        let table = match &r.vrf {
            Some(v) => format!("{} ({v})", r.table),
            None => r.table.clone(),
        };
        let mut extra: Vec<String> = r.encap.iter().cloned().collect();
        if let Some(id) = r.nhid {
            extra.push(format!("nhid {id}"));
        }
        for n in &r.nexthops {
            let mut leg = format!(
                "via {} dev {} weight {}",
                opt(&n.gateway),
                opt(&n.dev),
                n.weight
            );
            if let Some(e) = &n.encap {
                leg.push_str(&format!(" encap {e}"));
            }
            if let Some(l) = &n.newdst {
                leg.push_str(&format!(" as to {l}"));
            }
            extra.push(leg);
        }
        t.row(vec![
            r.netns.clone(),
            r.family.clone(),
            table,
            r.kind.clone(),
            r.dst.clone(),
            opt(&r.gateway),
            opt(&r.dev),
            r.proto.clone(),
            r.scope.clone(),
            r.metric.map(|m| m.to_string()).unwrap_or_default(),
            extra.join("; "),
        ]);
    }
    let t = t.droppable(["scope", "proto", "metric", "family", "type"]);
    if with_ns {
        t.render(term)
    } else {
        t.without_column(0).render(term)
    }
}

/// `route get`: which route, gateway and device each namespace uses to reach the
/// destination, or why it cannot.
pub fn render_lookups(rows: &[Lookup], with_ns: bool, term: &Term) -> String {
    let mut t = Table::new(["netns", "to", "type", "via", "dev", "src", "table"]);
    for r in rows {
        let table = match (&r.table, &r.vrf) {
            (Some(t), Some(v)) => format!("{t} ({v})"),
            (t, _) => opt(t),
        };
        let kind = match &r.error {
            Some(e) => e.clone(),
            None => opt(&r.kind),
        };
        t.row(vec![
            r.netns.clone(),
            r.to.clone(),
            kind,
            opt(&r.gateway),
            opt(&r.dev),
            opt(&r.prefsrc),
            table,
        ]);
    }
    let t = t.droppable(["table", "src"]);
    if with_ns {
        t.render(term)
    } else {
        t.without_column(0).render(term)
    }
}
