//! The integration suite, as one test binary (as jj and cargo do): one link instead of one
//! per file, and every harness in one place. Each module is a command or a promise; the
//! harnesses (`common`, `*_support`) drive the built binary in temp repositories with a
//! sealed environment (`outside`). `runner_seam` stays a binary of its own: it changes
//! process-wide state (environment variables, its own children) that other tests share.
//!
//! Run one module or test: `cargo test --test it hooks_cli::` or `cargo test --test it NAME`.

// Each harness includes `outside` (and `serve_support` includes `watch_support`) itself, so a
// test file outside this binary can use it alone; here that loads those files more than once.
#![allow(clippy::duplicate_mod)]

#[path = "../agents_support/mod.rs"]
mod agents_support;
#[path = "../common/mod.rs"]
mod common;
#[path = "../edit_support/mod.rs"]
mod edit_support;
#[path = "../hosts_support/mod.rs"]
mod hosts_support;
#[path = "../outside/mod.rs"]
mod outside;
#[path = "../real_clients_support/mod.rs"]
mod real_clients_support;
#[path = "../serve_support/mod.rs"]
mod serve_support;
#[path = "../watch_support/mod.rs"]
mod watch_support;

mod agent_output;
mod agents_cli;
mod agents_faults;
mod bad_input;
mod binding_cli;
mod cli_foundation;
mod completion;
mod concurrency;
mod corpus;
mod daily_use;
mod edit_cli;
mod edit_props;
mod file_consistency;
mod frontmatter_props;
mod fuzz;
mod hardening;
mod hooks_cli;
mod hooks_safety;
mod hosts;
mod json_output;
mod output_width;
mod parser_props;
mod readme;
mod readme_tour;
mod real_clients;
mod real_clients_send;
mod scale;
mod serve;
mod snapshots;
mod summary_cache;
mod talk;
mod watch;
mod watch_output;
mod watch_tty;
mod worktree;
