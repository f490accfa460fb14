//! Every table netkit prints: one header style (upper case, as `ss`, `ip` and `ps`
//! print theirs), sharp borders, and one rule for narrow terminals: values are never
//! cut. Addresses, ports, PIDs and names are what a reader copies into the next
//! command, and a clipped one silently misleads; when the table is wider than the
//! terminal, the columns the view marked as low-value are left out first (named in
//! a note under the table, so nothing goes silently), then only the free-text column
//! (the last, unless the view names another) wraps at word boundaries.

use super::Term;

/// Below this many columns of room, wrapping the free-text column would make it
/// unreadable: the table is printed wide and the terminal wraps it instead.
const MIN_WRAP: usize = 16;

/// Rows of strings under upper-case headers.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The column that may wrap on a narrow terminal (free text); default the last.
    wrap: Option<usize>,
    /// Headers of the columns that may be left out on a narrow terminal, the one of
    /// least value first.
    droppable: Vec<String>,
    /// Headers of the columns whose cells may be laid out on several lines when the
    /// table is still too wide: broken at spaces and before `(`, so `curl(4242)`
    /// becomes `curl` over `(4242)`, never a cut name or PID.
    breakable: Vec<String>,
}

impl Table {
    pub fn new<S: AsRef<str>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            headers: headers
                .into_iter()
                .map(|h| h.as_ref().to_uppercase())
                .collect(),
            rows: Vec::new(),
            wrap: None,
            droppable: Vec::new(),
            breakable: Vec::new(),
        }
    }

    /// Columns (by header) whose cells may go on several lines at spaces and before
    /// `(` when dropping columns was not enough.
    pub fn breakable<S: AsRef<str>>(mut self, headers: impl IntoIterator<Item = S>) -> Table {
        self.breakable = headers
            .into_iter()
            .map(|h| h.as_ref().to_uppercase())
            .collect();
        self
    }

    /// Columns (by header) that may be left out, least valuable first, when the table
    /// is wider than the terminal; the ones left out are named under the table.
    pub fn droppable<S: AsRef<str>>(mut self, headers: impl IntoIterator<Item = S>) -> Table {
        self.droppable = headers
            .into_iter()
            .map(|h| h.as_ref().to_uppercase())
            .collect();
        self
    }

    /// Adds a row; missing cells are empty, extra ones are dropped.
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The column (by index) that wraps when the terminal is too narrow.
    pub fn wrap_column(mut self, index: usize) -> Table {
        self.wrap = Some(index);
        self
    }

    /// Removes column `index` (e.g. the namespace column when only one namespace is shown).
    pub fn without_column(mut self, index: usize) -> Table {
        if index < self.headers.len() {
            self.headers.remove(index);
            for r in &mut self.rows {
                r.remove(index);
            }
            self.wrap = match self.wrap {
                Some(w) if w > index => Some(w - 1),
                Some(w) if w == index => None,
                other => other,
            };
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The table as text, fitted to `term.width`: low-value columns left out first
    /// (and named in a note), then the free-text column wrapped; other cells are never
    /// cut. When even that does not fit, the table is printed wide.
    pub fn render(&self, term: &Term) -> String {
        use tabled::settings::{object::Columns, Modify, Style, Width};
        let column_widths = |rows: &[Vec<String>]| {
            let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
            for r in rows {
                for (w, cell) in widths.iter_mut().zip(r) {
                    let longest = cell.lines().map(|l| l.chars().count()).max().unwrap_or(0);
                    *w = (*w).max(longest);
                }
            }
            widths
        };
        let mut rows = std::borrow::Cow::Borrowed(&self.rows);
        let mut widths = column_widths(&rows);
        let wrap = self
            .wrap
            .unwrap_or(self.headers.len().saturating_sub(1))
            .min(self.headers.len().saturating_sub(1));
        // Each column adds a border and two padding spaces; one more border closes a row.
        let total = |shown: &[usize]| shown.iter().map(|&i| widths[i] + 3).sum::<usize>() + 1;
        // Whether `shown` fits `tw`, the free-text column wrapped to no less than
        // MIN_WRAP.
        let fits = |shown: &[usize], tw: usize| {
            let t = total(shown);
            t <= tw
                || (shown.contains(&wrap) && t - widths[wrap] + widths[wrap].min(MIN_WRAP) <= tw)
        };
        let mut shown: Vec<usize> = (0..self.headers.len()).collect();
        let mut dropped: Vec<&str> = Vec::new();
        if let Some(tw) = term.width {
            for name in &self.droppable {
                if fits(&shown, tw) {
                    break;
                }
                if let Some(pos) = shown.iter().position(|&i| &self.headers[i] == name) {
                    shown.remove(pos);
                    dropped.push(name);
                }
            }
        }
        if let Some(tw) = term.width {
            let fits_now = fits(&shown, tw);
            let breakable: Vec<usize> = (0..self.headers.len())
                .filter(|i| self.breakable.contains(&self.headers[*i]))
                .collect();
            if !fits_now && !breakable.is_empty() {
                let broken: Vec<Vec<String>> = self
                    .rows
                    .iter()
                    .map(|r| {
                        r.iter()
                            .enumerate()
                            .map(|(i, c)| {
                                if breakable.contains(&i) {
                                    break_cell(c)
                                } else {
                                    c.clone()
                                }
                            })
                            .collect()
                    })
                    .collect();
                widths = column_widths(&broken);
                rows = std::borrow::Cow::Owned(broken);
            }
        }
        // Again: the widths may have changed with the broken cells.
        let total = |shown: &[usize]| shown.iter().map(|&i| widths[i] + 3).sum::<usize>() + 1;
        let mut b = tabled::builder::Builder::default();
        b.push_record(shown.iter().map(|&i| self.headers[i].clone()));
        for r in rows.iter() {
            b.push_record(shown.iter().map(|&i| r[i].clone()));
        }
        let mut t = b.build();
        t.with(Style::sharp());
        if let (Some(tw), Some(wrap_at)) = (term.width, shown.iter().position(|&i| i == wrap)) {
            let all = total(&shown);
            let room = tw.saturating_sub(all - widths[wrap]);
            if all > tw && room >= MIN_WRAP {
                t.with(Modify::new(Columns::one(wrap_at)).with(Width::wrap(room).keep_words(true)));
            }
        }
        let mut out = t.to_string();
        if !dropped.is_empty() {
            let note = format!(
                "(not shown at this width: {}; widen the terminal or use --json)",
                dropped.join(", ")
            );
            out.push('\n');
            out.push_str(&word_wrap(&note, term.width.unwrap_or(usize::MAX)));
        }
        out
    }
}

/// `text` on lines of at most `width` characters, broken at spaces.
fn word_wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split(' ') {
        let n = word.chars().count();
        if line_len > 0 && line_len + 1 + n > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += n;
    }
    out
}

/// A cell laid out on several lines: at spaces, and before `(` (a PID after a name).
fn break_cell(cell: &str) -> String {
    cell.split_whitespace()
        .map(|word| match word.find('(') {
            Some(at) if at > 0 => format!("{}\n{}", &word[..at], &word[at..]),
            _ => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(["netns", "local", "tcp info"]);
        t.row(vec![
            "ns-VRF1".into(),
            "[2001:db8::1]:443".into(),
            "cubic rtt 0.123/0.050ms cwnd 10 retrans 0/0 acked 1234 rcvd 5678".into(),
        ]);
        t
    }

    #[test]
    fn headers_are_upper_case_and_values_never_cut() {
        let wide = sample().render(&Term::default());
        assert!(wide.contains("TCP INFO"), "{wide}");
        let narrow = sample().render(&Term {
            colour: false,
            width: Some(60),
        });
        // The address stays whole; only the free text wrapped onto more lines.
        assert!(narrow.contains("[2001:db8::1]:443"), "{narrow}");
        assert!(narrow.lines().count() > wide.lines().count());
        assert!(narrow.lines().all(|l| l.chars().count() <= 60), "{narrow}");
    }

    #[test]
    fn low_value_columns_go_first_and_are_named() {
        let mut t = Table::new(["netns", "state", "send-q", "local", "peer", "info"]);
        t.row(vec![
            "ns-VRF1-long".into(),
            "ESTAB".into(),
            "0".into(),
            "[2001:db8:1:2::10]:44321".into(),
            "[2001:db8:1:2::20]:443".into(),
            "cubic rtt 0.123/0.050ms cwnd 10 retrans 0/0 acked 1234 rcvd 5678".into(),
        ]);
        let t = t.droppable(["info", "send-q", "state"]);
        let wide = t.render(&Term::default());
        assert!(
            wide.contains("SEND-Q") && !wide.contains("not shown"),
            "{wide}"
        );
        let narrow = t.render(&Term {
            colour: false,
            width: Some(80),
        });
        for whole in [
            "ns-VRF1-long",
            "[2001:db8:1:2::10]:44321",
            "[2001:db8:1:2::20]:443",
        ] {
            assert!(narrow.contains(whole), "{whole} cut: {narrow}");
        }
        assert!(narrow.lines().all(|l| l.chars().count() <= 80), "{narrow}");
        // Only as many columns as needed went, least valuable first, and are named.
        let header = narrow.lines().nth(1).unwrap_or_default();
        assert!(
            !header.contains("INFO") && !narrow.contains("cubic"),
            "{narrow}"
        );
        assert!(header.contains("STATE"), "{narrow}");
        assert!(
            narrow.replace('\n', " ").ends_with(
                "(not shown at this width: INFO, SEND-Q; widen the terminal or use --json)"
            ),
            "{narrow}"
        );
    }

    #[test]
    fn a_column_can_be_dropped() {
        let t = sample().without_column(0).render(&Term::default());
        assert!(!t.contains("NETNS") && t.contains("LOCAL"));
    }
}
