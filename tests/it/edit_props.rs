//! Property tests of the lossless edit engine (SPEC §3), at library level.
//!
//! Every generated file has YAML comments (full-line and trailing), odd quoting, unknown keys,
//! extra sections, fences holding `## fake`, unicode, LF or CRLF and sometimes a BOM. For each
//! op we check that (a) the result parses and reads back the value written, (b) only the
//! intended range changed, and (c) a no-op returns `Ok(None)`.

use crate::edit_support;

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use edit_support::*;
use proptest::prelude::*;
use sessions::session::Document;
use sessions::session::edit::{Op, Scalar, apply, key_path, timestamp};

fn now() -> DateTime<Utc> {
    "2026-01-02T03:04:05Z".parse().unwrap()
}

const FIELDS: [&[&str]; 4] = [
    &["session", "title"],
    &["session", "status"],
    &["orchestration", "current_task"],
    &["session", "linear_issue"],
];

const LAST_UPDATED: &[&str] = &["session", "last_updated"];

fn config() -> ProptestConfig {
    // 256 cases unless PROPTEST_CASES says otherwise (the default reads it).
    ProptestConfig {
        failure_persistence: None,
        // The `prop_assume!`s for known bugs reject ~10% of cases; allow that in long runs.
        max_global_rejects: 1_000_000,
        ..ProptestConfig::default()
    }
}

/// Checks every edit must pass: frontmatter parses, BOM and line endings kept, YAML comments
/// all present, no new kind of validation error beyond `allowed`.
fn common_checks(g: &Generated, out: &str, allowed: &[&'static str]) -> Result<(), TestCaseError> {
    let src = &g.text;
    frontmatter_ok(out).map_err(TestCaseError::fail)?;
    prop_assert_eq!(
        src.starts_with('\u{feff}'),
        out.starts_with('\u{feff}'),
        "BOM changed"
    );
    line_endings_kept(src, out).map_err(TestCaseError::fail)?;
    for c in &g.comments {
        prop_assert!(out.contains(c.as_str()), "comment {:?} lost:\n{}", c, out);
    }
    let before = error_rules(src);
    let after = error_rules(out);
    let new: BTreeSet<_> = after
        .difference(&before)
        .filter(|r| !allowed.contains(r))
        .collect();
    prop_assert!(
        new.is_empty(),
        "new validation errors {:?}\n--- before\n{}\n--- after\n{}",
        new,
        src,
        out
    );
    Ok(())
}

/// The frontmatter lines are unchanged except the `last_updated` line.
fn frontmatter_unchanged_but_stamp(src: &str, out: &str) -> Result<(), TestCaseError> {
    let a = raw_lines(frontmatter_block(src));
    let b = raw_lines(frontmatter_block(out));
    prop_assert_eq!(a.len(), b.len(), "frontmatter line count changed");
    let stamp = key_line(src, LAST_UPDATED).unwrap() - line_of(src, frontmatter_start(src));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if i != stamp {
            prop_assert_eq!(x, y, "frontmatter line {} changed", i);
        }
    }
    Ok(())
}

fn frontmatter_start(src: &str) -> usize {
    usize::from(src.starts_with('\u{feff}')) * 3
}

/// Every section other than `target` keeps its heading and its exact body; `target` may have
/// been inserted. When it was inserted at the end, the previous last section may gain line
/// endings (and nothing else).
fn other_sections_unchanged(src: &str, out: &str, target: &str) -> Result<(), TestCaseError> {
    let before = sections_of(src);
    let mut after = sections_of(out);
    let existed = before.iter().any(|(n, _)| n == target);
    let pos = after.iter().position(|(n, _)| n == target);
    prop_assert!(
        pos.is_some(),
        "section {} not present after the edit",
        target
    );
    if !existed {
        after.remove(pos.unwrap());
    }
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    prop_assert_eq!(names(&before), names(&after), "sections changed:\n{}", out);
    let last = before.len().saturating_sub(1);
    for (i, ((name, old), (_, new))) in before.iter().zip(&after).enumerate() {
        if name == target {
            continue;
        }
        if !existed && i == last && new != old {
            prop_assert!(
                new.starts_with(old.as_str())
                    && new[old.len()..].chars().all(|c| c == '\r' || c == '\n'),
                "last section {:?} changed beyond line endings: {:?} -> {:?}",
                name,
                old,
                new
            );
            continue;
        }
        prop_assert_eq!(old, new, "body of {:?} changed", name);
    }
    prop_assert_eq!(
        preamble(src),
        preamble(out),
        "text before the first section changed"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Set on title/status/current_task/linear_issue with arbitrary strings.
    #[test]
    fn set_reads_back_and_touches_only_its_line(
        g in session_file(),
        field in 0usize..FIELDS.len(),
        value in tricky_string(),
    ) {
        let src = &g.text;
        let path = FIELDS[field];
        // Known bug (see `inserted_key_keeps_literal_braces_i`).
        let ops = [Op::Set { path: key_path(path), value: Scalar::str(value.clone()) }];
        let result = apply(src, &ops, now());
        prop_assert!(result.is_ok(), "Set {:?} = {:?} failed: {:?}\n{}", path, value, result, src);
        let out = result.unwrap();
        let text = out.clone().unwrap_or_else(|| src.clone());
        let mut allowed = vec![];
        if value.trim().is_empty() {
            allowed.push("required-key");
        }
        if field == 1 {
            allowed.push("status");
        }
        common_checks(&g, &text, &allowed)?;
        let doc = Document::parse(&text);
        prop_assert_eq!(doc.str_value(path), Some(value.as_str()), "read back:\n{}", text);

        let Some(out) = out else {
            // (c) nothing written: the value was already there.
            prop_assert_eq!(str_at(src, path), Some(value.clone()));
            return Ok(());
        };
        prop_assert_eq!(
            str_at(&out, LAST_UPDATED),
            Some(timestamp(now()))
        );
        // (b) every line but the edited one and `last_updated` is kept, in order.
        let before = raw_lines(src);
        let after = raw_lines(&out);
        let edited = key_line(src, path);
        let stamp = key_line(src, LAST_UPDATED).unwrap();
        let kept: Vec<&str> = before
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != edited && *i != stamp)
            .map(|(_, l)| *l)
            .collect();
        prop_assert!(
            is_subsequence(&kept, &after),
            "line {:?} lost or moved\n--- before\n{}\n--- after\n{}",
            first_missing(&kept, &after), src, out
        );
        prop_assert_eq!(after.len(), before.len() + usize::from(edited.is_none()));
        if let Some(i) = edited {
            // Same key, same indentation, same trailing comment.
            let old = before[i];
            let new = after[i];
            let key_end = old.find(':').unwrap() + 1;
            prop_assert_eq!(&old[..key_end], &new[..key_end.min(new.len())]);
            if let Some(c) = g.comments.iter().find(|c| old.contains(c.as_str())) {
                prop_assert!(
                    new.trim_end_matches('\r').ends_with(c.as_str()),
                    "trailing comment {:?} moved off the edited line: {:?}", c, new
                );
            }
        }
        // The Markdown body is untouched.
        let (db, da) = (Document::parse(src), Document::parse(&out));
        prop_assert_eq!(&src[db.body_start..], &out[da.body_start..]);
    }

    /// SetSection / AppendSection with arbitrary heading-free text.
    #[test]
    fn section_ops_touch_only_their_section(
        g in session_file(),
        which in 0usize..6,
        append in any::<bool>(),
        text in section_text(),
    ) {
        let src = &g.text;
        let name = ["Context", "Current State", "Next Steps", "Decisions", "Notes ünï", "Brand New"][which];
        // Known bugs, shown by the ignored tests below; drop these lines once they are fixed.
        let op = if append {
            Op::AppendSection { name: name.into(), text: text.clone() }
        } else {
            Op::SetSection { name: name.into(), text: text.clone() }
        };
        let result = apply(src, std::slice::from_ref(&op), now());
        prop_assert!(result.is_ok(), "{:?} failed: {:?}", op, result);
        let out = result.unwrap();
        let existed = section_body(src, name).is_some();
        let Some(out) = out else {
            // (c) nothing to do: appending blank text, or setting the current content.
            let body = section_body(src, name);
            if append {
                prop_assert!(text.trim().is_empty(), "append of {:?} changed nothing", text);
            } else {
                prop_assert_eq!(
                    body.map(|b| b.trim().to_string()),
                    Some(normalize_like(text.trim(), src)),
                );
            }
            return Ok(());
        };
        common_checks(&g, &out, &[])?;
        frontmatter_unchanged_but_stamp(src, &out)?;
        other_sections_unchanged(src, &out, name)?;
        let body = section_body(&out, name).unwrap();
        if append {
            let content = normalize_like(text.trim_end(), src);
            prop_assert!(
                body.trim().ends_with(content.trim_start()),
                "appended text not at the end of {:?}: {:?}", name, body
            );
            if existed {
                let old = section_body(src, name).unwrap();
                let kept = content_lines_of(&old).join("\n");
                prop_assert!(body.starts_with(&kept), "old content of {:?} changed: {:?} -> {:?}", name, old, body);
            }
        } else {
            prop_assert_eq!(body.trim(), normalize_like(text.trim(), src), "read back of {:?}", name);
        }
    }

    /// Check ticks or unticks exactly one box; re-checking is a no-op.
    #[test]
    fn check_toggles_exactly_one_box(
        g in session_file().prop_filter("has checklist items", |g| !g.items.is_empty()),
        pick in any::<prop::sample::Index>(),
        flip in any::<bool>(),
    ) {
        let src = &g.text;
        let (item, checked) = g.items[pick.index(g.items.len())].clone();
        let target = if flip { !checked } else { checked };
        let result = apply(src, &[Op::Check { item: item.clone(), checked: target }], now());
        prop_assert!(result.is_ok(), "Check {:?} failed: {:?}", item, result);
        let Some(out) = result.unwrap() else {
            prop_assert!(!flip, "toggling {:?} changed nothing", item);
            return Ok(());
        };
        prop_assert!(flip, "re-checking {:?} rewrote the file", item);
        common_checks(&g, &out, &[])?;
        let (before, after) = (raw_lines(src), raw_lines(&out));
        prop_assert_eq!(before.len(), after.len());
        let stamp = key_line(src, LAST_UPDATED).unwrap();
        let (from, to) = if target { ("[ ]", "[x]") } else { ("[x]", "[ ]") };
        let mut toggled = 0;
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            if a == b || i == stamp {
                continue;
            }
            toggled += 1;
            prop_assert!(a.contains(item.as_str()), "line {} changed but is not the item: {:?} -> {:?}", i, a, b);
            prop_assert_eq!(a.replacen(from, to, 1), (*b).to_string());
        }
        prop_assert_eq!(toggled, 1);
    }

    /// Log appends `### YYYY-MM-DD HH:MM - [actor]` and the message at the end of Session Log.
    #[test]
    fn log_appends_one_entry(
        g in session_file(),
        actor in "[A-Za-z0-9_.-]{1,12}",
        message in section_text().prop_filter("not blank", |m| !m.trim().is_empty()),
        secs in 0i64..4_000_000_000,
    ) {
        let src = &g.text;
        // Known bug (see `append_keeps_trailing_spaces_of_last_line`).
        let at = Utc.timestamp_opt(secs, 0).unwrap();
        let op = Op::Log { at, actor: actor.clone(), message: message.clone() };
        let result = apply(src, &[op], now());
        prop_assert!(result.is_ok(), "Log failed: {:?}", result);
        let out = result.unwrap();
        prop_assert!(out.is_some(), "Log changed nothing");
        let out = out.unwrap();
        common_checks(&g, &out, &[])?;
        frontmatter_unchanged_but_stamp(src, &out)?;
        other_sections_unchanged(src, &out, "Session Log")?;
        let le = Document::parse(src).line_ending.as_str();
        let entry = format!(
            "### {} - [{actor}]{le}{}",
            at.format("%Y-%m-%d %H:%M"),
            normalize_like(message.trim_end(), src)
        );
        let body = section_body(&out, "Session Log").unwrap();
        prop_assert!(body.trim_end().ends_with(&entry), "entry {:?} not at the end of {:?}", entry, body);
        if let Some(old) = section_body(src, "Session Log") {
            let kept = content_lines_of(&old).join("\n");
            prop_assert!(body.starts_with(&kept), "old log changed: {:?} -> {:?}", old, body);
        }
    }

    /// Push appends an agent entry, creating or extending the list.
    #[test]
    fn push_appends_agent_entry(
        g in session_file(),
        agent in nonblank_string(),
        task in nonblank_string(),
    ) {
        let src = &g.text;
        let path = ["orchestration", "spawned_agents"];
        // Known bug (see `inserted_key_keeps_literal_braces_i`).
        let count = |t: &str| {
            Document::parse(t).value(&path).map_or(0, |n| n.items().len())
        };
        let op = Op::Push {
            path: key_path(&path),
            entry: vec![
                ("agent".into(), Scalar::str(agent.clone())),
                ("task".into(), Scalar::str(task.clone())),
                ("status".into(), Scalar::str("pending")),
            ],
        };
        let result = apply(src, &[op], now());
        prop_assert!(result.is_ok(), "Push failed: {:?}\n{}", result, src);
        let out = result.unwrap().expect("a push always changes the file");
        common_checks(&g, &out, &[])?;
        prop_assert_eq!(count(&out), count(src) + 1, "\n{}", out);
        let doc = Document::parse(&out);
        let last = doc.value(&path).unwrap().items().last().unwrap();
        prop_assert_eq!(last.get("agent").and_then(|n| n.as_str()), Some(agent.as_str()));
        prop_assert_eq!(last.get("task").and_then(|n| n.as_str()), Some(task.as_str()));
        prop_assert_eq!(last.get("status").and_then(|n| n.as_str()), Some("pending"));
        // Every frontmatter line is kept, except `last_updated` and a `spawned_agents:` line
        // whose `[]`/empty value became a block list.
        let before = raw_lines(src);
        let stamp = key_line(src, LAST_UPDATED).unwrap();
        let list_line = key_line(src, &path);
        let kept: Vec<&str> = before
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != stamp && Some(*i) != list_line)
            .map(|(_, l)| *l)
            .collect();
        let after = raw_lines(&out);
        prop_assert!(
            is_subsequence(&kept, &after),
            "line {:?} lost\n--- before\n{}\n--- after\n{}",
            first_missing(&kept, &after), src, out
        );
        let db = Document::parse(src);
        prop_assert_eq!(&src[db.body_start..], &out[doc.body_start..]);
    }

    /// (c) Ops that change nothing return Ok(None).
    #[test]
    fn noops_return_none(g in session_file(), blank in "[ \t\r\n]{0,4}") {
        let src = &g.text;
        let doc = Document::parse(src);
        prop_assert_eq!(apply(src, &[], now()), Ok(None));
        for path in FIELDS {
            if let Some(v) = doc.str_value(path) {
                let op = Op::Set { path: key_path(path), value: Scalar::str(v) };
                prop_assert_eq!(apply(src, &[op], now()), Ok(None), "Set {:?} to its value", path);
            }
        }
        for (item, checked) in &g.items {
            let op = Op::Check { item: item.clone(), checked: *checked };
            prop_assert_eq!(apply(src, &[op], now()), Ok(None), "re-check {:?}", item);
        }
        for (name, body) in sections_of(src) {
            let set = Op::SetSection { name: name.clone(), text: body.clone() };
            prop_assert_eq!(apply(src, &[set], now()), Ok(None), "set {:?} to its body", name);
            let append = Op::AppendSection { name: name.clone(), text: blank.clone() };
            prop_assert_eq!(apply(src, &[append], now()), Ok(None), "append blank to {:?}", name);
            let ensure = Op::EnsureSection { name: name.clone() };
            prop_assert_eq!(apply(src, &[ensure], now()), Ok(None), "ensure {:?}", name);
        }
    }

    /// Sequences of ops compose: structure, comments, BOM and line endings survive.
    #[test]
    fn op_sequences_compose(g in session_file(), ops in prop::collection::vec(any_op(), 1..6)) {
        let src = &g.text;
        // Known bugs (see the ignored tests below).
        let result = apply(src, &ops, now());
        prop_assert!(result.is_ok(), "{:?} failed: {:?}", ops, result);
        let out = result.unwrap().unwrap_or_else(|| src.clone());
        common_checks(&g, &out, &["required-key", "status"])?;
        let names = |t: &str| sections_of(t).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        prop_assert!(is_subsequence(&names(src), &names(&out)), "a section was lost:\n{}", out);
        // The last Set of each field wins.
        for path in FIELDS {
            if let Some(v) = ops.iter().rev().find_map(|op| match op {
                Op::Set { path: p, value: Scalar::Str(v) } if *p == key_path(path) => Some(v),
                _ => None,
            }) {
                prop_assert_eq!(str_at(&out, path), Some(v.clone()));
            }
        }
    }
}

fn any_op() -> impl Strategy<Value = Op> {
    let names = prop::sample::select(vec![
        "Context",
        "Current State",
        "Next Steps",
        "Session Log",
        "Extra",
    ]);
    prop_oneof![
        (0usize..FIELDS.len(), tricky_string()).prop_map(|(f, v)| Op::Set {
            path: key_path(FIELDS[f]),
            value: Scalar::str(v),
        }),
        (names.clone(), section_text()).prop_map(|(n, text)| Op::SetSection {
            name: n.into(),
            text
        }),
        (names, section_text()).prop_map(|(n, text)| Op::AppendSection {
            name: n.into(),
            text
        }),
        (
            "[a-z]{1,8}",
            section_text().prop_filter("not blank", |m| !m.trim().is_empty())
        )
            .prop_map(|(actor, message)| Op::Log {
                at: now(),
                actor,
                message
            }),
        ("[a-z]{1,8}", "[a-z]{1,8}").prop_map(|(a, t)| Op::Push {
            path: key_path(&["orchestration", "spawned_agents"]),
            entry: vec![
                ("agent".into(), Scalar::str(a)),
                ("task".into(), Scalar::str(t))
            ],
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Bugs found by the properties above, as small examples. Each is ignored until fixed; the
// properties skip their triggers with `prop_assume!` (remove those lines with the fix).
// ---------------------------------------------------------------------------------------------

const SMALL: &str = "---\nsession:\n  title: x\n  status: in_progress\n  created: \"2025-01-01T00:00:00Z\"\n  last_updated: \"2025-01-01T00:00:00Z\"\norchestration:\n  current_task: t\n---\n## Context\n\nWhy.\n\n## Current State\n\nold  \n\n## Next Steps\n\n- [ ] n\n";

fn names(text: &str) -> Vec<String> {
    sections_of(text).into_iter().map(|(n, _)| n).collect()
}

/// `SetSection` trims the text, so an indented-code first line (`    ## x`, not a heading
/// when `check_no_sections` looks at it) becomes a real `## x` heading: a new section appears.
#[test]
fn set_section_keeps_indentation_of_first_line() {
    for text in [
        "    ## indented code, not a heading",
        "\t## tab-indented code",
        "    ```\n    code\n    ```",
    ] {
        let out = apply(
            SMALL,
            &[Op::SetSection {
                name: "Current State".into(),
                text: text.into(),
            }],
            now(),
        );
        match out {
            Err(_) => {}
            Ok(out) => {
                let out = out.expect("a change");
                assert_eq!(
                    names(&out),
                    names(SMALL),
                    "text {text:?} changed the sections:\n{out}"
                );
            }
        }
    }
}

/// Appending inserts after `trim_end()` of the section, which is inside the last line when that
/// line ends in spaces (a Markdown hard break) or NBSP: the old line loses its trailing
/// whitespace and the new text gains it. With a fence in the new text, the moved NBSP keeps the
/// fence open and every following section disappears.
#[test]
fn append_keeps_trailing_spaces_of_last_line() {
    let out = apply(
        SMALL,
        &[Op::AppendSection {
            name: "Current State".into(),
            text: "appended".into(),
        }],
        now(),
    )
    .unwrap()
    .unwrap();
    assert!(
        out.contains("\nold  \n"),
        "the hard break of `old  ` was lost:\n{out:?}"
    );
    assert!(
        out.contains("\nappended\n"),
        "the appended line gained spaces:\n{out:?}"
    );

    let nbsp = SMALL.replace("old  ", ":\u{a0}");
    let log = Op::Log {
        at: now(),
        actor: "a".into(),
        message: "~~~\ncode\n~~~".into(),
    };
    let fence = Op::AppendSection {
        name: "Current State".into(),
        text: "```\ncode\n```".into(),
    };
    for op in [log, fence] {
        let out = apply(&nbsp, std::slice::from_ref(&op), now())
            .unwrap()
            .unwrap();
        assert!(
            out.contains(":\u{a0}\n"),
            "{op:?}: the NBSP line changed:\n{out:?}"
        );
        assert!(
            names(&out).contains(&"Next Steps".to_string()),
            "{op:?}: a section vanished:\n{out}"
        );
    }
}

/// A key inserted because it was missing is rendered through a `{i}` indentation template,
/// and the template is applied to the value too: `a {i} b` is written as `a      b`.
#[test]
fn inserted_key_keeps_literal_braces_i() {
    let set = Op::Set {
        path: key_path(&["session", "linear_issue"]),
        value: Scalar::str("PLT-{i}"),
    };
    let out = apply(SMALL, &[set], now()).unwrap().unwrap();
    assert_eq!(
        str_at(&out, &["session", "linear_issue"]).as_deref(),
        Some("PLT-{i}"),
        "{out}"
    );

    let push = Op::Push {
        path: key_path(&["orchestration", "spawned_agents"]),
        entry: vec![
            ("agent".into(), Scalar::str("dev")),
            ("task".into(), Scalar::str("fill {i} in")),
        ],
    };
    let out = apply(SMALL, &[push], now()).unwrap().unwrap();
    let doc = Document::parse(&out);
    let task = doc
        .value(&["orchestration", "spawned_agents"])
        .unwrap()
        .items()[0]
        .get("task")
        .unwrap();
    assert_eq!(task.as_str(), Some("fill {i} in"), "{out}");
}

/// Text with an unclosed code fence (or HTML comment) passes the heading check, then hides every
/// heading after it: `## Next Steps` vanishes and the file no longer validates.
#[test]
fn unclosed_fence_or_comment_in_text_cannot_swallow_sections() {
    for text in [
        "```\nunclosed fence",
        "~~~~\nunclosed",
        "<!--\nunclosed comment",
    ] {
        let ops = [
            Op::SetSection {
                name: "Current State".into(),
                text: text.into(),
            },
            Op::AppendSection {
                name: "Context".into(),
                text: text.into(),
            },
            Op::Log {
                at: now(),
                actor: "a".into(),
                message: text.into(),
            },
        ];
        for op in ops {
            // Refusing is fine; writing a file that lost sections is not.
            if let Ok(Some(out)) = apply(SMALL, std::slice::from_ref(&op), now()) {
                for n in names(SMALL) {
                    assert!(names(&out).contains(&n), "{op:?} hid `## {n}`:\n{out}");
                }
            }
        }
    }
}

/// Regression guards for things that work: a newline in the actor cannot inject a heading,
/// and `## fake` inside a fence in the text is accepted.
#[test]
fn log_actor_cannot_inject_a_section_and_fenced_headings_are_fine() {
    let op = Op::Log {
        at: now(),
        actor: "a\n## Injected".into(),
        message: "m".into(),
    };
    match apply(SMALL, &[op], now()) {
        Err(_) => {}
        Ok(out) => assert_eq!(
            names(&out.unwrap()),
            [names(SMALL), vec!["Session Log".into()]].concat()
        ),
    }
    let op = Op::SetSection {
        name: "Current State".into(),
        text: "```md\n## fake\n```".into(),
    };
    let out = apply(SMALL, &[op], now()).unwrap().unwrap();
    assert_eq!(names(&out), names(SMALL));
    assert!(
        apply(
            SMALL,
            &[Op::SetSection {
                name: "Context".into(),
                text: "## real".into()
            }],
            now()
        )
        .is_err()
    );
    assert!(
        apply(
            SMALL,
            &[Op::AppendSection {
                name: "Context".into(),
                text: "x\n# h1".into()
            }],
            now()
        )
        .is_err()
    );
}

/// Shapes the generator does not produce: an empty parent block with a trailing comment,
/// a missing block, a folded title, a compact list followed by a sibling key.
#[test]
fn insertions_into_odd_shapes_land_in_place() {
    let stamp = "  last_updated: \"2026-01-02T03:04:05Z\"\n";
    let head = "---\nsession:\n  title: x\n  last_updated: \"2025-01-01T00:00:00Z\"\n";
    let set = |src: &str, path: &[&str]| {
        apply(
            src,
            &[Op::Set {
                path: key_path(path),
                value: Scalar::str("v: 1"),
            }],
            now(),
        )
        .unwrap()
        .unwrap()
    };
    let task = ["orchestration", "current_task"];
    let out = set(
        &format!("{head}orchestration:   # filled later\nx-other: 1\n---\n## Context\n"),
        &task,
    );
    assert_eq!(
        out,
        format!(
            "---\nsession:\n  title: x\n{stamp}orchestration:   # filled later\n  current_task: \"v: 1\"\nx-other: 1\n---\n## Context\n"
        )
    );
    let out = set(&format!("{head}---\n## Context\n"), &task);
    assert_eq!(
        out,
        format!(
            "---\nsession:\n  title: x\n{stamp}orchestration:\n  current_task: \"v: 1\"\n---\n## Context\n"
        )
    );
    let out = set(
        "---\nsession:\n  title: >-\n    folded\n    title\n  last_updated: \"2025-01-01T00:00:00Z\"\n---\n",
        &["session", "title"],
    );
    assert_eq!(
        out,
        format!("---\nsession:\n  title: \"v: 1\"\n{stamp}---\n")
    );

    let push = |src: &str| {
        let op = Op::Push {
            path: key_path(&["orchestration", "spawned_agents"]),
            entry: vec![
                ("agent".into(), Scalar::str("a")),
                ("task".into(), Scalar::str("t")),
            ],
        };
        apply(src, &[op], now()).unwrap().unwrap()
    };
    let out = push(&format!(
        "{head}orchestration:\n  current_task: t\n  spawned_agents:   # later\n---\n"
    ));
    assert!(
        out.ends_with("  spawned_agents:   # later\n    - agent: \"a\"\n      task: \"t\"\n---\n"),
        "{out}"
    );
    let out = push(&format!(
        "{head}orchestration:\n  current_task: t\n  spawned_agents:\n  - agent: b\n    task: c\n  other: 1\n---\n"
    ));
    assert!(
        out.ends_with(
            "  - agent: b\n    task: c\n  - agent: \"a\"\n    task: \"t\"\n  other: 1\n---\n"
        ),
        "{out}"
    );
}
