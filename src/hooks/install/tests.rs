use super::*;
use tempfile::TempDir;

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    p
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

const USER_SETTINGS: &str = r#"{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "permissions": {
    "allow": ["Bash(cargo test:*)", "Read(./src/**)"],
    "deny": []
  },
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          { "type": "command", "command": "./scripts/guard.sh", "timeout": 20, "statusMessage": "Checking" }
        ]
      }
    ],
    "SessionStart": [
      {
        "matcher": "startup|resume",
        "hooks": [
          { "type": "command", "command": "echo hello", "timeout": 3 }
        ]
      }
    ]
  },
  "env": { "RUST_LOG": "info" },
  "model": "opus"
}
"#;

#[test]
fn fresh_install_on_missing_file() {
    let dir = TempDir::new().unwrap();
    let plan = plan_install(dir.path(), Agent::Claude, false).unwrap();
    assert_eq!(plan.path, dir.path().join(".claude/settings.json"));
    assert!(plan.changed);
    assert_eq!(plan.before, None);
    let expected = r#"{
  "hooks": {
    "SessionStart": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook session-start",
            "timeout": 10
          }
        ]
      }
    ],
    "SubagentStart": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook subagent-start",
            "timeout": 10
          }
        ]
      }
    ],
    "SubagentStop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook subagent-stop",
            "timeout": 10
          }
        ]
      }
    ],
    "SessionEnd": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook session-end",
            "timeout": 5
          }
        ]
      }
    ],
    "PreCompact": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook pre-compact",
            "timeout": 10
          }
        ]
      }
    ],
    "UserPromptSubmit": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook turn",
            "timeout": 5
          }
        ]
      }
    ],
    "PermissionRequest": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook turn",
            "timeout": 5
          }
        ]
      }
    ],
    "PostToolUse": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook turn",
            "timeout": 5
          }
        ]
      }
    ],
    "Notification": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook turn",
            "timeout": 5
          }
        ]
      }
    ],
    "Stop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "sessions hook turn",
            "timeout": 5
          }
        ]
      }
    ]
  }
}
"#;
    assert_eq!(plan.after, expected);
    let diff = plan.diff();
    assert!(diff.starts_with("--- /dev/null\n+++ "), "{diff}");
    assert!(diff.contains("+    \"SessionStart\": ["));

    assert!(plan.apply().unwrap());
    assert_eq!(fs::read_to_string(&plan.path).unwrap(), expected);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&plan.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    // No temp files left behind.
    let names: Vec<_> = fs::read_dir(dir.path().join(".claude"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("settings.json")]);
}

#[test]
fn local_install_targets_settings_local() {
    let dir = TempDir::new().unwrap();
    let plan = plan_install(dir.path(), Agent::Claude, true).unwrap();
    assert_eq!(plan.path, dir.path().join(".claude/settings.local.json"));
    assert!(matches!(
        plan_install(dir.path(), Agent::Codex, true),
        Err(InstallError::LocalUnsupported {
            agent: Agent::Codex
        })
    ));
}

#[test]
fn install_preserves_user_keys_hooks_and_order() {
    let dir = TempDir::new().unwrap();
    write(dir.path(), ".claude/settings.json", USER_SETTINGS);
    let plan = plan_install(dir.path(), Agent::Claude, false).unwrap();
    assert!(plan.changed);
    let after = parse(&plan.after);
    let before = parse(USER_SETTINGS);

    let top: Vec<_> = after.as_object().unwrap().keys().cloned().collect();
    assert_eq!(top, ["$schema", "permissions", "hooks", "env", "model"]);
    for key in ["$schema", "permissions", "env", "model"] {
        assert_eq!(after[key], before[key], "{key}");
    }
    let events: Vec<_> = after["hooks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        events,
        [
            "PreToolUse",
            "SessionStart",
            "SubagentStart",
            "SubagentStop",
            "SessionEnd",
            "PreCompact",
            "UserPromptSubmit",
            "PermissionRequest",
            "PostToolUse",
            "Notification",
            "Stop"
        ]
    );
    assert_eq!(after["hooks"]["PreToolUse"], before["hooks"]["PreToolUse"]);
    let guard_keys: Vec<_> = after["hooks"]["PreToolUse"][0]["hooks"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(guard_keys, ["type", "command", "timeout", "statusMessage"]);

    let start = after["hooks"]["SessionStart"].as_array().unwrap();
    assert_eq!(start.len(), 2);
    assert_eq!(start[0], before["hooks"]["SessionStart"][0]);
    assert_eq!(
        start[1],
        parse(
            r#"{"hooks":[{"type":"command","command":"sessions hook session-start","timeout":10}]}"#
        )
    );
    assert!(plan.diff().contains(".claude/settings.json"));
}

#[test]
fn canonical_file_gets_a_minimal_diff() {
    // A file already in our layout only gains lines (and a comma or two).
    let dir = TempDir::new().unwrap();
    let canonical = serde_json::to_string_pretty(&parse(USER_SETTINGS)).unwrap() + "\n";
    write(dir.path(), ".claude/settings.json", &canonical);
    let plan = plan_install(dir.path(), Agent::Claude, false).unwrap();
    let diff = plan.diff();
    let removed: Vec<_> = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    for line in &removed {
        let added = format!("+{},", &line[1..]);
        assert!(diff.lines().any(|l| l == added), "{line}\n{diff}");
    }
    assert!(removed.len() <= 2, "{diff}");
}

#[test]
fn second_install_is_a_no_op() {
    let dir = TempDir::new().unwrap();
    write(dir.path(), ".claude/settings.json", USER_SETTINGS);
    let first = plan_install(dir.path(), Agent::Claude, false).unwrap();
    first.apply().unwrap();
    let written = fs::read_to_string(&first.path).unwrap();

    let second = plan_install(dir.path(), Agent::Claude, false).unwrap();
    assert!(!second.changed);
    assert_eq!(second.after, written);
    assert_eq!(second.before.as_deref(), Some(written.as_str()));
    assert_eq!(second.diff(), "");
    assert!(!second.apply().unwrap());
    assert_eq!(fs::read_to_string(&first.path).unwrap(), written);
}

#[test]
fn semantically_equal_file_is_not_rewritten() {
    // Our entries present, but formatted differently from how we write.
    let dir = TempDir::new().unwrap();
    let text = r#"{"hooks":{"SessionStart":[{"hooks":[{"type":"command","command":"sessions hook session-start","timeout":10}]}],
"SubagentStart":[{"hooks":[{"type":"command","command":"sessions hook subagent-start","timeout":10}]}],
"SubagentStop":[{"hooks":[{"type":"command","command":"sessions hook subagent-stop","timeout":10}]}],
"SessionEnd":[{"hooks":[{"type":"command","command":"sessions hook session-end","timeout":5}]}],
"PreCompact":[{"matcher":"auto","hooks":[{"command":"sessions hook pre-compact","type":"command","timeout":10}]}],
"UserPromptSubmit":[{"hooks":[{"type":"command","command":"sessions hook turn","timeout":5}]}],
"PermissionRequest":[{"hooks":[{"type":"command","command":"sessions hook turn","timeout":5}]}],
"PostToolUse":[{"hooks":[{"type":"command","command":"sessions hook turn","timeout":5}]}],
"Notification":[{"hooks":[{"type":"command","command":"sessions hook turn","timeout":5}]}],
"Stop":[{"hooks":[{"type":"command","command":"sessions hook turn","timeout":5}]}]}}"#;
    write(dir.path(), ".claude/settings.json", text);
    let plan = plan_install(dir.path(), Agent::Claude, false).unwrap();
    assert!(!plan.changed);
    assert_eq!(plan.after, text);
}

#[test]
fn wrong_timeout_is_fixed_in_place() {
    let dir = TempDir::new().unwrap();
    let text = r#"{
    "hooks": {
        "SessionStart": [
            {
                "matcher": "startup",
                "hooks": [
                    {"type": "command", "command": "echo before"},
                    {"type": "command", "command": "  sessions hook session-start", "timeout": 600, "statusMessage": "Listing sessions"},
                    {"type": "command", "command": "echo after"}
                ]
            },
            {"hooks": [{"type": "command", "command": "sessions hook session-start", "timeout": 10}]}
        ]
    }
}
"#;
    write(dir.path(), ".claude/settings.json", text);
    let plan = plan_install(dir.path(), Agent::Claude, false).unwrap();
    assert!(plan.changed);
    assert!(
        plan.after
            .starts_with("{\n    \"hooks\": {\n        \"SessionStart\"")
    );
    let after = parse(&plan.after);
    let start = after["hooks"]["SessionStart"].as_array().unwrap();
    // Updated where it was; the duplicate group (emptied by us) is gone.
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["matcher"], "startup");
    let hooks = start[0]["hooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 3);
    assert_eq!(hooks[0]["command"], "echo before");
    assert_eq!(hooks[2]["command"], "echo after");
    assert_eq!(
        hooks[1],
        parse(
            r#"{"type":"command","command":"sessions hook session-start","timeout":10,"statusMessage":"Listing sessions"}"#
        )
    );
    let keys: Vec<_> = hooks[1].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["type", "command", "timeout", "statusMessage"]);
    assert_eq!(after["hooks"]["SessionEnd"][0]["hooks"][0]["timeout"], 5);
}

#[test]
fn malformed_files_are_refused_and_untouched() {
    let cases = [
        (
            "{\n  \"hooks\": {\n    \"SessionStart\": [,]\n  }\n}\n",
            "3:",
        ),
        (
            "[1, 2]\n",
            "the top level must be a JSON object but is an array",
        ),
        (
            "{\"hooks\": []}",
            "`hooks` must be a JSON object but is an array",
        ),
        (
            "{\"hooks\": null}",
            "`hooks` must be a JSON object but is null",
        ),
        (
            "{\"hooks\": {\"SessionEnd\": {\"hooks\": []}}}",
            "`hooks.SessionEnd` must be a JSON array",
        ),
    ];
    for (text, needle) in cases {
        let dir = TempDir::new().unwrap();
        let path = write(dir.path(), ".claude/settings.json", text);
        let err = plan_install(dir.path(), Agent::Claude, false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(needle), "{msg}");
        assert!(msg.contains("left untouched"), "{msg}");
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }
    let dir = TempDir::new().unwrap();
    write(
        dir.path(),
        ".claude/settings.json",
        "{\n  \"a\": 1,\n  \"b\": 2,,\n}",
    );
    match plan_install(dir.path(), Agent::Claude, false) {
        Err(InstallError::Malformed {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!(line, 3);
            assert!(column > 0);
            assert!(!message.contains("at line"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let dir = TempDir::new().unwrap();
    let p = dir.path().join(".claude/settings.json");
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, b"{\"a\": \"\xff\"}").unwrap();
    assert!(matches!(
        plan_install(dir.path(), Agent::Claude, false),
        Err(InstallError::NotUtf8 { .. })
    ));
    assert!(
        plan_uninstall(dir.path(), Agent::Claude, false).is_err(),
        "uninstall refuses too"
    );
}

#[test]
fn empty_file_counts_as_empty_object() {
    for text in ["", "  \n"] {
        let dir = TempDir::new().unwrap();
        write(dir.path(), ".claude/settings.json", text);
        let plan = plan_install(dir.path(), Agent::Claude, false).unwrap();
        assert!(plan.changed);
        assert_eq!(plan.before.as_deref(), Some(text));
        let fresh = plan_install(TempDir::new().unwrap().path(), Agent::Claude, false)
            .unwrap()
            .after;
        assert_eq!(plan.after, fresh);
        let un = plan_uninstall(dir.path(), Agent::Claude, false).unwrap();
        assert!(!un.changed);
    }
}

#[test]
fn gemini_uses_precompress_and_milliseconds() {
    let dir = TempDir::new().unwrap();
    let plan = plan_install(dir.path(), Agent::Gemini, false).unwrap();
    assert_eq!(plan.path, dir.path().join(".gemini/settings.json"));
    let after = parse(&plan.after);
    let hooks = after["hooks"].as_object().unwrap();
    assert!(hooks.contains_key("PreCompress"));
    assert!(!hooks.contains_key("PreCompact"));
    assert_eq!(
        hooks["SessionStart"][0]["hooks"][0],
        parse(
            r#"{"type":"command","command":"sessions hook session-start --agent gemini","timeout":10000}"#
        )
    );
    assert_eq!(hooks["SessionEnd"][0]["hooks"][0]["timeout"], 5000);
    assert_eq!(hooks["PreCompress"][0]["hooks"][0]["timeout"], 10000);
    assert!(notes(Agent::Gemini).contains("milliseconds"));
}

#[test]
fn codex_path_and_timeouts() {
    let dir = TempDir::new().unwrap();
    let plan = plan_install(dir.path(), Agent::Codex, false).unwrap();
    assert_eq!(plan.path, dir.path().join(".codex/hooks.json"));
    let after = parse(&plan.after);
    let hooks = after["hooks"].as_object().unwrap();
    let events: Vec<_> = hooks.keys().cloned().collect();
    assert_eq!(
        events,
        [
            "SessionStart",
            "SubagentStart",
            "SubagentStop",
            "SessionEnd",
            "PreCompact",
            "Stop"
        ]
    );
    assert_eq!(
        hooks["SessionStart"][0]["hooks"][0]["command"],
        "sessions hook session-start --agent codex"
    );
    assert_eq!(hooks["SessionStart"][0]["hooks"][0]["timeout"], 10);
    assert_eq!(hooks["SessionEnd"][0]["hooks"][0]["timeout"], 3);
    assert!(notes(Agent::Codex).contains("/hooks"));
    assert!(notes(Agent::Claude).contains("--bare"));
}

#[test]
fn uninstall_removes_only_ours() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), ".claude/settings.json", USER_SETTINGS);
    plan_install(dir.path(), Agent::Claude, false)
        .unwrap()
        .apply()
        .unwrap();
    // Plus one of ours sharing a group with a user hook, and a user's
    // pre-existing empty group and empty event that must survive.
    let mut v = parse(&fs::read_to_string(&path).unwrap());
    v["hooks"]["PreToolUse"][0]["hooks"]
        .as_array_mut()
        .unwrap()
        .push(parse(
            r#"{"type":"command","command":"sessions hook pre-compact"}"#,
        ));
    v["hooks"]["PostCompact"] = parse(r#"[{"matcher":"x","hooks":[]}]"#);
    v["hooks"]["ConfigChange"] = parse("[]");
    fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();

    let plan = plan_uninstall(dir.path(), Agent::Claude, false).unwrap();
    assert!(plan.changed);
    let after = parse(&plan.after);
    let mut expected = parse(USER_SETTINGS);
    expected["hooks"]["PostCompact"] = parse(r#"[{"matcher":"x","hooks":[]}]"#);
    expected["hooks"]["ConfigChange"] = parse("[]");
    assert_eq!(after, expected);
    let events: Vec<_> = after["hooks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        events,
        ["PreToolUse", "SessionStart", "PostCompact", "ConfigChange"]
    );
    plan.apply().unwrap();
    assert!(
        !plan_uninstall(dir.path(), Agent::Claude, false)
            .unwrap()
            .changed
    );
}

#[test]
fn uninstall_of_fresh_install_drops_hooks_key() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        ".claude/settings.json",
        "{\n  \"model\": \"opus\"\n}\n",
    );
    plan_install(dir.path(), Agent::Claude, false)
        .unwrap()
        .apply()
        .unwrap();
    let plan = plan_uninstall(dir.path(), Agent::Claude, false).unwrap();
    assert_eq!(plan.after, "{\n  \"model\": \"opus\"\n}\n");
    plan.apply().unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\n  \"model\": \"opus\"\n}\n"
    );

    // A user's own empty `hooks` object is left alone.
    write(dir.path(), ".claude/settings.json", "{\"hooks\": {}}");
    assert!(
        !plan_uninstall(dir.path(), Agent::Claude, false)
            .unwrap()
            .changed
    );
    // Missing file: nothing to do.
    let empty = TempDir::new().unwrap();
    let plan = plan_uninstall(empty.path(), Agent::Codex, false).unwrap();
    assert!(!plan.changed);
    assert!(!plan.apply().unwrap());
    assert!(!empty.path().join(".codex").exists());
}

#[test]
fn apply_refuses_when_file_changed_since_plan() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), ".claude/settings.json", "{}\n");
    let plan = plan_install(dir.path(), Agent::Claude, false).unwrap();
    fs::write(&path, "{\"model\": \"opus\"}\n").unwrap();
    let err = plan.apply().unwrap_err();
    assert!(matches!(err, InstallError::Conflict { .. }));
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"model\": \"opus\"}\n"
    );
}

#[test]
fn keeps_crlf_bom_and_tab_indent() {
    let dir = TempDir::new().unwrap();
    let text = "\u{feff}{\r\n\t\"model\": \"opus\"\r\n}\r\n";
    let path = write(dir.path(), ".claude/settings.json", text);
    let plan = plan_install(dir.path(), Agent::Claude, false).unwrap();
    assert!(
        plan.after
            .starts_with("\u{feff}{\r\n\t\"model\": \"opus\",\r\n\t\"hooks\"")
    );
    assert!(!plan.after.replace("\r\n", "").contains('\n'));
    plan.apply().unwrap();
    assert!(
        !plan_install(dir.path(), Agent::Claude, false)
            .unwrap()
            .changed
    );
    assert!(fs::read_to_string(&path).unwrap().ends_with("}\r\n"));
}

#[cfg(unix)]
#[test]
fn symlinked_settings_are_written_through() {
    let dir = TempDir::new().unwrap();
    let real = write(dir.path(), "dotfiles/claude.json", "{}\n");
    fs::create_dir_all(dir.path().join(".claude")).unwrap();
    let link = dir.path().join(".claude/settings.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    plan_install(dir.path(), Agent::Claude, false)
        .unwrap()
        .apply()
        .unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(fs::read_to_string(&real).unwrap().contains("sessions hook"));
}

#[test]
fn commands_share_the_prefix() {
    for agent in Agent::ALL {
        for d in desired_hooks(agent) {
            assert!(d.command.starts_with(OUR_COMMAND_PREFIX));
            assert!(is_ours(&parse(&format!("{{\"command\":{:?}}}", d.command))));
        }
    }
    assert!(!is_ours(&parse(r#"{"command":"sessions-hook x"}"#)));
    assert!(!is_ours(&parse(r#"{"command":"echo sessions hook x"}"#)));
}
