//! The `sessions` binary: parse arguments, run the command, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`sessions list | head`) instead of panicking in println!.
    // SAFETY: called before any other thread exists; restoring the default disposition.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let cli = sessions::cli::Cli::parse();
    match sessions::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("sessions: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
