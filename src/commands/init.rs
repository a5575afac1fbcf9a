//! `sessions init`: the directories, a config (commented defaults and working claude, codex and
//! gemini agents), and git-ignore entries. Idempotent.

use std::fs;
use std::io::Write;

use super::Ctx;
use crate::config::DEFAULT_CONFIG;
use crate::error::{Error, Result};

const IGNORED: [&str; 2] = [".agents/state/", ".agents/logs/"];

pub fn run(ctx: &Ctx) -> Result<u8> {
    let repo = &ctx.repo;
    let mut said = Vec::new();
    let dir = repo.sessions_dir();
    if dir.is_dir() {
        said.push(format!("exists   {}", repo.display(&dir)));
    } else {
        fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        said.push(format!("created  {}/", repo.display(&dir)));
    }
    let config = repo.config_path();
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&config)
    {
        Ok(mut f) => {
            f.write_all(DEFAULT_CONFIG.as_bytes())
                .map_err(|e| Error::write(&config, e))?;
            said.push(format!("created  {}", repo.display(&config)));
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            said.push(format!("exists   {}", repo.display(&config)));
        }
        Err(e) => return Err(Error::write(&config, e)),
    }
    let gitignore = repo.root.join(".gitignore");
    let current = match fs::read_to_string(&gitignore) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::read(&gitignore, e)),
    };
    let has = |entry: &str| {
        current.lines().any(|l| {
            let l = l.trim().trim_start_matches('/');
            l == entry || l == entry.trim_end_matches('/')
        })
    };
    let missing: Vec<&str> = IGNORED.into_iter().filter(|e| !has(e)).collect();
    if missing.is_empty() {
        said.push("exists   .gitignore entries for .agents/state/ and .agents/logs/".into());
    } else {
        // Keep the file's own line endings.
        let le = if current.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let mut add = String::new();
        if !current.is_empty() && !current.ends_with('\n') {
            add.push_str(le);
        }
        add.push_str("# sessions: machine state and agent logs");
        add.push_str(le);
        for e in &missing {
            add.push_str(e);
            add.push_str(le);
        }
        fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&gitignore)
            .and_then(|mut f| f.write_all(add.as_bytes()))
            .map_err(|e| Error::write(&gitignore, e))?;
        said.push(format!("updated  .gitignore (+ {})", missing.join(", ")));
    }
    if !repo.root.ancestors().any(|d| d.join(".git").exists()) {
        eprintln!(
            "note: {} is not in a git repository. sessions works without one, but session files are meant to travel with the code: run `git init` (or `sessions -C DIR init` in your project) to track them.",
            repo.root.display()
        );
    }
    for line in said {
        println!("{line}");
    }
    println!("\nNext: sessions new \"what you are working on\"");
    Ok(0)
}
