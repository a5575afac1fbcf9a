//! The process tree as a last resort for "which conversation am I in": Gemini's shell tools get
//! no id variable at all, but the hook and the tool are both descendants of the agent's
//! process. Every hook records its agent process (pid + start time, so a reused pid never
//! matches) under `.agents/state/procs/`; a later command walks its own ancestors and takes the
//! closest one recorded.
//!
//! What is recorded is the hook's ancestors above its `sh -c` parent, up to (not including) the
//! first shell or pid 1: the agent process and any wrapper around it, never the person's
//! shell, tmux or init. Otherwise a command typed in another tmux pane, or in the same shell
//! after the agent exited, would find the conversation through their shared ancestors.
//!
//! This must stay cheap (a hook runs it on the agent's critical path): a few reads of
//! `/proc/<pid>/stat` and at most a few tiny files written without fsync — this is bookkeeping
//! that the next hook rewrites, not data. Where `/proc` does not exist it records nothing.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::Repo;

/// How many agent processes above a hook are recorded: the agent, and one more in case the
/// agent runs its hooks from a helper process that is not an ancestor of its tools.
const MAX_RECORDED: usize = 2;
/// How far up a command looks for a recorded ancestor.
const MAX_WALK: usize = 64;
/// Records pruned per pass, so a huge directory never slows a hook down.
const MAX_PRUNE: usize = 256;

/// `SESSIONS_PROCESS_TREE=off` turns recording and lookup off, for test harnesses and scripts
/// that run hooks by hand: their own process would otherwise count as the agent's.
pub const SWITCH: &str = "SESSIONS_PROCESS_TREE";

pub fn enabled() -> bool {
    std::env::var(SWITCH).map_or(true, |v| !matches!(v.trim(), "off" | "0" | "false"))
}

/// One process: pid, parent pid, start time in clock ticks since boot, command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub start: u64,
    pub comm: String,
}

/// What a record file holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    pub conversation: String,
    /// The agent CLI whose hook wrote it (`claude`, `codex`, `gemini`).
    pub agent: String,
    /// `/proc/sys/kernel/random/boot_id`: a pid and start time are unique only within a boot.
    pub boot: String,
}

/// Reads `/proc/<pid>/stat`. The command name is in parentheses and may itself contain
/// spaces and parentheses, so the fields are counted from the last `)`.
pub fn stat(pid: u32) -> Option<Proc> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the name: state(3) ppid(4) … starttime(22); rest[0] is field 3.
    let ppid = rest.get(1)?.parse().ok()?;
    let start = rest.get(19)?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        start,
        comm,
    })
}

/// The ancestors of the current process, nearest first (the process itself excluded), read
/// lazily: a hook stops after the few it records.
pub fn ancestors() -> impl Iterator<Item = Proc> {
    let first = stat(std::process::id()).and_then(|me| parent(&me));
    std::iter::successors(first, parent).take(MAX_WALK)
}

fn parent(p: &Proc) -> Option<Proc> {
    (p.ppid > 1).then(|| stat(p.ppid)).flatten()
}

/// Whether `comm` names a shell (`sh -c` runs hooks; a person's shell starts agents).
pub fn is_shell(comm: &str) -> bool {
    let name = comm.trim_start_matches('-');
    matches!(
        name,
        "sh" | "bash"
            | "dash"
            | "zsh"
            | "ksh"
            | "mksh"
            | "ash"
            | "fish"
            | "tcsh"
            | "csh"
            | "busybox"
    )
}

/// The processes a hook records: above its `sh -c` parent (if that is a shell), up to the
/// first shell or init, at most [`MAX_RECORDED`].
pub fn agent_chain(ancestors: impl Iterator<Item = Proc>) -> Vec<Proc> {
    let mut ancestors = ancestors.peekable();
    if ancestors.peek().is_some_and(|p| is_shell(&p.comm)) {
        ancestors.next();
    }
    ancestors
        .take_while(|p| !is_shell(&p.comm) && p.pid > 1)
        .take(MAX_RECORDED)
        .collect()
}

fn dir(repo: &Repo) -> PathBuf {
    repo.state_dir().join("procs")
}

fn path(repo: &Repo, p: &Proc) -> PathBuf {
    dir(repo).join(format!("{}-{}.json", p.pid, p.start))
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn read(repo: &Repo, p: &Proc, boot: &str) -> Option<Record> {
    let text = fs::read_to_string(path(repo, p)).ok()?;
    let rec: Record = serde_json::from_str(&text).ok()?;
    (rec.boot == boot && !rec.conversation.is_empty()).then_some(rec)
}

/// The conversation recorded for the first process of `chain` that has one.
pub fn recorded(repo: &Repo, chain: &[Proc]) -> Option<(Proc, Record)> {
    if chain.is_empty() {
        return None;
    }
    let boot = boot_id();
    chain
        .iter()
        .find_map(|p| read(repo, p, &boot).map(|r| (p.clone(), r)))
}

/// Records `conversation` for every process of `chain`. A record that already says the same
/// is not rewritten. Errors are returned for the hook's one stderr line.
pub fn record(repo: &Repo, chain: &[Proc], conversation: &str, agent: &str) -> std::io::Result<()> {
    if chain.is_empty() {
        return Ok(());
    }
    let rec = Record {
        conversation: conversation.to_string(),
        agent: agent.to_string(),
        boot: boot_id(),
    };
    let text = serde_json::to_string(&rec).unwrap_or_default();
    let dir = dir(repo);
    fs::create_dir_all(&dir)?;
    for p in chain {
        let path = path(repo, p);
        if fs::read_to_string(&path).is_ok_and(|t| t == text) {
            continue;
        }
        // Unlink and create, not truncate or rename over: ext4 flushes a file replaced either
        // way before returning (auto_da_alloc), which costs milliseconds on the agent's
        // critical path. A reader that looks in between sees no record this once.
        let _ = fs::remove_file(&path);
        fs::write(&path, &text)?;
    }
    Ok(())
}

/// The conversation the closest recorded ancestor of this process belongs to.
pub fn find(repo: &Repo) -> Option<(Proc, Record)> {
    let dir = dir(repo);
    if !enabled() || !dir.is_dir() {
        return None;
    }
    let boot = boot_id();
    ancestors().find_map(|p| read(repo, &p, &boot).map(|r| (p, r)))
}

/// Removes the records of processes that no longer run (checked by pid and start time).
pub fn prune(repo: &Repo) {
    let Ok(entries) = fs::read_dir(dir(repo)) else {
        return;
    };
    for entry in entries.flatten().take(MAX_PRUNE) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some((pid, start)) = name
            .strip_suffix(".json")
            .and_then(|s| s.split_once('-'))
            .and_then(|(p, s)| Some((p.parse::<u32>().ok()?, s.parse::<u64>().ok()?)))
        else {
            // Temp files of a writer killed between write and rename.
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
            continue;
        };
        if stat(pid).is_none_or(|p| p.start != start) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, comm: &str) -> Proc {
        Proc {
            pid,
            ppid: pid - 1,
            start: u64::from(pid) * 10,
            comm: comm.into(),
        }
    }

    #[test]
    fn the_own_process_is_readable() {
        let me = stat(std::process::id()).expect("/proc is mounted");
        assert_eq!(me.pid, std::process::id());
        assert!(me.start > 0);
    }

    #[test]
    fn the_chain_skips_the_sh_parent_and_stops_at_the_next_shell() {
        let anc = [
            p(50, "sh"),
            p(40, "node"),
            p(30, "bash"),
            p(20, "tmux: server"),
        ];
        let chain = agent_chain(anc.into_iter());
        assert_eq!(chain, [p(40, "node")]);
        // A hook run directly by the agent (no shell in between).
        let anc = [p(40, "claude"), p(35, "npx"), p(30, "-zsh")];
        assert_eq!(
            agent_chain(anc.into_iter()),
            [p(40, "claude"), p(35, "npx")]
        );
        // A hook started straight from a shell records nothing.
        assert!(agent_chain([p(50, "bash"), p(30, "bash")].into_iter()).is_empty());
    }
}
