//! `sessions validate`: check files in parallel and stream diagnostics in file order.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::Ctx;
use crate::cli::ValidateArgs;
use crate::diagnostic::{Diagnostic, Reporter, Totals};
use crate::error::{Error, Result};
use crate::session::rules::Severity;
use crate::validation::validate_file;

/// Files are checked in chunks: in parallel within a chunk, printed in order between chunks,
/// so output is deterministic and memory does not grow with the number of files.
const CHUNK: usize = 512;

pub fn run(ctx: &Ctx, args: ValidateArgs) -> Result<u8> {
    let files = collect(ctx, &args.paths)?;
    let stdout = anstream::stdout();
    let mut reporter = Reporter::new(args.format, stdout.lock());
    let io = |e: std::io::Error| Error::write(Path::new("<stdout>"), e);
    reporter.begin().map_err(io)?;
    let mut totals = Totals::default();
    let mut unreadable = Vec::new();
    for chunk in files.chunks(CHUNK) {
        let results: Vec<Result<Vec<Diagnostic>>> = chunk
            .par_iter()
            .map_init(Vec::new, |buf, path| {
                let display = ctx.show_path(path);
                let mut diags = validate_file(Some(&ctx.repo), path, &display, buf, ctx.now)?;
                if args.quiet {
                    diags.retain(|d| d.severity == Severity::Error);
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

/// The files to check: explicit files as given, directories' `*.md` files (not recursing into
/// `archive/`), or the repository's sessions directory.
fn collect(ctx: &Ctx, paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if paths.is_empty() {
        return ctx.repo.session_files();
    }
    let mut files = Vec::new();
    for p in paths {
        let p = if p.is_absolute() { p.clone() } else { ctx.cwd.join(p) };
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
