//! `sessions serve`: a local web dashboard over the live engine ([`crate::live`]).
//!
//! The only place that starts an async runtime (a current-thread tokio runtime, inside
//! [`run`]); nothing on the hook path or in another command touches it. It reads through the
//! library and acts only by running this same binary with the CLI's arguments
//! ([`actions`]), so it never imports `commands::` and every action behaves and logs as the
//! command does. Security (token, Host, Origin, read-only) is one middleware in [`guard`];
//! a tmux run's pane view and typing into it ([`pane`]) pass it like everything else.

mod actions;
mod ansi;
mod engine;
mod guard;
mod pages;
mod pane;
mod routes;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::store::Repo;

/// What `sessions serve` was asked for.
pub struct Options {
    pub repo: Repo,
    pub bind: IpAddr,
    pub port: u16,
    pub open: bool,
    pub read_only: bool,
    /// Set explicitly (flag or environment); `None`: a fresh random one.
    pub token: Option<String>,
    pub allow_hosts: Vec<String>,
}

/// How long open event streams may keep the server after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// State every handler shares.
pub struct App {
    pub repo: Repo,
    pub token: String,
    pub read_only: bool,
    pub allowed_hosts: Vec<String>,
    /// The cookie that carries the token (named for the port: cookies ignore ports).
    pub cookie: String,
    pub live: engine::Live,
    pub viewed: std::sync::Mutex<pages::Viewed>,
    /// The open pane views of tmux runs and whether each may type.
    pub panes: pane::Panes,
}

/// A fresh token: two v4 UUIDs (244 random bits from the OS), as hex.
fn fresh_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Serves until Ctrl-C; exit code 0.
pub fn run(opts: Options) -> Result<u8> {
    if !opts.bind.is_loopback() && opts.token.is_none() {
        return Err(Error::Usage(format!(
            "refusing to listen on {} without an explicit token: anyone who can reach it could act on your agents. Set one with --token or $SESSIONS_SERVE_TOKEN (or keep the default --bind 127.0.0.1)",
            opts.bind
        )));
    }
    if let Some(t) = &opts.token
        && t.len() < 16
    {
        return Err(Error::Usage(
            "the token must be at least 16 characters long".into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the server runtime: {e}")))?;
    let code = rt.block_on(serve(opts));
    // Open event streams and their tasks end here, not whenever their clients go.
    rt.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn serve(opts: Options) -> Result<u8> {
    let addr = SocketAddr::new(opts.bind, opts.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Usage(format!("cannot listen on {addr}: {e}")))?;
    let token = opts.token.clone().unwrap_or_else(fresh_token);
    let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
        .into_iter()
        .map(String::from)
        .collect();
    if !opts.bind.is_loopback() && !opts.bind.is_unspecified() {
        allowed_hosts.push(match opts.bind {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        });
    }
    allowed_hosts.extend(opts.allow_hosts.iter().map(|h| h.to_ascii_lowercase()));
    let live = engine::Live::start(opts.repo.clone())?;
    let app = Arc::new(App {
        repo: opts.repo.clone(),
        token: token.clone(),
        read_only: opts.read_only,
        allowed_hosts,
        cookie: format!("sessions_token_{}", local.port()),
        live,
        viewed: std::sync::Mutex::new(pages::Viewed::default()),
        panes: pane::Panes::default(),
    });
    let host = match local.ip() {
        ip if ip.is_unspecified() || ip.is_loopback() => "127.0.0.1".to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let url = format!("http://{host}:{}/?token={token}", local.port());
    println!("sessions serve: {url}");
    println!(
        "{}Ctrl-C to stop.",
        if opts.read_only {
            "read-only: actions are disabled. "
        } else {
            ""
        }
    );
    if opts.open {
        open_browser(&url);
    }
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let router = routes::router(app);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    });
    let server = tokio::spawn(async move { server.await });
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("sessions serve: stopping");
    let _ = stop_tx.send(true);
    // Event streams never end by themselves; they get a moment, then the runtime drops them.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, server).await;
    Ok(0)
}

/// `--open`: the desktop's opener, as argv; a failure is one line, not an error.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("sessions serve: cannot run {opener} ({e}); open the URL yourself");
    }
}
