//! `sessions`: coordinate people and AI coding agents through Markdown session files.
//!
//! The binary (`main.rs`) only parses arguments and maps errors to exit codes; everything else
//! is here. Data flows one way: `commands` build views from the library (`overview`, `runs`,
//! `target`, `store`, `session`, `agents`, `hooks`) and render them; nothing outside
//! `commands` imports `commands`, and the library never prints. See `docs/design.md`.

pub mod actor;
pub mod agents;
pub mod atomic;
pub mod binding;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod completion;
pub mod config;
pub mod detail;
pub mod diagnostic;
pub mod error;
pub mod hooks;
pub mod live;
pub mod overview;
pub mod runs;
pub mod serve;
pub mod session;
pub mod store;
pub mod style;
pub mod suggest;
pub mod summary_cache;
pub mod table;
pub mod target;
pub mod terminal;
pub mod validation;
pub mod worktree;
pub mod write;
