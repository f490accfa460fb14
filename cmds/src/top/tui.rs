//! The `netkit top` screen: processes sorted by rate, drill-down into one process's
//! connections, a sparkline of the last minute, pause, sort, filter and help.
//!
//! The terminal is restored by a guard on every way out: quitting, Ctrl-C (a key in raw
//! mode), an error, and a panic (a hook restores it before the message is printed).

use super::signals::Flags;
use super::{monotonic_ns, ConnRow, Engine, Monitor, ProcKey, ProcRow, WriteTarget};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Terminal;
use std::io::{self, Stdout};
use std::time::{Duration, Instant};

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
    /// The process drilled into.
    pub detail: Option<ProcKey>,
    pub table: TableState,
    rows: Vec<ProcRow>,
    conns: Vec<ConnRow>,
    now_ns: i64,
    /// The status line: the last fault, dump or hint, with when it was set.
    pub status: Option<(String, Instant)>,
}

impl Default for View {
    fn default() -> View {
        View {
            sort: SortBy::Rate2,
            paused: false,
            filter: String::new(),
            editing_filter: false,
            help: false,
            detail: None,
            table: TableState::default().with_selected(Some(0)),
            rows: Vec::new(),
            conns: Vec::new(),
            now_ns: 0,
            status: None,
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
        engine.tick(now_ns);
        engine.drop_closed();
        let mut rows: Vec<ProcRow> = engine
            .rows(now_ns)
            .into_iter()
            .filter(|r| self.matches(r, engine))
            .collect();
        rows.sort_by(|a, b| {
            self.sort_key(b)
                .total_cmp(&self.sort_key(a))
                .then_with(|| a.key.cmp(&b.key))
        });
        self.rows = rows;
        if let Some(key) = &self.detail {
            let mut conns = engine.connections(key, now_ns);
            conns.sort_by(|a, b| {
                total_rate(b.rates[0])
                    .total_cmp(&total_rate(a.rates[0]))
                    .then((b.total_tx + b.total_rx).cmp(&(a.total_tx + a.total_rx)))
            });
            self.conns = conns;
        }
        let len = if self.detail.is_some() {
            self.conns.len()
        } else {
            self.rows.len()
        };
        let sel = self
            .table
            .selected()
            .unwrap_or(0)
            .min(len.saturating_sub(1));
        self.table.select(Some(sel));
    }

    /// Applies one key.
    pub fn key(&mut self, code: KeyCode, mods: KeyModifiers) -> Action {
        if mods.contains(KeyModifiers::CONTROL) && code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if self.editing_filter {
            match code {
                KeyCode::Enter | KeyCode::Esc => self.editing_filter = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            return Action::Continue;
        }
        if self.help {
            self.help = false;
            return Action::Continue;
        }
        match code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('w') => return Action::Dump,
            KeyCode::Char('?') | KeyCode::Char('h') => self.help = true,
            KeyCode::Char('p') | KeyCode::Char(' ') => self.paused = !self.paused,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('/') => {
                self.editing_filter = true;
                self.filter.clear();
            }
            KeyCode::Down | KeyCode::Char('j') => self.table.select_next(),
            KeyCode::Up | KeyCode::Char('k') => self.table.select_previous(),
            KeyCode::Enter | KeyCode::Right if self.detail.is_none() => {
                let sel = self.table.selected().unwrap_or(0);
                if let Some(row) = self.rows.get(sel) {
                    self.detail = Some(row.key.clone());
                    self.conns.clear();
                    self.table.select(Some(0));
                    self.paused = false;
                }
            }
            KeyCode::Esc | KeyCode::Left | KeyCode::Backspace => {
                self.detail = None;
                self.table.select(Some(0));
            }
            _ => {}
        }
        Action::Continue
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

fn row_name(row: &ProcRow) -> (String, String, String) {
    match &row.info {
        Some(p) => (p.pid.to_string(), p.comm.clone(), p.cmdline.clone()),
        None => ("-".into(), "<unattributed>".into(), String::new()),
    }
}

fn draw(frame: &mut ratatui::Frame<'_>, view: &mut View) {
    let [header, body, spark, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(5),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let title = format!(
        "netkit top  sort:{}{}{}",
        view.sort.name(),
        if view.paused { "  [PAUSED]" } else { "" },
        if view.filter.is_empty() {
            String::new()
        } else {
            format!("  filter:{}", view.filter)
        }
    );
    frame.render_widget(Paragraph::new(title), header);
    let rate = |r: (f64, f64)| human_rate(total_rate(r));
    let history;
    if let Some(key) = view.detail.clone() {
        let rows: Vec<Row> = view
            .conns
            .iter()
            .map(|c| {
                Row::new(vec![
                    Cell::from(c.key.proto.name()),
                    Cell::from(c.key.local.to_string()),
                    Cell::from(c.key.remote.to_string()),
                    Cell::from(c.remote_name.clone().unwrap_or_default()),
                    Cell::from(human_rate(c.rates[0].0)),
                    Cell::from(human_rate(c.rates[0].1)),
                    Cell::from(rate(c.rates[1])),
                    Cell::from(human_bytes((c.total_tx + c.total_rx) as f64)),
                ])
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
        let table = Table::new(
            rows,
            [
                Constraint::Length(5),
                Constraint::Length(22),
                Constraint::Length(22),
                Constraint::Min(10),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(10),
            ],
        )
        .header(
            Row::new([
                "PROTO", "LOCAL", "REMOTE", "HOST", "TX 2s", "RX 2s", "10s", "TOTAL",
            ])
            .style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(Block::default().borders(Borders::ALL).title(name))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        frame.render_stateful_widget(table, body, &mut view.table);
    } else {
        let rows: Vec<Row> = view
            .rows
            .iter()
            .map(|r| {
                let (pid, comm, cmd) = row_name(r);
                Row::new(vec![
                    Cell::from(pid),
                    Cell::from(comm),
                    Cell::from(r.netns.clone()),
                    Cell::from(human_rate(r.rates[0].0)),
                    Cell::from(human_rate(r.rates[0].1)),
                    Cell::from(rate(r.rates[1])),
                    Cell::from(rate(r.rates[2])),
                    Cell::from(human_rate(r.peak)),
                    Cell::from(human_bytes((r.total_tx + r.total_rx) as f64)),
                    Cell::from(r.connections.to_string()),
                    Cell::from(cmd),
                ])
            })
            .collect();
        let mut all = super::Meter::default();
        for r in &view.rows {
            all.merge(&r.meter);
        }
        history = all.history(view.now_ns, 60);
        let ns_width = view
            .rows
            .iter()
            .map(|r| r.netns.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 24) as u16;
        let table = Table::new(
            rows,
            [
                Constraint::Length(7),
                Constraint::Length(15),
                Constraint::Length(ns_width),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(10),
                Constraint::Length(5),
                Constraint::Min(10),
            ],
        )
        .header(
            Row::new([
                "PID", "PROCESS", "NETNS", "TX 2s", "RX 2s", "10s", "40s", "PEAK", "TOTAL", "CONN",
                "COMMAND",
            ])
            .style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(Block::default().borders(Borders::ALL).title(" processes "))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        frame.render_stateful_widget(table, body, &mut view.table);
    }
    let spark_widget = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(" last 60 s "))
        .data(&history);
    frame.render_widget(spark_widget, spark);
    if let Some((text, _)) = &view.status {
        frame.render_widget(
            Paragraph::new(text.as_str()).style(Style::default().add_modifier(Modifier::BOLD)),
            status,
        );
    }
    let keys = if view.editing_filter {
        format!(
            "filter (process, host or port): {}_   Enter: done",
            view.filter
        )
    } else {
        "q quit  s sort  p pause  / filter  Enter drill down  Esc back  w write  ? help".to_string()
    };
    frame.render_widget(Paragraph::new(keys), footer);
    if view.help {
        let area = centered(frame.area(), 60, 15);
        let text = vec![
            Line::from("netkit top: traffic by process, per namespace"),
            Line::from(""),
            Line::from("  q, Ctrl-C   quit"),
            Line::from("  s           sort: 2s, 10s, 40s rate, peak, total"),
            Line::from("  p, space    pause / resume"),
            Line::from("  /           filter by process, host or port"),
            Line::from("  Up/Down     select"),
            Line::from("  Enter       connections of the selected process"),
            Line::from("  Esc         back to processes"),
            Line::from("  w           write recent frames to the --write file"),
            Line::from(""),
            Line::from("Rates are wire bytes over complete seconds."),
        ];
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(" help ")),
            area,
        );
    }
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

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
}

/// Restores the terminal when dropped, whatever the way out.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// How long a dump or fault stays in the status line (a fault that left nothing to
/// watch stays for good).
const STATUS_FOR: Duration = Duration::from_secs(30);

/// Writes the ring and says how it went in the status line.
fn dump(monitor: &Monitor, write: Option<&WriteTarget>, view: &mut View) {
    let text = match write {
        None => "w: start netkit top with --write PATH to keep recent frames".to_string(),
        Some(target) => match monitor.dump(target) {
            Ok(summary) => summary.to_string(),
            Err(e) => e,
        },
    };
    view.status = Some((text, Instant::now()));
}

/// Runs the screen until the user quits. Faults the monitor reports (a namespace
/// deleted, an interface gone) show in the status line; the screen keeps running, also
/// when nothing is left to watch, so the numbers can still be read and written.
pub fn run(
    monitor: &Monitor,
    write: Option<&WriteTarget>,
    signals: Option<&Flags>,
) -> Result<(), String> {
    let engine = monitor.engine.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let _guard = TerminalGuard;
    execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)
        .map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(io::stdout()))
            .map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let mut view = View::default();
    let mut last = Instant::now() - Duration::from_secs(2);
    let mut notices_seen = 0;
    let mut dumps_seen = 0;
    loop {
        if let Some(n) = monitor.notices.since(&mut notices_seen).pop() {
            view.status = Some((n.message, Instant::now()));
        }
        if signals.is_some_and(|s| s.take_dumps(&mut dumps_seen) > 0) {
            dump(monitor, write, &mut view);
        }
        if monitor.active() == 0 {
            let why = monitor
                .notices
                .last()
                .map_or(String::new(), |n| format!("{}; ", n.message));
            let text = format!("{why}nothing left to watch (q quits)");
            if !view
                .status
                .as_ref()
                .is_some_and(|(s, _)| s.starts_with("wrote "))
            {
                view.status = Some((text, Instant::now()));
            }
        } else if view
            .status
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() > STATUS_FOR)
        {
            view.status = None;
        }
        if last.elapsed() >= Duration::from_secs(1) {
            let mut e = engine.lock().unwrap_or_else(|e| e.into_inner());
            view.refresh(&mut e, monotonic_ns());
            last = Instant::now();
        }
        terminal
            .draw(|f| draw(f, &mut view))
            .map_err(|e| format!("cannot draw: {e}"))?;
        if event::poll(Duration::from_millis(250)).map_err(|e| e.to_string())? {
            if let Event::Key(k) = event::read().map_err(|e| e.to_string())? {
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                match view.key(k.code, k.modifiers) {
                    Action::Quit => return Ok(()),
                    Action::Dump => {
                        view.status = Some(("writing...".to_string(), Instant::now()));
                        terminal
                            .draw(|f| draw(f, &mut view))
                            .map_err(|e| format!("cannot draw: {e}"))?;
                        dump(monitor, write, &mut view);
                    }
                    Action::Continue => {}
                }
                // Show the effect of a key at once (new sort, drill-down).
                let mut e = engine.lock().unwrap_or_else(|e| e.into_inner());
                let was_paused = view.paused;
                view.paused = false;
                view.refresh(&mut e, monotonic_ns());
                view.paused = was_paused;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Dir, FlowKey, ProcInfo, Proto};
    use super::*;
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
                &super::super::Packet {
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
                })),
            );
        }
        let now = t0 + 1_500_000_000;
        let mut v = View::default();
        v.refresh(&mut e, now);
        assert_eq!(v.rows[0].info.as_ref().unwrap().pid, 2);
        v.key(KeyCode::Char('/'), KeyModifiers::NONE);
        v.key(KeyCode::Char('c'), KeyModifiers::NONE);
        v.key(KeyCode::Char('1'), KeyModifiers::NONE);
        v.key(KeyCode::Enter, KeyModifiers::NONE);
        v.refresh(&mut e, now);
        assert_eq!(v.rows.len(), 1);
        assert_eq!(v.rows[0].info.as_ref().unwrap().pid, 1);
        assert_eq!(v.key(KeyCode::Enter, KeyModifiers::NONE), Action::Continue);
        v.refresh(&mut e, now);
        assert_eq!(v.conns.len(), 1);
        assert_eq!(v.conns[0].key.local.port(), 1);
        v.key(KeyCode::Esc, KeyModifiers::NONE);
        assert!(v.detail.is_none());
        v.key(KeyCode::Char('s'), KeyModifiers::NONE);
        assert_eq!(v.sort, SortBy::Rate10);
        assert_eq!(
            v.key(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Action::Quit
        );
        assert_eq!(human_rate(1234.0), "1.2 KB/s");
        assert_eq!(human_bytes(999.0), "999 B");
    }
}
