//! `ss`, `arp` and `route` over one namespace or all of them: one worker thread per
//! namespace enters it (through `netns::run_in`, never on the main thread), opens its
//! netlink sockets there and dumps; the rows come back tagged with the namespace.
//! A namespace that fails (deleted mid-run, no permission) becomes a warning for that
//! namespace while the others are still shown.

use crate::netns::{self, Netns, Selection};
use crate::nldump::{self, Links, NETLINK_ROUTE, NETLINK_SOCK_DIAG};
use crate::{neigh, routes, sockets};

/// Rows from every namespace that answered, and one line per namespace that did not.
#[derive(Debug, Clone, Default)]
pub struct Collected<T> {
    pub rows: Vec<T>,
    pub warnings: Vec<String>,
}

/// Runs `work` inside each namespace, in parallel, and merges the results in the order
/// of `namespaces`. `work` gets the namespace's label to tag its rows with.
pub fn each<T, F>(namespaces: &[Netns], work: F) -> Collected<T>
where
    T: Send,
    F: Fn(&str) -> Result<Vec<T>, String> + Sync,
{
    let results: Vec<Result<Vec<T>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = namespaces
            .iter()
            .map(|ns| {
                let work = &work;
                scope.spawn(move || {
                    // run_in's own errors name the namespace; the work's do not.
                    match netns::run_in(ns, || work(&ns.label)) {
                        Ok(Ok(rows)) => Ok(rows),
                        Ok(Err(e)) => Err(format!("namespace {}: {e}", ns.label)),
                        Err(e) => Err(e),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a namespace worker failed".to_string()))
            })
            .collect()
    });
    let mut out = Collected {
        rows: Vec::new(),
        warnings: Vec::new(),
    };
    for r in results {
        match r {
            Ok(rows) => out.rows.extend(rows),
            Err(w) => out.warnings.push(w),
        }
    }
    out
}

/// Sockets of the selected namespaces, with owning processes.
pub fn sockets(
    sel: &Selection,
    filter: &sockets::Filter,
) -> Result<Collected<sockets::SockEntry>, String> {
    let namespaces = netns::select(sel)?;
    let owners = std::thread::scope(|s| {
        // The /proc scan does not depend on the namespace: run it alongside the dumps.
        let scan = s.spawn(sockets::socket_owners);
        let got = each(&namespaces, |label| {
            let diag = nldump::open(NETLINK_SOCK_DIAG)?;
            let mut rows = sockets::dump(&diag, filter).map_err(|e| format!("socket dump: {e}"))?;
            // Device names are only needed for sockets bound to one (VRF members):
            // most namespaces have none, and then no link dump is made.
            if rows.iter().any(|r| r.bound_ifindex != 0) {
                let route = nldump::open(NETLINK_ROUTE)?;
                let links = Links::dump(&route).map_err(|e| format!("link dump: {e}"))?;
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
    let (owners, mut got) = owners;
    for r in &mut got.rows {
        if let Some(o) = owners.get(&u64::from(r.inode)) {
            r.process = o.clone();
        }
    }
    single_failure(sel, got)
}

/// Neighbours of the selected namespaces.
pub fn neighbours(
    sel: &Selection,
    family: neigh::Family,
) -> Result<Collected<neigh::Neighbour>, String> {
    let namespaces = netns::select(sel)?;
    let got = each(&namespaces, |label| {
        let sock = nldump::open(NETLINK_ROUTE)?;
        let mut rows = with_stable_links(&sock, "neighbour", |links| {
            neigh::dump(&sock, links, family)
        })?;
        for r in &mut rows {
            r.netns = label.to_string();
        }
        Ok(rows)
    });
    single_failure(sel, got)
}

/// Routes of the selected namespaces in `table` (`all`, `main`, `local`, a number, or a
/// VRF device name).
pub fn routes(sel: &Selection, table: &str) -> Result<Collected<routes::Route>, String> {
    let namespaces = netns::select(sel)?;
    let got = each(&namespaces, |label| {
        let sock = nldump::open(NETLINK_ROUTE)?;
        let mut rows = with_stable_links(&sock, "route", |links| routes::dump(&sock, links))?;
        rows.retain(|r| routes::in_table(r, table));
        for r in &mut rows {
            r.netns = label.to_string();
        }
        Ok(rows)
    });
    single_failure(sel, got)
}

/// How many times rows are read again because the interfaces changed around them.
const LINK_ATTEMPTS: usize = 3;

/// Rows whose device names come from the link table, read until the table was the
/// same before and after the rows' dump (at most [`LINK_ATTEMPTS`] times, then with the
/// newest table). Otherwise a device created between the two dumps, as a namespace
/// is being set up or torn down, would show as `ifN` instead of its name.
fn with_stable_links<T>(
    sock: &netlink_sys::Socket,
    what: &str,
    rows: impl Fn(&Links) -> Result<Vec<T>, nldump::DumpError>,
) -> Result<Vec<T>, String> {
    stable_links(
        || Links::dump(sock).map_err(|e| format!("link dump: {e}")),
        |links| rows(links).map_err(|e| format!("{what} dump: {e}")),
    )
}

fn stable_links<T>(
    mut links_now: impl FnMut() -> Result<Links, String>,
    rows: impl Fn(&Links) -> Result<Vec<T>, String>,
) -> Result<Vec<T>, String> {
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
/// all of them, failures stay warnings.
fn single_failure<T>(sel: &Selection, mut got: Collected<T>) -> Result<Collected<T>, String> {
    match sel {
        Selection::All => {
            got.warnings.extend(netns::hidden_processes_warning());
            Ok(got)
        }
        _ => match got.warnings.first() {
            Some(w) => Err(w.clone()),
            None => Ok(got),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nldump::Link;

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
                next.next().ok_or_else(|| "no more".to_string())
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
                Ok(links(&[(n, "moving")]))
            },
            |l| Ok(vec![l.name(LINK_ATTEMPTS as u32)]),
        );
        assert_eq!(got.unwrap(), vec!["moving".to_string()]);
        assert_eq!(n as usize, LINK_ATTEMPTS);
    }
}
