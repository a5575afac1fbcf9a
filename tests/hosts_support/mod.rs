//! A test host for the ssh runner: our own `sshd` on 127.0.0.1 (free port, generated host and
//! client keys, its own config, `-D` in the foreground, killed on drop), a client config of
//! our own (never `~/.ssh`), and a "remote" checkout — a `git clone` of the local repository
//! in another directory, with the built `sessions` on the PATH sshd gives its sessions.

#![allow(dead_code)]

#[path = "../agents_support/mod.rs"]
pub mod agents;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use agents::{PATIENCE, Repo, Sealed, skip_note};
use serde_json::Value;

pub const SSHD: &str = "/usr/sbin/sshd";

/// `sshd` and `ssh-keygen` are installed (Debian's openssh-server), or a note why the test
/// skips.
pub fn available() -> bool {
    for (path, what) in [
        (SSHD, "openssh-server (sshd)"),
        ("/usr/bin/ssh-keygen", "ssh-keygen"),
        ("/usr/bin/ssh", "openssh-client"),
        ("/usr/bin/git", "git"),
    ] {
        if !Path::new(path).exists() {
            skip_note(&format!("{what} is not installed ({path})"));
            return false;
        }
    }
    // sshd insists on its privilege separation directory, even for a test server.
    if fs::create_dir_all("/run/sshd").is_err() && !Path::new("/run/sshd").is_dir() {
        skip_note("/run/sshd is missing and cannot be created (sshd needs it)");
        return false;
    }
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "ssh-keygen failed");
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One sshd and what a client needs to reach it.
pub struct Sshd {
    /// Keys, configs, logs; short, because the control sockets live below it too.
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Sshd {
    /// An sshd whose sessions get `path` as PATH.
    pub fn start(path: &str) -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("ssh")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("client_key"));
        fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
                 PidFile {d}/sshd.pid\nSetEnv PATH={path}\nLogLevel ERROR\n",
                d = d.display()
            ),
        )
        .unwrap();
        let host_pub = fs::read_to_string(d.join("host_key.pub")).unwrap();
        let key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
        )
        .unwrap();
        fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n  LogLevel ERROR\n",
                d = d.display()
            ),
        )
        .unwrap();
        fs::create_dir(d.join("run")).unwrap();
        let mut s = Sshd {
            dir,
            port,
            child: None,
        };
        s.up();
        s
    }

    /// Starts (again) the server, on the same port, and waits until it accepts.
    pub fn up(&mut self) {
        let d = self.dir.path();
        let log = fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "sshd exited ({st}):\n{}",
                    fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
                );
            }
            assert!(start.elapsed() < PATIENCE, "sshd never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host goes away: the listening server and every master connection to it (so the
    /// connections it carried end too).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.close_master();
    }

    /// `ssh -O exit` on the master connection, as the runner names it.
    pub fn close_master(&self) {
        let _ = self
            .ssh_cmd()
            .args(["-O", "exit", "--", &self.destination()])
            .stderr(Stdio::null())
            .status();
    }

    /// The master connection's pid, if one runs.
    pub fn master_pid(&self) -> Option<u32> {
        let out = self
            .ssh_cmd()
            .args(["-O", "check", "--", &self.destination()])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        let i = text.find("pid=")?;
        text[i + 4..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    fn ssh_cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("ssh");
        c.arg("-F")
            .arg(d.join("ssh_config"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-o")
            .arg(format!(
                "ControlPath={}/sessions-ssh/%C",
                self.runtime_dir().display()
            ))
            .stdin(Stdio::null());
        c
    }

    pub fn destination(&self) -> String {
        format!("{}@127.0.0.1", user())
    }

    /// The `XDG_RUNTIME_DIR` the local commands get: the control sockets go below it.
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The `hosts:` entry for this server, its checkout at `root`.
    pub fn host_yaml(&self, name: &str, root: &Path) -> String {
        let d = self.dir.path().display();
        format!(
            "hosts:\n  {name}:\n    ssh: {}\n    root: {}\n    port: {}\n    identity: {d}/client_key\n    ssh_options: [-F, {d}/ssh_config]\n",
            self.destination(),
            root.display(),
            self.port
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.down();
    }
}

/// A local repository (git, with one session), its clone as the remote host's checkout, an
/// sshd serving it, and a directory of fake agents both sides can run.
pub struct World {
    pub local: Repo,
    pub remote_dir: tempfile::TempDir,
    pub bin: tempfile::TempDir,
    pub sshd: Sshd,
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .sealed()
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl World {
    /// `agents` (YAML under `agents:`) configured on both sides, host `build1` = our sshd,
    /// whose sessions have the built `sessions` on their PATH when `with_sessions`.
    pub fn new(agents: &str, with_sessions: bool) -> World {
        let bin = tempfile::Builder::new()
            .prefix("bin")
            .tempdir_in("/tmp")
            .unwrap();
        let sessions_dir = bin.path().join("sessions-bin");
        fs::create_dir(&sessions_dir).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_sessions"),
            sessions_dir.join("sessions"),
        )
        .unwrap();
        let path = if with_sessions {
            format!("{}:/usr/bin:/bin", sessions_dir.display())
        } else {
            "/usr/bin:/bin".to_string()
        };
        let sshd = Sshd::start(&path);
        let local = Repo::new();
        let remote_dir = tempfile::Builder::new().prefix("remote").tempdir().unwrap();
        let remote_root = remote_dir.path().join("checkout");
        let agents = agents.replace("{bin}", &bin.path().display().to_string());
        local.configure(&agents, &sshd.host_yaml("build1", &remote_root));
        // `Repo::new` made a bare `.git/` marker; make it a real repository to clone.
        fs::remove_dir_all(local.root().join(".git")).unwrap();
        git(local.root(), &["init", "-q", "-b", "main"]);
        git(local.root(), &["add", "-A"]);
        git(local.root(), &["commit", "-q", "-m", "start"]);
        git(
            remote_dir.path(),
            &[
                "clone",
                "-q",
                &local.root().display().to_string(),
                "checkout",
            ],
        );
        World {
            local,
            remote_dir,
            bin,
            sshd,
        }
    }

    pub fn remote_root(&self) -> PathBuf {
        self.remote_dir.path().join("checkout")
    }

    /// An executable script in the shared bin directory.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.bin.path().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// `sessions ARGS` in the local repository, its control sockets in the test's directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.local.cmd(args);
        c.env("XDG_RUNTIME_DIR", self.sshd.runtime_dir());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.status.success(), "sessions {args:?}: {}", show(&out));
        out
    }

    /// `sessions ARGS` in the remote checkout (as that host's user would run it).
    pub fn remote(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sessions"));
        c.sealed();
        c.args(args).current_dir(self.remote_root());
        c.output().unwrap()
    }

    /// `agents --all --json` here, the run `id`.
    pub fn agent(&self, id: &str) -> Value {
        let out = self.ok(&["agents", "--all", "--json"]);
        let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        all.into_iter()
            .find(|r| r["run_id"] == id)
            .unwrap_or_else(|| panic!("run {id} not listed"))
    }

    /// Polls `agents --json` until `pred` holds of the run.
    pub fn wait_agent(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let r = self.agent(id);
            if pred(&r) {
                return r;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "run {id} never {what}: {r:#}\nsshd log:\n{}",
                fs::read_to_string(self.sshd.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `spawn --host build1 --json`, asserting success: the run.
    pub fn spawn(&self, agent: &str, task: &str) -> Value {
        let out = self.ok(&[
            "spawn",
            &self.local.stem,
            "--agent",
            agent,
            "--host",
            "build1",
            "--task",
            task,
            "--json",
        ]);
        let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        runs.into_iter().next().unwrap()
    }
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
