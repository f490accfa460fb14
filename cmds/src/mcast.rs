//! `netkit mcast`: group -> MAC maps, reverse MAC lookups, plan checks, and the groups
//! joined on this host per namespace and interface.
//!
//! The arithmetic and rules live in `netkit_dissectors::mcast`; this module turns them
//! into the views of CLI.md (serde structs whose field names are the JSON contract) and
//! tables, and reads `/proc/thread-self/net/{igmp,igmp6,dev_mcast}` inside namespaces.

use crate::netns::{self, Netns, Selection};
use netkit_dissectors::mcast::{
    classify, classify_mac, ipv4_scope, parse_mac, well_known_name, GroupInfo, Ipv6GroupDetail,
    MacAddr, MacCollisions, MacKind, Scope,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tabled::Tabled;

fn family(group: IpAddr) -> &'static str {
    match group {
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
    }
}

// ---------------------------------------------------------------------------------
// map

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarningOut {
    pub code: String,
    pub message: String,
}

/// One element of `mcast map --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapEntry {
    pub group: String,
    pub family: &'static str,
    pub mac: String,
    pub scope: Scope,
    pub name: Option<&'static str>,
    pub warnings: Vec<WarningOut>,
    /// Human wording of `scope`.
    pub scope_description: &'static str,
    /// SSM group (232/8, ff3x::/32).
    pub ssm: bool,
    /// AS number of a GLOP (233/8) group.
    pub glop_as: Option<u16>,
    /// IPv6 flags, embedded RP, unicast prefix, solicited-node target; null for IPv4.
    pub ipv6: Option<Ipv6GroupDetail>,
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

fn parse_group(text: &str) -> Result<IpAddr, String> {
    let text = text.trim();
    // Accept the [v6] form people paste from ip:port strings.
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map_err(|_| format!("'{text}' is not an IPv4 or IPv6 address"))
}

fn info_for(text: &str) -> Result<GroupInfo, String> {
    let group = parse_group(text)?;
    classify(group).map_err(|e| e.to_string())
}

/// `mcast map ADDR...`: fails on the first address that is not a multicast group.
pub fn map(addrs: &[String]) -> Result<Vec<MapEntry>, String> {
    if addrs.is_empty() {
        return Err("no group given: mcast map ADDR...".to_string());
    }
    addrs
        .iter()
        .map(|a| info_for(a).map(MapEntry::from))
        .collect()
}

#[derive(Tabled)]
struct MapRow {
    #[tabled(rename = "GROUP")]
    group: String,
    #[tabled(rename = "MAC")]
    mac: String,
    #[tabled(rename = "SCOPE")]
    scope: String,
    #[tabled(rename = "NAME")]
    name: String,
}

fn table<R: Tabled>(rows: Vec<R>) -> String {
    crate::output::table(rows)
}

fn warning_lines(out: &mut String, subject: &str, warnings: &[WarningOut]) {
    for w in warnings {
        out.push_str(&format!("  {subject} [{}] {}\n", w.code, w.message));
    }
}

pub fn render_map(entries: &[MapEntry]) -> String {
    let rows = entries
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
            MapRow {
                group: e.group.clone(),
                mac: e.mac.clone(),
                scope,
                name: e.name.unwrap_or("").to_string(),
            }
        })
        .collect();
    let mut out = table(rows);
    out.push('\n');
    if entries.iter().any(|e| !e.warnings.is_empty()) {
        out.push_str("Warnings:\n");
        for e in entries {
            warning_lines(&mut out, &e.group, &e.warnings);
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// reverse

/// One candidate group of a reverse lookup, annotated so the likely one stands out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub group: String,
    pub scope: Option<Scope>,
    pub name: Option<&'static str>,
}

/// `mcast reverse --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReverseEntry {
    pub mac: String,
    pub kind: MacKind,
    pub groups: Vec<String>,
    pub group_id: Option<u16>,
    pub note: String,
    /// GLBP forwarder number.
    pub forwarder: Option<u8>,
    /// `groups` with scope and well-known name.
    pub candidates: Vec<Candidate>,
}

/// `mcast reverse MAC`, any notation.
pub fn reverse(mac_text: &str) -> Result<ReverseEntry, String> {
    let mac: MacAddr = parse_mac(mac_text)
        .map_err(|e| format!("'{}' is not a MAC address: {e}", mac_text.trim()))?;
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

#[derive(Tabled)]
struct CandidateRow {
    #[tabled(rename = "GROUP")]
    group: String,
    #[tabled(rename = "SCOPE")]
    scope: String,
    #[tabled(rename = "NAME")]
    name: String,
}

pub fn render_reverse(r: &ReverseEntry) -> String {
    let mut out = format!("{}  {}\n{}\n", r.mac, r.kind, r.note);
    if let Some(id) = r.group_id {
        out.push_str(&format!("group id: {id} (0x{id:x})\n"));
    }
    if !r.candidates.is_empty() {
        let rows = r
            .candidates
            .iter()
            .map(|c| CandidateRow {
                group: c.group.clone(),
                scope: c.scope.map(|s| s.description()).unwrap_or("").to_string(),
                name: c.name.unwrap_or("").to_string(),
            })
            .collect();
        out.push_str(&table(rows));
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------
// check

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollisionOut {
    pub mac: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupWarning {
    pub group: String,
    pub code: String,
    pub message: String,
    /// The plan file's label for the group, if it had one.
    pub label: Option<String>,
}

/// `mcast check --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub collisions: Vec<CollisionOut>,
    pub warnings: Vec<GroupWarning>,
    /// How many distinct groups were checked.
    pub checked: usize,
}

/// One line of a plan: a group and whatever text followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanItem {
    pub group: IpAddr,
    pub label: Option<String>,
}

/// Reads a plan: one group per line, first field (space, tab or comma separated), the
/// rest of the line is a label; blank lines and `#` comments are ignored.
pub fn parse_plan(text: &str, source: &str) -> Result<Vec<PlanItem>, String> {
    let mut out = Vec::new();
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
        let group = parse_group(first).map_err(|e| format!("{source} line {}: {e}", n + 1))?;
        let label = rest.trim_matches(|c: char| c.is_whitespace() || c == ',');
        out.push(PlanItem {
            group,
            label: (!label.is_empty()).then(|| label.to_string()),
        });
    }
    Ok(out)
}

/// Reads a plan file, `-` for standard input.
pub fn read_plan(path: &str) -> Result<Vec<PlanItem>, String> {
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read the plan from stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read plan {path}: {e}"))?
    };
    let source = if path == "-" { "stdin" } else { path };
    parse_plan(&text, source)
}

/// `mcast check`: which groups share a MAC and which fall into flooding traps.
pub fn check(items: &[PlanItem]) -> Result<CheckReport, String> {
    if items.is_empty() {
        return Err("no group to check: give ADDR... or --plan FILE (- for stdin)".to_string());
    }
    let mut seen: Vec<IpAddr> = Vec::new();
    let mut collisions = MacCollisions::new();
    let mut warnings = Vec::new();
    for item in items {
        if seen.contains(&item.group) {
            continue;
        }
        let info = classify(item.group).map_err(|e| e.to_string())?;
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
            .map(|c| CollisionOut {
                mac: c.mac.to_string(),
                groups: c.groups.iter().map(|g| g.to_string()).collect(),
            })
            .collect(),
        warnings,
        checked: seen.len(),
    })
}

pub fn check_args(addrs: &[String]) -> Result<Vec<PlanItem>, String> {
    addrs
        .iter()
        .map(|a| parse_group(a).map(|group| PlanItem { group, label: None }))
        .collect()
}

#[derive(Tabled)]
struct CollisionRow {
    #[tabled(rename = "MAC")]
    mac: String,
    #[tabled(rename = "GROUPS SHARING IT")]
    groups: String,
}

pub fn render_check(r: &CheckReport) -> String {
    let mut out = String::new();
    if r.collisions.is_empty() {
        out.push_str(&format!(
            "{} group(s): no two share a MAC address.\n",
            r.checked
        ));
    } else {
        out.push_str(&format!(
            "{} group(s), {} MAC collision(s): switches and NICs cannot tell these apart\n",
            r.checked,
            r.collisions.len()
        ));
        let rows = r
            .collisions
            .iter()
            .map(|c| CollisionRow {
                mac: c.mac.clone(),
                groups: c.groups.join(", "),
            })
            .collect();
        out.push_str(&table(rows));
        out.push('\n');
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

// ---------------------------------------------------------------------------------
// groups joined on this host

/// An IPv4 or IPv6 group joined on an interface, from /proc/net/igmp or igmp6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub ifindex: u32,
    pub interface: String,
    pub group: IpAddr,
    pub users: u32,
}

/// A link-layer address in an interface's multicast filter, from /proc/net/dev_mcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFilter {
    pub ifindex: u32,
    pub interface: String,
    pub mac: MacAddr,
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
                mac: parse_mac(f.get(4)?).ok()?,
            })
        })
        .collect()
}

/// The three multicast files of one namespace, read inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcMulticast {
    pub igmp: String,
    pub igmp6: String,
    pub dev_mcast: String,
}

/// Reads the calling thread's namespace's files (`/proc/thread-self/net`, because
/// `/proc/self/net` follows the thread-group leader). A missing file (no IPv6, ...) is
/// read as empty.
pub fn read_proc_multicast() -> ProcMulticast {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/thread-self/net/{name}")).unwrap_or_default()
    };
    ProcMulticast {
        igmp: read("igmp"),
        igmp6: read("igmp6"),
        dev_mcast: read("dev_mcast"),
    }
}

/// One element of `mcast groups --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinedGroup {
    pub netns: String,
    pub interface: String,
    pub group: String,
    pub mac: String,
    pub family: &'static str,
    pub ifindex: u32,
    /// Sockets/users holding the membership.
    pub users: u32,
    pub name: Option<&'static str>,
    pub scope: Option<Scope>,
    /// Whether the MAC is in the interface's link-layer filter (dev_mcast); false is
    /// normal for `lo` and for devices in allmulti/promiscuous mode.
    pub in_dev_mcast: bool,
    /// Other groups joined on the same interface and namespace with the same MAC.
    pub collisions: Vec<String>,
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

/// The outcome of `mcast groups`: rows, plus namespaces that could not be read (with
/// `--all-netns` one unreadable namespace is a warning, not a failure).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupsReport {
    pub groups: Vec<JoinedGroup>,
    pub errors: Vec<String>,
}

/// Reads the joined groups of every selected namespace, each on its own thread inside
/// that namespace.
pub fn groups(sel: &Selection) -> Result<GroupsReport, String> {
    let targets: Vec<Netns> = netns::select(sel)?;
    let mut report = GroupsReport {
        groups: Vec::new(),
        errors: Vec::new(),
    };
    for ns in &targets {
        match netns::run_in(ns, read_proc_multicast) {
            Ok(files) => report.groups.extend(joined_groups(&ns.label, &files)),
            Err(e) if *sel == Selection::All => report.errors.push(e),
            Err(e) => return Err(e),
        }
    }
    if report.groups.is_empty() && !report.errors.is_empty() && report.errors.len() == targets.len()
    {
        return Err(report.errors.first().cloned().unwrap_or_default());
    }
    if *sel == Selection::All {
        report.errors.extend(netns::hidden_processes_warning());
    }
    Ok(report)
}

#[derive(Tabled)]
struct JoinedRow {
    #[tabled(rename = "NETNS")]
    netns: String,
    #[tabled(rename = "INTERFACE")]
    interface: String,
    #[tabled(rename = "GROUP")]
    group: String,
    #[tabled(rename = "MAC")]
    mac: String,
    #[tabled(rename = "NAME")]
    name: String,
}

pub fn render_groups(r: &GroupsReport) -> String {
    let rows = r
        .groups
        .iter()
        .map(|g| JoinedRow {
            netns: g.netns.clone(),
            interface: g.interface.clone(),
            group: g.group.clone(),
            mac: g.mac.clone(),
            name: g.name.unwrap_or("").to_string(),
        })
        .collect();
    let mut out = table(rows);
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

// ---------------------------------------------------------------------------------
// Observations from frames (for `pcap analyze`'s `multicast` section)

/// One group in the `multicast` section of `pcap analyze`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedGroup {
    pub group: String,
    pub mac: String,
    /// Frames sent to the group.
    pub frames: u64,
    /// Source addresses of those frames, sorted.
    pub senders: Vec<String>,
    /// IGMP/MLD membership reports (joins) and leaves (IGMPv2 leave, MLD done, IGMPv3/
    /// MLDv2 records that stop listening) for the group.
    pub joins: u64,
    pub leaves: u64,
    pub name: Option<&'static str>,
    pub scope: Scope,
    /// 1-based frame numbers, for Wireshark's `frame.number == N`.
    pub first_frame: u64,
    pub join_frames: Vec<u64>,
    pub leave_frames: Vec<u64>,
    /// Frames to the group whose destination MAC is not the group's mapped MAC.
    pub mac_mismatch_frames: Vec<u64>,
}

/// The `multicast` section of `pcap analyze`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MulticastSection {
    pub groups: Vec<ObservedGroup>,
    pub collisions: Vec<CollisionOut>,
}

#[derive(Debug, Clone, Default)]
struct GroupState {
    frames: u64,
    senders: std::collections::BTreeSet<IpAddr>,
    joins: u64,
    leaves: u64,
    first_frame: u64,
    join_frames: Vec<u64>,
    leave_frames: Vec<u64>,
    mac_mismatch_frames: Vec<u64>,
}

/// Streaming engine for captures: the analyze pipeline feeds it what the dissectors
/// decoded (multicast traffic and IGMP/MLD membership changes) and reads a snapshot.
/// Non-multicast addresses are ignored. Frame lists keep the first
/// [`MulticastObserver::FRAME_LIST_LIMIT`] frames so memory stays bounded.
#[derive(Debug, Clone, Default)]
pub struct MulticastObserver {
    groups: BTreeMap<IpAddr, GroupState>,
}

impl MulticastObserver {
    pub const FRAME_LIST_LIMIT: usize = 100;
    /// Groups followed at once (about 1 KB each).
    pub const MAX_GROUPS: usize = 10_000;

    pub fn new() -> Self {
        Self::default()
    }

    fn state(&mut self, group: IpAddr, frame: u64) -> Option<&mut GroupState> {
        netkit_dissectors::mcast::group_mac(group)?;
        // A capture of traffic to countless groups (a scan, garbage) keeps the first
        // ones; the report's group list stays readable and memory flat.
        if !self.groups.contains_key(&group) && self.groups.len() >= Self::MAX_GROUPS {
            return None;
        }
        let st = self.groups.entry(group).or_default();
        if st.first_frame == 0 || frame < st.first_frame {
            st.first_frame = frame;
        }
        Some(st)
    }

    /// A frame from `sender` to `group`; `dst_mac` is the frame's Ethernet destination
    /// when the link type has one.
    pub fn traffic(&mut self, frame: u64, sender: IpAddr, group: IpAddr, dst_mac: Option<MacAddr>) {
        let expected = netkit_dissectors::mcast::group_mac(group);
        let Some(st) = self.state(group, frame) else {
            return;
        };
        st.frames += 1;
        st.senders.insert(sender);
        if dst_mac.is_some() && dst_mac != expected {
            push_limited(&mut st.mac_mismatch_frames, frame);
        }
    }

    /// A membership report (IGMP v1/v2 report, IGMPv3/MLDv2 record that listens, MLDv1
    /// report) for `group`.
    pub fn join(&mut self, frame: u64, group: IpAddr) {
        if let Some(st) = self.state(group, frame) {
            st.joins += 1;
            push_limited(&mut st.join_frames, frame);
        }
    }

    /// A leave (IGMPv2 leave, MLDv1 done, a v3 record that stops listening) for `group`.
    pub fn leave(&mut self, frame: u64, group: IpAddr) {
        if let Some(st) = self.state(group, frame) {
            st.leaves += 1;
            push_limited(&mut st.leave_frames, frame);
        }
    }

    pub fn snapshot(&self) -> MulticastSection {
        let mut collisions = MacCollisions::new();
        let groups = self
            .groups
            .iter()
            .filter_map(|(group, st)| {
                let info = classify(*group).ok()?;
                collisions.add(*group);
                Some(ObservedGroup {
                    group: group.to_string(),
                    mac: info.mac.to_string(),
                    frames: st.frames,
                    senders: st.senders.iter().map(|s| s.to_string()).collect(),
                    joins: st.joins,
                    leaves: st.leaves,
                    name: info.name,
                    scope: info.scope,
                    first_frame: st.first_frame,
                    join_frames: st.join_frames.clone(),
                    leave_frames: st.leave_frames.clone(),
                    mac_mismatch_frames: st.mac_mismatch_frames.clone(),
                })
            })
            .collect();
        MulticastSection {
            groups,
            collisions: collisions
                .collisions()
                .into_iter()
                .map(|c| CollisionOut {
                    mac: c.mac.to_string(),
                    groups: c.groups.iter().map(|g| g.to_string()).collect(),
                })
                .collect(),
        }
    }
}

fn push_limited(list: &mut Vec<u64>, frame: u64) {
    if list.len() < MulticastObserver::FRAME_LIST_LIMIT {
        list.push(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            map(&["224.0.0.1".into(), "10.1.2.3".into()]).unwrap_err(),
            "10.1.2.3 is not a multicast group (IPv4 groups are 224.0.0.0/4)"
        );
        assert_eq!(
            map(&["bogus".into()]).unwrap_err(),
            "'bogus' is not an IPv4 or IPv6 address"
        );
        assert_eq!(map(&[]).unwrap_err(), "no group given: mcast map ADDR...");
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
            reverse("01:00:5e:00:05").unwrap_err(),
            "'01:00:5e:00:05' is not a MAC address: 5 octets, a MAC has 6"
        );
    }

    #[test]
    fn plan_parsing() {
        let text = "# plan\n239.1.1.1 camera feeds\n\n239.129.1.1,backup\n 225.1.1.1 # old\n";
        let p = parse_plan(text, "plan.txt").unwrap();
        assert_eq!(
            p,
            vec![
                PlanItem {
                    group: "239.1.1.1".parse().unwrap(),
                    label: Some("camera feeds".into())
                },
                PlanItem {
                    group: "239.129.1.1".parse().unwrap(),
                    label: Some("backup".into())
                },
                PlanItem {
                    group: "225.1.1.1".parse().unwrap(),
                    label: None
                },
            ]
        );
        assert_eq!(
            parse_plan("239.1.1.1\nfoo bar\n", "plan.txt").unwrap_err(),
            "plan.txt line 2: 'foo' is not an IPv4 or IPv6 address"
        );
    }

    #[test]
    fn check_finds_collisions_and_traps() {
        let items = parse_plan(
            "239.1.1.1 feed A\n239.129.1.1 feed B\n239.0.0.7\n239.192.0.1\n239.1.1.1 dup\n",
            "p",
        )
        .unwrap();
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
                ("239.192.0.1".into(), "admin_scoped".into()),
            ]
        );
        assert_eq!(v["warnings"][0]["label"], "feed A");
        assert_eq!(
            check(&check_args(&["239.1.1.1".into(), "192.0.2.1".into()]).unwrap()).unwrap_err(),
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
        let text = render_groups(&GroupsReport {
            groups: rows,
            errors: vec![],
        });
        assert!(
            text.contains("  blue veth-nk 01:00:5e:01:01:01: 239.1.1.1, 239.129.1.1\n"),
            "{text}"
        );
    }

    #[test]
    fn tables_render() {
        let t = render_map(&map(&["239.0.0.1".into(), "ff02::fb".into()]).unwrap());
        assert!(t.contains("01:00:5e:00:00:01"), "{t}");
        assert!(t.contains("mDNSv6"), "{t}");
        assert!(t.contains("239.0.0.1 [mac_shared_with_link_local]"), "{t}");
        let t = render_reverse(&reverse("01:00:5e:00:00:05").unwrap());
        assert!(t.contains("239.128.0.5"), "{t}");
        assert!(t.contains("OSPF AllSPFRouters"), "{t}");
    }
    #[test]
    fn observer_counts_traffic_joins_leaves_and_collisions() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let mut o = MulticastObserver::new();
        let good = Some(parse_mac("01:00:5e:01:01:01").unwrap());
        o.join(3, ip("239.1.1.1"));
        o.traffic(5, ip("10.0.0.1"), ip("239.1.1.1"), good);
        o.traffic(6, ip("10.0.0.2"), ip("239.1.1.1"), good);
        o.traffic(7, ip("10.0.0.1"), ip("239.1.1.1"), Some(MacAddr::BROADCAST));
        o.traffic(8, ip("10.0.0.9"), ip("239.129.1.1"), None);
        o.leave(9, ip("239.1.1.1"));
        o.traffic(10, ip("10.0.0.1"), ip("10.0.0.2"), None);
        o.join(11, ip("ff02::fb"));
        let v = serde_json::to_value(o.snapshot()).unwrap();
        assert_eq!(
            v["groups"][0],
            json!({
                "group": "239.1.1.1", "mac": "01:00:5e:01:01:01", "frames": 3,
                "senders": ["10.0.0.1", "10.0.0.2"], "joins": 1, "leaves": 1,
                "name": null, "scope": "admin_reserved", "first_frame": 3,
                "join_frames": [3], "leave_frames": [9], "mac_mismatch_frames": [7]
            })
        );
        assert_eq!(v["groups"][1]["group"], "239.129.1.1");
        assert_eq!(v["groups"][2]["group"], "ff02::fb");
        assert_eq!(v["groups"][2]["joins"], 1);
        assert_eq!(v["groups"].as_array().unwrap().len(), 3);
        assert_eq!(
            v["collisions"],
            json!([{"mac": "01:00:5e:01:01:01", "groups": ["239.1.1.1", "239.129.1.1"]}])
        );
    }
}
