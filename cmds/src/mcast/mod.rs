//! `netkit mcast`: group -> MAC maps, reverse MAC lookups, plan checks, and the groups
//! joined on this host per namespace and interface.
//!
//! The arithmetic and the protocol knowledge (scopes, registries, virtual MACs) live in
//! `netkit_dissectors::mcast`; the advice (flooding traps, collisions) in [`rules`].
//! This module turns both into the reports of docs/CLI.md ([`report`]), which
//! [`view`] prints. The /proc files of `mcast groups` are read by `netkit_os`
//! inside each namespace; their text is parsed here.

pub mod report;
pub mod rules;
pub mod view;

use netkit_dissectors::link::Mac;
use netkit_dissectors::mcast::{classify_mac, well_known_name};
pub use report::*;
use rules::{classify, GroupInfo, MacCollisions};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an `mcast` command could not do its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McastError {
    #[error("no group given: mcast map ADDR...")]
    NoGroup,
    #[error("no group to check: give ADDR... or --plan FILE (- for stdin)")]
    NothingToCheck,
    #[error("'{0}' is not an IPv4 or IPv6 address")]
    NotAnAddress(String),
    #[error("{0}")]
    NotMulticast(#[from] rules::NotMulticast),
    #[error("'{text}' is not a MAC address: {why}")]
    NotAMac { text: String, why: String },
    #[error("{file} line {line}: {why}")]
    BadPlanLine {
        file: String,
        line: usize,
        why: Box<McastError>,
    },
}

pub(crate) fn family(group: IpAddr) -> &'static str {
    match group {
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
    }
}

impl From<GroupInfo> for MapEntry {
    fn from(i: GroupInfo) -> Self {
        MapEntry {
            group: i.group.to_string(),
            family: family(i.group),
            mac: i.mac.to_string(),
            scope: i.scope,
            name: i.name,
            warnings: i
                .warnings
                .into_iter()
                .map(|w| WarningOut {
                    code: w.code.code().to_string(),
                    message: w.message,
                })
                .collect(),
            scope_description: i.scope.description(),
            ssm: i.ssm,
            glop_as: i.glop_as,
            ipv6: i.ipv6,
        }
    }
}

fn parse_group(text: &str) -> Result<IpAddr, McastError> {
    let text = text.trim();
    // Accept the [v6] form people paste from ip:port strings.
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map_err(|_| McastError::NotAnAddress(text.to_string()))
}

fn info_for(text: &str) -> Result<GroupInfo, McastError> {
    Ok(classify(parse_group(text)?)?)
}

/// `mcast map ADDR...`: fails on the first address that is not a multicast group.
pub fn map(addrs: &[String]) -> Result<Vec<MapEntry>, McastError> {
    if addrs.is_empty() {
        return Err(McastError::NoGroup);
    }
    addrs
        .iter()
        .map(|a| info_for(a).map(MapEntry::from))
        .collect()
}

/// `mcast reverse MAC`, any notation.
pub fn reverse(mac_text: &str) -> Result<ReverseEntry, McastError> {
    let mac: Mac = mac_text
        .parse()
        .map_err(
            |e: netkit_dissectors::link::MacParseError| McastError::NotAMac {
                text: mac_text.trim().to_string(),
                why: e.to_string(),
            },
        )?;
    let info = classify_mac(mac);
    let candidates = info
        .groups
        .iter()
        .map(|g| Candidate {
            group: g.to_string(),
            scope: classify(*g).ok().map(|i| i.scope),
            name: well_known_name(*g),
        })
        .collect();
    Ok(ReverseEntry {
        mac: mac.to_string(),
        kind: info.kind,
        groups: info.groups.iter().map(|g| g.to_string()).collect(),
        group_id: info.group_id,
        note: info.note,
        forwarder: info.forwarder,
        candidates,
    })
}

/// One line of a plan: a group and whatever text followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanItem {
    pub group: IpAddr,
    pub label: Option<String>,
    /// The plan file's line number (None for groups given as arguments).
    pub line: Option<usize>,
}

/// Reads a plan: one group per line, first field (space, tab or comma separated), the
/// rest of the line is a label; blank lines and `#` comments are ignored. Every bad
/// line is reported (not only the first), each with its line number, beside the good
/// ones, so one run shows everything to fix.
pub fn parse_plan(text: &str, source: &str) -> (Vec<PlanItem>, Vec<PlanLineError>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (first, rest) = match line.find(|c: char| c.is_whitespace() || c == ',') {
            Some(i) => (
                line.get(..i).unwrap_or(line),
                line.get(i + 1..).unwrap_or(""),
            ),
            None => (line, ""),
        };
        // A line that is not a multicast group is as bad as one that is no address.
        let group =
            match parse_group(first).and_then(|g| classify(g).map(|_| g).map_err(Into::into)) {
                Ok(g) => g,
                Err(e) => {
                    bad.push(PlanLineError {
                        file: source.to_string(),
                        line: n + 1,
                        message: McastError::BadPlanLine {
                            file: source.to_string(),
                            line: n + 1,
                            why: Box::new(e),
                        }
                        .to_string(),
                    });
                    continue;
                }
            };
        let label = rest.trim_matches(|c: char| c.is_whitespace() || c == ',');
        out.push(PlanItem {
            group,
            label: (!label.is_empty()).then(|| label.to_string()),
            line: Some(n + 1),
        });
    }
    (out, bad)
}

/// `mcast check`: which groups share a MAC and which fall into flooding traps.
pub fn check(items: &[PlanItem]) -> Result<CheckReport, McastError> {
    if items.is_empty() {
        return Err(McastError::NothingToCheck);
    }
    let mut seen: Vec<IpAddr> = Vec::new();
    let mut collisions = MacCollisions::new();
    let mut warnings = Vec::new();
    let mut duplicates: Vec<Duplicate> = Vec::new();
    for item in items {
        if seen.contains(&item.group) {
            // The same group twice in a plan: two feeds would share it.
            let group = item.group.to_string();
            match duplicates.iter_mut().find(|d| d.group == group) {
                Some(d) => {
                    d.count += 1;
                    d.lines.extend(item.line);
                }
                None => {
                    let first = items.iter().find(|i| i.group == item.group);
                    duplicates.push(Duplicate {
                        group,
                        count: 2,
                        lines: first
                            .and_then(|f| f.line)
                            .into_iter()
                            .chain(item.line)
                            .collect(),
                    });
                }
            }
            continue;
        }
        let info = classify(item.group)?;
        seen.push(item.group);
        collisions.add(item.group);
        warnings.extend(info.warnings.into_iter().map(|w| GroupWarning {
            group: item.group.to_string(),
            code: w.code.code().to_string(),
            message: w.message,
            label: item.label.clone(),
        }));
    }
    Ok(CheckReport {
        collisions: collisions
            .collisions()
            .into_iter()
            .map(CollisionOut::from)
            .collect(),
        warnings,
        duplicates,
        bad_lines: Vec::new(),
        checked: seen.len(),
    })
}

pub fn check_args(addrs: &[String]) -> Result<Vec<PlanItem>, McastError> {
    addrs
        .iter()
        .map(|a| {
            parse_group(a).map(|group| PlanItem {
                group,
                label: None,
                line: None,
            })
        })
        .collect()
}

/// Parses /proc/net/igmp (kernel `igmp_mc_seq_show`): a header, then per device
/// `idx\tname: count querier` and per group `\t\t\t\tGROUP users timer\treporter`.
/// The group is the big-endian address printed as a native-endian u32, so on
/// little-endian hosts 224.0.0.1 reads `010000E0`.
pub fn parse_igmp(text: &str) -> Vec<Membership> {
    let mut out = Vec::new();
    let mut device: Option<(u32, String)> = None;
    for line in text.lines().skip(1) {
        if line.starts_with('\t') {
            let mut fields = line.split_whitespace();
            let (Some(hex), Some(users)) = (fields.next(), fields.next()) else {
                continue;
            };
            let (Ok(raw), Some((ifindex, name))) = (u32::from_str_radix(hex, 16), &device) else {
                continue;
            };
            out.push(Membership {
                ifindex: *ifindex,
                interface: name.clone(),
                group: IpAddr::V4(Ipv4Addr::from(raw.to_ne_bytes())),
                users: users.parse().unwrap_or(0),
            });
        } else if let Some((head, _)) = line.split_once(':') {
            let mut fields = head.split_whitespace();
            device = match (fields.next().and_then(|i| i.parse().ok()), fields.next()) {
                (Some(idx), Some(name)) => Some((idx, name.to_string())),
                _ => None,
            };
        }
    }
    out
}

/// Parses /proc/net/igmp6: `ifindex name group(32 hex) users flags timer`.
pub fn parse_igmp6(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let ifindex = f.first()?.parse().ok()?;
            let interface = f.get(1)?.to_string();
            let raw = u128::from_str_radix(f.get(2)?, 16).ok()?;
            if f.get(2)?.len() != 32 {
                return None;
            }
            Some(Membership {
                ifindex,
                interface,
                group: IpAddr::V6(Ipv6Addr::from(raw)),
                users: f.get(3).and_then(|u| u.parse().ok()).unwrap_or(0),
            })
        })
        .collect()
}

/// Parses /proc/net/dev_mcast: `ifindex name refcount global_use mac(12 hex)`.
pub fn parse_dev_mcast(text: &str) -> Vec<LinkFilter> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(LinkFilter {
                ifindex: f.first()?.parse().ok()?,
                interface: f.get(1)?.to_string(),
                mac: f.get(4)?.parse().ok()?,
            })
        })
        .collect()
}

/// Builds the rows of one namespace from its /proc files.
pub fn joined_groups(netns_label: &str, files: &ProcMulticast) -> Vec<JoinedGroup> {
    let filters = parse_dev_mcast(&files.dev_mcast);
    let memberships: Vec<Membership> = parse_igmp(&files.igmp)
        .into_iter()
        .chain(parse_igmp6(&files.igmp6))
        .collect();
    let mut per_interface: BTreeMap<u32, MacCollisions> = BTreeMap::new();
    for m in &memberships {
        per_interface.entry(m.ifindex).or_default().add(m.group);
    }
    memberships
        .iter()
        .filter_map(|m| {
            let info = classify(m.group).ok()?;
            let collisions = per_interface
                .get(&m.ifindex)
                .map(|c| {
                    c.collisions()
                        .into_iter()
                        .filter(|c| c.mac == info.mac)
                        .flat_map(|c| c.groups)
                        .filter(|g| *g != m.group)
                        .map(|g| g.to_string())
                        .collect()
                })
                .unwrap_or_default();
            Some(JoinedGroup {
                netns: netns_label.to_string(),
                interface: m.interface.clone(),
                group: m.group.to_string(),
                mac: info.mac.to_string(),
                family: family(m.group),
                ifindex: m.ifindex,
                users: m.users,
                name: info.name,
                scope: Some(info.scope),
                in_dev_mcast: filters
                    .iter()
                    .any(|f| f.ifindex == m.ifindex && f.mac == info.mac),
                collisions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::view::{render_groups, render_map, render_reverse};
    use super::*;
    use crate::output::Term;
    use netkit_dissectors::mcast::{MacKind, Scope};
    use serde_json::json;

    #[test]
    fn map_json_matches_contract() {
        let v = serde_json::to_value(map(&["225.0.0.5".to_string()]).unwrap()).unwrap();
        assert_eq!(
            v,
            json!([{
                "group": "225.0.0.5",
                "family": "ipv4",
                "mac": "01:00:5e:00:00:05",
                "scope": "reserved",
                "name": null,
                "warnings": [
                    {"code": "mac_shared_with_link_local",
                     "message": "225.0.0.5 maps to 01:00:5e:00:00:05, the MAC of 224.0.0.5 \
                        (OSPF AllSPFRouters): switches that snoop by MAC may flood it to every \
                        port like 224.0.0.0/24; pick a group whose second and third octets are \
                        not 0.0 or 128.0"},
                    {"code": "reserved",
                     "message": "225.0.0.5 is in IANA-reserved multicast space"}
                ],
                "scope_description": "reserved",
                "ssm": false,
                "glop_as": null,
                "ipv6": null
            }])
        );
        let v = serde_json::to_value(map(&["[ff02::1:ff00:2]".to_string()]).unwrap()).unwrap();
        assert_eq!(v[0]["family"], "ipv6");
        assert_eq!(v[0]["mac"], "33:33:ff:00:00:02");
        assert_eq!(v[0]["scope"], "link_local");
        assert_eq!(v[0]["name"], "Solicited-Node");
        assert_eq!(v[0]["ipv6"]["solicited_node_for"], "00:0002");
        let v = serde_json::to_value(map(&["233.22.30.7".to_string()]).unwrap()).unwrap();
        assert_eq!(
            (v[0]["scope"].clone(), v[0]["glop_as"].clone()),
            (json!("glop"), json!(5662))
        );
    }

    #[test]
    fn map_errors_name_the_address() {
        assert_eq!(
            map(&["224.0.0.1".into(), "10.1.2.3".into()])
                .unwrap_err()
                .to_string(),
            "10.1.2.3 is not a multicast group (IPv4 groups are 224.0.0.0/4)"
        );
        assert_eq!(
            map(&["bogus".into()]).unwrap_err().to_string(),
            "'bogus' is not an IPv4 or IPv6 address"
        );
        assert_eq!(
            map(&[]).unwrap_err().to_string(),
            "no group given: mcast map ADDR..."
        );
    }

    #[test]
    fn reverse_json_matches_contract() {
        let v = serde_json::to_value(reverse("0000.0c9f.f00a").unwrap()).unwrap();
        assert_eq!(
            v,
            json!({
                "mac": "00:00:0c:9f:f0:0a",
                "kind": "hsrp_v2",
                "groups": ["224.0.0.102"],
                "group_id": 10,
                "note": "HSRPv2 virtual MAC, group 10 (0x00a); hellos to 224.0.0.102 UDP 1985",
                "forwarder": null,
                "candidates": [{"group": "224.0.0.102", "scope": "link_local", "name": "HSRPv2 / GLBP"}]
            })
        );
        let r = reverse("01-00-5E-7F-FF-FA").unwrap();
        assert_eq!(r.kind, MacKind::Ipv4Multicast);
        assert_eq!(r.groups.len(), 32);
        assert_eq!(
            r.groups.first().map(String::as_str),
            Some("224.127.255.250")
        );
        assert_eq!(r.groups.last().map(String::as_str), Some("239.255.255.250"));
        let ssdp = r.candidates.last().unwrap();
        assert_eq!(
            (ssdp.name, ssdp.scope),
            (Some("SSDP"), Some(Scope::AdminLocalScope))
        );
        assert_eq!(
            reverse("01:00:5e:00:05").unwrap_err().to_string(),
            "'01:00:5e:00:05' is not a MAC address: 5 octets, a MAC has 6"
        );
    }

    #[test]
    fn plan_parsing() {
        let text = "# plan\n239.1.1.1 camera feeds\n\n239.129.1.1,backup\n 225.1.1.1 # old\n";
        let (p, bad) = parse_plan(text, "plan.txt");
        assert!(bad.is_empty());
        assert_eq!(
            p,
            vec![
                PlanItem {
                    group: "239.1.1.1".parse().unwrap(),
                    label: Some("camera feeds".into()),
                    line: Some(2),
                },
                PlanItem {
                    group: "239.129.1.1".parse().unwrap(),
                    label: Some("backup".into()),
                    line: Some(4),
                },
                PlanItem {
                    group: "225.1.1.1".parse().unwrap(),
                    label: None,
                    line: Some(5),
                },
            ]
        );
        // Every bad line, with its number; the good ones are still read.
        let (good, bad) = parse_plan("239.1.1.1\nfoo bar\n10.0.0.1\n239.1.1.2\n", "plan.txt");
        assert_eq!(good.len(), 2);
        let msgs: Vec<String> = bad.iter().map(|b| b.message.clone()).collect();
        assert_eq!(
            msgs,
            [
                "plan.txt line 2: 'foo' is not an IPv4 or IPv6 address",
                "plan.txt line 3: 10.0.0.1 is not a multicast group (IPv4 groups are 224.0.0.0/4)"
            ]
        );
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn check_finds_collisions_and_traps() {
        let (items, _) = parse_plan(
            "239.1.1.1 feed A\n239.129.1.1 feed B\n239.0.0.7\n239.192.0.1\n239.1.1.1 dup\n",
            "p",
        );
        let v = serde_json::to_value(check(&items).unwrap()).unwrap();
        assert_eq!(
            v["collisions"],
            json!([{"mac": "01:00:5e:01:01:01", "groups": ["239.1.1.1", "239.129.1.1"]}])
        );
        assert_eq!(v["checked"], 4);
        let codes: Vec<(String, String)> = v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["group"].as_str().unwrap().into(),
                    w["code"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            codes,
            vec![
                ("239.1.1.1".to_string(), "admin_scoped".to_string()),
                ("239.129.1.1".into(), "admin_scoped".into()),
                ("239.0.0.7".into(), "mac_shared_with_link_local".into()),
                ("239.0.0.7".into(), "admin_scoped".into()),
                // 239.192.0.0/14 is the range the warnings recommend: no warning.
            ]
        );
        assert_eq!(
            v["duplicates"],
            json!([{"group": "239.1.1.1", "count": 2, "lines": [1, 5]}])
        );
        assert_eq!(v["warnings"][0]["label"], "feed A");
        assert_eq!(
            check(&check_args(&["239.1.1.1".into(), "192.0.2.1".into()]).unwrap())
                .unwrap_err()
                .to_string(),
            "192.0.2.1 is not a multicast group (IPv4 groups are 224.0.0.0/4)"
        );
    }

    /// The fixture of note §B7, captured on a 6.18 kernel.
    const IGMP: &str = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
1\tlo        :     1      V3\n\
\t\t\t\t010000E0     1 0:00000000\t\t0\n\
4\teth0      :     1      V3\n\
\t\t\t\t010000E0     1 0:00000000\t\t0\n";
    const IGMP6: &str = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
4    eth0            ff0200000000000000000001ff000002     1 00000004 0\n\
4    eth0            ff020000000000000000000000000001     1 0000000C 0\n";
    const DEV_MCAST: &str = "4    eth0            1     0     333300000001\n\
4    eth0            1     0     01005e000001\n\
4    eth0            1     0     3333ff000002\n";

    #[test]
    fn parses_proc_fixture() {
        let igmp = parse_igmp(IGMP);
        let first = u32::from_str_radix("010000E0", 16).unwrap().to_ne_bytes();
        // On little-endian hosts the kernel's text is the reversed address.
        if cfg!(target_endian = "little") {
            assert_eq!(Ipv4Addr::from(first), Ipv4Addr::new(224, 0, 0, 1));
            assert_eq!(
                igmp,
                vec![
                    Membership {
                        ifindex: 1,
                        interface: "lo".into(),
                        group: "224.0.0.1".parse().unwrap(),
                        users: 1
                    },
                    Membership {
                        ifindex: 4,
                        interface: "eth0".into(),
                        group: "224.0.0.1".parse().unwrap(),
                        users: 1
                    },
                ]
            );
        }
        assert_eq!(
            parse_igmp6(IGMP6)
                .iter()
                .map(|m| (m.ifindex, m.interface.as_str(), m.group.to_string()))
                .collect::<Vec<_>>(),
            vec![
                (1, "lo", "ff02::1".to_string()),
                (4, "eth0", "ff02::1:ff00:2".to_string()),
                (4, "eth0", "ff02::1".to_string()),
            ]
        );
        assert_eq!(
            parse_dev_mcast(DEV_MCAST)
                .iter()
                .map(|f| f.mac.to_string())
                .collect::<Vec<_>>(),
            vec![
                "33:33:00:00:00:01",
                "01:00:5e:00:00:01",
                "33:33:ff:00:00:02"
            ]
        );
        // Header only: a fresh namespace whose lo is down.
        assert!(
            parse_igmp("Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n")
                .is_empty()
        );
        assert!(parse_igmp6("garbage line\n1 lo nothex 1 0 0\n").is_empty());
    }

    #[test]
    fn joined_groups_rows_and_collisions() {
        if cfg!(target_endian = "big") {
            return;
        }
        let files = ProcMulticast {
            igmp: format!(
                "{IGMP}5\tveth-nk       :     2      V3\n\t\t\t\t010101EF     1 0:00000000\t\t0\n\
                 \t\t\t\t010181EF     2 0:00000000\t\t0\n"
            ),
            igmp6: IGMP6.into(),
            dev_mcast: format!("{DEV_MCAST}5    veth-nk         2     0     01005e010101\n"),
        };
        let rows = joined_groups("blue", &files);
        let v = serde_json::to_value(&rows).unwrap();
        assert_eq!(
            v[1],
            json!({
                "netns": "blue", "interface": "eth0", "group": "224.0.0.1",
                "mac": "01:00:5e:00:00:01", "family": "ipv4", "ifindex": 4, "users": 1,
                "name": "All Systems on this Subnet", "scope": "link_local",
                "in_dev_mcast": true, "collisions": []
            })
        );
        assert_eq!(v[0]["in_dev_mcast"], false, "lo has no dev_mcast entries");
        assert_eq!(v[2]["group"], "239.1.1.1");
        assert_eq!(v[2]["collisions"], json!(["239.129.1.1"]));
        assert_eq!(v[3]["group"], "239.129.1.1");
        assert_eq!(v[3]["users"], 2);
        assert_eq!(v[3]["collisions"], json!(["239.1.1.1"]));
        assert_eq!(v[5]["group"], "ff02::1:ff00:2");
        assert_eq!(v[5]["in_dev_mcast"], true);
        assert_eq!(rows.len(), 7);
        let text = render_groups(
            &GroupsReport {
                groups: rows,
                errors: vec![],
                problems: vec![],
            },
            &Term::default(),
        );
        assert!(
            text.contains("  blue veth-nk 01:00:5e:01:01:01: 239.1.1.1, 239.129.1.1\n"),
            "{text}"
        );
    }

    #[test]
    fn tables_render() {
        let t = render_map(
            &map(&["239.0.0.1".into(), "ff02::fb".into()]).unwrap(),
            &Term::default(),
        );
        assert!(t.contains("01:00:5e:00:00:01"), "{t}");
        assert!(t.contains("mDNSv6"), "{t}");
        assert!(t.contains("239.0.0.1 [mac_shared_with_link_local]"), "{t}");
        let t = render_reverse(&reverse("01:00:5e:00:00:05").unwrap(), &Term::default());
        assert!(t.contains("239.128.0.5"), "{t}");
        assert!(t.contains("OSPF AllSPFRouters"), "{t}");
    }
}
