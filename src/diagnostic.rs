//! Diagnostics located by file, line and column, and the four ways `validate` prints them.
//! Reporters stream: they write each file's diagnostics as soon as it is checked, so memory
//! stays flat however many files are validated.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::session::document::{Positions, line_at};
use crate::session::rules::{self, Finding, Severity};

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    pub rule: &'static str,
    pub message: String,
    /// The source line the diagnostic points into (for the caret display).
    #[serde(skip)]
    pub source_line: String,
}

impl Diagnostic {
    /// Locates a finding; `positions` must be fed findings in offset order for linear time.
    pub fn from_finding(path: &str, src: &str, positions: &mut Positions, f: &Finding) -> Self {
        let Some(offset) = f.offset else {
            return Diagnostic::file_level(path, f.rule, f.message.clone());
        };
        let (line, column) = positions.at(offset);
        Diagnostic {
            path: path.to_string(),
            line,
            column,
            severity: f.rule.severity,
            rule: f.rule.id,
            message: f.message.clone(),
            source_line: line_at(src, offset).to_string(),
        }
    }

    /// A diagnostic about the whole file (at 1:1, no source line).
    pub fn file_level(path: &str, rule: &'static rules::Rule, message: String) -> Self {
        Diagnostic {
            path: path.to_string(),
            line: 1,
            column: 1,
            severity: rule.severity,
            rule: rule.id,
            message,
            source_line: String::new(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
}

impl Totals {
    pub fn add(&mut self, diags: &[Diagnostic]) {
        self.files += 1;
        for d in diags {
            match d.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-style text with the offending line and a caret (colored on a terminal)
    Human,
    /// one JSON object: {files, errors, warnings, diagnostics: [...]}
    Json,
    /// GitHub Actions workflow commands (::error file=…,line=…,col=…::message)
    Github,
    /// SARIF 2.1.0 for code-scanning upload
    Sarif,
}

/// Writes diagnostics in one format. Call `begin`, then `file` per checked file, then `end`.
pub struct Reporter<W: Write> {
    format: Format,
    out: W,
    first: bool,
}

impl<W: Write> Reporter<W> {
    pub fn new(format: Format, out: W) -> Self {
        Reporter {
            format,
            out,
            first: true,
        }
    }

    pub fn begin(&mut self) -> io::Result<()> {
        match self.format {
            Format::Json => write!(self.out, "{{\"diagnostics\":["),
            Format::Sarif => {
                let rules: Vec<_> = rules::ALL
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id,
                            "shortDescription": {"text": r.summary},
                            "defaultConfiguration": {"level": r.severity.as_str()},
                        })
                    })
                    .collect();
                let driver = serde_json::json!({
                    "name": "sessions",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                });
                write!(
                    self.out,
                    "{{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[{{\"tool\":{{\"driver\":{driver}}},\"results\":["
                )
            }
            Format::Human | Format::Github => Ok(()),
        }
    }

    pub fn file(&mut self, diags: &[Diagnostic]) -> io::Result<()> {
        for d in diags {
            match self.format {
                Format::Human => write_human(&mut self.out, d)?,
                Format::Github => {
                    let level = match d.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    };
                    writeln!(
                        self.out,
                        "::{level} file={},line={},col={},title={}::{}",
                        escape_property(&d.path),
                        d.line,
                        d.column,
                        escape_property(d.rule),
                        escape_data(&d.message)
                    )?;
                }
                Format::Json => {
                    self.separator()?;
                    serde_json::to_writer(&mut self.out, d)?;
                }
                Format::Sarif => {
                    self.separator()?;
                    let result = serde_json::json!({
                        "ruleId": d.rule,
                        "level": d.severity.as_str(),
                        "message": {"text": d.message},
                        "locations": [{"physicalLocation": {
                            "artifactLocation": {"uri": d.path},
                            "region": {"startLine": d.line, "startColumn": d.column},
                        }}],
                    });
                    serde_json::to_writer(&mut self.out, &result)?;
                }
            }
        }
        Ok(())
    }

    fn separator(&mut self) -> io::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.write_all(b",")?;
        }
        Ok(())
    }

    pub fn end(mut self, totals: Totals) -> io::Result<()> {
        match self.format {
            Format::Human => {
                let bold = Style::new().bold();
                let (style, word) = if totals.errors > 0 {
                    (AnsiColor::Red.on_default().bold(), "failed")
                } else {
                    (AnsiColor::Green.on_default().bold(), "ok")
                };
                writeln!(
                    self.out,
                    "{style}{word}{style:#}{bold}: {} file{} checked, {} error{}, {} warning{}{bold:#}",
                    totals.files,
                    plural(totals.files),
                    totals.errors,
                    plural(totals.errors),
                    totals.warnings,
                    plural(totals.warnings),
                )?;
            }
            Format::Json => writeln!(
                self.out,
                "],\"files\":{},\"errors\":{},\"warnings\":{}}}",
                totals.files, totals.errors, totals.warnings
            )?,
            Format::Sarif => writeln!(self.out, "]}}]}}")?,
            Format::Github => {}
        }
        self.out.flush()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn write_human<W: Write>(out: &mut W, d: &Diagnostic) -> io::Result<()> {
    let (color, label) = match d.severity {
        Severity::Error => (AnsiColor::Red, "error"),
        Severity::Warning => (AnsiColor::Yellow, "warning"),
    };
    let head = color.on_default().bold();
    let bold = Style::new().bold();
    let blue = AnsiColor::Blue.on_default().bold();
    writeln!(
        out,
        "{head}{label}[{}]{head:#}{bold}: {}{bold:#}",
        d.rule,
        crate::terminal::line(&d.message)
    )?;
    let num = d.line.to_string();
    let pad = " ".repeat(num.len());
    writeln!(
        out,
        "{pad}{blue}-->{blue:#} {}:{}:{}",
        crate::terminal::line(&d.path),
        d.line,
        d.column
    )?;
    if !d.source_line.is_empty() {
        let raw: String = d
            .source_line
            .chars()
            .take(200)
            .collect::<String>()
            .replace('\t', " ");
        // Control characters are shown visibly (see `terminal.rs`), before and under the caret.
        let shown = crate::terminal::line(&raw);
        let before =
            crate::terminal::line(&raw.chars().take(d.column - 1).collect::<String>()).into_owned();
        let width = raw
            .chars()
            .skip(d.column - 1)
            .take_while(|c| !c.is_whitespace())
            .count()
            .max(1);
        let indent = unicode_width::UnicodeWidthStr::width(before.as_str());
        writeln!(out, "{pad} {blue}|{blue:#}")?;
        writeln!(out, "{blue}{num} |{blue:#} {shown}")?;
        writeln!(
            out,
            "{pad} {blue}|{blue:#} {}{head}{}{head:#}",
            " ".repeat(indent),
            "^".repeat(width)
        )?;
    }
    writeln!(out)
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
