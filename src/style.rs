//! Colour and width of what the person reads on standard output.
//!
//! Colour: `--color auto|always|never` (default `auto`) is stored once, as `anstream`'s global
//! choice, so `validate`'s reporter and the tables decide alike: `auto` colours only a terminal,
//! and never when `NO_COLOR` is set (`CLICOLOR_FORCE` forces it, as anstream documents).
//! Width: `COLUMNS` when set, else the terminal's width, else (a pipe or file) no limit.
//! `--json` is never styled or cut.

use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorWhen {
    /// Colour a terminal, unless NO_COLOR is set
    #[default]
    Auto,
    /// Always colour, even into a pipe
    Always,
    /// Never colour
    Never,
}

/// Records the `--color` choice for the whole process.
pub fn init(when: ColorWhen) {
    let choice = match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

/// Whether standard output gets colour (the `--color` choice, `NO_COLOR`, a terminal or not).
pub fn color() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// How many columns a line of standard output may take: `COLUMNS` when set to a positive
/// number, else the terminal's width, else `None` (no limit: piped output keeps full values).
pub fn width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return Some(n);
    }
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    terminal_size::terminal_size_of(&out)
        .map(|(w, _)| usize::from(w.0))
        .filter(|&w| w > 0)
}

/// The style of a status word: sessions' and runs' statuses, `lost` and `stale`.
fn status_style(word: &str) -> Option<Style> {
    let color = match word {
        "running" | "in_progress" | "starting" => AnsiColor::Green,
        "completed" => AnsiColor::Blue,
        "failed" | "lost" | "invalid" => AnsiColor::Red,
        "cancelled" => AnsiColor::Magenta,
        "paused" | "stale" => AnsiColor::Yellow,
        _ => return None,
    };
    Some(Style::new().fg_color(Some(color.into())))
}

/// `text` with each status word in it coloured (`failed (lost)`, `3h stale`), when `color`.
pub fn statuses(text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match status_style(word) {
            Some(s) => out.push_str(&format!("{}{word}{}", s.render(), s.render_reset())),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_lowercase() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A header row's style (bold), when `color`.
pub fn header(text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let s = Style::new().bold();
    format!("{}{text}{}", s.render(), s.render_reset())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_status_words_are_coloured() {
        assert_eq!(statuses("failed (lost)", false), "failed (lost)");
        let c = statuses("failed (lost)", true);
        assert_eq!(c.matches("\x1b[31m").count(), 2, "{c:?}");
        assert_eq!(statuses("5m", true), "5m");
        let s = statuses("5m stale", true);
        assert!(s.starts_with("5m \x1b[33mstale"), "{s:?}");
        assert!(statuses("in_progress", true).contains("\x1b[32min_progress"));
        assert_eq!(statuses("runningx", true), "runningx");
    }
}
