//! The `mcast` views as text: tables and warning lines.

use super::report::{CheckReport, GroupsReport, JoinedGroup, MapEntry, ReverseEntry, WarningOut};
use crate::output::{plural, Table, Term};
use netkit_dissectors::mcast::{ipv4_scope, Scope};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

fn warning_lines(out: &mut String, subject: &str, warnings: &[WarningOut]) {
    for w in warnings {
        out.push_str(&format!("  {subject} [{}] {}\n", w.code, w.message));
    }
}

pub fn render_map(entries: &[MapEntry], term: &Term) -> String {
    let mut table = Table::new(["group", "mac", "scope", "name"]);
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mut scope = e.scope_description.to_string();
            if let Some(asn) = e.glop_as {
                scope.push_str(&format!(", AS {asn}"));
            }
            if let Some(d) = &e.ipv6 {
                if let Some(p) = &d.unicast_prefix {
                    scope.push_str(&format!(", prefix {p}"));
                }
                if let Some(rp) = d.rp_address {
                    scope.push_str(&format!(", RP {rp}"));
                }
                if e.ssm {
                    scope.push_str(", SSM");
                }
            }
            vec![
                e.group.clone(),
                e.mac.clone(),
                scope,
                e.name.unwrap_or("").to_string(),
            ]
        })
        .collect();
    for r in rows {
        table.row(r);
    }
    let mut out = table.render(term);
    out.push('\n');
    if entries.iter().any(|e| !e.warnings.is_empty()) {
        out.push_str("Warnings:\n");
        for e in entries {
            warning_lines(&mut out, &e.group, &e.warnings);
        }
    }
    out
}

pub fn render_reverse(r: &ReverseEntry, term: &Term) -> String {
    let mut out = format!("{}  {}\n{}\n", r.mac, r.kind, r.note);
    if let Some(id) = r.group_id {
        out.push_str(&format!("group id: {id} (0x{id:x})\n"));
    }
    if !r.candidates.is_empty() {
        let mut table = Table::new(["group", "scope", "name"]);
        for c in &r.candidates {
            table.row(vec![
                c.group.clone(),
                c.scope.map(|s| s.description()).unwrap_or("").to_string(),
                c.name.unwrap_or("").to_string(),
            ]);
        }
        out.push_str(&table.render(term));
        out.push('\n');
    }
    out
}

pub fn render_check(r: &CheckReport, term: &Term) -> String {
    let mut out = String::new();
    if r.collisions.is_empty() {
        out.push_str(&format!(
            "{}: no two share a MAC address.\n",
            plural(r.checked as u64, "group", "groups")
        ));
    } else {
        out.push_str(&format!(
            "{}, {}: switches and NICs cannot tell these apart\n",
            plural(r.checked as u64, "group", "groups"),
            plural(r.collisions.len() as u64, "MAC collision", "MAC collisions")
        ));
        let mut table = Table::new(["mac", "groups sharing it"]);
        for c in &r.collisions {
            table.row(vec![c.mac.clone(), c.groups.join(", ")]);
        }
        out.push_str(&table.render(term));
        out.push('\n');
    }
    if !r.duplicates.is_empty() {
        out.push_str("Groups planned more than once:\n");
        for d in &r.duplicates {
            let lines: Vec<String> = d.lines.iter().map(usize::to_string).collect();
            let at = if lines.is_empty() {
                String::new()
            } else {
                format!(
                    " (line{} {})",
                    if lines.len() == 1 { "" } else { "s" },
                    lines.join(", ")
                )
            };
            out.push_str(&format!(
                "  {} {}{at}\n",
                d.group,
                plural(d.count as u64, "time", "times")
            ));
        }
    }
    if !r.bad_lines.is_empty() {
        out.push_str("Lines not checked:\n");
        for b in &r.bad_lines {
            out.push_str(&format!("  {}\n", b.message));
        }
    }
    if !r.warnings.is_empty() {
        out.push_str("Warnings:\n");
        for w in &r.warnings {
            let subject = match &w.label {
                Some(l) => format!("{} ({l})", w.group),
                None => w.group.clone(),
            };
            out.push_str(&format!("  {subject} [{}] {}\n", w.code, w.message));
        }
    }
    out
}

pub fn render_groups(r: &GroupsReport, term: &Term) -> String {
    let mut table = Table::new(["netns", "interface", "group", "mac", "name"]);
    for g in &r.groups {
        table.row(vec![
            g.netns.clone(),
            g.interface.clone(),
            g.group.clone(),
            g.mac.clone(),
            g.name.unwrap_or("").to_string(),
        ]);
    }
    let mut out = table.render(term);
    out.push('\n');
    // One line per (namespace, interface, MAC), not one per group.
    let mut collisions: BTreeMap<(&str, &str, &str), Vec<&str>> = BTreeMap::new();
    for g in r.groups.iter().filter(|g| !g.collisions.is_empty()) {
        collisions
            .entry((&g.netns, &g.interface, &g.mac))
            .or_default()
            .push(&g.group);
    }
    if !collisions.is_empty() {
        out.push_str("MAC collisions (groups joined on one interface that share a MAC):\n");
        for ((ns, iface, mac), mut groups) in collisions {
            groups.sort_by_key(|g| g.parse::<IpAddr>().ok());
            out.push_str(&format!("  {ns} {iface} {mac}: {}\n", groups.join(", ")));
        }
    }
    let trapped: Vec<&JoinedGroup> = r
        .groups
        .iter()
        .filter(|g| {
            matches!(g.group.parse::<Ipv4Addr>(), Ok(a) if ipv4_scope(a) != Some(Scope::LinkLocal)
                && a.octets()[2] == 0 && a.octets()[1] & 0x7f == 0)
        })
        .collect();
    if !trapped.is_empty() {
        out.push_str("Flooding traps (same MAC as a 224.0.0.0/24 group, may be flooded by snooping switches):\n");
        for g in trapped {
            out.push_str(&format!(
                "  {} {} {} {}\n",
                g.netns, g.interface, g.group, g.mac
            ));
        }
    }
    out
}
