//! `netkit route`: routes of every table, multipath, nexthop objects and MPLS, in one
//! namespace or all of them, from `netkit_os::netlink::routes`. This module picks the
//! table the user asked for ([`in_table`]) and shows the routes.

pub mod report;
pub mod view;

pub use report::{Nexthop, Route};

/// Does `route` belong to the table the user asked for? `all`; a table name or number
/// (`main`, `local`, `254`, `1001`); or a VRF device name, which means its table.
pub fn in_table(route: &Route, wanted: &str) -> bool {
    if wanted == "all" {
        return true;
    }
    let wanted_name = wanted
        .parse::<u32>()
        .map(table_name)
        .unwrap_or_else(|_| wanted.to_string());
    route.table == wanted_name || route.vrf.as_deref() == Some(wanted)
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
