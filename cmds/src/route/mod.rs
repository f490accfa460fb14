//! `netkit route`: routes of every table, multipath, nexthop objects and MPLS, in one
//! namespace or all of them, from `netkit_os::netlink::routes`. This module picks the
//! table the user asked for ([`in_table`]) and shows the routes.

pub mod report;
pub mod view;

pub use report::{Lookup, Nexthop, Route};

/// The table the user asked for, as far as it can be told without looking into a
/// namespace: every table, one table by number (a name from `rt_tables` already turned
/// into its number), or a name that can only be a VRF device (checked per namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableSpec {
    All,
    Id(u32),
    Vrf(String),
}

/// `--table` that is not even well formed (clap reports it: a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadTable {
    #[error("empty table name")]
    Empty,
    #[error("'{0}' is not a table number: table ids are 0 to 4294967295")]
    OutOfRange(String),
}

/// Checks the form of `--table`: a number must fit a table id (u32), as `ip route`
/// refuses `table 99999999999`; names are looked up later.
pub fn check_table_arg(wanted: &str) -> Result<String, BadTable> {
    let w = wanted.trim();
    if w.is_empty() {
        return Err(BadTable::Empty);
    }
    if w.bytes().all(|b| b.is_ascii_digit()) && w.parse::<u32>().is_err() {
        return Err(BadTable::OutOfRange(w.to_string()));
    }
    Ok(w.to_string())
}

/// Turns `--table` into a [`TableSpec`]: `all`; `main`, `local`, `default`; a number;
/// a name of `rt_tables` (`named`: number, name pairs from iproute2's files); any
/// other name is a VRF device name.
pub fn parse_table(wanted: &str, named: &[(u32, String)]) -> Result<TableSpec, BadTable> {
    let w = check_table_arg(wanted)?;
    Ok(match w.as_str() {
        "all" => TableSpec::All,
        "default" => TableSpec::Id(253),
        "main" => TableSpec::Id(254),
        "local" => TableSpec::Id(255),
        _ => match w.parse::<u32>() {
            Ok(n) => TableSpec::Id(n),
            Err(_) => match named.iter().find(|(_, name)| *name == w) {
                Some((id, _)) => TableSpec::Id(*id),
                None => TableSpec::Vrf(w),
            },
        },
    })
}

/// Parses iproute2's `rt_tables` files: `NUMBER NAME` per line, `#` comments.
pub fn parse_rt_tables(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or_default();
            let mut f = l.split_whitespace();
            let id = f.next()?.parse::<u32>().ok()?;
            Some((id, f.next()?.to_string()))
        })
        .collect()
}

/// Does `route` belong to the table the user asked for?
pub fn in_table(route: &Route, wanted: &TableSpec) -> bool {
    match wanted {
        TableSpec::All => true,
        TableSpec::Id(n) => route.table == table_name(*n),
        TableSpec::Vrf(v) => route.vrf.as_deref() == Some(v.as_str()),
    }
}

/// The name `ip route` gives a table number: `main`, `local`, `default`, or the number.
pub fn table_name(t: u32) -> String {
    match t {
        253 => "default".to_string(),
        254 => "main".to_string(),
        255 => "local".to_string(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_checked_before_any_namespace_is_looked_at() {
        let named = parse_rt_tables("# comment\n255 local\n1001\tblue # VRF\nbad line\n");
        assert_eq!(
            named,
            [(255, "local".to_string()), (1001, "blue".to_string())]
        );
        assert_eq!(parse_table("all", &named), Ok(TableSpec::All));
        assert_eq!(parse_table("main", &named), Ok(TableSpec::Id(254)));
        assert_eq!(parse_table("1001", &named), Ok(TableSpec::Id(1001)));
        assert_eq!(parse_table("blue", &named), Ok(TableSpec::Id(1001)));
        assert_eq!(
            parse_table("nosuch", &named),
            Ok(TableSpec::Vrf("nosuch".into()))
        );
        assert_eq!(
            parse_table("99999999999", &named),
            Err(BadTable::OutOfRange("99999999999".into()))
        );
        assert_eq!(parse_table(" ", &named), Err(BadTable::Empty));
        assert_eq!(check_table_arg("4294967295").as_deref(), Ok("4294967295"));
    }
}
