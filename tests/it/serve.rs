//! `sessions serve`: every security rule over real HTTP requests, actions through the CLI's
//! own code path, and the pages in a real headless Chromium (skipped with a note without one).

use crate::serve_support;

use std::time::{Duration, Instant};

use serve_support::{
    Chrome, PATIENCE, Sealed, Server, Stream, chromium, eval, eventually, has_tmux, new_session,
    repo, request, sessions, spawn_sh, spawn_tmux, stem, wait_js,
};

#[test]
fn every_request_needs_the_token_then_a_strict_cookie() {
    let dir = repo();
    let server = Server::start(dir.path(), &[]);
    let host = server.host();
    let none = server.request("GET", "/", &[("Host", &host)], "");
    assert_eq!(none.status, 401, "{}", none.head);
    let wrong = server.request(
        "GET",
        "/?token=0123456789abcdef0123456789abcdef",
        &[("Host", &host)],
        "",
    );
    assert_eq!(wrong.status, 401);
    for path in [
        "/fragment/board",
        "/events",
        "/assets/app.js",
        "/s/x",
        "/nope",
    ] {
        let r = server.request("GET", path, &[("Host", &host)], "");
        assert_eq!(r.status, 401, "{path} without a token");
    }

    let first = server.request(
        "GET",
        &format!("/?token={}", server.token),
        &[("Host", &host)],
        "",
    );
    assert_eq!(first.status, 303, "{}", first.head);
    assert_eq!(first.header("location").as_deref(), Some("/"));
    let cookie = first.header("set-cookie").expect("a cookie");
    assert!(cookie.starts_with(&server.cookie()), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");

    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<main id=\"main\">"), "{}", page.body);
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let bearer = format!("Bearer {}", server.token);
    let r = server.request(
        "GET",
        "/fragment/board",
        &[("Host", &host), ("Authorization", &bearer)],
        "",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_foreign_host_name_is_refused_against_dns_rebinding() {
    let dir = repo();
    let server = Server::start(dir.path(), &["--allow-host", "box.lan"]);
    let cookie = server.cookie();
    for host in [
        "evil.example",
        "evil.example:80",
        "127.0.0.1.evil.example",
        "localhost.evil",
    ] {
        let r = server.request("GET", "/", &[("Host", host), ("Cookie", &cookie)], "");
        assert_eq!(r.status, 421, "Host {host}: {}", r.head);
    }
    let r = server.request("GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!(r.status, 421, "no Host at all");
    for host in [
        format!("localhost:{}", server.port),
        format!("127.0.0.1:{}", server.port),
        format!("[::1]:{}", server.port),
        format!("BOX.lan:{}", server.port),
    ] {
        let r = server.request("GET", "/", &[("Host", &host), ("Cookie", &cookie)], "");
        assert_eq!(r.status, 200, "Host {host}");
    }
}

#[test]
fn cross_origin_posts_and_event_streams_are_refused() {
    let dir = repo();
    let file = new_session(dir.path(), "Origin checks");
    let id = stem(&file);
    let server = Server::start(dir.path(), &[]);
    let (host, cookie) = (server.host(), server.cookie());
    let form = format!("session={id}");
    let post = |origin: Option<&str>| {
        let mut h = vec![
            ("Host", host.as_str()),
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        server.request("POST", "/api/pause", &h, &form)
    };
    assert_eq!(post(Some("http://evil.example")).status, 403);
    assert_eq!(post(Some("null")).status, 403);
    assert_eq!(
        post(Some(&format!("http://localhost:{}", server.port))).status,
        403
    );
    assert_eq!(
        post(None).status,
        403,
        "a POST must say where it comes from"
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("status: in_progress"),
        "a refused action changed nothing"
    );

    for headers in [
        vec![("Origin", "http://evil.example")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ] {
        let mut h = vec![
            ("Host", host.as_str()),
            ("Cookie", cookie.as_str()),
            ("Accept", "text/event-stream"),
        ];
        h.extend(headers.iter().copied());
        let r = server.request("GET", "/events", &h, "");
        assert_eq!(r.status, 403, "{headers:?}: {}", r.head);
    }
    let ok = server.request(
        "GET",
        "/events",
        &[
            ("Host", &host),
            ("Cookie", &cookie),
            ("Accept", "text/event-stream"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        "",
    );
    assert_eq!(ok.status, 200);
    assert!(
        ok.header("content-type")
            .unwrap_or_default()
            .contains("text/event-stream")
    );

    let same = post(Some(&server.origin()));
    assert_eq!(same.status, 200, "{}", same.body);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("status: paused")
    );
}

#[test]
fn read_only_refuses_every_action() {
    let dir = repo();
    let file = new_session(dir.path(), "Read only");
    let id = stem(&file);
    let server = Server::start(dir.path(), &["--read-only"]);
    let before = std::fs::read(&file).unwrap();
    for action in ["pause", "resume", "validate", "review", "kill", "spawn"] {
        let r = server.post(
            &format!("/api/{action}"),
            &format!("session={id}&agent=x&task=y"),
        );
        assert_eq!(r.status, 403, "{action}: {}", r.body);
        assert!(r.body.contains("read-only"), "{}", r.body);
    }
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let page = server.get(&format!("/s/{id}"));
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("/api/"),
        "no action forms in read-only pages"
    );
    assert!(page.body.contains("read-only"));
}

#[test]
fn a_non_loopback_bind_needs_an_explicit_token() {
    let dir = repo();
    let out = std::process::Command::new(serve_support::bin())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("-C")
        .arg(dir.path())
        .args(["serve", "--port", "0", "--bind", "0.0.0.0"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without an explicit token"), "{err}");
    assert!(out.stdout.is_empty(), "nothing was served");

    // An explicit token on a loopback address other than 127.0.0.1 is accepted and used.
    let server = Server::start(dir.path(), &["--token", "a-token-set-by-hand-1234"]);
    assert_eq!(server.token, "a-token-set-by-hand-1234");
    let short = std::process::Command::new(serve_support::bin())
        .env_clear()
        .arg("-C")
        .arg(dir.path())
        .args(["serve", "--port", "0", "--token", "short"])
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2));
}

#[test]
fn ctrl_c_stops_the_server_cleanly() {
    let dir = repo();
    let mut server = Server::start(dir.path(), &[]);
    // An open event stream must not keep it running.
    let port = server.port;
    let cookie = server.cookie();
    let host = server.host();
    let stream = std::thread::spawn(move || {
        request(
            port,
            "GET",
            "/events",
            &[("Host", &host), ("Cookie", &cookie)],
            "",
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = server.interrupt(PATIENCE).expect("it stops on SIGINT");
    assert!(status.success(), "{status:?}");
    assert_eq!(stream.join().unwrap().status, 200);
}

#[test]
fn actions_run_the_cli_and_log_like_it() {
    let dir = repo();
    let file = new_session(dir.path(), "Acted on");
    let id = stem(&file);
    let server = Server::start(dir.path(), &[]);

    let r = server.post("/api/pause", &format!("session={id}&reason=lunch"));
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["command"], format!("sessions pause {id} --reason lunch"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("status: paused"), "{text}");
    assert!(text.contains("lunch"), "the Session Log says why: {text}");

    let r = server.post("/api/resume", &format!("session={id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.post("/api/review", &format!("session={id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("Reviewed the agents' output on the dashboard")
    );

    // A failing command's stderr comes back to the page.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("\n## Context\n", "\n### Context\n", 1)).unwrap();
    let r = server.post("/api/validate", &format!("session={id}"));
    assert_eq!(r.status, 422, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["exit_code"], 1);
    assert!(
        v["stdout"].as_str().unwrap().contains("section-missing")
            || v["stderr"].as_str().unwrap().contains("section-missing"),
        "{v}"
    );
    let r = server.post("/api/spawn", &format!("session={id}&agent=nosuch&task=t"));
    assert_eq!(r.status, 422);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(!v["stderr"].as_str().unwrap().is_empty(), "{v}");

    // A follow-up message goes through `sessions send`: here the run cannot be resumed (a
    // plain `sh` agent has no `resume:` argv), and the page gets send's own reason.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sessions"))
        .sealed()
        .args([
            "-C",
            dir.path().to_str().unwrap(),
            "spawn",
            &id,
            "--agent",
            "sh1",
            "--task",
            "t",
            "--json",
            "--",
            "sh",
            "-c",
            "exit 0",
        ])
        .env_remove("SESSIONS_CONVERSATION_ID")
        .env("SESSIONS_PROCESS_TREE", "off")
        .output()
        .unwrap();
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = run[0]["run_id"].as_str().unwrap().to_string();
    // Once it has ended (bounded: a hang guard, not a speed limit).
    for _ in 0..1200 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sessions"))
            .sealed()
            .args(["-C", dir.path().to_str().unwrap(), "agents", &id, "--json"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("\"completed\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let r = server.post(
        "/api/send",
        &format!("session={id}&run={run}&message=and+the+tests"),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["command"],
        format!("sessions send {id}:{run} 'and the tests'"),
        "{v}"
    );
    assert!(v["stderr"].as_str().unwrap().contains("resume"), "{v}");
    let r = server.post("/api/send", &format!("session={id}&run={run}&message=-"));
    assert_eq!(r.status, 400, "{}", r.body);

    let r = server.post("/api/pause", "session=../../etc/passwd");
    assert_eq!(r.status, 404, "only sessions the board knows");
    let r = server.post("/api/rm", &format!("session={id}"));
    assert_eq!(r.status, 400);
}

/// A fake agent that prints, waits (bounded) for `go` to exist in the repository, prints
/// again and ends with a summary.
fn waiting_agent(dir: &std::path::Path, first: &str, then: &str) -> String {
    let go = dir.join("go");
    format!(
        "echo {first}; i=0; while [ ! -e {go} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; echo {then}; echo 'SUMMARY: all done'",
        go = go.display()
    )
}

#[test]
fn the_board_follows_files_and_agents_live_in_a_browser() {
    let Some(path) = chromium() else { return };
    let dir = repo();
    let server = Server::start(dir.path(), &[]);
    let chrome = Chrome::start(path);
    let tab = chrome.tab();
    tab.navigate_to(&server.url).unwrap();
    tab.wait_until_navigated().unwrap();
    wait_js(&tab, "the board", "!!document.querySelector('.board')");
    assert_eq!(
        eval(&tab, "location.search"),
        serde_json::json!(""),
        "the token leaves the address bar"
    );
    wait_js(
        &tab,
        "the live marker",
        "document.getElementById('live').classList.contains('on')",
    );

    let file = new_session(dir.path(), "Appears live");
    let id = stem(&file);
    wait_js(
        &tab,
        "the new session",
        &format!(
            "!!document.querySelector('[data-group=in_progress] article[data-session=\"{id}\"]')"
        ),
    );

    let run = spawn_sh(
        dir.path(),
        &id,
        "worker",
        &waiting_agent(dir.path(), "started", "finishing"),
    );
    let li = format!("li.agent[data-run=\"{run}\"]");
    wait_js(
        &tab,
        "the agent running",
        &format!("!!document.querySelector('{li}.st-running')"),
    );
    wait_js(
        &tab,
        "the unread marker",
        &format!("!!document.querySelector('{li} .unread')"),
    );
    // The other columns, and a file broken by hand, for the picture and the grouping.
    let paused = stem(&new_session(dir.path(), "Provider fallback"));
    sessions(
        dir.path(),
        &["pause", &paused, "--reason", "waiting for review"],
    );
    let broken = new_session(dir.path(), "Retry with backoff");
    let line = serve_support::break_context(&broken);
    wait_js(
        &tab,
        "the paused session",
        &format!(
            "!!document.querySelector('[data-group=paused] article[data-session=\"{paused}\"]')"
        ),
    );
    wait_js(
        &tab,
        "the first error with line:col",
        &format!(
            "!!document.querySelector('article[data-session=\"{}\"] .bad') && document.querySelector('article[data-session=\"{}\"] .bad').textContent.includes('{line}:1')",
            stem(&broken),
            stem(&broken)
        ),
    );
    let png = tab
        .capture_screenshot(
            headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption::Png,
            None,
            None,
            true,
        )
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    if let Some(to) = std::env::var_os("SERVE_SCREENSHOT") {
        std::fs::write(to, &png).unwrap();
    }
    std::fs::write(dir.path().join("go"), "").unwrap();
    wait_js(
        &tab,
        "the agent completed",
        &format!("!!document.querySelector('{li}.st-completed')"),
    );

    // An edit by hand moves the card to its new column.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("status: in_progress", "status: completed", 1),
    )
    .unwrap();
    wait_js(
        &tab,
        "the session completed",
        &format!(
            "!!document.querySelector('[data-group=completed] article[data-session=\"{id}\"]')"
        ),
    );
}

#[test]
fn a_session_page_renders_markdown_and_updates_without_reload() {
    let Some(path) = chromium() else { return };
    let dir = repo();
    let file = new_session(dir.path(), "Rendered page");
    let id = stem(&file);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{text}\n## Checklist\n\n- [x] write the code\n- [ ] write the tests\n\n<script>window.pwned = 1</script>\n"),
    )
    .unwrap();
    let server = Server::start(dir.path(), &[]);
    let chrome = Chrome::start(path);
    let tab = chrome.tab();
    tab.navigate_to(&format!("{}/s/{id}?token={}", server.base, server.token))
        .unwrap();
    tab.wait_until_navigated().unwrap();
    wait_js(
        &tab,
        "the rendered file",
        "!!document.querySelector('article.md h2')",
    );
    assert_eq!(
        eval(&tab, "location.pathname"),
        serde_json::json!(format!("/s/{id}"))
    );
    assert_eq!(
        eval(&tab, "typeof window.pwned"),
        serde_json::json!("undefined")
    );
    assert_eq!(
        eval(
            &tab,
            "document.querySelectorAll('article.md input[type=checkbox]').length > 0"
        ),
        serde_json::json!(true),
        "checklists render as checkboxes"
    );
    eval(&tab, "window.sameDocument = true");
    sessions(dir.path(), &["log", &id, "a line from the CLI"]);
    wait_js(
        &tab,
        "the new Session Log entry",
        "document.querySelector('article.md').innerText.includes('a line from the CLI')",
    );
    assert_eq!(
        eval(&tab, "window.sameDocument"),
        serde_json::json!(true),
        "no reload"
    );
}

#[test]
fn an_agent_page_streams_its_log_searchably_and_kill_works_from_the_page() {
    let Some(path) = chromium() else { return };
    let dir = repo();
    let file = new_session(dir.path(), "Agent pages");
    let id = stem(&file);
    let run = spawn_sh(
        dir.path(),
        &id,
        "talker",
        &waiting_agent(dir.path(), "hello-one", "needle-two"),
    );
    let server = Server::start(dir.path(), &[]);
    let chrome = Chrome::start(path);
    let tab = chrome.tab();
    tab.navigate_to(&format!("{}/a/{run}?token={}", server.base, server.token))
        .unwrap();
    tab.wait_until_navigated().unwrap();
    wait_js(
        &tab,
        "the first line",
        "document.getElementById('log').innerText.includes('hello-one')",
    );
    std::fs::write(dir.path().join("go"), "").unwrap();
    wait_js(
        &tab,
        "the streamed line",
        "document.getElementById('log').innerText.includes('needle-two')",
    );
    tab.wait_for_element("#search").unwrap().click().unwrap();
    tab.type_str("needle").unwrap();
    wait_js(
        &tab,
        "one match",
        "document.getElementById('matches').textContent === '1 matching line(s)'",
    );
    wait_js(
        &tab,
        "the run completed",
        "!!document.querySelector('.status.st-completed')",
    );

    // Kill, from the board, a run that would sleep for minutes.
    let sleeper = spawn_sh(dir.path(), &id, "sleeper", "sleep 300");
    tab.navigate_to(&format!("{}/", server.base)).unwrap();
    tab.wait_until_navigated().unwrap();
    let button = format!("li.agent[data-run=\"{sleeper}\"] button[data-action=kill]");
    wait_js(
        &tab,
        "the kill button",
        &format!("!!document.querySelector('{button}')"),
    );
    tab.wait_for_element(&button).unwrap().click().unwrap();
    wait_js(
        &tab,
        "the run cancelled",
        &format!("!!document.querySelector('li.agent[data-run=\"{sleeper}\"].st-cancelled')"),
    );
    wait_js(
        &tab,
        "the kill command's output",
        "document.getElementById('flash').innerText.includes('sessions kill')",
    );
    let runs: serde_json::Value =
        serde_json::from_str(&sessions(dir.path(), &["agents", &id, "--json"])).unwrap();
    let killed = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == sleeper.as_str())
        .unwrap();
    assert_eq!(killed["status"], "cancelled", "{killed}");
}

/// Not a check: prints the board's server time with 1,000 sessions and how long an edit
/// takes to show in an open page (the issue's budgets: 150 ms and 250 ms).
#[test]
fn note_board_time_and_edit_latency_with_a_thousand_sessions() {
    let dir = repo();
    let sessions_dir = dir.path().join(".agents/sessions");
    let template = std::fs::read_to_string(new_session(dir.path(), "Template")).unwrap();
    for i in 0..1000 {
        let name = format!("20250101-{:06}-load-{i}.md", i);
        let text = template.replacen("title: Template", &format!("title: Load {i}"), 1);
        std::fs::write(sessions_dir.join(name), text).unwrap();
    }
    let server = Server::start(dir.path(), &[]);
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let r = server.get("/");
        times.push(t.elapsed());
        assert_eq!(r.status, 200);
        assert!(r.body.matches("<article").count() >= 1000);
    }
    times.sort();
    let mut note = format!(
        "board with 1001 sessions: median {:?}, max {:?} (request to last byte, debug build)",
        times[5], times[9]
    );
    if let Some(path) = serve_support::chromium() {
        let chrome = Chrome::start(path);
        let tab = chrome.tab();
        tab.navigate_to(&server.url).unwrap();
        tab.wait_until_navigated().unwrap();
        wait_js(
            &tab,
            "the board",
            "document.querySelectorAll('article').length > 1000",
        );
        wait_js(
            &tab,
            "the live marker",
            "document.getElementById('live').classList.contains('on')",
        );
        let target = sessions_dir.join("20250101-000500-load-500.md");
        let mut lat = Vec::new();
        for n in 0..5 {
            let text = std::fs::read_to_string(&target).unwrap();
            let title = format!("Edited {n}");
            let start = Instant::now();
            std::fs::write(
                &target,
                text.replacen(
                    &text
                        .lines()
                        .find(|l| l.trim_start().starts_with("title:"))
                        .unwrap()
                        .to_string(),
                    &format!("  title: {title}"),
                    1,
                ),
            )
            .unwrap();
            let seen = eventually(PATIENCE, || {
                eval(
                    &tab,
                    &format!("document.body.innerText.includes('{title}')"),
                ) == serde_json::json!(true)
            });
            assert!(seen, "the edit never showed");
            lat.push(start.elapsed());
        }
        lat.sort();
        note.push_str(&format!(
            "; file edit to open board: median {:?}, max {:?} (includes a 25 ms poll of the page)",
            lat[2], lat[4]
        ));
    }
    serve_support::skip_note(&format!("not a failure, a measurement: {note}"));
}

// ---------------------------------------------------------------------------------------------
// A tmux run's pane on the agent page.

/// A fake interactive agent: says it is ready (`ready` in bold green), then echoes every line
/// it reads.
const ECHOER: &str =
    r#"printf '\033[1;32mready\033[0m for input\n'; while read line; do echo "echo: $line"; done"#;

/// Kills a run when dropped, so a failing test leaves no tmux session behind.
struct KillRun(std::path::PathBuf, String);

impl Drop for KillRun {
    fn drop(&mut self) {
        let _ = std::process::Command::new(serve_support::bin())
            .sealed()
            .arg("-C")
            .arg(&self.0)
            .args(["kill", &self.1, "--grace", "2s"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A repository with one session and a running echoing tmux run; the kill guard goes last.
fn tmux_run() -> (tempfile::TempDir, String, String, KillRun) {
    let dir = repo();
    let file = new_session(dir.path(), "Pane view");
    let id = stem(&file);
    let run = spawn_tmux(dir.path(), &id, "echoer", ECHOER);
    let guard = KillRun(dir.path().to_path_buf(), format!("{id}:{run}"));
    (dir, id, run, guard)
}

/// Opens the run's pane stream as the page does; the viewer id it sent first.
fn pane_viewer(server: &Server, run: &str) -> (Stream, String) {
    let (host, cookie) = (server.host(), server.cookie());
    let mut s = Stream::open(
        server.port,
        &format!("/a/{run}/pane/stream"),
        &[
            ("Host", &host),
            ("Cookie", &cookie),
            ("Accept", "text/event-stream"),
        ],
    );
    assert_eq!(s.status, 200);
    let (name, viewer) = s.next_event().expect("a first event");
    assert_eq!(name, "viewer");
    (s, viewer)
}

#[test]
fn typing_into_a_pane_needs_the_toggle_and_passes_every_guard() {
    if !has_tmux() {
        return;
    }
    let (dir, id, run, _kill) = tmux_run();
    let server = Server::start(dir.path(), &[]);
    let (mut stream, viewer) = pane_viewer(&server, &run);
    let text = stream.until("pane", |d| d.contains("for input"));
    let runs: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        runs[0],
        serde_json::json!(["ready", "f2 b"]),
        "runs of text with our own class names: {text}"
    );
    let keys = format!("/a/{run}/pane/keys");
    let typing = format!("/a/{run}/pane/typing");
    let line = format!("viewer={viewer}&text=first+line&key=enter");

    // Typing is off for a new view: the key is refused and nothing reaches the agent.
    let r = server.post(&keys, &line);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("Enable typing"), "{}", r.body);
    // Every guard applies to the key and the toggle alike.
    let (host, cookie) = (server.host(), server.cookie());
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    for path in [&keys, &typing] {
        let body = format!("{line}&on=1");
        let origin = server.origin();
        let no_token = server.request(
            "POST",
            path,
            &[("Host", &host), ("Origin", &origin), form[0]],
            &body,
        );
        assert_eq!(no_token.status, 401, "{path} without the token");
        for bad in ["http://evil.example", "null"] {
            let r = server.request(
                "POST",
                path,
                &[
                    ("Host", &host),
                    ("Cookie", &cookie),
                    ("Origin", bad),
                    form[0],
                ],
                &body,
            );
            assert_eq!(r.status, 403, "{path} from {bad}");
        }
        let r = server.request(
            "POST",
            path,
            &[("Host", &host), ("Cookie", &cookie), form[0]],
            &body,
        );
        assert_eq!(r.status, 403, "{path} without an Origin");
        let r = server.request(
            "POST",
            path,
            &[
                ("Host", "evil.example"),
                ("Cookie", &cookie),
                ("Origin", "http://evil.example"),
                form[0],
            ],
            &body,
        );
        assert_eq!(r.status, 421, "{path} under a rebinding name");
    }
    let r = server.request(
        "GET",
        &format!("/a/{run}/pane/stream"),
        &[
            ("Host", &host),
            ("Cookie", &cookie),
            ("Origin", "http://evil.example"),
        ],
        "",
    );
    assert_eq!(r.status, 403, "a cross-origin pane stream");
    let r = server.request(
        "GET",
        &format!("/a/{run}/pane/stream"),
        &[("Host", &host)],
        "",
    );
    assert_eq!(r.status, 401, "a pane stream without the token");
    // A made-up viewer cannot turn typing on.
    let r = server.post(&typing, "viewer=0123456789abcdef&on=1");
    assert_eq!(r.status, 403, "{}", r.body);

    // Turned on, the same key is typed: the agent echoes it in the pane.
    let r = server.post(&typing, &format!("viewer={viewer}&on=1"));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.post(
        &keys,
        &format!("viewer={viewer}&text=hello+%24(not+run)+%60x%60&key=enter"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let shown = stream.until("pane", |d| d.contains("echo: hello $(not run) `x`"));
    assert!(
        !shown.contains("first line"),
        "the refused key was never typed: {shown}"
    );
    let r = server.post(&keys, &format!("viewer={viewer}&key=run-shell"));
    assert_eq!(r.status, 400, "only listed key names: {}", r.body);
    let r = server.post(&keys, &format!("viewer={viewer}"));
    assert_eq!(r.status, 400, "nothing to type");
    // Off again: refused again.
    let r = server.post(&typing, &format!("viewer={viewer}&on=0"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.post(&keys, &line).status, 403);

    // A view dies with its stream: its id types nothing afterwards.
    let r = server.post(&typing, &format!("viewer={viewer}&on=1"));
    assert_eq!(r.status, 200, "{}", r.body);
    drop(stream);
    let forgotten = serve_support::eventually(PATIENCE, || {
        server
            .post(&typing, &format!("viewer={viewer}&on=1"))
            .status
            == 403
    });
    assert!(forgotten, "a closed view keeps no typing permission");

    // A run without tmux has no pane: a clear refusal, and its page shows none.
    let plain = spawn_sh(dir.path(), &id, "plain", "sleep 300");
    let _kill_plain = KillRun(dir.path().to_path_buf(), format!("{id}:{plain}"));
    let known = eventually(PATIENCE, || {
        server.get(&format!("/a/{plain}")).status == 200
    });
    assert!(known, "the server sees the new run");
    let r = server.post(
        &format!("/a/{plain}/pane/keys"),
        "viewer=x&text=hi&key=enter",
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("does not run in tmux"), "{}", r.body);
    let r = server.get(&format!("/a/{plain}/pane/stream"));
    assert_eq!(r.status, 409, "{}", r.body);
    let page = server.get(&format!("/a/{plain}"));
    assert!(
        !page.body.contains("id=\"pane\""),
        "no pane for a process run"
    );
    let page = server.get(&format!("/a/{run}"));
    assert!(page.body.contains("id=\"pane\""), "{}", page.body);
    assert!(page.body.contains("id=\"typing\""), "the toggle");
    assert!(page.body.contains(&format!("sessions attach {id}:{run}")));
    let r = server.post("/a/nosuch/pane/keys", "viewer=x&text=hi");
    assert_eq!(r.status, 404);

    // --read-only: the pane shows, typing does not exist.
    let ro = Server::start(dir.path(), &["--read-only"]);
    let (mut ro_stream, ro_viewer) = pane_viewer(&ro, &run);
    ro_stream.until("pane", |d| d.contains("for input"));
    let r = ro.post(
        &format!("/a/{run}/pane/typing"),
        &format!("viewer={ro_viewer}&on=1"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("read-only"), "{}", r.body);
    let r = ro.post(
        &format!("/a/{run}/pane/keys"),
        &format!("viewer={ro_viewer}&text=x&key=enter"),
    );
    assert_eq!(r.status, 403);
    let page = ro.get(&format!("/a/{run}"));
    assert!(page.body.contains("id=\"pane\""));
    assert!(
        !page.body.contains("id=\"typing\""),
        "no toggle when read-only"
    );
    assert!(!page.body.contains("id=\"keys\""));
}

#[test]
fn an_agent_page_shows_a_tmux_pane_and_types_into_it_once_enabled_in_a_browser() {
    let Some(path) = chromium() else { return };
    if !has_tmux() {
        return;
    }
    let (dir, _id, run, _kill) = tmux_run();
    let server = Server::start(dir.path(), &[]);
    let chrome = Chrome::start(path);
    let tab = chrome.tab();
    tab.navigate_to(&format!("{}/a/{run}?token={}", server.base, server.token))
        .unwrap();
    // Not `wait_until_navigated`: it waits for the network to go almost idle (two open
    // connections at most), and this page holds three event streams.
    wait_js(
        &tab,
        "the pane's text",
        "document.getElementById('pane').textContent.includes('ready for input')",
    );
    wait_js(
        &tab,
        "the log without escape sequences",
        "document.getElementById('log').textContent.includes('ready for input') && !document.getElementById('log').textContent.includes('\\u001b')",
    );
    let off = "document.getElementById('typing').checked === false && document.getElementById('keys').hidden";
    wait_js(&tab, "typing off at first", off);
    tab.wait_for_element("#typing").unwrap().click().unwrap();
    wait_js(
        &tab,
        "the keys form",
        "!document.getElementById('keys').hidden && document.getElementById('pane-state').textContent.includes('typing ON')",
    );
    tab.wait_for_element("#keys-text").unwrap().click().unwrap();
    tab.type_str("hello <b>from</b> the page").unwrap();
    tab.press_key("Enter").unwrap();
    wait_js(
        &tab,
        "the echo in the pane",
        "document.getElementById('pane').textContent.includes('echo: hello <b>from</b> the page')",
    );
    assert_eq!(
        eval(
            &tab,
            "document.querySelectorAll('#pane :not(span), #pane span *').length"
        ),
        serde_json::json!(0),
        "the pane is text in spans, never HTML"
    );
    assert_eq!(
        eval(
            &tab,
            "document.querySelector('#pane span.f2.b').textContent"
        ),
        serde_json::json!("ready"),
        "colours as our own classes"
    );
    let png = tab
        .capture_screenshot(
            headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption::Png,
            None,
            None,
            true,
        )
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    if let Some(to) = std::env::var_os("SERVE_PANE_SCREENSHOT") {
        std::fs::write(to, &png).unwrap();
    }

    // Not a check, a measurement: keystroke POST sent → its echo in the page, timed by the
    // page itself (a MutationObserver on the pane).
    let mut lat = Vec::new();
    for n in 0..20 {
        let js = format!(
            "new Promise(function (resolve) {{
              const pane = document.getElementById('pane');
              const want = 'echo: tick-{n:02}';
              let t0 = 0;
              const obs = new MutationObserver(function () {{
                if (pane.textContent.includes(want)) {{ obs.disconnect(); resolve(performance.now() - t0); }}
              }});
              obs.observe(pane, {{ childList: true, characterData: true, subtree: true }});
              document.getElementById('keys-text').value = 'tick-{n:02}';
              t0 = performance.now();
              document.getElementById('keys').requestSubmit();
              setTimeout(function () {{ obs.disconnect(); resolve(-1); }}, 30000);
            }})"
        );
        let ms = tab
            .evaluate(&js, true)
            .unwrap()
            .value
            .and_then(|v| v.as_f64())
            .unwrap_or(-1.0);
        assert!(ms >= 0.0, "tick {n} never showed");
        lat.push(ms);
    }
    lat.sort_by(f64::total_cmp);
    serve_support::skip_note(&format!(
        "not a failure, a measurement: pane echo (key POST to text in the page) over 20 runs: median {:.0} ms, min {:.0} ms, max {:.0} ms",
        (lat[9] + lat[10]) / 2.0,
        lat[0],
        lat[19]
    ));

    // Typing is never remembered: a reload is a new view, with typing off.
    tab.reload(true, None).unwrap();
    wait_js(
        &tab,
        "the pane after a reload",
        "document.getElementById('pane').textContent.includes('ready for input') && document.getElementById('pane-state').textContent.includes('typing off')",
    );
    wait_js(&tab, "typing off after a reload", off);

    // Named keys: Ctrl-C ends the echoing agent, and the page says the pane is gone.
    tab.wait_for_element("#typing").unwrap().click().unwrap();
    wait_js(
        &tab,
        "the keys form again",
        "!document.getElementById('keys').hidden",
    );
    tab.wait_for_element("button[data-key=ctrl-c]")
        .unwrap()
        .click()
        .unwrap();
    wait_js(
        &tab,
        "the pane gone",
        "document.getElementById('pane-state').textContent.includes('gone') && document.getElementById('keys').hidden",
    );
}

/// Agents with a `resume:` argv, as `sessions send` needs to continue a finished run.
const RESUMABLE: &str = r#"  ok:
    command: [sh, -c, 'echo "SUMMARY: done $0"', "{conversation_id}"]
    resume: [sh, -c, 'echo "resumed $0"; echo "SUMMARY: got $1"', "{conversation_id}", "{prompt}"]
"#;

#[test]
fn a_follow_up_from_the_agent_page_resumes_a_finished_run_in_a_browser() {
    let Some(path) = chromium() else { return };
    let dir = repo();
    serve_support::configure_agents(dir.path(), RESUMABLE);
    let file = new_session(dir.path(), "Follow-ups");
    let id = stem(&file);
    let out = sessions(
        dir.path(),
        &["spawn", &id, "--agent", "ok", "--task", "first", "--json"],
    );
    let started: serde_json::Value = serde_json::from_str(&out).unwrap();
    let run = started[0]["run_id"].as_str().unwrap().to_string();
    serve_support::wait_until_runs_end(dir.path(), &id);
    let server = Server::start(dir.path(), &[]);
    let chrome = Chrome::start(path);
    let tab = chrome.tab();
    tab.navigate_to(&format!("{}/a/{run}?token={}", server.base, server.token))
        .unwrap();
    tab.wait_until_navigated().unwrap();
    wait_js(
        &tab,
        "the finished run",
        "!!document.querySelector('.status.st-completed')",
    );
    tab.wait_for_element("form.send input[name=message]")
        .unwrap()
        .click()
        .unwrap();
    tab.type_str("and the tests").unwrap();
    tab.wait_for_element("form.send button[data-action=send]")
        .unwrap()
        .click()
        .unwrap();
    wait_js(
        &tab,
        "send's answer",
        &format!(
            "document.getElementById('flash').className === 'ok' && document.getElementById('flash').innerText.includes(\"sessions send {id}:{run} 'and the tests'\")"
        ),
    );
    let linked = eventually(PATIENCE, || {
        let all: serde_json::Value =
            serde_json::from_str(&sessions(dir.path(), &["agents", "--all", "--json"])).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .any(|r| r["resumes"] == run.as_str() && r["summary"] == "got and the tests")
    });
    assert!(linked, "a new run continues the first with the message");
    // And the session page lists both.
    tab.navigate_to(&format!("{}/s/{id}", server.base)).unwrap();
    tab.wait_until_navigated().unwrap();
    wait_js(
        &tab,
        "both runs",
        "document.querySelectorAll('li.agent').length === 2",
    );
}
