//! Harness for running the real Claude Code, Codex CLI and Gemini CLI headless against mock
//! model servers on 127.0.0.1: a scratch HOME set up so each client starts without dialogs, a
//! git repository with `sessions init` and its hooks installed, the built `sessions` first on
//! PATH, and every child process run with a deadline.
//!
//! The clients come from `npm install` into `$SESSIONS_REAL_CLIENTS_DIR` (default
//! `target/real-clients`, see `.ci/install-clients`). A test whose client is missing says so on
//! stderr and passes, so a fresh clone without them still runs the rest of the suite.

#![allow(dead_code)]

pub mod anthropic;
pub mod gemini;
pub mod mock;
pub mod openai;

#[path = "../outside/mod.rs"]
mod outside;
use outside::skip_note;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use mock::{MockServer, Recorded};

/// One client run's deadline: generous, as CI shares 2 cores with the rest of the suite.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(150);
/// A `sessions` command's deadline.
const SESSIONS_TIMEOUT: Duration = Duration::from_secs(60);

/// An API key of the shape Claude Code expects; its last 20 characters are pre-approved.
const ANTHROPIC_KEY: &str = "sk-ant-api03-mock-key-for-tests-0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Claude,
    Codex,
    Gemini,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Claude => "claude",
            Client::Codex => "codex",
            Client::Gemini => "gemini",
        }
    }
}

/// Where `.ci/install-clients` put the clients.
pub fn clients_dir() -> PathBuf {
    match std::env::var_os("SESSIONS_REAL_CLIENTS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/real-clients"),
    }
}

/// The client's launcher, or `None` (with a note on stderr) when it or node is missing.
pub fn find_client(client: Client) -> Option<PathBuf> {
    let bin = clients_dir().join("node_modules/.bin").join(client.name());
    if !bin.exists() {
        skip_note(&format!(
            "{} is not installed at {} (run .ci/install-clients)",
            client.name(),
            bin.display()
        ));
        return None;
    }
    if which("node").is_none() {
        skip_note("node is not on PATH");
        return None;
    }
    Some(bin)
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What a finished child process printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "unexpected exit code\n{self}");
        self
    }

    /// stdout as JSON lines (the non-JSON lines skipped).
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            tail(&self.stdout, 6000),
            tail(&self.stderr, 6000)
        )
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs `cmd` with stdin closed and output to files (no pipe can fill up), in its own process
/// group; kills the whole group and panics with its output after `timeout`.
pub fn run_bounded(mut cmd: Command, out_dir: &Path, label: &str, timeout: Duration) -> Run {
    fs::create_dir_all(out_dir).expect("create output dir");
    let n = fs::read_dir(out_dir).map(|d| d.count()).unwrap_or(0);
    let out_path = out_dir.join(format!("{n:03}-{label}.stdout"));
    let err_path = out_dir.join(format!("{n:03}-{label}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The client's own children (hooks, tools, MCP helpers) go with it.
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let run = Run {
                code: -1,
                stdout: fs::read_to_string(&out_path).unwrap_or_default(),
                stderr: fs::read_to_string(&err_path).unwrap_or_default(),
            };
            panic!("{label} did not finish within {timeout:?}; killed\n{run}");
        }
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// A scratch HOME and repository for one client, wired to one mock server.
pub struct World {
    pub client: Client,
    pub bin: PathBuf,
    dir: tempfile::TempDir,
    pub home: PathBuf,
    pub repo: PathBuf,
    pub server: MockServer,
    /// Extra environment for every client and `sessions` run (e.g. a spawned agent's model).
    pub extra_env: Vec<(String, String)>,
}

impl World {
    /// `None` (the test skips) when the client is not installed.
    pub fn new(client: Client, responder: mock::Responder) -> Option<World> {
        let bin = find_client(client)?;
        let dir = tempfile::Builder::new()
            .prefix("sessions-real-")
            .tempdir()
            .expect("temp dir");
        let home = dir.path().join("home");
        let repo = dir.path().join("repo");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&repo).unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let world = World {
            client,
            bin,
            dir,
            home,
            repo,
            server: MockServer::start(responder),
            extra_env: Vec::new(),
        };
        world.git(&["init", "-q"]);
        world.setup_home();
        world.sessions(&["init"]).ok();
        world
            .sessions(&["hooks", "install", "--agent", client.name()])
            .ok();
        Some(world)
    }

    fn setup_home(&self) {
        let home = &self.home;
        let repo = self.repo.display().to_string();
        // Codex runs its shell tools as `bash -lc`, whose login profile resets PATH.
        write(
            &home.join(".bash_profile"),
            &format!(
                "export PATH=\"{}:$PATH\"\n",
                self.sessions_bin().parent().unwrap().display()
            ),
        );
        match self.client {
            Client::Claude => {
                let key = &ANTHROPIC_KEY[ANTHROPIC_KEY.len() - 20..];
                let mut projects = serde_json::Map::new();
                projects.insert(
                    repo,
                    json!({"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}),
                );
                write_json(
                    &home.join(".claude.json"),
                    &json!({
                        "hasCompletedOnboarding": true,
                        "customApiKeyResponses": {"approved": [key], "rejected": []},
                        "projects": projects,
                    }),
                );
            }
            Client::Codex => {
                // The default workspace-write sandbox keeps `.agents/` (like `.git/`) read-only
                // for the agent's tools, session files included, unless it is a writable root.
                write(
                    &home.join(".codex/config.toml"),
                    &format!(
                        "model = \"mock-model\"\nmodel_provider = \"mock\"\n\
                         [model_providers.mock]\nname = \"mock\"\nbase_url = \"{}/v1\"\n\
                         env_key = \"MOCK_API_KEY\"\nwire_api = \"responses\"\n\
                         [sandbox_workspace_write]\nwritable_roots = [\"{repo}/.agents\"]\n\
                         [projects.\"{repo}\"]\ntrust_level = \"trusted\"\n",
                        self.server.url()
                    ),
                );
            }
            Client::Gemini => {
                let mut trusted = serde_json::Map::new();
                trusted.insert(repo, json!("TRUST_FOLDER"));
                write_json(&home.join(".gemini/trustedFolders.json"), &trusted.into());
                write_json(
                    &home.join(".gemini/settings.json"),
                    &json!({
                        "security": {"auth": {"selectedType": "gemini-api-key"}},
                        "privacy": {"usageStatisticsEnabled": false},
                        "general": {"disableAutoUpdate": true},
                    }),
                );
            }
        }
    }

    pub fn sessions_bin(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_sessions"))
    }

    /// A command with a clean environment: PATH is `sessions`, node and the system; HOME is
    /// the scratch home; nothing of the agents' or our variables is inherited.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        let node_dir = which("node").and_then(|n| n.parent().map(Path::to_path_buf));
        // The clients' launchers too, for the agent templates `spawn` runs by name.
        let mut path = vec![
            self.sessions_bin().parent().unwrap().to_path_buf(),
            clients_dir().join("node_modules/.bin"),
        ];
        path.extend(node_dir);
        path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
        cmd.env_clear()
            .current_dir(&self.repo)
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", &self.home)
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .env("SESSIONS_ACTOR", "tester");
        for (k, v) in self.model_env() {
            cmd.env(k, v);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The variables that point the client at the mock.
    fn model_env(&self) -> Vec<(String, String)> {
        let url = self.server.url().to_string();
        let pairs: Vec<(&str, String)> = match self.client {
            Client::Claude => vec![
                ("ANTHROPIC_BASE_URL", url),
                ("ANTHROPIC_API_KEY", ANTHROPIC_KEY.into()),
                ("DISABLE_AUTOUPDATER", "1".into()),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
            ],
            Client::Codex => vec![("MOCK_API_KEY", "mock-key".into())],
            Client::Gemini => vec![
                ("GOOGLE_GEMINI_BASE_URL", url),
                ("GEMINI_API_KEY", "mock-key".into()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    pub fn git(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(Path::new("git"));
        cmd.args(args);
        run_bounded(cmd, &self.out_dir(), "git", SESSIONS_TIMEOUT).ok()
    }

    fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// `sessions ARGS` in the repository, with the clean environment.
    pub fn sessions(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(&self.sessions_bin());
        cmd.args(args);
        run_bounded(cmd, &self.out_dir(), "sessions", SESSIONS_TIMEOUT)
    }

    /// The client with `args` and its default headless flags.
    pub fn client(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(&self.bin);
        cmd.args(args);
        let label = self.client.name();
        run_bounded(cmd, &self.out_dir(), label, CLIENT_TIMEOUT)
    }

    /// `sessions new DESCRIPTION --json`: the new file's path, relative to the repository.
    pub fn new_session(&self, description: &str) -> String {
        let out = self.sessions(&["new", description, "--json"]).ok();
        let v: Value = serde_json::from_str(&out.stdout).expect("new --json");
        v["path"].as_str().expect("path").to_string()
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.repo.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// The bodies of the requests the mock got on `path` (JSON only).
    pub fn bodies(&self, path_suffix: &str) -> Vec<Value> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path().ends_with(path_suffix))
            .filter_map(Recorded::json)
            .collect()
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn write_json(path: &Path, v: &Value) {
    write(path, &serde_json::to_string_pretty(v).unwrap());
}
