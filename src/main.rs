//! The `sessions` binary: parse arguments, run the command, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

/// The global options that take a value (`-C DIR`, `--conversation ID`, `--color WHEN`).
const GLOBAL_WITH_VALUE: [&str; 4] = ["-C", "--directory", "--conversation", "--color"];

/// Whether the command line is `sessions [GLOBAL OPTIONS] hook …`.
fn is_hook_call() -> bool {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            s if GLOBAL_WITH_VALUE.contains(&s) => {
                args.next();
            }
            s if GLOBAL_WITH_VALUE
                .iter()
                .any(|g| g.starts_with("--") && s.starts_with(&format!("{g}=")))
                || (s.starts_with("-C") && s.len() > 2) => {}
            s => return s == "hook",
        }
    }
    false
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`sessions list | head`) instead of panicking in println!.
    // SAFETY: called before any other thread exists; restoring the default disposition.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    // `COMPLETE=bash sessions -- …` from a completion script: answer and exit.
    sessions::completion::answer_if_asked();
    let cli = match sessions::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if is_hook_call()
                && !matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) =>
        {
            // A hook must never block its agent (exit 2 blocks PreCompact in Claude Code), even
            // when a newer settings file passes a flag or event this version does not know.
            let first = e
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            eprintln!("sessions hook: {first}; ignoring this hook call");
            return ExitCode::SUCCESS;
        }
        Err(e) => e.exit(),
    };
    match sessions::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("sessions: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
