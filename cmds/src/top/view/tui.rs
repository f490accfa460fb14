//! The `netkit top` screen: processes sorted by rate, drill-down into one process's
//! connections, a sparkline of the last minute, pause, sort, filter and help. This is
//! the drawing and the key handling only; the terminal (raw mode, events) is
//! `netkit_os::term`'s.

use super::Key;
use crate::top::engine::{Engine, ProcKey};
use crate::top::report::{ConnRow, ProcRow};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState};
use std::time::Instant;

/// The keys of the screen and what they do: the help overlay (`?`), `top --help` and
/// the man page's KEY BINDINGS all show this one list.
pub const KEY_BINDINGS: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit"),
    ("Tab, v", "view: processes, remote hosts, namespaces"),
    ("s", "sort: 2s, 10s, 40s rate, peak, total"),
    (
        "f",
        "fold the processes of one program into one row (curl x20)",
    ),
    ("b", "rates in bits/s or bytes/s (--units)"),
    ("p, space", "pause / resume"),
    (
        "/",
        "filter by process, host, port or container; container:NAME|ID|POD-UID for one container",
    ),
    ("Up/Down, j/k", "select"),
    ("Enter, Right", "connections of the selected process"),
    ("Esc, Left", "back to processes; clears the filter"),
    ("w", "write recent frames to the --write file"),
    (
        "F",
        "findings pane (with --findings): upgrades and findings as watch reports them",
    ),
    ("?, h", "this help"),
];

/// What the table lists, cycled with Tab (or `v`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Processes,
    Hosts,
    Namespaces,
}

impl Tab {
    fn next(self) -> Tab {
        match self {
            Tab::Processes => Tab::Hosts,
            Tab::Hosts => Tab::Namespaces,
            Tab::Namespaces => Tab::Processes,
        }
    }
}

/// A row of the hosts or namespaces view: traffic summed over what it groups.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRow {
    /// The remote address or the namespace.
    pub name: String,
    /// The host's name (DNS), or nothing.
    pub detail: String,
    pub rates: [(f64, f64); 3],
    pub total: u64,
    /// Connections (hosts) or processes (namespaces).
    pub count: usize,
}

/// Sort orders, cycled with `s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    Rate2,
    Rate10,
    Rate40,
    Peak,
    Total,
}

impl SortBy {
    fn next(self) -> SortBy {
        match self {
            SortBy::Rate2 => SortBy::Rate10,
            SortBy::Rate10 => SortBy::Rate40,
            SortBy::Rate40 => SortBy::Peak,
            SortBy::Peak => SortBy::Total,
            SortBy::Total => SortBy::Rate2,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SortBy::Rate2 => "2s",
            SortBy::Rate10 => "10s",
            SortBy::Rate40 => "40s",
            SortBy::Peak => "peak",
            SortBy::Total => "total",
        }
    }
}

/// Everything the screen shows besides the engine's numbers.
pub struct View {
    pub sort: SortBy,
    pub paused: bool,
    pub filter: String,
    pub editing_filter: bool,
    pub help: bool,
    pub tab: Tab,
    /// Rates in bits per second (as interface rates are read) instead of bytes.
    pub bits: bool,
    /// One row per program (comm) instead of per process.
    pub fold: bool,
    /// For each row of `rows`, how many processes it stands for (1 unless folded).
    folded: Vec<usize>,
    groups: Vec<GroupRow>,
    /// The process drilled into.
    pub detail: Option<ProcKey>,
    pub table: TableState,
    rows: Vec<ProcRow>,
    conns: Vec<ConnRow>,
    now_ns: i64,
    /// The status line: the last fault, dump or hint, with when it was set.
    pub status: Option<(String, Instant)>,
    /// `--findings`: what watch's engine reported so far (None: not analysing).
    pub findings: Option<FindingsPane>,
    /// Which path attributes and counts ("bpf", "sock-diag"): the status line says
    /// it while no fault or dump has something to say.
    pub attribution: &'static str,
}

/// The findings pane: `netkit watch`'s human lines for this run, newest last.
#[derive(Debug, Default, Clone)]
pub struct FindingsPane {
    pub shown: bool,
    /// The latest lines (bounded by whoever fills it).
    pub lines: Vec<String>,
    /// Findings reported since the start (more than `lines` holds, after a while).
    pub findings: u64,
    /// Lines that no longer fit the bound, so the pane can say some are gone.
    pub lines_dropped: u64,
}

impl Default for View {
    fn default() -> View {
        View {
            sort: SortBy::Rate2,
            paused: false,
            filter: String::new(),
            editing_filter: false,
            help: false,
            tab: Tab::Processes,
            bits: false,
            fold: false,
            folded: Vec::new(),
            groups: Vec::new(),
            detail: None,
            table: TableState::default().with_selected(Some(0)),
            rows: Vec::new(),
            conns: Vec::new(),
            now_ns: 0,
            status: None,
            findings: None,
            attribution: "",
        }
    }
}

/// What a key press asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    Quit,
    /// Write the `--write` ring now.
    Dump,
}

fn total_rate(r: (f64, f64)) -> f64 {
    r.0 + r.1
}

impl View {
    fn sort_key(&self, row: &ProcRow) -> f64 {
        match self.sort {
            SortBy::Rate2 => total_rate(row.rates[0]),
            SortBy::Rate10 => total_rate(row.rates[1]),
            SortBy::Rate40 => total_rate(row.rates[2]),
            SortBy::Peak => row.peak,
            SortBy::Total => (row.total_tx + row.total_rx) as f64,
        }
    }

    fn matches(&self, row: &ProcRow, engine: &Engine) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let f = self.filter.to_lowercase();
        let container = row.info.as_ref().and_then(|p| p.container.as_deref());
        // `container:X`: only the processes of that container (name, id prefix or pod
        // uid, as --container).
        if let Some(want) = f.strip_prefix("container:") {
            return container.is_some_and(|c| c.matches(want));
        }
        if container.is_some_and(|c| c.name.to_lowercase().contains(&f)) {
            return true;
        }
        if let Some(p) = &row.info {
            if p.comm.to_lowercase().contains(&f)
                || p.cmdline.to_lowercase().contains(&f)
                || p.pid.to_string() == f
            {
                return true;
            }
        } else if "unattributed".contains(&f) {
            return true;
        }
        // Host or port: any connection of the row whose remote matches.
        engine.connections(&row.key, self.now_ns).iter().any(|c| {
            c.key.remote.to_string().contains(&f)
                || c.key.local.port().to_string() == f
                || c.remote_name.as_deref().is_some_and(|n| n.contains(&f))
        })
    }

    /// Takes fresh numbers from the engine unless paused.
    pub fn refresh(&mut self, engine: &mut Engine, now_ns: i64) {
        if self.paused {
            return;
        }
        self.now_ns = now_ns;
        // The selection belongs to a process (or a connection), not to a row number:
        // after a re-sort Enter must open the process the user was looking at.
        let sel = self.table.selected().unwrap_or(0);
        let was_proc = self.rows.get(sel).map(|r| r.key.clone());
        let was_conn = self.conns.get(sel).map(|c| c.key);
        engine.tick(now_ns);
        engine.drop_closed();
        let mut rows: Vec<ProcRow> = engine
            .rows(now_ns)
            .into_iter()
            .filter(|r| self.matches(r, engine))
            // A process quiet for the whole 40 s window (most often: exited) fades
            // out of the rate views instead of piling up at 0 B/s; sorted by total it
            // stays.
            .filter(|r| self.sort == SortBy::Total || total_rate(r.rates[2]) > 0.0)
            .collect();
        self.groups = match self.tab {
            Tab::Hosts => hosts(&rows, engine, now_ns),
            Tab::Namespaces => namespaces(&rows),
            Tab::Processes => Vec::new(),
        };
        self.groups.sort_by(|a, b| {
            total_rate(b.rates[0])
                .total_cmp(&total_rate(a.rates[0]))
                .then(b.total.cmp(&a.total))
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut counts = vec![1; rows.len()];
        if self.fold {
            (rows, counts) = fold(rows);
        }
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| {
            self.sort_key(&rows[b])
                .total_cmp(&self.sort_key(&rows[a]))
                .then_with(|| rows[a].key.cmp(&rows[b].key))
        });
        self.folded = order.iter().map(|&i| counts[i]).collect();
        let mut slots: Vec<Option<ProcRow>> = rows.into_iter().map(Some).collect();
        self.rows = order.iter().filter_map(|&i| slots[i].take()).collect();
        if let Some(key) = &self.detail {
            let mut conns = engine.connections(key, now_ns);
            conns.sort_by(|a, b| {
                total_rate(b.rates[0])
                    .total_cmp(&total_rate(a.rates[0]))
                    .then((b.total_tx + b.total_rx).cmp(&(a.total_tx + a.total_rx)))
            });
            self.conns = conns;
        }
        let (len, found) = if self.tab != Tab::Processes {
            (self.groups.len(), None)
        } else if self.detail.is_some() {
            let found = was_conn.and_then(|k| self.conns.iter().position(|c| c.key == k));
            (self.conns.len(), found)
        } else {
            let found = was_proc.and_then(|k| self.rows.iter().position(|r| r.key == k));
            (self.rows.len(), found)
        };
        // Gone (exited, filtered out): the same row number, within the table.
        let sel = found.unwrap_or(sel).min(len.saturating_sub(1));
        self.table.select(Some(sel));
    }

    /// Applies one key.
    pub fn key(&mut self, code: Key) -> Action {
        if code == Key::Ctrl('c') {
            return Action::Quit;
        }
        if self.editing_filter {
            match code {
                Key::Enter => self.editing_filter = false,
                // Esc gives up the filter being typed: everything shows again.
                Key::Esc => {
                    self.editing_filter = false;
                    self.filter.clear();
                }
                Key::Backspace => {
                    self.filter.pop();
                }
                Key::Char(c) => self.filter.push(c),
                _ => {}
            }
            return Action::Continue;
        }
        if self.help {
            self.help = false;
            return Action::Continue;
        }
        match code {
            Key::Char('q') => return Action::Quit,
            Key::Char('w') => return Action::Dump,
            Key::Char('F') => match &mut self.findings {
                Some(pane) => pane.shown = !pane.shown,
                None => {
                    self.status = Some((
                        "F: start netkit top with --findings to analyse live traffic".into(),
                        Instant::now(),
                    ))
                }
            },
            Key::Char('?') | Key::Char('h') => self.help = true,
            Key::Char('p') | Key::Char(' ') => self.paused = !self.paused,
            Key::Char('s') => self.sort = self.sort.next(),
            Key::Tab | Key::Char('v') => {
                self.tab = self.tab.next();
                self.detail = None;
                self.table.select(Some(0));
            }
            Key::Char('b') => self.bits = !self.bits,
            Key::Char('f') => self.fold = !self.fold,
            Key::Char('/') => {
                self.editing_filter = true;
                self.filter.clear();
            }
            Key::Down | Key::Char('j') => self.table.select_next(),
            Key::Up | Key::Char('k') => self.table.select_previous(),
            Key::Enter | Key::Right if self.detail.is_none() && self.tab == Tab::Processes => {
                let sel = self.table.selected().unwrap_or(0);
                if let Some(row) = self.rows.get(sel) {
                    self.detail = Some(row.key.clone());
                    self.conns.clear();
                    self.table.select(Some(0));
                    self.paused = false;
                }
            }
            Key::Esc | Key::Left | Key::Backspace => {
                if self.detail.is_none() && !self.filter.is_empty() {
                    // At the top level Esc clears the filter.
                    self.filter.clear();
                }
                self.detail = None;
                self.table.select(Some(0));
            }
            _ => {}
        }
        Action::Continue
    }
}

/// The processes of one program (same comm) as one row: rates and totals summed, the
/// busiest process's key (Enter opens its connections). Returns the rows and how many
/// processes each stands for.
fn fold(rows: Vec<ProcRow>) -> (Vec<ProcRow>, Vec<usize>) {
    let mut out: Vec<ProcRow> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    for r in rows {
        let comm = r.info.as_ref().map(|p| p.comm.clone());
        let same = comm.as_ref().and_then(|c| {
            out.iter()
                .position(|o| o.info.as_ref().map(|p| &p.comm) == Some(c) && o.netns == r.netns)
        });
        match same {
            Some(i) => {
                let o = &mut out[i];
                counts[i] += 1;
                if total_rate(r.rates[0]) > total_rate(o.rates[0]) {
                    o.key = r.key.clone();
                    o.info = r.info.clone();
                }
                for w in 0..3 {
                    o.rates[w].0 += r.rates[w].0;
                    o.rates[w].1 += r.rates[w].1;
                }
                o.peak = o.peak.max(r.peak);
                o.total_tx += r.total_tx;
                o.total_rx += r.total_rx;
                o.connections += r.connections;
                o.meter.merge(&r.meter);
            }
            None => {
                out.push(r);
                counts.push(1);
            }
        }
    }
    (out, counts)
}

/// Traffic by remote host over every (shown) process's connections.
fn hosts(rows: &[ProcRow], engine: &Engine, now_ns: i64) -> Vec<GroupRow> {
    let mut out: Vec<GroupRow> = Vec::new();
    for r in rows {
        for c in engine.connections(&r.key, now_ns) {
            let ip = c.key.remote.ip().to_string();
            let i = match out.iter().position(|g| g.name == ip) {
                Some(i) => i,
                None => {
                    out.push(GroupRow {
                        name: ip,
                        detail: String::new(),
                        rates: [(0.0, 0.0); 3],
                        total: 0,
                        count: 0,
                    });
                    out.len() - 1
                }
            };
            let g = &mut out[i];
            if let Some(n) = &c.remote_name {
                g.detail = n.clone();
            }
            for w in 0..3 {
                g.rates[w].0 += c.rates[w].0;
                g.rates[w].1 += c.rates[w].1;
            }
            g.total += c.total_tx + c.total_rx;
            g.count += 1;
        }
    }
    out
}

/// Traffic by namespace.
fn namespaces(rows: &[ProcRow]) -> Vec<GroupRow> {
    let mut out: Vec<GroupRow> = Vec::new();
    for r in rows {
        let i = match out.iter().position(|g| g.name == r.netns) {
            Some(i) => i,
            None => {
                out.push(GroupRow {
                    name: r.netns.clone(),
                    detail: String::new(),
                    rates: [(0.0, 0.0); 3],
                    total: 0,
                    count: 0,
                });
                out.len() - 1
            }
        };
        let g = &mut out[i];
        for w in 0..3 {
            g.rates[w].0 += r.rates[w].0;
            g.rates[w].1 += r.rates[w].1;
        }
        g.total += r.total_tx + r.total_rx;
        g.count += usize::from(r.info.is_some());
    }
    out
}

/// A rate in the unit chosen: `456.6 KB/s`, or `3.7 Mbit/s` with `bits`.
pub fn rate_in(bytes_per_s: f64, bits: bool) -> String {
    if !bits {
        return human_rate(bytes_per_s);
    }
    const UNITS: [&str; 5] = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    let mut v = bytes_per_s * 8.0;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `12.3 KB/s` style, powers of 1000 as iftop and bandwhich use.
pub fn human_rate(bytes_per_s: f64) -> String {
    format!("{}/s", human_bytes(bytes_per_s))
}

pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The container column: the container's name, at most [`CONTAINER_WIDTH`] wide.
fn container_cell(row: &ProcRow) -> String {
    let Some(c) = row.info.as_ref().and_then(|p| p.container.as_deref()) else {
        return String::new();
    };
    if c.name.chars().count() <= CONTAINER_WIDTH {
        return c.name.clone();
    }
    let cut: String = c.name.chars().take(CONTAINER_WIDTH - 1).collect();
    format!("{cut}~")
}

/// Widest container name shown in full (a pod's `namespace/name` can be long).
const CONTAINER_WIDTH: usize = 24;

fn row_name(row: &ProcRow) -> (String, String, String) {
    match &row.info {
        Some(p) => (p.pid.to_string(), p.comm.clone(), p.cmdline.clone()),
        None => ("-".into(), "<unattributed>".into(), String::new()),
    }
}

pub fn draw(frame: &mut ratatui::Frame<'_>, view: &mut View) {
    // The findings pane takes the graph's place, taller: a third of the screen, at
    // least the graph's five rows.
    let pane_shown = view.findings.as_ref().is_some_and(|p| p.shown);
    let lower = if pane_shown {
        (frame.area().height / 3).max(5)
    } else {
        5
    };
    let [header, body, spark, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(lower),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let tabs = [
        (Tab::Processes, "processes"),
        (Tab::Hosts, "hosts"),
        (Tab::Namespaces, "namespaces"),
    ]
    .iter()
    .map(|(t, name)| {
        if *t == view.tab {
            format!("[{name}]")
        } else {
            name.to_string()
        }
    })
    .collect::<Vec<_>>()
    .join(" ");
    let title = format!(
        "netkit top  {tabs}  sort:{}  {}{}{}{}",
        view.sort.name(),
        if view.bits { "bits/s" } else { "bytes/s" },
        if view.fold { "  folded" } else { "" },
        if view.paused { "  [PAUSED]" } else { "" },
        if view.filter.is_empty() {
            String::new()
        } else {
            format!("  filter:{}", view.filter)
        }
    );
    frame.render_widget(Paragraph::new(title), header);
    let bits = view.bits;
    let rate = |r: (f64, f64)| rate_in(total_rate(r), bits);
    let one = |v: f64| rate_in(v, bits);
    let history;
    // Room for columns inside the block's borders.
    let room = body.width.saturating_sub(2);
    if let Some(key) = view.detail.clone() {
        // (header, keep priority: higher stays longer, free text?)
        let cols: [(&str, u8, bool); 8] = [
            ("PROTO", 50, false),
            ("LOCAL", 90, false),
            ("REMOTE", 100, false),
            ("HOST", 20, true),
            ("TX 2s", 80, false),
            ("RX 2s", 80, false),
            ("10s", 40, false),
            ("TOTAL", 60, false),
        ];
        let cells: Vec<Vec<String>> = view
            .conns
            .iter()
            .map(|c| {
                vec![
                    c.key.proto.name().to_string(),
                    c.key.local.to_string(),
                    c.key.remote.to_string(),
                    c.remote_name.clone().unwrap_or_default(),
                    one(c.rates[0].0),
                    one(c.rates[0].1),
                    rate(c.rates[1]),
                    human_bytes((c.total_tx + c.total_rx) as f64),
                ]
            })
            .collect();
        let name = view
            .rows
            .iter()
            .find(|r| r.key == key)
            .map(|r| {
                let (pid, comm, cmd) = row_name(r);
                format!(" {comm} (pid {pid}) {cmd}  [Esc: back] ")
            })
            .unwrap_or_else(|| " connections [Esc: back] ".into());
        history = view
            .rows
            .iter()
            .find(|r| r.key == key)
            .map(|r| r.meter.history(view.now_ns, 60))
            .unwrap_or_default();
        let table = fitted_table(&cols, &cells, room)
            .block(Block::default().borders(Borders::ALL).title(name))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        frame.render_stateful_widget(table, body, &mut view.table);
    } else if view.tab != Tab::Processes {
        let (first, detail, count) = if view.tab == Tab::Hosts {
            ("HOST", "NAME", "CONN")
        } else {
            ("NETNS", "", "PROCS")
        };
        let cols: [(&str, u8, bool); 7] = [
            (first, 100, false),
            (detail, 10, true),
            ("TX 2s", 90, false),
            ("RX 2s", 90, false),
            ("10s", 40, false),
            ("TOTAL", 60, false),
            (count, 35, false),
        ];
        let cells: Vec<Vec<String>> = view
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    g.detail.clone(),
                    one(g.rates[0].0),
                    one(g.rates[0].1),
                    rate(g.rates[1]),
                    human_bytes(g.total as f64),
                    g.count.to_string(),
                ]
            })
            .collect();
        let mut all = crate::top::engine::Meter::default();
        for r in &view.rows {
            all.merge(&r.meter);
        }
        history = all.history(view.now_ns, 60);
        let title = if view.tab == Tab::Hosts {
            " remote hosts "
        } else {
            " namespaces "
        };
        let table = fitted_table(&cols, &cells, room)
            .block(Block::default().borders(Borders::ALL).title(title))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        frame.render_stateful_widget(table, body, &mut view.table);
    } else {
        // The container column only when some process runs in one: on a host without
        // containers it would be an empty column taking the command's room.
        let with_containers = view
            .rows
            .iter()
            .any(|r| r.info.as_ref().is_some_and(|p| p.container.is_some()));
        const CONTAINER_COL: usize = 3;
        let mut cols: Vec<(&str, u8, bool)> = vec![
            ("PID", 100, false),
            ("PROCESS", 95, false),
            ("NETNS", 50, false),
            ("CONTAINER", 45, false),
            ("TX 2s", 90, false),
            ("RX 2s", 90, false),
            ("10s", 40, false),
            ("40s", 20, false),
            ("PEAK", 30, false),
            ("TOTAL", 60, false),
            ("CONN", 35, false),
            ("COMMAND", 10, true),
        ];
        let mut cells: Vec<Vec<String>> = view
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (pid, mut comm, cmd) = row_name(r);
                if let Some(n) = view.folded.get(i).filter(|n| **n > 1) {
                    comm = format!("{comm} x{n}");
                }
                vec![
                    pid,
                    comm,
                    r.netns.clone(),
                    container_cell(r),
                    one(r.rates[0].0),
                    one(r.rates[0].1),
                    rate(r.rates[1]),
                    rate(r.rates[2]),
                    one(r.peak),
                    human_bytes((r.total_tx + r.total_rx) as f64),
                    r.connections.to_string(),
                    cmd,
                ]
            })
            .collect();
        if !with_containers {
            cols.remove(CONTAINER_COL);
            for row in &mut cells {
                row.remove(CONTAINER_COL);
            }
        }
        let mut all = crate::top::engine::Meter::default();
        for r in &view.rows {
            all.merge(&r.meter);
        }
        history = all.history(view.now_ns, 60);
        // Quiet for the last 10 s (often: exited): dimmed, on its way out.
        let quiet: Vec<bool> = view
            .rows
            .iter()
            .map(|r| total_rate(r.rates[1]) == 0.0)
            .collect();
        let table = fitted_table(&cols, &cells, room)
            .rows(
                fitted_rows(&cols, &cells, room)
                    .into_iter()
                    .zip(quiet)
                    .map(|(row, q)| {
                        if q {
                            row.style(Style::default().add_modifier(Modifier::DIM))
                        } else {
                            row
                        }
                    }),
            )
            .block(Block::default().borders(Borders::ALL).title(" processes "))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        frame.render_stateful_widget(table, body, &mut view.table);
    }
    // The newest second at the right edge, as every traffic graph reads; wider than 60
    // s of data, the left is empty (not the right).
    let inner = usize::from(spark.width.saturating_sub(2));
    let peak = history.iter().copied().max().unwrap_or(0);
    let mut shown: Vec<u64> = vec![0; inner.saturating_sub(history.len())];
    shown.extend(&history[history.len().saturating_sub(inner)..]);
    if let Some(pane) = view.findings.as_ref().filter(|p| p.shown) {
        draw_findings(frame, pane, spark);
    } else {
        let spark_title = format!(" last 60 s, peak {} ", rate_in(peak as f64, bits));
        let spark_widget = Sparkline::default()
            .block(Block::default().borders(Borders::ALL).title(spark_title))
            .max(peak.max(1))
            .data(&shown);
        frame.render_widget(spark_widget, spark);
    }
    if let Some((text, _)) = &view.status {
        frame.render_widget(
            Paragraph::new(text.as_str()).style(Style::default().add_modifier(Modifier::BOLD)),
            status,
        );
    } else if !view.attribution.is_empty() {
        frame.render_widget(
            Paragraph::new(format!("attribution: {}", view.attribution)),
            status,
        );
    }
    let keys = if view.editing_filter {
        format!(
            "filter (process, host, port, container:NAME): {}_   Enter: done",
            view.filter
        )
    } else {
        // F only when there is a pane to toggle: at 80 columns the line is full.
        let f = if view.findings.is_some() {
            "F findings  "
        } else {
            ""
        };
        format!(
            "q quit  Tab view  s sort  f fold  b bits  {f}/ filter  Enter open  Esc back  ? help"
        )
    };
    frame.render_widget(Paragraph::new(keys), footer);
    if view.help {
        let area = centered(frame.area(), 64, KEY_BINDINGS.len() as u16 + 6);
        let mut text = vec![
            Line::from("netkit top: traffic by process, per namespace"),
            Line::from(""),
        ];
        text.extend(
            KEY_BINDINGS
                .iter()
                .map(|(k, what)| Line::from(format!("  {k:<13}{what}"))),
        );
        text.push(Line::from(""));
        text.push(Line::from("Rates are wire bytes over complete seconds."));
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(" help ")),
            area,
        );
    }
}

/// The newest lines that fit, newest at the bottom as in a log; the title counts the
/// findings and says when older lines are no longer kept.
fn draw_findings(frame: &mut ratatui::Frame<'_>, pane: &FindingsPane, area: Rect) {
    let room = usize::from(area.height.saturating_sub(2));
    let from = pane.lines.len().saturating_sub(room);
    let text: Vec<Line> = pane.lines[from..]
        .iter()
        .map(|l| Line::from(l.as_str()))
        .collect();
    let older = pane.lines_dropped + from as u64;
    let title = format!(
        " {}{}  (F hides) ",
        crate::output::plural(pane.findings, "finding", "findings"),
        if older > 0 {
            format!(", {older} older lines not shown")
        } else {
            String::new()
        }
    );
    let body = if text.is_empty() {
        vec![Line::from(
            "nothing found yet: upgrades and findings show here as they happen",
        )]
    } else {
        text
    };
    frame.render_widget(
        Paragraph::new(body).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

/// The narrowest a free-text column (COMMAND, HOST) is shown at.
const MIN_FREE_TEXT: u16 = 8;

/// Which columns fit in `room` and how wide each is. Every column but the free-text
/// one is as wide as its widest cell (or header), so a PID, an address or a rate with
/// its unit is never cut; when they do not all fit, the column of lowest `keep` goes
/// first, until they do. The free-text column takes what is left (at least
/// [`MIN_FREE_TEXT`]) and is the only one whose cells may be cut.
/// `cols`: (header, keep, free text); returns (column index, width) in column order,
/// the free-text column with the least width it takes (it grows into the rest).
pub fn fit_columns(
    cols: &[(&str, u8, bool)],
    cells: &[Vec<String>],
    room: u16,
) -> Vec<(usize, u16)> {
    let widths: Vec<u16> = cols
        .iter()
        .enumerate()
        .map(|(i, (h, _, _))| {
            let longest = cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0);
            longest.max(h.chars().count()).min(usize::from(u16::MAX)) as u16
        })
        .collect();
    let mut shown: Vec<usize> = (0..cols.len()).collect();
    loop {
        let need: u32 = shown
            .iter()
            .map(|&i| {
                u32::from(if cols[i].2 {
                    widths[i].min(MIN_FREE_TEXT)
                } else {
                    widths[i]
                })
            })
            .sum::<u32>()
            + shown.len().saturating_sub(1) as u32;
        if need <= u32::from(room) || shown.len() <= 1 {
            break;
        }
        let Some(pos) = shown
            .iter()
            .enumerate()
            .min_by_key(|(_, &i)| cols[i].1)
            .map(|(p, _)| p)
        else {
            break;
        };
        shown.remove(pos);
    }
    shown
        .into_iter()
        .map(|i| {
            (
                i,
                if cols[i].2 {
                    widths[i].min(MIN_FREE_TEXT)
                } else {
                    widths[i]
                },
            )
        })
        .collect()
}

fn fitted_rows(cols: &[(&str, u8, bool)], cells: &[Vec<String>], room: u16) -> Vec<Row<'static>> {
    let fit = fit_columns(cols, cells, room);
    cells
        .iter()
        .map(|r| {
            Row::new(
                fit.iter()
                    .map(|&(i, _)| Cell::from(r.get(i).cloned().unwrap_or_default()))
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

fn fitted_table<'a>(cols: &[(&'a str, u8, bool)], cells: &[Vec<String>], room: u16) -> Table<'a> {
    let fit = fit_columns(cols, cells, room);
    let rows = fitted_rows(cols, cells, room);
    // Min for the free text (it takes the rest); the others exactly their width,
    // which fit_columns made sure add up to no more than the room.
    let widths: Vec<Constraint> = fit
        .iter()
        .map(|&(i, w)| {
            if cols[i].2 {
                Constraint::Min(w)
            } else {
                Constraint::Length(w)
            }
        })
        .collect();
    Table::new(rows, widths).header(
        Row::new(fit.iter().map(|&(i, _)| cols[i].0).collect::<Vec<_>>())
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::classify::Packet;
    use crate::top::engine::{Dir, FlowKey, ProcInfo, Proto};
    use std::net::SocketAddr;
    use std::sync::Arc;

    #[test]
    fn keys_sort_filter_and_drill_down() {
        let t0 = 1000 * 1_000_000_000;
        let mut e = Engine::new(vec!["red".into()], t0);
        for (port, pid, bytes) in [(1u16, 1, 100u64), (2, 2, 5000)] {
            let k = FlowKey {
                netns: 0,
                proto: Proto::Tcp,
                local: SocketAddr::from(([10, 0, 0, 1], port)),
                remote: SocketAddr::from(([10, 0, 0, 2], 80)),
            };
            e.record(
                t0,
                &Packet {
                    key: k,
                    dir: Dir::Tx,
                    wire: bytes,
                    syn: false,
                    fin_or_rst: false,
                },
            );
            e.set_owner(
                &k,
                Some(Arc::new(ProcInfo {
                    pid,
                    comm: format!("c{pid}"),
                    cmdline: String::new(),
                    container: None,
                })),
            );
        }
        let now = t0 + 1_500_000_000;
        let mut v = View::default();
        v.refresh(&mut e, now);
        assert_eq!(v.rows[0].info.as_ref().unwrap().pid, 2);
        v.key(Key::Char('/'));
        v.key(Key::Char('c'));
        v.key(Key::Char('1'));
        v.key(Key::Enter);
        v.refresh(&mut e, now);
        assert_eq!(v.rows.len(), 1);
        assert_eq!(v.rows[0].info.as_ref().unwrap().pid, 1);
        assert_eq!(v.key(Key::Enter), Action::Continue);
        v.refresh(&mut e, now);
        assert_eq!(v.conns.len(), 1);
        assert_eq!(v.conns[0].key.local.port(), 1);
        v.key(Key::Esc);
        assert!(v.detail.is_none());
        v.key(Key::Char('s'));
        assert_eq!(v.sort, SortBy::Rate10);
        assert_eq!(v.key(Key::Ctrl('c')), Action::Quit);
        assert_eq!(human_rate(1234.0), "1.2 KB/s");
    }

    /// Issue 21 item 6: the selection stays on the same process when the order changes.
    #[test]
    fn the_selection_follows_the_process_across_a_re_sort() {
        let t0 = 1000 * 1_000_000_000;
        let mut e = Engine::new(vec!["red".into()], t0);
        let key = |port: u16| FlowKey {
            netns: 0,
            proto: Proto::Tcp,
            local: SocketAddr::from(([10, 0, 0, 1], port)),
            remote: SocketAddr::from(([10, 0, 0, 2], 80)),
        };
        let send = |e: &mut Engine, at: i64, port: u16, bytes: u64| {
            e.record(
                at,
                &Packet {
                    key: key(port),
                    dir: Dir::Tx,
                    wire: bytes,
                    syn: false,
                    fin_or_rst: false,
                },
            );
        };
        for (port, pid) in [(1u16, 101), (2, 202)] {
            send(&mut e, t0, port, if pid == 101 { 9000 } else { 100 });
            e.set_owner(
                &key(port),
                Some(Arc::new(ProcInfo {
                    pid,
                    comm: format!("c{pid}"),
                    cmdline: String::new(),
                    container: None,
                })),
            );
        }
        let mut v = View::default();
        v.refresh(&mut e, t0 + 1_500_000_000);
        assert_eq!(v.rows[0].info.as_ref().unwrap().pid, 101);
        // Select the second row (pid 202), then 202 becomes the busiest: it moves to
        // the top, and the selection moves with it.
        v.key(Key::Down);
        assert_eq!(v.table.selected(), Some(1));
        for s in 2..6 {
            send(&mut e, t0 + s * 1_000_000_000, 2, 1_000_000);
        }
        v.refresh(&mut e, t0 + 6_500_000_000);
        assert_eq!(v.rows[0].info.as_ref().unwrap().pid, 202);
        assert_eq!(v.table.selected(), Some(0));
        v.key(Key::Enter);
        let opened = v.detail.clone();
        assert_eq!(Some(v.rows[0].key.clone()), opened);
        assert_eq!(human_bytes(999.0), "999 B");
    }

    /// The screen as text, drawn at `w` x `h` by ratatui's own test terminal.
    fn screen(v: &mut View, w: u16, h: u16) -> String {
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, v)).unwrap();
        let buf = term.backend().buffer().clone();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Issue 15: the status line says which path attributes and counts, until a
    /// fault or dump message takes its place.
    #[test]
    fn the_status_line_names_the_attribution_path() {
        let mut v = View {
            attribution: "bpf",
            ..View::default()
        };
        assert!(screen(&mut v, 80, 24).contains("attribution: bpf"));
        v.status = Some(("namespace x was deleted".into(), Instant::now()));
        let text = screen(&mut v, 80, 24);
        assert!(text.contains("namespace x was deleted") && !text.contains("attribution:"));
    }

    /// Issue 14: F toggles the findings pane, which takes the graph's place and shows
    /// the newest lines; without --findings F says how to get it.
    #[test]
    fn f_toggles_the_findings_pane_newest_lines_last() {
        let mut v = View::default();
        assert_eq!(v.key(Key::Char('F')), Action::Continue);
        let hint = v.status.as_ref().map(|s| s.0.clone()).unwrap_or_default();
        assert!(hint.contains("--findings"), "{hint}");

        v.findings = Some(FindingsPane {
            shown: true,
            lines: (1..=30).map(|i| format!("line {i:02}")).collect(),
            findings: 30,
            lines_dropped: 5,
        });
        let text = screen(&mut v, 80, 24);
        assert!(text.contains("line 30"), "{text}");
        assert!(!text.contains("line 01"), "{text}");
        assert!(
            !text.contains("last 60 s"),
            "the pane takes the graph's place\n{text}"
        );
        // 24 rows / 3 = 8 rows, 6 inside the borders: lines 25..30; 24 + 5 not shown.
        assert!(
            text.contains("line 25") && !text.contains("line 24"),
            "{text}"
        );
        assert!(
            text.contains("30 findings, 29 older lines not shown"),
            "{text}"
        );

        v.key(Key::Char('F'));
        let text = screen(&mut v, 80, 24);
        assert!(
            !text.contains("line 30") && text.contains("last 60 s"),
            "{text}"
        );
    }

    /// Issue 21 item 5: at 80x24 and 50x12 columns go by priority; a PID, an address
    /// and a rate's unit are never cut.
    #[test]
    fn narrow_screens_drop_columns_but_never_cut_pids_addresses_or_units() {
        let t0 = 1000 * 1_000_000_000;
        let mut e = Engine::new(vec!["ns-VRF1-long-name".into()], t0);
        let k = FlowKey {
            netns: 0,
            proto: Proto::Tcp,
            local: SocketAddr::from(([10, 99, 0, 1], 44321)),
            remote: SocketAddr::from(([10, 99, 0, 2], 8080)),
        };
        for s in 0..3 {
            e.record(
                t0 + s * 1_000_000_000,
                &Packet {
                    key: k,
                    dir: Dir::Tx,
                    wire: 456_600,
                    syn: false,
                    fin_or_rst: false,
                },
            );
        }
        e.set_owner(
            &k,
            Some(Arc::new(ProcInfo {
                pid: 30975,
                comm: "curl".into(),
                cmdline: "curl -o /dev/null http://10.99.0.2:8080/big-file-name".into(),
                container: None,
            })),
        );
        let mut v = View::default();
        v.refresh(&mut e, t0 + 3_500_000_000);
        for (w, h) in [(80, 24), (50, 12)] {
            let text = screen(&mut v, w, h);
            assert!(text.contains("30975"), "{w}x{h}: PID cut:\n{text}");
            assert!(text.contains("KB/s"), "{w}x{h}: unit gone:\n{text}");
        }
        v.key(Key::Enter);
        v.refresh(&mut e, t0 + 3_500_000_000);
        for (w, h) in [(80, 24), (50, 12)] {
            let text = screen(&mut v, w, h);
            assert!(
                text.contains("10.99.0.2:8080"),
                "{w}x{h}: remote cut:\n{text}"
            );
            assert!(text.contains("KB/s"), "{w}x{h}: unit gone:\n{text}");
            if w == 80 {
                assert!(
                    text.contains("10.99.0.1:44321"),
                    "{w}x{h}: local cut:\n{text}"
                );
            }
        }
    }

    #[test]
    fn columns_go_by_priority_and_free_text_takes_the_rest() {
        let cols = [
            ("PID", 100, false),
            ("CMD", 10, true),
            ("PEAK", 30, false),
            ("TX", 90, false),
        ];
        let cells = vec![vec![
            "30975".to_string(),
            "a long command line".to_string(),
            "1.0 MB/s".to_string(),
            "456.6 KB/s".to_string(),
        ]];
        // Everything fits: all columns, the free text at its least (it grows).
        assert_eq!(
            fit_columns(&cols, &cells, 80),
            vec![(0, 5), (1, 8), (2, 8), (3, 10)]
        );
        // 5 + 8 + 10 + 8 + 3 spaces = 34: at 30 the free text goes first, then PEAK.
        assert_eq!(
            fit_columns(&cols, &cells, 30),
            vec![(0, 5), (2, 8), (3, 10)]
        );
        assert_eq!(fit_columns(&cols, &cells, 16), vec![(0, 5), (3, 10)]);
        assert_eq!(fit_columns(&cols, &cells, 3), vec![(0, 5)]);
    }

    /// Records `bytes` sent by `pid` (comm `comm`) on local port `port` to `remote`.
    fn traffic(
        e: &mut Engine,
        at: i64,
        port: u16,
        remote: [u8; 4],
        pid: i32,
        comm: &str,
        bytes: u64,
    ) {
        let k = FlowKey {
            netns: 0,
            proto: Proto::Tcp,
            local: SocketAddr::from(([10, 0, 0, 1], port)),
            remote: SocketAddr::from((remote, 443)),
        };
        e.record(
            at,
            &Packet {
                key: k,
                dir: Dir::Tx,
                wire: bytes,
                syn: false,
                fin_or_rst: false,
            },
        );
        e.set_owner(
            &k,
            Some(Arc::new(ProcInfo {
                pid,
                comm: comm.into(),
                cmdline: String::new(),
                container: None,
            })),
        );
    }

    /// Issue 21 item 7: views bandwhich users expect.
    #[test]
    fn tabs_fold_units_fading_esc_and_the_graph() {
        let s = 1_000_000_000i64;
        let t0 = 1000 * s;
        let mut e = Engine::new(vec!["red".into()], t0);
        for sec in 0..3 {
            traffic(&mut e, t0 + sec * s, 1, [192, 0, 2, 1], 11, "curl", 100_000);
            traffic(&mut e, t0 + sec * s, 2, [192, 0, 2, 1], 12, "curl", 100_000);
            traffic(&mut e, t0 + sec * s, 3, [192, 0, 2, 9], 13, "sshd", 1_000);
        }
        let now = t0 + 3 * s + s / 2;
        let mut v = View::default();
        v.refresh(&mut e, now);
        assert_eq!(v.rows.len(), 3);

        // Fold: the two curls are one row, "curl x2", rates summed.
        v.key(Key::Char('f'));
        v.refresh(&mut e, now);
        assert_eq!(v.rows.len(), 2);
        let text = screen(&mut v, 100, 24);
        assert!(text.contains("curl x2"), "{text}");
        v.key(Key::Char('f'));

        // Units: bytes by default, bits with b (x8).
        let text = screen(&mut v, 100, 24);
        assert!(text.contains("KB/s") && !text.contains("bit/s"), "{text}");
        v.key(Key::Char('b'));
        let text = screen(&mut v, 100, 24);
        assert!(text.contains("kbit/s") && text.contains("bits/s"), "{text}");
        v.key(Key::Char('b'));

        // Hosts tab: one row per remote address, two connections to 192.0.2.1.
        v.key(Key::Tab);
        v.refresh(&mut e, now);
        assert_eq!(v.groups.len(), 2);
        assert_eq!(v.groups[0].name, "192.0.2.1");
        assert_eq!(v.groups[0].count, 2);
        let text = screen(&mut v, 100, 24);
        assert!(
            text.contains("[hosts]") && text.contains("192.0.2.9"),
            "{text}"
        );
        // Namespaces tab: one namespace, three processes.
        v.key(Key::Char('v'));
        v.refresh(&mut e, now);
        assert_eq!(v.groups.len(), 1);
        assert_eq!((v.groups[0].name.as_str(), v.groups[0].count), ("red", 3));
        v.key(Key::Tab);
        assert_eq!(v.tab, Tab::Processes);

        // Esc clears the filter, while typing it and afterwards.
        for k in [
            Key::Char('/'),
            Key::Char('s'),
            Key::Char('s'),
            Key::Char('h'),
        ] {
            v.key(k);
        }
        v.key(Key::Esc);
        assert!(v.filter.is_empty() && !v.editing_filter);
        for k in [Key::Char('/'), Key::Char('c'), Key::Enter] {
            v.key(k);
        }
        v.refresh(&mut e, now);
        assert_eq!(v.rows.len(), 2);
        v.key(Key::Esc);
        v.refresh(&mut e, now);
        assert_eq!(v.rows.len(), 3);

        // The graph: a scale in its title, the newest second at the right edge.
        let text = screen(&mut v, 100, 24);
        assert!(text.contains("last 60 s, peak "), "{text}");
        let bar_line = text
            .lines()
            .rev()
            .find(|l| l.contains('█'))
            .unwrap_or_else(|| panic!("no bars:\n{text}"));
        let chars: Vec<char> = bar_line.chars().collect();
        let last_bar = chars.iter().rposition(|c| *c == '█').unwrap();
        assert!(
            last_bar >= chars.len() - 4,
            "graph does not reach the right edge:\n{text}"
        );

        // Fading: quiet for 10 s the rows are dimmed; quiet for the 40 s window they go.
        v.refresh(&mut e, now + 15 * s);
        assert_eq!(v.rows.len(), 3);
        v.refresh(&mut e, now + 45 * s);
        assert_eq!(v.rows.len(), 0, "exited processes pile up");
        v.key(Key::Char('s'));
        v.key(Key::Char('s'));
        v.key(Key::Char('s'));
        v.key(Key::Char('s'));
        assert_eq!(v.sort, SortBy::Total);
        v.refresh(&mut e, now + 46 * s);
        assert_eq!(v.rows.len(), 3, "sorted by total they stay");
    }

    #[test]
    fn container_column_and_container_filter() {
        use crate::top::container::{Container, Runtime};
        let s = 1_000_000_000i64;
        let t0 = 1000 * s;
        let mut e = Engine::new(vec!["red".into()], t0);
        traffic(&mut e, t0, 1, [192, 0, 2, 1], 11, "curl", 100_000);
        let mut v = View::default();
        v.refresh(&mut e, t0 + 3 * s / 2);
        // No process in a container: no column.
        assert!(!screen(&mut v, 120, 24).contains("CONTAINER"));
        let id = "c0ffee".repeat(10) + "abcd";
        for (port, pid, name, pod) in [
            (2, 21, "web", None),
            (
                3,
                31,
                "default/api",
                Some("0b6f8e9c-1a2d-4e3f-9a8b-7c6d5e4f3a2b"),
            ),
        ] {
            let k = FlowKey {
                netns: 0,
                proto: Proto::Tcp,
                local: SocketAddr::from(([10, 0, 0, 1], port)),
                remote: SocketAddr::from(([192, 0, 2, 7], 443)),
            };
            e.record(
                t0,
                &Packet {
                    key: k,
                    dir: Dir::Tx,
                    wire: 50_000,
                    syn: false,
                    fin_or_rst: false,
                },
            );
            let container = Container {
                runtime: Runtime::Containerd,
                id: Some(format!("{id}{pid}")),
                pod_uid: pod.map(str::to_string),
                name: name.into(),
            };
            e.set_owner(
                &k,
                Some(Arc::new(ProcInfo {
                    pid,
                    comm: "srv".into(),
                    cmdline: String::new(),
                    container: Some(Arc::new(container)),
                })),
            );
        }
        v.refresh(&mut e, t0 + 3 * s / 2);
        let text = screen(&mut v, 120, 24);
        assert!(
            text.contains("CONTAINER") && text.contains("default/api"),
            "{text}"
        );
        let mut typed = |v: &mut View, f: &str| {
            v.key(Key::Char('/'));
            for c in f.chars() {
                v.key(Key::Char(c));
            }
            v.key(Key::Enter);
            v.refresh(&mut e, t0 + 3 * s / 2);
            let mut pids: Vec<i32> = v
                .rows
                .iter()
                .filter_map(|r| r.info.as_ref())
                .map(|p| p.pid)
                .collect();
            pids.sort_unstable();
            pids
        };
        assert_eq!(typed(&mut v, "container:web"), [21]);
        assert_eq!(typed(&mut v, "container:0b6f8e9c"), [31]);
        assert_eq!(typed(&mut v, "container:C0FFEE"), [21, 31]);
        assert_eq!(typed(&mut v, "container:nope"), Vec::<i32>::new());
        // A plain filter also finds a container by (part of) its name.
        assert_eq!(typed(&mut v, "api"), [31]);
    }
}
