//! `netkit addr`: interfaces and their addresses, one line per interface, as
//! `ip -br address` prints them, in one namespace or all of them. The rows come from
//! `netkit_os::netlink::addrs`; this module is the typed report and the table.

use crate::output::{Table, Term};
use serde::Serialize;

/// One interface of one namespace (`--json`: one object per interface).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Iface {
    pub netns: String,
    pub dev: String,
    /// Operational state as `ip -br` prints it: UP, DOWN, UNKNOWN, LOWERLAYERDOWN, ...
    pub state: String,
    /// `addr/len`, IPv4 first, in the kernel's order.
    pub addrs: Vec<String>,
}

/// `-4`/`-6`: keeps the addresses of one family (interfaces stay, as `ip -4 -br a`
/// drops those left without one).
pub fn retain_family(rows: &mut Vec<Iface>, v6: bool) {
    for r in rows.iter_mut() {
        r.addrs.retain(|a| a.contains(':') == v6);
    }
    rows.retain(|r| !r.addrs.is_empty());
}

pub fn render(rows: &[Iface], with_ns: bool, term: &Term) -> String {
    let mut t = Table::new(["netns", "dev", "state", "addresses"]);
    for r in rows {
        t.row(vec![
            r.netns.clone(),
            r.dev.clone(),
            r.state.clone(),
            r.addrs.join(" "),
        ]);
    }
    if with_ns {
        t.render(term)
    } else {
        t.without_column(0).render(term)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_filter_drops_interfaces_left_without_addresses() {
        let mut rows = vec![
            Iface {
                netns: "host".into(),
                dev: "lo".into(),
                state: "UNKNOWN".into(),
                addrs: vec!["127.0.0.1/8".into(), "::1/128".into()],
            },
            Iface {
                netns: "host".into(),
                dev: "eth9".into(),
                state: "DOWN".into(),
                addrs: vec!["fe80::1/64".into()],
            },
        ];
        retain_family(&mut rows, false);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].addrs, ["127.0.0.1/8"]);
    }
}
