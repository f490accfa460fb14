//! Work done in one namespace or all of them (`ss`, `arp`, `route`, `mcast groups`):
//! one worker thread per namespace enters it (through [`super::run_in`], never on the
//! main thread), opens its netlink sockets there and dumps; the rows come back tagged
//! with the namespace. A namespace that fails (deleted mid-run, no permission) becomes
//! a typed problem for that namespace while the others are still shown.

use super::{Netns, NetnsError, Selection};
use crate::netlink::{self, DumpError, Links, NETLINK_ROUTE, NETLINK_SOCK_DIAG};
use crate::netlink::{addrs, neigh, routes, sockets};
use netkit_cmds::addr::Iface;
use netkit_cmds::arp::{Family, Neighbour};
use netkit_cmds::mcast::{joined_groups, GroupsReport};
use netkit_cmds::ns::{NsProblem, NsProblemKind, NsRows};
use netkit_cmds::route::{in_table, Lookup, Route, TableSpec};
use netkit_cmds::ss::{Filter, SockEntry};
use std::cell::Cell;
use std::net::IpAddr;

/// Why the work inside one namespace failed: the namespace itself, or a dump there
/// (`what` names the dump: "socket dump", "link dump", ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("{what}: {err}")]
    Dump { what: &'static str, err: DumpError },
}

impl From<DumpError> for WorkError {
    fn from(err: DumpError) -> Self {
        WorkError::Dump {
            what: "netlink dump",
            err,
        }
    }
}

impl WorkError {
    fn dump(what: &'static str) -> impl Fn(DumpError) -> WorkError {
        move |err| WorkError::Dump { what, err }
    }

    fn problem(self, netns: &str) -> NsProblem {
        match self {
            WorkError::Netns(e) => NsProblem {
                netns: netns.to_string(),
                kind: e.problem_kind(),
                message: e.to_string(),
            },
            e @ WorkError::Dump { .. } => NsProblem {
                netns: netns.to_string(),
                kind: NsProblemKind::Failed,
                // run_in's own errors name the namespace; a dump's does not.
                message: format!("namespace {netns}: {e}"),
            },
        }
    }
}

/// Runs `work` inside each namespace, in parallel, and merges the results in the order
/// of `namespaces`. `work` gets the namespace's label to tag its rows with.
pub fn each<T, F>(namespaces: &[Netns], work: F) -> NsRows<T>
where
    T: Send,
    F: Fn(&str) -> Result<Vec<T>, WorkError> + Sync,
{
    let results: Vec<Result<Vec<T>, WorkError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = namespaces
            .iter()
            .map(|ns| {
                let work = &work;
                // This thread exists only for this namespace's work and ends with
                // it, so it enters the namespace itself (run_in would start a second
                // thread per namespace: a fixed cost that showed with hundreds).
                scope.spawn(move || {
                    super::enter_for_good(ns).map_err(WorkError::from)?;
                    work(&ns.label)
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(namespaces)
            .map(|(h, ns)| {
                h.join()
                    .unwrap_or_else(|_| Err(NetnsError::WorkerFailed(ns.label.clone()).into()))
            })
            .collect()
    });
    let mut out = NsRows::default();
    for (r, ns) in results.into_iter().zip(namespaces) {
        match r {
            Ok(rows) => out.rows.extend(rows),
            Err(e) => out.problems.push(e.problem(&ns.label)),
        }
    }
    out
}

/// Why a view over namespaces could not be shown at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The namespaces could not be listed or the one asked for resolved.
    #[error(transparent)]
    Select(#[from] NetnsError),
    /// The one namespace asked for could not be read.
    #[error("{0}")]
    Namespace(NsProblem),
    /// `--table NAME` that is neither a table name nor a VRF device in any of the
    /// namespaces looked at (`ip route show table nosuch` is an error too).
    #[error(
        "unknown table '{table}': not all, main, local, default, a table number, a name \
         in rt_tables, nor a VRF device in {looked}"
    )]
    UnknownTable { table: String, looked: String },
}

/// Sockets of the selected namespaces, with owning processes.
pub fn sockets(sel: &Selection, filter: &Filter) -> Result<NsRows<SockEntry>, ViewError> {
    let namespaces = super::select(sel)?;
    let (owners, mut got) = std::thread::scope(|s| {
        // The /proc scan does not depend on the namespace: run it alongside the dumps.
        let scan = s.spawn(crate::proc::socket_owners);
        let got = each(&namespaces, |label| {
            let diag = netlink::open(NETLINK_SOCK_DIAG).map_err(WorkError::dump("socket dump"))?;
            let mut rows = sockets::dump(&diag, filter).map_err(WorkError::dump("socket dump"))?;
            // Device names are only needed for sockets bound to one (VRF members):
            // most namespaces have none, and then no link dump is made.
            if rows.iter().any(|r| r.bound_ifindex != 0) {
                let route = netlink::open(NETLINK_ROUTE).map_err(WorkError::dump("link dump"))?;
                let links = Links::dump(&route).map_err(WorkError::dump("link dump"))?;
                for r in rows.iter_mut().filter(|r| r.bound_ifindex != 0) {
                    r.dev = Some(links.name(r.bound_ifindex));
                }
            }
            for r in &mut rows {
                r.netns = label.to_string();
            }
            Ok(rows)
        });
        (scan.join().unwrap_or_default(), got)
    });
    for r in &mut got.rows {
        if let Some(o) = owners.get(&u64::from(r.inode)) {
            r.process = o.clone();
        }
    }
    single_failure(sel, got)
}

/// Neighbours of the selected namespaces.
pub fn neighbours(sel: &Selection, family: Family) -> Result<NsRows<Neighbour>, ViewError> {
    let namespaces = super::select(sel)?;
    let got = each(&namespaces, |label| {
        let sock = netlink::open(NETLINK_ROUTE).map_err(WorkError::dump("neighbour dump"))?;
        let mut rows = with_stable_links(&sock, "neighbour dump", |links| {
            neigh::dump(&sock, links, family)
        })?;
        for r in &mut rows {
            r.netns = label.to_string();
        }
        Ok(rows)
    });
    single_failure(sel, got)
}

/// Routes of the selected namespaces in `table`. A VRF name must be a VRF device in
/// at least one of them: otherwise the table is unknown (an error, not "no routes").
pub fn routes(sel: &Selection, table: &TableSpec) -> Result<NsRows<Route>, ViewError> {
    let namespaces = super::select(sel)?;
    let got = each(&namespaces, |label| {
        let sock = netlink::open(NETLINK_ROUTE).map_err(WorkError::dump("route dump"))?;
        // Whether the VRF asked for is a VRF device here, from the same link table
        // the rows were named with.
        let vrf_here = Cell::new(false);
        let mut rows = with_stable_links(&sock, "route dump", |links| {
            if let TableSpec::Vrf(v) = table {
                vrf_here.set(
                    links
                        .0
                        .values()
                        .any(|l| &l.name == v && l.kind.as_deref() == Some("vrf")),
                );
            }
            routes::dump(&sock, links)
        })?;
        rows.retain(|r| in_table(r, table));
        for r in &mut rows {
            r.netns = label.to_string();
        }
        Ok(vec![(vrf_here.get(), rows)])
    });
    if let TableSpec::Vrf(v) = table {
        let answered = !got.rows.is_empty();
        if answered && !got.rows.iter().any(|(known, _)| *known) {
            let looked = match namespaces.as_slice() {
                [one] => format!("namespace {}", one.label),
                many => format!("any of the {} namespaces", many.len()),
            };
            return Err(ViewError::UnknownTable {
                table: v.clone(),
                looked,
            });
        }
    }
    let got = NsRows {
        rows: got.rows.into_iter().flat_map(|(_, rows)| rows).collect(),
        problems: got.problems,
        warnings: got.warnings,
    };
    single_failure(sel, got)
}

/// Interfaces and addresses of the selected namespaces (`ip -br address`).
pub fn addresses(sel: &Selection) -> Result<NsRows<Iface>, ViewError> {
    let namespaces = super::select(sel)?;
    let got = each(&namespaces, |label| {
        let sock = netlink::open(NETLINK_ROUTE).map_err(WorkError::dump("address dump"))?;
        let mut rows = with_stable_links(&sock, "address dump", |links| addrs::dump(&sock, links))?;
        for r in &mut rows {
            r.netns = label.to_string();
        }
        Ok(rows)
    });
    single_failure(sel, got)
}

/// `route get ADDR` in the selected namespaces: the kernel's own lookup in each.
pub fn route_lookups(sel: &Selection, to: IpAddr) -> Result<NsRows<Lookup>, ViewError> {
    let namespaces = super::select(sel)?;
    let got = each(&namespaces, |label| {
        let sock = netlink::open(NETLINK_ROUTE).map_err(WorkError::dump("route lookup"))?;
        let links = Links::dump(&sock).map_err(WorkError::dump("link dump"))?;
        let mut lookup = routes::get(&sock, &links, to).map_err(WorkError::dump("route lookup"))?;
        lookup.netns = label.to_string();
        Ok(vec![lookup])
    });
    single_failure(sel, got)
}

/// The multicast groups joined in the selected namespaces, read from each one's /proc
/// files inside it.
pub fn mcast_groups(sel: &Selection) -> Result<GroupsReport, ViewError> {
    let namespaces = super::select(sel)?;
    let got = each(&namespaces, |label| {
        Ok(joined_groups(label, &crate::proc::read_proc_multicast()))
    });
    if got.rows.is_empty() && !got.problems.is_empty() && got.problems.len() == namespaces.len() {
        if let Some(p) = got.problems.first() {
            return Err(ViewError::Namespace(p.clone()));
        }
    }
    let got = single_failure(sel, got)?;
    let mut errors: Vec<String> = got.problems.iter().map(|p| p.message.clone()).collect();
    errors.extend(got.warnings);
    Ok(GroupsReport {
        groups: got.rows,
        errors,
        problems: got.problems,
    })
}

/// How many times rows are read again because the interfaces changed around them.
const LINK_ATTEMPTS: usize = 3;

/// Rows whose device names come from the link table, read until the table was the
/// same before and after the rows' dump (at most [`LINK_ATTEMPTS`] times, then with the
/// newest table). Otherwise a device created between the two dumps, as a namespace
/// is being set up or torn down, would show as `ifN` instead of its name.
fn with_stable_links<T>(
    sock: &netlink_sys::Socket,
    what: &'static str,
    rows: impl Fn(&Links) -> Result<Vec<T>, DumpError>,
) -> Result<Vec<T>, WorkError> {
    stable_links(
        || Links::dump(sock).map_err(WorkError::dump("link dump")),
        |links| rows(links).map_err(WorkError::dump(what)),
    )
}

fn stable_links<T, E>(
    mut links_now: impl FnMut() -> Result<Links, E>,
    rows: impl Fn(&Links) -> Result<Vec<T>, E>,
) -> Result<Vec<T>, E> {
    let mut links = links_now()?;
    for _ in 1..LINK_ATTEMPTS {
        let got = rows(&links)?;
        let after = links_now()?;
        if after.0 == links.0 {
            return Ok(got);
        }
        links = after;
    }
    rows(&links)
}

/// With one namespace, its failure is the command's failure (exit 1, one line); with
/// all of them, failures stay per-namespace problems, and what could not be looked at
/// is a warning.
fn single_failure<T>(sel: &Selection, mut got: NsRows<T>) -> Result<NsRows<T>, ViewError> {
    match sel {
        Selection::All => {
            got.warnings.extend(super::hidden_processes_warning());
            Ok(got)
        }
        _ => match got.problems.first() {
            Some(p) => Err(ViewError::Namespace(p.clone())),
            None => Ok(got),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::Link;

    fn links(names: &[(u32, &str)]) -> Links {
        Links(
            names
                .iter()
                .map(|(i, n)| {
                    (
                        *i,
                        Link {
                            name: n.to_string(),
                            ..Link::default()
                        },
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn rows_are_named_by_a_link_table_that_held_still_around_them() {
        // x0 (ifindex 5) appears between the first link dump and the rows' dump.
        let tables = [
            links(&[(1, "lo")]),
            links(&[(1, "lo"), (5, "x0")]),
            links(&[(1, "lo"), (5, "x0")]),
        ];
        let mut next = tables.iter().cloned();
        let mut dumps = 0;
        let got = stable_links(
            || {
                dumps += 1;
                next.next().ok_or("no more")
            },
            |l| Ok(vec![l.name(5)]),
        );
        assert_eq!(got.unwrap(), vec!["x0".to_string()]);
        assert_eq!(dumps, 3);

        // A table that never holds still: bounded, and named by the newest table.
        let mut n = 0u32;
        let got = stable_links(
            || {
                n += 1;
                Ok::<_, ()>(links(&[(n, "moving")]))
            },
            |l| Ok(vec![l.name(LINK_ATTEMPTS as u32)]),
        );
        assert_eq!(got.unwrap(), vec!["moving".to_string()]);
        assert_eq!(n as usize, LINK_ATTEMPTS);
    }
}
