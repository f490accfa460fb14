//! Every table netkit prints: one header style (upper case, as `ss`, `ip` and `ps`
//! print theirs), sharp borders, and one rule for narrow terminals: values are never
//! cut. Addresses, ports, PIDs and names are what a reader copies into the next
//! command, and a clipped one silently misleads; when the table is wider than the
//! terminal only the free-text column (the last, unless the view names another) wraps
//! at word boundaries.

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
        }
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

    /// Drops column `index` (e.g. the namespace column when only one namespace is shown).
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

    /// The table as text, fitted to `term.width` by wrapping only the free-text column.
    pub fn render(&self, term: &Term) -> String {
        use tabled::settings::{object::Columns, Modify, Style, Width};
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                let longest = cell.lines().map(|l| l.chars().count()).max().unwrap_or(0);
                *w = (*w).max(longest);
            }
        }
        // Each column adds a border and two padding spaces; one more border closes a row.
        let total: usize = widths.iter().map(|w| w + 3).sum::<usize>() + 1;
        let wrap = self
            .wrap
            .unwrap_or(self.headers.len().saturating_sub(1))
            .min(self.headers.len().saturating_sub(1));
        let wrap_width = widths.get(wrap).copied().unwrap_or(0);
        let mut b = tabled::builder::Builder::default();
        b.push_record(self.headers.clone());
        for r in &self.rows {
            b.push_record(r.clone());
        }
        let mut t = b.build();
        t.with(Style::sharp());
        if let Some(tw) = term.width {
            let room = tw.saturating_sub(total - wrap_width);
            if total > tw && room >= MIN_WRAP {
                t.with(Modify::new(Columns::one(wrap)).with(Width::wrap(room).keep_words(true)));
            }
        }
        t.to_string()
    }
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
    fn a_column_can_be_dropped() {
        let t = sample().without_column(0).render(&Term::default());
        assert!(!t.contains("NETNS") && t.contains("LOCAL"));
    }
}
