//! What the run record keeps about its runner: the kind (one type for `--runner`, the
//! config's `runner:` and the record) and each kind's own state, as a tagged enum
//! (`"runner": {"kind": "tmux", "session": "…"}`).
//!
//! Pure data: no process is looked at here, and nothing here imports the rest of the crate,
//! so the record can hold it without depending on how runners work. Records written before
//! the enum (`"runner": "tmux"` with a flat `"tmux_session"`) are upgraded by
//! `record::load`, which is why the deserializer below refuses a bare `"tmux"`.

use serde::{Deserialize, Deserializer, Serialize};

/// How an agent is run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    /// A detached process group; output to the log
    #[default]
    Process,
    /// A detached tmux session on the `sessions` socket (attach with `sessions attach`)
    Tmux,
    /// On another host, over ssh (chosen with `--host`, not `--runner`)
    #[value(skip)]
    Ssh,
}

impl RunnerKind {
    /// The kinds `--runner` and the config's `runner:` take (`ssh` is chosen by a host).
    pub const ALL: [RunnerKind; 2] = [RunnerKind::Process, RunnerKind::Tmux];

    /// The name as written on the command line, in the config and in records.
    pub fn name(self) -> &'static str {
        match self {
            RunnerKind::Process => "process",
            RunnerKind::Tmux => "tmux",
            RunnerKind::Ssh => "ssh",
        }
    }

    /// The kind named `name`, exactly as [`RunnerKind::name`] writes it.
    pub fn parse(name: &str) -> Option<RunnerKind> {
        RunnerKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for RunnerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The runner of one run and what it needs to find the run again.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RunnerState {
    #[default]
    Process,
    Tmux(TmuxState),
    Ssh(SshState),
}

/// A run on another host: how to reach it, and the run there (started by that host's own
/// `sessions`, which keeps its own record and log in its checkout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshState {
    /// The host's name in the config (`hosts:`).
    pub host: String,
    /// The ssh destination (`user@machine`).
    pub destination: String,
    /// The host's own `ssh` options (port, identity, `ssh_options`).
    pub ssh_args: Vec<String>,
    /// The repository's checkout on the host.
    pub root: String,
    /// The run's id on the host.
    pub remote_run_id: String,
    /// The arguments of the `sessions spawn` that starts it there.
    pub remote_spawn: Vec<String>,
    /// The remote supervisor and agent, once started there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteProcess>,
    /// When the host stopped answering (RFC 3339); cleared once it answers again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<String>,
}

/// Pids and start times (clock ticks since the host's boot) on the remote host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteProcess {
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    pub supervisor_pid: Option<u32>,
    pub supervisor_start: Option<u64>,
}

/// A tmux run: its session on the `sessions` socket (`tmux -L sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmuxState {
    pub session: String,
}

impl RunnerState {
    pub fn kind(&self) -> RunnerKind {
        match self {
            RunnerState::Process => RunnerKind::Process,
            RunnerState::Tmux(_) => RunnerKind::Tmux,
            RunnerState::Ssh(_) => RunnerKind::Ssh,
        }
    }
}

/// Error text of a bare `"runner": "tmux"`: the session name is in a sibling field, which
/// `record::load` moves in.
pub(crate) const FLAT_TMUX: &str = "a flat `runner: tmux` needs its `tmux_session`";

impl<'de> Deserialize<'de> for RunnerState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(tag = "kind", rename_all = "lowercase")]
        enum Tagged {
            Process,
            Tmux(TmuxState),
            Ssh(Box<SshState>),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Tagged(Tagged),
            Flat(RunnerKind),
        }
        match Wire::deserialize(d)? {
            Wire::Tagged(Tagged::Process) | Wire::Flat(RunnerKind::Process) => {
                Ok(RunnerState::Process)
            }
            Wire::Tagged(Tagged::Tmux(t)) => Ok(RunnerState::Tmux(t)),
            Wire::Tagged(Tagged::Ssh(s)) => Ok(RunnerState::Ssh(*s)),
            Wire::Flat(RunnerKind::Tmux) => Err(serde::de::Error::custom(FLAT_TMUX)),
            Wire::Flat(RunnerKind::Ssh) => Err(serde::de::Error::custom(
                "an ssh runner needs its host and remote run",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_json() {
        let t = RunnerState::Tmux(TmuxState {
            session: "s-1".into(),
        });
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"kind":"tmux","session":"s-1"}"#);
        assert_eq!(serde_json::from_str::<RunnerState>(&json).unwrap(), t);
        assert_eq!(
            serde_json::to_string(&RunnerState::Process).unwrap(),
            r#"{"kind":"process"}"#
        );
        assert_eq!(
            serde_json::from_str::<RunnerState>(r#""process""#).unwrap(),
            RunnerState::Process
        );
        assert!(serde_json::from_str::<RunnerState>(r#""tmux""#).is_err());
        assert!(serde_json::from_str::<RunnerState>(r#""ssh""#).is_err());
    }

    #[test]
    fn kind_names() {
        for k in RunnerKind::ALL {
            assert_eq!(RunnerKind::parse(k.name()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        assert_eq!(RunnerKind::parse("Tmux"), None);
    }
}
