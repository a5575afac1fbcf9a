//! The README's command table is checked against the clap tree, so it cannot drift: every
//! visible command has exactly one row, every flag a row shows exists on that command, and the
//! `hook`/`hooks` rows list exactly their subcommands.

use std::collections::BTreeMap;

use clap::CommandFactory;
use sessions::cli::Cli;

const README: &str = include_str!("../../README.md");

/// The backticked command forms in the first column of the `## Commands` table, by command.
fn table_rows() -> BTreeMap<String, Vec<String>> {
    let table = README
        .split("\n## Commands\n")
        .nth(1)
        .expect("README has a `## Commands` section");
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in table.lines().take_while(|l| !l.starts_with("## ")) {
        let Some(first) = line.strip_prefix('|').and_then(|l| l.split(" | ").next()) else {
            continue;
        };
        // `a` / `b`: several commands in one cell; `\|` is an escaped bar inside a form.
        for form in first.split('`').skip(1).step_by(2) {
            let form = form.replace("\\|", "|");
            let name = form
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            if name == "command" || name.is_empty() {
                continue;
            }
            rows.entry(name).or_default().push(form);
        }
    }
    rows
}

fn visible(cmd: &clap::Command) -> Vec<String> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn readme_has_one_row_per_visible_command() {
    let cli = Cli::command();
    let rows = table_rows();
    let mut problems = Vec::new();
    for name in visible(&cli) {
        match rows.get(&name).map(Vec::len) {
            Some(1) => {}
            None => problems.push(format!("`{name}` has no row")),
            Some(n) => problems.push(format!("`{name}` has {n} rows: {:?}", rows[&name])),
        }
    }
    for name in rows.keys() {
        if cli.find_subcommand(name).is_none() {
            problems.push(format!("the row `{name}` is not a command"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn readme_rows_show_only_real_flags_and_every_hook_subcommand() {
    let cli = Cli::command();
    let mut problems = Vec::new();
    for (name, forms) in table_rows() {
        let Some(cmd) = cli.find_subcommand(&name) else {
            continue;
        };
        let form = &forms[0];
        // The flags of the command and of its subcommands.
        let mut longs: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        for sub in cmd.get_subcommands() {
            longs.extend(
                sub.get_arguments()
                    .filter_map(|a| a.get_long().map(str::to_string)),
            );
        }
        for word in form.split(|c: char| c.is_whitespace() || "[]|=".contains(c)) {
            if let Some(flag) = word.strip_prefix("--")
                && !flag.is_empty()
                && !longs.iter().any(|l| l == flag)
            {
                problems.push(format!("`{name}` has no flag --{flag} (row: {form})"));
            }
        }
        let subs = visible(cmd);
        if !subs.is_empty() {
            let listed: Vec<&str> = form
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .split('|')
                .collect();
            if listed != subs.iter().map(String::as_str).collect::<Vec<_>>() {
                problems.push(format!(
                    "`{name}` row lists {listed:?}, the command has {subs:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
