use super::*;

#[test]
fn the_template_resume_argv_is_the_built_in_one() {
    let c = Config::parse(DEFAULT_CONFIG).unwrap();
    for name in ["claude", "codex", "gemini"] {
        let def = &c.agents[name];
        assert_eq!(def.resume, default_resume(name), "{name}");
        assert!(
            def.resume_argv()
                .unwrap()
                .iter()
                .any(|a| a == "{conversation_id}")
        );
    }
    assert_eq!(
        default_resume("/opt/bin/claude").unwrap()[0],
        "/opt/bin/claude"
    );
    assert_eq!(default_resume("sh"), None);
    let plain = Config::parse("agents:\n  x:\n    command: [sh]\n").unwrap();
    assert_eq!(plain.agents["x"].resume_argv(), None);
}

#[test]
fn notify_takes_targets_or_one_argv() {
    let c = Config::parse(
            "notify:\n  - command: [sh, -c, 'cat']\n    events: [failed]\n  - webhook: http://127.0.0.1:9/x\n    timeout: 2s\n    retries: 0\n  - desktop: true\n",
        )
        .unwrap();
    assert_eq!(c.notify.len(), 3);
    assert!(c.notify[0].wants("failed") && !c.notify[0].wants("waiting"));
    assert_eq!(
        c.notify[1].kind,
        NotifyKind::Webhook {
            url: "http://127.0.0.1:9/x".into(),
            timeout: Duration::from_secs(2),
            retries: 0
        }
    );
    assert!(c.notify[2].wants("waiting"));
    let old = Config::parse("notify: [notify-send, hi]\n").unwrap();
    assert_eq!(
        old.notify[0].kind,
        NotifyKind::Command(vec!["notify-send".into(), "hi".into()])
    );
    for (bad, says) in [
        ("notify:\n  - webhook: ftp://x\n", "http://"),
        (
            "notify:\n  - desktop: true\n    events: [done]\n",
            "unknown notify event",
        ),
        ("notify:\n  - email: me\n", "needs command"),
        ("notify: yes\n", "list of targets"),
        (
            "notify:\n  - webhook: http://x\n    retries: many\n",
            "retries",
        ),
    ] {
        let (_, msg) = Config::parse(bad).unwrap_err();
        assert!(msg.contains(says), "{bad}: {msg}");
    }
}

#[test]
fn default_config_parses_to_defaults() {
    let c = Config::parse(DEFAULT_CONFIG).unwrap();
    assert_eq!(c.stale_after, Duration::from_secs(86400));
    assert_eq!(c.log_cap, 50 * 1024 * 1024);
    let names: Vec<&str> = c.agents.keys().map(String::as_str).collect();
    assert_eq!(names, ["claude", "codex", "gemini"]);
    // Verified against Claude Code 2.1.197, Codex CLI 0.171.0 and Gemini CLI 0.61.0.
    assert_eq!(
        c.agents["claude"].command,
        [
            "claude",
            "-p",
            "--session-id",
            "{conversation_id}",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            "Bash(sessions *)",
            "--",
            "{prompt}"
        ]
    );
    assert_eq!(
        c.agents["codex"].command,
        [
            "codex",
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--sandbox",
            "workspace-write",
            "--add-dir",
            "{agents_dir}",
            "--",
            "{prompt}"
        ]
    );
    assert_eq!(
        c.agents["gemini"].command,
        [
            "gemini",
            "--prompt={prompt}",
            "--session-id",
            "{conversation_id}",
            "--output-format",
            "stream-json",
            "--approval-mode",
            "auto_edit",
            "--skip-trust"
        ]
    );
    assert!(c.agents.values().all(|a| a.env.is_empty()));
}

#[test]
fn hosts_parse_with_clear_errors() {
    let c = Config::parse(
            "hosts:\n  build1:\n    ssh: me@build1\n    root: /srv/repo\n    port: 2222\n    identity: ~/.ssh/k\n    ssh_options: [ServerAliveInterval=10]\n    later: 1\nagents:\n  far:\n    command: [sh]\n    host: build1\n",
        )
        .unwrap();
    let h = &c.hosts["build1"];
    assert_eq!(h.ssh, "me@build1");
    assert_eq!(h.root, "/srv/repo");
    assert_eq!(h.port, Some(2222));
    assert_eq!(h.identity.as_deref(), Some("~/.ssh/k"));
    assert_eq!(h.ssh_options, ["ServerAliveInterval=10"]);
    assert_eq!(c.agents["far"].host.as_deref(), Some("build1"));
    for (bad, says) in [
        ("hosts: [a]\n", "mapping of name"),
        ("hosts:\n  b: x\n", "must be a mapping"),
        ("hosts:\n  b:\n    root: /r\n", "no `ssh:`"),
        (
            "hosts:\n  b:\n    ssh: -oProxy=x\n    root: /r\n",
            "user@machine",
        ),
        ("hosts:\n  b:\n    ssh: h\n", "no `root:`"),
        ("hosts:\n  b:\n    ssh: h\n    root: srv\n", "absolute path"),
        (
            "hosts:\n  b:\n    ssh: h\n    root: /r\n    port: 70000\n",
            "port number",
        ),
        (
            "hosts:\n  b:\n    ssh: h\n    root: /r\n    ssh_options: -v\n",
            "list",
        ),
        (
            "agents:\n  a:\n    command: [x]\n    host: nowhere\n",
            "not under `hosts:`",
        ),
    ] {
        let (_, msg) = Config::parse(bad).unwrap_err();
        assert!(msg.contains(says), "{bad}: {msg}");
    }
    assert!(
        c.host("biuld1")
            .unwrap_err()
            .contains("did you mean `build1`")
    );
}

#[test]
fn an_agent_defined_twice_is_an_error() {
    let text = "agents:\n  a:\n    command: [x]\n  a:\n    command: [y]\n";
    let (offset, msg) = Config::parse(text).unwrap_err();
    assert!(msg.contains("`a` is defined twice"), "{msg}");
    assert_eq!(&text[offset..offset + 2], "a:");
    assert!(offset > 20);
}

#[test]
fn agents_and_errors() {
    let c =
        Config::parse("agents:\n  fake:\n    command: [sh, -c, 'echo {task}']\n    env: {A: b}\n")
            .unwrap();
    assert_eq!(c.agents["fake"].command, ["sh", "-c", "echo {task}"]);
    assert_eq!(c.agents["fake"].env, [("A".to_string(), "b".to_string())]);
    assert!(Config::parse("stale_after: soon\n").is_err());
    assert!(Config::parse("agents:\n  x:\n    command: \"claude -p\"\n").is_err());
}
