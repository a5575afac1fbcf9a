//! Aligned tables for terminal listings that fit the terminal (see [`crate::style::width`]).
//!
//! The policy is ours, the layout is `tabled`'s: every column starts at its natural width
//! (display columns, so CJK and emoji line up); when the row is too wide, the widest free-text
//! column is cut (with `…`; a path at its start) a column at a time, down to its minimum;
//! when that is not enough, the lowest-value droppable column is left out and the fitting
//! starts again. A row is never split over two lines: newlines and other control characters in a cell become spaces, and at
//! absurdly small widths the whole table is cut. `tabled` lays the cells out, measures them
//! (ANSI-aware, so coloured status words keep their alignment) and cuts them.

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::peaker::Priority;
use tabled::settings::{Modify, Padding, Style, Width};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Spaces between two columns.
const GAP: usize = 2;

/// One column: its header, whether and how far it may be cut, whether it may be left out.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    header: &'static str,
    /// `Some(min)`: free text, cut with `…` down to `min` columns.
    min: Option<usize>,
    /// `Some(rank)`: may be left out when cutting is not enough; the lowest rank goes first.
    drop: Option<u8>,
    /// Its cells are status words, coloured on a terminal.
    status: bool,
    /// Its cells are paths, cut at the start.
    path: bool,
}

impl Column {
    /// A column that is never cut (ids, numbers, statuses).
    pub const fn keep(header: &'static str) -> Self {
        Column {
            header,
            min: None,
            drop: None,
            status: false,
            path: false,
        }
    }

    /// A free-text column (title, task, summary, log path): cut with `…`, to no less than `min`.
    pub const fn cut(header: &'static str, min: usize) -> Self {
        Column {
            min: Some(min),
            ..Column::keep(header)
        }
    }

    /// May be left out when the table does not fit otherwise; lower ranks go first.
    pub const fn drop(self, rank: u8) -> Self {
        Column {
            drop: Some(rank),
            ..self
        }
    }

    /// A path: cut at its start (`…/claude-3fa9c2d1.log`), where it says least.
    pub const fn path(self) -> Self {
        Column { path: true, ..self }
    }

    /// Its cells hold status words (coloured when colour is on).
    pub const fn status(self) -> Self {
        Column {
            status: true,
            ..self
        }
    }
}

pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[Column]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.iter().map(|c| one_line(c)).collect();
        cells.resize(self.columns.len(), String::new());
        self.rows.push(cells);
    }

    /// The table for standard output: as wide as [`crate::style::width`] allows, coloured
    /// when [`crate::style::color`] says so.
    pub fn render(&self) -> String {
        self.render_with(crate::style::width(), crate::style::color())
    }

    /// The table fitted to `width` columns (`None`: no limit), coloured when `color`.
    pub fn render_with(&self, width: Option<usize>, color: bool) -> String {
        let natural: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].width())
                    .chain([self.columns[i].header.width()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let plan = fit(&self.columns, &natural, width);
        let shown: Vec<usize> = (0..self.columns.len())
            .filter(|&i| plan[i].is_some())
            .collect();
        let mut b = Builder::default();
        b.push_record(
            shown
                .iter()
                .map(|&i| crate::style::header(self.columns[i].header, color)),
        );
        for row in &self.rows {
            b.push_record(shown.iter().map(|&i| {
                let col = &self.columns[i];
                match plan[i] {
                    _ if col.status => crate::style::statuses(&row[i], color),
                    Some(w) if col.path => truncate_start(&row[i], w),
                    _ => row[i].clone(),
                }
            }));
        }
        let mut t = b.build();
        t.with(Style::empty());
        t.with(Padding::new(0, GAP, 0, 0));
        if let Some(last) = shown.len().checked_sub(1) {
            t.modify(Columns::one(last), Padding::zero());
        }
        for (pos, &i) in shown.iter().enumerate() {
            if let Some(w) = plan[i]
                && w < natural[i]
                && !self.columns[i].path
            {
                t.with(Modify::new(Columns::one(pos)).with(Width::truncate(w).suffix("…")));
            }
        }
        if let Some(limit) = width {
            // Only when even the kept columns do not fit: cut the whole table.
            t.with(
                Width::truncate(limit)
                    .suffix("…")
                    .priority(Priority::max(true)),
            );
        }
        let mut out = String::new();
        for line in t.to_string().lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Each column's width (`None`: left out) so that a row takes at most `width` columns.
fn fit(columns: &[Column], natural: &[usize], width: Option<usize>) -> Vec<Option<usize>> {
    let mut plan: Vec<Option<usize>> = natural.iter().copied().map(Some).collect();
    let Some(limit) = width else {
        return plan;
    };
    loop {
        let total = |plan: &[Option<usize>]| {
            let shown: Vec<usize> = plan.iter().flatten().copied().collect();
            shown.iter().sum::<usize>() + GAP * shown.len().saturating_sub(1)
        };
        let mut excess = total(&plan).saturating_sub(limit);
        while excess > 0 {
            // The widest column that may still be cut; the rightmost of equals.
            let widest = (0..columns.len())
                .filter(|&i| matches!((plan[i], columns[i].min), (Some(w), Some(m)) if w > m))
                .max_by_key(|&i| (plan[i], i));
            let Some(i) = widest else { break };
            if let Some(w) = plan[i].as_mut() {
                *w -= 1;
            }
            excess -= 1;
        }
        if excess == 0 {
            return plan;
        }
        let victim = (0..columns.len())
            .filter(|&i| plan[i].is_some())
            .filter_map(|i| columns[i].drop.map(|rank| (rank, i)))
            .min();
        let Some((_, gone)) = victim else {
            return plan;
        };
        plan = natural
            .iter()
            .enumerate()
            .map(|(i, &w)| (i != gone && plan[i].is_some()).then_some(w))
            .collect();
    }
}

/// A cell on one line: newlines, tabs and other control characters become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Cuts `s` to at most `max` display columns, ending in `…` when cut; newlines become spaces.
pub fn truncate(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.width() <= max {
        return s;
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// Cuts `s` to at most `max` display columns from the start, beginning with `…` when cut.
pub fn truncate_start(s: &str, max: usize) -> String {
    let s = one_line(s);
    if s.width() <= max {
        return s;
    }
    let mut tail = Vec::new();
    let mut w = 0;
    for c in s.chars().rev() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > max {
            break;
        }
        w += cw;
        tail.push(c);
    }
    std::iter::once('…').chain(tail.into_iter().rev()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&[
            Column::keep("STATUS").status(),
            Column::cut("TITLE", 10),
            Column::cut("TASK", 8).drop(1),
            Column::keep("ID"),
        ]);
        t.row(vec![
            "in_progress".into(),
            "a rather long title that goes on and on".into(),
            "a task\nover two lines".into(),
            "20251204-143000-weather".into(),
        ]);
        t
    }

    #[test]
    fn unlimited_keeps_everything_on_one_line_per_row() {
        let out = sample().render_with(None, false);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.contains("a rather long title that goes on and on"));
        assert!(out.contains("a task over two lines"));
    }

    #[test]
    fn cuts_the_widest_free_text_first_then_drops() {
        let out = sample().render_with(Some(70), false);
        assert!(out.lines().all(|l| l.width() <= 70), "{out}");
        assert!(out.contains('…'), "{out}");
        assert!(out.contains("TASK") && out.contains("20251204-143000-weather"));
        let out = sample().render_with(Some(50), false);
        assert!(out.lines().all(|l| l.width() <= 50), "{out}");
        assert!(!out.contains("TASK"), "{out}");
        assert!(out.contains("20251204-143000-weather"), "{out}");
        let out = sample().render_with(Some(20), false);
        assert!(out.lines().all(|l| l.width() <= 20), "{out}");
    }

    #[test]
    fn paths_are_cut_at_the_start() {
        assert_eq!(
            truncate_start(".agents/logs/abc/fake-1.log", 12),
            "…/fake-1.log"
        );
        assert_eq!(truncate_start("short", 12), "short");
        let mut t = Table::new(&[Column::keep("RUN"), Column::cut("LOG", 8).path()]);
        t.row(vec![
            "3fa9c2d1".into(),
            ".agents/logs/a-long-stem/fake-3fa9c2d1.log".into(),
        ]);
        let out = t.render_with(Some(40), false);
        assert!(out.lines().all(|l| l.width() <= 40), "{out}");
        assert!(
            out.contains("…") && out.contains("/fake-3fa9c2d1.log"),
            "{out}"
        );
    }

    #[test]
    fn colour_does_not_change_the_layout() {
        let plain = sample().render_with(Some(60), false);
        let coloured = sample().render_with(Some(60), true);
        assert!(coloured.contains("\x1b["));
        let stripped =
            String::from_utf8(anstream::adapter::strip_bytes(coloured.as_bytes()).into_vec())
                .unwrap();
        assert_eq!(stripped, plain);
    }
}
