//! Shared by the `sessions serve` tests: a running server (stopped with SIGINT when dropped),
//! plain HTTP requests whose every header the test chooses (the point is to send a wrong
//! `Host` or a foreign `Origin`, which HTTP client crates fill in for you), and headless
//! Debian Chromium driven over CDP by `headless_chrome` (skipped with a note when absent).

#![allow(dead_code)] // Each test uses a different part of this module.

#[path = "../watch_support/mod.rs"]
mod watch_support;
pub use watch_support::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `sessions serve` child on a free port of 127.0.0.1.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub port: u16,
    pub token: String,
    /// The URL it printed, token and all.
    pub url: String,
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(bin())
            .sealed()
            .arg("-C")
            .arg(dir)
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut first).unwrap();
        // Keep reading: a closed pipe would end the server at its next line.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = first
            .trim()
            .strip_prefix("sessions serve: ")
            .unwrap_or_else(|| panic!("no URL line: {first:?}"))
            .to_string();
        let (base, token) = url.split_once("/?token=").expect("a token in the URL");
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            base: base.to_string(),
            port,
            token: token.to_string(),
            url: url.clone(),
        }
    }

    /// The cookie header a browser sends after the first visit.
    pub fn cookie(&self) -> String {
        format!("sessions_token_{}={}", self.port, self.token)
    }

    /// `Host` and `Origin` as the dashboard's own pages send them.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn origin(&self) -> String {
        self.base.clone()
    }

    /// A request with exactly these headers (plus `Connection: close` and a length).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        request(self.port, method, path, headers, body)
    }

    /// A same-origin GET with the cookie.
    pub fn get(&self, path: &str) -> Reply {
        let (host, cookie) = (self.host(), self.cookie());
        self.request("GET", path, &[("Host", &host), ("Cookie", &cookie)], "")
    }

    /// A same-origin form POST with the cookie, as the page's script sends it.
    pub fn post(&self, path: &str, form: &str) -> Reply {
        let (host, cookie, origin) = (self.host(), self.cookie(), self.origin());
        self.request(
            "POST",
            path,
            &[
                ("Host", &host),
                ("Cookie", &cookie),
                ("Origin", &origin),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form,
        )
    }

    /// SIGINT, as Ctrl-C sends; the exit status within `within`.
    pub fn interrupt(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.interrupt(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What came back: the status code, the raw head and the body (read until close, or for an
/// event stream, until `stream_for` ran out).
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    // An event stream never ends: whatever arrived before the read timeout is the answer.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// Debian's Chromium, or `None` after a note saying the browser test skips.
pub fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        skip_note("chromium is not installed (`.ci/install-browser` installs Debian's)");
    }
    found
}

/// A headless Chromium with a fresh profile, started as the machine notes say (root: no
/// sandbox; no background networking on a closed network). Ends with the value.
pub struct Chrome {
    pub browser: headless_chrome::Browser,
    _profile: tempfile::TempDir,
}

impl Chrome {
    pub fn start(path: PathBuf) -> Chrome {
        use std::ffi::OsStr;
        let profile = tempfile::tempdir().unwrap();
        let opts = headless_chrome::LaunchOptions {
            headless: true,
            sandbox: false,
            path: Some(path),
            user_data_dir: Some(profile.path().to_path_buf()),
            window_size: Some((1280, 860)),
            idle_browser_timeout: Duration::from_secs(600),
            args: vec![
                OsStr::new("--disable-gpu"),
                OsStr::new("--disable-quic"),
                OsStr::new("--no-first-run"),
                OsStr::new("--disable-background-networking"),
                OsStr::new("--disable-component-update"),
                OsStr::new("--disable-sync"),
            ],
            ..Default::default()
        };
        let browser = headless_chrome::Browser::new(opts).expect("chromium starts headless");
        Chrome {
            browser,
            _profile: profile,
        }
    }

    pub fn tab(&self) -> std::sync::Arc<headless_chrome::Tab> {
        let tab = self.browser.new_tab().unwrap();
        tab.set_default_timeout(PATIENCE);
        tab
    }
}

/// Evaluates `js` in the tab; its value as JSON.
pub fn eval(tab: &headless_chrome::Tab, js: &str) -> serde_json::Value {
    tab.evaluate(js, false)
        .unwrap()
        .value
        .unwrap_or(serde_json::Value::Null)
}

/// Waits (bounded by [`PATIENCE`]) until `js` evaluates to `true` in the tab; panics with
/// `what` and the page's text otherwise.
pub fn wait_js(tab: &headless_chrome::Tab, what: &str, js: &str) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if eval(tab, js) == serde_json::Value::Bool(true) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let text = eval(tab, "document.body.innerText");
    panic!("the page never showed {what} within {PATIENCE:?}; it shows:\n{text}");
}

/// Replaces the `agents:` map of the repository's `.agents/config.yaml` with `agents` (YAML
/// lines indented by two spaces), keeping the rest of the file.
pub fn configure_agents(dir: &Path, agents: &str) {
    let path = dir.join(".agents/config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = text.split_once("\nagents:\n").expect("an agents: map");
    let after: String = rest
        .split_inclusive('\n')
        .skip_while(|l| l.starts_with(' '))
        .collect();
    std::fs::write(&path, format!("{head}\nagents:\n{agents}{after}")).unwrap();
}

/// Is tmux installed? Otherwise a note that the test skips.
pub fn has_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip_note("tmux is not installed");
    }
    ok
}

/// `sessions spawn … --runner tmux -- sh -c SCRIPT`; returns the run id.
pub fn spawn_tmux(dir: &Path, session: &str, agent: &str, script: &str) -> String {
    let out = sessions(
        dir,
        &[
            "spawn", session, "--agent", agent, "--task", "fake", "--runner", "tmux", "--json",
            "--", "sh", "-c", script,
        ],
    );
    let runs: serde_json::Value = serde_json::from_str(&out).expect("spawn --json prints JSON");
    runs[0]["run_id"].as_str().expect("a run id").to_string()
}

/// An open event stream read event by event (HTTP/1.0, so the body is not chunked). The
/// connection closes when it is dropped.
pub struct Stream {
    pub status: u16,
    reader: BufReader<TcpStream>,
}

impl Stream {
    pub fn open(port: u16, path: &str, headers: &[(&str, &str)]) -> Stream {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut req = format!("GET {path} HTTP/1.0\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
        }
        Stream { status, reader }
    }

    /// The next event's name and data (bounded by the read timeout); `None` at the end.
    pub fn next_event(&mut self) -> Option<(String, String)> {
        let (mut name, mut data) = (String::new(), Vec::new());
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !name.is_empty() || !data.is_empty() {
                    return Some((name, data.join("\n")));
                }
            } else if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d).to_string());
            }
        }
    }

    /// Reads events until one named `name` whose data satisfies `pred` (bounded: at most
    /// 10,000 events, each within the read timeout).
    pub fn until(&mut self, name: &str, pred: impl Fn(&str) -> bool) -> String {
        for _ in 0..10_000 {
            match self.next_event() {
                Some((n, d)) if n == name && pred(&d) => return d,
                Some(_) => {}
                None => break,
            }
        }
        panic!("the stream ended without a matching `{name}` event");
    }
}
