//! Process liveness (pid + start time) and process-group termination, via `/proc`.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::poll::{Backoff, wait_until};

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z`, `T`, …
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 5: process group id.
    pub pgrp: i32,
    /// Field 6: session id.
    pub session: i32,
    /// Field 22: start time in clock ticks since boot.
    pub start: u64,
}

/// Parse the text of a `/proc/<pid>/stat` file. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted after the *last* `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After ')': index 0 is field 3 (state); field N is index N - 3.
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    // Skip fields 7..=21 (15 fields) to reach field 22.
    let start = fields.nth(15)?.parse().ok()?;
    Some(ProcStat {
        state,
        ppid,
        pgrp,
        session,
        start,
    })
}

/// Read `/proc/<pid>/stat`; `None` if the process does not exist (or is unreadable).
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    if pid == 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub fn proc_start_time(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|s| s.start)
}

fn state_is_dead(state: char) -> bool {
    // Z: zombie (exited, not yet reaped); X/x: dead.
    matches!(state, 'Z' | 'X' | 'x')
}

/// Is the process `pid` that started at `start` still running? A pid alone is never trusted:
/// a reused pid has a different start time. Zombies count as dead.
pub fn is_alive(pid: u32, start: u64) -> bool {
    match proc_stat(pid) {
        Some(s) => s.start == start && !state_is_dead(s.state),
        None => false,
    }
}

/// Like [`is_alive`] for optional record fields: `false` unless both are known.
pub fn is_alive_opt(pid: Option<u32>, start: Option<u64>) -> bool {
    match (pid, start) {
        (Some(pid), Some(start)) => is_alive(pid, start),
        _ => false,
    }
}

/// Live (non-zombie) members of process group `pgid`, found by scanning `/proc`.
pub fn group_members(pgid: i32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(s) = proc_stat(pid)
            && s.pgrp == pgid
            && !state_is_dead(s.state)
        {
            out.push(pid);
        }
    }
    out
}

/// Does the group `pgid` still have a live (non-zombie) member?
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // Cheap check first: ESRCH means no member at all (not even a zombie).
    match killpg(Pid::from_raw(pgid), None) {
        Err(Errno::ESRCH) => false,
        _ => !group_members(pgid).is_empty(),
    }
}

/// Every live (non-zombie) process: `(pid, stat)`, from one pass over `/proc`.
pub fn snapshot() -> Vec<(u32, ProcStat)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, proc_stat(pid)?)))
        .filter(|(_, s)| !state_is_dead(s.state))
        .collect()
}

/// Live descendants of `root` in a [`snapshot`] (not `root` itself), parents before children.
pub fn descendants(snap: &[(u32, ProcStat)], root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, s) in snap {
            if s.ppid == parent as i32 && *pid != root && !out.contains(pid) {
                out.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    out
}

/// Live processes whose environment (as they were started) holds every `KEY=value` of
/// `vars`: how a run's processes are found after they left its process group and lost their
/// supervisor. Processes of other users are unreadable and never match.
pub fn with_env(snap: &[(u32, ProcStat)], vars: &[(&str, &str)]) -> Vec<u32> {
    let wanted: Vec<Vec<u8>> = vars
        .iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect();
    snap.iter()
        .map(|(pid, _)| *pid)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                let entries: Vec<&[u8]> = env.split(|&b| b == 0).collect();
                wanted.iter().all(|w| entries.contains(&w.as_slice()))
            })
        })
        .collect()
}

/// This process and its ancestors: never ours to kill, whatever their environment says (a
/// `sessions kill` run by the agent itself).
pub fn self_and_ancestors() -> Vec<u32> {
    let mut out = vec![std::process::id()];
    let mut pid = std::process::id();
    while let Some(s) = proc_stat(pid) {
        if s.ppid <= 1 || out.contains(&(s.ppid as u32)) {
            break;
        }
        pid = s.ppid as u32;
        out.push(pid);
    }
    out
}

/// The command name of `pid` (`/proc/<pid>/comm`), or `?`.
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// One process a kill signalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Killed {
    pub pid: u32,
    pub comm: String,
    /// Outside the run's process group (e.g. started with `setsid`): found as a descendant
    /// of the supervisor (a child subreaper) or by the run's environment.
    pub detached: bool,
}

/// What a kill is doing, for the person waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillStep {
    /// SIGTERM sent to these processes; waiting up to the grace period.
    Terminating { pids: Vec<u32>, grace: Duration },
    /// Still alive after the grace period: SIGKILL now.
    Killing { pids: Vec<u32> },
}

/// What [`kill_processes`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillReport {
    pub outcome: KillOutcome,
    /// Every process signalled, in the order found.
    pub processes: Vec<Killed>,
}

/// Stop a run's processes: the process group `pgid` and whatever `find` reports (it is asked
/// again while waiting, so processes started meanwhile are caught too). SIGTERM (+ SIGCONT)
/// to all, wait up to `grace`, SIGKILL the rest and confirm (up to 3 s). Never signals this
/// process or its ancestors, pid 1, or our own process group.
pub fn kill_processes(
    pgid: Option<i32>,
    find: &dyn Fn() -> Vec<u32>,
    grace: Duration,
    progress: &dyn Fn(KillStep),
) -> KillReport {
    let own_group = nix::unistd::getpgrp().as_raw();
    let group = pgid.filter(|&g| g > 1 && g != own_group);
    if pgid.is_some() && group.is_none() && find().is_empty() {
        return KillReport {
            outcome: KillOutcome::Refused,
            processes: Vec::new(),
        };
    }
    let spared = self_and_ancestors();
    let current = || -> Vec<u32> {
        let mut pids = group.map(group_members).unwrap_or_default();
        for pid in find() {
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        pids.retain(|p| *p > 1 && !spared.contains(p));
        pids
    };
    let mut processes: Vec<Killed> = Vec::new();
    let note = |processes: &mut Vec<Killed>, pids: &[u32]| {
        for &pid in pids {
            if !processes.iter().any(|k| k.pid == pid) {
                let detached = proc_stat(pid).is_some_and(|s| Some(s.pgrp) != group);
                processes.push(Killed {
                    pid,
                    comm: comm(pid),
                    detached,
                });
            }
        }
    };
    let signal_all = |pids: &[u32], sig: Signal| -> bool {
        let mut denied = false;
        if let Some(g) = group
            && killpg(Pid::from_raw(g), sig) == Err(Errno::EPERM)
        {
            denied = true;
        }
        for &pid in pids {
            if Some(pid as i32) == group {
                continue;
            }
            if nix::sys::signal::kill(Pid::from_raw(pid as i32), sig) == Err(Errno::EPERM) {
                denied = true;
            }
        }
        denied
    };
    let first = current();
    if first.is_empty() {
        return KillReport {
            outcome: KillOutcome::NotRunning,
            processes,
        };
    }
    note(&mut processes, &first);
    let mut denied = signal_all(&first, Signal::SIGTERM);
    signal_all(&first, Signal::SIGCONT);
    progress(KillStep::Terminating {
        pids: first.clone(),
        grace,
    });
    let terminated = wait_until(grace, Backoff::every(SCAN_POLL), || {
        let left = current();
        if left.is_empty() {
            return Some(());
        }
        let new: Vec<u32> = left
            .iter()
            .copied()
            .filter(|p| !processes.iter().any(|k| k.pid == *p))
            .collect();
        if !new.is_empty() {
            note(&mut processes, &new);
            denied |= signal_all(&new, Signal::SIGTERM);
        }
        None
    });
    if terminated.is_some() {
        return KillReport {
            outcome: KillOutcome::Terminated,
            processes,
        };
    }
    let left = current();
    note(&mut processes, &left);
    progress(KillStep::Killing { pids: left.clone() });
    denied |= signal_all(&left, Signal::SIGKILL);
    let mut survivors = left;
    let killed = wait_until(KILL_CONFIRM, Backoff::every(SCAN_POLL), || {
        survivors = current();
        if survivors.is_empty() {
            return Some(());
        }
        note(&mut processes, &survivors);
        denied |= signal_all(&survivors, Signal::SIGKILL);
        None
    });
    let outcome = match killed {
        Some(()) => KillOutcome::Killed,
        None if denied => KillOutcome::PermissionDenied,
        None => KillOutcome::Survived(survivors),
    };
    KillReport { outcome, processes }
}

/// What [`kill_group`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillOutcome {
    /// The group had no process when we started.
    NotRunning,
    /// Every member exited within the grace period after SIGTERM.
    Terminated,
    /// Members survived the grace period; SIGKILL finished them.
    Killed,
    /// These pids were still alive after SIGKILL (e.g. stuck in uninterruptible sleep).
    Survived(Vec<u32>),
    /// We may not signal this group.
    PermissionDenied,
    /// Refused: pgid <= 1 or our own process group.
    Refused,
}

impl KillOutcome {
    /// Is the group gone?
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            KillOutcome::NotRunning | KillOutcome::Terminated | KillOutcome::Killed
        )
    }
}

const POLL: Duration = Duration::from_millis(20);
/// Polling interval of [`kill_processes`], which scans `/proc` each time.
const SCAN_POLL: Duration = Duration::from_millis(100);
const KILL_CONFIRM: Duration = Duration::from_secs(3);

fn wait_group_gone(pgid: i32, within: Duration) -> bool {
    wait_until(within, Backoff::every(POLL), || {
        (!group_alive(pgid)).then_some(())
    })
    .is_some()
}

/// SIGTERM (+ SIGCONT, so stopped members can act on it) to the whole group `pgid`, wait up to
/// `grace` for every member to exit, then SIGKILL and confirm (up to 3 s).
///
/// Zombies do not count as members: reaping is their parent's job (the supervisor reaps the
/// agent). The caller must make sure `pgid` still belongs to the run (see
/// `runner::kill`, which checks the leader's start time against pgid reuse).
pub fn kill_group(pgid: i32, grace: Duration) -> KillOutcome {
    if pgid <= 1 || pgid == nix::unistd::getpgrp().as_raw() {
        return KillOutcome::Refused;
    }
    if !group_alive(pgid) {
        // No member, or only zombies waiting for their parent to reap them.
        return KillOutcome::NotRunning;
    }
    let group = Pid::from_raw(pgid);
    match killpg(group, Signal::SIGTERM) {
        Err(Errno::ESRCH) => return KillOutcome::NotRunning,
        Err(Errno::EPERM) => return KillOutcome::PermissionDenied,
        _ => {}
    }
    let _ = killpg(group, Signal::SIGCONT);
    if wait_group_gone(pgid, grace) {
        return KillOutcome::Terminated;
    }
    match killpg(group, Signal::SIGKILL) {
        Err(Errno::ESRCH) => return KillOutcome::Terminated,
        Err(Errno::EPERM) => return KillOutcome::PermissionDenied,
        _ => {}
    }
    if wait_group_gone(pgid, KILL_CONFIRM) {
        KillOutcome::Killed
    } else {
        KillOutcome::Survived(group_members(pgid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_parens_in_name() {
        let line =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 1234);
        assert_eq!(s.session, 1234);
        assert_eq!(s.start, 987654);
    }

    #[test]
    fn garbage_stat_is_none() {
        assert!(parse_stat("").is_none());
        assert!(parse_stat("12 (x) S 1").is_none());
    }

    #[test]
    fn self_is_alive_only_with_matching_start() {
        let pid = std::process::id();
        let start = proc_start_time(pid).unwrap();
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
        assert!(!is_alive_opt(Some(pid), None));
        assert!(!is_alive(0, start));
    }

    #[test]
    fn refuses_dangerous_groups() {
        assert_eq!(kill_group(0, POLL), KillOutcome::Refused);
        assert_eq!(kill_group(1, POLL), KillOutcome::Refused);
        assert_eq!(kill_group(-5, POLL), KillOutcome::Refused);
        let own = nix::unistd::getpgrp().as_raw();
        assert_eq!(kill_group(own, POLL), KillOutcome::Refused);
    }
}
