//! `sessions validate`: check files in parallel and stream diagnostics in file order.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::Ctx;
use crate::cli::ValidateArgs;
use crate::diagnostic::{Diagnostic, Reporter, Totals};
use crate::error::{Error, Result};
use crate::session::rules::Severity;
use crate::session::{Document, edit, fix};
use crate::validation::validate_file;
use crate::write;

/// Files are checked in chunks: in parallel within a chunk, printed in order between chunks,
/// so output is deterministic and memory does not grow with the number of files.
const CHUNK: usize = 512;

pub fn run(ctx: &Ctx, args: ValidateArgs) -> Result<u8> {
    let files = collect(ctx, &args.paths)?;
    if args.fix {
        fix_all(ctx, &files, args.dry_run);
    }
    // With `--fix --dry-run` stdout is the patch alone (`… | git apply`); the report goes to
    // stderr.
    // One buffered writer: the reporter writes each diagnostic in many small pieces.
    let out: Box<dyn std::io::Write> = if args.fix && args.dry_run {
        Box::new(std::io::BufWriter::new(anstream::stderr().lock()))
    } else {
        Box::new(std::io::BufWriter::new(anstream::stdout().lock()))
    };
    let mut reporter = Reporter::new(args.format, out);
    let io = |e: std::io::Error| Error::write(Path::new("<stdout>"), e);
    reporter.begin().map_err(io)?;
    let mut totals = Totals::default();
    let mut unreadable = Vec::new();
    for chunk in files.chunks(CHUNK) {
        let results: Vec<Result<Vec<Diagnostic>>> = chunk
            .par_iter()
            .map_init(Vec::new, |buf, path| {
                // Most files have nothing to report: their shown path is made only when
                // there is a diagnostic to carry it.
                let mut diags = validate_file(Some(&ctx.repo), path, "", buf, ctx.now)?;
                if args.quiet {
                    diags.retain(|d| d.severity == Severity::Error);
                }
                if !diags.is_empty() {
                    let display = ctx.show_path(path);
                    for d in &mut diags {
                        d.path.clone_from(&display);
                    }
                }
                Ok(diags)
            })
            .collect();
        for result in results {
            match result {
                Ok(diags) => {
                    totals.add(&diags);
                    reporter.file(&diags).map_err(io)?;
                }
                Err(e) => unreadable.push(e),
            }
        }
    }
    reporter.end(totals).map_err(io)?;
    for e in &unreadable {
        eprintln!("sessions: {e}");
    }
    Ok(if !unreadable.is_empty() {
        2
    } else if totals.errors > 0 || (args.strict && totals.warnings > 0) {
        1
    } else {
        0
    })
}

/// Applies the safe repairs to each file, or with `dry_run` prints them on stdout as a patch
/// that `git apply` accepts from the repository root. What was (or would be) changed goes to
/// stderr.
fn fix_all(ctx: &Ctx, files: &[PathBuf], dry_run: bool) {
    let mut fixed = 0;
    for path in files {
        let display = ctx.show_path(path);
        let Ok(text) = crate::store::read_session(path) else {
            continue;
        };
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map(chrono::DateTime::<chrono::Utc>::from)
            .unwrap_or(ctx.now);
        let planned = fix::fixes(&Document::parse(&text), mtime);
        if planned.is_empty() {
            continue;
        }
        let ops_for = |t: &str| {
            fix::fixes(&Document::parse(t), mtime)
                .into_iter()
                .map(|f| f.op)
                .collect::<Vec<_>>()
        };
        if dry_run {
            match edit::apply(&text, &ops_for(&text), ctx.now) {
                Ok(Some(after)) => {
                    let rel = path
                        .strip_prefix(&ctx.repo.root)
                        .unwrap_or(path)
                        .to_string_lossy()
                        .into_owned();
                    print!("{}", write::patch(&rel, &text, &after));
                    fixed += 1;
                    for f in &planned {
                        eprintln!("would fix {display}: {}", f.what);
                    }
                }
                Ok(None) => {}
                Err(e) => eprintln!("cannot fix {display}: {e}"),
            }
            continue;
        }
        match super::edit_session(ctx, path, |t| Ok(ops_for(t))) {
            Ok(write::Outcome::Written { .. }) => {
                fixed += 1;
                for f in &planned {
                    eprintln!("fixed {display}: {}", f.what);
                }
            }
            Ok(write::Outcome::Unchanged) => {}
            Err(e) => eprintln!("cannot fix {display}: {e}"),
        }
    }
    let s = if fixed == 1 { "" } else { "s" };
    if dry_run {
        eprintln!(
            "would fix {fixed} file{s}{}",
            if fixed > 0 {
                " (the patch is on stdout: `sessions validate --fix --dry-run | git apply` applies it)"
            } else {
                ""
            }
        );
    } else {
        eprintln!("fixed {fixed} file{s}");
    }
}

/// The files to check: explicit files as given, directories' `*.md` files (not recursing into
/// `archive/`), or the repository's sessions directory.
fn collect(ctx: &Ctx, paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if paths.is_empty() {
        // Non-regular entries (a FIFO named `x.md`) are checked too: they get a
        // `not-regular-file` diagnostic without ever being opened for a blocking read.
        let scan = ctx.repo.scan_sessions()?;
        let mut files = scan.files;
        files.extend(scan.skipped.into_iter().map(|(p, _)| p));
        files.sort();
        return Ok(files);
    }
    let mut files = Vec::new();
    for p in paths {
        let p = if p.is_absolute() {
            p.clone()
        } else {
            ctx.cwd.join(p)
        };
        if p.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(&p)
                .max_depth(1)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| !e.file_type().is_dir())
                .map(|e| e.into_path())
                .filter(|f| {
                    let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    name.ends_with(".md") && !name.starts_with('.')
                })
                .collect();
            found.sort();
            files.extend(found);
        } else if p.exists() || p.is_symlink() {
            files.push(p);
        } else {
            return Err(Error::Usage(format!("{} does not exist", p.display())));
        }
    }
    Ok(files)
}
