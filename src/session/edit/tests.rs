use super::*;

const SRC: &str = "---\n# top comment\nsession:\n  title: \"Old\"   # keep me\n  status: in_progress\n  created: 2025-12-04T14:30:00Z\n  last_updated: '2025-12-04T14:30:00Z'\n  custom: [a, b]\norchestration:\n  current_task: plain task\n---\n# Session: Old\n\n## Context\n\nWhy.\n\n## Current State\n\n## Next Steps\n\n- [ ] write tests\n- [x] design\n\n## Notes\nextra\n";

fn now() -> DateTime<Utc> {
    "2025-12-05T10:00:00Z".parse().unwrap()
}

fn run(src: &str, ops: &[Op]) -> String {
    apply(src, ops, now()).unwrap().expect("a change")
}

#[test]
fn set_keeps_comment_style_and_bumps_last_updated() {
    let out = run(
        SRC,
        &[Op::Set {
            path: key_path(&["session", "title"]),
            value: Scalar::str("New: with colon"),
        }],
    );
    assert!(out.contains("  title: \"New: with colon\"   # keep me\n"));
    assert!(out.contains("  last_updated: '2025-12-05T10:00:00Z'\n"));
    assert!(out.contains("# top comment\n") && out.contains("  custom: [a, b]\n"));
    let doc = Document::parse(&out);
    assert_eq!(
        doc.str_value(&["session", "title"]),
        Some("New: with colon")
    );
}

#[test]
fn plain_value_stays_plain_when_safe() {
    let out = run(
        SRC,
        &[Op::Set {
            path: key_path(&["orchestration", "current_task"]),
            value: Scalar::str("other task"),
        }],
    );
    assert!(out.contains("  current_task: other task\n"));
    let out = run(
        SRC,
        &[Op::Set {
            path: key_path(&["orchestration", "current_task"]),
            value: Scalar::str("- #x: y"),
        }],
    );
    assert!(out.contains("  current_task: \"- #x: y\"\n"));
}

#[test]
fn noop_returns_none() {
    let ops = [Op::Set {
        path: key_path(&["session", "status"]),
        value: Scalar::str("in_progress"),
    }];
    assert_eq!(apply(SRC, &ops, now()).unwrap(), None);
    assert_eq!(
        apply(
            SRC,
            &[Op::Check {
                item: "design".into(),
                checked: true
            }],
            now()
        )
        .unwrap(),
        None
    );
}

#[test]
fn missing_key_goes_where_the_template_puts_it() {
    let out = run(
        SRC,
        &[Op::Set {
            path: key_path(&["session", "linear_issue"]),
            value: Scalar::str("PLT-1"),
        }],
    );
    assert!(
        out.contains(
            "  last_updated: '2025-12-05T10:00:00Z'\n  linear_issue: \"PLT-1\"\n  custom: [a, b]\n"
        ),
        "{out}"
    );
    let no_orch = SRC.replace("orchestration:\n  current_task: plain task\n", "");
    let out = run(
        &no_orch,
        &[Op::Set {
            path: key_path(&["orchestration", "current_task"]),
            value: Scalar::str("t"),
        }],
    );
    assert!(
        out.contains("  custom: [a, b]\norchestration:\n  current_task: \"t\"\n---\n"),
        "{out}"
    );
}

#[test]
fn sections_set_append_and_insert() {
    let out = run(
        SRC,
        &[Op::SetSection {
            name: "Current State".into(),
            text: "Half done.".into(),
        }],
    );
    assert!(
        out.contains("## Current State\n\nHalf done.\n\n## Next Steps\n"),
        "{out}"
    );
    let out = run(
        SRC,
        &[Op::AppendSection {
            name: "Next Steps".into(),
            text: "- [ ] ship".into(),
        }],
    );
    assert!(
        out.contains("- [x] design\n- [ ] ship\n\n## Notes"),
        "{out}"
    );
    let out = run(
        SRC,
        &[Op::EnsureSection {
            name: "Blockers".into(),
        }],
    );
    assert!(out.ends_with("## Notes\nextra\n\n## Blockers\n"), "{out}");
    let out = run(
        SRC,
        &[
            Op::EnsureSection {
                name: "Current State".into(),
            },
            Op::EnsureSection {
                name: "Technical Context".into(),
            },
        ],
    );
    assert!(
        out.contains("- [x] design\n\n## Notes\nextra\n\n## Technical Context\n"),
        "{out}"
    );
}

#[test]
fn log_creates_section_and_appends_entries() {
    let op = |m: &str| Op::Log {
        at: now(),
        actor: "claude".into(),
        message: m.into(),
    };
    let out = run(SRC, &[op("first")]);
    assert!(
        out.ends_with("extra\n\n## Session Log\n\n### 2025-12-05 10:00 - [claude]\nfirst\n"),
        "{out}"
    );
    let out = run(&out, &[op("second")]);
    assert!(
        out.ends_with("first\n\n### 2025-12-05 10:00 - [claude]\nsecond\n"),
        "{out}"
    );
    assert!(apply(SRC, &[op("## sneaky")], now()).is_err());
}

#[test]
fn check_ticks_one_item() {
    let out = run(
        SRC,
        &[Op::Check {
            item: "write".into(),
            checked: true,
        }],
    );
    assert!(out.contains("- [x] write tests\n"));
    assert!(
        apply(
            SRC,
            &[Op::Check {
                item: "nothing".into(),
                checked: true
            }],
            now()
        )
        .is_err()
    );
}

#[test]
fn crlf_is_kept() {
    let crlf = SRC.replace('\n', "\r\n");
    let out = run(
        &crlf,
        &[
            Op::Set {
                path: key_path(&["session", "linear_url"]),
                value: Scalar::str("https://x.y/1"),
            },
            Op::Log {
                at: now(),
                actor: "a".into(),
                message: "m\nline two".into(),
            },
            Op::SetSection {
                name: "Context".into(),
                text: "one\ntwo".into(),
            },
        ],
    );
    assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
}

#[test]
fn push_creates_and_extends_lists() {
    let entry = vec![
        ("agent".to_string(), Scalar::str("dev")),
        ("task".to_string(), Scalar::str("t: x")),
    ];
    let out = run(
        SRC,
        &[Op::Push {
            path: key_path(&["orchestration", "spawned_agents"]),
            entry: entry.clone(),
        }],
    );
    assert!(out.contains("  current_task: plain task\n  spawned_agents:\n    - agent: \"dev\"\n      task: \"t: x\"\n---"), "{out}");
    let out = run(
        &out,
        &[Op::Push {
            path: key_path(&["orchestration", "spawned_agents"]),
            entry: entry.clone(),
        }],
    );
    let doc = Document::parse(&out);
    assert_eq!(
        doc.value(&["orchestration", "spawned_agents"])
            .unwrap()
            .items()
            .len(),
        2
    );
    let empty = SRC.replace(
        "plain task\n",
        "plain task\n  spawned_agents: []  # none yet\n",
    );
    let out = run(
        &empty,
        &[Op::Push {
            path: key_path(&["orchestration", "spawned_agents"]),
            entry,
        }],
    );
    let doc = Document::parse(&out);
    assert_eq!(
        doc.value(&["orchestration", "spawned_agents"])
            .unwrap()
            .items()
            .len(),
        1,
        "{out}"
    );
    assert!(out.contains("# none yet"));
}

#[test]
fn rename_and_empty_value() {
    let src = SRC.replace("  custom: [a, b]\n", "  linear_url:\n");
    let out = run(
        &src,
        &[Op::Set {
            path: key_path(&["session", "linear_url"]),
            value: Scalar::str("https://a.b"),
        }],
    );
    assert!(out.contains("  linear_url: \"https://a.b\"\n"), "{out}");
    let out = run(
        SRC,
        &[Op::RenameKey {
            path: key_path(&["session"]),
            from: "custom".into(),
            to: "extra".into(),
        }],
    );
    assert!(out.contains("  extra: [a, b]\n"));
}
